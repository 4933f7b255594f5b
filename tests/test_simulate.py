"""Invariants of the forward map: current balance, rigid motions, jit and vmap, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from epsim.errors import ElectrodeError, MaterialError
from epsim.fem import elements
from epsim.mesh import make_mesh, renumbered
from epsim.physics import Constant, RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Jacobi, Newton
from tests.helpers.meshes import inclusion_box

SOLVER = Newton(rtol=1e-11)


def with_patch(mesh):
    """Add an electrode 'patch': the middle strip of the y = max face, clear of the other faces."""
    tri = mesh.facets["ymax"]
    x = np.asarray(mesh.points)[tri][:, :, 0]
    facets = dict(mesh.facets, patch=tri[np.all(np.abs(x) < 0.0031, axis=1)])
    return make_mesh(mesh.points, mesh.cells, mesh.cell_region, mesh.region_names, facets)


@pytest.fixture(scope="module")
def case():
    mesh = with_patch(inclusion_box())
    problem = prepare(mesh, ["xmin", "xmax", "patch"], np.full(mesh.n_cells, 0.1))
    region = jnp.asarray(mesh.cell_region)
    model = RegionConductivity(
        (SmoothStep(0.08, 0.32, 350e2, 700e2), SmoothStep(0.2, 0.7, 400e2, 800e2)), region
    )
    pairs = make_pairs(problem, [("xmin", "xmax", 600.0), ("patch", "xmax", 400.0)])
    return mesh, problem, model, pairs


def test_current_balance(case):
    mesh, problem, model, pairs = case
    fields = simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=SOLVER)
    assert np.all(np.asarray(fields.converged))
    np.testing.assert_allclose(fields.current, -fields.cathode_current, rtol=1e-8)
    assert np.all(np.asarray(fields.current) > 0)
    np.testing.assert_allclose(fields.e_max, np.max(np.asarray(fields.e_mag), axis=0))


def test_currents_invariant_under_rigid_motion(case):
    mesh, problem, model, pairs = case
    base = simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=SOLVER)
    rotation = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()
    moved = np.asarray(mesh.points) @ rotation.T + np.array([0.05, -0.02, 0.3])
    fields = simulate(problem, jnp.asarray(moved), model, pairs, solver=SOLVER)
    np.testing.assert_allclose(fields.current, base.current, rtol=1e-9)
    np.testing.assert_allclose(fields.e_mag, base.e_mag, rtol=1e-7, atol=1e-6 * float(base.e_mag.max()))


def test_fields_invariant_under_renumbering(case):
    mesh, problem, model, pairs = case
    base = simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=SOLVER)
    local = renumbered(mesh)
    problem_l = prepare(local, ["xmin", "xmax", "patch"], np.full(local.n_cells, 0.1))
    model_l = eqx.tree_at(lambda m: m.cell_region, model, jnp.asarray(local.cell_region))
    pairs_l = make_pairs(problem_l, [("xmin", "xmax", 600.0), ("patch", "xmax", 400.0)])
    fields = simulate(problem_l, jnp.asarray(local.points), model_l, pairs_l, solver=SOLVER)
    np.testing.assert_allclose(fields.current, base.current, rtol=1e-9)
    # the same cells, matched by centroid
    def by_centroid(m, e):
        c = np.round(np.asarray(m.points)[m.cells].mean(axis=1), 12)
        return np.asarray(e)[:, np.lexsort(c.T)]
    np.testing.assert_allclose(by_centroid(local, fields.e_mag), by_centroid(mesh, base.e_mag),
                               rtol=1e-7, atol=1e-6 * float(base.e_mag.max()))


def test_jit_and_vmap_match_plain_calls(case):
    mesh, problem, model, pairs = case
    points = jnp.asarray(mesh.points)

    def currents(voltages, sigma1):
        m = eqx.tree_at(lambda m: m.models[0].sigma1, model, sigma1)
        p = eqx.tree_at(lambda p: p.voltage, pairs, voltages)
        return simulate(problem, points, m, p, solver=SOLVER).current

    volts = jnp.array([[600.0, 400.0], [300.0, 800.0], [900.0, 100.0]])
    sigma1 = jnp.array([0.32, 0.25, 0.4])
    plain = np.stack([currents(v, s) for v, s in zip(volts, sigma1)])
    jitted = np.stack([jax.jit(currents)(v, s) for v, s in zip(volts, sigma1)])
    batched = jax.vmap(currents)(volts, sigma1)
    np.testing.assert_allclose(jitted, plain, rtol=1e-12)
    np.testing.assert_allclose(batched, plain, rtol=1e-10)


def test_jacobi_fallback_gives_same_answer(case):
    mesh, _, model, _ = case
    problem = prepare(mesh, ["xmin", "xmax", "patch"], np.full(mesh.n_cells, 0.1), preconditioner=Jacobi())
    pairs = make_pairs(problem, [("xmin", "xmax", 600.0)])
    amg_problem = case[1]
    a = simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=SOLVER)
    b = simulate(amg_problem, jnp.asarray(mesh.points), model, make_pairs(amg_problem, [("xmin", "xmax", 600.0)]), solver=SOLVER)
    np.testing.assert_allclose(a.current, b.current, rtol=1e-9)


def test_non_converged_solve_reports_failure(case):
    mesh, problem, model, pairs = case
    fields = simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=Newton(max_iterations=1))
    assert not np.all(np.asarray(fields.converged))
    assert np.all(np.asarray(fields.residual) > 1e-9)


def test_electrode_without_nodes():
    mesh = inclusion_box(n=2)
    facets = dict(mesh.facets, empty=np.zeros((0, 3), int))
    mesh = make_mesh(mesh.points, mesh.cells, mesh.cell_region, mesh.region_names, facets)
    with pytest.raises(ElectrodeError, match="'empty' has no nodes"):
        prepare(mesh, ["xmin", "empty"], np.full(mesh.n_cells, 0.1))


def test_unknown_electrode_and_same_anode_cathode(case):
    _, problem, _, _ = case
    with pytest.raises(ElectrodeError, match="unknown electrode 'nope'"):
        make_pairs(problem, [("xmin", "nope", 100.0)])
    with pytest.raises(ElectrodeError, match="same electrode"):
        make_pairs(problem, [("xmin", "xmin", 100.0)])


@pytest.mark.parametrize(
    "build",
    [lambda: Constant(0.0), lambda: Constant(-0.1), lambda: SmoothStep(0.2, 0.1, 400e2, 800e2),
     lambda: SmoothStep(0.1, 0.2, 800e2, 400e2), lambda: Constant(float("nan"))],
)
def test_non_physical_conductivity(build):
    with pytest.raises(MaterialError):
        build()


def test_floating_conductor_takes_no_net_current(case):
    mesh, problem, model, _ = case
    pairs = make_pairs(problem, [("xmin", "xmax", 600.0)])
    points = jnp.asarray(mesh.points)
    fields = simulate(problem, points, model, pairs, solver=SOLVER)
    patch = np.asarray(problem.electrode_masks[2])
    phi = np.asarray(fields.potential[0])
    assert np.ptp(phi[patch]) == 0.0  # one potential on the whole conductor
    assert 0.3 * 600 < phi[patch][0] < 0.7 * 600
    geometry = elements(points, problem.pattern.corners)
    force = np.asarray(geometry.force(fields.sigma[0], geometry.gradient(fields.potential[0])))
    assert abs(force[patch].sum()) < 1e-9 * float(fields.current[0])
    np.testing.assert_allclose(fields.current, -fields.cathode_current, rtol=1e-8)
    absent = prepare(mesh, ["xmin", "xmax", "patch"], np.full(mesh.n_cells, 0.1), floating_idle=False)
    left_out = simulate(absent, points, model, make_pairs(absent, [("xmin", "xmax", 600.0)]), solver=SOLVER)
    assert float(fields.current[0]) > float(left_out.current[0])  # a metal shortcut adds current


def test_gradient_with_floating_conductor(case):
    mesh, problem, model, _ = case
    points = jnp.asarray(mesh.points)

    @jax.jit
    def current(voltage, sigma1):
        m = eqx.tree_at(lambda m: m.models[0].sigma1, model, sigma1)
        pairs = make_pairs(problem, [("xmin", "xmax", 1.0)])
        pairs = eqx.tree_at(lambda p: p.voltage, pairs, jnp.atleast_1d(voltage))
        fields = simulate(problem, points, m, pairs, solver=SOLVER)
        return fields.current[0] + jnp.mean(fields.e_max) * 1e-5

    g_v, g_s = jax.grad(current, argnums=(0, 1))(650.0, 0.32)
    fd_v = (current(650.0 + 1e-3, 0.32) - current(650.0 - 1e-3, 0.32)) / 2e-3
    fd_s = (current(650.0, 0.32 + 1e-6) - current(650.0, 0.32 - 1e-6)) / 2e-6
    assert float(g_v) == pytest.approx(float(fd_v), rel=1e-5)
    assert float(g_s) == pytest.approx(float(fd_s), rel=1e-4)
