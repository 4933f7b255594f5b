"""P1 stiffness on tetrahedra in a fixed sparsity pattern, filled on the device by gathers only.

The pattern depends only on the cells and is built once with numpy. The stiffness of any
per-cell conductivity (scalar, or the Newton tangent sigma I + sigma' |E| e e^T) is assembled
edge by edge: each mesh edge gathers its contributions from the cells around it, and the diagonal
is minus the off-diagonal row sum (P1 basis functions sum to one, so constants are in the kernel).
No scatter is needed, which matters on CPUs where XLA's scatter runs serially.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.fem.elements import EDGES, elements
from epsim.fem.sparse import ELL_WIDTH, HybMatrix, materialise, prefix_sum

LOCAL_EDGES = np.array(EDGES)


class StiffnessPattern(eqx.Module):
    """Sparsity pattern of the P1 stiffness and the maps from cell edges to matrix slots.

    Edges are numbered by decreasing number of cells around them, so that the k-th cell of every
    edge that has one sits in the prefix `edge_slots[k]`: summing the edge values costs one 1-D
    gather per slot over exactly the edges that need it (a padded (n_edges, max cells) 2-D gather
    read twice as many values, and 2-D gathers are 3-5x slower per value on CPU).

    Attributes:
        cells: (n_cells, 4) node indices.
        corners: (4, n_cells) the same, corner-major (one 1-D gather per corner).
        edge_slots: per slot k, (n_k,) indices into the flattened (6 * n_cells) edge-major values
            of `Elements.edge_values` of the k-th cell of edges 0 .. n_k - 1 (n_0 = n_edges >= n_1
            >= ...).
        ell_cols: (width, n_nodes) columns, slot-major; slot 0 is the diagonal, padding repeats
            the row.
        ell_edge: (width - 1, n_nodes) edge id of each off-diagonal slot (padding: n_edges).
        ovf_rows, ovf_cols, ovf_edge: overflow entries sorted by row.
    """

    cells: jax.Array
    corners: jax.Array
    edge_slots: tuple[jax.Array, ...]
    ell_cols: jax.Array
    ell_edge: jax.Array
    ovf_rows: jax.Array
    ovf_cols: jax.Array
    ovf_edge: jax.Array

    @property
    def n_nodes(self) -> int:
        return self.ell_cols.shape[1]

    @property
    def n_edges(self) -> int:
        return self.edge_slots[0].shape[0]


def build_pattern(cells: np.ndarray, n_nodes: int, width: int = ELL_WIDTH) -> StiffnessPattern:
    """Build the stiffness pattern of a tetrahedral mesh (host side, numpy)."""
    cells = np.asarray(cells, dtype=np.int64)
    n_cells = len(cells)
    # edge-major: flat index = local edge * n_cells + cell, as Elements.edge_values lays them out
    a = cells[:, LOCAL_EDGES[:, 0]].T.ravel()
    b = cells[:, LOCAL_EDGES[:, 1]].T.ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    edges, cell_edge = np.unique(lo * n_nodes + hi, return_inverse=True)
    n_edges = len(edges)
    # Renumber the edges by decreasing cell count (stable: ties keep the node order).
    counts = np.bincount(cell_edge, minlength=n_edges)
    by_count = np.argsort(-counts, kind="stable")
    new_id = np.empty(n_edges, dtype=np.int64)
    new_id[by_count] = np.arange(n_edges)
    cell_edge, counts, edges = new_id[cell_edge], counts[by_count], edges[by_count]
    edge_lo, edge_hi = edges // n_nodes, edges % n_nodes

    # For each edge, the flat indices (local edge * n_cells + cell) of its contributions.
    order = np.argsort(cell_edge, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, counts)
    table = np.zeros((n_edges, counts.max()), dtype=np.int64)
    table[cell_edge[order], rank] = order
    edge_slots = tuple(table[: np.count_nonzero(counts > k), k] for k in range(counts.max()))

    # Rows: both directions of every edge, sorted by (row, col); slot 0 keeps the diagonal.
    rows = np.concatenate([edge_lo, edge_hi])
    cols = np.concatenate([edge_hi, edge_lo])
    eids = np.concatenate([np.arange(n_edges), np.arange(n_edges)])
    order = np.lexsort((cols, rows))
    rows, cols, eids = rows[order], cols[order], eids[order]
    row_counts = np.bincount(rows, minlength=n_nodes)
    row_starts = np.concatenate([[0], np.cumsum(row_counts)[:-1]])
    pos = np.arange(len(rows)) - np.repeat(row_starts, row_counts)
    in_ell = pos < width - 1
    ell_cols = np.repeat(np.arange(n_nodes)[None, :], width, axis=0)
    ell_edge = np.full((width - 1, n_nodes), n_edges, dtype=np.int64)
    ell_cols[1 + pos[in_ell], rows[in_ell]] = cols[in_ell]
    ell_edge[pos[in_ell], rows[in_ell]] = eids[in_ell]
    over = ~in_ell
    i32 = lambda x: np.asarray(x, dtype=np.int32)  # noqa: E731
    return StiffnessPattern(
        cells=i32(cells),
        corners=i32(cells.T),
        edge_slots=tuple(i32(slot) for slot in edge_slots),
        ell_cols=i32(ell_cols),
        ell_edge=i32(ell_edge),
        ovf_rows=i32(rows[over]),
        ovf_cols=i32(cols[over]),
        ovf_edge=i32(eids[over]),
    )


def assemble(pattern: StiffnessPattern, edge_values: jax.Array) -> HybMatrix:
    """Stiffness matrix from edge values (6, n_cells) of `Elements.edge_values`, in HYB layout."""
    flat = materialise(edge_values.ravel())
    terms = tuple(jnp.take(flat, slot, mode="clip") for slot in pattern.edge_slots)
    per_edge = materialise(jnp.concatenate([prefix_sum(terms), jnp.zeros(1, flat.dtype)]))
    off = jnp.stack(
        [jnp.take(per_edge, edge, mode="clip") for edge in pattern.ell_edge]
    )  # (width - 1, n_nodes), padding reads the final zero
    ovf = jnp.take(per_edge, pattern.ovf_edge, mode="clip")
    row_sum = jnp.sum(off, axis=0)
    if pattern.ovf_rows.shape[0]:
        row_sum = row_sum + jax.ops.segment_sum(
            ovf, pattern.ovf_rows, pattern.n_nodes, indices_are_sorted=True
        )
    ell_vals = jnp.concatenate([-row_sum[None, :], off], axis=0)
    return HybMatrix(
        pattern.ell_cols, ell_vals, pattern.ovf_rows, pattern.ovf_cols, ovf, pattern.n_nodes
    )


@jax.jit
def stiffness(pattern: StiffnessPattern, points, sigma) -> HybMatrix:
    """Stiffness K(sigma) for per-cell conductivity sigma (n_cells,) S/m on nodes `points` (m).

    Jitted: called eagerly (as host-side set-up does), its few thousand small operations were
    each compiled on their own, seconds per call (benchmarks/RESULTS.md)."""
    return assemble(pattern, elements(points, pattern.corners).edge_values(sigma))


def dirichlet_keep(pattern, free: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Masks of the entries that symmetric elimination of the fixed nodes keeps: (width, n)
    for the ELL block and (m,) for the overflow of a stiffness-pattern layout (`pattern`: a
    StiffnessPattern or a HybMatrix in its layout); free: (n,) bool. They depend on the node
    sets only, so a solver computes them once and reuses them for every matrix."""
    ell = free[None, :] & free[pattern.ell_cols]
    return ell, free[pattern.ovf_rows] & free[pattern.ovf_cols]


def apply_dirichlet(a: HybMatrix, free: jax.Array, keep=None) -> HybMatrix:
    """Symmetric elimination of fixed nodes: their rows and columns zero, unit diagonal.

    `a` must be in a stiffness-pattern layout (slot 0 is the diagonal); free: (n,) bool; keep:
    `dirichlet_keep(a, free)` if already computed.
    """
    ell_keep, ovf_keep = dirichlet_keep(a, free) if keep is None else keep
    ell = jnp.where(ell_keep, a.ell_vals, 0.0)
    ell = ell.at[0].set(jnp.where(free, a.ell_vals[0], 1.0))
    return a.with_values(ell, jnp.where(ovf_keep, a.ovf_vals, 0.0))


def diagonal(a: HybMatrix) -> jax.Array:
    """Diagonal of a stiffness-pattern matrix (slot 0)."""
    return a.ell_vals[0]
