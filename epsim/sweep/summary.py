"""Uncertainty summary of a sweep and a plot of coverage against each axis.

With material parameters drawn from distributions for a fixed plan, the spread of the target
coverage is the plan's uncertainty: `summarise` gives mean, standard deviation and the 5, 50 and
95 % quantiles over the points that converged (failed points are counted, never averaged in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.io.atomic import atomic_output
from epsim.sweep.plan import si_unit
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


def summarise(table: SweepTable) -> tuple[Stats, ...]:
    """Target coverage at E_rev and E_irr and the largest pair current."""
    ok = np.asarray(table.converged, dtype=bool)
    return (
        stats("coverage_rev", table.coverage_rev, ok),
        stats("coverage_irr", table.coverage_irr, ok),
        stats("max_current", table.max_current, ok),
    )


def format_summary(table: SweepTable) -> str:
    """A short text report of the sweep."""
    rows = summarise(table)
    n_failed = int(np.sum(~table.converged))
    lines = [f"{len(table)} point(s), {len(table) - n_failed} converged, {n_failed} failed"]
    lines.append(f"{'metric':<14}{'mean':>9}{'std':>9}{'5 %':>9}{'50 %':>9}{'95 %':>9}")
    for s in rows:
        scale, unit = (1.0, " A") if s.name == "max_current" else (100.0, " %")
        lines.append(
            f"{s.name + unit:<14}" + "".join(
                f"{scale * v:>9.3f}" for v in (s.mean, s.std, s.q05, s.q50, s.q95)
            )
        )
    bad = [f"{i}: {st}" for i, st in zip(table.index, table.status) if st != "ok"]
    if bad:
        lines.append("failed points: " + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    return "\n".join(lines)


def _columns(table: SweepTable) -> list[tuple[str, np.ndarray]]:
    """Numeric parameters that vary, one column per varying vector component."""
    out = []
    for name, column in table.parameters.items():
        if column.dtype.kind not in "fiu":
            continue
        if column.ndim == 1:
            out.append((name, column))
            continue
        for j in range(column.shape[1]):
            if np.ptp(column[:, j]) > 0:
                out.append((f"{name}[{j}]", column[:, j]))
    return out


def plot_coverage(table: SweepTable, path: Path) -> Path:
    """Target coverage (E_rev and E_irr) against each swept parameter, one panel per parameter;
    failed points are marked on the axis. PNG, written atomically (replaces an older plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = _columns(table) or [("point", np.asarray(table.index, dtype=float))]
    n = len(columns)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    ok = np.asarray(table.converged, dtype=bool)
    for ax, (name, x) in zip(axes.flat, columns):
        ax.scatter(x[ok], 100 * table.coverage_rev[ok], s=14, label="E_rev")
        ax.scatter(x[ok], 100 * table.coverage_irr[ok], s=14, marker="s", label="E_irr")
        if np.any(~ok):
            ax.scatter(x[~ok], np.zeros(np.sum(~ok)), marker="x", color="k", label="failed")
        unit = si_unit(name) if name != "point" else ""
        ax.set_xlabel(f"{name} ({unit})" if unit else name)
        ax.set_ylabel("target coverage (%)")
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)


__all__ = ["Stats", "format_summary", "plot_coverage", "summarise"]
