"""Pictures of a run: a 3-D overview (pyvista, off screen), a planar slice and field-volume
histograms (matplotlib).

pyvista is the optional extra `viz`; it is imported when `render_overview` is called, and
without it the overview falls back to the matplotlib slice with a warning. Nothing happens at
import time.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from epsim.io.atomic import check_writable
from epsim.io.results import Results
from epsim.viz.common import (
    E_IRR_COLOUR,
    E_REV_COLOUR,
    ELECTRODE_COLOUR,
    V_PER_CM,
    region_colours,
    region_roles,
    save_figure,
    target_centre,
    target_metrics,
    thresholds,
    title_of,
)
from epsim.viz.histogram import histogram
from epsim.viz.slice import render_slice

__all__ = ["render_overview", "render_slice", "histogram"]

_MM = 1e3  # the 3-D scene is drawn in millimetres


def _import_pyvista():
    offscreen_without_x()
    try:
        import pyvista
    except ImportError:
        return None
    return pyvista


def _grid(pv, results: Results):
    cells = np.asarray(results.cells, dtype=np.int64)
    grid = pv.UnstructuredGrid(
        {pv.CellType.TETRA: cells}, np.asarray(results.points, dtype=np.float64) * _MM
    )
    grid.cell_data["e_max"] = np.asarray(results.e_max, dtype=np.float64) / V_PER_CM
    grid.cell_data["region"] = np.asarray(results.cell_region, dtype=np.int32)
    return grid


def _electrode_surface(pv, results: Results, facets):
    facets = np.asarray(facets, dtype=np.int64).reshape(-1, 3)
    faces = np.hstack([np.full((len(facets), 1), 3), facets]).ravel()
    surface = pv.PolyData(np.asarray(results.points, dtype=np.float64) * _MM, faces)
    return surface.clean()


VIEW = np.array([1.0, -1.4, 0.9]) / np.linalg.norm([1.0, -1.4, 0.9])  # towards the camera
FOCUS_MARGIN = 3.0  # mm around what the overview frames


def offscreen_without_x() -> None:
    """Without a display, ask VTK for an EGL window first: it would try X first and print
    "bad X server connection" on stderr before falling back."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def _focus(results: Results, grid, iso, crop: str) -> list[float]:
    """Bounds (mm) the camera frames: everything ("all"), or the target, the electrodes and
    the E_rev surface with a margin ("target")."""
    if crop == "all":
        return list(grid.bounds)
    roles = region_roles(results)
    ids = [k for k, n in enumerate(results.region_names) if roles[n] == "target"]
    cells = np.asarray(results.cells)[np.isin(np.asarray(results.cell_region), ids)]
    nodes = [np.asarray(results.points)[np.unique(cells)] * _MM] if len(cells) else []
    for facets in results.electrode_facets.values():
        if len(facets):
            nodes.append(np.asarray(results.points)[np.unique(facets)] * _MM)
    if iso is not None and iso.n_points:
        nodes.append(np.asarray(iso.points))
    if not nodes:
        return list(grid.bounds)
    p = np.concatenate(nodes)
    low = np.maximum(p.min(axis=0) - FOCUS_MARGIN, np.asarray(grid.bounds)[::2])
    high = np.minimum(p.max(axis=0) + FOCUS_MARGIN, np.asarray(grid.bounds)[1::2])
    return [float(v) for pair in zip(low, high) for v in pair]


def _interior_ticks(low: float, high: float) -> list[float]:
    """Round tick values well inside [low, high] (ends left free: no label meets another at a
    corner of the box)."""
    from matplotlib.ticker import MaxNLocator

    inset = 0.12 * (high - low)
    return [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 5, 10]).tick_values(low, high)
            if low + inset <= t <= high - inset]


def _scale(pv, plotter, bounds) -> None:
    """The framed box with tick labels in mm on three of its edges that share no corner: x
    along the front bottom edge, y along the right bottom edge, z up the left front edge."""
    x0, x1, y0, y1, z0, z1 = bounds
    plotter.add_mesh(pv.Box(bounds), style="wireframe", color="#555555", line_width=1)
    size = max(x1 - x0, y1 - y0, z1 - z0)
    gap = 0.05 * size
    points, labels = [], []
    for t in _interior_ticks(x0, x1):
        points.append((t, y0 - gap, z0 - gap))
        labels.append(f"{t:g}")
    for t in _interior_ticks(y0, y1):
        points.append((x1 + gap, t, z0 - gap))
        labels.append(f"{t:g}")
    for t in _interior_ticks(z0, z1):
        points.append((x0 - gap, y0 - gap, t))
        labels.append(f"{t:g}")
    titles = [((x0 + x1) / 2, y0 - 3 * gap, z0 - 3 * gap),
              (x1 + 3 * gap, (y0 + y1) / 2, z0 - 3 * gap),
              (x0 - 3 * gap, y0 - 3 * gap, (z0 + z1) / 2)]
    names = ["x (mm)", "y (mm)", "z (mm)"]
    for where, text, bold in ((points, labels, False), (titles, names, True)):
        if where:
            plotter.add_point_labels(np.asarray(where, dtype=float), text, font_size=15, bold=bold,
                                     text_color="black", shape=None, show_points=False,
                                     always_visible=True)


