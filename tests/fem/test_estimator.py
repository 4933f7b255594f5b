"""The Zienkiewicz-Zhu indicator (epsim.fem.estimator): zero where P1 is exact, and on the
coaxial case (docs/physics.md, section 6) the energy error's rate and size.

The P1 solutions come from a numpy assembly and scipy's direct solver: the indicator is what is
tested, and a direct solve gives the Galerkin solution without compiling anything but it.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from epsim.fem import elements
from epsim.fem.estimator import current_error, recovery_groups, zz_indicator
from epsim.mesh import make_mesh
from epsim.mesh.structured import structured_box_mesh
from tests.helpers.analytic import coax_linear
from tests.helpers.meshes import annulus_sector

A, B, H, SIGMA, VOLTAGE = 0.5e-3, 10e-3, 1e-3, 0.08, 300.0


def p1_stiffness(points, cells, sigma):
    """P1 stiffness matrix assembled in numpy (independent of epsim's assembly): per cell the
    basis gradients from the inverse of [1 x y z] at the corners, vol sigma G G^T."""
    corners = np.asarray(points)[cells]  # (n, 4, 3)
    m = np.concatenate([np.ones(corners.shape[:2] + (1,)), corners], axis=2)
    grads = np.linalg.inv(m)[:, 1:, :].transpose(0, 2, 1)  # (n, 4, 3)
    volumes = np.abs(np.linalg.det(m)) / 6.0
    local = (volumes * sigma)[:, None, None] * grads @ grads.transpose(0, 2, 1)
    rows = np.repeat(cells, 4, axis=1).ravel()
    cols = np.tile(cells, (1, 4)).ravel()
    n = len(points)
    return sp.coo_matrix((local.ravel(), (rows, cols)), shape=(n, n)).tocsr()


def p1_solve(mesh, sigma, anode, cathode, voltage):
    """Galerkin P1 potential with `anode` at `voltage`, `cathode` at 0, and the anode current."""
    k = p1_stiffness(mesh.points, np.asarray(mesh.cells), sigma)
    phi = np.zeros(mesh.n_nodes)
    fixed = np.zeros(mesh.n_nodes, dtype=bool)
    on_anode = mesh.facet_nodes(anode)
    phi[on_anode] = voltage
    fixed[on_anode] = fixed[mesh.facet_nodes(cathode)] = True
    free = ~fixed
    phi[free] = spsolve(k[free][:, free].tocsc(), -k[free][:, fixed] @ phi[fixed])
    return phi, float((k @ phi)[on_anode].sum())


@partial(jax.jit, static_argnums=(2,))
def _indicator(points, corners, n_groups, groups, phi, sigma):
    return zz_indicator(elements(points, corners), groups, n_groups, phi, sigma)


def indicator(mesh, phi, sigma, material):
    groups, n_groups = recovery_groups(mesh.cells, material)
    return _indicator(jnp.asarray(mesh.points), jnp.asarray(np.asarray(mesh.cells).T), n_groups,
                      jnp.asarray(groups), jnp.asarray(phi), jnp.asarray(sigma))


def test_recovery_groups_split_nodes_by_material():
    cells = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    groups, n = recovery_groups(cells, np.array([0, 1]))
    assert n == 8  # nodes 1, 2, 3 are in both materials
    assert groups.shape == (4, 2) and len(np.unique(groups)) == 8
    same, n_same = recovery_groups(cells, np.array([0, 0]))
    assert n_same == 5 and np.array_equal(same[1:, 0], same[:3, 1])


def test_zero_where_p1_is_exact():
    """Two slabs side by side, the field along their interface: the potential is linear and
    P1 exact, the current density jumps with sigma. Recovered per material, J* = J_h and the
    indicator vanishes; averaged across the interface it would not."""
    box = structured_box_mesh((0.02, 0.01, 0.01), (4, 2, 2))
    x = np.asarray(box.points)[np.asarray(box.cells)].mean(axis=1)[:, 0]
    material = (x > 0).astype(int)
    mesh = make_mesh(box.points, box.cells, material, ("a", "b"), box.facets)
    sigma = np.where(material == 1, 0.4, 0.1)
    phi, current = p1_solve(mesh, sigma, "ymin", "ymax", 100.0)
    energy = 100.0 * current
    assert float(jnp.sum(indicator(mesh, phi, sigma, material).eta_sq)) < 1e-20 * energy
    across = indicator(mesh, phi, sigma, np.zeros_like(material))
    assert float(jnp.sum(across.eta_sq)) > 1e-2 * energy


@pytest.fixture(scope="module")
def coax_levels():
    """Uniform refinement of the coaxial sector: (cells, eta^2 W, true energy error W, estimated
    and true relative current error) per level."""
    exact = coax_linear(SIGMA, A, B, VOLTAGE)[0] * H / 4  # the sector is a quarter
    levels = []
    for n in (8, 16, 32):
        mesh = annulus_sector(A, B, H, n_r=n, n_theta=3 * n // 4)
        sigma = np.full(mesh.n_cells, SIGMA)
        phi, current = p1_solve(mesh, sigma, "inner", "outer", VOLTAGE)
        eta_sq = float(jnp.sum(indicator(mesh, phi, sigma, np.zeros(mesh.n_cells, int)).eta_sq))
        estimate = float(current_error(eta_sq, VOLTAGE, current))
        levels.append((mesh.n_cells, eta_sq, VOLTAGE * (current - exact), estimate,
                       current / exact - 1))
    return levels


def test_indicator_rate_under_uniform_refinement(coax_levels):
    """Halving h (4x the cells of a one-layer sector) halves eta: first order in h, as the
    energy error of P1 on a smooth solution (measured ratios 1.994, 1.997)."""
    etas = np.sqrt([level[1] for level in coax_levels])
    rates = np.log2(etas[:-1] / etas[1:])
    assert np.all(np.abs(rates - 1.0) < 0.05), rates


def test_effectivity_and_current_error(coax_levels):
    """The estimate is the energy error to a few per cent (measured 1.03-1.04), and eta^2 / (VI)
    predicts the computed current's excess (for linear P1, exactly the squared energy error
    over V I)."""
    for cells, eta_sq, true_sq, estimate, true_relative in coax_levels:
        assert true_sq > 0  # P1 overestimates the current
        assert 0.95 < np.sqrt(eta_sq / true_sq) < 1.1, cells
        assert estimate == pytest.approx(true_relative, rel=0.12), cells
