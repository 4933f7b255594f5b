"""The config schema: pydantic models that hold SI floats.

Dimensional fields convert their input to SI while they validate, using the file's declared units
passed as validation context (`Config.model_validate(data, context={"units": {...}})`). After
validation every dimensional value is an SI float (m, V, V/m, S/m, s, Hz, A, K, rad). Models built
in Python without a units context take bare numbers as SI.

Every section rejects unknown keys and suggests the closest valid one. Models are frozen.

`Config` is what a file says (materials as partial overrides, pairs possibly a generator name);
`ResolvedConfig` (built by `epsim.config.loader`) has every used material in full and every pair
spelled out with its voltage, so that its YAML dump is itself a valid config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args

from annotated_types import Ge, Gt, Le, MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from epsim.config.units import UnitError, check_units_block, to_si, unknown_name_message


def _problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A validation error with our own message, optionally one key below the current location."""
    if key is None:
        return PydanticCustomError("epsim", "{message}", {"message": message})
    return PydanticCustomError("at_key", "{message}", {"message": message, "key": key})


Sign = Optional[Literal["positive", "nonnegative"]]


def quantity(kind: str, sign: Sign = None) -> Any:
    """A float field of a kind of quantity (see units.SI_UNITS), converted to SI on validation.

    Args:
        kind: the quantity kind.
        sign: "positive" (> 0), "nonnegative" (>= 0) or None (any finite value).
    """

    def convert(value: Any, info: ValidationInfo) -> float:
        units = (info.context or {}).get("units")
        try:
            result = to_si(value, kind, units)
        except UnitError as exc:
            raise _problem(str(exc)) from None
        if (sign == "positive" and result <= 0) or (sign == "nonnegative" and result < 0):
            raise _problem(f"must be {'> 0' if sign == 'positive' else '>= 0'}, got {value!r}")
        return result

    return Annotated[float, BeforeValidator(convert)]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise _problem(f"expected a number, got {value!r}")
    return value


Real = Annotated[float, BeforeValidator(_not_bool)]
"""A dimensionless number (YAML's true/false are not numbers)."""


def whole(minimum: int) -> Any:
    """A whole number >= minimum (no floats, no booleans)."""
    return Annotated[int, Strict(), Ge(minimum)]


Fraction = Annotated[Real, Gt(0), Le(1)]
"""A number in (0, 1]."""

Length = quantity("length")
PositiveLength = quantity("length", "positive")
PositiveVoltage = quantity("voltage", "positive")
PositiveField = quantity("field", "positive")
PositiveTime = quantity("time", "positive")
PositiveFrequency = quantity("frequency", "positive")
PositiveCurrent = quantity("current", "positive")
Angle = quantity("angle")

Vec3 = tuple[Length, Length, Length]
"""A point, each coordinate a length."""


def _nonzero(vector: tuple[float, float, float]) -> tuple[float, float, float]:
    if sum(c * c for c in vector) == 0.0:
        raise ValueError("a direction must not be the zero vector")
    return vector


Direction = Annotated[tuple[Real, Real, Real], AfterValidator(_nonzero)]
"""A direction (dimensionless, any non-zero length; normalised where used)."""

Name = Annotated[str, MinLen(1)]
Role = Literal["target", "spare", "tissue"]

_TAGS: set[str] = set()


def tagged(members: tuple[type, ...], key: str, default: Optional[str] = None) -> Any:
    """A union of sections told apart by the value of `key` (a Literal field of each member).

    A missing key takes `default` when there is one; a missing or unknown value is reported with
    the valid values.
    """
    tags = [get_args(member.model_fields[key].annotation)[0] for member in members]
    _TAGS.update(tags)

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            if key not in value:
                if default is None:
                    raise _problem(f"missing required key (one of: {', '.join(tags)})", key)
                value = {**value, key: default}
            elif value[key] not in tags:
                raise _problem(unknown_name_message(key, value[key], tags), key)
        return value

    return Annotated[Union[members], Field(discriminator=key), BeforeValidator(check)]


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected with a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if not isinstance(key, str) or key not in cls.model_fields:
                    raise _problem(unknown_name_message("key", key, cls.model_fields), str(key))
        return data


