"""Mesh quality: shape measures of tetrahedra and a short report.

The radius ratio 3 r_in / r_circ is 1 for a regular tetrahedron and 0 for a flat one; P1
gradients degrade as it falls (slivers below about 0.1 are worth a look).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epsim.mesh.tetmesh import TetMesh, signed_volumes


def radius_ratio(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """3 r_in / r_circ per cell, (n_cells,) in [0, 1]."""
    x = np.asarray(points, dtype=np.float64)[cells]
    volume = np.abs(signed_volumes(points, cells))
    faces = [(1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)]
    area = sum(
        0.5 * np.linalg.norm(np.cross(x[:, b] - x[:, a], x[:, c] - x[:, a]), axis=1)
        for a, b, c in faces
    )
    r_in = 3.0 * volume / area
    # circumradius: |a|^2 (b x c) + |b|^2 (c x a) + |c|^2 (a x b) over 12 V, edges from node 0
    a, b, c = (x[:, k] - x[:, 0] for k in (1, 2, 3))
    num = (
        np.sum(a * a, 1)[:, None] * np.cross(b, c)
        + np.sum(b * b, 1)[:, None] * np.cross(c, a)
        + np.sum(c * c, 1)[:, None] * np.cross(a, b)
    )
    r_circ = np.linalg.norm(num, axis=1) / (12.0 * volume)
    return 3.0 * r_in / r_circ


@dataclass(frozen=True)
class QualityReport:
    n_cells: int
    n_nodes: int
    min_ratio: float
    p01_ratio: float
    median_ratio: float
    slivers: int  # cells with radius ratio below 0.1
    min_edge: float  # m
    max_edge: float  # m

    def __str__(self) -> str:
        return (
            f"{self.n_cells} cells, {self.n_nodes} nodes; radius ratio min {self.min_ratio:.3f}, "
            f"1% {self.p01_ratio:.3f}, median {self.median_ratio:.3f}; {self.slivers} cells "
            f"below 0.1; edges {self.min_edge * 1e3:.3g} to {self.max_edge * 1e3:.3g} mm"
        )


def quality_report(mesh: TetMesh) -> QualityReport:
    """Shape statistics of a mesh."""
    points = np.asarray(mesh.points)
    ratio = radius_ratio(points, mesh.cells)
    x = points[mesh.cells]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    edges = np.stack([np.linalg.norm(x[:, i] - x[:, j], axis=1) for i, j in pairs])
    return QualityReport(
        n_cells=mesh.n_cells,
        n_nodes=mesh.n_nodes,
        min_ratio=float(ratio.min()),
        p01_ratio=float(np.percentile(ratio, 1)),
        median_ratio=float(np.median(ratio)),
        slivers=int(np.count_nonzero(ratio < 0.1)),
        min_edge=float(edges.min()),
        max_edge=float(edges.max()),
    )
