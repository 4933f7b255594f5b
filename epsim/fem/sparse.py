"""Sparse matrices for the solvers: ELL rows with a sorted-COO overflow ("HYB"), gather only.

A prototype on this project's 2-core CPU measured HYB (16 ELL slots per row plus an overflow in
COO sorted by row) as the fastest JAX format; element scatter, BCOO and segment-sum CSR were
1.5-10x slower (docs/design.md, section 2). With jax 0.10 on CPU a 2-D gather x[cols] of shape
(n, 16) costs 3-5x more than sixteen 1-D gathers, so the ELL block is stored slot-major,
(width, n_rows), and the product is a sum of one 1-D gather per slot. The format sits behind
`matvec` so a GPU can use another.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

ELL_WIDTH = 16


class HybMatrix(eqx.Module):
    """Sparse (n_rows, n_cols) matrix: ELL block plus sorted COO overflow.

    Attributes:
        ell_cols: (width, n_rows) int column indices, slot-major (padding: any column, value 0).
        ell_vals: (width, n_rows) float values.
        ovf_rows, ovf_cols: (m,) int, overflow entries sorted by row.
        ovf_vals: (m,) float.
        n_cols: number of columns (static).
    """

    ell_cols: jax.Array
    ell_vals: jax.Array
    ovf_rows: jax.Array
    ovf_cols: jax.Array
    ovf_vals: jax.Array
    n_cols: int = eqx.field(static=True)

    @property
    def n_rows(self) -> int:
        return self.ell_cols.shape[1]

    def __matmul__(self, x: jax.Array) -> jax.Array:
        return matvec(self, x)

    def with_values(self, ell_vals, ovf_vals) -> "HybMatrix":
        return HybMatrix(self.ell_cols, ell_vals, self.ovf_rows, self.ovf_cols, ovf_vals, self.n_cols)


def materialise(x: jax.Array) -> jax.Array:
    """Force x into a buffer of its own (a fusion barrier), without changing its value.

    Otherwise XLA's CPU fusion may inline the producer of x (say, another matvec or a vector
    update) into every gather that reads it and recompute it per gathered element: a V-cycle
    inside a while loop ran 4x slower. `optimization_barrier` is dropped on CPU, and an in-place
    scatter of zero is turned into a dynamic-update-slice that fuses again inside loops; a
    `lax.cond` on a runtime predicate is a computation boundary XLA cannot fuse across (both
    branches return x: NaN + 0 is NaN). On other platforms `optimization_barrier` is kept, since
    a conditional there costs a device-to-host round trip.
    """

    def cpu(x):
        return jax.lax.cond(jnp.isnan(x.ravel()[0]), lambda v: v + 0.0, lambda v: v, x)

    if x.size == 0:
        return x
    return jax.lax.platform_dependent(x, cpu=cpu, default=jax.lax.optimization_barrier)


def matvec(a: HybMatrix, x: jax.Array) -> jax.Array:
    """y = A x for x of shape (n_cols,)."""
    x = materialise(x)
    y = a.ell_vals[0] * jnp.take(x, a.ell_cols[0], mode="clip")
    for slot in range(1, a.ell_cols.shape[0]):
        y = y + a.ell_vals[slot] * jnp.take(x, a.ell_cols[slot], mode="clip")
    if a.ovf_rows.shape[0]:
        y = y + jax.ops.segment_sum(
            a.ovf_vals * x[a.ovf_cols], a.ovf_rows, a.n_rows, indices_are_sorted=True
        )
    return y


def hyb_from_scipy(a: sp.spmatrix, width: int | None = None, dtype=np.float64) -> HybMatrix:
    """Convert a scipy sparse matrix into HYB (host side, numpy).

    width: ELL slots per row; by default the 70th percentile of the row lengths (at least 1),
    the longer rows' tails go to the (scatter-based) overflow. The AMG levels have a long tail
    of row lengths (P1 stiffness: median 12, 98th percentile 20): padding every row to the 98th
    percentile made the V-cycle gather 40 % zeros, and the 70th percentile made the whole Newton
    solve of the benchmark 6-8 % faster at 100k, 500k and 2M cells (benchmarks/RESULTS.md).
    """
    csr = sp.csr_matrix(a)
    csr.sum_duplicates()
    csr.sort_indices()
    n_rows, n_cols = csr.shape
    counts = np.diff(csr.indptr)
    if width is None:
        longest = int(counts.max()) if n_rows else 1
        typical = int(np.percentile(counts, 70)) if n_rows else 1
        width = max(1, min(longest, typical))
    row_of = np.repeat(np.arange(n_rows), counts)
    pos = np.arange(csr.nnz) - csr.indptr[row_of]
    in_ell = pos < width
    ell_cols = np.zeros((width, n_rows), dtype=np.int32)
    ell_vals = np.zeros((width, n_rows), dtype=dtype)
    ell_cols[pos[in_ell], row_of[in_ell]] = csr.indices[in_ell]
    ell_vals[pos[in_ell], row_of[in_ell]] = csr.data[in_ell]
    over = ~in_ell
    return HybMatrix(
        ell_cols=ell_cols,
        ell_vals=ell_vals,
        ovf_rows=row_of[over].astype(np.int32),
        ovf_cols=csr.indices[over].astype(np.int32),
        ovf_vals=csr.data[over].astype(dtype),
        n_cols=n_cols,
    )


def hyb_to_scipy(a: HybMatrix) -> sp.csr_matrix:
    """Back to scipy CSR (host side; for tests and the scipy reference)."""
    width, n_rows = np.shape(a.ell_cols)
    rows = np.concatenate([np.tile(np.arange(n_rows), width), np.asarray(a.ovf_rows)])
    cols = np.concatenate([np.asarray(a.ell_cols).ravel(), np.asarray(a.ovf_cols)])
    vals = np.concatenate([np.asarray(a.ell_vals).ravel(), np.asarray(a.ovf_vals)])
    out = sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, a.n_cols))
    out.eliminate_zeros()
    return out


def slot_groups(sizes: list[int]) -> list[tuple[int, int, int]]:
    """(lo, hi, count) runs of a prefix layout: with slot k covering items 0 .. sizes[k] - 1
    (sizes non-increasing), items lo .. hi - 1 appear in exactly the first `count` slots."""
    bounds = [*sizes, 0]
    return [(bounds[c], bounds[c - 1], c) for c in range(len(sizes), 0, -1)
            if bounds[c - 1] > bounds[c]]


def prefix_sum(parts: tuple[jax.Array, ...]) -> jax.Array:
    """Per-item sums of a prefix layout: parts[k] holds the k-th term of items 0 ..
    len(parts[k]) - 1. One pass of 1-D reads per run of equal term counts, no padding."""
    sums = [sum(part[lo:hi] for part in parts[:count])
            for lo, hi, count in slot_groups([part.shape[0] for part in parts])]
    return jnp.concatenate(sums)