# ---------------------------------------------------------------- scene


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
            raise _problem("missing required key (or give scene.mesh.file)", "size")
        if self.file is not None and self.length_unit is None:
            raise _problem("an imported mesh needs length_unit (m, cm, mm or um)", "length_unit")
        return self


class Scene(Section):
    domain: Domain
    layers: tuple[Layer, ...] = ()
    structures: tuple[Structure, ...] = ()
    vessels: tuple[Vessel, ...] = ()
    mesh: MeshSettings

    @model_validator(mode="after")
    def _check(self) -> "Scene":
        if self.layers:
            if isinstance(self.domain, SphereDomain):
                raise _problem("layers need a flat top surface (box or cylinder domain)", "layers")
            domain = self.domain
            height = domain.size[2] if isinstance(domain, BoxDomain) else domain.height
            total = sum(layer.thickness for layer in self.layers)
            if total >= height:
                raise _problem(
                    f"the layers are {total * 1e3:.6g} mm thick in total, not less than the "
                    f"domain height {height * 1e3:.6g} mm",
                    "layers",
                )
        seen: set[str] = set()
        for key, items in (("structures", self.structures), ("vessels", self.vessels)):
            for item in items:
                if item.name in seen:
                    raise _problem(f"the name {item.name!r} is used twice in the scene", key)
                seen.add(item.name)
        return self


# ---------------------------------------------------------------- materials

# parameter -> (quantity kind or None for dimensionless, provenance group, sign, meaning)
MATERIAL_PARAMETERS: dict[str, tuple[Optional[str], str, Sign, str]] = {
    "sigma0": ("conductivity", "electrical", "positive", "conductivity of intact tissue"),
    "sigma1": ("conductivity", "electrical", "positive", "conductivity fully permeabilised"),
    "e_rev": ("field", "electrical", "positive", "reversible electroporation threshold"),
    "e_irr": ("field", "electrical", "positive", "irreversible electroporation threshold"),
    "k": ("thermal_conductivity", "thermal", "positive", "thermal conductivity"),
    "rho": ("density", "thermal", "positive", "density"),
    "c": ("specific_heat", "thermal", "positive", "specific heat capacity"),
    "alpha": ("temperature_coefficient", "thermal", "nonnegative", "sigma temperature coefficient"),
    "w_b": ("perfusion", "thermal", "nonnegative", "blood perfusion rate (Pennes)"),
    "q_m": ("power_density", "thermal", "nonnegative", "metabolic heat"),
    "ec0": ("field", "survival", "positive", "Peleg-Fermi critical field Ec0"),
    "a0": ("field", "survival", "positive", "Peleg-Fermi width A0"),
    "k1": (None, "survival", "nonnegative", "Peleg-Fermi pulse-number decay of Ec"),
    "k2": (None, "survival", "nonnegative", "Peleg-Fermi pulse-number decay of A"),
}
PROVENANCE_GROUPS = ("electrical", "thermal", "survival")


class Provenance(Section):
    """Where each group of a material's parameters comes from."""

    electrical: str
    thermal: str
    survival: str


class ProvenanceOverride(Section):
    electrical: Optional[str] = None
    thermal: Optional[str] = None
    survival: Optional[str] = None


def _parameter_type(name: str) -> Any:
    kind, _, sign, _ = MATERIAL_PARAMETERS[name]
    if kind is not None:
        return quantity(kind, sign)
    return Annotated[Real, Gt(0) if sign == "positive" else Ge(0)]


class _MaterialChecks(Section):
    @model_validator(mode="after")
    def _ordered(self) -> Any:
        sigma0, sigma1 = getattr(self, "sigma0", None), getattr(self, "sigma1", None)
        e_rev, e_irr = getattr(self, "e_rev", None), getattr(self, "e_irr", None)
        if sigma0 is not None and sigma1 is not None and sigma1 < sigma0:
            raise _problem(f"sigma1 ({sigma1:g} S/m) is below sigma0 ({sigma0:g} S/m)")
        if e_rev is not None and e_irr is not None and e_irr <= e_rev:
            raise _problem(
                f"e_irr ({e_irr * 1e-2:g} V/cm) must be above e_rev ({e_rev * 1e-2:g} V/cm)"
            )
        return self


