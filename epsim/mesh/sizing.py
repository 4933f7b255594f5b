"""Refinement regions: volumes meshed at their own cell size, with the size growing at a bounded
rate outside them (`GRADATION`), and the zone between two firing needles as such a region.

    zone = pair_zone(needle_a, needle_b, cell_size=8e-4, margin=3e-3)
    sizes = MeshSizes(size=6e-3, refine=(RefineSphere((0, 0, 0), 4e-3, 5e-4), zone))

The shapes are written like the scene's structures (a box by centre and edge lengths, optionally
turned by `axes`; a sphere; a cylinder by centre, axis, radius and height), metres. Each gives an
analytic distance (0 inside) as a gmsh MathEval expression in model units, so gmsh needs no
surface sampling; `epsim.mesh.gmsh` turns it into a Threshold field: `cell_size` inside, growing
linearly with the distance by `gradation` (cell size per unit distance) up to the background
size. The same distances in numpy (`distance`) let tests and the cell estimate measure the
regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from epsim.errors import MeshError
from epsim.mesh.scene.geometry import perpendicular_frame

# Cell size growth per unit distance outside a region (and between firing needles): 0.3 keeps
# neighbouring cells within about 1.3x of each other, like the default grading at the needles.
GRADATION = 0.3

_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def _positive(value, what: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise MeshError(f"{what} must be a positive length in metres, got {value!r}")
    return value


def _triple(value, what: str) -> tuple[float, float, float]:
    array = np.asarray(value, dtype=float).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise MeshError(f"{what} must be three finite numbers, got {value!r}")
    return tuple(float(v) for v in array)


@dataclass(frozen=True)
class RefineBox:
    """A box of edge lengths `size` (m) centred at `center`, its edges along the rows of `axes`
    (orthonormal; default x, y, z), meshed at `cell_size` (m)."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    cell_size: float
    axes: tuple = _IDENTITY

    def __post_init__(self):
        object.__setattr__(self, "center", _triple(self.center, "refine box center"))
        object.__setattr__(self, "size", tuple(
            _positive(s, "refine box size") for s in _triple(self.size, "refine box size")))
        object.__setattr__(self, "cell_size", _positive(self.cell_size, "refine cell size"))
        axes = np.asarray(self.axes, dtype=float)
        if axes.shape != (3, 3) or not np.allclose(axes @ axes.T, np.eye(3), atol=1e-9):
            raise MeshError(f"refine box axes must be 3 orthonormal rows, got {self.axes!r}")
        object.__setattr__(self, "axes", tuple(tuple(float(v) for v in row) for row in axes))


@dataclass(frozen=True)
class RefineSphere:
    """A ball of `radius` (m) around `center`, meshed at `cell_size` (m)."""

    center: tuple[float, float, float]
    radius: float
    cell_size: float

    def __post_init__(self):
        object.__setattr__(self, "center", _triple(self.center, "refine sphere center"))
        object.__setattr__(self, "radius", _positive(self.radius, "refine sphere radius"))
        object.__setattr__(self, "cell_size", _positive(self.cell_size, "refine cell size"))


@dataclass(frozen=True)
class RefineCylinder:
    """A cylinder centred at `center` along `axis` (normalised here), meshed at `cell_size`."""

    center: tuple[float, float, float]
    axis: tuple[float, float, float]
    radius: float
    height: float
    cell_size: float

    def __post_init__(self):
        object.__setattr__(self, "center", _triple(self.center, "refine cylinder center"))
        axis = np.asarray(_triple(self.axis, "refine cylinder axis"))
        if np.linalg.norm(axis) == 0:
            raise MeshError("refine cylinder axis must not be zero")
        object.__setattr__(self, "axis", tuple(float(v) for v in axis / np.linalg.norm(axis)))
        object.__setattr__(self, "radius", _positive(self.radius, "refine cylinder radius"))
        object.__setattr__(self, "height", _positive(self.height, "refine cylinder height"))
        object.__setattr__(self, "cell_size", _positive(self.cell_size, "refine cell size"))


RefineRegion = Union[RefineBox, RefineSphere, RefineCylinder]


