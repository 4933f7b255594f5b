"""The Newton loop's fused kernels and float32 tangent against the separate float64 ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.meshes import inclusion_box
from epsim.fem import apply_dirichlet, build_pattern, hyb_to_scipy, stiffness
from epsim.physics import RegionConductivity, SmoothStep
from epsim.solve import Newton, build_jacobi, nonlinear, solve_potential

VOLTAGE = 700.0  # V over 1 cm: fields across both conductivity ramps


@pytest.fixture(scope="module")
def case():
    mesh = inclusion_box()
    points = jnp.asarray(mesh.points)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    anode = np.zeros(mesh.n_nodes, bool)
    anode[mesh.facet_nodes("xmin")] = True
    fixed = anode.copy()
    fixed[mesh.facet_nodes("xmax")] = True
    free = jnp.asarray(~fixed)
    region = jnp.asarray(mesh.cell_region)
    sigma0 = jnp.where(region == 1, 0.2, 0.08)
    jacobi = build_jacobi(hyb_to_scipy(apply_dirichlet(stiffness(pattern, points, sigma0), free)))
    g = jnp.asarray(np.where(anode, VOLTAGE, 0.0))
    return pattern, points, region, free, jacobi, g


def model_of(region):
    steps = (SmoothStep(0.08, 0.32, 350e2, 700e2), SmoothStep(0.2, 0.7, 400e2, 800e2))
    return RegionConductivity(steps, region)


def dense(a):
    return hyb_to_scipy(a).toarray()


def test_fused_residual_and_tangent_equal_the_separate_ones(case):
    pattern, points, region, free, _, g = case

    @jax.jit
    def kernels(phi):
        ops = nonlinear.operators(pattern, points, model_of(region), free)
        r, lin = ops.residual_and_linearisation(phi)
        geometry = nonlinear.cast_floats(ops.elements, jnp.float32)
        return (r, ops.residual(phi), ops.tangent_matrix(phi, lin), ops.tangent_matrix(phi),
                ops.tangent_matrix(phi, lin, geometry), ops.secant(phi))

    phi = g + jnp.where(free, 0.5 * VOLTAGE, 0.0) * (1 + 0.3 * jnp.sin(points[:, 1] * 900.0))
    r, r_ref, fused, separate, single, secant = kernels(phi)
    np.testing.assert_allclose(r, r_ref, rtol=0, atol=1e-12 * float(jnp.abs(r_ref).max()))
    fused, separate, single = dense(fused), dense(separate), dense(single)
    scale = np.abs(separate - np.diag(np.diag(separate))).max()  # off-diagonal entries
    np.testing.assert_allclose(fused, separate, rtol=0, atol=1e-12 * scale)
    # the fields reach the ramps, so the tangent differs from the secant K(sigma)
    assert np.abs(separate - dense(secant)).max() > 1e-3 * scale
    # float32 tangent: the same matrix to float32 rounding, still exactly symmetric
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, separate, rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(single, single.T)


def test_float32_tangent_leaves_the_answer_unchanged(case):
    """Both precisions in one program (the dtype is read when the solve is traced). The
    adjoint's tangent is float64 in both, so gradients differ only through phi
    (tests/solve/test_gradients.py checks them against differences and unrolled Newton)."""
    pattern, points, region, free, jacobi, g = case

    def solve(dtype):
        old = nonlinear.TANGENT_DTYPE
        nonlinear.TANGENT_DTYPE = dtype
        try:
            return solve_potential(pattern, points, model_of(region), g, free, jacobi,
                                   solver=Newton(rtol=1e-12))
        finally:
            nonlinear.TANGENT_DTYPE = old

    single, double = jax.jit(lambda: (solve(jnp.float32), solve(jnp.float64)))()
    assert bool(single.converged) and bool(double.converged)
    assert int(double.iterations) >= 3  # a genuinely nonlinear solve
    assert abs(int(single.iterations) - int(double.iterations)) <= 1
    scale = float(jnp.abs(double.phi).max())
    np.testing.assert_allclose(single.phi, double.phi, rtol=0, atol=1e-10 * scale)