Material = create_model(
    "Material",
    __base__=_MaterialChecks,
    __doc__="A tissue's full parameter set, SI units (see MATERIAL_PARAMETERS).",
    **{
        name: (_parameter_type(name), Field(description=spec[3]))
        for name, spec in MATERIAL_PARAMETERS.items()
    },
    provenance=(Provenance, ...),
)

MaterialOverride = create_model(
    "MaterialOverride",
    __base__=_MaterialChecks,
    __doc__="A config's `materials:` entry: any parameters, on top of `base` or the library entry "
    "of the same name.",
    base=(Optional[Name], None),
    **{
        name: (Optional[_parameter_type(name)], Field(None, description=spec[3]))
        for name, spec in MATERIAL_PARAMETERS.items()
    },
    provenance=(Optional[ProvenanceOverride], None),
)


# ---------------------------------------------------------------- electrodes


class NeedleElectrode(Section):
    """One needle: conducting for `active_length` from `tip` towards `entry`, insulated above."""

    type: Literal["needle"]
    name: Name
    tip: Vec3
    entry: Vec3
    diameter: PositiveLength
    active_length: PositiveLength


class NeedleRow(Section):
    """`count` parallel needles, `spacing` apart along `direction`; the first tip at `tip`.

    Needles are named `<name>_0` ... `<name>_<count-1>`. `axis` points from the tips towards the
    handles; `length` is the needle length from tip to entry (default: to where the axis leaves
    the domain).
    """

    type: Literal["needle_row"]
    name: Name
    tip: Vec3
    direction: Direction
    axis: Direction = (0.0, 0.0, 1.0)
    count: whole(2)
    spacing: PositiveLength
    diameter: PositiveLength
    active_length: PositiveLength
    length: Optional[PositiveLength] = None


class HexagonalArray(Section):
    """Seven parallel needles: `<name>_0` at the centre, `<name>_1..6` on a regular hexagon.

    Outer needle k sits at `circumradius` from the centre, at angle rotation + (k - 1) * 60 deg
    about `axis`, counted from the projection of the x axis (or the y axis when `axis` is along x)
    onto the plane perpendicular to `axis`.
    """

    type: Literal["hexagonal_array"]
    name: Name
    center_tip: Vec3
    axis: Direction = (0.0, 0.0, 1.0)
    circumradius: PositiveLength
    diameter: PositiveLength
    active_length: PositiveLength
    rotation: Angle = 0.0
    length: Optional[PositiveLength] = None


class Plates(Section):
    """Two parallel plates `<name>_a` and `<name>_b`, `gap` apart along `normal` (a to b).

    `size` is (width, height) of each plate; `up` is the in-plane direction of `height`
    (default: the projection of z, or of y when `normal` is along z).
    """

    type: Literal["plates"]
    name: Name
    center: Vec3
    normal: Direction
    gap: PositiveLength
    size: tuple[PositiveLength, PositiveLength]
    up: Optional[Direction] = None


Electrode = tagged((NeedleElectrode, NeedleRow, HexagonalArray, Plates), "type")


# ---------------------------------------------------------------- protocol

PAIR_GENERATORS = ("adjacent", "all_pairs", "hexagonal_cycle")
PairGenerator = Literal["adjacent", "all_pairs", "hexagonal_cycle"]


class Pulses(Section):
    count: whole(1)
    width: PositiveTime
    rate: PositiveFrequency


class PairSpec(Section):
    """A pair as written: the voltage may come from `protocol.voltage_to_distance` instead."""

    anode: Name
    cathode: Name
    voltage: Optional[PositiveVoltage] = None


class Pair(Section):
    """A resolved pair: anode at `voltage`, cathode at 0 V."""

    anode: Name
    cathode: Name
    voltage: PositiveVoltage


def _pairs_tag(value: Any) -> str:
    return "generator" if isinstance(value, str) else "list"


