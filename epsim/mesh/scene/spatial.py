"""A spatial index of axis-aligned boxes: which earlier boxes may touch this one, in about constant
time per query, so that checks over n holes cost O(n) instead of O(n^2).

    index = BoxIndex(bounds)                 # bounds (n, 2, 3): lower and upper corners, m
    for j in range(n):
        near = index.near(j)                 # indices i < j whose boxes intersect box j
        index.add(j)

A uniform grid hash whose cell is, along each axis, the median extent of the boxes along that
axis (a row of long thin needles gets cells as thin as a needle and as long as one). Boxes that
would cover more than `MAX_CELLS` cells (a plate among needles) are kept in a short list that
every query scans.
"""

from __future__ import annotations

import itertools

import numpy as np

MAX_CELLS = 512  # cells one box may cover before it goes to the list every query scans


class BoxIndex:
    """Boxes `bounds` (n, 2, 3), metres, added one by one; queries return earlier ones that
    intersect (closed boxes, so touching counts)."""

    def __init__(self, bounds: np.ndarray):
        self.bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 2, 3)
        extent = self.bounds[:, 1] - self.bounds[:, 0]
        scale = float(np.max(np.abs(self.bounds))) if len(self.bounds) else 1.0
        floor = max(scale, 1e-300) * 1e-9  # a point-like box still gets a finite cell
        self.cell = np.maximum(np.median(extent, axis=0) if len(extent) else 1.0, floor)
        self.origin = self.bounds[:, 0].min(axis=0) if len(self.bounds) else np.zeros(3)
        lo = np.floor((self.bounds[:, 0] - self.origin) / self.cell).astype(np.int64)
        hi = np.floor((self.bounds[:, 1] - self.origin) / self.cell).astype(np.int64)
        self.large_box = np.prod((hi - lo + 1).astype(np.float64), axis=1) > MAX_CELLS
        self.ranges = [tuple(zip(a, b)) for a, b in zip(lo.tolist(), hi.tolist())]
        self.grid: dict[tuple[int, int, int], list[int]] = {}
        self.large: list[int] = []
        self.added: list[int] = []

    def _keys(self, i: int):
        return itertools.product(*(range(a, b + 1) for a, b in self.ranges[i]))

    def add(self, i: int) -> None:
        """Index box i."""
        self.added.append(i)
        if self.large_box[i]:
            self.large.append(i)
            return
        for key in self._keys(i):
            self.grid.setdefault(key, []).append(i)

    def near(self, j: int) -> list[int]:
        """Indices of added boxes that intersect box j, ascending."""
        if self.large_box[j]:
            found = set(self.added)  # numpy tests them all below
        else:
            found = set(self.large)
            for key in self._keys(j):
                found.update(self.grid.get(key, ()))
        if not found:
            return []
        candidates = np.fromiter(sorted(found), dtype=np.int64, count=len(found))
        b = self.bounds[candidates]
        hit = np.all((b[:, 0] <= self.bounds[j, 1]) & (b[:, 1] >= self.bounds[j, 0]), axis=1)
        return candidates[hit].tolist()


__all__ = ["BoxIndex", "MAX_CELLS"]
