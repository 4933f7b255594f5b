"""Clean-up of label maps: keep the largest connected component of a label, fill its holes, drop
small islands. Each returns the cleaned `LabelImage` and a `CleanupReport` of what changed.

Connectivity is 26 (faces, edges and corners) for a label's components and 6 (faces) for the
holes, the usual pairing that keeps a surface and its complement consistent. A voxel taken from
a label (largest component, islands) gets the label of the nearest voxel not taken, nearest in
mm on the voxel grid (`scipy.ndimage.distance_transform_edt` with the voxel spacing), so a stray
blob of tumour inside liver becomes liver. A hole is a region of `fill_from` labels (default 0,
unlabelled) that the label encloses; it becomes the label.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from epsim.imaging.labelmap import LabelImage

FULL = ndimage.generate_binary_structure(3, 3)  # 26-connectivity
FACES = ndimage.generate_binary_structure(3, 1)  # 6-connectivity


@dataclass(frozen=True)
class LabelChange:
    """What one clean-up step did to one label: voxels removed from it and added to it."""

    label: int
    removed: int
    added: int
    voxel_mm3: float

    @property
    def removed_mm3(self) -> float:
        return self.removed * self.voxel_mm3

    @property
    def added_mm3(self) -> float:
        return self.added * self.voxel_mm3


@dataclass(frozen=True)
class CleanupReport:
    """Per step, the labels it changed (labels it left alone are not listed)."""

    steps: tuple[tuple[str, tuple[LabelChange, ...]], ...]

    def lines(self) -> list[str]:
        """One line per changed label: step, label, voxels and mm^3 removed and added."""
        out = []
        for step, changes in self.steps:
            out += [
                f"{step}: label {c.label}: -{c.removed} voxels ({c.removed_mm3:.6g} mm^3), "
                f"+{c.added} voxels ({c.added_mm3:.6g} mm^3)"
                for c in changes
            ]
        return out or ["clean-up changed nothing"]

    def changed_voxels(self, label: int) -> tuple[int, int]:
        """(removed, added) voxels of `label` over all steps."""
        rows = [c for _, changes in self.steps for c in changes if c.label == label]
        return sum(c.removed for c in rows), sum(c.added for c in rows)

    def __add__(self, other: CleanupReport) -> CleanupReport:
        return CleanupReport(self.steps + other.steps)


def changes(before: np.ndarray, after: np.ndarray, voxel_mm3: float) -> tuple[LabelChange, ...]:
    """Per label, the voxels that left it and that joined it between two label arrays."""
    moved = before != after
    labels = np.union1d(np.unique(before[moved]), np.unique(after[moved]))
    lost = np.bincount(before[moved].ravel(), minlength=int(labels.max(initial=0)) + 1)
    won = np.bincount(after[moved].ravel(), minlength=int(labels.max(initial=0)) + 1)
    return tuple(LabelChange(int(k), int(lost[k]), int(won[k]), voxel_mm3) for k in labels)


def reassign_nearest(labels: np.ndarray, taken: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """`labels` with every `taken` voxel given the label of the nearest voxel not taken (mm)."""
    if not taken.any():
        return labels
    if taken.all():
        return np.zeros_like(labels)
    _, nearest = ndimage.distance_transform_edt(taken, sampling=spacing, return_indices=True)
    out = labels.copy()
    out[taken] = labels[tuple(axis[taken] for axis in nearest)]
    return out


def present(image: LabelImage, labels) -> list[int]:
    """The non-zero labels to clean: `labels`, or every non-zero label in the image."""
    found = [int(k) for k in np.unique(image.labels) if k != 0]
    return found if labels is None else [int(k) for k in labels if int(k) in found]


def keep_largest_component(image: LabelImage, labels=None) -> tuple[LabelImage, CleanupReport]:
    """Keep only the largest 26-connected component of each label (all non-zero labels, or
    those in `labels`); the other components take their nearest neighbours' labels."""
    taken = np.zeros(image.labels.shape, dtype=bool)
    for label in present(image, labels):
        components, count = ndimage.label(image.labels == label, structure=FULL)
        if count > 1:
            sizes = np.bincount(components.ravel())[1:]
            taken |= (components > 0) & (components != 1 + int(np.argmax(sizes)))
    return finish(
        image, reassign_nearest(image.labels, taken, image.spacing_mm), "largest component"
    )


def drop_islands(
    image: LabelImage, min_volume_mm3: float, labels=None
) -> tuple[LabelImage, CleanupReport]:
    """Remove the 26-connected components of each label smaller than `min_volume_mm3`; their
    voxels take their nearest neighbours' labels."""
    min_voxels = min_volume_mm3 / image.voxel_volume_mm3
    taken = np.zeros(image.labels.shape, dtype=bool)
    for label in present(image, labels):
        components, count = ndimage.label(image.labels == label, structure=FULL)
        sizes = np.bincount(components.ravel(), minlength=count + 1)
        small = np.flatnonzero(sizes < min_voxels)
        taken |= np.isin(components, small[small > 0])
    step = f"islands below {min_volume_mm3:g} mm^3"
    return finish(image, reassign_nearest(image.labels, taken, image.spacing_mm), step)


def fill_holes(image: LabelImage, labels=None, fill_from=(0,)) -> tuple[LabelImage, CleanupReport]:
    """Fill the holes of each label: regions of `fill_from` labels it encloses (6-connected).

    A hole's voxels take the label of their nearest voxel outside the holes: a hole in the liver
    becomes liver, although the muscle around the liver encloses it too.
    """
    fillable = np.isin(image.labels, fill_from)
    hole = np.zeros(image.labels.shape, dtype=bool)
    for label in present(image, labels):
        mask = image.labels == label
        hole |= ndimage.binary_fill_holes(mask, structure=FACES) & ~mask & fillable
    return finish(image, reassign_nearest(image.labels, hole, image.spacing_mm), "fill holes")


def finish(image: LabelImage, labels: np.ndarray, step: str) -> tuple[LabelImage, CleanupReport]:
    report = CleanupReport(((step, changes(image.labels, labels, image.voxel_volume_mm3)),))
    return replace(image, labels=labels), report


def clean_labels(
    image: LabelImage,
    *,
    largest_component=False,
    fill=False,
    min_island_mm3: float = 0.0,
) -> tuple[LabelImage, CleanupReport]:
    """The clean-up steps asked for, in the order islands, largest component, holes.

    Args:
        largest_component: False, True (every label) or the labels to reduce to one component.
        fill: False, True (every label) or the labels whose holes to fill.
        min_island_mm3: drop components of any label below this volume (0: keep all).
    """
    report = CleanupReport(())
    if min_island_mm3 > 0:
        image, step = drop_islands(image, min_island_mm3)
        report += step
    if largest_component:
        image, step = keep_largest_component(
            image, None if largest_component is True else largest_component
        )
        report += step
    if fill:
        image, step = fill_holes(image, None if fill is True else fill)
        report += step
    return image, report
