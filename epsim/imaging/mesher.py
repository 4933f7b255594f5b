"""Label map -> tagged tetrahedral mesh, with needles cut in as in analytic scenes.

    scene = ImageScene(image, labels=(ImageLabel(2, "tumour", "tumour", mesh_size=1e-3), ...),
                       crop=Box(center, size, material="fat"))
    mesh = mesh_image(scene, holes, MeshSizes(size=6e-3, electrode_size=3e-4))

How: gmsh meshes the crop box (world metres, axis-aligned) with the needles and plates cut in by
the analytic-scene builder (`epsim.mesh.build_mesh`: conducting and insulated parts tagged,
refinement along needles), under a size field sampled from the label map (each label at its
`mesh_size`, growing by `GRADING` per unit distance outside it; a thin label at most half its
largest inscribed radius, as round inclusions are). Every cell then takes the region whose
smoothed indicator (`epsim.imaging.levelset`) is largest at its centroid, and nodes close to an
interface are moved onto it (`snap_interfaces`), so that region boundaries follow the smooth
interfaces instead of staircases. Regions are unions of whole cells, so interfaces are shared
faces by construction.

Why not closed surfaces per label as OCC inclusions: a 5000-triangle surface took 24 s to
fragment and gmsh then failed (overlapping facets) where a needle crossed it (docs/imaging.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage

from epsim.imaging.labelmap import LabelImage
from epsim.imaging.levelset import SMOOTHING_VOXELS, LabelField, label_field
from epsim.mesh import build_mesh
from epsim.mesh.gmsh import SizeGrid
from epsim.mesh.quality import radius_ratio
from epsim.mesh.scene import Box, MeshSizes
from epsim.mesh.tetmesh import TetMesh, make_mesh, signed_volumes

GRADING = 0.5  # size growth per unit distance outside a finer label (m/m)
MAX_GRID_POINTS = 4_000_000  # of the size grid (its spacing grows to stay below)
SNAP_FRACTION = 0.3  # a node moves onto an interface nearer than this fraction of its edge
MIN_SNAPPED_RATIO = 0.2  # a move is undone when it leaves a cell's radius ratio below this


@dataclass(frozen=True)
class ImageLabel:
    """One row of the label table: a label value of the image, the region it becomes.

    Attributes:
        value: the label in the image (> 0).
        name: the region's name in results.
        material: its material.
        mesh_size: cell size inside (m); None: the scene's size.
        keep_out: needles' active parts must stay out of it (role spare).
    """

    value: int
    name: str
    material: str
    mesh_size: float | None = None
    keep_out: bool = False


@dataclass(frozen=True)
class ImageScene:
    """A label map's anatomy inside a crop box (the mesh spec of an image scene).

    Attributes:
        image: the label map (not in repr or equality: `digest` stands for its bytes).
        labels: the label table, in region order after the background.
        crop: the domain, an axis-aligned world box (m) whose material fills the voxels of no
            listed label.
        smoothing: Gaussian sigma of the label indicators (voxels).
        digest: sha256 of the labels' bytes, shape, dtype and affine (set on construction).
    """

    image: LabelImage = field(repr=False, compare=False)
    labels: tuple[ImageLabel, ...]
    crop: Box
    smoothing: float = SMOOTHING_VOXELS
    digest: str = ""

    def __post_init__(self):
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.digest:
            object.__setattr__(self, "digest", image_digest(self.image))

    @property
    def background_name(self) -> str:
        """The background's region name: its material, or "domain" when a label has that
        name."""
        material = self.crop.material
        return "domain" if material in {label.name for label in self.labels} else material

    @property
    def region_names(self) -> tuple[str, ...]:
        return (self.background_name, *(label.name for label in self.labels))

    @property
    def region_materials(self) -> tuple[str, ...]:
        return (self.crop.material, *(label.material for label in self.labels))

    def field(self) -> LabelField:
        """The smoothed indicators over the crop box."""
        lo, hi = crop_bounds(self.crop)
        return label_field(self.image, [label.value for label in self.labels], lo, hi,
                           self.smoothing)


def image_digest(image: LabelImage) -> str:
    """sha256 of a label map's voxels (bytes, shape, dtype) and its affine."""
    digest = hashlib.sha256(np.ascontiguousarray(image.labels).tobytes())
    digest.update(repr((image.labels.shape, str(image.labels.dtype))).encode())
    digest.update(np.asarray(image.affine, dtype="<f8").tobytes())
    return digest.hexdigest()


