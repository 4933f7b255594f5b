"""Exact plane sections of a tetrahedral mesh, for drawing slices with matplotlib.

A plane `x[axis] = offset` cuts each tetrahedron it crosses in a triangle or a quadrilateral.
Vertices of the section lie on mesh edges (or on nodes lying in the plane) and are shared between
neighbouring cells, so the section is a conforming triangulation of the cut: per-cell values
colour it exactly, and nodal values interpolated along the edges give smooth contour lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epsim.viz.common import cell_volumes

_TET_EDGES = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])
_TRI_EDGES = np.array([(0, 1), (0, 2), (1, 2)])


@dataclass(frozen=True)
class Section:
    """The section of a mesh by an axis-aligned plane.

    Attributes:
        uv: (n_vertices, 2) m, in-plane coordinates (the two other axes in increasing order).
        triangles: (n_triangles, 3) indices into `uv`.
        triangle_cell: (n_triangles,) the cut cell each triangle belongs to.
        polygons: list of index arrays into `uv`, one per cut cell (3 or 4 vertices, in order).
        polygon_cell: (n_polygons,) the cut cell of each polygon.
        edge_nodes: (n_vertices, 2) mesh nodes of the edge each vertex lies on, and
        edge_t: (n_vertices,) its position along that edge (0: first node), for interpolation.
    """

    uv: np.ndarray
    triangles: np.ndarray
    triangle_cell: np.ndarray
    polygons: list
    polygon_cell: np.ndarray
    edge_nodes: np.ndarray
    edge_t: np.ndarray

    def interpolate(self, nodal: np.ndarray) -> np.ndarray:
        """(n_vertices,) values of a nodal (n_nodes,) field at the section's vertices."""
        a, b = np.asarray(nodal)[self.edge_nodes.T]
        return a + self.edge_t * (b - a)

    def outline(self, cell_mask: np.ndarray) -> np.ndarray:
        """(n_segments, 2, 2) m: boundary segments of the section of the cells in `cell_mask`."""
        keep = np.asarray(cell_mask)[self.polygon_cell]
        edges = [
            np.stack([poly, np.roll(poly, -1)], axis=1)
            for poly, k in zip(self.polygons, keep) if k
        ]
        if not edges:
            return np.zeros((0, 2, 2))
        edges = np.sort(np.concatenate(edges), axis=1)
        edges = edges[edges[:, 0] != edges[:, 1]]
        unique, count = np.unique(edges, axis=0, return_counts=True)
        return self.uv[unique[count == 1]]


def _signed_distance(points: np.ndarray, axis: int, offset: float) -> np.ndarray:
    """(n_nodes,) distance to the plane, snapped to exactly 0 within 1e-10 of the mesh extent
    (so a plane through a layer of nodes, up to round-off, cuts through those nodes)."""
    d = points[:, axis] - offset
    extent = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
    return np.where(np.abs(d) <= 1e-10 * extent, 0.0, d)


def _crossings(d: np.ndarray, elements: np.ndarray, pairs: np.ndarray):
    """Vertices where element edges cross the plane; d >= 0 counts as the positive side.

    Returns (crossing mask (m, n_pairs), key (m, n_pairs, 2) node pairs naming the vertex,
    t (m, n_pairs)).
    """
    a = elements[:, pairs[:, 0]]
    b = elements[:, pairs[:, 1]]
    da, db = d[a], d[b]
    cross = (da >= 0) != (db >= 0)
    # Orient each crossing edge from its positive node p to its negative node q.
    p = np.where(da >= 0, a, b)
    q = np.where(da >= 0, b, a)
    dp, dq = d[p], d[q]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(cross, dp / (dp - dq), 0.0)
    # A node lying in the plane is one vertex whichever edge reaches it.
    on_node = cross & (dp == 0)
    key = np.stack([np.where(on_node, p, np.minimum(p, q)),
                    np.where(on_node, p, np.maximum(p, q))], axis=-1)
    t_key = np.where(on_node, 0.0, np.where(p < q, t, 1.0 - t))
    return cross, key, t_key


