"""Mesh a scene (see `epsim.mesh.scene`) into a conforming tetrahedral TetMesh with gmsh (OCC).

    mesh = build_mesh(
        Box(center=(0, 0, 0), size=(0.04, 0.04, 0.04)),
        inclusions=[SphereInclusion("tumour", (0, 0, 0), 0.008, material="tumour")],
        holes=[Needle("n1", tip=(0.005, 0, -0.01), entry=(0.005, 0, 0.02), radius=5e-4,
                      active_length=0.015)],
        sizes=MeshSizes(size=4e-3, inclusion_size=1.5e-3, electrode_size=4e-4),
    )

How it works: everything is fragmented with OCC in one go (domain as object, inclusions and hole
tools as tools), so interfaces are conforming; the pieces are then classified from the fragment
map (inside the domain or not, inside a hole or not, in which inclusion) and the surfaces from the
volumes they bound: a surface between kept tissue and a hole piece gets that hole's tag (a plate's
faces are told apart by their plane), a surface that bounds a single kept volume is on the outer
boundary and is named by the domain from its position and normal. Tubes are cylinders fused with
balls at the joints before the fragment; STL surfaces become one planar OCC face per triangle.
Sizes come from analytic distance fields (MathEval) to each hole, so no surface sampling is
needed, and from Constant fields on the inclusions' volumes. Geometry is built internally in
millimetres (OCC's absolute tolerances are about 1e-7 model units) and converted back to metres.

gmsh runs in a child process (`epsim.mesh.isolated`) that an interrupt stops at once; gmsh
ignores Ctrl-C while it meshes. The child returns the arrays, and the parent builds the TetMesh.
gmsh is imported lazily and initialised only inside `mesh_arrays` (and finalised after, unless
the caller had it initialised already, in which case a temporary model is used and the options
are restored). gmsh is a global singleton: in-process calls are serialised with a lock.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from epsim.errors import ElectrodeError, EpsimError, MeshError
from epsim.mesh.scene import (  # noqa: F401  (specs re-exported for convenience)
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    Domain,
    EllipsoidInclusion,
    Hole,
    Inclusion,
    MeshSizes,
    Needle,
    NeedlePath,
    PlateHole,
    Sphere,
    SphereHole,
    SphereInclusion,
    StlInclusion,
    TubeInclusion,
    check_scene,
    electrode_size,
    hole_tags,
    inclusion_size,
    layer_inclusions,
    plate_pair,
    region_names,
    segment_distance,
)
from epsim.mesh.isolated import can_isolate, run_isolated
from epsim.mesh.ordering import renumbered
from epsim.mesh.sizing import add_fields as add_refine_fields
from epsim.mesh.sizing import region_gradation
from epsim.mesh.tetmesh import TetMesh, make_mesh

_MODEL_UNITS_PER_METRE = 1e3  # gmsh works in millimetres
_GMSH_LOCK = threading.Lock()
_TET4, _TRI3 = 4, 2  # gmsh element type ids


# --------------------------------------------------------------------------------------------
# gmsh session


@contextlib.contextmanager
def _gmsh_session(options: Mapping[str, float]) -> Iterator:
    """Yield the gmsh module with a fresh current model and `options` set; undo it all after."""
    import gmsh  # lazy: loads a large shared library

    with _GMSH_LOCK:
        owner = not gmsh.isInitialized()
        if owner:
            gmsh.initialize(readConfigFiles=False, interruptible=False)
        old = {key: gmsh.option.getNumber(key) for key in options}
        previous_model = None if owner else gmsh.model.getCurrent()
        try:
            for key, value in options.items():
                gmsh.option.setNumber(key, value)
            gmsh.model.add("epsim_scene")
            yield gmsh
        finally:
            try:
                gmsh.model.remove()
                if previous_model:
                    gmsh.model.setCurrent(previous_model)
                for key, value in old.items():
                    gmsh.option.setNumber(key, value)
            finally:
                if owner:
                    gmsh.finalize()


def _gmsh_options(sizes: MeshSizes, seed: int, optimize: bool) -> dict[str, float]:
    return {
        "General.Terminal": 0,
        "General.Verbosity": 1,
        "General.NumThreads": 1,
        "Mesh.MaxNumThreads1D": 1,
        "Mesh.MaxNumThreads2D": 1,
        "Mesh.MaxNumThreads3D": 1,
        "Mesh.RandomSeed": int(seed),
        "Mesh.Algorithm": 6,  # Frontal-Delaunay (2D)
        "Mesh.Algorithm3D": 1,  # Delaunay
        "Mesh.ElementOrder": 1,
        "Mesh.Optimize": 1 if optimize else 0,
        "Mesh.MeshSizeFromPoints": 0,
        "Mesh.MeshSizeFromCurvature": 0,
        "Mesh.MeshSizeExtendFromBoundary": 0,
        "Mesh.MeshSizeMin": 0.0,
        "Mesh.MeshSizeMax": sizes.size * _MODEL_UNITS_PER_METRE,
    }


# --------------------------------------------------------------------------------------------
# Geometry (inside a session; model units are millimetres)


def _mm(x) -> list[float]:
    return [float(v) * _MODEL_UNITS_PER_METRE for v in np.atleast_1d(x)]


def _add_cylinder(occ, base, vector, radius) -> int:
    (x, y, z), (dx, dy, dz) = _mm(base), _mm(vector)
    return occ.addCylinder(x, y, z, dx, dy, dz, _mm(radius)[0])


def _add_domain(occ, domain: Domain) -> int:
    if isinstance(domain, Box):
        corner = np.asarray(domain.center) - np.asarray(domain.size) / 2
        return occ.addBox(*_mm(corner), *_mm(domain.size))
    if isinstance(domain, Cylinder):
        axis = np.asarray(domain.axis) * domain.height
        return _add_cylinder(occ, domain.base_center, axis, domain.radius)
    if isinstance(domain, Sphere):
        return occ.addSphere(*_mm(domain.center), _mm(domain.radius)[0])
    raise MeshError(f"unknown domain type {type(domain).__name__}")


def _add_polyhedron(occ, vertices: np.ndarray, triangles: np.ndarray) -> int:
    """A volume bounded by a closed triangulated surface (vertices (n, 3) m, triangles (m, 3))."""
    points = [occ.addPoint(*_mm(v)) for v in vertices]
    lines: dict[tuple[int, int], int] = {}

    def line(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in lines:
            lines[key] = occ.addLine(points[key[0]], points[key[1]])
        return lines[key] if a < b else -lines[key]

    faces = [
        occ.addPlaneSurface([occ.addCurveLoop([line(a, b), line(b, c), line(c, a)])])
        for a, b, c in triangles
    ]
    return occ.addVolume([occ.addSurfaceLoop(faces)])


def _add_tube(occ, points, radius: float) -> list[int]:
    """Cylinders along the segments of `points` (n, 3) fused with balls at the inner joints."""
    points = np.asarray(points)
    parts = [_add_cylinder(occ, a, b - a, radius) for a, b in zip(points[:-1], points[1:])]
    parts += [occ.addSphere(*_mm(p), _mm(radius)[0]) for p in points[1:-1]]
    if len(parts) == 1:
        return parts
    fused, _ = occ.fuse([(3, parts[0])], [(3, t) for t in parts[1:]])
    return [tag for dim, tag in fused if dim == 3]


def _add_inclusion(occ, inc: Inclusion) -> list[int]:
    """OCC volumes of an inclusion."""
    if isinstance(inc, SphereInclusion):
        return [occ.addSphere(*_mm(inc.center), _mm(inc.radius)[0])]
    if isinstance(inc, EllipsoidInclusion):
        tag = occ.addSphere(*_mm(inc.center), 1.0)
        occ.dilate([(3, tag)], *_mm(inc.center), *_mm(inc.radii))
        return [tag]
    if isinstance(inc, CylinderInclusion):
        axis = np.asarray(inc.axis) * inc.height
        return [_add_cylinder(occ, inc.base_center, axis, inc.radius)]
    if isinstance(inc, BoxInclusion):
        corner = np.asarray(inc.center) - np.asarray(inc.size) / 2
        return [occ.addBox(*_mm(corner), *_mm(inc.size))]
    if isinstance(inc, TubeInclusion):
        return _add_tube(occ, inc.points, inc.radius)
    if isinstance(inc, StlInclusion):
        return [_add_polyhedron(occ, *inc.surface())]
    raise MeshError(f"unknown inclusion type {type(inc).__name__}")


def _add_plate(occ, plate: PlateHole) -> int:
    """The plate box: its electrode face, extruded by the thickness against the normal."""
    w, h, n = plate.axes
    half_w, half_h = w * plate.size[0] / 2, h * plate.size[1] / 2
    signs = ((-1, -1), (1, -1), (1, 1), (-1, 1))
    corners = [plate.center + sw * half_w + sh * half_h for sw, sh in signs]
    points = [occ.addPoint(*_mm(c)) for c in corners]
    lines = [occ.addLine(points[i], points[(i + 1) % 4]) for i in range(4)]
    face = occ.addPlaneSurface([occ.addCurveLoop(lines)])
    out = occ.extrude([(2, face)], *_mm(-n * plate.thickness))
    return next(tag for dim, tag in out if dim == 3)


def _add_hole(occ, hole: Hole, path: NeedlePath | None) -> list[tuple[int, str | PlateHole]]:
    """OCC volumes of a hole, each with the facet tag its surface gets (for a plate: the plate,
    whose faces are told apart by `PlateHole.face_tag`)."""
    if isinstance(hole, SphereHole):
        return [(occ.addSphere(*_mm(hole.center), _mm(hole.radius)[0]), hole.name)]
    if isinstance(hole, PlateHole):
        return [(_add_plate(occ, hole), hole)]
    if path.junction is None:
        return [(_add_cylinder(occ, path.start, path.end - path.start, hole.radius), hole.name)]
    active = _add_cylinder(occ, path.start, path.junction - path.start, hole.radius)
    insulated = _add_cylinder(occ, path.junction, path.end - path.junction, hole.radius)
    return [(active, hole.name), (insulated, hole.insulated_name)]


@dataclass(frozen=True)
class SizeGrid:
    """Cell sizes sampled on an axis-aligned grid (an image scene's sizes per label, see
    `epsim.imaging.mesher`), interpolated linearly by gmsh's Structured field; `sizes.size`
    outside the grid.

    Attributes:
        origin: (3,) m, the grid point (0, 0, 0).
        spacing: (3,) m between grid points along x, y, z.
        values: (nx, ny, nz) sizes in m.
    """

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    values: np.ndarray


@contextlib.contextmanager
def _structured_field(gmsh, grid: SizeGrid, size: float) -> Iterator[int | None]:
    """A Structured size field from `grid` (mm), read by gmsh from a temporary binary file that
    is removed once the mesh is made; None without a grid."""
    if grid is None:
        yield None
        return
    values = np.asarray(grid.values, dtype="<f8")
    handle, path = tempfile.mkstemp(suffix=".epsim-sizes")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(np.asarray(_mm(grid.origin), "<f8").tobytes())
            out.write(np.asarray(_mm(grid.spacing), "<f8").tobytes())
            out.write(np.asarray(values.shape, "<i4").tobytes())
            out.write((values * _MODEL_UNITS_PER_METRE).tobytes())
        field = gmsh.model.mesh.field
        tag = field.add("Structured")
        field.setString(tag, "FileName", path)
        field.setNumber(tag, "TextFormat", 0)
        field.setNumber(tag, "SetOutsideValue", 1)
        field.setNumber(tag, "OutsideValue", size * _MODEL_UNITS_PER_METRE)
        yield tag
    finally:
        os.unlink(path)


@dataclass(frozen=True)
class _Scene:
    """The meshed model's bookkeeping: kept volumes and tagged surfaces (gmsh entity tags)."""

    volume_region: dict[int, int]  # kept volume -> region index
    surfaces: dict[str, list[int]]  # facet tag -> surfaces
    volume_size: dict[int, float]  # kept volume -> its inclusion's element size (m), if any


