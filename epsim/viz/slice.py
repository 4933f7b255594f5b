"""A planar slice of the field through the target, drawn with matplotlib (no OpenGL needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from epsim.errors import InputError
from epsim.io.atomic import check_writable
from epsim.io.results import Results
from epsim.viz.common import (
    E_IRR_COLOUR,
    E_REV_COLOUR,
    ELECTRODE_COLOUR,
    V_PER_CM,
    axis_index,
    colour_limit,
    region_colours,
    region_roles,
    save_figure,
    target_centre,
    target_metrics,
    thresholds,
    title_of,
)
from epsim.viz.section import nodal_average, plane_section, surface_section


# Per-cell outcome fields drawable instead of |E|: label, transform to display units, colour map,
# fixed colour range (None: from the data), and one contour level in display units.
QUANTITIES = {
    "temperature_max": ("peak temperature (C)", lambda x: x - 273.15, "inferno", None,
                        (50.0, "50 C")),
    "survival": ("cell survival after the protocol (Peleg-Fermi)", lambda x: x, "RdYlGn",
                 (0.0, 1.0), (0.5, "lesion edge, survival 0.5")),
    "permeabilisation": ("permeabilisation probability", lambda x: x, "viridis", (0.0, 1.0),
                         (0.5, "probability 0.5")),
    "thermal_damage": ("Arrhenius damage integral", lambda x: x, "magma", None,
                       (1.0, "omega = 1 (63 % damaged)")),
}


def _field(results: Results, pair: int | None) -> tuple[np.ndarray, str]:
    """(n_cells,) V/m and its label."""
    if pair is None:
        return np.asarray(results.e_max), f"max |E| over {len(results.anode)} pair(s)"
    if not 0 <= pair < len(results.anode):
        raise InputError(f"pair {pair} out of range: the run has {len(results.anode)} pair(s)")
    label = f"|E|, pair {pair} ({results.anode[pair]} -> {results.cathode[pair]})"
    return np.asarray(results.e_mag[pair]), label


def _colouring(results: Results, pair, quantity, e_rev, e_irr):
    """Cell values in display units, label, colour map, range, and contour levels
    [(level, colour, style, text)]."""
    if quantity is None:
        field, label = _field(results, pair)
        e_rev, e_irr = thresholds(results, e_rev, e_irr)
        target = target_metrics(results)
        material = f" {target.material}" if target is not None else ""
        levels = [(level / V_PER_CM, colour, style, f"{name}{material} = {level / V_PER_CM:.0f} V/cm")
                  for level, colour, style, name in ((e_rev, E_REV_COLOUR, "-", "E_rev"),
                                                     (e_irr, E_IRR_COLOUR, "--", "E_irr"))
                  if level is not None]
        top = colour_limit(results, e_irr) / V_PER_CM
        return field / V_PER_CM, f"{label} (V/cm)", "viridis", (0.0, top), levels
    if quantity not in results.extra_fields or quantity not in QUANTITIES:
        known = sorted(set(QUANTITIES) & set(results.extra_fields))
        raise InputError(f"no field {quantity!r} to draw in this run; available: {known}")
    label, transform, cmap, span, (level, text) = QUANTITIES[quantity]
    values = transform(np.asarray(results.extra_fields[quantity], dtype=np.float64))
    span = span or (float(values.min()), float(values.max()) or 1.0)
    return values, label, cmap, span, [(level, E_IRR_COLOUR, "-", text)]


def render_slice(
    results: Results,
    path,
    *,
    normal: str = "z",
    offset: float | None = None,
    pair: int | None = None,
    quantity: str | None = None,
    e_rev: float | None = None,
    e_irr: float | None = None,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """PNG of |E| on the plane x[normal] = offset through the target, in V/cm.

    The plane section is exact (see `epsim.viz.section`). Cells are coloured by their
    (piecewise constant) field, the colour scale capped at the volume-weighted 99th percentile
    (fields at electrode edges are singular); contour lines mark E_rev and E_irr (of a
    volume-weighted nodal average, across region boundaries); target and spared regions are outlined in their
    colours, the tissue boundary in black, and electrodes crossing the plane drawn in grey
    (electrodes that miss the plane are marked x at their projected centre).

    Args:
        results: what a run produced, SI units.
        path: PNG file to write (parent directories are created).
        normal: "x", "y" or "z", the axis normal to the plane.
        offset: plane position along `normal`, m; default: the target centroid.
        pair: draw this pair's |E| instead of the maximum over pairs.
        quantity: draw a per-cell outcome instead of |E| (a key of QUANTITIES present in the
            run's extra fields: temperature_max, survival, permeabilisation, thermal_damage).
        e_rev, e_irr: contour levels, V/m; default: the target region's thresholds.
        overwrite: replace an existing file.
        dpi: resolution.
    Returns:
        The absolute path written.
    Raises:
        InputError: the plane misses the mesh, or `pair` is out of range.
        OutputExistsError: the file exists and `overwrite` is false.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.tri import Triangulation

    check_writable(path, overwrite=overwrite)
    axis = axis_index(normal)
    if offset is None:
        offset = float(target_centre(results)[axis])
    colours_all, label, cmap, (low_value, top), levels = _colouring(
        results, pair, quantity, e_rev, e_irr
    )
    points = np.asarray(results.points, dtype=np.float64)
    cells = np.asarray(results.cells)
    section = plane_section(points, cells, axis, offset)
    if len(section.triangles) == 0:
        raise InputError(f"the plane {normal} = {offset * 1e3:.3g} mm does not cut the mesh")
    in_plane = [k for k in range(3) if k != axis]
    u_name, v_name = ("xyz"[k] for k in in_plane)
    mm = 1e3

    fig = Figure(figsize=(7.5, 6.2))
    ax = fig.add_subplot()
    tri = Triangulation(section.uv[:, 0] * mm, section.uv[:, 1] * mm, section.triangles)
    colours = colours_all[section.triangle_cell]
    image = ax.tripcolor(tri, facecolors=colours, cmap=cmap, vmin=low_value, vmax=top,
                         edgecolors="none")
    bar = fig.colorbar(image, ax=ax, shrink=0.85,
                       extend="max" if colours.max() > top * (1 + 1e-9) else "neither")
    bar.set_label(label)

    handles = []
    nodal = section.interpolate(nodal_average(points, cells, colours_all))
    for level, colour, style, text in levels:
        if nodal.min() < level < nodal.max():
            ax.tricontour(tri, nodal, levels=[level], colors=[colour], linewidths=2.0,
                          linestyles=style)
        else:
            text += " (exceeded all over)" if level <= nodal.min() else " (not reached)"
        handles.append(Line2D([], [], color=colour, lw=2, ls=style, label=text))

    everything = np.ones(len(cells), dtype=bool)
    ax.add_collection(LineCollection(section.outline(everything) * mm, colors="k",
                                     linewidths=0.8))
    roles = region_roles(results)
    colours_by_region = region_colours(results)
    cell_region = np.asarray(results.cell_region)
    for k, name in enumerate(results.region_names):
        if roles[name] == "tissue":
            continue
        segments = section.outline(cell_region == k)
        if len(segments) == 0:
            continue
        for colour, width in (("white", 4.5), (colours_by_region[name], 2.2)):  # haloed line
            ax.add_collection(LineCollection(segments * mm, colors=colour, linewidths=width,
                                             capstyle="round", joinstyle="round"))
        handles.append(Line2D([], [], color=colours_by_region[name], lw=2.2,
                              label=f"{name} ({roles[name]})"))

    for name, facets in results.electrode_facets.items():
        facets = np.asarray(facets).reshape(-1, 3)
        if len(facets) == 0:
            continue
        segments = surface_section(points, facets, axis, offset)
        if len(segments):
            ax.add_collection(LineCollection(segments * mm, colors=ELECTRODE_COLOUR,
                                             linewidths=3.0))
            at = segments.reshape(-1, 2).mean(axis=0) * mm
        else:
            at = points[np.unique(facets)].mean(axis=0)[in_plane] * mm  # projected centre
            ax.plot(*at, marker="x", color=ELECTRODE_COLOUR, ms=9, mew=2.5)
        ax.annotate(name, at, xytext=(4, 4), textcoords="offset points", fontsize=8,
                    color="k", bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7,
                                         lw=0))
    if results.electrode_facets:
        handles.append(Line2D([], [], color=ELECTRODE_COLOUR, lw=3, label="electrode"))

    ax.set_aspect("equal")
    low, high = section.uv.min(axis=0) * mm, section.uv.max(axis=0) * mm
    pad = 0.03 * float((high - low).max())
    ax.set_xlim(low[0] - pad, high[0] + pad)
    ax.set_ylim(low[1] - pad, high[1] + pad)
    ax.set_xlabel(f"{u_name} (mm)")
    ax.set_ylabel(f"{v_name} (mm)")
    ax.set_title(f"{title_of(results)}\nslice {normal} = {offset * mm:.2f} mm")
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3,
                  fontsize=8, frameon=False)
    return save_figure(fig, path, overwrite=overwrite, dpi=dpi)
