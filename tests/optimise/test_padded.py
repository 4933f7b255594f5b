"""Padded planner meshes: the same objective, gradients and diagnostics as the unpadded mesh, and
a remesh of similar size runs the programs already compiled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.optimise.evaluate import evaluate_one, plan_shift_ratio
from epsim.optimise.padded import pad_mesh_data
from epsim.padding import Compilations, demand, pick_capacity
from epsim.solve import Newton
from tests.helpers.scenes import layout, small_case

SOLVER = Newton(rtol=1e-12)


@pytest.fixture(scope="module")
def case():
    scene, goals, needles, plan = small_case(3, size=7.0, electrode_size=1.2)
    tip, axis = layout(needles, plan)
    mesh = scene.mesh(tip, axis, np.asarray(needles.length))
    data = scene.mesh_data(mesh, tip, axis)
    return scene, goals, needles, plan, data, pad_mesh_data(data)


def _moved(plan):
    """The plan with the needles moved within the mesh's allowed shift (so nodes move)."""
    shift = np.zeros(np.shape(plan.shift))
    shift[0, :2] = (0.4e-3, -0.3e-3)
    return type(plan)(shift=jnp.asarray(shift), tilt=plan.tilt, voltage=plan.voltage)


@pytest.mark.parametrize("nonlinear", [False, True])
def test_padded_mesh_gives_the_unpadded_objective_and_gradient(case, nonlinear):
    # the nonlinear model's value (its gradient through padded problems: tests/test_padding.py)
    with_grad = not nonlinear
    scene, goals, needles, plan, data, padded = case
    assert padded.problem.pattern.n_nodes > data.problem.pattern.n_nodes
    assert padded.cell_mask.shape[0] > data.ref_volumes.shape[0]
    plan = _moved(plan)
    scale = jnp.ones(len(scene.anode))
    (v0, aux0), g0 = evaluate_one(plan, needles, data, goals, scale, nonlinear, SOLVER, with_grad)
    (v1, aux1), g1 = evaluate_one(plan, needles, padded, goals, scale, nonlinear, SOLVER,
                                  with_grad)
    assert abs(float(v1) - float(v0)) <= 1e-12 * abs(float(v0))
    flat0, flat1 = jax.tree_util.tree_flatten_with_path(aux0)[0], jax.tree.leaves(aux1)
    for (path, a), b in zip(flat0, flat1):
        np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float), rtol=1e-12,
                                   atol=1e-14, err_msg=jax.tree_util.keystr(path))
    # the gradient goes through the solver's adjoint: equal to its tolerance
    assert (g0 is None) == (not with_grad)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
        scale_g = float(np.max(np.abs(np.asarray(a)))) or 1.0
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-9 * scale_g)
    assert float(aux1["min_volume_ratio"]) < 1.0  # the real cells moved; padding never counts
    np.testing.assert_allclose(plan_shift_ratio(padded, needles, plan),
                               plan_shift_ratio(data, needles, plan), rtol=1e-14)


def test_a_remesh_of_similar_size_compiles_nothing(case):
    scene, goals, needles, plan, data, padded = case
    scale = jnp.ones(len(scene.anode))
    evaluate_one(plan, needles, padded, goals, scale, False, SOLVER, True)
    tip, axis = layout(needles, plan)
    tip = tip + np.array([0.3e-3, -0.2e-3, 0.1e-3])
    mesh = scene.mesh(tip, axis, np.asarray(needles.length))
    fresh = scene.mesh_data(mesh, tip, axis)
    capacity = pick_capacity(fresh.problem, [demand(padded.problem)])
    again = pad_mesh_data(fresh, capacity)
    assert mesh.n_cells != data.ref_volumes.shape[0]  # a different mesh ...
    assert again.cell_mask.shape == padded.cell_mask.shape  # ... in the same capacity
    with Compilations() as seen:
        (value, _), _ = evaluate_one(plan, needles, again, goals, scale, False, SOLVER, True)
    assert (seen.traced, seen.compiled) == (0, 0)
    assert np.isfinite(float(value))


def test_a_growing_boundary_keeps_its_capacity(monkeypatch):
    """The domain's boundary gains nodes as the needles spread (944 -> 1,128 over the pelvic
    plan's coarse stage): a capacity leaves the session's headroom for them too, so the next
    mesh does not compile the evaluators again."""
    from epsim.optimise import padded

    monkeypatch.setattr(padded, "_BOUNDARY", [])  # this process's capacities so far: none
    first = padded.boundary_capacity(850)
    assert first >= padded.HEADROOM * 850
    assert padded.boundary_capacity(1060) == first
    assert padded.boundary_capacity(3000) > first  # far larger: a capacity of its own