def plane_section(points, cells, axis: int, offset: float) -> Section:
    """The section of the mesh (points (n_nodes, 3) m, cells (n_cells, 4)) by x[axis] = offset.

    Cells that only touch the plane (in a node, an edge or a face lying in it) give degenerate
    polygons, which are dropped; a face lying in the plane is drawn once, from the cell on its
    negative side.
    """
    points = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells)
    in_plane = [k for k in range(3) if k != axis]
    d = _signed_distance(points, axis, offset)
    cross, key, t = _crossings(d, cells, _TET_EDGES)
    cut = np.flatnonzero(cross.any(axis=1))
    cross, key, t = cross[cut], key[cut], t[cut]

    flat_key = key[cross]  # (n_crossings, 2)
    unique, inverse = np.unique(flat_key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    first = np.zeros(len(unique), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]
    edge_t = t[cross][first]
    a, b = points[unique[:, 0]], points[unique[:, 1]]
    uv = (a + edge_t[:, None] * (b - a))[:, in_plane]

    vertex = np.full(cross.shape, -1, dtype=np.int64)
    vertex[cross] = inverse
    # Order each polygon's vertices by angle around its centre.
    valid = vertex >= 0
    xy = np.where(valid[..., None], uv[np.maximum(vertex, 0)], 0.0)
    n_valid = valid.sum(axis=1)
    centre = xy.sum(axis=1) / n_valid[:, None]
    angle = np.arctan2(xy[..., 1] - centre[:, None, 1], xy[..., 0] - centre[:, None, 0])
    order = np.argsort(np.where(valid, angle, np.inf), axis=1)
    ordered = np.take_along_axis(vertex, order, axis=1)

    extent = np.ptp(points[:, in_plane], axis=0).max() if len(points) else 1.0
    tiny = 1e-12 * extent**2
    polygons, polygon_cell, triangles, triangle_cell = [], [], [], []
    for n in (3, 4):
        rows = np.flatnonzero(n_valid == n)
        poly = ordered[rows, :n]
        fan = [poly[:, [0, 1, 2]]] + ([poly[:, [0, 2, 3]]] if n == 4 else [])
        p = uv[poly]
        area = 0.5 * np.abs(np.sum(
            p[:, :, 0] * np.roll(p[:, :, 1], -1, axis=1)
            - np.roll(p[:, :, 0], -1, axis=1) * p[:, :, 1], axis=1))
        ok = area > tiny
        polygons += list(poly[ok])
        polygon_cell.append(cut[rows[ok]])
        for tri in fan:
            q = uv[tri[ok]]
            e1, e2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
            tri_area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
            good = tri_area > tiny
            triangles.append(tri[ok][good])
            triangle_cell.append(cut[rows[ok]][good])
    return Section(
        uv=uv,
        triangles=np.concatenate(triangles).reshape(-1, 3),
        triangle_cell=np.concatenate(triangle_cell),
        polygons=polygons,
        polygon_cell=np.concatenate(polygon_cell),
        edge_nodes=unique,
        edge_t=edge_t,
    )


def surface_section(points, triangles, axis: int, offset: float) -> np.ndarray:
    """(n_segments, 2, 2) m: where surface triangles (node triples) cross x[axis] = offset, in
    the in-plane coordinates of `plane_section`."""
    points = np.asarray(points, dtype=np.float64)
    triangles = np.asarray(triangles).reshape(-1, 3)
    in_plane = [k for k in range(3) if k != axis]
    d = _signed_distance(points, axis, offset)
    cross, key, t = _crossings(d, triangles, _TRI_EDGES)
    rows = np.flatnonzero(cross.sum(axis=1) == 2)
    if len(rows) == 0:
        return np.zeros((0, 2, 2))
    pick = np.argsort(~cross[rows], axis=1, kind="stable")[:, :2]  # the two crossing edges
    k = np.take_along_axis(key[rows], pick[..., None], axis=1)  # (m, 2, 2)
    tt = np.take_along_axis(t[rows], pick, axis=1)[..., None]
    a, b = points[k[..., 0]], points[k[..., 1]]
    segments = (a + tt * (b - a))[..., in_plane]
    return segments[np.linalg.norm(segments[:, 0] - segments[:, 1], axis=1) > 0]


def nodal_average(points, cells, values) -> np.ndarray:
    """(n_nodes,) volume-weighted average of a per-cell field over the cells around each node."""
    cells = np.asarray(cells)
    weights = cell_volumes(points, cells)
    total = np.zeros(len(points))
    weight = np.zeros(len(points))
    np.add.at(total, cells, (weights * np.asarray(values))[:, None])
    np.add.at(weight, cells, weights[:, None])
    return total / np.where(weight > 0, weight, 1.0)
