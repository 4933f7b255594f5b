"""Structured tetrahedral meshes of a box (no gmsh), for convergence tests and benchmarks.

Each hexahedral cell of an (nx, ny, nz) grid is split into 6 tetrahedra around its main diagonal
(Kuhn / Freudenthal subdivision). Every cell is split the same way, so neighbouring cells agree
on their shared face diagonals and the mesh is conforming.
"""

from __future__ import annotations

import itertools

import numpy as np

from epsim.errors import MeshError
from epsim.mesh.tetmesh import TetMesh, boundary_facets, make_mesh

BOX_FACE_TAGS = ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")


def _kuhn_tets() -> np.ndarray:
    """(6, 4, 3) int: corner offsets (0/1) of the 6 tetrahedra of the unit cube, positive."""
    tets = []
    for perm in itertools.permutations(range(3)):
        corner = np.zeros(3, dtype=int)
        path = [corner.copy()]
        for axis in perm:
            corner[axis] = 1
            path.append(corner.copy())
        tet = np.array(path)
        edges = tet[1:] - tet[0]
        if np.linalg.det(edges) < 0:  # odd permutation: swap two nodes to orient positively
            tet[[1, 2]] = tet[[2, 1]]
        tets.append(tet)
    return np.array(tets)


def _as_triple(value, kind) -> np.ndarray:
    try:
        return np.broadcast_to(np.asarray(value, dtype=kind), (3,)).copy()
    except (TypeError, ValueError) as exc:
        raise MeshError(f"expected a number or three numbers, got {value!r}") from exc


def structured_box_mesh(
    size, n, center=(0.0, 0.0, 0.0), *, material: str = "tissue"
) -> TetMesh:
    """Conforming tetrahedral mesh of an axis-aligned box.

    Args:
        size: edge lengths (m), a float or (3,).
        n: number of hexahedral cells along each axis, an int or (3,) ints (each >= 1).
        center: centre of the box (3,), m.
        material: name of the single region.
    Returns:
        TetMesh with (n+1)^3 nodes (per-axis product), 6 * prod(n) cells, region `material`
        and facet tags xmin, xmax, ymin, ymax, zmin, zmax (2 * n_a * n_b triangles each).
    """
    size = _as_triple(size, np.float64)
    counts = _as_triple(n, np.float64)
    if not (np.all(np.isfinite(size)) and np.all(size > 0)):
        raise MeshError(f"box size must be positive (m), got {size}")
    if not np.all((counts >= 1) & (counts == np.round(counts))):
        raise MeshError(f"cell counts must be positive integers, got {n!r}")
    counts = counts.astype(np.int64)
    center = _as_triple(center, np.float64)

    axes = [np.linspace(-s / 2, s / 2, k + 1) + c for s, k, c in zip(size, counts, center)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)  # (nx+1, ny+1, nz+1, 3)
    points = grid.reshape(-1, 3)
    strides = np.array([(counts[1] + 1) * (counts[2] + 1), counts[2] + 1, 1])

    ijk = np.stack(np.meshgrid(*[np.arange(k) for k in counts], indexing="ij"), axis=-1)
    origin = ijk.reshape(-1, 1, 1, 3)  # (n_hex, 1, 1, 3)
    corners = origin + _kuhn_tets()[None]  # (n_hex, 6, 4, 3)
    cells = (corners @ strides).reshape(-1, 4)

    triangles = boundary_facets(cells)
    index = np.stack(np.unravel_index(triangles, tuple(counts + 1)), axis=-1)  # (m, 3, 3)
    facets = {}
    for axis, name in enumerate("xyz"):
        on_axis = index[:, :, axis]
        facets[f"{name}min"] = triangles[np.all(on_axis == 0, axis=1)]
        facets[f"{name}max"] = triangles[np.all(on_axis == counts[axis], axis=1)]
    facets = {tag: facets[tag] for tag in BOX_FACE_TAGS}
    return make_mesh(points, cells, np.zeros(len(cells), dtype=np.int32), (material,), facets)