def _surface_point_normal(gmsh, surface: int) -> tuple[np.ndarray, np.ndarray]:
    """A point (m) on the underlying surface and the unit normal there."""
    lo, hi = gmsh.model.getParametrizationBounds(2, surface)
    uv = [(a + b) / 2 for a, b in zip(lo, hi)]
    point = np.asarray(gmsh.model.getValue(2, surface, uv)) / _MODEL_UNITS_PER_METRE
    normal = np.asarray(gmsh.model.getNormal(surface, uv))
    return point, normal / np.linalg.norm(normal)


def _classify_volumes(gmsh, domain, inclusions, in_domain, in_inclusion, hole_of, sizes, regions):
    """Kept volumes with their region index and element size.

    A volume is kept when it is in the domain (`in_domain`) and in no hole (`hole_of`); its
    region is that of the last inclusion containing it (`in_inclusion[i]`: the volumes inclusion
    i became), else the domain's, and so is its size (`inclusion_size`). Regions are per
    material or per inclusion name (`regions`, see `region_names`).
    """
    for inc, p in zip(inclusions, in_inclusion):
        if not p & in_domain:
            raise MeshError(f"inclusion {inc.name!r} does not intersect the domain")
    names = region_names(domain, inclusions, regions)
    volume_region, volume_size = {}, {}
    for _, v in gmsh.model.getEntities(3):
        if v in in_domain and v not in hole_of:
            owner = None
            for inc, p in zip(inclusions, in_inclusion):
                if v in p:
                    owner = inc
            key = None if owner is None else (owner.name if regions == "name" else owner.material)
            volume_region[v] = 0 if owner is None else names.index(key)
            size = None if owner is None else inclusion_size(owner, sizes)
            if size:
                volume_size[v] = size
    if not volume_region:
        raise MeshError("the holes leave nothing of the domain to mesh")
    return volume_region, volume_size


