"""Per-cell fields of a P1 potential and the nodal internal force (residual) vector.

Written element by element so that they are differentiable with respect to the node coordinates
and the conductivity parameters; the solvers use the assembled matrices instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gradient(grads: jax.Array, cells, phi: jax.Array) -> jax.Array:
    """grad(phi) per cell, (n_cells, 3) V/m, from basis gradients (n_cells, 4, 3) 1/m and
    nodal phi (n_nodes,) V."""
    return jnp.einsum("cij,ci->cj", grads, phi[cells])


def safe_norm(v: jax.Array) -> jax.Array:
    """|v| along the last axis with a finite gradient at v = 0 (double `where`)."""
    sq = jnp.sum(v * v, axis=-1)
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def internal_force(grads, volumes, cells, sigma, phi) -> jax.Array:
    """Nodal vector K(sigma) phi assembled element by element, (n_nodes,) A.

    Args:
        grads: (n_cells, 4, 3) 1/m; volumes: (n_cells,) m^3; cells: (n_cells, 4);
        sigma: (n_cells,) S/m; phi: (n_nodes,) V.
    """
    flux = sigma[:, None] * gradient(grads, cells, phi)  # -J, (n_cells, 3)
    local = volumes[:, None] * jnp.einsum("cij,cj->ci", grads, flux)
    return jax.ops.segment_sum(local.ravel(), jnp.ravel(cells), phi.shape[0])