def pair_zone(a, b, cell_size: float, margin: float) -> RefineBox:
    """The volume between the active parts of two needles (`Needle`s) as an oriented box: along
    their mean direction, across from one to the other, and normal to both, spanning both active
    segments and `margin` (m) beyond them on every side; meshed at `cell_size` (m)."""
    da, db = a.direction, b.direction
    u = da + (db if np.dot(da, db) >= 0 else -db)
    u = u / np.linalg.norm(u)
    ends = np.array([a.tip, a.tip + a.active_length * da, b.tip, b.tip + b.active_length * db])
    gap = ends[2:].mean(axis=0) - ends[:2].mean(axis=0)
    v = gap - np.dot(gap, u) * u
    if np.linalg.norm(v) < 1e-12:  # needles on one line: any direction across
        v = np.cross(u, (1.0, 0.0, 0.0) if abs(u[0]) < 0.9 else (0.0, 1.0, 0.0))
    v = v / np.linalg.norm(v)
    axes = np.array([u, v, np.cross(u, v)])
    local = ends @ axes.T
    lo, hi = local.min(axis=0) - margin, local.max(axis=0) + margin
    center = 0.5 * (lo + hi) @ axes
    return RefineBox(center, hi - lo, cell_size, axes)


# ---------------------------------------------------------------- distances

def distance(region: RefineRegion, points) -> np.ndarray:
    """Distance (m) from `points` (n, 3) m to `region`, 0 inside."""
    p = np.asarray(points, dtype=float) - np.asarray(region.center)
    if isinstance(region, RefineSphere):
        return np.maximum(np.linalg.norm(p, axis=1) - region.radius, 0.0)
    if isinstance(region, RefineCylinder):
        t = p @ np.asarray(region.axis)
        rho = np.sqrt(np.maximum(np.sum(p * p, axis=1) - t * t, 0.0))
        return np.hypot(np.maximum(rho - region.radius, 0.0),
                        np.maximum(np.abs(t) - region.height / 2, 0.0))
    outside = np.maximum(np.abs(p @ np.asarray(region.axes).T) - np.asarray(region.size) / 2, 0)
    return np.linalg.norm(outside, axis=1)


def _number(value: float) -> str:
    return f"({float(value)!r})"


def distance_expression(region: RefineRegion, scale: float) -> str:
    """`distance` as a gmsh MathEval expression in x, y, z, with lengths in model units
    (`scale` model units per metre)."""
    c = [f"({x}-{_number(ci * scale)})" for x, ci in zip("xyz", region.center)]
    if isinstance(region, RefineSphere):
        return f"Max(Sqrt({'+'.join(f'{q}^2' for q in c)})-{_number(region.radius * scale)},0)"
    if isinstance(region, RefineCylinder):
        t = "+".join(f"{q}*{_number(a)}" for q, a in zip(c, region.axis))
        rho = f"Sqrt(Max({'+'.join(f'{q}^2' for q in c)}-({t})^2,0))"
        radial = f"Max({rho}-{_number(region.radius * scale)},0)"
        axial = f"Max(Abs({t})-{_number(region.height * scale / 2)},0)"
        return f"Sqrt({radial}^2+{axial}^2)"
    terms = []
    for row, edge in zip(region.axes, region.size):
        local = "+".join(f"{q}*{_number(a)}" for q, a in zip(c, row) if a != 0.0) or "0"
        terms.append(f"Max(Abs({local})-{_number(edge * scale / 2)},0)^2")
    return f"Sqrt({'+'.join(terms)})"


def region_gradation(sizes) -> float:
    """The gradation outside the refinement regions of a `MeshSizes`."""
    return GRADATION if sizes.gradation is None else sizes.gradation


def graded_size(cell_size: float, distance_m, background: float,
                gradation: float = GRADATION) -> np.ndarray:
    """The size (m) a region asks for at `distance_m` from it: `cell_size` inside, growing by
    `gradation` per metre up to `background`."""
    return np.minimum(cell_size + gradation * np.asarray(distance_m), background)


def add_fields(field, regions, background: float, scale: float,
               gradation: float = GRADATION) -> list[int]:
    """gmsh size fields (`field`: the `gmsh.model.mesh.field` API) of `regions`: per region a
    MathEval distance and a Threshold from its cell size (at distance 0) to `background` (m) at
    (background - cell size) / gradation; lengths in model units (`scale` per metre). Returns
    the Threshold fields, for the caller's Min."""
    tags = []
    for region in regions:
        cell = min(region.cell_size, background)
        distance_tag = field.add("MathEval")
        field.setString(distance_tag, "F", distance_expression(region, scale))
        threshold = field.add("Threshold")
        field.setNumber(threshold, "InField", distance_tag)
        field.setNumber(threshold, "SizeMin", cell * scale)
        field.setNumber(threshold, "SizeMax", background * scale)
        field.setNumber(threshold, "DistMin", 0.0)
        field.setNumber(threshold, "DistMax", max((background - cell) / gradation, cell) * scale)
        tags.append(threshold)
    return tags


