"""The config schema: pydantic models that hold SI floats, one module per section.

Dimensional fields convert their input to SI while they validate, using the file's declared units
passed as validation context (`Config.model_validate(data, context={"units": {...}})`). After
validation every dimensional value is an SI float (m, V, V/m, S/m, s, Hz, A, K, rad). Models built
in Python without a units context take bare numbers as SI.

Every section rejects unknown keys and suggests the closest valid one. Models are frozen.

`Config` is what a file says (materials as partial overrides, pairs possibly a generator name);
`ResolvedConfig` (built by `epsim.config.loader`) has every used material in full and every pair
spelled out with its voltage, so that its YAML dump is itself a valid config.

Modules: `base` (quantity fields, `Section`, tagged unions), `scene`, `electrodes`, `protocol`,
`materials`, `physics` (physics, heating, solver), `output` (device, output, optimise), `sweep`,
`config` (`Config`, `ResolvedConfig`). Every public name is re-exported here:
`from epsim.config.schema import Config`.
"""

from epsim.config.schema.base import (
    Angle,
    Direction,
    Fraction,
    Length,
    Name,
    Title,
    PositiveCurrent,
    PositiveField,
    PositiveFrequency,
    PositiveLength,
    PositiveTime,
    PositiveVoltage,
    Real,
    Role,
    Section,
    Sign,
    TAGS_SEEN,
    Vec3,
    nonzero,
    not_bool,
    problem,
    quantity,
    tagged,
    whole,
)
from epsim.config.schema.config import UNION_TAGS, Config, ResolvedConfig
from epsim.config.schema.electrodes import (
    Electrode,
    HexagonalArray,
    NeedleElectrode,
    NeedleRow,
    Plates,
)
from epsim.config.schema.materials import (
    MATERIAL_PARAMETERS,
    PROVENANCE_GROUPS,
    Material,
    MaterialOverride,
    Provenance,
    ProvenanceOverride,
)
from epsim.config.schema.output import Device, EntryRegion, OptimiseBlock, Output
from epsim.config.schema.physics import Heating, NewtonConfig, Physics, PicardConfig, Solver
from epsim.config.schema.protocol import (
    PAIR_GENERATORS,
    Pair,
    PairGenerator,
    PairSpec,
    Protocol,
    Pulses,
    ResolvedProtocol,
)
from epsim.config.schema.scene import (
    BoxDomain,
    BoxStructure,
    CylinderDomain,
    CylinderStructure,
    Domain,
    EllipsoidStructure,
    Layer,
    MeshSettings,
    Scene,
    SphereDomain,
    SphereStructure,
    StlStructure,
    Structure,
    Vessel,
)
from epsim.config.schema.sweep import (
    AxisSpec,
    LatinAxis,
    LinspaceAxis,
    LognormalAxis,
    NormalAxis,
    SweepBlock,
    SweepValue,
    UniformAxis,
    ValuesAxis,
)

__all__ = [
    "Angle",
    "AxisSpec",
    "BoxDomain",
    "BoxStructure",
    "Config",
    "CylinderDomain",
    "CylinderStructure",
    "Device",
    "Direction",
    "Domain",
    "Electrode",
    "EllipsoidStructure",
    "EntryRegion",
    "Fraction",
    "Heating",
    "HexagonalArray",
    "LatinAxis",
    "Layer",
    "Length",
    "LinspaceAxis",
    "LognormalAxis",
    "MATERIAL_PARAMETERS",
    "Material",
    "MaterialOverride",
    "MeshSettings",
    "Name",
    "Title",
    "NeedleElectrode",
    "NeedleRow",
    "NewtonConfig",
    "NormalAxis",
    "OptimiseBlock",
    "Output",
    "PAIR_GENERATORS",
    "PROVENANCE_GROUPS",
    "Pair",
    "PairGenerator",
    "PairSpec",
    "Physics",
    "PicardConfig",
    "Plates",
    "PositiveCurrent",
    "PositiveField",
    "PositiveFrequency",
    "PositiveLength",
    "PositiveTime",
    "PositiveVoltage",
    "Protocol",
    "Provenance",
    "ProvenanceOverride",
    "Pulses",
    "Real",
    "ResolvedConfig",
    "ResolvedProtocol",
    "Role",
    "Scene",
    "Section",
    "Sign",
    "Solver",
    "SphereDomain",
    "SphereStructure",
    "StlStructure",
    "Structure",
    "SweepBlock",
    "SweepValue",
    "TAGS_SEEN",
    "UNION_TAGS",
    "UniformAxis",
    "ValuesAxis",
    "Vec3",
    "Vessel",
    "nonzero",
    "not_bool",
    "problem",
    "quantity",
    "tagged",
    "whole",
]
