"""An immutable tetrahedral mesh with region and facet tags, and its P1 geometry in JAX.

Points are in metres. `cell_region[c]` indexes `region_names`; `facets` maps a tag name (an
electrode surface, a boundary) to its triangles (node triples). The mesh is an equinox pytree:
`points` is a differentiable leaf, so geometry computed by `cell_geometry` is differentiable with
respect to node coordinates.
"""

from __future__ import annotations

from typing import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.errors import (
    DegenerateCellError,
    InvertedCellError,
    MeshError,
    MissingTagError,
    UnusedNodeError,
)

# A cell is degenerate when its volume is below this fraction of (mean edge length)^3 / 6*sqrt(2)
# (the volume of a regular tetrahedron with that edge).
DEGENERATE_RELATIVE_VOLUME = 1e-8


class TetMesh(eqx.Module):
    """Tetrahedral mesh.

    Attributes:
        points: (n_nodes, 3) float, metres.
        cells: (n_cells, 4) int, node indices, positively oriented.
        cell_region: (n_cells,) int, index into `region_names`.
        facets: tag name -> (n_facets, 3) int node triples.
        region_names: names of the regions, static.
    """

    points: jax.Array | np.ndarray
    cells: np.ndarray
    cell_region: np.ndarray
    facets: dict[str, np.ndarray]
    region_names: tuple[str, ...] = eqx.field(static=True)

    @property
    def n_nodes(self) -> int:
        return self.points.shape[0]

    @property
    def n_cells(self) -> int:
        return self.cells.shape[0]

    def facet_nodes(self, name: str) -> np.ndarray:
        """Sorted unique node indices of the facets tagged `name`."""
        if name not in self.facets:
            raise MissingTagError(
                f"mesh has no facet tag {name!r}; tags present: {sorted(self.facets)}"
            )
        return np.unique(np.asarray(self.facets[name]))

    def region_id(self, name: str) -> int:
        if name not in self.region_names:
            raise MissingTagError(
                f"mesh has no region {name!r}; regions present: {list(self.region_names)}"
            )
        return self.region_names.index(name)

    def with_points(self, points) -> "TetMesh":
        """A copy with other node coordinates (same topology and tags)."""
        return eqx.tree_at(lambda m: m.points, self, points)

    def scaled(self, factor: float) -> "TetMesh":
        return self.with_points(self.points * factor)


def corner_geometry(points: jax.Array, corners) -> tuple[jax.Array, jax.Array]:
    """P1 shape-function gradients and signed volumes, component-major.

    Args:
        points: (n_nodes, 3) metres.
        corners: (4, n_cells) node indices (the transpose of the cells array).
    Returns:
        grads: (4, 3, n_cells) 1/m, gradient of each corner's basis function.
        volumes: (n_cells,) m^3, signed (positive for positively oriented cells).
    """
    parts, det = corner_gradient_parts(points, corners)
    return jnp.stack([jnp.stack(row) for row in parts]), det / 6.0


def corner_gradient_parts(points: jax.Array, corners) -> tuple[list, jax.Array]:
    """`corner_geometry`'s gradients as nested lists [corner][component] of (n_cells,) arrays,
    and the determinants (6 x the signed volumes), for callers that combine them further before
    storing (each stack is a pass over memory).

    Closed form: grad(lambda_i), i = 1..3, are the columns of inv([e1; e2; e3]) for the edges e
    from corner 0, i.e. cross products over the determinant; corner 0 takes minus their sum. No
    batched LAPACK call (twice as fast on CPU, and two such kernels running at once could
    deadlock with jaxlib 0.10 on two cores); one 1-D gather per corner and coordinate, used as
    gathered (the coordinates stacked first, and a division per entry, cost passes of their
    own: the one-off kernels of the 485k-cell Newton solve of benchmarks/profile_newton.py took
    154 ms with them, 143 ms without).
    """
    pt = jnp.asarray(points).T
    x = [[jnp.take(pt[j], c, mode="clip") for j in range(3)] for c in corners]
    e = [[x[a][j] - x[0][j] for j in range(3)] for a in (1, 2, 3)]
    c = [_cross(e[1], e[2]), _cross(e[2], e[0]), _cross(e[0], e[1])]
    det = e[0][0] * c[0][0] + e[0][1] * c[0][1] + e[0][2] * c[0][2]
    inverse = 1.0 / det
    g = [[ci[j] * inverse for j in range(3)] for ci in c]
    g0 = [-(g[0][j] + g[1][j] + g[2][j]) for j in range(3)]
    return [g0, *g], det


def _cross(u, v):
    return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]


