"""The `electrodes:` section: single needles, needle rows, hexagonal arrays and plate pairs.

How each expands into individual conductors (names, tips, entries) is in
`epsim.config.needles`.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, get_args

from pydantic import model_validator

from epsim.config.catalogue import fill_from_model
from epsim.config.schema.base import (
    Angle,
    Direction,
    Name,
    PositiveLength,
    Section,
    Vec3,
    problem,
    tagged,
    whole,
)


class Modelled(Section):
    """An electrode that may name a catalogue model (`model: VGD-12`, epsim/data/electrodes.yaml):
    the model fills the keys the config leaves out; keys the config gives win."""

    model: Optional[Name] = None

    @model_validator(mode="before")
    @classmethod
    def _fill_from_model(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("model") is None:
            return data
        try:
            return fill_from_model(data, get_args(cls.model_fields["type"].annotation)[0])
        except ValueError as exc:
            key, message = exc.args
            raise problem(message, key) from None


class NeedleElectrode(Modelled):
    """One needle: conducting for `active_length` from `tip` towards `entry`, insulated above."""

    type: Literal["needle"]
    name: Name
    tip: Vec3
    entry: Vec3
    diameter: PositiveLength
    active_length: PositiveLength


class NeedleRow(Modelled):
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


class HexagonalArray(Modelled):
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


class Plates(Modelled):
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
