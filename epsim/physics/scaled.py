"""Conductivity models with their parameters scaled: what calibration fits and what the
uncertainty scenarios draw (`epsim.calibrate`, `epsim.optimise.scenarios`)."""

from __future__ import annotations

from epsim.physics.conductivity import Constant, Logistic, Ramp, RegionConductivity, SmoothStep


def scaled_model(model, f_sigma, f_ratio, f_field):
    """A material model with sigma0 times f_sigma, sigma1 times f_sigma * f_ratio and every
    field parameter (thresholds, a logistic's centre and width) times f_field. Traceable: the
    factors may be JAX values."""
    if isinstance(model, Constant):
        return Constant(model.sigma0 * f_sigma)
    sigma0, sigma1 = model.sigma0 * f_sigma, model.sigma1 * f_sigma * f_ratio
    if isinstance(model, Logistic):
        return Logistic(sigma0, sigma1, model.e_mid * f_field, model.width * f_field)
    if isinstance(model, (Ramp, SmoothStep)):
        return type(model)(sigma0, sigma1, model.e_rev * f_field, model.e_irr * f_field)
    raise TypeError(f"cannot scale a {type(model).__name__} conductivity")


def scaled_regions(base: RegionConductivity, factors) -> RegionConductivity:
    """Every region's model scaled by its row (f_sigma, f_ratio, f_field) of `factors`
    (n_regions, 3) (an array or nested sequences)."""
    models = tuple(scaled_model(m, *(factors[r][k] for k in range(3)))
                   for r, m in enumerate(base.models))
    return RegionConductivity(models, base.cell_region)
