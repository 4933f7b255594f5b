"""The `sweep:` section (`epsim sweep`): axes over config fields, random samples and explicit
points. Values stay as written here; `epsim.sweep` converts them when it builds each point.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from annotated_types import Gt, MinLen
from pydantic import BeforeValidator, Field

from epsim.config.excerpt import excerpt
from epsim.config.schema.base import Real, Section, problem, tagged, whole


def _number_or_text(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, list, tuple)):
        raise problem("expected a number, a value with a unit or a list of them, "
                      f"got {excerpt(value)}")
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
    """Latin hypercube on [low, high] (`scipy.stats.qmc.LatinHypercube`): the `samples` draws
    fall one in each of `samples` equal strata, for every component."""

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
    `chunk_size` (points per vmap batch) defaults to 1 on a CPU and 8 on an accelerator.
    `epsim run` ignores this block, and the resolved config never contains it.
    """

    axes: dict[str, AxisSpec] = Field(default_factory=dict)
    points: tuple[dict[str, SweepValue], ...] = ()
    samples: Optional[whole(1)] = None
    seed: whole(0) = 0
    chunk_size: Optional[whole(1)] = None
