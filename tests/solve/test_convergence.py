"""Convergence under refinement on a smooth harmonic solution: L2 rate 2, energy-norm rate 1."""

import jax.numpy as jnp
import numpy as np

from epsim.fem import apply_dirichlet, build_pattern, elements, hyb_to_scipy, stiffness
from epsim.mesh.structured import structured_box_mesh
from epsim.physics import Constant
from epsim.solve import Newton, build_amg, solve_potential

L = 0.01  # m
K = np.pi / L  # phi = V exp(K x) cos(K y) / exp(K L / 2) is harmonic
V = 100.0

# Degree-2 quadrature on a tetrahedron: barycentric points and equal weights.
A_, B_ = 0.5854101966249685, 0.1381966011250105
QUAD = np.array([[A_, B_, B_, B_], [B_, A_, B_, B_], [B_, B_, A_, B_], [B_, B_, B_, A_]])


def exact(x):
    return V * np.exp(K * x[..., 0] - K * L / 2) * np.cos(K * x[..., 1])


def exact_grad(x):
    e = V * np.exp(K * x[..., 0] - K * L / 2)
    return np.stack([K * e * np.cos(K * x[..., 1]), -K * e * np.sin(K * x[..., 1]), 0 * e], -1)


def errors(n):
    mesh = structured_box_mesh((L, L, L), n)
    points = np.asarray(mesh.points)
    boundary = np.any(np.isclose(np.abs(points), L / 2), axis=1)
    free = jnp.asarray(~boundary)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    sigma = jnp.full(mesh.n_cells, 0.2)
    amg = build_amg(hyb_to_scipy(apply_dirichlet(stiffness(pattern, points, sigma), free)))
    g = jnp.asarray(np.where(boundary, exact(points), 0.0))
    sol = solve_potential(pattern, points, Constant(0.2), g, free, amg, solver=Newton(rtol=1e-12))
    assert bool(sol.converged)
    geometry = elements(points, pattern.corners)
    phi_cells = np.asarray(sol.phi)[mesh.cells]  # (n_cells, 4)
    xq = np.einsum("qi,cij->cqj", QUAD, points[mesh.cells])  # (n_cells, 4, 3)
    e_val = np.einsum("qi,ci->cq", QUAD, phi_cells) - exact(xq)
    e_grad = np.asarray(geometry.gradient(sol.phi)).T[:, None, :] - exact_grad(xq)
    vol = np.asarray(geometry.volumes)[:, None] / 4
    l2 = np.sqrt(np.sum(vol * e_val**2))
    energy = np.sqrt(np.sum(vol * np.sum(e_grad**2, axis=-1)))
    return L / n, l2, energy


def test_convergence_rates():
    h, l2, energy = np.array([errors(n) for n in (4, 8, 16)]).T
    rate_l2 = np.polyfit(np.log(h), np.log(l2), 1)[0]
    rate_energy = np.polyfit(np.log(h), np.log(energy), 1)[0]
    assert abs(rate_l2 - 2.0) < 0.2, (rate_l2, l2)
    assert abs(rate_energy - 1.0) < 0.2, (rate_energy, energy)
