"""`coverage.png` of a sweep: target coverage against each swept parameter, in the config's units,
one colour per design point.

Filled circles are the coverage at E_rev, open squares at E_irr; failed points are crosses on
the axis. Parameters are shown in the unit the config writes them in (V/cm, mm), not in SI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from epsim.io.atomic import atomic_output
from epsim.sweep.design import in_config_units
from epsim.sweep.store import SweepTable

MAX_LEGEND = 12  # beyond this many design points a colour bar replaces the legend


def plotted_columns(table: SweepTable) -> list[tuple[str, str, np.ndarray]]:
    """(label, unit, values in config units) of every numeric parameter that varies, one per
    varying component of a vector; the point index when none does."""
    out = []
    for name, column in table.parameters.items():
        if column.dtype.kind not in "fiu":
            continue
        values, unit = in_config_units(name, column, table.config_units)
        parts = [(name, values)] if values.ndim == 1 else [
            (f"{name}[{j}]", values[:, j]) for j in range(values.shape[1])
        ]
        out += [(label, unit, x) for label, x in parts if np.ptp(x) > 0 or values.ndim == 1]
    return out or [("point", "", np.asarray(table.index, dtype=float))]


def design_colours(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def _panel(ax, x, table: SweepTable, designs, colours) -> None:
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    ok = np.asarray(table.converged, dtype=bool)
    for d, colour in zip(designs, colours):
        rows = d.rows[ok[d.rows]]
        ax.scatter(x[rows], 100 * table.coverage_rev[rows], s=16, color=colour)
        ax.scatter(x[rows], 100 * table.coverage_irr[rows], s=16, marker="s",
                   facecolors="none", edgecolors=colour)
    if np.any(~ok):
        ax.scatter(x[~ok], np.zeros(np.sum(~ok)), marker="x", color="k")
    # few ticks, no offset or scientific notation: labels that never run into each other
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, min_n_ticks=2))
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_scientific(False)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_ylabel("target coverage (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)


def _legend(fig, table: SweepTable, designs, colours) -> None:
    from matplotlib.lines import Line2D

    marks = [
        Line2D([], [], ls="", marker="o", color="0.3", label=">= E_rev"),
        Line2D([], [], ls="", marker="s", mfc="none", color="0.3", label=">= E_irr"),
    ]
    if not np.all(table.converged):
        marks.append(Line2D([], [], ls="", marker="x", color="k", label="failed"))
    if len(designs) > MAX_LEGEND:
        import matplotlib

        norm = matplotlib.colors.Normalize(1, len(designs))
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap="viridis")
        shown = [ax for ax in fig.axes if ax.get_visible()]
        fig.colorbar(mappable, ax=shown, label="design point (summary.txt)", location="right")
        fig.legend(handles=marks, loc="outside lower center", ncol=len(marks), fontsize=8,
                   frameon=False)
        return
    handles = marks + [
        Line2D([], [], ls="", marker="o", color=c, label=d.label) for d, c in zip(designs, colours)
    ]
    ncol = 1 if max(len(d.label) for d in designs) > 40 else min(len(handles), 3)
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)


def coverage_figure(table: SweepTable):
    """The matplotlib figure of `plot_coverage` (for tests and notebooks)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = plotted_columns(table)
    designs = table.designs()
    colours = design_colours(len(designs))
    ncols = min(len(columns), 3)
    nrows = -(-len(columns) // ncols)
    legend_rows = 1 + (len(designs) if len(designs) <= MAX_LEGEND else 0) // ncols
    # constrained layout keeps the legend below the panels and the colour bar beside them
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.4 * nrows + 0.25 * legend_rows),
                             squeeze=False, layout="constrained")
    for ax, (label, unit, x) in zip(axes.flat, columns):
        _panel(ax, x, table, designs, colours)
        ax.set_xlabel(f"{label} ({unit})" if unit else label)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    _legend(fig, table, designs, colours)
    return fig


def plot_coverage(table: SweepTable, path: Path) -> Path:
    """Write `coverage_figure(table)` as PNG, atomically (replaces an older plot)."""
    import matplotlib.pyplot as plt

    fig = coverage_figure(table)
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)


__all__ = ["coverage_figure", "design_colours", "plot_coverage", "plotted_columns"]
