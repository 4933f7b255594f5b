"""Design points of a sweep and its values in the config's units.

A sweep's axes play two parts. Grid axes (values, linspace) and explicit points are the design:
what a user chooses (a voltage, a needle position). Random and Latin axes are the uncertainty:
tissue parameters known only roughly. A design point is one combination of design values; the
statistics that matter are those of the uncertainty within each design point, never a mean over
design values (a mean over two voltages says nothing about either).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epsim.sweep.plan import si_per_unit

DESIGN, UNCERTAINTY = "design", "uncertainty"


@dataclass(frozen=True)
class DesignPoint:
    """One combination of design values.

    Attributes:
        number: 1, 2, ... in order of first appearance in the table.
        label: "protocol.pairs[0].voltage = 500 V" (config units), or "all points".
        rows: the table rows (points) of this design point.
    """

    number: int
    label: str
    rows: np.ndarray


def design_paths(roles: dict[str, str], parameters: dict[str, np.ndarray]) -> list[str]:
    return [p for p in parameters if roles.get(p, UNCERTAINTY) == DESIGN]


def in_config_units(path: str, column: np.ndarray, units: dict[str, str]) -> tuple[np.ndarray, str]:
    """An SI parameter column in the unit the config writes it in: (values, unit text)."""
    unit = units.get(path, "")
    if column.dtype.kind not in "fiu":
        return column, ""
    return np.asarray(column, dtype=float) / si_per_unit(path, unit), unit


def format_value(value, unit: str) -> str:
    if isinstance(value, np.ndarray) and value.ndim:
        text = "[" + ", ".join(f"{float(v):.6g}" for v in value) + "]"
    elif isinstance(value, (float, np.floating, int, np.integer)):
        text = f"{float(value):.6g}"
    else:
        return str(value)
    return f"{text} {unit}" if unit else text


def design_points(
    parameters: dict[str, np.ndarray], roles: dict[str, str], units: dict[str, str]
) -> tuple[DesignPoint, ...]:
    """The table's rows grouped by their design values, in order of first appearance (the
    grid's order). Without design axes every row belongs to one design point, "all points"."""
    paths = design_paths(roles, parameters)
    n = len(next(iter(parameters.values()))) if parameters else 0
    if not paths:
        return (DesignPoint(1, "all points", np.arange(n)),)
    shown = {p: in_config_units(p, parameters[p], units) for p in paths}
    groups: dict[tuple, list[int]] = {}
    for row in range(n):
        key = tuple(repr(np.asarray(parameters[p][row]).tolist()) for p in paths)
        groups.setdefault(key, []).append(row)
    out = []
    for number, rows in enumerate(groups.values(), start=1):
        first = rows[0]
        label = ", ".join(
            f"{p} = {format_value(shown[p][0][first], shown[p][1])}" for p in paths
        )
        out.append(DesignPoint(number, label, np.asarray(rows)))
    return tuple(out)


def design_index(points: tuple[DesignPoint, ...], n: int) -> np.ndarray:
    """(n,) int: the design point number (1, 2, ...) of every row."""
    index = np.zeros(n, dtype=np.int64)
    for d in points:
        index[d.rows] = d.number
    return index


__all__ = [
    "DESIGN",
    "UNCERTAINTY",
    "DesignPoint",
    "design_index",
    "design_paths",
    "design_points",
    "format_value",
    "in_config_units",
]
