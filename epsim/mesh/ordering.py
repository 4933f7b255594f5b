"""Node and cell numbering for memory locality.

gmsh numbers nodes in the order it creates them, which scatters the four corners of a cell
across the whole node array (on the 2M-cell benchmark mesh the median cell spans 164k of 337k
node indices). Every gather of the solver (potentials per cell, matrix rows, V-cycle levels)
then misses the cache. Numbering nodes along a Z-order (Morton) curve of their coordinates and
cells by their first node keeps neighbours close in memory (median span 91), which made the JAX
Newton solve on that mesh about 20 % faster (timings in benchmarks/RESULTS.md). Works on any
mesh, generated or imported.
"""

from __future__ import annotations

import numpy as np

from epsim.mesh.tetmesh import TetMesh

BITS = 21  # per coordinate: 3 * 21 = 63 bits of a uint64 Morton code


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits after each of the low 21 bits of v (uint64)."""
    v = v & np.uint64(0x1FFFFF)
    for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF), (8, 0x100F00F00F00F00F),
                        (4, 0x10C30C30C30C30C3), (2, 0x1249249249249249)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def morton_codes(points: np.ndarray) -> np.ndarray:
    """Z-order curve index of each point (n, 3) in its bounding box, (n,) uint64."""
    points = np.asarray(points, dtype=np.float64)
    low = points.min(axis=0)
    extent = max(float(np.ptp(points, axis=0).max()), np.finfo(float).tiny)
    q = ((points - low) / extent * (2**BITS - 1)).astype(np.uint64)
    return _spread_bits(q[:, 0]) | (_spread_bits(q[:, 1]) << np.uint64(1)) | (
        _spread_bits(q[:, 2]) << np.uint64(2)
    )


def locality_order(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(node_order, cell_order): old indices in their new order. Nodes along the Morton curve,
    cells by their smallest new node index (ties keep the old order)."""
    node_order = np.argsort(morton_codes(points), kind="stable")
    new_index = _inverse(node_order)
    cell_order = np.argsort(new_index[np.asarray(cells)].min(axis=1), kind="stable")
    return node_order, cell_order


def _inverse(order: np.ndarray) -> np.ndarray:
    """new_index[old] for a permutation given as the old indices in their new order."""
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    return new_index


def renumbered(mesh: TetMesh) -> TetMesh:
    """The same mesh with nodes and cells in locality order (`locality_order`); regions, facet
    tags and cell orientation are carried along."""
    node_order, cell_order = locality_order(np.asarray(mesh.points), mesh.cells)
    new_index = _inverse(node_order)
    cells = new_index[mesh.cells[cell_order]].astype(mesh.cells.dtype)
    facets = {name: new_index[tri].astype(np.asarray(tri).dtype)
              for name, tri in mesh.facets.items()}
    return TetMesh(np.asarray(mesh.points)[node_order], cells, mesh.cell_region[cell_order],
                   facets, mesh.region_names)
