"""Gradients of the planning objective with respect to needle position, direction and voltage
against central finite differences, on the superposition and on the nonlinear model; a needle
moved by a small fraction of a cell changes the objective as the gradient predicts; and the
planner's looser solves (`PLANNING_SOLVER`) give the tight solves' objective and gradient."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.optimise.evaluate import planning_objective
from epsim.optimise.plan import Plan
from epsim.optimise.session import PLANNING_SOLVER
from epsim.solve import Newton
from tests.helpers.scenes import MM, layout, small_case

SOLVER = Newton(rtol=1e-12)
STEPS = {"shift": 2e-6, "tilt": 1e-4, "voltage": 0.5}  # central-difference steps (m, 1, V)


@pytest.fixture(scope="module")
def case():
    scene, goals, needles, plan = small_case(3, voltage=800.0)
    tip, axis = layout(needles, plan)
    mesh = scene.mesh(tip, axis, np.asarray(needles.length))
    data = scene.mesh_data(mesh, tip, axis)
    # evaluate away from the meshed layout: needles shifted and tilted, unequal voltages
    rng = np.random.default_rng(3)
    point = Plan(
        shift=jnp.asarray(rng.uniform(-0.3, 0.3, (3, 3)) * MM),
        tilt=jnp.asarray(rng.uniform(-0.01, 0.01, (3, 2))),
        voltage=jnp.array([900.0, 1300.0, 700.0]),
    )
    return needles, data, goals, point


_COMPILED = {}


def functions(case, nonlinear, solver=SOLVER):
    """The objective and its value_and_grad, jitted once per model and solver."""
    if (nonlinear, solver) in _COMPILED:
        return _COMPILED[nonlinear, solver]
    needles, data, goals, _ = case
    scale = jnp.ones(data.anode.shape[0])

    def f(plan, data):
        return planning_objective(plan, needles, data, goals, scale, nonlinear, solver)[0]

    value_and_grad = eqx.filter_jit(jax.value_and_grad(f))
    # one compiled function for values and gradients (compiling costs more than a solve here)
    _COMPILED[nonlinear, solver] = (lambda p, d: value_and_grad(p, d)[0]), value_and_grad
    return _COMPILED[nonlinear, solver]


@pytest.mark.parametrize("nonlinear", [False, True], ids=["superposition", "nonlinear"])
def test_gradient_matches_central_differences(case, nonlinear):
    _, data, _, point = case
    f, value_and_grad = functions(case, nonlinear)
    value, grad = value_and_grad(point, data)
    rng = np.random.default_rng(7)
    for leaf, h in STEPS.items():
        direction = rng.normal(size=getattr(point, leaf).shape)
        step = lambda s: eqx.tree_at(lambda p: getattr(p, leaf), point,  # noqa: E731
                                     getattr(point, leaf) + s * h * direction)
        fd = (float(f(step(1.0), data)) - float(f(step(-1.0), data))) / (2 * h)
        ad = float(np.sum(np.asarray(getattr(grad, leaf)) * direction))
        assert ad != 0.0
        assert abs(fd - ad) <= 1e-3 * abs(ad), f"{leaf}: finite differences {fd}, gradient {ad}"


def test_sub_cell_move_has_a_gradient(case):
    needles, data, _, point = case
    f, value_and_grad = functions(case, False)
    value, grad = value_and_grad(point, data)
    assert np.all(np.abs(np.asarray(grad.shift[:, :2])) > 0)  # every needle, both sideways axes
    move = 0.02 * MM  # 1/50 of the 1 mm cells at the needles
    ahead = eqx.tree_at(lambda p: p.shift, point, point.shift.at[0, 0].add(move))
    behind = eqx.tree_at(lambda p: p.shift, point, point.shift.at[0, 0].add(-move))
    change = float(f(ahead, data)) - float(f(behind, data))
    predicted = float(grad.shift[0, 0]) * 2 * move
    assert change != 0.0
    assert abs(change - predicted) <= 0.01 * abs(predicted)


@pytest.mark.parametrize("nonlinear", [False, True], ids=["superposition", "nonlinear"])
def test_planning_tolerances_keep_objective_and_gradient(case, nonlinear):
    # measured: objective 3.6e-6 / 8.5e-8 relative, gradients 1.4e-5 / 5.3e-6 at most
    assert PLANNING_SOLVER.rtol > SOLVER.rtol  # a looser solve, or the check says nothing
    assert PLANNING_SOLVER.adjoint_rtol > SOLVER.adjoint_rtol
    _, data, _, point = case
    tight_value, tight = functions(case, nonlinear)[1](point, data)
    loose_value, loose = functions(case, nonlinear, PLANNING_SOLVER)[1](point, data)
    assert abs(float(loose_value) - float(tight_value)) <= 1e-5 * abs(float(tight_value))
    for leaf in ("shift", "tilt", "voltage"):
        a, b = np.asarray(getattr(tight, leaf)), np.asarray(getattr(loose, leaf))
        assert np.linalg.norm(b - a) <= 1e-4 * np.linalg.norm(a), leaf