def _tag_surfaces(gmsh, domain, holes, volume_region, hole_of) -> dict[str, list[int]]:
    """Facet tag -> surfaces: hole tags for tissue/hole interfaces, boundary tags for surfaces
    that bound a single kept volume (named by the domain from a point and the normal)."""
    adjacent: dict[int, list[int]] = {}
    for _, v in gmsh.model.getEntities(3):
        for _, s in gmsh.model.getBoundary([(3, v)], combined=False, oriented=False):
            adjacent.setdefault(abs(s), []).append(v)
    surfaces = {tag: [] for tag in domain.boundary_tags}
    for hole in holes:
        surfaces.update({tag: [] for tag in hole_tags(hole)})
    for s, volumes in sorted(adjacent.items()):
        kept = [v for v in volumes if v in volume_region]
        labels = [hole_of[v] for v in volumes if v in hole_of]
        if kept and labels:
            label = labels[0]
            if isinstance(label, PlateHole):
                label = label.face_tag(*_surface_point_normal(gmsh, s))
            surfaces[label].append(s)
        elif len(kept) == 1:
            point, normal = _surface_point_normal(gmsh, s)
            surfaces[domain.boundary_tag(point, normal)].append(s)
    return surfaces


def _build_geometry(
    gmsh, domain: Domain, inclusions: Sequence, holes: Sequence, paths, sizes: MeshSizes,
    regions: str = "material",
) -> _Scene:
    """Build, fragment, classify and tag the scene's OCC model; remove what is not tissue."""
    occ = gmsh.model.occ
    domain_tag = _add_domain(occ, domain)
    inclusion_tags = [_add_inclusion(occ, inc) for inc in inclusions]
    hole_tools = [t for h in holes for t in _add_hole(occ, h, paths.get(h.name))]
    tools = [(3, t) for tags in inclusion_tags for t in tags] + [(3, t) for t, _ in hole_tools]
    if tools:
        _, pieces = occ.fragment([(3, domain_tag)], tools)
        pieces = [{tag for _, tag in p} for p in pieces]
    else:
        pieces = [{domain_tag}]
    occ.synchronize()

    in_inclusion, k = [], 1
    for tags in inclusion_tags:
        in_inclusion.append(set().union(*pieces[k : k + len(tags)]))
        k += len(tags)
    hole_of = {v: label for p, (_, label) in zip(pieces[k:], hole_tools) for v in p}
    volume_region, volume_size = _classify_volumes(
        gmsh, domain, inclusions, pieces[0], in_inclusion, hole_of, sizes, regions
    )
    surfaces = _tag_surfaces(gmsh, domain, holes, volume_region, hole_of)
    discard = [(3, v) for _, v in gmsh.model.getEntities(3) if v not in volume_region]
    if discard:
        occ.remove(discard, recursive=True)
        occ.synchronize()
    return _Scene(volume_region, surfaces, volume_size)


