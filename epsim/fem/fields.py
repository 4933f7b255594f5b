"""Zero-safe norms of per-cell vectors, and the cell-major gradient the planner's model uses.

Fields, residuals and currents of a solved potential come from `epsim.fem.elements.Elements`,
the kernels the solver itself uses (component-major, one 1-D gather per corner). `gradient`
below is the cell-major form for (n_cells, 4, 3) basis gradients of `epsim.mesh.cell_geometry`,
kept while `epsim.optimise.model` works in that layout.
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


def component_norm(v: jax.Array) -> jax.Array:
    """|v| of component-major per-cell vectors (3, n_cells), zero-safe like `safe_norm`.
    Summed component by component: `safe_norm(v.T)`, a reduction over v's leading axis, ran at
    2 GB/s on CPU for 2M cells (5 % of a 2M-cell Newton solve)."""
    sq = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
    nonzero = sq > 0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)
