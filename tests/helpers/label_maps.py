"""Small label maps for the image-scene tests: analytic shapes (world mm) rasterised at voxel
centres on a grid with an oblique affine, so that meshed volumes have an exact reference.

    image, shapes = sphere_tube_labels()     # liver ellipsoid, tumour ball, vessel tube
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from epsim.imaging import LabelImage

LIVER, TUMOUR, VESSEL = 1, 2, 3


@dataclass(frozen=True)
class Shapes:
    """The analytic anatomy (world mm): liver ellipsoid, tumour ball, vessel cylinder along y."""

    centre: np.ndarray  # liver centre
    liver_radii: tuple[float, float, float]
    tumour_centre: np.ndarray
    tumour_radius: float
    vessel_axis_point: np.ndarray  # a point on the vessel's axis (the axis runs along world y)
    vessel_radius: float

    @property
    def tumour_volume(self) -> float:
        return 4.0 / 3.0 * math.pi * self.tumour_radius**3

    def vessel_volume(self, length: float) -> float:
        return math.pi * self.vessel_radius**2 * length


def oblique_affine(n: int, spacing: float, centre, angles=(12.0, -8.0, 20.0)) -> np.ndarray:
    """(4, 4) voxel -> world mm: rotated by `angles` (degrees, xyz), voxel (n-1)/2 at `centre`."""
    rotation = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    affine = np.eye(4)
    affine[:3, :3] = rotation * spacing
    affine[:3, 3] = np.asarray(centre, float) - affine[:3, :3] @ np.full(3, (n - 1) / 2)
    return affine


def sphere_tube_labels(n: int = 70, spacing: float = 1.0, centre=(5.0, -3.0, 2.0),
                       tumour_radius: float = 10.0, vessel_radius: float = 3.5,
                       angles=(12.0, -8.0, 20.0)) -> tuple[LabelImage, Shapes]:
    """A liver ellipsoid (30, 26, 24 mm) holding a tumour ball, and a vessel tube along world y
    through the liver and out of it, on an n^3 grid of `spacing` mm with an oblique affine."""
    c = np.asarray(centre, float)
    shapes = Shapes(c, (30.0, 26.0, 24.0), c + [2.0, 0.0, 0.0], tumour_radius,
                    c + [-14.0, 0.0, 4.0], vessel_radius)
    affine = oblique_affine(n, spacing, c, angles)
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    labels = np.zeros(len(world), np.uint8)
    labels[np.sum(((world - c) / shapes.liver_radii) ** 2, axis=1) < 1.0] = LIVER
    labels[np.linalg.norm(world - shapes.tumour_centre, axis=1) < tumour_radius] = TUMOUR
    d = world - shapes.vessel_axis_point
    labels[np.hypot(d[:, 0], d[:, 2]) < vessel_radius] = VESSEL
    return LabelImage(labels.reshape(n, n, n), affine, source="sphere_tube_labels"), shapes
