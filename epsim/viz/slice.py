"""A planar slice of a run drawn with matplotlib (no OpenGL needed): by default the cut through
the firing electrodes (`epsim.viz.plane.pair_plane`: depth coverage, tips, both needles),
cropped to the target and its margin."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from epsim.errors import InputError
from epsim.io.atomic import check_writable
from epsim.io.results import Results
from epsim.viz.common import (
    E_IRR_COLOUR,
    E_REV_COLOUR,
    ELECTRODE_COLOUR,
    V_PER_CM,
    cell_volumes,
    colour_limit,
    region_colours,
    region_roles,
    save_figure,
    target_metrics,
    thresholds,
    title_of,
)
from epsim.viz.plane import Plane, axis_plane, crop_window, cut, find_pair, pair_plane, surface_cut
from epsim.viz.section import nodal_average

PLANES = ("pair", "x", "y", "z")
MM = 1e3


@dataclass(frozen=True)
class Quantity:
    """A per-cell outcome drawable instead of |E|: its label, the transform to display units,
    colour map, fixed range (None: from the data), one contour level (display units) with its
    text, and whether the effect lies below the level (survival) rather than above it."""

    label: str
    transform: Callable
    cmap: str
    span: tuple[float, float] | None
    level: float
    level_text: str
    below: bool = False
    colour: str = E_IRR_COLOUR  # of the contour line, apart from the colour map's ends


QUANTITIES = {
    "temperature_max": Quantity("peak temperature (C)", lambda x: x - 273.15, "inferno", None,
                                50.0, "50 C", colour="#00bfff"),
    "survival": Quantity("cell survival after the protocol (Peleg-Fermi)", lambda x: x, "RdYlGn",
                         (0.0, 1.0), 0.5, "kill threshold, survival 0.5 (lesion edge)",
                         below=True, colour="black"),
    "permeabilisation": Quantity("permeabilisation probability", lambda x: x, "viridis",
                                 (0.0, 1.0), 0.5, "probability 0.5", colour="white"),
    "thermal_damage": Quantity("Arrhenius damage integral", lambda x: x, "magma", None, 1.0,
                               "omega = 1 (63 % damaged)", colour="#00bfff"),
}
ALIASES = {"temperature": "temperature_max", "e_max": None}


@dataclass(frozen=True)
class Colouring:
    """Cell values in display units, their label, colour map and range, contour levels
    [(level, colour, style, text, below)]."""

    values: np.ndarray
    label: str
    cmap: str
    span: tuple[float, float]
    levels: list


def _field(results: Results, pair: int | None) -> tuple[np.ndarray, str]:
    """(n_cells,) V/m and its label."""
    if pair is None:
        return np.asarray(results.e_max), f"max |E| over {len(results.anode)} pair(s)"
    label = f"|E|, pair {pair + 1} ({results.anode[pair]} -> {results.cathode[pair]})"
    return np.asarray(results.e_mag[pair]), label


def colouring(results: Results, pair, quantity, e_rev=None, e_irr=None) -> Colouring:
    """What a slice colours its cells by: |E| in V/cm (of `pair`, else the max over pairs)
    with E_rev and E_irr lines, or an outcome of QUANTITIES with its level."""
    quantity = ALIASES.get(quantity, quantity)
    if quantity is None:
        field, label = _field(results, pair)
        e_rev, e_irr = thresholds(results, e_rev, e_irr)
        target = target_metrics(results)
        material = f" {target.material}" if target is not None else ""
        levels = [(level / V_PER_CM, colour, style,
                   f"{name}{material} = {level / V_PER_CM:.0f} V/cm", False)
                  for level, colour, style, name in ((e_rev, E_REV_COLOUR, "-", "E_rev"),
                                                     (e_irr, E_IRR_COLOUR, "--", "E_irr"))
                  if level is not None]
        top = colour_limit(results, e_irr) / V_PER_CM
        return Colouring(field / V_PER_CM, f"{label} (V/cm)", "viridis", (0.0, top), levels)
    if quantity not in results.extra_fields or quantity not in QUANTITIES:
        known = ["e_max"] + sorted(set(QUANTITIES) & set(results.extra_fields))
        raise InputError(f"no field {quantity!r} to draw in this run; available: {known}")
    q = QUANTITIES[quantity]
    values = q.transform(np.asarray(results.extra_fields[quantity], dtype=np.float64))
    span = q.span or (float(values.min()), float(values.max()) or 1.0)
    return Colouring(values, q.label, q.cmap, span,
                     [(q.level, q.colour, "--" if q.below else "-", q.level_text, q.below)])


def level_note(level, below: bool, lowest: float, highest: float, unit: str = "") -> str | None:
    """What the legend adds when a level is not crossed on the section, else None."""
    reached = lowest < level if below else highest >= level
    everywhere = highest < level if below else lowest >= level
    if everywhere:
        return " (reached all over the section)"
    if not reached:
        extreme = lowest if below else highest
        which = "lowest" if below else "highest"
        return f" (not reached on the section: {which} {extreme:.3g}{unit})"
    return None


def killed_statement(results: Results) -> str | None:
    """What a survival picture says plainly: that nothing reaches the kill threshold (with the
    lowest survival), or how much tissue is killed in the whole run and of each target."""
    survival = results.extra_fields.get("survival")
    if survival is None:
        return None
    threshold = QUANTITIES["survival"].level
    if np.min(survival) >= threshold:
        return (f"Nothing reaches the kill threshold: survival stays above {threshold:g} in every "
                f"cell (lowest {np.min(survival):.2f}), so this protocol kills no cell.")
    killed = float(np.sum(cell_volumes(results.points, results.cells)[survival < threshold]))
    targets = ", ".join(f"{100 * m.killed_fraction:.1f} % of {m.name}" for m in results.metrics
                        if m.role == "target" and m.killed_fraction is not None)
    return (f"Killed (survival below {threshold:g}): {killed * 1e9:.3g} mm^3 in the whole run"
            + (f", {targets}" if targets else ""))


def slice_plane(results: Results, plane: str = "pair", offset: float | None = None,
                pair: int | None = None) -> Plane:
    """The plane of a slice: "pair" (through pair `pair`, default the first; offset moves it
    along its normal, m) or "x", "y", "z" (offset: its position, m; default the target
    centre)."""
    if plane == "pair":
        return pair_plane(results, 0 if pair is None else pair, offset or 0.0)
    if plane not in PLANES:
        raise InputError(f"plane {plane!r}: use one of {', '.join(PLANES)}")
    return axis_plane(results, plane, offset)


def _draw_regions(ax, results: Results, section, handles) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    everything = np.ones(len(results.cells), dtype=bool)
    ax.add_collection(LineCollection(section.outline(everything) * MM, colors="k", linewidths=0.8))
    roles = region_roles(results)
    colours = region_colours(results)
    cell_region = np.asarray(results.cell_region)
    for k, name in enumerate(results.region_names):
        segments = section.outline(cell_region == k) if roles[name] != "tissue" else []
        if len(segments) == 0:
            continue
        for colour, width in (("white", 4.5), (colours[name], 2.2)):  # haloed line
            ax.add_collection(LineCollection(segments * MM, colors=colour, linewidths=width,
                                             capstyle="round", joinstyle="round"))
        handles.append(Line2D([], [], color=colours[name], lw=2.2,
                              label=f"{name} ({roles[name]})"))


def _draw_electrodes(ax, results: Results, plane: Plane, handles) -> None:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    for name, facets in results.electrode_facets.items():
        facets = np.asarray(facets).reshape(-1, 3)
        if len(facets) == 0:
            continue
        segments = surface_cut(results, facets, plane)
        if len(segments):
            ax.add_collection(LineCollection(segments * MM, colors=ELECTRODE_COLOUR,
                                             linewidths=3.0))
            at = segments.reshape(-1, 2).mean(axis=0) * MM
        else:  # the plane misses it: its centre projected, marked x
            at = plane.local(np.asarray(results.points)[np.unique(facets)]).mean(axis=0)[:2] * MM
            ax.plot(*at, marker="x", color=ELECTRODE_COLOUR, ms=9, mew=2.5)
        ax.annotate(name, at, xytext=(4, 4), textcoords="offset points", fontsize=8,
                    color="k", bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7, lw=0))
    if results.electrode_facets:
        handles.append(Line2D([], [], color=ELECTRODE_COLOUR, lw=3, label="electrode (conducting)"))


def render_slice(
    results: Results,
    path,
    *,
    plane: str | None = None,
    normal: str | None = None,
    offset: float | None = None,
    pair=None,
    quantity: str | None = None,
    crop: str = "target",
    e_rev: float | None = None,
    e_irr: float | None = None,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """PNG of a plane section of the run: |E| in V/cm, or an outcome.

    The section is exact (`epsim.viz.section`): cells are coloured by their (piecewise
    constant) value, |E| capped at the volume-weighted 99th percentile (fields at electrode
    edges are singular); contour lines mark E_rev and E_irr (or the outcome's level) on a
    volume-weighted nodal average; target and spared regions are outlined in their colours,
    the tissue boundary in black, the conducting electrode surfaces in grey (an electrode the
    plane misses is marked x at its projected centre). A level the section does not cross is
    said so in the legend, and a survival picture says plainly when nothing is killed.

    Args:
        results: what a run produced, SI units.
        path: PNG file to write (parent directories are created).
        plane: "pair" (the default: through the electrodes of `pair`, or of the first pair),
            or "x", "y", "z".
        normal: the older spelling of an axis plane ("x", "y", "z"), used when `plane` is None.
        offset: m; an axis plane's position (default: the target centroid), or how far the
            pair plane is moved along its normal (default 0).
        pair: a pair index (0-based) or name ("a->b"): the plane's electrodes, and the field
            drawn (|E| of that pair instead of the max over pairs).
        quantity: None or "e_max" for |E|; "survival", "permeabilisation", "temperature"
            (peak, C) or "thermal_damage" where the run computed them.
        crop: "target" (the target and the firing electrodes with a margin) or "all".
        e_rev, e_irr: contour levels, V/m; default: the target region's thresholds.
        overwrite: replace an existing file.
        dpi: resolution.
    Returns:
        The absolute path written.
    Raises:
        InputError: the plane misses the mesh, an unknown plane, pair, quantity or crop.
        OutputExistsError: the file exists and `overwrite` is false.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.tri import Triangulation

    check_writable(path, overwrite=overwrite)
    index = None if pair is None else find_pair(results, pair)
    name = plane or normal or "pair"
    where = slice_plane(results, name, offset, index)
    paint = colouring(results, index, quantity, e_rev, e_irr)
    section = cut(results, where)
    if len(section.triangles) == 0:
        raise InputError(f"the plane {where.title} does not cut the mesh")

    fig = Figure(figsize=(7.5, 6.4), layout="constrained")
    ax = fig.add_subplot()
    tri = Triangulation(section.uv[:, 0] * MM, section.uv[:, 1] * MM, section.triangles)
    colours = paint.values[section.triangle_cell]
    image = ax.tripcolor(tri, facecolors=colours, cmap=paint.cmap, vmin=paint.span[0],
                         vmax=paint.span[1], edgecolors="none")
    over = colours.max() > paint.span[1] * (1 + 1e-9)
    bar = fig.colorbar(image, ax=ax, shrink=0.85, extend="max" if over else "neither")
    bar.set_label(paint.label)

    handles = []
    nodal = section.interpolate(nodal_average(results.points, results.cells, paint.values))
    for level, colour, style, text, below in paint.levels:
        note = level_note(level, below, float(nodal.min()), float(nodal.max()),
                          " V/cm" if quantity in (None, "e_max") else "")
        if note is None:
            ax.tricontour(tri, nodal, levels=[level], colors=[colour], linewidths=2.0,
                          linestyles=style)
        handles.append(Line2D([], [], color=colour, lw=2, ls=style, label=text + (note or "")))
    _draw_regions(ax, results, section, handles)
    _draw_electrodes(ax, results, where, handles)
    survival = ALIASES.get(quantity, quantity) == "survival"
    statement = killed_statement(results) if survival else None

    firing = (index or 0) if name == "pair" else index  # electrodes kept in a cropped view
    low, high = crop_window(results, where, section, crop, firing)
    pad = 0.02 * float((high - low).max())
    ax.set_aspect("equal")
    ax.set_xlim((low[0] - pad) * MM, (high[0] + pad) * MM)
    ax.set_ylim((low[1] - pad) * MM, (high[1] + pad) * MM)
    ax.set_xlabel(where.u_label)
    ax.set_ylabel(where.v_label)
    title = f"{title_of(results)}\n{where.title}"
    if statement:  # said plainly, under the title
        title += "\n" + "\n".join(textwrap.wrap(statement.replace("\n", " "), 72))
    ax.set_title(title, fontsize=10 if statement else 12)
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return save_figure(fig, path, overwrite=overwrite, dpi=dpi)


__all__ = ["PLANES", "QUANTITIES", "colouring", "killed_statement", "render_slice", "slice_plane"]
