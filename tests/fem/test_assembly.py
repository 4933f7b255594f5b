"""Stiffness invariants and the sparse formats."""

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from epsim.fem import (
    apply_dirichlet,
    build_pattern,
    elements,
    hyb_from_scipy,
    hyb_to_scipy,
    matvec,
    stiffness,
)
from epsim.fem.sparse import ELL_WIDTH
from epsim.mesh.structured import structured_box_mesh


def test_stiffness_symmetric_with_constants_in_kernel():
    mesh = structured_box_mesh((0.01, 0.02, 0.01), 4)
    rng = np.random.default_rng(0)
    sigma = jnp.asarray(rng.uniform(0.05, 0.5, mesh.n_cells))
    k = hyb_to_scipy(stiffness(build_pattern(mesh.cells, mesh.n_nodes), mesh.points, sigma))
    scale = abs(k).max()
    assert abs(k - k.T).max() <= 1e-14 * scale
    assert np.abs(k @ np.ones(mesh.n_nodes)).max() <= 1e-13 * scale
    # positive semidefinite: x^T K x >= 0 for random x
    x = rng.standard_normal((mesh.n_nodes, 5))
    assert np.all(np.einsum("ij,ij->j", x, k @ x) > 0)


def test_assembled_matches_element_by_element():
    mesh = structured_box_mesh((0.01, 0.01, 0.01), 3)
    rng = np.random.default_rng(1)
    sigma = jnp.asarray(rng.uniform(0.05, 0.5, mesh.n_cells))
    phi = jnp.asarray(rng.standard_normal(mesh.n_nodes))
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    geometry = elements(jnp.asarray(mesh.points), pattern.corners)
    direct = geometry.force(sigma, geometry.gradient(phi))
    np.testing.assert_allclose(stiffness(pattern, mesh.points, sigma) @ phi, direct, rtol=1e-12, atol=1e-15)


def test_hyb_round_trip_with_overflow():
    rng = np.random.default_rng(2)
    a = sp.random(50, 40, density=0.6, random_state=3, format="csr")  # rows longer than ELL
    assert np.diff(a.indptr).max() > ELL_WIDTH
    h = hyb_from_scipy(a)
    assert h.ovf_rows.shape[0] > 0  # the long rows' tails are in the overflow
    x = rng.standard_normal(40)
    np.testing.assert_allclose(matvec(h, jnp.asarray(x)), a @ x, rtol=1e-13)
    assert abs(hyb_to_scipy(h) - a).max() == 0


def test_dirichlet_elimination_is_symmetric_identity_on_fixed_rows():
    mesh = structured_box_mesh((0.01, 0.01, 0.01), 3)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    free = np.ones(mesh.n_nodes, bool)
    free[mesh.facet_nodes("xmin")] = False
    k = hyb_to_scipy(apply_dirichlet(stiffness(pattern, mesh.points, jnp.ones(mesh.n_cells)), jnp.asarray(free)))
    fixed = np.flatnonzero(~free)
    assert abs(k - k.T).max() == 0
    np.testing.assert_array_equal(k[fixed][:, fixed].toarray(), np.eye(len(fixed)))
    assert k[fixed][:, np.flatnonzero(free)].nnz == 0