def _number(value) -> str:
    return f"({float(value)!r})"


def _distance_expression(hole: Hole, path: NeedlePath | None) -> str:
    """gmsh MathEval expression (x, y, z in mm) of the distance (mm) to a hole's surface.

    Needles are measured as capsules around their axis segment (exact along the shaft, slightly
    short near the flat tip), sphere holes and plates exactly (outside them). Analytic, so no
    surface sampling is needed.
    """
    if isinstance(hole, PlateHole):  # outside a box: |max(|local coordinates| - half, 0)|
        c = [_number(v) for v in _mm(hole.box_center)]
        q = []
        for axis, half in zip(hole.axes, _mm(hole.half_extents)):
            local = "+".join(f"({x}-{ci})*{_number(ai)}" for x, ci, ai in zip("xyz", c, axis))
            q.append(f"Max(Abs({local})-{_number(half)},0)^2")
        return f"Sqrt({'+'.join(q)})"
    radius = _number(_mm(hole.radius)[0])
    if isinstance(hole, SphereHole):
        c = [_number(v) for v in _mm(hole.center)]
        return f"Sqrt((x-{c[0]})^2+(y-{c[1]})^2+(z-{c[2]})^2)-{radius}"
    a = np.asarray(_mm(path.start))
    ab = np.asarray(_mm(path.end)) - a
    length = float(np.linalg.norm(ab))
    u = [_number(v) for v in ab / length]
    a = [_number(v) for v in a]
    axial = f"(x-{a[0]})*{u[0]}+(y-{a[1]})*{u[1]}+(z-{a[2]})*{u[2]}"
    t = f"Min(Max({axial},0),{_number(length)})"
    squares = [f"({c}-{a[i]}-{t}*{u[i]})^2" for i, c in enumerate("xyz")]
    return f"Sqrt({'+'.join(squares)})-{radius}"


