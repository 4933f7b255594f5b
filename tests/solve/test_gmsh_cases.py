"""Analytic cases on gmsh meshes: a sphere in a uniform field and a long needle pair."""

import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.analytic import sphere_in_uniform_field, two_cylinders_midpoint_field
from epsim.fem import apply_dirichlet, build_pattern, hyb_to_scipy, stiffness
from epsim.mesh import Box, MeshSizes, Needle, SphereInclusion, build_mesh, cell_geometry
from epsim.physics import Constant, RegionConductivity
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Newton, build_amg, solve_potential


def test_sphere_in_uniform_field():
    """Exact outside potential as Dirichlet data on a box; the field inside must be uniform.
    (The exterior near the sphere must be resolved too: with 2.5 mm cells outside it the mean
    inside field was 6 % high.)"""
    radius, e0, s_in, s_out = 4e-3, 1e4, 0.5, 0.1
    mesh = build_mesh(
        Box(center=(0, 0, 0), size=(0.012, 0.012, 0.012), material="muscle"),
        [SphereInclusion("sphere", (0, 0, 0), radius, "tumour")],
        sizes=MeshSizes(size=0.6e-3, inclusion_size=0.45e-3),
    )
    points = np.asarray(mesh.points)
    boundary = np.any(np.isclose(np.abs(points), 0.006, atol=1e-9), axis=1)
    free = jnp.asarray(~boundary)
    e_in, phi_out = sphere_in_uniform_field(s_in, s_out, radius, e0)
    sigma = np.where(mesh.cell_region == mesh.region_id("tumour"), s_in, s_out)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    amg = build_amg(hyb_to_scipy(apply_dirichlet(stiffness(pattern, points, jnp.asarray(sigma)), free)))
    g = jnp.asarray(np.where(boundary, phi_out(points), 0.0))
    model = RegionConductivity((Constant(s_out), Constant(s_in)), jnp.asarray(mesh.cell_region))
    sol = solve_potential(pattern, points, model, g, free, amg, solver=Newton(rtol=1e-11))
    assert bool(sol.converged)
    grads, volumes = cell_geometry(points, mesh.cells)
    e = -np.einsum("cij,ci->cj", np.asarray(grads), np.asarray(sol.phi)[mesh.cells])
    inside = mesh.cell_region == mesh.region_id("tumour")
    vol = np.asarray(volumes)[inside]
    mean_field = (vol[:, None] * e[inside]).sum(axis=0) / vol.sum()
    assert mean_field[0] == pytest.approx(e_in, rel=0.02)
    assert abs(mean_field[1]) < 0.02 * e_in and abs(mean_field[2]) < 0.02 * e_in
    deviation = np.linalg.norm(e[inside] - [e_in, 0, 0], axis=1) / e_in
    assert np.average(deviation, weights=vol) < 0.05


@pytest.fixture(scope="module")
def needle_pair():
    """Two needles (radius 0.5 mm, 10 mm apart) through a slab: the 2-D two-cylinder problem."""
    half_height = 2e-3
    needles = [
        Needle(name, (x, 0, -half_height), (x, 0, 0.02), 0.5e-3, 0.02)
        for name, x in [("a", -5e-3), ("b", 5e-3)]
    ]
    return build_mesh(
        Box(center=(0, 0, 0), size=(0.08, 0.08, 2 * half_height), material="liver"),
        holes=needles,
        sizes=MeshSizes(size=1.5e-3, electrode_size=0.2e-3, grading_distance=4e-3),
    )


def test_long_needle_pair_midpoint_field(needle_pair):
    mesh = needle_pair
    problem = prepare(mesh, ["a", "b"], np.full(mesh.n_cells, 0.1))
    fields = simulate(
        problem, jnp.asarray(mesh.points), Constant(0.1), make_pairs(problem, [("a", "b", 1000.0)]),
        solver=Newton(rtol=1e-10),
    )
    centroids = np.asarray(mesh.points)[mesh.cells].mean(axis=1)
    near_mid = np.linalg.norm(centroids[:, :2], axis=1) < 0.4e-3
    midpoint = float(np.mean(np.asarray(fields.e_mag[0])[near_mid]))
    assert midpoint == pytest.approx(two_cylinders_midpoint_field(0.5e-3, 10e-3, 1000.0), rel=0.02)


def test_matches_scikit_fem_on_the_same_mesh():
    """epsim's P1 solution and currents against scikit-fem's independent assembly and a direct
    sparse solve on the same gmsh mesh, with two materials and a floating third needle."""
    skfem = pytest.importorskip("skfem")
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve
    from skfem.helpers import dot, grad

    needles = [
        Needle(name, (x, y, -6e-3), (x, y, 0.03), 0.6e-3, 12e-3)
        for name, x, y in [("a", -5e-3, 0), ("b", 5e-3, 0), ("c", 0, 6e-3)]
    ]
    mesh = build_mesh(
        Box(center=(0, 0, 0), size=(0.03, 0.03, 0.03), material="liver"),
        [SphereInclusion("tumour", (0, 0, 0), 3e-3, "tumour")],
        needles,
        sizes=MeshSizes(size=4e-3, inclusion_size=1e-3, electrode_size=0.5e-3),
    )
    sigma = np.where(mesh.cell_region == mesh.region_id("tumour"), 0.2, 0.08)
    problem = prepare(mesh, ["a", "b", "c"], sigma)
    model = RegionConductivity((Constant(0.08), Constant(0.2)), jnp.asarray(mesh.cell_region))
    fields = simulate(
        problem, jnp.asarray(mesh.points), model, make_pairs(problem, [("a", "b", 500.0)]),
        solver=Newton(rtol=1e-14),
    )

    skmesh = skfem.MeshTet(
        np.ascontiguousarray(np.asarray(mesh.points).T), np.ascontiguousarray(mesh.cells.T)
    )
    basis = skfem.Basis(skmesh, skfem.ElementTetP1())

    @skfem.BilinearForm
    def conduction(u, v, w):
        return w["sigma"] * dot(grad(u), grad(v))

    k = skfem.asm(conduction, basis, sigma=np.repeat(sigma[:, None], basis.X.shape[-1], axis=1))
    anode, cathode, floating = (mesh.facet_nodes(n) for n in "abc")
    fixed = np.concatenate([anode, cathode])
    free = np.setdiff1d(np.arange(mesh.n_nodes), np.concatenate([fixed, floating]))
    # unknowns: the free nodes and one potential for the floating needle (zero net current)
    t = sp.lil_matrix((mesh.n_nodes, len(free) + 1))
    t[free, np.arange(len(free))] = 1.0
    t[floating, len(free)] = 1.0
    t = t.tocsr()
    lifting = np.zeros(mesh.n_nodes)
    lifting[anode] = 500.0
    u = spsolve((t.T @ k @ t).tocsc(), -(t.T @ (k @ lifting)))
    phi = lifting + t @ u
    reaction = k @ phi
    assert abs(reaction[floating].sum()) < 1e-9 * reaction[anode].sum()

    np.testing.assert_allclose(fields.potential[0], phi, rtol=0, atol=1e-8 * 500.0)
    assert float(fields.current[0]) == pytest.approx(reaction[anode].sum(), rel=1e-8)
    assert float(fields.cathode_current[0]) == pytest.approx(reaction[cathode].sum(), rel=1e-8)
