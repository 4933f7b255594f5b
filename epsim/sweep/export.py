"""The sweep table as CSV (`DIR/sweep.csv`, beside sweep.h5): one row per point, for a
spreadsheet, R or pandas.

Columns, in order: index, design (the design point, 1, 2, ...), key, chunk, status, converged;
one per swept parameter (a vector field one per component, `electrodes[1].tip[0]`); then
coverage_rev, coverage_irr, max_current; current, residual, iterations, linear_iterations per
pair (`current[0]`, ...); fraction_rev and fraction_irr per region (`regions/liver/fraction_rev`).
Values are those of sweep.h5, in SI; a column's unit follows its name in brackets
(`protocol.pairs[0].voltage [V]`, `max_current [A]`; none for fractions and counts). Floats are
written with every digit (they read back equal), NaN as `nan`, flags as true / false.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from epsim.io.atomic import atomic_output
from epsim.sweep.plan import si_unit
from epsim.sweep.store import SweepTable

CSV_NAME = "sweep.csv"
_UNITS = {"max_current": "A", "current": "A"}


def _split(name: str, column: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """A column, or one column per component of a 2-D column (`name[j]`)."""
    column = np.asarray(column)
    if column.ndim == 1:
        return [(name, column)]
    return [(f"{name}[{j}]", column[:, j]) for j in range(column.shape[1])]


def table_columns(table: SweepTable) -> list[tuple[str, str, np.ndarray]]:
    """(name, unit, values) of every CSV column, in order."""
    cols: list[tuple[str, str, np.ndarray]] = []

    def add(name, column, unit=""):
        cols.extend((n, unit, c) for n, c in _split(name, column))

    add("index", table.index)
    add("design", table.design())
    add("key", table.key)
    add("chunk", table.chunk)
    add("status", table.status)
    add("converged", np.asarray(table.converged, dtype=bool))
    for name, column in table.parameters.items():
        add(name, column, si_unit(name) if column.dtype.kind in "fiu" else "")
    for name in ("coverage_rev", "coverage_irr", "max_current", "current", "residual",
                 "iterations", "linear_iterations"):
        add(name, getattr(table, name), _UNITS.get(name, ""))
    for region in table.fraction_rev:
        add(f"regions/{region}/fraction_rev", table.fraction_rev[region])
        add(f"regions/{region}/fraction_irr", table.fraction_irr[region])
    return cols


def header(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # shortest text that reads back to the same float
    return str(value)


def write_csv(path: Path, table: SweepTable) -> Path:
    """Write the table as CSV, atomically (replaces an older file)."""
    cols = table_columns(table)
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([header(name, unit) for name, unit, _ in cols])
        for row in range(len(table)):
            writer.writerow([cell(values[row]) for _, _, values in cols])
    return Path(path)


__all__ = ["CSV_NAME", "table_columns", "write_csv"]