class Protocol(Section):
    """Pulses and the pair sequence: a list of pairs or a generator name.

    An explicit pair voltage wins over `voltage_to_distance` (V/m) x needle spacing.
    """

    pulses: Pulses
    pairs: Annotated[
        Union[
            Annotated[Annotated[tuple[PairSpec, ...], MinLen(1)], Tag("list")],
            Annotated[PairGenerator, Tag("generator")],
        ],
        Discriminator(_pairs_tag),
    ]
    voltage_to_distance: Optional[PositiveField] = None

    @field_validator("pairs", mode="before")
    @classmethod
    def _known_generator(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in PAIR_GENERATORS:
            raise _problem(unknown_name_message("pair generator", value, PAIR_GENERATORS))
        return value


class ResolvedProtocol(Protocol):
    pairs: Annotated[tuple[Pair, ...], MinLen(1)]


# ---------------------------------------------------------------- physics, solver, device, output


class Physics(Section):
    """Model choices. `idle_electrodes`: needles not in the firing pair are floating conductors
    (zero net current) or absent from the model."""

    conductivity: Literal["linear", "nonlinear"] = "nonlinear"
    model: Literal["smooth_step", "ramp", "logistic"] = "smooth_step"
    pair_mode: Literal["independent", "max_field_memory"] = "independent"
    idle_electrodes: Literal["floating", "absent"] = "floating"
    survival_rule: Literal["independent_pairs", "equivalent_pulses"] = "independent_pairs"


class Heating(Section):
    """Joule heating over the pulse train (Pennes bioheat, epsim.heating). Its presence turns
    heating on. `budget`: the longest compute time the run may take; a longer train is refused
    before it starts. `heat_sink`: electrodes held at body temperature."""

    heat_sink: bool = False
    substeps: whole(1) = 4
    pause_steps: whole(1) = 4
    budget: PositiveTime = 600.0


class Newton(Section):
    """Newton on the convex energy (DESIGN.md section 2)."""

    kind: Literal["newton"] = "newton"
    rtol: Fraction = 1e-8
    max_iterations: whole(1) = 50
    preconditioner: Literal["amg", "jacobi"] = "amg"


class Picard(Section):
    """Damped fixed-point iteration sigma <- sigma(|E|) (the sequential model of Sel 2005)."""

    kind: Literal["picard"]
    rtol: Fraction = 1e-8
    max_iterations: whole(1) = 200
    preconditioner: Literal["amg", "jacobi"] = "amg"
    damping: Fraction = 0.5


Solver = tagged((Newton, Picard), "kind", default="newton")


class Device(Section):
    """Generator limits; None means not checked."""

    max_voltage: Optional[PositiveVoltage] = None
    max_current: Optional[PositiveCurrent] = None


class Output(Section):
    file: Optional[Path] = None
    paraview: bool = True
    render: bool = False


# ---------------------------------------------------------------- sweep


def _number_or_text(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, list, tuple)):
        raise _problem(f"expected a number, a value with a unit or a list of them, got {value!r}")
    return value


SweepValue = Annotated[Any, BeforeValidator(_number_or_text)]
"""An axis value as written: a number (in the file's units), a string with a unit, or a list of
them (vector fields). Converted by the normal config machinery once it is put into a point."""


class ValuesAxis(Section):
    """A grid axis over the given values."""

    kind: Literal["values"]
    values: Annotated[tuple[SweepValue, ...], MinLen(1)]


class LinspaceAxis(Section):
    """A grid axis of `num` evenly spaced values from `start` to `stop` (both included)."""

    kind: Literal["linspace"]
    start: SweepValue
    stop: SweepValue
    num: whole(1)


class UniformAxis(Section):
    """Random, uniform on [low, high]."""

    kind: Literal["uniform"]
    low: SweepValue
    high: SweepValue


class NormalAxis(Section):
    """Random, normal with `mean` and standard deviation `std`."""

    kind: Literal["normal"]
    mean: SweepValue
    std: SweepValue


class LognormalAxis(Section):
    """Random, lognormal: log(value / median) is normal with standard deviation `sigma`."""

    kind: Literal["lognormal"]
    median: SweepValue
    sigma: Annotated[Real, Gt(0)]


class LatinAxis(Section):
    """Latin hypercube on [low, high], stratified jointly with the other `latin` axes."""

    kind: Literal["latin"]
    low: SweepValue
    high: SweepValue


def _axis_shorthand(value: Any) -> Any:
    """A bare list is a values axis; `{values: [...]}` needs no kind."""
    if isinstance(value, (list, tuple)):
        return {"kind": "values", "values": value}
    if isinstance(value, dict) and "kind" not in value and "values" in value:
        return {"kind": "values", **value}
    return value