def _scene(pv, results: Results, e_rev, e_irr, window_size, crop: str = "target"):
    """Render the 3-D scene off screen, every surface opaque (the legend's colours are the
    picture's): target and spared structures, electrodes, and the E_irr
    and E_rev surfaces cut open on the viewer's side through the target centre, so that they
    nest visibly. Returns (image (h, w, 3) uint8, legend entries (label, colour))."""
    centre = target_centre(results) * _MM
    grid = _grid(pv, results)
    roles = region_roles(results)
    colours = region_colours(results)
    cell_region = np.asarray(results.cell_region)
    target = target_metrics(results)
    material = f" {target.material}" if target is not None else ""
    cut_normal = np.array([VIEW[0], VIEW[1], 0.0]) / np.linalg.norm(VIEW[:2])
    legend = []

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    try:
        plotter.set_background("white")
        for k, name in enumerate(results.region_names):
            if roles[name] == "tissue" or not np.any(cell_region == k):
                continue
            surface = grid.extract_cells(cell_region == k).extract_surface(algorithm=None)
            plotter.add_mesh(surface, color=colours[name], smooth_shading=True)
            legend.append((f"{name} ({roles[name]})", colours[name]))
        for facets in results.electrode_facets.values():
            if len(np.asarray(facets)):
                plotter.add_mesh(_electrode_surface(pv, results, facets), color=ELECTRODE_COLOUR,
                                 smooth_shading=True)
        if results.electrode_facets:
            legend.append(("electrodes (conducting parts)", ELECTRODE_COLOUR))

        point_grid = grid.cell_data_to_point_data()
        low = float(point_grid["e_max"].min())
        high = float(np.max(results.e_max)) / V_PER_CM
        outer = None
        levels = ((e_irr, E_IRR_COLOUR, "E_irr"), (e_rev, E_REV_COLOUR, "E_rev"))
        for level, colour, label in levels:
            if level is None:
                continue
            text = f"|E| = {label}{material} = {level / V_PER_CM:.0f} V/cm"
            iso = point_grid.contour([level / V_PER_CM], scalars="e_max")
            if iso.n_points:
                outer = iso
                opened = iso.clip(normal=cut_normal, origin=centre, invert=True)
                if opened.n_points:  # ambient light: the inside of the cut reads as the colour
                    plotter.add_mesh(opened, color=colour, smooth_shading=True, ambient=0.35,
                                     diffuse=0.75)
                text += " (surface, cut open)"
            elif level / V_PER_CM <= low:
                text += ": exceeded everywhere"
            else:
                text += f": not reached (max {high:.0f} V/cm)"
            legend.append((text, colour))

        focus = _focus(results, grid, outer, crop)
        _scale(pv, plotter, focus)
        plotter.add_axes(color="black", viewport=(0.88, 0.0, 1.0, 0.12))
        middle = np.array([(focus[0] + focus[1]) / 2, (focus[2] + focus[3]) / 2,
                           (focus[4] + focus[5]) / 2])
        plotter.camera_position = [tuple(middle + VIEW), tuple(middle), (0.0, 0.0, 1.0)]
        plotter.reset_camera(bounds=focus)
        plotter.camera.zoom(0.95)  # room for the labels outside the box
        image = plotter.screenshot(None, return_img=True)
    finally:
        plotter.close()
    return image, legend


def render_overview(
    results: Results,
    path,
    *,
    e_rev: float | None = None,
    e_irr: float | None = None,
    normal: str = "z",
    crop: str = "target",
    overwrite: bool = False,
    window_size: tuple[int, int] = (1400, 1050),
    dpi: int = 150,
) -> Path:
    """PNG of the scene in 3-D, rendered off screen with pyvista.

    Every surface is opaque, so the colours in the legend are those of the picture: target
    (warm colours) and spared (cool colours) structures, the electrodes' conducting parts
    (grey), and the iso-surfaces of e_max at E_irr (orange-red) and E_rev (yellow) cut open on
    the viewer's side through the target centre, so that the treated volume shows around the
    target. The camera frames the target, the electrodes and the E_rev surface ("target") or
    the whole tissue ("all"), in a box with round tick values in mm inside its edges.

    Without pyvista (the optional extra `viz`) it warns and writes `render_slice` instead.

    Args:
        results: what a run produced, SI units.
        path: PNG file to write (parent directories are created).
        e_rev, e_irr: iso-surface levels, V/m; default: the target region's thresholds.
        normal: the axis of the fallback slice without pyvista.
        crop: "target" or "all", what the camera frames.
        overwrite: replace an existing file.
        window_size: size of the 3-D render in pixels.
        dpi: resolution of the framed picture.
    Returns:
        The absolute path written.
    Raises:
        OutputExistsError: the file exists and `overwrite` is false.
    """
    check_writable(path, overwrite=overwrite)
    pv = _import_pyvista()
    if pv is None:
        warnings.warn(
            "pyvista is not installed (pip install 'epsim[viz]'); writing the matplotlib slice "
            "instead of the 3-D overview",
            stacklevel=2,
        )
        return render_slice(results, path, normal=normal, e_rev=e_rev, e_irr=e_irr,
                            overwrite=overwrite, dpi=dpi)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    pv.OFF_SCREEN = True
    e_rev, e_irr = thresholds(results, e_rev, e_irr)
    image, legend = _scene(pv, results, e_rev, e_irr, window_size, crop)

    height, width = image.shape[:2]
    below = 0.16  # of the figure's height, for the legend under the render
    fig = Figure(figsize=(width / dpi, height / dpi / (1 - below)))
    ax = fig.add_axes((0.0, below, 1.0, 1.0 - below))
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    handles = [Patch(facecolor=colour, edgecolor="k", lw=0.5, label=label)
               for label, colour in legend]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=9, frameon=False)
    ax.set_title(f"{title_of(results)}: 3-D overview, field surfaces cut open facing the viewer",
                 fontsize=12, loc="left")
    return save_figure(fig, path, overwrite=overwrite, dpi=dpi)
