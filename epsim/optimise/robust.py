"""A robust planning objective: the planning objective over needle placement scenarios, combined
as w_mean * mean + w_cvar * CVaR_alpha (sample average approximation).

    value, aux = robust_objective(plan, needles, data, goals, scale, shifts, tilts, weights)

Scenario s adds shifts[s] (k, 3) m along each needle's (e1, e2, axis) and tilts[s] (k, 2) to the
plan (the placement error of `epsim.optimise.scenarios`, drawn once with a fixed seed and kept
through the optimisation), and the objective is vmapped over the scenarios on the plan's one
reference mesh. CVaR_alpha of the scenario objectives (losses: lower is better) is the mean of
their worst 1 - alpha share (Rockafellar & Uryasev 2000, J. Risk 2:21, for a discrete uniform
distribution; the boundary sample enters with its fractional weight). With every perturbation
zero and w_mean + w_cvar = 1, value and gradient are the nominal objective's.

Pure JAX, differentiable in every leaf of the plan. Not yet wired into `epsim optimise` (no
`optimise: robust:` config block); conductivity uncertainty is not part of it.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.optimise.evaluate import planning_objective
from epsim.optimise.objective import Goals
from epsim.optimise.plan import Needles, Plan
from epsim.solve import Newton


class RobustWeights(eqx.Module):
    """w_mean * mean + w_cvar * CVaR_alpha of the scenario objectives."""

    mean: float = eqx.field(static=True, default=0.5)
    cvar: float = eqx.field(static=True, default=0.5)
    alpha: float = eqx.field(static=True, default=0.9)


def cvar(losses: jax.Array, alpha: float) -> jax.Array:
    """Conditional value at risk of equally likely losses (n,): the mean of the worst 1 - alpha
    share, the boundary loss weighted by its fraction; alpha in [0, 1)."""
    n = losses.shape[0]
    tail = (1.0 - alpha) * n
    worst = jnp.sort(losses)[::-1]
    rank = jnp.arange(n)
    weight = jnp.clip(tail - rank, 0.0, 1.0)  # 1 for the first floor(tail), then the fraction
    return jnp.sum(weight * worst) / tail


def perturbed(plan: Plan, shift: jax.Array, tilt: jax.Array) -> Plan:
    """The plan with a placement error added: shift (k, 3) m, tilt (k, 2) (a parallel plan's
    shared tilt becomes one per needle)."""
    return Plan(plan.shift + shift, plan.tilt + tilt, plan.voltage)


def robust_objective(
    plan: Plan, needles: Needles, data, goals: Goals, current_scale: jax.Array,
    shifts: jax.Array, tilts: jax.Array, weights: RobustWeights = RobustWeights(),
    nonlinear: bool = False, solver: Newton = Newton(rtol=1e-10),
):
    """The robust objective (scalar, to minimise) over the scenarios shifts (S, k, 3) m and
    tilts (S, k, 2). Returns (value, aux): aux `values` (S,) the scenario objectives, and the
    per-scenario aux of `planning_objective` stacked on a leading axis."""
    one = partial(planning_objective, needles=needles, data=data, goals=goals,
                  current_scale=current_scale, nonlinear=nonlinear, solver=solver)
    values, aux = jax.vmap(lambda s, t: one(perturbed(plan, s, t)))(shifts, tilts)
    value = weights.mean * jnp.mean(values) + weights.cvar * cvar(values, weights.alpha)
    return value, {**aux, "values": values}
