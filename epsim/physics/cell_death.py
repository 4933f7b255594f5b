"""Permeabilisation probability and cell survival after electric pulses (docs/physics.md, section 3).

Every function is written for one value and broadcasts (fields in V/m, pulse counts as floats).

Peleg-Fermi survival (Golberg & Rubinsky 2010, BioMed Eng Online 9:13),

    S(E, n) = 1 / (1 + exp((E - Ec(n)) / A(n))),   Ec(n) = Ec0 exp(-k1 n),   A(n) = A0 exp(-k2 n),

with Go-Smart's defaults Ec0 = 399600 V/m, A0 = 144100 V/m, k1 = 0.03, k2 = 0.06, which its code
says are not based on human in vivo data.

Two properties of that closed form shape everything below [derived]:

- It is non-increasing in E everywhere, but in n only where E >= (1 - k1/k2) Ec(n): writing
  x(n) = (E - Ec(n)) / A(n), dx/dn = (k2 E e^{k2 n} - (k2 - k1) Ec0 e^{(k2 - k1) n}) / A0, which is
  negative below that field when k2 > k1. With the defaults (k2 = 2 k1) survival *rises* with
  the pulse count whenever E < Ec(n) / 2 (about 1570 V/cm at 8 pulses), and zero pulses "kill"
  1 / (1 + exp((Ec0 - E) / A0)) of the cells (6 % at E = 0). Both are artefacts of the fit.
- The onset n*(E) = ln((1 - k1/k2) Ec0 / E) / k1 (0 when that is negative or k2 <= k1) is where
  x has its minimum; past it x is increasing and convex.

`survival_monotone` repairs the artefact only where it occurs: for n >= n*(E) it is the published
closed form; for n < n*(E) it falls from S = 1 at n = 0 to the closed form's value S* = S(E, n*)
as 1 - S = (1 - S*) t (2 - t), t = n / n* (C1 at n*, slope zero there like the closed form). It is
then non-increasing in both E and n, strictly decreasing in n, equals 1 at n = 0 for fields
below (1 - k1/k2) Ec0 (above it the published S(E, 0) < 1 is kept), keeps S = 0.5
at E = Ec(n) (Ec(n) >= (1 - k1/k2) Ec(n) always lies on the published branch), and in the
repaired region predicts more survival than the closed form (conservative for claiming kill).

Sequences of pairs (each delivering n_p pulses at its own field E_p in a cell) use one of two
rules, typed values passed to `survival_sequence`:

- `EquivalentPulses` (default), the memoryless rule used for thermal dose: the state of a cell is
  its survival; before pair p, the damage already done is converted into the number m of pulses
  at E_p that give the same survival on the (monotone) curve of E_p, and the pair continues that
  curve from m to m + n_p. Exact for one pair and for any sequence of equal fields; survival never
  rises along the sequence; non-increasing in every n_p and in E_1. It is NOT monotone in the
  fields of later pairs: A(n) shrinks with n, so a lower field, which needs more equivalent
  pulses, continues on a steeper curve. Example with the defaults: from S = 0.88, one pulse at
  400 V/cm leaves S = 0.79 but one at 800 V/cm leaves 0.85. Any rule whose state is the survival
  alone and that reproduces the closed form for equal fields is this rule, so the defect belongs
  to the Peleg-Fermi parametrisation.
- `IndependentPairs`: each pair kills independently, S = prod_p S(E_p, n_p). Monotone in every
  field and pulse count and exact for one pair, but two pairs of n pulses at one field give
  S(E, n)^2, not S(E, 2 n). Prefer it for gradient-based planning.

With the defaults, the closed form at the *total* pulse count of a long multi-pair train is an
extrapolation: Ec(n) falls below 1 V/cm after about 280 pulses, so 4 x 90 pulses at one field
kill any cell that sees more than 0.1 V/cm. The fit range of Go-Smart's numbers is
not documented [unverified]; treat survival after hundreds of pulses with care.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.physics.checks import check_parameters

# Damage logits y = log((1 - S) / S) are kept in [Y_MIN, Y_MAX]: S = 1 and S = 0 to float64.
Y_MIN = -700.0
Y_MAX = 700.0
# Fields are floored at E_FLOOR * Ec0 (a cell with no field survives: its onset is ~700 pulses).
E_FLOOR = 1e-9
BISECTION_STEPS = 64
SLOPE_FLOOR = 1e-6  # 1/pulse, guards the implicit derivative where the damage curve is flat


def permeabilisation(e, e50, width):
    """Probability of permeabilisation, symmetric sigmoid 1 / (1 + exp(-(E - E50) / b)).

    One of four forms Dermol & Miklavcic (2014, Bioelectrochemistry 100:52) compared, with similar
    results. e, e50, width (b > 0) in V/m; returns a probability in [0, 1].
    """
    return jax.nn.sigmoid((e - e50) / width)


def permeabilisation_gompertz(e, shift, width):
    """Probability of permeabilisation, Gompertz form exp(-exp(-(E - a) / b)) (Dermol &
    Miklavcic 2014). Asymmetric: P(a) = 1/e. e, shift (a), width (b > 0) in V/m."""
    return jnp.exp(-jnp.exp(-(e - shift) / width))


class PelegFermi(eqx.Module):
    """Peleg-Fermi survival parameters (Golberg & Rubinsky 2010) with Go-Smart's defaults, which
    its code says are not based on human in vivo data.

    Attributes:
        ec0: V/m, critical field for zero pulses; a0: V/m, width for zero pulses;
        k1, k2: 1/pulse, decay rates of Ec and A with the pulse count.
    """

    ec0: jax.Array | float = 399600.0
    a0: jax.Array | float = 144100.0
    k1: jax.Array | float = 0.03
    k2: jax.Array | float = 0.06

    def __check_init__(self):
        check_parameters("PelegFermi", "positive and finite", lambda a: a > 0,
                         ec0=self.ec0, a0=self.a0, k1=self.k1, k2=self.k2)


DEFAULT = PelegFermi()


def critical_field(n, ec0=DEFAULT.ec0, k1=DEFAULT.k1):
    """Ec(n) = Ec0 exp(-k1 n), V/m: the field at which half the cells survive n pulses."""
    return ec0 * jnp.exp(-k1 * n)


def survival(e, n, ec0=DEFAULT.ec0, a0=DEFAULT.a0, k1=DEFAULT.k1, k2=DEFAULT.k2):
    """Published Peleg-Fermi survival S(E, n) = 1 / (1 + exp((E - Ec(n)) / A(n))).

    Golberg & Rubinsky (2010), Go-Smart defaults. e in V/m, n pulses (float). Non-increasing in n
    only where E >= (1 - k1/k2) Ec(n) (module docstring); see `survival_monotone`.
    """
    return jax.nn.sigmoid(-_pf_logit(e, n, PelegFermi(ec0, a0, k1, k2)))


def _pf_logit(e, n, p: PelegFermi):
    """x(n) = (E - Ec(n)) / A(n) = log((1 - S) / S) of the published closed form."""
    return (e - p.ec0 * jnp.exp(-p.k1 * n)) * jnp.exp(p.k2 * n) / p.a0


def monotone_onset(e, params: PelegFermi = DEFAULT):
    """n*(E) = ln((1 - k1/k2) Ec0 / E) / k1, clipped at 0 (0 when k2 <= k1), in pulses: below it
    the published survival rises with the pulse count [derived]."""
    e = jnp.maximum(e, E_FLOOR * params.ec0)
    ratio = 1.0 - params.k1 / params.k2
    arg = jnp.where(ratio > 0, ratio, 1.0) * params.ec0 / e
    onset = jnp.log(jnp.maximum(arg, 1.0)) / params.k1
    return jnp.where(ratio > 0, onset, 0.0)


def damage_logit(e, n, params: PelegFermi = DEFAULT):
    """y = log((1 - S) / S) of `survival_monotone`, clipped to [Y_MIN, Y_MAX]; increasing in E
    and n. Survival is sigmoid(-y)."""
    e = jnp.maximum(e, E_FLOOR * params.ec0)
    onset = monotone_onset(e, params)
    on_curve = _pf_logit(e, jnp.maximum(n, onset), params)
    x_min = _pf_logit(e, onset, params)
    t = jnp.clip(n / jnp.where(onset > 0, onset, 1.0), 0.0, 1.0)
    ramp = t * (2.0 - t)
    log_c = jax.nn.log_sigmoid(x_min) + jnp.log(jnp.where(ramp > 0, ramp, 1.0))
    log_c = jnp.where(ramp > 0, log_c, Y_MIN)
    repaired = log_c - jnp.log1p(-jnp.exp(log_c))
    y = jnp.where(n < onset, repaired, on_curve)
    return jnp.clip(y, Y_MIN, Y_MAX)


def survival_monotone(e, n, params: PelegFermi = DEFAULT):
    """Peleg-Fermi survival repaired where the published form rises with n (module docstring):
    equal to `survival` for n >= n*(E), 1 at n = 0 where n*(E) > 0, non-increasing in E and n.
    Fraction in [0, 1].
    """
    return jax.nn.sigmoid(-damage_logit(e, n, params))


class EquivalentPulses(eqx.Module):
    """Sequence rule: convert the damage so far into equivalent pulses at the next field, then add
    that pair's pulses (module docstring)."""


