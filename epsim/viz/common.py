"""Shared pieces of the pictures: region roles and colours, thresholds, the target centre, and
atomic PNG output. Host numpy only (no JAX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from epsim.io.atomic import atomic_output
from epsim.io.results import Results

V_PER_CM = 100.0  # V/m in one V/cm
AXES = {"x": 0, "y": 1, "z": 2}

# Colour cycles by role: targets warm, spared structures cool, plain tissue muted.
ROLE_COLOURS = {
    "target": ("#d62728", "#ff7f0e", "#e377c2", "#8c564b"),
    "spare": ("#1f77b4", "#2ca02c", "#9467bd", "#17becf"),
    "tissue": ("#b5a27a", "#7f7f7f", "#bcbd22", "#c7c7c7"),
}
ELECTRODE_COLOUR = "#9a9a9a"
E_REV_COLOUR = "#ffe119"  # contour / iso-surface at E_rev
E_IRR_COLOUR = "#ff4f00"  # contour / iso-surface at E_irr


def cell_volumes(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(n_cells,) m^3, unsigned tetrahedron volumes."""
    p = np.asarray(points, dtype=np.float64)[np.asarray(cells)]
    return np.abs(np.linalg.det(p[:, 1:] - p[:, :1])) / 6.0


def region_roles(results: Results) -> dict[str, str]:
    """Region name -> role ("target", "spare", "tissue"); regions without metrics are tissue."""
    roles = {name: "tissue" for name in results.region_names}
    roles.update({m.name: m.role for m in results.metrics if m.name in roles})
    return roles


def region_colours(results: Results) -> dict[str, str]:
    """Region name -> colour (hex), distinct within each role."""
    seen = {role: 0 for role in ROLE_COLOURS}
    colours = {}
    for name, role in region_roles(results).items():
        cycle = ROLE_COLOURS.get(role, ROLE_COLOURS["tissue"])
        colours[name] = cycle[seen.get(role, 0) % len(cycle)]
        seen[role] = seen.get(role, 0) + 1
    return colours


def target_metrics(results: Results):
    """The first target region's metrics, or None."""
    return next((m for m in results.metrics if m.role == "target"), None)


def thresholds(results: Results, e_rev=None, e_irr=None) -> tuple[float | None, float | None]:
    """(E_rev, E_irr) in V/m: the given values, else the target region's, else None."""
    target = target_metrics(results)
    if e_rev is None and target is not None:
        e_rev = target.e_rev
    if e_irr is None and target is not None:
        e_irr = target.e_irr
    return e_rev, e_irr


def target_centre(results: Results) -> np.ndarray:
    """(3,) m: volume-weighted centroid of the target regions' cells, else of the whole mesh."""
    roles = region_roles(results)
    ids = [k for k, name in enumerate(results.region_names) if roles[name] == "target"]
    mask = np.isin(np.asarray(results.cell_region), ids)
    if not mask.any():
        mask = np.ones(len(results.cells), dtype=bool)
    points = np.asarray(results.points, dtype=np.float64)
    cells = np.asarray(results.cells)[mask]
    volumes = cell_volumes(points, cells)
    centroids = points[cells].mean(axis=1)
    return (volumes[:, None] * centroids).sum(axis=0) / volumes.sum()


def colour_limit(results: Results, e_irr: float | None = None, quantile: float = 0.99) -> float:
    """Upper end of the colour scale, V/m: the volume-weighted `quantile` of e_max (fields at
    electrode edges are singular and would wash out the picture), raised to 1.25 E_irr so that
    the E_irr level stays on the scale, and at most the maximum."""
    e = np.asarray(results.e_max, dtype=np.float64)
    if e.size == 0:
        return 1.0
    w = cell_volumes(results.points, results.cells)
    order = np.argsort(e)
    cumulative = np.cumsum(w[order])
    top = e[order][min(np.searchsorted(cumulative, quantile * cumulative[-1]), e.size - 1)]
    if e_irr is not None:
        top = max(top, 1.25 * e_irr)
    return float(max(min(top, e.max()), 1e-12))


def axis_index(normal: str) -> int:
    if normal not in AXES:
        raise ValueError(f"normal must be one of {sorted(AXES)}, got {normal!r}")
    return AXES[normal]


def save_figure(fig, path, *, overwrite: bool, dpi: int = 150) -> Path:
    """Save a matplotlib `Figure` (made without pyplot, so no GUI backend) as PNG atomically."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return Path(path).expanduser().absolute()


def title_of(results: Results) -> str:
    return results.name or "epsim run"
