"""Field-volume histograms per region: how much of each region sees which field."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from epsim.io.results import Results
from epsim.io.atomic import check_writable
from epsim.viz.common import (
    V_PER_CM,
    cell_volumes,
    colour_limit,
    region_colours,
    save_figure,
    title_of,
)


def fraction_above(e_max, volumes, levels) -> np.ndarray:
    """Volume fraction of cells with e_max >= each level (same units as e_max), in [0, 1].

    Args:
        e_max: (n,) field per cell; volumes: (n,) m^3; levels: (m,).
    Returns:
        (m,) fractions.
    """
    order = np.argsort(e_max)
    e_sorted = np.asarray(e_max)[order]
    below = np.concatenate([[0.0], np.cumsum(np.asarray(volumes)[order])])
    total = below[-1]
    if total <= 0:
        return np.zeros(len(levels))
    return 1.0 - below[np.searchsorted(e_sorted, levels, side="left")] / total


def histogram(
    results: Results, path, *, bins: int = 60, overwrite: bool = False, dpi: int = 150
) -> Path:
    """PNG of the field-volume distribution of e_max (V/cm) in each region.

    Left: volume-weighted histogram (fraction of the region's volume per bin). Right: fraction
    of each region's volume where e_max >= E, with vertical lines at the region's E_rev (solid)
    and E_irr (dashed) from its metrics.

    Args:
        results: what a run produced, SI units.
        path: PNG file to write (parent directories are created).
        bins: number of histogram bins.
        overwrite: replace an existing file.
    Returns:
        The absolute path written.
    Raises:
        OutputExistsError: the file exists and `overwrite` is false.
    """
    from matplotlib.figure import Figure

    check_writable(path, overwrite=overwrite)
    e_cm = np.asarray(results.e_max, dtype=np.float64) / V_PER_CM
    volumes = cell_volumes(results.points, results.cells)
    cell_region = np.asarray(results.cell_region)
    colours = region_colours(results)
    metrics = {m.name: m for m in results.metrics}
    e_irr = max((m.e_irr for m in results.metrics), default=None)
    top = colour_limit(results, e_irr, quantile=0.995) / V_PER_CM * 1.05
    clipped = float(e_cm.max(initial=0.0)) > top
    edges = np.linspace(0.0, top, bins + 1)
    levels = np.linspace(0.0, top, 400)

    fig = Figure(figsize=(11, 4.4))
    left, right = fig.subplots(1, 2)
    for k, name in enumerate(results.region_names):
        mask = cell_region == k
        if not mask.any():
            continue
        w = volumes[mask]
        colour = colours[name]
        counts, _ = np.histogram(np.minimum(e_cm[mask], top), bins=edges, weights=w / w.sum())
        role = metrics[name].role if name in metrics else "tissue"
        label = f"{name} ({role}, {w.sum() * 1e6:.3g} cm³)"
        left.stairs(counts, edges, color=colour, lw=1.8, label=label)
        right.plot(levels, fraction_above(e_cm[mask], w, levels), color=colour, lw=2.0,
                   label=label)
        if name in metrics:
            m = metrics[name]
            for ax in (left, right):
                ax.axvline(m.e_rev / V_PER_CM, color=colour, lw=1.0, ls="-", alpha=0.7)
                ax.axvline(m.e_irr / V_PER_CM, color=colour, lw=1.0, ls="--", alpha=0.7)
    left.set_xlabel("max |E| over pairs (V/cm)"
                    + (f"; the last bin holds all above {edges[-2]:.0f}" if clipped else ""))
    left.set_ylabel("fraction of region volume per bin")
    right.set_xlabel("E (V/cm)")
    right.set_ylabel("fraction of region volume with max |E| ≥ E")
    right.set_ylim(0.0, 1.02)
    for ax in (left, right):
        ax.set_xlim(0.0, top)
        ax.grid(alpha=0.3)
    right.legend(fontsize=8, title="solid: E_rev, dashed: E_irr", title_fontsize=8)
    fig.suptitle(f"{title_of(results)}: field-volume distribution")
    fig.tight_layout()
    return save_figure(fig, path, overwrite=overwrite, dpi=dpi)
