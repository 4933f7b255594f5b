"""The config edge: YAML and units in, validated SI models out.

    from epsim.config import load_config
    cfg = load_config("plan.yaml")      # ResolvedConfig: SI floats, full materials, explicit pairs
    needles = needle_axes(cfg)          # individual needles (tip, entry, radius, active length)
    domain = mesh_domain(cfg)           # the scene as epsim.mesh.scene shapes, checked at load

Every problem raises `epsim.errors.ConfigError` (exit code 2) with one message naming the file,
the line, the key path and the problem. pint and PyYAML are used only in this package.
"""

from epsim.config.checks import check_geometry, check_needles
from epsim.config.geometry import electrode_holes, mesh_domain, mesh_inclusions
from epsim.config.loader import (
    dump_resolved,
    load_config,
    load_config_data,
    load_config_text,
    resolve,
    resolved_to_yaml,
)
from epsim.config.materials import material_library, resolve_materials
from epsim.config.needles import conductor_names, needle_axes, pair_voltages, spacing
from epsim.config.schema import (
    MATERIAL_PARAMETERS,
    Config,
    Material,
    NewtonConfig,
    Pair,
    PicardConfig,
    ResolvedConfig,
)
from epsim.config.units import SI_UNITS, to_si
from epsim.errors import ConfigError
from epsim.mesh.scene import Needle

__all__ = [
    "ConfigError",
    "Config",
    "MATERIAL_PARAMETERS",
    "Material",
    "Needle",
    "NewtonConfig",
    "Pair",
    "PicardConfig",
    "ResolvedConfig",
    "SI_UNITS",
    "check_geometry",
    "check_needles",
    "conductor_names",
    "dump_resolved",
    "electrode_holes",
    "load_config",
    "load_config_data",
    "load_config_text",
    "material_library",
    "mesh_domain",
    "mesh_inclusions",
    "needle_axes",
    "pair_voltages",
    "resolve",
    "resolve_materials",
    "resolved_to_yaml",
    "spacing",
    "to_si",
]