def _size_fields(gmsh, scene: _Scene, sizes: MeshSizes, holes: Sequence, paths,
                 grid_field: int | None = None) -> None:
    """Background size: Min over holes of Threshold(distance to the hole), the refinement
    regions of `sizes.refine` (`epsim.mesh.sizing`), Constant on inclusions, and the
    Structured field `grid_field` of a `SizeGrid` when there is one.

    Near a hole the size grows linearly from the electrode size on its surface to `sizes.size`
    at `grading_distance`.
    """
    field = gmsh.model.mesh.field
    size = sizes.size * _MODEL_UNITS_PER_METRE
    fields = [] if grid_field is None else [grid_field]
    if holes:
        e = electrode_size(sizes, holes) * _MODEL_UNITS_PER_METRE
        grading = sizes.grading_distance
        grading = grading * _MODEL_UNITS_PER_METRE if grading else max(3 * (size - e), e)
        for hole in holes:
            distance = field.add("MathEval")
            field.setString(distance, "F", _distance_expression(hole, paths.get(hole.name)))
            threshold = field.add("Threshold")
            field.setNumber(threshold, "InField", distance)
            field.setNumber(threshold, "SizeMin", e)
            field.setNumber(threshold, "SizeMax", size)
            field.setNumber(threshold, "DistMin", 0.0)
            field.setNumber(threshold, "DistMax", grading)
            fields.append(threshold)
    fields += add_refine_fields(field, sizes.refine, sizes.size, _MODEL_UNITS_PER_METRE,
                                region_gradation(sizes))
    by_size: dict[float, list[int]] = {}
    for v, s in sorted(scene.volume_size.items()):
        by_size.setdefault(s, []).append(v)
    for s, volumes in sorted(by_size.items()):
        constant = field.add("Constant")
        field.setNumber(constant, "VIn", min(s * _MODEL_UNITS_PER_METRE, size))
        field.setNumber(constant, "VOut", size)
        field.setNumbers(constant, "VolumesList", volumes)
        fields.append(constant)
    if fields:
        smallest = field.add("Min")
        field.setNumbers(smallest, "FieldsList", fields)
        field.setAsBackgroundMesh(smallest)


