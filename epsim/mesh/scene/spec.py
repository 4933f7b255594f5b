"""The scene spec: what a scene is made of (`Inclusion`, `Hole`), its element sizes
(`MeshSizes`), and the values derived from them (`region_names`, `region_materials`,
`electrode_size`, `inclusion_size`).
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
        refine: regions with a cell size of their own (`epsim.mesh.sizing`: boxes, spheres,
            cylinders, the zone between firing needles), graded out to `size`.
        gradation: growth of the size per unit distance outside the `refine` regions; None:
            `epsim.mesh.sizing.GRADATION`.
    """

    size: float
    inclusion_size: float | None = None
    electrode_size: float | None = None
    grading_distance: float | None = None
    refine: tuple = ()
    gradation: float | None = None

    def __post_init__(self):
        positive_length(self.size, "MeshSizes.size")
        for key in ("inclusion_size", "electrode_size", "grading_distance", "gradation"):
            if getattr(self, key) is not None:
                positive_length(getattr(self, key), f"MeshSizes.{key}")


REGIONS_BY = ("material", "name")
DOMAIN_REGION = "domain"  # the domain's region name when its material names an inclusion


def region_names(domain: Domain, inclusions: Sequence, by: str = "material") -> tuple[str, ...]:
    """The regions of a meshed scene, in the order of `cell_region` ids.

    by="material": the domain material first, then the inclusion materials in order of first
    appearance (inclusions of one material share a region). by="name": one region per part,
    so that two vessels of one material stay apart: the domain (named by its material, or
    `DOMAIN_REGION` when an inclusion has that name), then every inclusion by its name, which
    must be unique.
    """
    if by not in REGIONS_BY:
        raise ValueError(f"regions by {by!r}: use one of {REGIONS_BY}")
    if by == "name":
        names = [inc.name for inc in inclusions]
        if len(set(names)) != len(names):
            raise ValueError(f"inclusion names are not unique: {names}")
        return (DOMAIN_REGION if domain.material in names else domain.material, *names)
    names = [domain.material]
    for inc in inclusions:
        if inc.material not in names:
            names.append(inc.material)
    return tuple(names)


def region_materials(domain: Domain, inclusions: Sequence, by: str = "material") -> tuple[str, ...]:
    """The material of each region of `region_names(domain, inclusions, by)`."""
    if by == "name":
        return (domain.material, *(inc.material for inc in inclusions))
    return region_names(domain, inclusions, by)


def electrode_size(sizes: MeshSizes, holes: Sequence[Hole]) -> float:
    """Size (m) on hole surfaces: `sizes.electrode_size`, else min(size, the smallest needle or
    sphere-hole radius or plate thickness)."""
    features = [h.thickness if isinstance(h, PlateHole) else h.radius for h in holes]
    e = sizes.electrode_size or min([sizes.size] + features)
    return min(e, sizes.size)


def inclusion_size(inc: Inclusion, sizes: MeshSizes) -> float | None:
    """Element size (m) in an inclusion: its `mesh_size`, else `sizes.inclusion_size`; in round
    ones (sphere, ellipsoid, cylinder, tube) at most half the smallest radius (about 12 cells
    around): gmsh cannot mesh a vessel much thinner than its cells (overlapping facets where it
    crosses a face), and at one radius the volume is still 12 % short."""
    size = inc.mesh_size or sizes.inclusion_size
    if isinstance(inc, (SphereInclusion, CylinderInclusion, TubeInclusion)):
        size = min(size or inc.radius / 2, inc.radius / 2)
    elif isinstance(inc, EllipsoidInclusion):
        size = min(size or min(inc.radii) / 2, min(inc.radii) / 2)
    return size
