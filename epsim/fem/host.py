"""The sigma0 stiffness in numpy, for host-side set-up (the preconditioner hierarchy).

`epsim.fem.assembly.stiffness` is a jitted JAX program: called on a new mesh it compiled afresh
(its shapes are the mesh's), about 1.5 s of CPU at 100k cells, for a matrix used once on the
host. This numpy version fills the same stiffness-pattern layout (slot 0 the diagonal, edge sums
in the pattern's slot order) with no compilation, so a second mesh of similar size reaches the
solve without compiling anything (`epsim.padding`). Values agree with the JAX program to
rounding (the same closed-form gradients, products in another order).
"""

from __future__ import annotations

import numpy as np

from epsim.fem.assembly import LOCAL_EDGES, StiffnessPattern
from epsim.fem.sparse import HybMatrix


def corner_gradients(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(4, 3, n_cells) basis gradients (1/m) and (n_cells,) signed volumes (m^3), the closed
    form of `epsim.mesh.tetmesh.corner_geometry` (cross products over the determinant)."""
    x = np.asarray(points, dtype=np.float64)[np.asarray(cells)]  # (n_cells, 4, 3)
    e1, e2, e3 = (x[:, a] - x[:, 0] for a in (1, 2, 3))
    c = np.stack([np.cross(e2, e3), np.cross(e3, e1), np.cross(e1, e2)])  # (3, n_cells, 3)
    det = np.einsum("ij,ij->i", e1, c[0])
    g = c / det[None, :, None]
    grads = np.concatenate([-g.sum(axis=0, keepdims=True), g])  # (4, n_cells, 3)
    return grads.transpose(0, 2, 1), det / 6.0


def stiffness_host(pattern: StiffnessPattern, points, sigma) -> HybMatrix:
    """K(sigma) for per-cell sigma (n_cells,) S/m in the layout of `pattern` (numpy arrays)."""
    grads, volumes = corner_gradients(points, pattern.cells)
    a, b = LOCAL_EDGES[:, 0], LOCAL_EDGES[:, 1]
    couplings = np.einsum("ejc,ejc->ec", grads[a], grads[b]) * volumes  # (6, n_cells)
    flat = (np.asarray(sigma, dtype=np.float64) * couplings).ravel()
    per_edge = np.zeros(pattern.n_edges + 1)  # the last entry stays 0: padding reads it
    for slot in pattern.edge_slots:
        slot = np.asarray(slot)
        per_edge[: len(slot)] += flat[slot]
    off = per_edge[np.asarray(pattern.ell_edge)]
    ovf_rows = np.asarray(pattern.ovf_rows)
    ovf = per_edge[np.asarray(pattern.ovf_edge)]
    row_sum = off.sum(axis=0) + np.bincount(ovf_rows, ovf, minlength=pattern.n_nodes)
    return HybMatrix(np.asarray(pattern.ell_cols), np.concatenate([-row_sum[None], off]),
                     ovf_rows, np.asarray(pattern.ovf_cols), ovf, pattern.n_nodes)