def crop_bounds(crop: Box) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) corners of the crop box, m."""
    c, h = np.asarray(crop.center), 0.5 * np.asarray(crop.size)
    return c - h, c + h


# ---------------------------------------------------------------- sizes


def label_sizes(scene: ImageScene, size: float) -> np.ndarray:
    """(n_labels,) cell size in each label (m): its `mesh_size` (else `size`), at most half the
    radius of the largest ball inside the label's voxels (at least one voxel), at most `size`."""
    spacing = scene.image.spacing_mm * 1e-3
    out = []
    for label in scene.labels:
        wanted = min(label.mesh_size or size, size)
        mask = np.pad(scene.image.labels == label.value, 1)
        # from a voxel centre to the nearest outside centre, less the half voxel to the interface
        depth = ndimage.distance_transform_edt(mask, sampling=spacing).max() if mask.any() else 0
        radius = float(depth) - 0.5 * float(spacing.min())
        out.append(min(wanted, max(radius / 2, float(spacing.min()))))
    return np.asarray(out)


def size_grid(scene: ImageScene, label_field_: LabelField, size: float) -> SizeGrid | None:
    """Cell sizes on a world grid over the crop box: each label's size inside it, growing by
    `GRADING` per metre outside, `size` elsewhere; None when no label is finer than `size`."""
    sizes = label_sizes(scene, size)
    if not np.any(sizes < size):
        return None
    lo, hi = crop_bounds(scene.crop)
    step = max(float(sizes.min()), float(scene.image.spacing_mm.min()) * 1e-3)
    step = max(step, float(np.prod(hi - lo) / MAX_GRID_POINTS) ** (1 / 3))
    n = np.maximum(np.ceil((hi - lo) / step).astype(int) + 1, 2)
    spacing = (hi - lo) / (n - 1)
    axes = [lo[i] + spacing[i] * np.arange(n[i]) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    region = label_field_.region_at(points).reshape(tuple(n))
    values = np.full(tuple(n), size)
    for k, s in enumerate(sizes, start=1):
        if s < size and np.any(region == k):
            outside = ndimage.distance_transform_edt(region != k, sampling=spacing)
            np.minimum(values, s + GRADING * np.maximum(outside - spacing.max(), 0.0), out=values)
    return SizeGrid(tuple(lo), tuple(spacing), values)


# ---------------------------------------------------------------- interfaces


def cell_regions(points: np.ndarray, cells: np.ndarray, lf: LabelField) -> np.ndarray:
    """(n_cells,) region of each cell: the largest smoothed indicator at its centroid."""
    return lf.region_at(np.asarray(points)[cells].mean(axis=1))


def _edges(cells: np.ndarray) -> np.ndarray:
    pairs = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)])
    edges = np.sort(cells[:, pairs].reshape(-1, 2), axis=1)
    return np.unique(edges, axis=0)


