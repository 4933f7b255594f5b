"""Preconditioners applied in JAX: smoothed-aggregation AMG V-cycle and Jacobi.

The AMG hierarchy is built once per mesh on the host with pyamg (smoothed aggregation) for the
sigma0 operator, stored level by level in HYB format and applied as a symmetric V-cycle with
Chebyshev smoothing on D^-1 A and a dense inverse on the coarsest level (one small matrix
product; LAPACK's triangular solves cost more at this size). A prototype kept 12-16 PCG
iterations from 100k to 6M cells with this set-up (docs/design.md, section 2).

The hierarchy is stored and applied in float32 by default, inside the float64 CG: on this 2-core
CPU that made the V-cycle about 25 % faster (fewer bytes per gather) with the same PCG iteration
counts from 100k to 2M cells (benchmarks/RESULTS.md); pure float32 CG would stall near 1e-6.
"""

from __future__ import annotations

import contextlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pyamg
import scipy.linalg
import scipy.sparse as sp

from epsim.fem.sparse import HybMatrix, hyb_from_scipy, matvec

# Chebyshev smoothing targets the eigenvalues of D^-1 A in [LOWER_RATIO * lmax, UPPER_SAFETY * lmax].
LOWER_RATIO = 0.1
UPPER_SAFETY = 1.1


class JacobiPreconditioner(eqx.Module):
    """M^-1 r = r / diag(A)."""

    inv_diag: jax.Array

    def __call__(self, r: jax.Array) -> jax.Array:
        return self.inv_diag * r


class AmgLevel(eqx.Module):
    a: HybMatrix
    prolong: HybMatrix
    restrict: HybMatrix
    inv_diag: jax.Array
    lmax: jax.Array


class AmgPreconditioner(eqx.Module):
    """Symmetric V-cycle: Chebyshev(degree) pre- and post-smoothing, Galerkin coarse levels.

    The hierarchy may be stored in a lower precision than the vectors it is applied to (float32
    by default): the residual is rounded on the way in and the correction widened on the way out.
    It stays a fixed SPD operator, so the outer CG (in float64) converges as before.
    """

    levels: tuple[AmgLevel, ...]
    coarse_inverse: jax.Array
    degree: int = eqx.field(static=True, default=2)

    def __call__(self, r: jax.Array) -> jax.Array:
        dtype = self.coarse_inverse.dtype
        return _vcycle(self, 0, r.astype(dtype)).astype(r.dtype)

    @property
    def n_levels(self) -> int:
        return len(self.levels) + 1


def _chebyshev(level: AmgLevel, b, x, degree: int):
    """`degree` steps of Chebyshev iteration for A x = b preconditioned by D^-1."""
    upper = UPPER_SAFETY * level.lmax
    lower = LOWER_RATIO * level.lmax
    theta, delta = 0.5 * (upper + lower), 0.5 * (upper - lower)
    sigma = theta / delta
    rho = 1.0 / sigma
    r = b if x is None else b - matvec(level.a, x)
    x = jnp.zeros_like(b) if x is None else x
    d = level.inv_diag * r / theta
    for k in range(degree):
        x = x + d
        if k == degree - 1:
            break
        r = r - matvec(level.a, d)
        rho_new = 1.0 / (2.0 * sigma - rho)
        d = rho_new * rho * d + (2.0 * rho_new / delta) * (level.inv_diag * r)
        rho = rho_new
    return x


def _vcycle(amg: AmgPreconditioner, i: int, b: jax.Array) -> jax.Array:
    if i == len(amg.levels):
        return amg.coarse_inverse @ b
    level = amg.levels[i]
    x = _chebyshev(level, b, None, amg.degree)
    residual = b - matvec(level.a, x)
    x = x + matvec(level.prolong, _vcycle(amg, i + 1, matvec(level.restrict, residual)))
    return _chebyshev(level, b, x, amg.degree)


