"""A sweep's budget, checked before its points are generated or validated: the number of points
is counted from the axes (grid sizes x samples x explicit points), so that `--samples 100000000`
or a 1e8-point linspace is refused in milliseconds, with the numbers, instead of filling memory.

    check_sweep_budget("case.yaml", axes=["protocol.pairs[0].voltage=[800, 1000]"], limits=...)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import yaml
from pydantic import ValidationError

from epsim.budget import Limits, check, estimate_sweep
from epsim.config import load_config
from epsim.config.schema import LinspaceAxis, SweepBlock, ValuesAxis
from epsim.sweep.axes import parse_axis_option

GEOMETRY_KEYS = ("scene", "electrodes")  # swept keys under these need a mesh per point


def count_points(block: SweepBlock) -> int:
    """Points of a sweep block without generating them: grid x samples x explicit points."""
    grid = math.prod(len(spec.values) if isinstance(spec, ValuesAxis) else spec.num
                     for spec in block.axes.values()
                     if isinstance(spec, (ValuesAxis, LinspaceAxis)))
    sampled = any(not isinstance(spec, (ValuesAxis, LinspaceAxis)) for spec in block.axes.values())
    return grid * ((block.samples or 1) if sampled else 1) * max(len(block.points), 1)


def moves_geometry(block: SweepBlock) -> bool:
    """Whether a swept key changes the scene or the electrodes (a mesh per point)."""
    keys = list(block.axes) + [k for point in block.points for k in point]
    return any(key.split(".")[0].split("[")[0] in GEOMETRY_KEYS for key in keys)


def merged_block(text: str, axes: Sequence[str], samples: int | None) -> SweepBlock | None:
    """The file's sweep block with the command line's axes and sample count, or None when it
    does not validate (the sweep's own plan reports why)."""
    try:
        data = yaml.safe_load(text)
        raw: dict[str, Any] = dict((data or {}).get("sweep") or {})
        raw["axes"] = dict(raw.get("axes") or {})
        for option in axes:
            path, spec = parse_axis_option(option, yaml.safe_load)
            raw["axes"][path] = spec
        if samples is not None:
            raw["samples"] = samples
        return SweepBlock.model_validate(raw)
    except (ValueError, TypeError, AttributeError, yaml.YAMLError, ValidationError):
        return None


def check_sweep_budget(
    path: str | Path, *, axes: Sequence[str] = (), samples: int | None = None,
    chunk_size: int | None = None, limits: Limits = Limits(),
) -> None:
    """Refuse a sweep over the limits before its points exist.

    Raises:
        ConfigError: the base config does not load.
        BudgetError: the estimate (`epsim.budget.estimate_sweep`) is over `limits`.
    """
    base = load_config(path)
    block = merged_block(Path(path).read_text(encoding="utf-8"), axes, samples)
    if block is None:
        return
    chunk = chunk_size or block.chunk_size or 1
    check(estimate_sweep(base, count_points(block), chunk, moves_geometry(block)), limits)


__all__ = ["GEOMETRY_KEYS", "check_sweep_budget", "count_points", "merged_block",
           "moves_geometry"]