AxisSpec = Annotated[
    tagged(
        (ValuesAxis, LinspaceAxis, UniformAxis, NormalAxis, LognormalAxis, LatinAxis), "kind"
    ),
    BeforeValidator(_axis_shorthand),
]


class SweepBlock(Section):
    """A sweep over config fields (`epsim sweep`).

    `axes` maps key paths (`materials.tumour.sigma0`, `protocol.pairs[0].voltage`,
    `electrodes[1].tip`) to axis specs. Grid axes (values, linspace) combine as a product; the
    random axes (uniform, normal, lognormal) and the Latin-hypercube axes are drawn together,
    `samples` rows from `seed`; `points` lists explicit points (key path -> value). The plan is
    grid x samples x points. Values are in the file's units like the rest of the config.
    `epsim run` ignores this block, and the resolved config never contains it.
    """

    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    points: tuple[dict[str, SweepValue], ...] = ()
    samples: Optional[whole(1)] = None
    seed: whole(0) = 0
    chunk_size: whole(1) = 8



# ---------------------------------------------------------------- treatment planning


class EntryRegion(Section):
    """Where needles may enter the tissue: within `radius` of `center` (a point on the skin)."""

    center: Vec3
    radius: PositiveLength


class OptimiseBlock(Section):
    """Treatment planning (`epsim optimise`): what may move, what must hold, how long to search.

    The config's electrodes and pair voltages are the starting plan. Coverage is of the target
    structures plus `target_margin` at the target material's E_rev (ect, calcium, get) or E_irr
    (ire). Voltages stay within [min_voltage, max_voltage] (default: device.max_voltage),
    currents below device.max_current. `epsim run` ignores this block, and the resolved config
    never contains it.
    """

    therapy: Literal["ect", "calcium", "get", "ire"] = "ect"
    target_margin: quantity("length", "nonnegative") = 0.0
    coverage_goal: Fraction = 0.99
    depth: bool = True
    tilt: bool = False
    parallel: bool = True
    min_spacing: Optional[PositiveLength] = None
    max_spacing: Optional[PositiveLength] = None
    keep_out: quantity("length", "nonnegative") = 0.0
    entry_region: Optional[EntryRegion] = None
    min_voltage: quantity("voltage", "nonnegative") = 0.0
    max_voltage: Optional[PositiveVoltage] = None
    linear_steps: whole(0) = 40
    nonlinear_steps: whole(0) = 5
    coarse_factor: Annotated[Real, Ge(1)] = 1.5
    starts: whole(1) = 1
    jitter: PositiveLength = 1e-3
    step_position: PositiveLength = 0.6e-3
    step_voltage: PositiveVoltage = 80.0
    step_tilt: Annotated[Real, Gt(0)] = 0.01
    halo: PositiveLength = 10e-3
    baseline: bool = True
    seed: whole(0) = 0


# ---------------------------------------------------------------- the whole file


class Config(Section):
    """A config as written, values in SI."""

    name: Name
    units: dict[str, str] = Field(default_factory=dict)
    scene: Scene
    materials: dict[str, MaterialOverride] = Field(default_factory=dict)
    electrodes: Annotated[tuple[Electrode, ...], MinLen(1)]
    protocol: Protocol
    physics: Physics = Physics()
    solver: Solver = Newton()
    device: Device = Device()
    output: Output = Output()
    heating: Optional[Heating] = None
    sweep: Optional[SweepBlock] = Field(None, exclude=True)
    optimise: Optional[OptimiseBlock] = Field(None, exclude=True)

    @field_validator("units", mode="before")
    @classmethod
    def _check_units(cls, value: Any) -> Any:
        try:
            return check_units_block(value)
        except UnitError as exc:
            raise _problem(str(exc), exc.key) from None


class ResolvedConfig(Config):
    """A config with every used material in full and every pair explicit, SI throughout."""

    materials: dict[str, Material]
    protocol: ResolvedProtocol


# Discriminator values pydantic puts into error locations (not keys of a file).
UNION_TAGS = frozenset(_TAGS | {"list", "generator"})