# ---------------------------------------------------------------- the accurate-default rule
# Constants set by benchmarks/bench_mesh_accuracy.py (table in benchmarks/ACCURACY_RESULTS.md,
# rule in docs/accuracy.md): at REFERENCE_ACCURACY, on two needles in liver, pair currents came
# out 1.4-1.5 % and the zones' extents within 0.40 mm of the values extrapolated from 2-0.5 %.

REFERENCE_ACCURACY = 0.02
ELECTRODE_PER_RADIUS = 0.35  # cell size on a needle's surface per needle radius
ZONE_PER_SPACING = 1 / 12  # cell size between firing needles per needle spacing
ZONE_MARGIN_FACTOR = 1.5  # the zone reaches this far beyond the estimated E_rev extent
# The rim of a flat tip and the end of the active part are singular points of the field (the
# current converged at first order without them): balls of EDGE_RADII radii around them, meshed
# at the electrode size over EDGE_REFINEMENT.
EDGE_RADII = 1.5
EDGE_REFINEMENT = 2.0
# Cell size growth per unit distance from a needle's surface: the field falls like 1/r there, so
# every octave of distance between the radius and the spacing adds about as much to the current's
# error, which grows with the square of this slope (the meshes' default, 1/3 over three times
# the size difference, left two needles in liver 2.3 % high; 0.15 brought them to 1.5 % for
# 39 % more cells, benchmarks/ACCURACY_RESULTS.md).
NEEDLE_GRADATION = 0.15
# Every size and gradation scales with sqrt(accuracy / REFERENCE_ACCURACY) (nominal P1 errors
# fall like h^2), so that accuracy levels are uniform refinements of one mesh; within:
ACCURACY_SCALE = (0.35, 3.0)


def accuracy_scale(accuracy: float) -> float:
    """The factor on the rule's sizes for a relative `accuracy` (0.02: 2 %)."""
    lo, hi = ACCURACY_SCALE
    return float(np.clip(np.sqrt(accuracy / REFERENCE_ACCURACY), lo, hi))


def needle_cell_size(radius: float, accuracy: float = REFERENCE_ACCURACY) -> float:
    """Cell size (m) on a needle's surface: a fraction of its `radius` (m), which resolves the
    1/r field at the surface that sets the pair current."""
    return ELECTRODE_PER_RADIUS * radius * accuracy_scale(accuracy)


def zone_cell_size(spacing: float, accuracy: float = REFERENCE_ACCURACY) -> float:
    """Cell size (m) between two firing needles `spacing` (m) apart: the isosurfaces there
    scale with the spacing."""
    return ZONE_PER_SPACING * spacing * accuracy_scale(accuracy)


def rule_gradings(size: float, electrode_size: float | None,
                  accuracy: float = REFERENCE_ACCURACY) -> dict:
    """The `MeshSizes` gradings of the rule: `grading_distance` (m) over which the size grows
    from `electrode_size` on the needles to the background `size` (m) at `NEEDLE_GRADATION`
    per unit distance, and the refinement regions' `gradation`, both scaled like the sizes."""
    scale = accuracy_scale(accuracy)
    gradings = {"gradation": GRADATION * scale}
    if electrode_size is not None and electrode_size < size:
        gradings["grading_distance"] = (size - electrode_size) / (NEEDLE_GRADATION * scale)
    return gradings


def threshold_reach(radius: float, spacing: float, voltage: float, e_threshold: float) -> float:
    """How far (m) a field of `e_threshold` (V/m) reaches beyond the two needles of a pair, from
    two line charges (radius and spacing in m, voltage in V; sigma constant): the larger of the
    reach across the mid-plane and along the pair axis beyond a needle. An estimate, for where to
    refine, not a result."""
    k = voltage / (2.0 * np.log(max(spacing / radius, 1.0 + 1e-9)))  # V, per unit 1/rho
    across = np.sqrt(max(k * spacing / e_threshold - spacing**2 / 4, 0.0))
    along = 0.5 * (np.sqrt(spacing**2 + 4 * k * spacing / e_threshold) - spacing)
    return float(max(across, along))


def pair_spacing(a, b) -> float:
    """Distance (m) between the active parts of needles `a` and `b`: of b's active centre from
    a's axis (parallel needles: their spacing), at least half the distance of the centres."""
    gap = b.active_center - a.active_center
    across = float(np.linalg.norm(np.cross(gap, a.direction)))
    return max(across, float(np.linalg.norm(gap)) / 2)