def _lmax_dinv_a(a: sp.csr_matrix, iterations: int = 20, seed: int = 0) -> float:
    """Largest eigenvalue of D^-1 A by power iteration on D^-1/2 A D^-1/2 (host side)."""
    d = 1.0 / np.sqrt(a.diagonal())
    s = sp.diags(d) @ a @ sp.diags(d)
    v = np.random.default_rng(seed).standard_normal(a.shape[0])
    lam = 0.0
    for _ in range(iterations):
        w = s @ v
        lam = float(np.linalg.norm(w) / np.linalg.norm(v))
        v = w / np.linalg.norm(w)
    return lam


# pyamg estimates spectral radii (for its prolongation smoother) from a start vector drawn
# from NumPy's global random state, so the hierarchy - even its level sizes - changed with
# whatever had drawn before, and a plan with it changed from run to run.
AMG_SEED = 0


@contextlib.contextmanager
def _fixed_global_rng(seed: int):
    """Run a block with NumPy's global random state seeded, then give the caller's state back."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def build_amg(
    a: sp.spmatrix, *, max_coarse: int = 1500, degree: int = 2, strength_theta: float = 0.02,
    dtype=np.float32, **pyamg_options
) -> AmgPreconditioner:
    """Smoothed-aggregation hierarchy of the SPD matrix `a` (host side), for use in JAX.

    Args:
        a: (n, n) SPD scipy sparse matrix (Dirichlet rows and columns eliminated).
        max_coarse: size below which the coarsest level is solved densely. A dense inverse of
            up to 1500 unknowns (9 MB in float32) beat a further sparse level: on a 100k-cell
            mesh (coarse level 1045) PCG took 39 instead of 44 iterations, each 16 % faster.
        degree: Chebyshev smoothing degree.
        strength_theta: drop tolerance of pyamg's symmetric strength of connection (pyamg's
            default 0 aggregates along every matrix entry). 0.02 leaves out the weak couplings
            of flat cells: on the benchmark meshes PCG took 11 / 12 / 12 iterations at 100k /
            500k / 2M cells instead of 12 / 15 / 16, and the 2M solve 23 % shorter
            (benchmarks/RESULTS.md).
        dtype: storage and arithmetic precision of the V-cycle (float32 or float64).
        pyamg_options: passed on to `pyamg.smoothed_aggregation_solver`.
    """
    with _fixed_global_rng(AMG_SEED):
        ml = pyamg.smoothed_aggregation_solver(
            sp.csr_matrix(a), symmetry="symmetric", max_coarse=max_coarse, keep=False,
            strength=("symmetric", {"theta": strength_theta}), **pyamg_options,
        )
    levels = []
    for fine, _ in zip(ml.levels[:-1], ml.levels[1:]):
        a_l = sp.csr_matrix(fine.A)
        levels.append(
            AmgLevel(
                a=hyb_from_scipy(a_l, dtype=dtype),
                prolong=hyb_from_scipy(fine.P, dtype=dtype),
                restrict=hyb_from_scipy(sp.csr_matrix(fine.P.T), dtype=dtype),
                inv_diag=(1.0 / a_l.diagonal()).astype(dtype),
                lmax=np.asarray(_lmax_dinv_a(a_l), dtype=dtype),
            )
        )
    coarse = ml.levels[-1].A.toarray()
    return AmgPreconditioner(
        levels=tuple(levels),
        coarse_inverse=_spd_inverse(coarse).astype(dtype),
        degree=degree,
    )


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a small SPD matrix via Cholesky, symmetrised (so the V-cycle stays symmetric)."""
    factor = scipy.linalg.cho_factor(a, lower=True)
    inv = scipy.linalg.cho_solve(factor, np.eye(a.shape[0]))
    return 0.5 * (inv + inv.T)


def build_jacobi(a: sp.spmatrix) -> JacobiPreconditioner:
    """Zero-setup fallback preconditioner."""
    return JacobiPreconditioner(inv_diag=1.0 / sp.csr_matrix(a).diagonal())
