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

Pure JAX, differentiable in every leaf of the plan. `robust_planning_objective` adds the
conductivity draws (per-material factors on the mesh's materials), the common part of each
scenario's placement error as a rigid motion of the anatomy (`moved_anatomy`) and the nominal
scenario's diagnostics, which is what `epsim optimise` with an `optimise: robust:` block minimises
(`epsim.optimise.robust_plan`).

Why the anatomy moves: the node motion follows a needle only within its halo (about a
millimetre on small scenes), while a whole needle array displaced or tilted together is
exactly the same problem as the array in place and every structure moved the other way. So a
scenario's error is split (`epsim.optimise.scenarios.split_common`) into a rigid motion of the
array, applied to the analytic structures (target, spared structures, the materials' inclusions:
level sets evaluated at the cell centroids, smooth and exact on one mesh), and each needle's
remainder, applied by the node motion.
"""

from __future__ import annotations

import dataclasses

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.optimise.evaluate import planning_objective
from epsim.optimise.materials import MaterialField
from epsim.optimise.objective import Goals
from epsim.optimise.model import MeshData
from epsim.optimise.plan import Needles, Plan
from epsim.physics.scaled import scaled_model
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


def frame_rotation(omega: jax.Array) -> jax.Array:
    """(3, 3) rotation by the rotation vector omega (3,) (axis times angle, rad), Rodrigues'
    formula; the identity for omega = 0 (not differentiated: scenario frames are constants)."""
    theta = jnp.linalg.norm(omega)
    small = theta < 1e-12
    safe = jnp.where(small, 1.0, theta)
    a = jnp.where(small, 1.0, jnp.sin(safe) / safe)
    b = jnp.where(small, 0.5, (1.0 - jnp.cos(safe)) / safe**2)
    k = jnp.array([[0.0, -omega[2], omega[1]], [omega[2], 0.0, -omega[0]],
                   [-omega[1], omega[0], 0.0]])
    return jnp.eye(3) + a * k + b * (k @ k)


def frame_map(frame: jax.Array, pivot: jax.Array):
    """The array's common motion x -> pivot + R (x - pivot) + t of frame (omega (3), t (3)) m:
    where a point of the needles' frame lies in the anatomy."""
    rot, t = frame_rotation(frame[:3]), frame[3:]
    turn = (rot - jnp.eye(3)).T  # written as x + change: frame 0 gives x bit for bit
    return lambda x: x + (x - pivot) @ turn + t


def moved_anatomy(goals: Goals, data: MeshData, frame: jax.Array, pivot: jax.Array):
    """(goals, data) with every structure and material inclusion moved by the inverse of the
    needle array's common motion `frame` about `pivot` (`frame_map`): each signed distance d
    becomes d(pivot + R (x - pivot) + t). Needs analytic distances (no STL structures, material
    shapes present: `scenarios.common_allowed`)."""
    to_anatomy = frame_map(frame, pivot)

    def moved(distance):
        return lambda x: distance(to_anatomy(x))

    def structure(s):
        return dataclasses.replace(s, distance=moved(s.distance))

    goals = dataclasses.replace(goals, targets=tuple(map(structure, goals.targets)),
                                spares=tuple(map(structure, goals.spares)))
    m = data.materials
    materials = MovedMaterials(m.models, m.sigma0, m.e_irr, m.labels, m.reference,
                               tuple((moved(d), i) for d, i in m.shapes), m.width,
                               jnp.any(frame != 0.0))
    return goals, eqx.tree_at(lambda d: d.materials, data, materials)


OUT_OF_RANGE = 0.25
"""A moved cell's material weight this far outside [0, 1] is a labelling artefact (below)."""


class MovedMaterials(MaterialField):
    """The materials of cells under a moved anatomy. A cell's weights are its label plus the
    change of the analytic membership; where a faceted cell's label disagrees with the shape
    (a coarse mesh's cells along a curved surface) and the shape then moves away, that sum
    leaves [0, 1] by up to the disagreement (a negative conductivity: measured -0.77 on the
    tiny scene, and the solve fails). With the anatomy moved (`moved`), a row with a weight
    more than `OUT_OF_RANGE` outside [0, 1] is clipped and renormalised; the small excursions
    of every other row are kept (clipping those too biased the smooth coverage of a 0.5 mm
    shift by half the shift's own effect); unmoved, the weights are the field's own, bit for
    bit."""

    moved: jax.Array

    def weights(self, points: jax.Array, cells) -> jax.Array:
        raw = super().weights(points, cells)
        clipped = jnp.clip(raw, 0.0, 1.0)
        clipped = clipped / jnp.sum(clipped, axis=1, keepdims=True)
        wrong = jnp.any((raw < -OUT_OF_RANGE) | (raw > 1.0 + OUT_OF_RANGE), axis=1)
        return jnp.where(self.moved & wrong[:, None], clipped, raw)


def scaled_data(data: MeshData, factors: jax.Array) -> MeshData:
    """The mesh data with every material's conductivity and thresholds scaled by its row
    (f_sigma, f_ratio, f_field) of `factors` (n_materials, 3)."""
    m = data.materials
    models = tuple(scaled_model(model, *factors[r]) for r, model in enumerate(m.models))
    scaled = eqx.tree_at(lambda f: (f.models, f.sigma0, f.e_irr), m,
                         (models, m.sigma0 * factors[:, 0], m.e_irr * factors[:, 2]))
    return eqx.tree_at(lambda d: d.materials, data, scaled)


def robust_planning_objective(
    plan: Plan, needles: Needles, data: MeshData, goals: Goals, current_scale: jax.Array,
    shifts: jax.Array, tilts: jax.Array, factors: jax.Array,
    weights: RobustWeights = RobustWeights(), nonlinear: bool = False,
    solver: Newton = Newton(rtol=1e-10), frames: jax.Array | None = None,
    pivot: jax.Array | None = None,
):
    """The robust objective over scenarios of placement (shifts (S, k, 3) m, tilts (S, k, 2)
    of each needle; frames (S, 6), the array's common motion about pivot (3,) m, applied to the
    anatomy, or None) and conductivity (factors (S, n_materials, 3)), vmapped with the nominal
    case in front. Returns (value, aux): aux is the nominal case's `planning_objective` aux
    (what the planner checks against the goal and the limits), except `min_volume_ratio` and
    `converged`, taken over every scenario, plus `scenario_values` and `scenario_coverage`
    (S,)."""
    one = partial(planning_objective, needles=needles, current_scale=current_scale,
                  nonlinear=nonlinear, solver=solver)
    k = shifts.shape[1]
    shifts = jnp.concatenate([jnp.zeros((1, k, 3)), shifts])
    tilts = jnp.concatenate([jnp.zeros((1, k, 2)), tilts])
    factors = jnp.concatenate([jnp.ones((1, *factors.shape[1:])), factors])

    moving = frames is not None
    frames = (jnp.concatenate([jnp.zeros((1, 6)), frames]) if moving
              else jnp.zeros((shifts.shape[0], 6)))

    def scenario(s, t, f, frame):
        g, d = moved_anatomy(goals, data, frame, pivot) if moving else (goals, data)
        return one(perturbed(plan, s, t), data=scaled_data(d, f), goals=g)

    values, aux = jax.vmap(scenario)(shifts, tilts, factors, frames)
    value = weights.mean * jnp.mean(values[1:]) + weights.cvar * cvar(values[1:], weights.alpha)
    nominal = jax.tree.map(lambda x: x[0], aux)
    return value, {**nominal, "min_volume_ratio": jnp.min(aux["min_volume_ratio"]),
                   "converged": jnp.all(aux["converged"]), "scenario_values": values[1:],
                   "scenario_coverage": aux["metrics"]["coverage_hard"][1:]}


@eqx.filter_jit
def robust_evaluate_batch(plans, needles, data, goals, current_scale, nonlinear, solver,
                          with_grad, scenarios, weights):
    """`epsim.optimise.evaluate.evaluate_batch` of the robust objective; `scenarios` is
    (shifts, tilts, factors, frames, pivot), the last two None when the anatomy stays."""
    f = partial(robust_planning_objective, needles=needles, data=data, goals=goals,
                current_scale=current_scale, shifts=scenarios[0], tilts=scenarios[1],
                factors=scenarios[2], weights=weights, nonlinear=nonlinear, solver=solver,
                frames=scenarios[3], pivot=scenarios[4])
    if with_grad:
        return jax.vmap(jax.value_and_grad(f, has_aux=True))(plans)
    return jax.vmap(f)(plans), None


def robust_evaluate_one(plan, *args):
    """`robust_evaluate_batch` for a single plan (no batch axis)."""
    (value, aux), grad = robust_evaluate_batch(jax.tree.map(lambda x: x[None], plan), *args)
    first = partial(jax.tree.map, lambda x: x[0])
    return (value[0], first(aux)), (first(grad) if grad is not None else None)