def pair_refinement(a, b, voltage: float, e_threshold: float,
                    accuracy: float = REFERENCE_ACCURACY) -> RefineBox:
    """The zone between needles `a` and `b` (`Needle`s) firing at `voltage` (V): meshed at
    `zone_cell_size` of their spacing, reaching `ZONE_MARGIN_FACTOR` times the estimated reach
    of `e_threshold` (V/m, the lowest E_rev) beyond them."""
    spacing = pair_spacing(a, b)
    radius = min(a.radius, b.radius)
    cell = zone_cell_size(spacing, accuracy)
    margin = ZONE_MARGIN_FACTOR * threshold_reach(radius, spacing, voltage, e_threshold)
    return pair_zone(a, b, cell, max(margin, cell))


# Plates: the field between two parallel plates is nearly uniform; the mesh must resolve the
# fringe beyond their edges, singular at the edges and falling like the field of a semi-infinite
# dipole sheet of strength V, V / (2 pi r) at distance r from an edge (2-D: an upper bound for
# plates of finite size). Set on breast_plates (benchmarks/ACCURACY_RESULTS.md).
PLATE_PER_GAP = 1 / 32  # cell size on a plate's face per gap
# Where a plate's conducting face meets its insulated sides the tissue wraps a 270 degree corner
# with mixed boundary conditions: the field grows like d^(-2/3) towards the edge. With the edges
# meshed like a needle's rims, or finer but scaled like the other sizes, the plates' current
# converged at order 0.9 or less; the edges are meshed far finer, on thin cylinders from which
# the size grows linearly (a line is cheap), and their cells shrink like the cube of the other
# sizes (`plate_edges`): order 1.5.
PLATE_EDGE_REFINEMENT = 16.0
PLATE_EDGE_RADII = 2.0


def plate_cell_size(gap: float, accuracy: float = REFERENCE_ACCURACY) -> float:
    """Cell size (m) on the faces of two plates `gap` (m) apart."""
    return PLATE_PER_GAP * gap * accuracy_scale(accuracy)


def fringe_reach(voltage: float, e_threshold: float) -> float:
    """How far (m) a field of `e_threshold` (V/m) reaches beyond the edges of two plates at
    `voltage` (V): the dipole sheet's V / (2 pi r). An estimate, for where to refine."""
    return voltage / (2.0 * np.pi * e_threshold)


def plate_refinement(a, b, voltage: float, e_threshold: float,
                     accuracy: float = REFERENCE_ACCURACY) -> RefineBox:
    """The zone between plates `a` and `b` (`PlateHole`s) firing at `voltage` (V): a box in a's
    axes over both electrode faces, meshed at `zone_cell_size` of their gap and reaching
    `ZONE_MARGIN_FACTOR` times the `fringe_reach` of `e_threshold` (V/m) beyond them."""
    axes = np.asarray(a.axes)
    gap = abs(float(np.dot(np.asarray(b.center) - np.asarray(a.center), axes[2])))
    cell = zone_cell_size(gap, accuracy)
    margin = max(ZONE_MARGIN_FACTOR * fringe_reach(voltage, e_threshold), cell)
    local = np.concatenate([a.face_points(2), b.face_points(2)]) @ axes.T  # the faces' corners
    lo, hi = local.min(axis=0) - margin, local.max(axis=0) + margin
    return RefineBox(0.5 * (lo + hi) @ axes, hi - lo, cell, axes)


def plate_edges(plate, electrode_size: float,
                accuracy: float = REFERENCE_ACCURACY) -> tuple[RefineCylinder, ...]:
    """Thin cylinders along the four edges of a plate's electrode face (`PlateHole`), where the
    conducting face meets the insulated sides: meshed at `electrode_size /
    PLATE_EDGE_REFINEMENT` (m) times the square of `accuracy_scale` (so that the edge's cells
    shrink like the cube of the other sizes: the error of a d^(-2/3) field falls with the edge's
    cell size to the 2/3), `PLATE_EDGE_RADII` cells in radius, reaching as far past the
    corners; the size grows from there at the regions' gradation."""
    cell = electrode_size / PLATE_EDGE_REFINEMENT * accuracy_scale(accuracy) ** 2
    radius = PLATE_EDGE_RADII * cell
    (u, v), (width, height) = np.asarray(plate.axes)[:2], plate.size
    center = np.asarray(plate.center)
    return tuple(RefineCylinder(center + sign * half_other * other, along, radius,
                                length + 2 * radius, cell)
                 for along, length, other, half_other in ((u, width, v, height / 2),
                                                          (v, height, u, width / 2))
                 for sign in (-1.0, 1.0))


