"""The whole file: `Config` (what a file says) and `ResolvedConfig` (every used material in
full, every pair explicit; built by `epsim.config.loader`).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from annotated_types import MinLen
from pydantic import Field, field_validator

from epsim.config.schema.base import TAGS_SEEN, Name, Section, Title, units_block
from epsim.config.schema.electrodes import Electrode
from epsim.config.schema.materials import Material, MaterialOverride
from epsim.config.schema.output import Device, OptimiseBlock, Output
from epsim.config.schema.physics import Heating, NewtonConfig, Physics, Solver
from epsim.config.schema.protocol import Protocol, ResolvedProtocol
from epsim.config.schema.scene import Scene
from epsim.config.schema.sweep import SweepBlock


class Config(Section):
    """A config as written, values in SI."""

    name: Title
    units: dict[str, str] = Field(default_factory=dict)
    scene: Scene
    materials: dict[Name, MaterialOverride] = Field(default_factory=dict)
    electrodes: Annotated[tuple[Electrode, ...], MinLen(1)]
    protocol: Protocol
    physics: Physics = Physics()
    solver: Solver = NewtonConfig()
    device: Device = Device()
    output: Output = Output()
    heating: Optional[Heating] = None
    sweep: Optional[SweepBlock] = Field(None, exclude=True)
    optimise: Optional[OptimiseBlock] = Field(None, exclude=True)

    @field_validator("units", mode="before")
    @classmethod
    def _check_units(cls, value: Any) -> Any:
        return units_block(value)


class ResolvedConfig(Config):
    """A config with every used material in full and every pair explicit, SI throughout."""

    materials: dict[str, Material]
    protocol: ResolvedProtocol


# Discriminator values pydantic puts into error locations (not keys of a file).
UNION_TAGS = frozenset(TAGS_SEEN | {"list", "generator"})
