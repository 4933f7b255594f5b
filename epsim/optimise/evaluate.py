"""The planning objective as one pure function of a plan, and its jitted batch evaluators.

    value, aux = planning_objective(plan, needles, data, goals, current_scale, nonlinear=False)

moves the mesh nodes with the needles (`motion.moved_points`), solves the superposition model
(or the nonlinear one), and adds up the objective terms. It is differentiable with respect to
every leaf of `plan` (needle shifts and tilts, pair voltages), which is what the optimiser and
the finite-difference tests use. `current_scale` (n_pairs,) multiplies the model's currents:
the planner sets it to nonlinear / linear currents measured at recent iterates, so that the
cheap linear stage sees realistic currents (fidelity management, docs/design.md, section 4).
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.optimise.model import MeshData, linear_response, nonlinear_response
from epsim.optimise.motion import moved_points, shift_ratio
from epsim.optimise.objective import Goals, field_terms, geometry_terms, total
from epsim.optimise.pairs import pair_sparsity
from epsim.optimise.plan import Needles, Plan, axes, tips
from epsim.solve import Newton


def plan_points(data: MeshData, needles: Needles, plan: Plan) -> jax.Array:
    """(n_nodes, 3) m, the reference mesh's nodes moved to the plan's needle poses."""
    return moved_points(data.motion, tips(needles, plan), axes(needles, plan))


def planning_objective(
    plan: Plan,
    needles: Needles,
    data: MeshData,
    goals: Goals,
    current_scale: jax.Array,
    nonlinear: bool = False,
    solver: Newton = Newton(rtol=1e-10),
):
    """Objective (scalar, to minimise) and diagnostics of a plan on one reference mesh.

    Returns:
        (value, aux): aux has `terms` (every objective term), `metrics` (hard coverage of the
        target plus margin, spared fractions above E_irr, current ratios), `current` (n_pairs,)
        A (scaled), `min_volume_ratio` and `converged`.
    """
    points = plan_points(data, needles, plan)
    respond = nonlinear_response if nonlinear else linear_response
    response = respond(data, points, plan.voltage, solver=solver)
    response = eqx.tree_at(lambda r: r.current, response, response.current * current_scale)
    terms, metrics = field_terms(goals, data, response)
    terms = {**terms, **geometry_terms(goals, needles, plan),
             "sparsity": pair_sparsity(plan.voltage, goals.max_voltage)}
    aux = {
        "terms": terms,
        "metrics": metrics,
        "current": response.current,
        "min_volume_ratio": response.min_volume_ratio,
        "converged": response.converged,
    }
    return total(goals, terms), aux


@eqx.filter_jit
def evaluate_batch(plans, needles, data, goals, current_scale, nonlinear, solver, with_grad):
    """Objective (and gradients) of a batch of plans stacked on a leading axis, vmapped: the
    starts or candidates that share one reference mesh."""
    f = partial(planning_objective, needles=needles, data=data, goals=goals,
                current_scale=current_scale, nonlinear=nonlinear, solver=solver)
    if with_grad:
        return jax.vmap(jax.value_and_grad(f, has_aux=True))(plans)
    return jax.vmap(f)(plans), None


@eqx.filter_jit
def evaluate_one(plan, needles, data, goals, current_scale, nonlinear, solver, with_grad):
    """`evaluate_batch` for a single plan (no batch axis)."""
    f = partial(planning_objective, needles=needles, data=data, goals=goals,
                current_scale=current_scale, nonlinear=nonlinear, solver=solver)
    if with_grad:
        return jax.value_and_grad(f, has_aux=True)(plan)
    return f(plan), None


@eqx.filter_jit
def plan_shift_ratio(data: MeshData, needles: Needles, plan: Plan) -> jax.Array:
    """(n_needles,) shift of each needle from the mesh's layout over the allowed shift."""
    return shift_ratio(data.motion, tips(needles, plan), axes(needles, plan))


def stack(plans) -> Plan:
    """Stack plans on a new leading axis."""
    return jax.tree.map(lambda *x: jnp.stack(x), *plans)


def unstack(plans: Plan, n: int) -> list[Plan]:
    return [jax.tree.map(lambda x: x[i], plans) for i in range(n)]
