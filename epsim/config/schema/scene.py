"""The `scene:` section: the domain (the tissue), layers, structures, vessels and mesh settings.

Each structure and vessel has a role: `target` (meshed at `mesh.target_size`, coverage reported),
`spare` (needles' active parts must keep out of it) or `tissue`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from annotated_types import MinLen
from annotated_types import Ge
from pydantic import BeforeValidator, Field, model_validator

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


class _Refine(Section):
    size: PositiveLength  # the cell size inside the region


class RefineBox(_Refine):
    """An axis-aligned box of edge lengths `edges` centred at `center`."""

    shape: Literal["box"]
    center: Vec3
    edges: tuple[PositiveLength, PositiveLength, PositiveLength]

    @model_validator(mode="before")
    @classmethod
    def _size_is_the_cell_size(cls, data):
        if isinstance(data, dict) and isinstance(data.get("size"), (list, tuple)):
            raise problem("size is the cell size; a box's edge lengths go under edges", "size")
        return data


class RefineSphere(_Refine):
    shape: Literal["sphere"]
    center: Vec3
    radius: PositiveLength


class RefineCylinder(_Refine):
    shape: Literal["cylinder"]
    center: Vec3
    radius: PositiveLength
    height: PositiveLength
    axis: Direction = (0.0, 0.0, 1.0)


Refine = tagged((RefineBox, RefineSphere, RefineCylinder), "shape")


def relative_accuracy(value):
    """A relative accuracy: "2 %" (text with a percent sign) or a fraction (0.02), in (0, 0.5]."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.endswith("%"):
        try:
            value = float(text[:-1]) / 100.0
        except ValueError:
            raise problem(f"expected a percentage such as '2 %', got {text!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise problem(f"expected a percentage such as '2 %' (or 0.02), got {value!r}")
    if not 0.0 < value <= 0.5:
        raise problem(f"must be above 0 % and at most 50 %, got {value!r}")
    return float(value)


Accuracy = Annotated[float, BeforeValidator(relative_accuracy)]


class MeshSettings(Section):
    """Cell sizes (background, in target structures, on electrodes) or a ready mesh file.

    `accuracy` (e.g. "2 %") asks for sizes meant to keep pair currents within that fraction (and
    threshold extents within about 0.5 mm) of converged values: sizes left out come from the
    rule of `epsim.mesh.sizing`, and the volume between firing needles is refined (docs/
    accuracy.md, with the study's cases and their margins). Leaving out `electrode_size`
    means `accuracy: 2 %`. `refine`: boxes, spheres and cylinders meshed at their own `size`,
    with no material of their own.

    An imported mesh (`file`: .msh, .vtu, .xdmf) states the unit of its coordinates
    (`length_unit`) and may map its region tags (names, or ids as written in the file) to
    materials (`regions`); unmapped regions keep their own names as material names. Electrode
    names must be facet tags of the file.
    """

    size: Optional[PositiveLength] = None
    target_size: Optional[PositiveLength] = None
    electrode_size: Optional[PositiveLength] = None
    accuracy: Optional[Accuracy] = None
    refine: tuple[Refine, ...] = ()
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


def label_value(value):
    """A label value: an integer, or its digits as text (JSON and resolved YAML write keys as
    text); booleans and fractions are refused."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise problem(f"a label is a whole number >= 1, got {value!r}")
    return value


LabelValue = Annotated[int, BeforeValidator(label_value), Ge(1)]


class LabelEntry(Section):
    """One label of an image scene: its region's name (default: the material) and role."""

    name: Optional[Name] = None
    material: Name
    role: Role = "tissue"


class DicomImage(Section):
    """A DICOM CT series (folder) and the RTSTRUCT whose contours become labels."""

    dicom: Path
    rtstruct: Path


class Crop(Section):
    """An axis-aligned box in the image's world coordinates (RAS+)."""

    center: Vec3
    size: tuple[PositiveLength, PositiveLength, PositiveLength]


class Cleanup(Section):
    """Clean-up of the label map before anything uses it, in this order: components of any
    label smaller than `min_island_mm3` become their neighbours' label, every label keeps its
    largest connected component, holes are filled. Each change is reported on stderr."""

    min_island_mm3: Annotated[float, Ge(0)] = 0.0
    largest_component: bool = False
    fill_holes: bool = False


class ImageSection(Section):
    """Anatomy from a label map (NIfTI file, or DICOM + RTSTRUCT): `labels` maps label values
    to materials (or {name, material, role}); voxels of other labels, and the crop box beyond
    the image, are `background`. `crop`: the meshed box (default: the labelled extent);
    `cleanup`: optional clean-up of the labels."""

    file: Union[Path, DicomImage]
    labels: Annotated[dict[LabelValue, Union[Name, LabelEntry]], MinLen(1)]
    background: Name
    crop: Optional[Crop] = None
    cleanup: Optional[Cleanup] = None

    def entries(self) -> tuple[tuple[int, "LabelEntry"], ...]:
        """(label value, its entry), in the table's order (a bare material as an entry)."""
        return tuple(
            (value, LabelEntry(material=e) if isinstance(e, str) else e)
            for value, e in self.labels.items()
        )


class Scene(Section):
    """The tissue and what is in it: a `domain` with layers, structures and vessels, or an
    `image` (a label map). Names of structures and vessels are unique here; whether layers fit
    the domain and electrodes fit the scene is checked at resolve time by the mesh layer
    (`epsim.config.checks.check_geometry`), where the shapes are defined."""

    domain: Optional[Domain] = None
    image: Optional[ImageSection] = None
    layers: tuple[Layer, ...] = ()
    structures: tuple[Structure, ...] = ()
    vessels: tuple[Vessel, ...] = ()
    mesh: MeshSettings

    @model_validator(mode="after")
    def _unique_names(self) -> "Scene":
        if (self.domain is None) == (self.image is None):
            raise problem("give either domain (shapes) or image (a label map)")
        if self.image is not None:
            for key in ("layers", "structures", "vessels", "file"):
                source = self.mesh if key == "file" else self
                if getattr(source, key):
                    where = "mesh.file" if key == "file" else key
                    raise problem(f"an image scene takes its anatomy from the label map: no "
                                  f"{where}", "image")
            names = [e.name or e.material for _, e in self.image.entries()]
            if len(set(names)) != len(names):
                raise problem(f"region names of the labels are not unique: {names} (give "
                              "name: to tell labels of one material apart)", "image")
        seen: set[str] = set()
        for key, items in (("structures", self.structures), ("vessels", self.vessels)):
            for item in items:
                if item.name in seen:
                    raise problem(f"the name {item.name!r} is used twice in the scene", key)
                seen.add(item.name)
        return self
