"""The `scene:` section: the domain (the tissue), layers, structures, vessels and mesh settings.

Each structure and vessel has a role: `target` (meshed at `mesh.target_size`, coverage reported),
`spare` (needles' active parts must keep out of it) or `tissue`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

from annotated_types import MinLen
from pydantic import Field, model_validator

from epsim.config.schema.base import (
    Direction,
    Name,
    PositiveLength,
    Role,
    Section,
    Vec3,
    problem,
    tagged,
)


class BoxDomain(Section):
    """Axis-aligned box centred at `center` with edge lengths `size`."""

    shape: Literal["box"]
    size: tuple[PositiveLength, PositiveLength, PositiveLength]
    center: Vec3 = (0.0, 0.0, 0.0)
    material: Name


class CylinderDomain(Section):
    """Cylinder along z centred at `center`."""

    shape: Literal["cylinder"]
    radius: PositiveLength
    height: PositiveLength
    center: Vec3 = (0.0, 0.0, 0.0)
    material: Name


class SphereDomain(Section):
    shape: Literal["sphere"]
    radius: PositiveLength
    center: Vec3 = (0.0, 0.0, 0.0)
    material: Name


Domain = tagged((BoxDomain, CylinderDomain, SphereDomain), "shape")


class Layer(Section):
    """A horizontal tissue layer; layers stack from the top surface (z = max) downwards."""

    material: Name
    thickness: PositiveLength


class _Structure(Section):
    name: Name
    material: Name
    role: Role = "tissue"


class SphereStructure(_Structure):
    shape: Literal["sphere"]
    center: Vec3
    radius: PositiveLength


class EllipsoidStructure(_Structure):
    """Axis-aligned ellipsoid with semi-axes `radii`."""

    shape: Literal["ellipsoid"]
    center: Vec3
    radii: tuple[PositiveLength, PositiveLength, PositiveLength]


class BoxStructure(_Structure):
    shape: Literal["box"]
    center: Vec3
    size: tuple[PositiveLength, PositiveLength, PositiveLength]


class CylinderStructure(_Structure):
    shape: Literal["cylinder"]
    center: Vec3
    radius: PositiveLength
    height: PositiveLength
    axis: Direction = (0.0, 0.0, 1.0)


class StlStructure(_Structure):
    """A closed surface from an STL file (path relative to the config file) whose coordinates
    are in `length_unit` (STL files carry no unit)."""

    shape: Literal["stl"]
    file: Path
    length_unit: Literal["m", "cm", "mm", "um"]


Structure = tagged(
    (SphereStructure, EllipsoidStructure, BoxStructure, CylinderStructure, StlStructure), "shape"
)


class Vessel(Section):
    """A tube of radius `radius` along a polyline."""

    name: Name
    points: Annotated[tuple[Vec3, ...], MinLen(2)]
    radius: PositiveLength
    material: Name = "blood"
    role: Role = "spare"


class MeshSettings(Section):
    """Cell sizes (background, in target structures, on electrodes) or a ready mesh file.

    An imported mesh (`file`: .msh, .vtu, .xdmf) states the unit of its coordinates
    (`length_unit`) and may map its region tags (names, or ids as written in the file) to
    materials (`regions`); unmapped regions keep their own names as material names. Electrode
    names must be facet tags of the file.
    """

    size: Optional[PositiveLength] = None
    target_size: Optional[PositiveLength] = None
    electrode_size: Optional[PositiveLength] = None
    file: Optional[Path] = None
    length_unit: Optional[Literal["m", "cm", "mm", "um"]] = None
    regions: dict[str, Name] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _size_or_file(self) -> "MeshSettings":
        if self.size is None and self.file is None:
            raise problem("missing required key (or give scene.mesh.file)", "size")
        if self.file is not None and self.length_unit is None:
            raise problem("an imported mesh needs length_unit (m, cm, mm or um)", "length_unit")
        return self


class Scene(Section):
    """The tissue and what is in it. Names of structures and vessels are unique here; whether
    layers fit the domain and electrodes fit the scene is checked at resolve time by the mesh
    layer (`epsim.config.checks.check_geometry`), where the shapes are defined."""

    domain: Domain
    layers: tuple[Layer, ...] = ()
    structures: tuple[Structure, ...] = ()
    vessels: tuple[Vessel, ...] = ()
    mesh: MeshSettings

    @model_validator(mode="after")
    def _unique_names(self) -> "Scene":
        seen: set[str] = set()
        for key, items in (("structures", self.structures), ("vessels", self.vessels)):
            for item in items:
                if item.name in seen:
                    raise problem(f"the name {item.name!r} is used twice in the scene", key)
                seen.add(item.name)
        return self
