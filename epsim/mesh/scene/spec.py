"""The scene spec: what a scene is made of (`Inclusion`, `Hole`), its element sizes
(`MeshSizes`), and the values derived from them (`region_names`, `electrode_size`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from epsim.mesh.scene.electrodes import Hole, PlateHole
from epsim.mesh.scene.geometry import positive_length
from epsim.mesh.scene.shapes import (
    BoxInclusion,
    CylinderInclusion,
    Domain,
    EllipsoidInclusion,
    SphereInclusion,
    TubeInclusion,
)
from epsim.mesh.scene.stl import StlInclusion

# Where inclusions overlap, the later one wins (see `epsim.mesh.scene.shapes`).
Inclusion = Union[
    SphereInclusion,
    EllipsoidInclusion,
    CylinderInclusion,
    BoxInclusion,
    TubeInclusion,
    StlInclusion,
]


@dataclass(frozen=True)
class MeshSizes:
    """Target element sizes, metres.

    Attributes:
        size: size far from electrodes and outside inclusions.
        inclusion_size: constant size inside (and on) inclusions that have no `mesh_size` of
            their own; None: `size`. Where inclusions overlap, the size of the one that wins.
            Sizes are capped at `size`, and in round inclusions (sphere, ellipsoid, cylinder,
            tube) at half their smallest radius, so that thin vessels stay meshable.
        electrode_size: size on hole surfaces; None: min(size, smallest hole radius).
        grading_distance: distance from the hole surfaces over which the size grows linearly
            from `electrode_size` to `size`; None: 3 * (size - electrode_size).
    """

    size: float
    inclusion_size: float | None = None
    electrode_size: float | None = None
    grading_distance: float | None = None

    def __post_init__(self):
        positive_length(self.size, "MeshSizes.size")
        for key in ("inclusion_size", "electrode_size", "grading_distance"):
            if getattr(self, key) is not None:
                positive_length(getattr(self, key), f"MeshSizes.{key}")


def region_names(domain: Domain, inclusions: Sequence) -> tuple[str, ...]:
    """Domain material first, then inclusion materials in order of first appearance."""
    names = [domain.material]
    for inc in inclusions:
        if inc.material not in names:
            names.append(inc.material)
    return tuple(names)


def electrode_size(sizes: MeshSizes, holes: Sequence[Hole]) -> float:
    """Size (m) on hole surfaces: `sizes.electrode_size`, else min(size, the smallest needle or
    sphere-hole radius or plate thickness)."""
    features = [h.thickness if isinstance(h, PlateHole) else h.radius for h in holes]
    e = sizes.electrode_size or min([sizes.size] + features)
    return min(e, sizes.size)