def cell_geometry(points: jax.Array, cells: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """P1 shape-function gradients and signed volumes of each cell, cell-major.

    Args:
        points: (n_nodes, 3) metres.
        cells: (n_cells, 4) node indices.
    Returns:
        grads: (n_cells, 4, 3) 1/m, gradient of each local basis function.
        volumes: (n_cells,) m^3, signed (positive for positively oriented cells).
    """
    grads, volumes = corner_geometry(points, jnp.asarray(cells).T)
    return jnp.transpose(grads, (2, 0, 1)), volumes


def signed_volumes(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Signed cell volumes in numpy, (n_cells,) m^3 (host-side validation)."""
    x = np.asarray(points, dtype=np.float64)[cells]
    e = x[:, 1:, :] - x[:, :1, :]
    return np.einsum("ij,ij->i", e[:, 0], np.cross(e[:, 1], e[:, 2])) / 6.0


def _mean_edge_length(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    x = np.asarray(points, dtype=np.float64)[cells]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    return np.mean([np.linalg.norm(x[:, i] - x[:, j], axis=1) for i, j in pairs], axis=0)


def _describe(indices: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return f"{shown}{more}"


def make_mesh(
    points,
    cells,
    cell_region,
    region_names,
    facets: Mapping[str, np.ndarray] | None = None,
    *,
    fix_orientation: bool = True,
) -> TetMesh:
    """Validate arrays and build a TetMesh.

    Args:
        points: (n_nodes, 3) metres.
        cells: (n_cells, 4) node indices.
        cell_region: (n_cells,) indices into `region_names`.
        region_names: sequence of region names.
        facets: tag name -> (n, 3) node triples.
        fix_orientation: flip negatively oriented cells; when False they raise InvertedCellError.
    Raises:
        MeshError and its subclasses, naming the offending cells or nodes.
    """
    points = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells)
    if points.ndim != 2 or points.shape[1] != 3:
        raise MeshError(f"points must have shape (n_nodes, 3), got {points.shape}")
    if cells.ndim != 2 or cells.shape[1] != 4 or cells.shape[0] == 0:
        raise MeshError(f"cells must have shape (n_cells, 4) with n_cells > 0, got {cells.shape}")
    if not np.all(np.isfinite(points)):
        bad = np.flatnonzero(~np.all(np.isfinite(points), axis=1))
        raise MeshError(f"non-finite coordinates at nodes {_describe(bad)}")
    cells = cells.astype(np.int32)
    if cells.min() < 0 or cells.max() >= len(points):
        raise MeshError(
            f"cells reference nodes outside 0..{len(points) - 1} "
            f"(min {cells.min()}, max {cells.max()})"
        )
    if cell_region is None or region_names is None or len(region_names) == 0:
        raise MissingTagError("mesh has no region tags: every cell needs a region (material)")
    cell_region = np.asarray(cell_region).astype(np.int32)
    if cell_region.shape != (len(cells),):
        raise MissingTagError(
            f"cell_region must have one entry per cell ({len(cells)}), got {cell_region.shape}"
        )
    region_names = tuple(str(n) for n in region_names)
    if cell_region.min() < 0 or cell_region.max() >= len(region_names):
        raise MissingTagError(
            f"cell_region values must index region_names (0..{len(region_names) - 1})"
        )

    used = np.zeros(len(points), dtype=bool)
    used[cells.ravel()] = True
    if not used.all():
        raise UnusedNodeError(
            f"{np.count_nonzero(~used)} nodes belong to no cell: {_describe(np.flatnonzero(~used))}"
        )

    vol = signed_volumes(points, cells)
    edge = _mean_edge_length(points, cells)
    regular = edge**3 / (6.0 * np.sqrt(2.0))
    degenerate = np.abs(vol) <= DEGENERATE_RELATIVE_VOLUME * regular
    if degenerate.any():
        raise DegenerateCellError(
            f"{np.count_nonzero(degenerate)} degenerate (zero-volume) cells: "
            f"{_describe(np.flatnonzero(degenerate))}"
        )
    inverted = vol < 0
    if inverted.any():
        if not fix_orientation:
            raise InvertedCellError(
                f"{np.count_nonzero(inverted)} inverted (negatively oriented) cells: "
                f"{_describe(np.flatnonzero(inverted))}"
            )
        cells = cells.copy()
        cells[inverted, 0], cells[inverted, 1] = cells[inverted, 1], cells[inverted, 0].copy()

    checked = {}
    for name, tri in (facets or {}).items():
        tri = np.asarray(tri).astype(np.int32).reshape(-1, 3)
        if len(tri) and (tri.min() < 0 or tri.max() >= len(points)):
            raise MeshError(f"facet tag {name!r} references nodes outside the mesh")
        checked[str(name)] = tri
    return TetMesh(
        points=points,
        cells=cells,
        cell_region=cell_region,
        facets=checked,
        region_names=region_names,
    )


def boundary_facets(cells: np.ndarray) -> np.ndarray:
    """Triangles that belong to exactly one cell, (n, 3) node triples (unoriented)."""
    faces = np.concatenate(
        [cells[:, [1, 2, 3]], cells[:, [0, 3, 2]], cells[:, [0, 1, 3]], cells[:, [0, 2, 1]]]
    )
    key = np.sort(faces, axis=1)
    _, index, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    return faces[index[counts == 1]]
