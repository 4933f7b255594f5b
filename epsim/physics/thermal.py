"""Thermal tissue properties, temperature-dependent conductivity and Arrhenius thermal damage.

Pennes bioheat (docs/physics.md, section 4):

    rho c dT/dt = div(k grad T) + sigma |E|^2 + w_b rho_b c_b (T_b - T) + q_m

Defaults are OpenEP's [src]; temperatures in kelvin, SI units throughout. The solver that uses
these lives in `epsim.heating`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.physics.checks import check_parameters, concrete
from epsim.physics.conductivity import Conductivity

GAS_CONSTANT = 8.314462618  # J/mol/K (CODATA 2018, exact)
FREEZING = 273.15  # K
BOILING = 373.15  # K: past it the Pennes model (no phase change) does not apply


class ThermalTissue(eqx.Module):
    """Thermal properties of tissue, per cell (n_cells,) or broadcast scalars.

    Defaults: OpenEP [src] (docs/physics.md, section 4).

    Attributes:
        k: W/m/K thermal conductivity (> 0).
        rho: kg/m^3 density (> 0).
        c: J/kg/K specific heat (> 0).
        alpha: 1/K temperature coefficient of the electric conductivity, sigma (1 + alpha (T - T0));
            must keep that factor positive up to boiling, alpha > -1 / (373.15 K - T0).
        w_b: 1/s blood perfusion rate (>= 0; 0 switches perfusion off).
        rho_b: kg/m^3 blood density (> 0).
        c_b: J/kg/K blood specific heat (> 0).
        q_m: W/m^3 metabolic heat (>= 0).
        t_b: K arterial blood temperature, in [273.15, 373.15].
        t0: K initial tissue temperature and reference of alpha, in [273.15, 373.15].
    """

    k: jax.Array | float = 0.512
    rho: jax.Array | float = 1050.0
    c: jax.Array | float = 3600.0
    alpha: jax.Array | float = 0.015
    w_b: jax.Array | float = 0.0044
    rho_b: jax.Array | float = 1060.0
    c_b: jax.Array | float = 3600.0
    q_m: jax.Array | float = 420.0
    t_b: jax.Array | float = 310.15
    t0: jax.Array | float = 310.15

    def __check_init__(self):
        name = "ThermalTissue"
        check_parameters(name, "positive and finite", lambda a: a > 0,
                         k=self.k, rho=self.rho, c=self.c, rho_b=self.rho_b, c_b=self.c_b)
        check_parameters(name, "non-negative and finite", lambda a: a >= 0,
                         w_b=self.w_b, q_m=self.q_m)
        check_parameters(name, "a temperature in kelvin between 273.15 and 373.15",
                         lambda a: (a >= FREEZING) & (a <= BOILING), t_b=self.t_b, t0=self.t0)
        t0 = concrete(self.t0)
        if t0 is not None:
            bound = -1.0 / (BOILING - t0)
            check_parameters(name, f"> {np.max(bound):.4g} 1/K so that sigma (1 + alpha (T - T0)) "
                             "stays positive up to boiling", lambda a: a > bound, alpha=self.alpha)

    @property
    def heat_capacity(self):
        """rho c, J/m^3/K."""
        return self.rho * self.c

    @property
    def perfusion(self):
        """w_b rho_b c_b, W/m^3/K."""
        return self.w_b * self.rho_b * self.c_b


def temperature_factor(temperature, alpha, t0):
    """1 + alpha (T - T0): the linear temperature factor of the conductivity (docs/physics.md,
    section 2; OpenEP's alpha 0.015 1/K; Beitel-White et al. 2021 measured 1.2-2.3 %/degC)."""
    return 1.0 + alpha * (temperature - t0)


class TemperatureConductivity(Conductivity):
    """sigma(|E|, T) = model(|E|) * factor, factor = 1 + alpha (T - T0) per cell (fixed while
    the potential is solved, so it plugs into `solve_potential` unchanged)."""

    model: Conductivity
    factor: jax.Array

    def __check_init__(self):
        check_parameters("TemperatureConductivity", "positive (the tissue is past the range of "
                         "the linear temperature model)", lambda a: a > 0, factor=self.factor)

    def __call__(self, e_mag):
        return self.model(e_mag) * self.factor

    @property
    def is_linear(self) -> bool:
        return self.model.is_linear


class Arrhenius(eqx.Module):
    """First-order thermal damage rate A exp(-Ea / (R T)); Omega = integral of it over time and
    1 - exp(-Omega) the damaged fraction.

    Defaults: Henriques & Moritz (1947) skin burn coefficients A = 3.1e98 1/s, Ea = 6.28e5 J/mol,
    as used in IRE thermal-damage studies [unverified: recalled, not checked in the primary
    source]. Their rate at 37 degC is about 5e-8 1/s (negligible over a treatment) and about 1 1/s
    at 60 degC. The often quoted liver pair A = 7.39e39 1/s, Ea = 2.577e5 J/mol [unverified]
    gives 3e-4 1/s at 37 degC, i.e. spurious damage over minutes at body temperature.
    """

    a: jax.Array | float = 3.1e98
    ea: jax.Array | float = 6.28e5

    def __check_init__(self):
        check_parameters("Arrhenius", "positive and finite", lambda a: a > 0, a=self.a, ea=self.ea)

    def rate(self, temperature):
        """Damage rate, 1/s, at temperature (K), computed as exp(ln A - Ea / (R T))."""
        return arrhenius_rate(temperature, self.a, self.ea)


def arrhenius_rate(temperature, a=3.1e98, ea=6.28e5):
    """A exp(-Ea / (R T)) in 1/s for T in K, A in 1/s, Ea in J/mol (see `Arrhenius`)."""
    return jnp.exp(jnp.log(a) - ea / (GAS_CONSTANT * temperature))


def damaged_fraction(omega):
    """1 - exp(-Omega): fraction of cells (or protein) damaged by an Arrhenius integral Omega."""
    return -jnp.expm1(-omega)
