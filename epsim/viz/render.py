"""Pictures of a run: a 3-D overview (pyvista, off screen), a planar slice and field-volume
histograms (matplotlib).

pyvista is the optional extra `viz`; it is imported when `render_overview` is called, and
without it the overview falls back to the matplotlib slice with a warning. Nothing happens at
import time.
"""

from __future__ import annotations

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
from epsim.viz.histogram import histogram
from epsim.viz.slice import render_slice

__all__ = ["render_overview", "render_slice", "histogram"]

_MM = 1e3  # the 3-D scene is drawn in millimetres
CMAP = "viridis"
TISSUE_COLOUR = "#d9c7a7"


def _import_pyvista():
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


def _scene(pv, results: Results, normal: str, e_rev, e_irr, clim: float, window_size):
    """Render the 3-D scene off screen. Returns (image (h, w, 3) uint8, legend entries as
    (label, colour, kind) with kind "patch" or "line")."""
    centre = target_centre(results) * _MM
    grid = _grid(pv, results)
    roles = region_roles(results)
    colours = region_colours(results)
    cell_region = np.asarray(results.cell_region)
    target = target_metrics(results)
    material = f" {target.material}" if target is not None else ""
    legend = []

    plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
    try:
        plotter.set_background("white")
        # Cut-away: the tissue below the section as a block, above it only a faint skin.
        skin = grid.extract_surface(algorithm=None)
        for part, opacity in ((skin.clip(normal=normal, origin=centre, invert=True), 0.35),
                              (skin.clip(normal=normal, origin=centre, invert=False), 0.06)):
            if part.n_points:
                plotter.add_mesh(part, color=TISSUE_COLOUR, opacity=opacity, smooth_shading=True)
        legend.append(("tissue (cut at the section)", TISSUE_COLOUR, "patch"))

        for k, name in enumerate(results.region_names):
            if roles[name] == "tissue" or not np.any(cell_region == k):
                continue
            surface = grid.extract_cells(cell_region == k).extract_surface(algorithm=None)
            plotter.add_mesh(surface, color=colours[name], opacity=0.55)
            legend.append((f"{name} ({roles[name]})", colours[name], "patch"))

        tissue_area = float(skin.area)
        for name, facets in results.electrode_facets.items():
            if len(np.asarray(facets)) == 0:
                continue
            surface = _electrode_surface(pv, results, facets)
            # Large electrodes (plates) would hide the scene: draw them translucent.
            opacity = 1.0 if surface.area < 0.1 * tissue_area else 0.3
            plotter.add_mesh(surface, color=ELECTRODE_COLOUR, opacity=opacity, specular=0.6,
                             specular_power=20, smooth_shading=True)
        if results.electrode_facets:
            legend.append(("electrodes", ELECTRODE_COLOUR, "patch"))

        point_grid = grid.cell_data_to_point_data()
        section = grid.slice(normal=normal, origin=centre)
        point_section = point_grid.slice(normal=normal, origin=centre)
        low = float(point_grid["e_max"].min())
        high = float(np.max(results.e_max)) / V_PER_CM
        for level, colour, opacity, label in (
            (e_rev, E_REV_COLOUR, 0.22, "E_rev"), (e_irr, E_IRR_COLOUR, 0.45, "E_irr"),
        ):
            if level is None:
                continue
            text = f"|E| = {label}{material} = {level / V_PER_CM:.0f} V/cm"
            iso = point_grid.contour([level / V_PER_CM], scalars="e_max")
            if iso.n_points:
                plotter.add_mesh(iso, color=colour, opacity=opacity, smooth_shading=True)
                # The same level as a line on the section, so the section stays readable.
                line = (point_section.contour([level / V_PER_CM], scalars="e_max")
                        if point_section.n_points else None)
                if line is not None and line.n_points:
                    plotter.add_mesh(line, color=colour, line_width=5,
                                     render_lines_as_tubes=True)
                text += " (surface, line on section)"
            elif level / V_PER_CM <= low:
                text += ": exceeded everywhere"
            elif level / V_PER_CM > high:
                text += f": not reached (max {high:.0f} V/cm)"
            else:
                text += ": reached in single cells only"
            legend.append((text, colour, "patch"))

        if section.n_points:
            plotter.add_mesh(section, scalars="e_max", cmap=CMAP, clim=(0.0, clim),
                             show_scalar_bar=False, preference="cell")
        plotter.show_bounds(xtitle="x (mm)", ytitle="y (mm)", ztitle="z (mm)", color="black",
                            location="outer", grid=False, font_size=14, ticks="outside")
        plotter.add_axes(color="black", viewport=(0.88, 0.0, 1.0, 0.12))
        view = np.ones(3)
        view[axis_index(normal)] = 1.6  # look from above the section, three quarters on
        plotter.camera_position = [tuple(centre + view), tuple(centre), (0.0, 0.0, 1.0)]
        plotter.reset_camera()
        plotter.camera.zoom(1.1)
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
    overwrite: bool = False,
    window_size: tuple[int, int] = (1400, 1050),
    dpi: int = 150,
) -> Path:
    """PNG of the scene in 3-D, rendered off screen with pyvista.

    A cut-away at the plane through the target centre normal to `normal`: the tissue below it
    as a translucent block (a faint skin above), each target (warm colours) and spared (cool
    colours) region's surface, the electrodes (grey), the iso-surfaces of e_max at E_rev
    (yellow) and E_irr (orange-red), and the section coloured by e_max in V/cm with the two
    levels drawn as lines on it. The 3-D render is framed by matplotlib (title, legend and
    colour bar). Lengths in mm.

    Without pyvista (the optional extra `viz`) it warns and writes `render_slice` instead.

    Args:
        results: what a run produced, SI units.
        path: PNG file to write (parent directories are created).
        e_rev, e_irr: iso-surface levels, V/m; default: the target region's thresholds.
        normal: "x", "y" or "z", the normal of the section.
        overwrite: replace an existing file.
        window_size: size of the 3-D render in pixels.
        dpi: resolution of the framed picture.
    Returns:
        The absolute path written.
    Raises:
        OutputExistsError: the file exists and `overwrite` is false.
    """
    check_writable(path, overwrite=overwrite)
    axis = axis_index(normal)
    pv = _import_pyvista()
    if pv is None:
        warnings.warn(
            "pyvista is not installed (pip install 'epsim[viz]'); writing the matplotlib slice "
            "instead of the 3-D overview",
            stacklevel=2,
        )
        return render_slice(results, path, normal=normal, e_rev=e_rev, e_irr=e_irr,
                            overwrite=overwrite, dpi=dpi)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    pv.OFF_SCREEN = True
    e_rev, e_irr = thresholds(results, e_rev, e_irr)
    clim = colour_limit(results, e_irr) / V_PER_CM
    image, legend = _scene(pv, results, normal, e_rev, e_irr, clim, window_size)

    height, width = image.shape[:2]
    fig = Figure(figsize=(width / dpi * 1.12, height / dpi))
    ax = fig.add_axes((0.0, 0.0, 1.0 / 1.12, 1.0))
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    bar_ax = fig.add_axes((0.905, 0.25, 0.022, 0.5))
    above = float(np.max(results.e_max)) / V_PER_CM > clim
    bar = fig.colorbar(ScalarMappable(Normalize(0.0, clim), CMAP), cax=bar_ax,
                       extend="max" if above else "neither")
    bar.set_label("max |E| over pairs on the section (V/cm)")
    handles = [
        Patch(facecolor=colour, edgecolor="k", lw=0.5, label=label) if kind == "patch"
        else Line2D([], [], color=colour, lw=3, label=label)
        for label, colour, kind in legend
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=9, framealpha=0.9)
    centre = target_centre(results)
    ax.set_title(f"{title_of(results)}: section {normal} = {centre[axis] * _MM:.1f} mm "
                 f"through the target", fontsize=12, loc="left")
    return save_figure(fig, path, overwrite=overwrite, dpi=dpi)
