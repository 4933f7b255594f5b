"""Newton unrolled with dense linear solves: differentiated by plain autodiff through every step.

Only for checking the implicit adjoint of `solve_potential` on tiny meshes (docs/design.md,
section 1, rule 8); its cost is cubic in the number of nodes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from epsim.fem.sparse import HybMatrix
from epsim.solve.nonlinear import operators


def dense(a: HybMatrix) -> jnp.ndarray:
    """Dense (n, n) copy of a HYB matrix, built with differentiable scatter-adds."""
    width, n = a.ell_cols.shape
    out = jnp.zeros((n, a.n_cols), a.ell_vals.dtype)
    rows = jnp.tile(jnp.arange(n), width)
    out = out.at[rows, a.ell_cols.ravel()].add(a.ell_vals.ravel())
    return out.at[a.ovf_rows, a.ovf_cols].add(a.ovf_vals)


def solve_potential_unrolled(pattern, points, model, dirichlet_values, free, *, iterations=12):
    """phi after `iterations` full Newton steps (no line search) from the sigma0 solution,
    (n_nodes,) V."""
    ops = operators(pattern, points, model, free)
    lifting = jnp.where(free, 0.0, dirichlet_values)
    k0, rhs = ops.sigma0_system(lifting)
    phi = lifting + jnp.linalg.solve(dense(k0), rhs)

    def newton_step(_, phi):
        return phi + jnp.linalg.solve(dense(ops.tangent_matrix(phi)), -ops.residual(phi))

    # static trip count: a scan, so reverse-mode autodiff goes through it (compiled once)
    return jax.lax.fori_loop(0, iterations, newton_step, phi)
