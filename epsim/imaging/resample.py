"""Per-cell results of a tetrahedral mesh back on a label map's voxel grid.

`locate_cells` finds the cell containing each query point: candidates are the cells whose
centroids are nearest (scipy `cKDTree`, k = 8, then 32, then 128 for the points not yet found),
tested with barycentric coordinates; a point is in a cell when its smallest barycentric
coordinate is >= -`INSIDE_TOLERANCE`, and of several such cells (a point on a shared face) the
one where it lies deepest wins. A point whose nearest centroid is farther than the largest
centroid-to-corner distance of the mesh is outside every cell; the few points left after the
k rounds are settled exactly with a ball query of that radius.

Units: mesh points in metres (TetMesh is SI), the image's world in mm; `MM` converts.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from epsim.imaging.labelmap import LabelImage

MM = 1e-3  # metres per millimetre
INSIDE_TOLERANCE = 1e-9  # barycentric slack (dimensionless) for points on faces
ROUNDS = (8, 32, 128)  # nearest centroids tried per round
BLOCK = 2**19  # points x candidates per vectorised block (memory: 12 floats each)


class CellLocator:
    """Point location on one tetrahedral mesh (build once, query many times).

    Args:
        points: (n_nodes, 3) float, any length unit (queries use the same unit).
        cells: (n_cells, 4) int node indices.
    """

    def __init__(self, points, cells):
        points = np.asarray(points, dtype=float)
        self.cells = np.asarray(cells, dtype=np.int64)
        corners = points[self.cells]  # (n_cells, 4, 3)
        self.origin = corners[:, 0]
        edges = (corners[:, 1:] - corners[:, :1]).transpose(0, 2, 1)  # columns v1-v0, v2-v0, v3-v0
        self.inverse = np.linalg.inv(edges)  # (n_cells, 3, 3)
        centroids = corners.mean(axis=1)
        self.reach = float(np.max(np.linalg.norm(corners - centroids[:, None], axis=2)))
        self.tree = cKDTree(centroids)

    def depth(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """(n, k) smallest barycentric coordinate of each query point (n, 3) in each candidate
        cell (n, k): >= 0 inside."""
        local = query[:, None, :] - self.origin[candidates]
        bary = np.einsum("nkab,nkb->nka", self.inverse[candidates], local)
        return np.minimum(bary.min(axis=2), 1.0 - bary.sum(axis=2))

    def best(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """(n,) the candidate cell each point lies deepest in, -1 where it is in none."""
        depth = self.depth(query, candidates)
        pick = np.argmax(depth, axis=1)
        rows = np.arange(len(query))
        return np.where(depth[rows, pick] >= -INSIDE_TOLERANCE, candidates[rows, pick], -1)

    def locate(self, query) -> np.ndarray:
        """(n,) index of the cell containing each point of `query` (n, 3), -1 outside."""
        query = np.asarray(query, dtype=float).reshape(-1, 3)
        found = np.full(len(query), -1, dtype=np.int64)
        distance, _ = self.tree.query(query, k=1)
        open_ = np.flatnonzero(distance <= self.reach)
        for k in ROUNDS:
            if open_.size == 0:
                return found
            k = min(k, len(self.cells))
            for block in np.array_split(open_, -(-open_.size * k // BLOCK)):
                _, candidates = self.tree.query(query[block], k=k)
                found[block] = self.best(query[block], np.asarray(candidates).reshape(-1, k))
            open_ = open_[found[open_] < 0]
            if k == len(self.cells):
                return found
        if open_.size == 0:
            return found
        for block in np.array_split(open_, -(-open_.size // 1024)):  # near long, thin cells
            near = self.tree.query_ball_point(query[block], self.reach)
            width = max(1, max(len(n) for n in near))
            candidates = np.array([n + [n[0]] * (width - len(n)) for n in near], dtype=np.int64)
            found[block] = self.best(query[block], candidates)
        return found


def resample_cells_to_image(
    points, cells, cell_values, grid: LabelImage, *, fill: float = np.nan
) -> np.ndarray:
    """The value of the cell containing each voxel centre of `grid`.

    Args:
        points: (n_nodes, 3) mesh nodes, metres (TetMesh.points).
        cells: (n_cells, 4) node indices.
        cell_values: (n_cells,) one value per cell (any unit; returned as float64).
        grid: the image whose voxel centres (world mm, converted to m here) are sampled.
        fill: value of voxels outside the mesh (default NaN; pass 0 for viewers that dislike
            NaN).
    Returns:
        (ni, nj, nk) float64 array on `grid`.
    """
    cell_values = np.asarray(cell_values, dtype=float)
    if cell_values.shape != (len(cells),):
        raise ValueError(f"{cell_values.shape} cell values for {len(cells)} cells")
    shape = grid.labels.shape
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    centres_m = grid.world_mm(ijk.reshape(-1, 3)) * MM
    cell = CellLocator(np.asarray(points), cells).locate(centres_m)
    values = np.where(cell >= 0, cell_values[np.maximum(cell, 0)], fill)
    return values.reshape(shape)
