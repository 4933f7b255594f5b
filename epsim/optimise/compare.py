"""Accuracy of the moving-node planning model against freshly generated conforming meshes.

`moved_versus_fresh` meshes a scene at a reference layout, moves the nodes to another layout
(the planning model) and compares currents and target coverage with a fresh gmsh mesh made at
that layout (the reference the final plan is verified on). Used by the tests (small meshes)
and `benchmarks/bench_planning.py` (the shipped configs at their resolution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.optimise.evaluate import plan_points, plan_shift_ratio
from epsim.optimise.model import linear_response, nonlinear_response
from epsim.optimise.objective import Goals, field_terms
from epsim.optimise.plan import Needles, Plan, axes, tips
from epsim.optimise.scene import PlanningScene
from epsim.solve import Newton


@dataclass(frozen=True)
class Comparison:
    """Planning model (moved mesh) against a fresh mesh at the same layout.

    Attributes:
        shift_ratio: largest needle shift over the allowed shift of the reference mesh.
        current_moved, current_fresh: (n_pairs,) A.
        current_error: max relative difference of the currents.
        coverage_moved: target coverage of the planning model (centroid membership), 0..1.
        coverage_fresh: the fresh mesh's coverage of the cells labelled target, 0..1.
        coverage_fresh_centroid: the fresh mesh's coverage with centroid membership, 0..1.
        seconds_moved: evaluation time on the moved mesh (compiled); seconds_fresh: mesh,
            set-up, compile and evaluation of the fresh mesh.
        cells_moved, cells_fresh: mesh sizes.
    """

    shift_ratio: float
    current_moved: np.ndarray
    current_fresh: np.ndarray
    current_error: float
    coverage_moved: float
    coverage_fresh: float
    coverage_fresh_centroid: float
    seconds_moved: float
    seconds_fresh: float
    cells_moved: int
    cells_fresh: int

    @property
    def coverage_points(self) -> float:
        """Coverage difference, percentage points (planning model minus fresh, labels)."""
        return 100.0 * (self.coverage_moved - self.coverage_fresh)


@eqx.filter_jit
def _respond(data, points, voltage, nonlinear, solver):
    respond = nonlinear_response if nonlinear else linear_response
    return respond(data, points, voltage, solver=solver)


def _label_coverage(mesh, materials, response, threshold) -> float:
    region = np.isin(np.asarray(mesh.region_names)[mesh.cell_region], materials)
    e_max = np.max(np.asarray(response.e_mag), axis=0)
    vol = np.asarray(response.volumes)
    return float(np.sum(vol * region * (e_max >= threshold)) / np.sum(vol * region))


def moved_versus_fresh(
    scene: PlanningScene,
    goals: Goals,
    needles: Needles,
    reference: Plan,
    moved: Plan,
    target_materials,
    *,
    factor: float = 1.0,
    nonlinear: bool = True,
    solver: Newton = Newton(rtol=1e-9),
    reference_data=None,
) -> Comparison:
    """Compare the planning model at `moved` (nodes of a mesh made at `reference`) with a
    fresh mesh at `moved`. `reference_data` (mesh, MeshData) skips remeshing the reference."""
    lengths = np.asarray(needles.length)
    if reference_data is None:
        tip, axis = np.asarray(tips(needles, reference)), np.asarray(axes(needles, reference))
        mesh = scene.mesh(tip, axis, lengths, factor)
        data = scene.mesh_data(mesh, tip, axis, factor)
    else:
        mesh, data = reference_data
    points = plan_points(data, needles, moved)
    m = _respond(data, points, moved.voltage, nonlinear, solver)
    jax.block_until_ready(m.e_mag)
    t0 = time.perf_counter()
    m = _respond(data, points, moved.voltage, nonlinear, solver)
    jax.block_until_ready(m.e_mag)
    seconds_moved = time.perf_counter() - t0
    t0 = time.perf_counter()
    tip, axis = np.asarray(tips(needles, moved)), np.asarray(axes(needles, moved))
    fresh_mesh = scene.mesh(tip, axis, lengths, factor)
    fresh = scene.mesh_data(fresh_mesh, tip, axis, factor)
    f = _respond(fresh, jnp.asarray(fresh_mesh.points), moved.voltage, nonlinear, solver)
    jax.block_until_ready(f.e_mag)
    seconds_fresh = time.perf_counter() - t0
    _, metrics_m = field_terms(goals, data, m)
    _, metrics_f = field_terms(goals, fresh, f)
    cm, cf = np.asarray(m.current), np.asarray(f.current)
    return Comparison(
        shift_ratio=float(jnp.max(plan_shift_ratio(data, needles, moved))),
        current_moved=cm, current_fresh=cf,
        current_error=float(np.max(np.abs(cm - cf) / np.abs(cf))),
        coverage_moved=float(metrics_m["coverage_hard"]),
        coverage_fresh=_label_coverage(fresh_mesh, target_materials, f, goals.threshold),
        coverage_fresh_centroid=float(metrics_f["coverage_hard"]),
        seconds_moved=seconds_moved, seconds_fresh=seconds_fresh,
        cells_moved=int(mesh.n_cells), cells_fresh=int(fresh_mesh.n_cells),
    )
