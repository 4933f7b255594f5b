"""Labels as smooth functions of world position: `LabelField`, the smoothed indicator of each
region of a label map, read anywhere in the world by trilinear interpolation.

    field = label_field(image, (1, 2, 3), lo, hi)   # background + three labels, crop box in m
    region = field.region_at(points)                 # (n,) 0: background, k: the k-th label

Each region's indicator (1 in its voxels, 0 elsewhere) is smoothed with a Gaussian of
`sigma` voxels; a point belongs to the region whose smoothed indicator is largest there. The
interfaces are then smooth surfaces half-way between voxel centres of different labels rather
than voxel staircases; the smoothing moves a convex interface inwards (measured on a vessel of
3.5 voxels radius: -1.6 % of its volume at sigma 0.3, -3.6 % at 0.6, -8.5 % at 1). Voxels outside the image are background. Pure numpy and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

from epsim.imaging.labelmap import LabelImage

SMOOTHING_VOXELS = 0.4  # Gaussian sigma of the indicators (voxels); 0.6 shrank a vessel by 4 %
MARGIN_VOXELS = 3  # voxels kept around the crop box, so smoothing sees the labels beyond it


@dataclass(frozen=True)
class LabelField:
    """Smoothed region indicators on a block of the image's voxels.

    Attributes:
        channels: (n_regions, ni, nj, nk) float32; channel 0 is the background (voxels whose
            label is not one of `values`), channel k the label `values[k - 1]`.
        values: the labels of channels 1...
        world_to_index: (4, 4) world point (m, homogeneous) -> fractional index into the block.
    """

    channels: np.ndarray
    values: tuple[int, ...]
    world_to_index: np.ndarray

    def indicators_at(self, points) -> np.ndarray:
        """(n_regions, n) smoothed indicators at points (n, 3) m (background 1 outside the
        image)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        index = (p @ self.world_to_index[:3, :3].T + self.world_to_index[:3, 3]).T
        return np.stack([
            ndimage.map_coordinates(c, index, order=1, mode="grid-constant", cval=float(k == 0))
            for k, c in enumerate(self.channels)
        ])

    def region_at(self, points) -> np.ndarray:
        """(n,) region index at points (n, 3) m: 0 background, k the label `values[k - 1]`."""
        return np.argmax(self.indicators_at(points), axis=0).astype(np.int32)


def voxel_block(image: LabelImage, lo, hi, margin: int = MARGIN_VOXELS) -> tuple[slice, ...]:
    """The index block of the image's voxels whose centres can matter inside the world box
    [lo, hi] (m): the box's corners in voxel indices, widened by `margin` voxels, clipped to the
    image (possibly empty)."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                        for z in (lo[2], hi[2])]) * 1e3
    index = image.voxel_index(corners)
    start = np.floor(index.min(axis=0)).astype(int) - margin
    stop = np.ceil(index.max(axis=0)).astype(int) + margin + 1
    shape = np.asarray(image.labels.shape)
    start, stop = np.clip(start, 0, shape), np.clip(stop, 0, shape)
    return tuple(slice(int(a), int(max(a, b))) for a, b in zip(start, stop))


def label_field(image: LabelImage, values: Sequence[int], lo, hi,
                sigma: float = SMOOTHING_VOXELS) -> LabelField:
    """The smoothed indicators of `values` (and of the background) near the world box [lo, hi].

    Args:
        image: the label map.
        values: the labels that become regions, in region order 1, 2, ...
        lo, hi: (3,) corners of the world box (m) that will be asked about.
        sigma: Gaussian smoothing in voxels (0: trilinear interpolation of the raw indicators).
    """
    block = voxel_block(image, lo, hi, MARGIN_VOXELS + int(np.ceil(3 * sigma)))
    labels = image.labels[block]
    channels = np.empty((len(values) + 1, *labels.shape), dtype=np.float32)
    inside = np.zeros(labels.shape, dtype=bool)
    for k, value in enumerate(values, start=1):
        mask = labels == value
        inside |= mask
        channels[k] = mask
    channels[0] = ~inside
    if sigma > 0:
        for c in channels:  # in place; outside the block counts as background (cval 1 / 0)
            ndimage.gaussian_filter(c, sigma, output=c, mode="nearest")
    offset = np.eye(4)
    offset[:3, 3] = [-s.start for s in block]
    to_index = offset @ np.linalg.inv(image.affine) @ np.diag([1e3, 1e3, 1e3, 1.0])
    return LabelField(channels, tuple(int(v) for v in values), to_index)


def labelled_extent(image: LabelImage, values: Sequence[int] | None = None) -> np.ndarray:
    """(2, 3) world box (m) holding every voxel (whole voxels, corners) whose label is one of
    `values` (None: any non-zero label); raises ValueError when there is none."""
    mask = image.labels != 0 if values is None else np.isin(image.labels, list(values))
    found = np.argwhere(mask)
    if len(found) == 0:
        raise ValueError("no labelled voxels")
    a, b = found.min(axis=0) - 0.5, found.max(axis=0) + 0.5
    corners = np.array([[x, y, z] for x in (a[0], b[0]) for y in (a[1], b[1])
                        for z in (a[2], b[2])])
    world = image.world_mm(corners) * 1e-3
    return np.stack([world.min(axis=0), world.max(axis=0)])


__all__ = ["LabelField", "MARGIN_VOXELS", "SMOOTHING_VOXELS", "label_field", "labelled_extent",
           "voxel_block"]
