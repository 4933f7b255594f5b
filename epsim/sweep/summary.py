"""Uncertainty summary of a sweep, per design point.

With material parameters drawn from distributions for a fixed plan, the spread of the target
coverage is the plan's uncertainty. A sweep with grid axes (a voltage, say) has one plan per
combination of grid values, a design point (`epsim.sweep.design`): `summarise` gives, for each,
mean, standard deviation and the 5, 50 and 95 % quantiles over its samples that converged (failed
points are counted, never averaged in). A mean over design points is never reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epsim.sweep.design import DesignPoint, design_paths
from epsim.sweep.store import SweepTable

QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class Stats:
    """Statistics of one metric over the converged points."""

    name: str
    n: int
    n_failed: int
    mean: float
    std: float
    q05: float
    q50: float
    q95: float


def stats(name: str, values: np.ndarray, ok: np.ndarray) -> Stats:
    v = np.asarray(values, dtype=float)[ok & np.isfinite(values)]
    if v.size == 0:
        return Stats(name, 0, int(np.sum(~ok)), *([float("nan")] * 5))
    q = np.quantile(v, QUANTILES)
    std = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
    return Stats(name, int(v.size), int(np.sum(~ok)), float(np.mean(v)), std, *map(float, q))


@dataclass(frozen=True)
class DesignSummary:
    """The statistics of one design point over its uncertainty samples.

    Attributes:
        design: the design point (its number, label in config units, and rows).
        stats: target coverage at E_rev and E_irr and the largest pair current.
    """

    design: DesignPoint
    stats: tuple[Stats, ...]


def design_stats(table: SweepTable, rows: np.ndarray) -> tuple[Stats, ...]:
    """Target coverage at E_rev and E_irr and the largest pair current over `rows`."""
    ok = np.asarray(table.converged, dtype=bool)[rows]
    return (
        stats("coverage_rev", table.coverage_rev[rows], ok),
        stats("coverage_irr", table.coverage_irr[rows], ok),
        stats("max_current", table.max_current[rows], ok),
    )


def summarise(table: SweepTable) -> tuple[DesignSummary, ...]:
    """Per design point (a combination of grid values), the statistics over its uncertainty
    samples; one "all points" entry when the sweep has no design axes."""
    return tuple(DesignSummary(d, design_stats(table, d.rows)) for d in table.designs())


def _scaled(s: Stats) -> tuple[float, str]:
    return (1.0, "A") if s.name == "max_current" else (100.0, "%")


def _stats_lines(rows: tuple[Stats, ...], indent: str) -> list[str]:
    lines = [indent + f"{'metric':<16}{'mean':>9}{'std':>9}{'5 %':>9}{'50 %':>9}{'95 %':>9}"]
    for s in rows:
        scale, unit = _scaled(s)
        values = (s.mean, s.std, s.q05, s.q50, s.q95)
        lines.append(indent + f"{s.name + ' ' + unit:<16}" + "".join(f"{scale * v:>9.3f}" for v in values))
    return lines


def _one_row_lines(summaries: tuple[DesignSummary, ...]) -> list[str]:
    """A pure grid (one point per design point): one line per design point."""
    width = max(len(s.design.label) for s in summaries) + 2
    lines = [f"{'design point':<{width}}{'coverage_rev %':>16}{'coverage_irr %':>16}{'max_current A':>15}"]
    for s in summaries:
        rev, irr, cur = (x.mean for x in s.stats)
        lines.append(f"{s.design.label:<{width}}{100 * rev:>16.3f}{100 * irr:>16.3f}{cur:>15.3f}")
    return lines


def _axes_line(table: SweepTable) -> str:
    design = design_paths(table.roles, table.parameters)
    uncertain = [p for p in table.parameters if p not in design]
    parts = []
    if design:
        parts.append("design axes: " + ", ".join(design))
    if uncertain:
        parts.append("uncertainty axes: " + ", ".join(uncertain))
    return "; ".join(parts)


def format_summary(table: SweepTable) -> str:
    """A short text report: per design point, the statistics over its uncertainty samples."""
    summaries = summarise(table)
    n_failed = int(np.sum(~np.asarray(table.converged, dtype=bool)))
    lines = [
        f"{len(table)} point(s) in {len(summaries)} design point(s), "
        f"{len(table) - n_failed} converged, {n_failed} failed",
        _axes_line(table),
    ]
    if all(len(s.design.rows) == 1 for s in summaries) and len(summaries) > 1:
        lines += _one_row_lines(summaries)
    else:
        for s in summaries:
            ok = s.stats[0].n
            lines.append(f"design point {s.design.number}: {s.design.label} "
                         f"({len(s.design.rows)} point(s), {ok} converged)")
            lines += _stats_lines(s.stats, "  ")
    bad = [f"{i}: {st}" for i, st in zip(table.index, table.status) if st != "ok"]
    if bad:
        lines.append("failed points: " + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    return "\n".join(line for line in lines if line)


__all__ = ["DesignSummary", "Stats", "design_stats", "format_summary", "stats", "summarise"]
