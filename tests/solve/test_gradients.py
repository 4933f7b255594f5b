"""Implicit gradients through the nonlinear solve against central differences and unrolled Newton."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.meshes import inclusion_box
from epsim.physics import Constant, RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Newton, solve_potential
from epsim.solve.unrolled import solve_potential_unrolled

L = 0.01
SOLVER = Newton(rtol=1e-12)


@pytest.fixture(scope="module")
def setup():
    mesh = inclusion_box()
    problem = prepare(mesh, ["xmin", "xmax"], np.where(mesh.cell_region == 1, 0.2, 0.08))
    region = jnp.asarray(mesh.cell_region)
    return mesh, problem, region


def objective(problem, region, points, params, voltage):
    """Smooth coverage of the tumour at 450 V/cm plus the current (a planning-like functional)."""
    liver = SmoothStep(0.08, params["liver_sigma1"], 350e2, 700e2)
    tumour = SmoothStep(params["tumour_sigma0"], 0.7, 400e2, 800e2)
    model = RegionConductivity((liver, tumour), region)
    pairs = make_pairs(problem, [("xmin", "xmax", 1.0)])
    pairs = pairs.__class__(pairs.anode, pairs.cathode, jnp.atleast_1d(voltage))
    fields = simulate(problem, points, model, pairs, solver=SOLVER)
    coverage = jnp.mean(jax.nn.sigmoid((fields.e_max - 450e2) / 50e2) * (region == 1))
    return coverage + 1e-2 * fields.current[0]


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_gradient_voltage_and_parameters(setup):
    mesh, problem, region = setup
    points = jnp.asarray(mesh.points)
    params = {"liver_sigma1": 0.32, "tumour_sigma0": 0.2}
    voltage = 520.0
    f = jax.jit(lambda p, v: objective(problem, region, points, p, v))
    g_params, g_voltage = jax.grad(f, argnums=(0, 1))(params, voltage)
    fd_v = central_difference(lambda v: f(params, v), voltage, 1e-3)
    assert float(g_voltage) == pytest.approx(float(fd_v), rel=1e-4)
    for key, h in [("liver_sigma1", 1e-6), ("tumour_sigma0", 1e-6)]:
        fd = central_difference(lambda x: f({**params, key: x}, voltage), params[key], h)
        assert abs(float(g_params[key])) > 0
        assert float(g_params[key]) == pytest.approx(float(fd), rel=1e-4)


def test_gradient_node_coordinates(setup):
    mesh, problem, region = setup
    params = {"liver_sigma1": 0.32, "tumour_sigma0": 0.2}
    f = jax.jit(lambda pts: objective(problem, region, pts, params, 520.0))
    points = jnp.asarray(mesh.points)
    grad = np.asarray(jax.grad(f)(points))
    rng = np.random.default_rng(1)
    interior = np.flatnonzero(~np.any(np.isclose(np.abs(mesh.points), L / 2), axis=1))
    for node in rng.choice(interior, 3, replace=False):
        for axis in range(3):
            h = 1e-7
            bump = jnp.zeros_like(points).at[node, axis].set(1.0)
            fd = central_difference(lambda t: f(points + t * bump), 0.0, h)
            assert grad[node, axis] == pytest.approx(float(fd), rel=1e-4, abs=1e-6 * np.abs(grad).max())


def test_implicit_matches_unrolled():
    mesh = inclusion_box(n=3, seed=2)
    region = jnp.asarray(mesh.cell_region)
    problem = prepare(mesh, ["xmin", "xmax"], np.full(mesh.n_cells, 0.1))
    free = ~problem.electrode_masks.any(axis=0)
    anode = problem.electrode_masks[0]

    def functional(phi):
        return jnp.sum(jnp.sin(phi / 100.0) ** 2)

    def implicit(sigma1, voltage, points):
        model = RegionConductivity((SmoothStep(0.08, sigma1, 350e2, 700e2), Constant(0.2)), region)
        g = jnp.where(anode, voltage, 0.0)
        sol = solve_potential(problem.pattern, points, model, g, free, problem.precondition, solver=SOLVER)
        return functional(sol.phi)

    def unrolled(sigma1, voltage, points):
        model = RegionConductivity((SmoothStep(0.08, sigma1, 350e2, 700e2), Constant(0.2)), region)
        g = jnp.where(anode, voltage, 0.0)
        return functional(solve_potential_unrolled(problem.pattern, points, model, g, free))

    args = (0.32, 500.0, jnp.asarray(mesh.points))
    assert float(implicit(*args)) == pytest.approx(float(unrolled(*args)), rel=1e-10)
    g_imp = jax.jit(jax.grad(implicit, argnums=(0, 1, 2)))(*args)
    g_unr = jax.jit(jax.grad(unrolled, argnums=(0, 1, 2)))(*args)
    for a, b in zip(g_imp, g_unr):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-7, atol=1e-9 * np.abs(b).max())


def test_gradient_finite_at_zero_field(setup):
    mesh, problem, region = setup
    params = {"liver_sigma1": 0.32, "tumour_sigma0": 0.2}
    f = lambda pts, v: objective(problem, region, pts, params, v)  # noqa: E731
    g_pts, g_v = jax.grad(f, argnums=(0, 1))(jnp.asarray(mesh.points), 0.0)
    assert np.all(np.isfinite(np.asarray(g_pts)))
    assert np.isfinite(float(g_v))
