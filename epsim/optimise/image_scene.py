"""Planning on image scenes: structures from the label map, meshes from the image mesher.

    targets, spares = image_structures(cfg)         # Structure per labelled role, JAX distances
    scene = image_planning_scene(cfg, base)         # remeshes through epsim.imaging.mesh_image

Membership. Each labelled structure with a role (target, spare) gets a signed distance on the
image's voxel grid: inside minus outside, from Euclidean distance transforms of its mask in
world millimetres (`scipy.ndimage.distance_transform_edt` with the voxel spacing), less half the
smallest voxel spacing so that the zero level lies half-way between the centres of a voxel in
the label and one outside (where the mesher's interfaces lie too). It is read anywhere by
trilinear interpolation in JAX (`GridDistance`): the objective evaluates it at the moved cell
centroids and along the needles' active parts, with gradients with respect to the node motion,
exactly as the analytic distances of shape scenes. Host distances at the reference centroids
(the STL route, `PlanningScene.fixed_shapes`) would give no keep-out term (it samples the
needles, not the cells) and no gradient of membership. Outside the voxel block the value at the
nearest block point plus the distance to it is used (a bound that grows the right way).

Materials of moved cells blend by the same distances, one per label in region order (the
background first), as inclusions do in shape scenes (`epsim.optimise.materials`).

Remeshing. `ImagePlanningScene.mesh` meshes the crop box with the needles at the layout through
`epsim.imaging.mesher.mesh_image` (labels' cell sizes times the stage's factor), then merges the
regions by material, as `epsim run` does; the verification runs the plan's config through
`epsim.runner`, which meshes it the same way. Lengths in metres.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from epsim.config.image import image_scene, region_name
from epsim.config.schema import DicomImage, ResolvedConfig
from epsim.fem.fields import safe_norm
from epsim.imaging.labelmap import LabelImage
from epsim.imaging.levelset import voxel_block
from epsim.imaging.mesher import ImageScene, crop_bounds, mesh_image
from epsim.mesh.tetmesh import TetMesh
from epsim.optimise.objective import Structure
from epsim.optimise.scene import PlanningScene

MM = 1e-3
MARGIN_MM = 10.0  # voxels kept around the crop box: structures this close outside still count
FAR = 1.0  # m, the distance to a label with no voxel in the block


@dataclass(frozen=True, eq=False)
class GridDistance:
    """A signed distance sampled on a block of an image's voxels (m), read by trilinear
    interpolation; a JAX function of points (..., 3) m (equal and hashed by identity, so it can
    sit in the planner's static goals).

    Attributes:
        values: (ni, nj, nk) signed distance at the voxel centres, m (each axis >= 2).
        world_to_index: (4, 4) world point (m, homogeneous) -> fractional block index.
        index_to_world: (3, 3) linear part of block index -> world m.
    """

    values: np.ndarray
    world_to_index: np.ndarray
    index_to_world: np.ndarray

    def __call__(self, points):
        return trilinear_distance(self.values, self.world_to_index, self.index_to_world,
                                  points)


@jax.jit
def trilinear_distance(values, world_to_index, index_to_world, points):
    """Trilinear interpolation of `values` (a voxel block) at points (..., 3) m, clamped to
    the block, plus the distance from each point to its clamped place (see `GridDistance`).
    One compiled program (a planning mesh's host calls would otherwise compile op by op)."""
    index = points @ world_to_index[:3, :3].T + world_to_index[:3, 3]
    top = jnp.asarray(values.shape, dtype=index.dtype) - 1.0
    q = jnp.clip(index, 0.0, top)
    base = jnp.clip(jnp.floor(q), 0.0, top - 1.0)
    f = q - base
    i = base.astype(jnp.int32)
    value = 0.0
    for corner in np.ndindex(2, 2, 2):
        w = jnp.prod(jnp.where(np.asarray(corner, bool), f, 1.0 - f), axis=-1)
        value = value + w * values[i[..., 0] + corner[0], i[..., 1] + corner[1],
                                   i[..., 2] + corner[2]]
    return value + safe_norm((index - q) @ index_to_world.T)


def label_distance(image: LabelImage, value: int, lo, hi) -> GridDistance:
    """The signed distance of label `value` (m, negative inside) on the voxels near the world
    box [lo, hi] (m), `MARGIN_MM` around it (see the module doc)."""
    spacing = np.asarray(image.spacing_mm, float)
    margin = int(np.ceil(MARGIN_MM / spacing.min()))
    block = voxel_block(image, lo, hi, margin)
    mask = image.labels[block] == value
    if min(mask.shape) < 2:
        raise ValueError("the crop box holds less than two voxels along an axis")
    half = 0.5 * float(spacing.min())
    if not mask.any():
        values = np.full(mask.shape, FAR)
    elif mask.all():
        values = np.full(mask.shape, -FAR)
    else:
        inside = ndimage.distance_transform_edt(mask, sampling=spacing)
        outside = ndimage.distance_transform_edt(~mask, sampling=spacing)
        values = np.where(mask, half - inside, outside - half) * MM
    offset = np.eye(4)
    offset[:3, 3] = [-s.start for s in block]
    to_index = offset @ np.linalg.inv(image.affine) @ np.diag([1 / MM, 1 / MM, 1 / MM, 1.0])
    return GridDistance(values.astype(np.float32), to_index, image.affine[:3, :3] * MM)


def label_distances(cfg: ResolvedConfig) -> dict[int, GridDistance]:
    """The signed distance of every label in an image scene's table, over its crop box: computed
    once, used for the structures' membership and for the materials of moved cells."""
    scene = image_scene(cfg)
    lo, hi = crop_bounds(scene.crop)
    return {label.value: label_distance(scene.image, label.value, lo, hi)
            for label in scene.labels}


def image_structures(cfg: ResolvedConfig, distances: dict) -> tuple[list, list]:
    """(targets, spares) of an image scene's label table: lists of (Structure, material,
    volume in the crop box m^3), each Structure with its label's `GridDistance` (`distances`,
    from `label_distances`)."""
    scene = image_scene(cfg)
    lo, hi = crop_bounds(scene.crop)
    targets, spares = [], []
    for value, entry in cfg.scene.image.entries():
        if entry.role not in ("target", "spare"):
            continue
        distance = distances[value]
        item = Structure(region_name(entry), distance, -1, cfg.materials[entry.material].e_irr)
        row = (item, entry.material, crop_volume(scene.image, value, lo, hi))
        (targets if entry.role == "target" else spares).append(row)
    return targets, spares


def crop_volume(image: LabelImage, value: int, lo, hi) -> float:
    """m^3 of the label's voxels whose centres lie in the world box [lo, hi] (m)."""
    world = image.world_mm(np.argwhere(image.labels == value)) * MM
    inside = np.all((world >= lo) & (world <= hi), axis=1)
    return float(inside.sum()) * image.voxel_volume_mm3 * MM**3


def by_material(mesh: TetMesh, materials) -> TetMesh:
    """The same cells with one region per material (first appearance order), from the mesh's
    regions' `materials`."""
    names = tuple(dict.fromkeys(materials))
    index = np.array([names.index(m) for m in materials], dtype=np.int32)
    return TetMesh(mesh.points, mesh.cells, index[np.asarray(mesh.cell_region)], mesh.facets,
                   names)


@dataclass(frozen=True)
class ImagePlanningScene(PlanningScene):
    """A `PlanningScene` whose meshes come from a label map (`mesh_image`).

    Attributes:
        image: the image scene (label map, table, crop box); its target labels' `mesh_size`
            scales with the stage's factor like the other sizes.
        label_shapes: (signed distance, material) of each label in region order, for the
            materials of moved cells.
    """

    image: ImageScene | None = None
    label_shapes: tuple = ()

    def mesh(self, tips, axes, lengths, factor: float = 1.0) -> TetMesh:
        labels = tuple(
            dataclasses.replace(label, mesh_size=label.mesh_size * factor)
            if label.mesh_size else label for label in self.image.labels)
        scene = dataclasses.replace(self.image, labels=labels)
        holes = self.holes(tips, axes, lengths)
        mesh = mesh_image(scene, holes, self.layout_sizes(holes, factor))
        return by_material(mesh, scene.region_materials)

    def material_shapes(self, region_names) -> list:
        return [(d, list(region_names).index(m)) for d, m in self.label_shapes]


def image_planning_scene(cfg: ResolvedConfig, base: PlanningScene,
                         distances: dict) -> ImagePlanningScene:
    """`base` (the planner's scene of an image config) meshing through the label map;
    `distances` from `label_distances`."""
    scene = image_scene(cfg)
    shapes = tuple((distances[label.value], label.material) for label in scene.labels)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(PlanningScene)}
    return ImagePlanningScene(**fields, image=scene, label_shapes=shapes)


def image_inputs(image: dict, cfg: ResolvedConfig) -> dict:
    """A copy of the raw `scene.image` data with its file(s) absolute, as `cfg` resolved them
    (a plan written into another folder reads the same label map)."""
    f = cfg.scene.image.file
    path = ({"dicom": str(f.dicom), "rtstruct": str(f.rtstruct)} if isinstance(f, DicomImage)
            else str(Path(f)))
    return {**image, "file": path}


__all__ = ["GridDistance", "ImagePlanningScene", "by_material", "crop_volume",
           "image_inputs", "image_planning_scene", "image_structures", "label_distance",
           "label_distances",
           "trilinear_distance"]