def _extract(gmsh, scene: _Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Points (m), cells, cell_region and facets, renumbered to the nodes that tets use."""
    node_tags, coords, _ = gmsh.model.mesh.getNodes()
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3) / _MODEL_UNITS_PER_METRE
    lookup = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
    lookup[node_tags] = np.arange(len(node_tags))

    def elements(dim: int, tag: int, kind: int, n: int) -> np.ndarray:
        types, _, nodes = gmsh.model.mesh.getElements(dim, tag)
        blocks = []
        for t, block in zip(types, nodes):
            if t != kind:
                raise MeshError(f"gmsh produced element type {t} on entity ({dim}, {tag})")
            blocks.append(lookup[np.asarray(block, dtype=np.int64)].reshape(-1, n))
        return np.concatenate(blocks) if blocks else np.zeros((0, n), dtype=np.int64)

    cells, cell_region = [], []
    for v, region in sorted(scene.volume_region.items()):
        block = elements(3, v, _TET4, 4)
        cells.append(block)
        cell_region.append(np.full(len(block), region))
    cells = np.concatenate(cells)
    if len(cells) == 0:
        raise MeshError("gmsh produced no tetrahedra for this scene")
    used, cells = np.unique(cells, return_inverse=True)
    cells = cells.reshape(-1, 4)
    renumber = np.full(len(coords), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    facets = {}
    for name, surfaces in scene.surfaces.items():
        tri = [elements(2, s, _TRI3, 3) for s in surfaces]
        tri = renumber[np.concatenate(tri)] if tri else np.zeros((0, 3), dtype=np.int64)
        if tri.size and tri.min() < 0:
            raise MeshError(f"facets tagged {name!r} use nodes that belong to no tetrahedron")
        facets[name] = tri
    return coords[used], cells, np.concatenate(cell_region), facets


def build_mesh(
    domain: Domain,
    inclusions: Sequence[Inclusion] = (),
    holes: Sequence[Hole] = (),
    sizes: MeshSizes | None = None,
    *,
    seed: int = 0,
    optimize: bool = True,
    regions: str = "material",
    isolate: bool = True,
    size_grid: SizeGrid | None = None,
) -> TetMesh:
    """Mesh a scene into a conforming P1 tetrahedral mesh.

    Args:
        domain: the tissue (`Box`, `Cylinder` or `Sphere`), metres.
        inclusions: regions of their own, clipped to the domain; a later inclusion wins where
            two overlap (list layers, then structures, then vessels).
        holes: `Needle`s, `SphereHole`s and `PlateHole`s cut out of the tissue; they must not
            overlap.
        sizes: element sizes (m); None: a tenth of the domain's bounding diameter.
        seed: gmsh's random seed (meshing is single-threaded and deterministic).
        optimize: run gmsh's tetrahedron optimiser.
        regions: "material" (inclusions of one material share a region) or "name" (one region
            per inclusion, named by it; the cells and nodes are the same either way).
        isolate: run gmsh in a child process (`epsim.mesh.isolated`), so that Ctrl-C or SIGTERM
            stops a long meshing at once; the mesh is the same. Inside a process that may not
            have children (a Dask worker) gmsh runs in this process.
        size_grid: cell sizes on a grid, on top of the others (the smallest size wins).
    Returns:
        TetMesh with `region_names` = `region_names(domain, inclusions, regions)` (by material:
        the domain material, then the inclusion materials in order of first appearance; by
        name: the domain, then every inclusion by name), `cell_region`, and
        `facets`: the domain's boundary tags (only what is left after cutting the holes), and for
        each hole its tag (for a needle or a plate also `f"{name}_insulated"`), possibly empty.
        Nodes and cells are numbered for memory locality (`epsim.mesh.ordering`).
    Raises:
        ElectrodeError: a needle tip or hole centre outside the domain, a plate whose electrode
            face touches no tissue, overlapping holes, clashing tags, a needle's active part in a
            `keep_out` inclusion.
        MeshError: invalid geometry, or gmsh failed.
    """
    inclusions, holes = tuple(inclusions), tuple(holes)
    names = region_names(domain, inclusions, regions)  # refuses an unknown `regions` early
    paths = check_scene(domain, inclusions, holes)  # here, so a bad scene starts no process
    _, radius = domain.bounding_sphere()
    sizes = sizes or MeshSizes(size=radius / 5)
    args = (domain, inclusions, holes, sizes, paths, seed, optimize, regions, size_grid)
    if isolate and can_isolate():
        points, cells, cell_region, facets = run_isolated(mesh_arrays, *args)
    else:
        points, cells, cell_region, facets = mesh_arrays(*args)
    # gmsh's creation order scatters each cell's nodes over the whole array: renumber.
    return renumbered(make_mesh(points, cells, cell_region, names, facets))


def mesh_arrays(domain, inclusions, holes, sizes, paths, seed, optimize, regions,
                size_grid=None):
    """gmsh's part of `build_mesh` (checked scene, its needle paths): points (m), cells,
    cell_region and facets as numpy arrays, in gmsh's numbering."""
    with _gmsh_session(_gmsh_options(sizes, seed, optimize)) as gmsh:
        try:
            scene = _build_geometry(gmsh, domain, inclusions, holes, paths, sizes, regions)
            with _structured_field(gmsh, size_grid, sizes.size) as grid_field:
                _size_fields(gmsh, scene, sizes, holes, paths, grid_field)
                gmsh.model.mesh.generate(3)
            points, cells, cell_region, facets = _extract(gmsh, scene)
            for hole in holes:
                if isinstance(hole, PlateHole) and len(facets[hole.name]) == 0:
                    raise ElectrodeError(
                        f"plate {hole.name!r}: its electrode face touches no tissue (it only "
                        "grazes the domain, or other holes cover it)"
                    )
        except EpsimError:
            raise
        except Exception as exc:  # gmsh raises bare Exceptions
            raise MeshError(f"gmsh failed to mesh the scene: {exc}") from exc
    return points, cells, cell_region, facets
