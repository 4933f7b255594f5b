"""The `device:`, `output:` and `optimise:` sections: generator limits, what a run writes, and
treatment planning (`epsim optimise`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from annotated_types import Ge, Gt, Le, MinLen
from pydantic import Field, field_validator, model_validator

from epsim.config.schema.base import (
    Fraction,
    PositiveCurrent,
    PositiveLength,
    PositiveVoltage,
    Real,
    Section,
    Vec3,
    problem,
    quantity,
    units_block,
    whole,
)
from epsim.config.schema.robust import RobustBlock


class Device(Section):
    """Generator limits; None means not checked."""

    max_voltage: Optional[PositiveVoltage] = None
    max_current: Optional[PositiveCurrent] = None


class Output(Section):
    """What a run writes. `units`: the units of its reports (summary, region table, messages),
    a `units:` block; resolving fills it with the file's own `units:` block when not given,
    so that results files remember the units their config was written in."""

    file: Optional[Path] = None
    paraview: bool = True
    render: bool = False
    units: dict[str, str] = Field(default_factory=dict)

    @field_validator("units", mode="before")
    @classmethod
    def _check_units(cls, value: Any) -> Any:
        return units_block(value)


class EntryRegion(Section):
    """Where needles may enter the tissue: within `radius` of `center` (a point on the skin)."""

    center: Vec3
    radius: PositiveLength


class CountRange(Section):
    """How many needles the count search may place: every count from `min` to `max`."""

    min: whole(2)
    max: whole(2)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise problem(f"count min {self.min} > max {self.max}", "min")
        return self


class GuideTemplate(Section):
    """Parallel needles through a guide grid: tips snapped to a square grid of `pitch`."""

    pitch: PositiveLength


class NeedleSearch(Section):
    """The count and layout search (`epsim.optimise.count`): needles of one model (or
    `diameter`), `count.min` to `count.max` of them, each count started from a layout made from
    the target's shape (`layout`: rings or grids around its principal axes, at `spread` x the
    target's semi-axes), the conducting part chosen from `active_lengths` (default: the
    model's choices); the smallest count whose verified plan meets every goal and limit is the
    plan. `template`: parallel needles on a guide grid (positions fixed, depth and voltages
    optimised). `screen_margin`: a count whose linear stage's nonlinear checks stay more than
    this below the coverage goal is not planned further nor verified (null: every count is).
    `prune`: the chosen count's firing pairs that add no coverage on its verification are left
    out (and the plan verified without them)."""

    model: Optional[str] = None
    diameter: Optional[PositiveLength] = None
    count: CountRange
    active_lengths: Optional[Annotated[tuple[PositiveLength, ...], MinLen(1)]] = None
    layout: Literal["ring", "grid"] = "ring"
    spread: Annotated[Real, Gt(0), Le(1)] = 0.65
    template: Optional[GuideTemplate] = None
    screen_margin: Optional[Annotated[Real, Ge(0), Le(1)]] = 0.01  # coverage fraction
    prune: bool = True


class OptimiseBlock(Section):
    """Treatment planning (`epsim optimise`): what may move, what must hold, how long to search.

    The config's electrodes and pair voltages are the starting plan. Coverage is of the target
    structures plus `target_margin` at the target material's E_rev (ect, calcium, get) or E_irr
    (ire). Voltages stay within [min_voltage, max_voltage] (default: device.max_voltage),
    currents below device.max_current. `epsim run` ignores this block, and the resolved config
    never contains it. `needles`: choose the number of needles too (`NeedleSearch`; the
    config's electrodes and pairs are then unused); `pair_sparsity`: weight of the term that
    switches pairs off, pairs at or below `drop_voltage` are not fired; `min_gap`: needle
    surfaces at least this far apart along their whole length; `lateral` False: needles keep
    their positions (depth and voltages still move).
    """

    therapy: Literal["ect", "calcium", "get", "ire"] = "ect"
    target_margin: quantity("length", "nonnegative") = 0.0
    coverage_goal: Fraction = 0.99
    depth: bool = True
    lateral: bool = True
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
    needles: Optional[NeedleSearch] = None
    pair_sparsity: Annotated[Real, Ge(0)] = 0.0
    drop_voltage: quantity("voltage", "nonnegative") = 0.0
    min_gap: Optional[PositiveLength] = None
    robust: Optional[RobustBlock] = None  # plan against placement and conductivity scenarios