def needle_edges(needle, electrode_size: float) -> tuple[RefineSphere, RefineSphere]:
    """Balls around the two singular rims of a needle's active part (the flat tip and the start
    of the insulation), meshed at `electrode_size / EDGE_REFINEMENT` (m)."""
    cell = electrode_size / EDGE_REFINEMENT
    radius = EDGE_RADII * needle.radius
    junction = needle.tip + needle.active_length * needle.direction
    return (RefineSphere(needle.tip, radius, cell), RefineSphere(junction, radius, cell))


# A material interface that meets a needle's active surface is a singular line of the field as
# well (the current crowds into the better conductor at the electrode): where one does, a
# cylinder of INTERFACE_RADII radii around the needle, as many beyond the crossing along it,
# is meshed like the rims. Materials are sampled on rings of INTERFACE_RINGS radii around the
# axis, INTERFACE_AZIMUTHS around, every INTERFACE_STEP radii along the active part.
INTERFACE_RADII = EDGE_RADII
INTERFACE_RINGS = (1.05, 1.5)
INTERFACE_AZIMUTHS = 12
INTERFACE_STEP = 0.5


def _ring_offsets(direction: np.ndarray, radius: float) -> np.ndarray:
    """(rings * azimuths, 3) offsets (m) from a needle's axis to its sampling rings, starting
    a quarter turn round the `perpendicular_frame`."""
    e1, e2 = perpendicular_frame(direction)
    angles = np.linspace(0.0, 2 * np.pi, INTERFACE_AZIMUTHS, endpoint=False) + np.pi / 2
    ring = np.outer(np.cos(angles), e1) + np.outer(np.sin(angles), e2)
    return np.concatenate([k * radius * ring for k in INTERFACE_RINGS])


def interface_crossings(needle, materials_at, electrode_size: float) -> tuple:
    """Refinement cylinders (`RefineCylinder`) where a material interface meets the active part
    of `needle` (a `Needle`): around every run of sampled stations whose rings hold more than
    one material, or another material than the station before, meshed at `electrode_size /
    EDGE_REFINEMENT` (m). `materials_at` maps points (n, 3) m to (n,) material names."""
    r, length = needle.radius, needle.active_length
    stations = np.linspace(0.0, length, int(np.ceil(length / (INTERFACE_STEP * r))) + 1)
    direction = np.asarray(needle.direction, dtype=float)
    points = (np.asarray(needle.tip)[None, None] + stations[:, None, None] * direction
              + _ring_offsets(direction, r)[None])
    found = np.asarray(materials_at(points.reshape(-1, 3))).reshape(len(stations), -1)
    mixed = np.any(found != found[:, :1], axis=1)
    change = found[1:, 0] != found[:-1, 0]
    mixed[1:] |= change
    mixed[:-1] |= change
    bounds = np.flatnonzero(np.diff(np.concatenate([[0], mixed.astype(int), [0]])))
    regions = []
    for first, last in zip(bounds[::2], bounds[1::2] - 1):  # each run of mixed stations
        lo = max(stations[first] - INTERFACE_RADII * r, 0.0)
        hi = min(stations[last] + INTERFACE_RADII * r, length)
        center = np.asarray(needle.tip) + 0.5 * (lo + hi) * direction
        regions.append(RefineCylinder(center, direction, INTERFACE_RADII * r, max(hi - lo, r),
                                      electrode_size / EDGE_REFINEMENT))
    return tuple(regions)


# ---------------------------------------------------------------- cell counts

def regions_size(regions, points, background: float, gradation: float = GRADATION):
    """(n,) the smallest size (m) any of `regions` asks for at `points` (n, 3) m, as in gmsh:
    each region's cell size inside it, growing by `gradation` per metre up to `background`."""
    return np.min([graded_size(min(r.cell_size, background), distance(r, points), background,
                               gradation) for r in regions], axis=0)


def reach_bounds(region: RefineRegion, background: float, gradation: float) -> np.ndarray:
    """Axis-aligned bounds (2, 3) m of a region grown by its graded reach."""
    reach = (background - min(region.cell_size, background)) / gradation
    if isinstance(region, RefineSphere):
        half = np.full(3, region.radius)
    elif isinstance(region, RefineCylinder):
        half = np.full(3, region.radius + region.height / 2)
    else:
        half = np.abs(np.asarray(region.axes)).T @ (np.asarray(region.size) / 2)
    c = np.asarray(region.center)
    return np.stack([c - half - reach, c + half + reach])
