"""Field-dependent tissue conductivity sigma(|E|) as pytrees.

Each model is written for one value and broadcasts: parameters may be scalars or arrays that
broadcast against `e_mag` (for example one value per cell). Fields in V/m, conductivities in S/m.
Equations and parameter sources: docs/physics.md, section 2.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.errors import MaterialError


_CONDITIONS = {
    "positive": lambda *a: all(np.all(x > 0) for x in a),
    "ordered": lambda lo, hi: np.all(hi >= lo),
    "increasing": lambda lo, hi: np.all(hi > lo),
}


def _require(condition: str, model: str, **values) -> None:
    """Raise MaterialError unless the values are finite and satisfy `condition` ("positive", or
    "ordered"/"increasing" for two values). Traced values are skipped: checks happen when the
    model is built from concrete numbers."""
    if any(isinstance(v, jax.core.Tracer) for v in values.values()):
        return
    arrays = [np.asarray(v, dtype=np.float64) for v in values.values()]
    if not (all(np.all(np.isfinite(a)) for a in arrays) and _CONDITIONS[condition](*arrays)):
        shown = ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in values.items())
        raise MaterialError(f"{model}: parameters must be {condition} and finite ({shown})")


class Conductivity(eqx.Module):
    """sigma(|E|): S/m as a function of field magnitude in V/m."""

    def __call__(self, e_mag: jax.Array) -> jax.Array:
        raise NotImplementedError

    @property
    def is_linear(self) -> bool:
        """True when sigma does not depend on the field."""
        return False


class Constant(Conductivity):
    """sigma = sigma0 (ohmic tissue)."""

    sigma0: jax.Array | float

    def __check_init__(self):
        _require("positive", "constant conductivity", sigma0=self.sigma0)

    def __call__(self, e_mag):
        return self.sigma0 + jnp.zeros_like(e_mag)

    @property
    def is_linear(self) -> bool:
        return True


class _Thresholds(Conductivity):
    """A rise from sigma0 (intact, S/m) to sigma1 (permeabilised) between the reversible and
    irreversible thresholds e_rev < e_irr (V/m)."""

    sigma0: jax.Array | float
    sigma1: jax.Array | float
    e_rev: jax.Array | float
    e_irr: jax.Array | float

    def __check_init__(self):
        _require("positive", type(self).__name__, sigma0=self.sigma0, sigma1=self.sigma1)
        _require("ordered", type(self).__name__, sigma0=self.sigma0, sigma1=self.sigma1)
        _require("increasing", type(self).__name__, e_rev=self.e_rev, e_irr=self.e_irr)


class Ramp(_Thresholds):
    """Piecewise-linear rise from sigma0 at e_rev to sigma1 at e_irr (Go-Smart IRE planner).

    Continuous but not C1 at the thresholds; kept as an option, prefer SmoothStep for gradients.
    """

    def __call__(self, e_mag):
        t = jnp.clip((e_mag - self.e_rev) / (self.e_irr - self.e_rev), 0.0, 1.0)
        return self.sigma0 + (self.sigma1 - self.sigma0) * t


def smooth_heaviside(r: jax.Array) -> jax.Array:
    """C2 step on [-1, 1]: 0 below, 1 above, 1/2 + 15/16 r - 5/8 r^3 + 3/16 r^5 between."""
    r = jnp.clip(r, -1.0, 1.0)
    return 0.5 + r * (15.0 / 16.0 - r * r * (5.0 / 8.0 - 3.0 / 16.0 * r * r))


class SmoothStep(_Thresholds):
    """C2 smoothed Heaviside (COMSOL flc2hs style) centred at (e_rev + e_irr) / 2 with half
    width (e_irr - e_rev) / 2 (docs/physics.md, section 2)."""

    def __call__(self, e_mag):
        centre = 0.5 * (self.e_rev + self.e_irr)
        half = 0.5 * (self.e_irr - self.e_rev)
        return self.sigma0 + (self.sigma1 - self.sigma0) * smooth_heaviside((e_mag - centre) / half)


class Logistic(Conductivity):
    """sigma0 + (sigma1 - sigma0) / (1 + exp(-(E - e_mid) / width))."""

    sigma0: jax.Array | float
    sigma1: jax.Array | float
    e_mid: jax.Array | float
    width: jax.Array | float

    def __check_init__(self):
        _require("positive", "Logistic", sigma0=self.sigma0, sigma1=self.sigma1, width=self.width)
        _require("ordered", "Logistic", sigma0=self.sigma0, sigma1=self.sigma1)

    def __call__(self, e_mag):
        return self.sigma0 + (self.sigma1 - self.sigma0) * jax.nn.sigmoid(
            (e_mag - self.e_mid) / self.width
        )


class RegionConductivity(Conductivity):
    """One model per region, selected per cell by `cell_region` (n_cells,) ints."""

    models: tuple[Conductivity, ...]
    cell_region: jax.Array

    def __call__(self, e_mag):
        sigma = jnp.zeros_like(e_mag)
        for region, model in enumerate(self.models):
            sigma = jnp.where(self.cell_region == region, model(e_mag), sigma)
        return sigma

    @property
    def is_linear(self) -> bool:
        return all(m.is_linear for m in self.models)


class FieldMemory(Conductivity):
    """sigma(max(e_floor, |E|)): conductivity that remembers the highest field earlier pulses
    produced in each cell and never decreases (Go-Smart's max-E memory; docs/physics.md,
    section 1).

    Still monotone in |E|, so the energy stays convex.
    """

    model: Conductivity
    e_floor: jax.Array

    def __call__(self, e_mag):
        return self.model(jnp.maximum(self.e_floor, e_mag))

    @property
    def is_linear(self) -> bool:
        return self.model.is_linear


def conductivity_and_slope(model: Conductivity, e_mag: jax.Array) -> tuple[jax.Array, jax.Array]:
    """sigma(e_mag) and d sigma / d|E| elementwise (S/m and S/V)."""
    return jax.jvp(model, (e_mag,), (jnp.ones_like(e_mag),))
