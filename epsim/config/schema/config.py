"""The whole file: `Config` (what a file says) and `ResolvedConfig` (every used material in
full, every pair explicit; built by `epsim.config.loader`).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from pydantic import Field, field_validator, model_validator

from epsim.config.schema.base import TAGS_SEEN, Name, Section, Title, problem, units_block
from epsim.config.schema.electrodes import Electrode, NeedleElectrode
from epsim.config.schema.materials import Material, MaterialOverride
from epsim.config.schema.output import Device, OptimiseBlock, Output
from epsim.config.schema.physics import Heating, NewtonConfig, Physics, Solver
from epsim.config.schema.protocol import PairSpec, Protocol, ResolvedProtocol
from epsim.config.schema.scene import Scene
from epsim.config.schema.sweep import SweepBlock


class Config(Section):
    """A config as written, values in SI."""

    name: Title
    units: dict[str, str] = Field(default_factory=dict)
    scene: Scene
    materials: dict[Name, MaterialOverride] = Field(default_factory=dict)
    electrodes: tuple[Electrode, ...] = ()  # required unless a count search
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

    @model_validator(mode="after")
    def _count_search_needles(self) -> "Config":
        # a count search (optimise.needles) makes its own needles and pairs: placeholders here
        searching = self.optimise is not None and self.optimise.needles is not None
        for missing, key in ((not self.electrodes, "electrodes"),
                             (self.protocol.pairs is None, "protocol.pairs")):
            if missing and not searching:
                raise problem(f"{key}: missing required key (optional only in a count search, "
                              "optimise.needles)")
        if searching and (not self.electrodes or self.protocol.pairs is None):
            electrodes, pairs = placeholder_needles(self.scene)
            object.__setattr__(self, "electrodes", electrodes)
            object.__setattr__(self, "protocol", self.protocol.model_copy(update={"pairs": pairs}))
        return self


class ResolvedConfig(Config):
    """A config with every used material in full and every pair explicit, SI throughout."""

    materials: dict[str, Material]
    protocol: ResolvedProtocol


# Discriminator values pydantic puts into error locations (not keys of a file).
UNION_TAGS = frozenset(TAGS_SEEN | {"list", "generator"})


def placeholder_needles(scene: Scene) -> tuple[tuple[NeedleElectrode, ...], tuple[PairSpec]]:
    """Two 1 mm needles 5 mm apart at the first target's centre (else the domain's), entering
    from the top (z max), and one pair at 100 V: what a count search's config stands on when it
    names no electrodes or pairs (the search replaces them; `epsim run` of it fires these)."""
    domain = scene.domain
    if domain is None:
        raise problem("a count search without electrodes needs a shape domain (scene.domain)")
    centres = [s.center for s in scene.structures if s.role == "target" and hasattr(s, "center")]
    c = np.asarray(centres[0] if centres else domain.center, dtype=float)
    half = (domain.size[2] / 2 if domain.shape == "box" else
            domain.height / 2 if domain.shape == "cylinder" else domain.radius)
    length = max(domain.center[2] + half - c[2], 2e-3)
    needles = tuple(NeedleElectrode(
        type="needle", name=f"placeholder_{k}", tip=tuple(c + (dx, 0.0, 0.0)),
        entry=tuple(c + (dx, 0.0, length)), diameter=1e-3, active_length=min(5e-3, length))
        for k, dx in enumerate((-2.5e-3, 2.5e-3)))
    return needles, (PairSpec(anode="placeholder_0", cathode="placeholder_1", voltage=100.0),)
