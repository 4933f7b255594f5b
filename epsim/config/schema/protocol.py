"""The `protocol:` section: the pulses and the pair sequence (a list of pairs, or a generator
name spelled out at resolve time by `epsim.config.needles.pair_voltages`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from annotated_types import MinLen
from pydantic import Discriminator, Tag, field_validator

from epsim.config.schema.base import (
    Name,
    PositiveField,
    PositiveFrequency,
    PositiveTime,
    PositiveVoltage,
    Section,
    problem,
    whole,
)
from epsim.config.units import unknown_name_message


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
    pairs: Optional[Annotated[  # required unless a count search (schema.config)
        Union[
            Annotated[Annotated[tuple[PairSpec, ...], MinLen(1)], Tag("list")],
            Annotated[PairGenerator, Tag("generator")],
        ],
        Discriminator(_pairs_tag),
    ]] = None
    voltage_to_distance: Optional[PositiveField] = None

    @field_validator("pairs", mode="before")
    @classmethod
    def _known_generator(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in PAIR_GENERATORS:
            raise problem(unknown_name_message("pair generator", value, PAIR_GENERATORS))
        return value


class ResolvedProtocol(Protocol):
    pairs: Annotated[tuple[Pair, ...], MinLen(1)]
