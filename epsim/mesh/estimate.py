"""How many cells gmsh will make of a scene, estimated in milliseconds before it runs.

    guess = estimate_cells(domain, inclusions, holes, sizes)
    guess.cells, guess.nodes

The count is CELLS_PER_SIZE_CUBED times the integral of h(x)^-3 over the meshed volume, h being
the size field `epsim.mesh.gmsh` gives gmsh: `size` in the background; the inclusion sizes
(`inclusion_size`) inside inclusions, the later one winning; around every hole a size growing
linearly from the electrode size on its surface to `size` at the grading distance. Three parts:

- background: the domain's volume at `size`;
- inclusions: each inclusion's excess over the background, on its volume inside the domain and
  not covered by later inclusions (sampled points inside it); and the refinement regions'
  (`epsim.mesh.sizing`; sampled points in their graded reach: balls and cylinders one by one,
  boxes together) over the size field without them, the holes' grading included (the rule's
  rims and interface cylinders sit on needles) and the holes' insides left out;
- electrodes: each hole's shell, by quadrature in the distance d from the hole. A level set of a
  capsule (needle), ball or box (plate) has a known area (Steiner's formula); points sampled on
  it cut it to the domain, to where this hole is the nearest one (the shells of close needles
  overlap, and the nearest hole sets the size there) and to its excess over the local
  background. With more than MAX_HOLES_SAMPLED holes an evenly spaced subset is integrated and
  scaled, so a thousand needles cost as much as 48.

Sampling uses a fixed seed: the same scene gives the same estimate.

Calibration (benchmarks/RESULTS.md, "Budgets", `benchmarks/bench_budget.py`): the shipped
configs and size variants of them meshed by gmsh 4 (Delaunay, optimised) against the integral.
CELLS_PER_SIZE_CUBED is the geometric mean of their ratios, and NODES_PER_CELL the mean of
nodes / cells; every mesh of the calibration lies within CALIBRATION_SPREAD of its estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from epsim.mesh.scene import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    MeshSizes,
    Needle,
    PlateHole,
    Sphere,
    SphereHole,
    SphereInclusion,
    StlInclusion,
    TubeInclusion,
    bounds,
    electrode_size,
    exit_points,
    inclusion_size,
    perpendicular_frame,
    segment_distances,
    signed_distances,
)
from epsim.mesh.scene.spatial import BoxIndex
from epsim.mesh.sizing import (
    RefineBox, graded_size, reach_bounds, region_gradation, regions_size,
)

CELLS_PER_SIZE_CUBED = 6.4  # calibrated: cells per h^3 of volume (regular tetrahedra: 8.5)
NODES_PER_CELL = 0.19  # calibrated: nodes per cell
CALIBRATION_SPREAD = 0.15  # largest relative error of the calibration meshes
MAX_HOLES_SAMPLED = 48
POINTS_PER_LEVEL = 64  # sampled points on each level set of a hole's shell
INCLUSION_POINTS = 4096  # sampled points inside each inclusion
STL_POINTS = 256  # fewer inside STL surfaces: their distance is measured point by point
REGION_POINTS = 8192  # sampled points in the graded reach of each refinement ball or cylinder
UNION_POINTS = 32768  # and in that of the refinement boxes together
_GAUSS = np.polynomial.legendre.leggauss(4)


@dataclass(frozen=True)
class CellEstimate:
    """Estimated mesh of a scene.

    Attributes:
        cells, nodes: estimated counts.
        background, inclusions, electrodes: the three parts of `cells` (module docstring).
        volume: the domain's volume, m^3.
    """

    cells: float
    nodes: float
    background: float
    inclusions: float
    electrodes: float
    volume: float


def estimate_cells(
    domain, inclusions: Sequence = (), holes: Sequence = (), sizes: MeshSizes | None = None,
) -> CellEstimate:
    """Estimate the cells and nodes gmsh makes of a checked scene (the arguments of
    `epsim.mesh.gmsh.build_mesh`). Pure numpy, milliseconds; no gmsh.
    """
    inclusions, holes = tuple(inclusions), tuple(holes)
    sizes = sizes or MeshSizes(size=domain.bounding_sphere()[1] / 5)
    rng = np.random.default_rng(0)
    volume = domain_volume(domain)
    background = volume / sizes.size**3
    extra = sum(_inclusion_excess(domain, inclusions, i, sizes, rng)
                for i in range(len(inclusions)))
    base = _BaseSize(domain, inclusions, holes, sizes)
    boxes = [r for r in sizes.refine if isinstance(r, RefineBox)]  # the zones: they overlap
    extra += _regions_excess(boxes, base, rng, UNION_POINTS)
    small = [r for r in sizes.refine if not isinstance(r, RefineBox)]  # balls, cylinders
    extra += sum(_regions_excess((r,), base, rng, REGION_POINTS) for r in small)
    shells = _electrode_excess(base, rng)
    scale = CELLS_PER_SIZE_CUBED
    cells = scale * (background + extra + shells)
    return CellEstimate(cells, NODES_PER_CELL * cells, scale * background, scale * extra,
                        scale * shells, volume)


def domain_volume(domain) -> float:
    """Volume (m^3) of a Box, Cylinder or Sphere."""
    if isinstance(domain, Box):
        return float(np.prod(domain.size))
    if isinstance(domain, Cylinder):
        return math.pi * domain.radius**2 * domain.height
    if isinstance(domain, Sphere):
        return 4.0 / 3.0 * math.pi * domain.radius**3
    raise TypeError(f"unknown domain type {type(domain).__name__}")


# ---------------------------------------------------------------- inclusions

def _size_of(inc, sizes: MeshSizes) -> float:
    """The size (m) gmsh gets inside an inclusion, capped at the background size."""
    return min(inclusion_size(inc, sizes) or sizes.size, sizes.size)


def _inside(inc, points: np.ndarray) -> np.ndarray:
    """Points in the inclusion; an STL surface is taken as its bounding box (its exact test
    goes point by point, too slow for the shells' many points)."""
    if isinstance(inc, StlInclusion):
        lo, hi = bounds(inc)
        return np.all((points >= lo) & (points <= hi), axis=1)
    return signed_distances(inc, points) <= 0.0


def _local_size(inclusions: Sequence, sizes: MeshSizes, points: np.ndarray) -> np.ndarray:
    """Background size (m) at points (n, 3): `size`, or the last inclusion's there."""
    h = np.full(len(points), sizes.size)
    for inc in inclusions:
        h = np.where(_inside(inc, points), _size_of(inc, sizes), h)
    return h


def _ball(n: int, rng) -> np.ndarray:
    """n points uniform in the unit ball."""
    u = rng.standard_normal((n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u * np.cbrt(rng.random(n))[:, None]


def _cylinder_points(base, axis, radius, height, n, rng) -> np.ndarray:
    """n points uniform in a cylinder."""
    axis = np.asarray(axis, dtype=np.float64)
    e1, e2 = perpendicular_frame(axis)
    r, theta = radius * np.sqrt(rng.random(n)), 2 * math.pi * rng.random(n)
    return (np.asarray(base) + np.outer(height * rng.random(n), axis)
            + np.outer(r * np.cos(theta), e1) + np.outer(r * np.sin(theta), e2))


def _inclusion_points(inc, n: int, rng) -> tuple[np.ndarray, float]:
    """Points uniform inside an inclusion and its volume (m^3)."""
    if isinstance(inc, SphereInclusion):
        return inc.center + inc.radius * _ball(n, rng), 4 / 3 * math.pi * inc.radius**3
    if isinstance(inc, EllipsoidInclusion):
        r = np.asarray(inc.radii)
        return inc.center + r * _ball(n, rng), 4 / 3 * math.pi * float(np.prod(r))
    if isinstance(inc, BoxInclusion):
        size = np.asarray(inc.size)
        return inc.center + (rng.random((n, 3)) - 0.5) * size, float(np.prod(size))
    if isinstance(inc, CylinderInclusion):
        points = _cylinder_points(inc.base_center, inc.axis, inc.radius, inc.height, n, rng)
        return points, math.pi * inc.radius**2 * inc.height
    if isinstance(inc, TubeInclusion):
        q = np.asarray(inc.points)
        lengths = np.linalg.norm(np.diff(q, axis=0), axis=1)
        pick = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
        points = np.empty((n, 3))
        for k, (a, b) in enumerate(zip(q[:-1], q[1:])):
            m = pick == k
            points[m] = _cylinder_points(a, (b - a) / lengths[k], inc.radius, lengths[k],
                                         int(m.sum()), rng)
        return points, math.pi * inc.radius**2 * float(lengths.sum())
    lo, hi = bounds(inc)  # an STL surface: rejection from its box
    box = lo + rng.random((STL_POINTS, 3)) * (hi - lo)
    inside = signed_distances(inc, box) <= 0.0
    return box[inside], float(np.prod(hi - lo)) * float(inside.mean())


def _inclusion_excess(domain, inclusions: Sequence, i: int, sizes: MeshSizes, rng) -> float:
    """Integral of h^-3 - size^-3 over inclusion i where it is inside the domain and no later
    inclusion covers it."""
    inc = inclusions[i]
    h = _size_of(inc, sizes)
    if h >= sizes.size:
        return 0.0
    points, volume = _inclusion_points(inc, INCLUSION_POINTS, rng)
    if len(points) == 0:
        return 0.0
    keep = signed_distances(domain, points) <= 0.0
    for later in inclusions[i + 1:]:
        keep &= ~_inside(later, points)
    return volume * float(keep.mean()) * (h**-3 - sizes.size**-3)


# ---------------------------------------------------------------- holes

def _unit_vectors(n: int, rng) -> np.ndarray:
    u = rng.standard_normal((n, 3))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _capsule_level(a, b, rho: float, n: int, rng) -> tuple[np.ndarray, float]:
    """n points uniform on the surface at distance rho from the segment a-b, and its area."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    axis = axis / length if length > 0.0 else np.array([0.0, 0.0, 1.0])
    side, ends = 2 * math.pi * rho * length, 4 * math.pi * rho**2
    on_side = rng.random(n) < side / (side + ends)
    e1, e2 = perpendicular_frame(axis)
    theta = 2 * math.pi * rng.random(n)
    points = (a + np.outer(length * rng.random(n), axis)
              + rho * (np.outer(np.cos(theta), e1) + np.outer(np.sin(theta), e2)))
    u = _unit_vectors(n, rng)
    cap = np.where((u @ axis)[:, None] < 0.0, a, b) + rho * u
    return np.where(on_side[:, None], points, cap), side + ends


def _box_level(half: np.ndarray, d: float, n: int, rng) -> tuple[np.ndarray, float]:
    """n points uniform on the surface at distance d outside a box of half extents `half`
    (local frame), and its area: faces moved out, quarter cylinders along the edges, ball
    octants at the corners."""
    edge = 2 * half
    weights = np.concatenate([
        2 * np.array([edge[1] * edge[2], edge[0] * edge[2], edge[0] * edge[1]]),  # faces
        2 * math.pi * d * edge,  # edges along x, y, z
        [4 * math.pi * d**2],  # corners
    ])
    area = float(weights.sum())
    kind = rng.choice(7, size=n, p=weights / area)
    sign = np.where(rng.random((n, 3)) < 0.5, -1.0, 1.0)
    points = (rng.random((n, 3)) * 2 - 1) * half
    for k in range(3):
        face, along = kind == k, kind == 3 + k
        points[face, k] = sign[face, k] * (half[k] + d)
        i, j = [x for x in range(3) if x != k]
        phi = 0.5 * math.pi * rng.random(int(along.sum()))
        points[along, i] = sign[along, i] * (half[i] + d * np.cos(phi))
        points[along, j] = sign[along, j] * (half[j] + d * np.sin(phi))
    corner = kind == 6
    points[corner] = sign[corner] * (half + d * np.abs(_unit_vectors(int(corner.sum()), rng)))
    return points, area


@dataclass(frozen=True)
class _Shell:
    """What the quadrature needs of one hole: its distance function's shape and bounds."""

    hole: object
    start: np.ndarray | None  # needles: the segment the distance is measured from
    end: np.ndarray | None
    sampled_end: np.ndarray | None  # needles: the end of the part that can reach the tissue
    bounds: np.ndarray  # (2, 3), the hole's box grown by the grading distance

    def distances(self, points: np.ndarray) -> np.ndarray:
        """Distances (n,) from points to the hole's surface as gmsh's size field measures them
        (`epsim.mesh.gmsh`: needles as capsules, sphere holes and plate boxes exactly), m."""
        hole = self.hole
        if isinstance(hole, Needle):
            return segment_distances(points, self.start, self.end) - hole.radius
        if isinstance(hole, SphereHole):
            return np.linalg.norm(points - np.asarray(hole.center), axis=1) - hole.radius
        q = np.abs((points - hole.box_center) @ hole.axes.T) - hole.half_extents
        return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)

    def level(self, d: float, n: int, rng) -> tuple[np.ndarray, float]:
        """n points uniform on the level set at distance d, and its area (m^2)."""
        hole = self.hole
        if isinstance(hole, Needle):
            return _capsule_level(self.start, self.sampled_end, hole.radius + d, n, rng)
        if isinstance(hole, SphereHole):
            c = np.asarray(hole.center)
            return c + (hole.radius + d) * _unit_vectors(n, rng), 4 * math.pi * (hole.radius + d)**2
        local, area = _box_level(hole.half_extents, d, n, rng)
        return hole.box_center + local @ hole.axes, area


def _needle_segments(domain, needles: Sequence) -> tuple[np.ndarray, ...]:
    """(start, end, exit, axis), each (n, 3): the segment gmsh's distance field measures each
    needle from, where it leaves the domain and its unit axis, as `needle_path` finds them,
    for all needles at once (without its checks: the scene was checked)."""
    tips = np.array([n.tip for n in needles], dtype=np.float64).reshape(-1, 3)
    axes = np.array([n.entry for n in needles], dtype=np.float64).reshape(-1, 3) - tips
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    center, radius = domain.bounding_sphere()
    on_surface = signed_distances(domain, tips) >= -1e-9 * radius
    start = np.where(on_surface[:, None], tips - 0.1 * radius * axes, tips)
    end = tips + (np.linalg.norm(tips - center, axis=1) + 1.2 * radius)[:, None] * axes
    return start, end, exit_points(domain, tips, end), axes


class _Shells:
    """Every hole's shell: the bounds of all at once (for the spatial index), a `_Shell` made
    when one is asked for, so that a hundred thousand needles cost little."""

    def __init__(self, domain, holes: Sequence, grading: float):
        self.holes, self.grading = tuple(holes), grading
        self.bounds = np.empty((len(self.holes), 2, 3))
        self.made: dict[int, _Shell] = {}
        index = [k for k, h in enumerate(self.holes) if isinstance(h, Needle)]
        start, end, exit_at, axes = _needle_segments(domain, [self.holes[k] for k in index])
        reach = np.minimum(np.linalg.norm(exit_at - start, axis=1) + grading,
                           np.linalg.norm(end - start, axis=1))
        sampled = start + reach[:, None] * axes
        radius = np.array([self.holes[k].radius for k in index]).reshape(-1, 1)
        self.bounds[index] = np.stack([np.minimum(start, end) - radius - grading,
                                       np.maximum(start, end) + radius + grading], axis=1)
        self.segments = dict(zip(index, zip(start, end, sampled)))
        for k, hole in enumerate(self.holes):
            if isinstance(hole, SphereHole):
                c = np.asarray(hole.center)
                self.bounds[k] = [c - hole.radius - grading, c + hole.radius + grading]
            elif isinstance(hole, PlateHole):
                reach = np.abs(hole.axes).T @ hole.half_extents + grading
                self.bounds[k] = [hole.box_center - reach, hole.box_center + reach]

    def __len__(self) -> int:
        return len(self.holes)

    def __getitem__(self, k: int) -> _Shell:
        if k not in self.made:
            start, end, sampled = self.segments.get(k, (None, None, None))
            self.made[k] = _Shell(self.holes[k], start, end, sampled, self.bounds[k])
        return self.made[k]


class _BaseSize:
    """The size field without the refinement regions: the background's, the inclusions' and
    the holes' own grading (`__call__`: sizes at points, and which of them lie in the tissue,
    outside every hole). Holds the holes' shells (`_Shells`, None when the electrode size is not
    below the background's) for `_electrode_excess` too."""

    def __init__(self, domain, inclusions: Sequence, holes: Sequence, sizes: MeshSizes):
        self.domain, self.inclusions, self.sizes = domain, inclusions, sizes
        self.e = electrode_size(sizes, holes) if holes else sizes.size
        self.grading = sizes.grading_distance or max(3 * (sizes.size - self.e), self.e)
        self.shells = _Shells(domain, holes, self.grading) if self.e < sizes.size else None

    def __call__(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray):
        size = self.sizes.size
        base = _local_size(self.inclusions, self.sizes, x)
        keep = signed_distances(self.domain, x) <= 0.0
        if self.shells is not None:  # the holes whose shells reach the box lo..hi
            b, slope = self.shells.bounds, (size - self.e) / self.grading
            for k in np.nonzero(np.all(b[:, 0] <= hi, axis=1) & np.all(b[:, 1] >= lo, axis=1))[0]:
                d = self.shells[int(k)].distances(x)
                keep &= d > 0.0
                base = np.minimum(base, graded_size(self.e, np.maximum(d, 0.0), size, slope))
        return base, keep


def _regions_excess(regions: Sequence, base: _BaseSize, rng, points: int) -> float:
    """What refinement regions add to the integral of h^-3 over the size field without them
    (`_BaseSize`), sampled at `points` uniform points of their graded reach clipped to the
    domain: a zone or rim over a needle's graded shell is not counted twice, and nothing inside
    a hole is counted."""
    if not regions:
        return 0.0
    size, gradation = base.sizes.size, region_gradation(base.sizes)
    reach = np.array([reach_bounds(r, size, gradation) for r in regions])
    box = bounds(base.domain)
    lo, hi = np.maximum(reach[:, 0].min(axis=0), box[0]), np.minimum(reach[:, 1].max(axis=0),
                                                                      box[1])
    if np.any(hi <= lo):
        return 0.0
    x = lo + (hi - lo) * rng.random((points, 3))
    floor, keep = base(x, lo, hi)
    h = regions_size(regions, x, size, gradation)
    gain = np.where(keep, np.maximum(h**-3.0 - floor**-3.0, 0.0), 0.0)
    return float(np.prod(hi - lo) * gain.mean())


def _levels(e: float, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature sizes u (the size field's value on the level set) and weights in log u, from
    e to size: composite 4-point Gauss-Legendre on unit intervals of log u, exact enough for
    the integrand u^-2 (times a polynomial in d) whatever size / e is."""
    span = math.log(size / e)
    pieces = max(1, math.ceil(span))
    x, w = _GAUSS
    edges = np.linspace(0.0, span, pieces + 1)
    v = np.concatenate([(a + b) / 2 + (b - a) / 2 * x for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(b - a) / 2 * w for a, b in zip(edges[:-1], edges[1:])])
    return e * np.exp(v), weights


def _electrode_excess(base: _BaseSize, rng) -> float:
    """Integral of the refinement around holes over the background's size field."""
    shells = base.shells
    if shells is None:
        return 0.0
    domain, inclusions, sizes = base.domain, base.inclusions, base.sizes
    size, e, grading = sizes.size, base.e, base.grading
    index = BoxIndex(shells.bounds)
    for k in range(len(shells)):
        index.add(k)
    chosen = np.unique(np.linspace(0, len(shells) - 1, min(len(shells), MAX_HOLES_SAMPLED))
                       .round().astype(int))
    u, weights = _levels(e, size)
    d = (u - e) / (size - e) * grading  # distance at which the size field is u
    total = 0.0
    for k in chosen:
        levels = [shells[k].level(dk, POINTS_PER_LEVEL, rng) for dk in d]
        points = np.concatenate([p for p, _ in levels])
        at = np.repeat(d, POINTS_PER_LEVEL)  # each point's distance from hole k
        gain = np.repeat(u, POINTS_PER_LEVEL) ** -3 - _local_size(inclusions, sizes, points) ** -3
        keep = (gain > 0.0) & (signed_distances(domain, points) <= 0.0)
        for j in index.near(int(k)):  # the nearest hole sets the size; ties go to the first
            if j != k:
                other = shells[j].distances(points)
                keep &= (other >= at) if j > k else (other > at)
        mean = (gain * keep).reshape(len(d), POINTS_PER_LEVEL).mean(axis=1)
        areas = np.array([area for _, area in levels])
        # d(d) = grading / (size - e) du and du = u d(log u)
        total += float(np.sum(weights * u * grading / (size - e) * areas * mean))
    return total * len(shells) / len(chosen)


__all__ = [
    "CALIBRATION_SPREAD", "CELLS_PER_SIZE_CUBED", "CellEstimate", "MAX_HOLES_SAMPLED",
    "NODES_PER_CELL", "domain_volume", "estimate_cells",
]