class IndependentPairs(eqx.Module):
    """Sequence rule: survival fractions of the pairs multiply (module docstring)."""


def _equivalent_pulses(y, e, params: PelegFermi):
    """Pulses m at field e with damage_logit(e, m) = y (0 when y is below the curve's start).

    Bisection on the increasing curve, then one Newton step with a frozen slope, so that the
    value is the bisection root and the derivative is the implicit one, -(dy_curve - dy) / slope.
    """
    p = params
    e_safe = jnp.maximum(e, E_FLOOR * p.ec0)
    y_c = jnp.clip(y, Y_MIN, Y_MAX)
    # Past these pulse counts Ec(m) <= E / 2 and E e^{k2 m} / (2 A0) >= max(y, 1): damage >= y.
    hi = jnp.maximum(
        jnp.maximum(monotone_onset(e_safe, p), jnp.log(2.0 * p.ec0 / e_safe) / p.k1),
        jnp.log(2.0 * p.a0 * jnp.maximum(y_c, 1.0) / e_safe) / p.k2,
    )
    hi = jax.lax.stop_gradient(jnp.maximum(hi, 0.0) + 1.0)
    frozen = jax.lax.stop_gradient((y_c, e_safe, p))

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = damage_logit(frozen[1], mid, frozen[2]) >= frozen[0]
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, BISECTION_STEPS, bisect, (jnp.zeros_like(hi), hi))
    m0 = jax.lax.stop_gradient(0.5 * (lo + hi))
    value, slope = jax.jvp(lambda m: damage_logit(e_safe, m, p), (m0,), (jnp.ones_like(m0),))
    slope = jax.lax.stop_gradient(jnp.maximum(slope, SLOPE_FLOOR))
    m = m0 - (value - y_c) / slope
    start = damage_logit(e_safe, jnp.zeros_like(m0), p)
    return jnp.where(y_c > start, m, 0.0)