def snap_interfaces(points: np.ndarray, cells: np.ndarray, fixed: np.ndarray,
                    lf: LabelField) -> np.ndarray:
    """Node positions with nodes near an interface moved onto it.

    For each edge whose ends lie in different regions (a, b), the interface point is where the
    smoothed indicators of a and b are equal (linear along the edge); a node within
    `SNAP_FRACTION` of its edge from such a point moves to the nearest one. `fixed` nodes (on
    electrodes and the domain's boundary) stay. Moves that leave a cell inverted or with a
    radius ratio below `MIN_SNAPPED_RATIO` (and below its ratio before) are undone, and the check
    repeats.

    Args:
        points: (n, 3) m; cells: (m, 4); fixed: (n,) bool.
    Returns:
        (n, 3) m, the moved points.
    """
    points = np.asarray(points, dtype=np.float64)
    ind = lf.indicators_at(points)
    region = np.argmax(ind, axis=0)
    edges = _edges(cells)
    a, b = edges[:, 0], edges[:, 1]
    cross = region[a] != region[b]
    a, b = a[cross], b[cross]
    ra, rb = region[a], region[b]
    # g = I_ra - I_rb: positive at a, negative at b; zero on the interface
    ga = ind[ra, a] - ind[rb, a]
    gb = ind[ra, b] - ind[rb, b]
    t = ga / np.maximum(ga - gb, 1e-12)  # from a towards b
    target = points[a] + t[:, None] * (points[b] - points[a])
    # each node takes its nearest crossing, if within the fraction of that edge
    node = np.concatenate([a, b])
    frac = np.concatenate([t, 1.0 - t])
    goal = np.concatenate([target, target])
    keep = (frac < SNAP_FRACTION) & ~fixed[node]
    node, frac, goal = node[keep], frac[keep], goal[keep]
    order = np.lexsort((frac, node))
    node, goal = node[order], goal[order]
    first = np.r_[True, node[1:] != node[:-1]]
    node, goal = node[first], goal[first]
    moved = points.copy()
    moved[node] = goal
    floor = np.minimum(radius_ratio(points, cells), MIN_SNAPPED_RATIO)
    for _ in range(10):
        touched = np.flatnonzero(np.any(np.isin(cells, node), axis=1))
        sub = cells[touched]
        bad = (signed_volumes(moved, sub) <= 0) | (radius_ratio(moved, sub) < floor[touched])
        if not bad.any():
            break
        undo = np.unique(sub[bad])
        moved[undo] = points[undo]
        node = np.setdiff1d(node, undo)
    return moved


def boundary_nodes(mesh: TetMesh) -> np.ndarray:
    """(n_nodes,) bool: nodes on any facet (electrodes, the domain's faces)."""
    fixed = np.zeros(mesh.n_nodes, dtype=bool)
    for tri in mesh.facets.values():
        fixed[np.asarray(tri).ravel()] = True
    return fixed


# ---------------------------------------------------------------- the mesh


def mesh_image(scene: ImageScene, holes: Sequence = (), sizes: MeshSizes | None = None, *,
               seed: int = 0, snap: bool = True, isolate: bool = True) -> TetMesh:
    """Mesh an image scene: the crop box with the holes cut in, one region per label.

    Args:
        scene: the label map, label table and crop box.
        holes: needles and plates (`epsim.mesh.scene`), world metres.
        sizes: cell sizes (m); None: a tenth of the crop box's smallest edge.
        seed, isolate: as `epsim.mesh.build_mesh`.
        snap: move nodes near interfaces onto them (`snap_interfaces`).
    Returns:
        TetMesh with `region_names = scene.region_names` (the background, then each label by
        name; a region may be empty), the facets of `epsim.mesh.build_mesh` for the crop box
        and the holes, nodes and cells in locality order.
    Raises:
        ElectrodeError, MeshError: as `epsim.mesh.build_mesh`.
    """
    box, lf = box_mesh(scene, holes, sizes, seed=seed, isolate=isolate)
    return tag_regions(box, lf, scene, snap=snap)


def box_mesh(scene: ImageScene, holes: Sequence = (), sizes: MeshSizes | None = None, *,
             seed: int = 0, isolate: bool = True) -> tuple[TetMesh, LabelField]:
    """The first half of `mesh_image`: the crop box meshed by gmsh with the holes cut in,
    under the labels' size field (one region), and the smoothed indicators."""
    sizes = sizes or MeshSizes(size=float(min(scene.crop.size)) / 10)
    lf = scene.field()
    grid = size_grid(scene, lf, sizes.size)
    box = build_mesh(scene.crop, (), holes, sizes, seed=seed, isolate=isolate, size_grid=grid)
    return box, lf


def tag_regions(box: TetMesh, lf: LabelField, scene: ImageScene, *,
                snap: bool = True) -> TetMesh:
    """The second half of `mesh_image`: interfaces snapped (when `snap`), each cell given the
    region of its centroid."""
    points = np.asarray(box.points)
    if snap:
        points = snap_interfaces(points, box.cells, boundary_nodes(box), lf)
    region = cell_regions(points, box.cells, lf)
    return make_mesh(points, box.cells, region, scene.region_names, box.facets)


__all__ = [
    "GRADING", "ImageLabel", "ImageScene", "boundary_nodes", "box_mesh", "cell_regions",
    "crop_bounds", "image_digest", "label_sizes", "mesh_image", "size_grid", "snap_interfaces",
    "tag_regions",
]