def survival_sequence(
    e_per_pair: jax.Array,
    n_per_pair,
    params: PelegFermi = DEFAULT,
    rule: EquivalentPulses | IndependentPairs = EquivalentPulses(),
) -> jax.Array:
    """Survival after a sequence of pairs, each delivering its pulses at its own field.

    Args:
        e_per_pair: (n_pairs, n_cells) V/m, field of each pair in each cell.
        n_per_pair: (n_pairs,) or (n_pairs, n_cells) pulses of each pair (floats allowed).
        params: Peleg-Fermi parameters (per cell or broadcast).
        rule: EquivalentPulses() (default) or IndependentPairs() (module docstring).
    Returns:
        (n_cells,) surviving fraction after the last pair, using `survival_monotone` curves.
    """
    e = jnp.asarray(e_per_pair)
    n = jnp.asarray(n_per_pair, dtype=e.dtype)
    n = jnp.broadcast_to(n.reshape(n.shape + (1,) * (e.ndim - n.ndim)), e.shape)
    if isinstance(rule, IndependentPairs):
        return jnp.exp(jnp.sum(jax.nn.log_sigmoid(-damage_logit(e, n, params)), axis=0))

    def step(y, pair):
        e_p, n_p = pair
        m = _equivalent_pulses(y, e_p, params)
        y_new = jnp.maximum(damage_logit(e_p, m + n_p, params), y)
        return jnp.where(n_p > 0, y_new, y), None

    y0 = jnp.full(e.shape[1:], Y_MIN, dtype=e.dtype)
    y, _ = jax.lax.scan(step, y0, (e, n))
    return jax.nn.sigmoid(-y)
