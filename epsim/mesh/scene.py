"""Scene specs for mesh generation: domains, inclusions, holes (electrodes) and mesh sizes.

Frozen dataclasses in SI metres, validated on construction, with the pure geometry a mesher needs
(signed distances, bounding spheres, which boundary face a point is on) and the scene checks
(needle tips inside the domain, holes apart, needles' active parts clear of keep-out
structures). No gmsh here: `epsim.mesh.gmsh.build_mesh` meshes a scene, and the config layer can
build and check scenes without loading gmsh.

- Domains (the tissue): `Box`, `Cylinder` (any axis), `Sphere`; each names its `material` and its
  boundary tags.
- Inclusions (regions of their own, clipped to the domain; a later one wins where two overlap,
  so list layers, then structures, then vessels): `SphereInclusion`, `EllipsoidInclusion` and
  `BoxInclusion` (axis-aligned), `CylinderInclusion`, `TubeInclusion` (a vessel along a
  polyline), `StlInclusion` (a closed surface from a file), and `layer_inclusions` (skin, fat...
  stacked from the top face). Each may carry its own `mesh_size` and a `keep_out` flag.
- Holes (cut out of the tissue, surfaces tagged): `Needle` (flat tip, active part tagged `name`,
  the rest of the shaft `f"{name}_insulated"`), `SphereHole`, `PlateHole` (a plate electrode,
  electrode face tagged `name`, the rest `f"{name}_insulated"`; `plate_pair` for two facing
  plates).
- `MeshSizes`: element sizes.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from epsim.errors import ElectrodeError, MeshError

Vec3 = tuple[float, float, float]


def _vec3(value, what: str) -> Vec3:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise MeshError(f"{what} must be three finite numbers (metres), got {value!r}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _unit(value, what: str) -> Vec3:
    v = np.asarray(_vec3(value, what))
    n = np.linalg.norm(v)
    if n == 0.0:
        raise MeshError(f"{what} must be a non-zero vector")
    return tuple(float(x) for x in v / n)


def _positive(value, what: str, error=MeshError) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise error(f"{what} must be a positive length in metres, got {value!r}")
    return value


def _set(obj, **values) -> None:
    for key, value in values.items():
        object.__setattr__(obj, key, value)


# --------------------------------------------------------------------------------------------
# Domains


@dataclass(frozen=True)
class Box:
    """Axis-aligned box. `center`, `size` (edge lengths) in metres.

    Boundary tags: xmin, xmax, ymin, ymax, zmin, zmax.
    """

    center: Vec3
    size: Vec3
    material: str = "tissue"

    boundary_tags = ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")

    def __post_init__(self):
        size = _vec3(self.size, "Box.size")
        if min(size) <= 0.0:
            raise MeshError(f"Box.size must be positive, got {size}")
        _set(self, center=_vec3(self.center, "Box.center"), size=size)

    def signed_distance(self, point) -> float:
        """Signed distance (m) from `point` (3,) to the surface, negative inside."""
        q = np.abs(np.asarray(point) - self.center) - np.asarray(self.size) / 2
        return float(np.linalg.norm(np.maximum(q, 0.0)) + min(q.max(), 0.0))

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """Centre (3,) and radius (m) of a sphere that contains the domain."""
        return np.asarray(self.center), float(np.linalg.norm(self.size) / 2)

    def boundary_tag(self, point, normal) -> str:
        """Tag of the boundary face through `point` (3,) with unit normal `normal` (3,)."""
        axis = int(np.argmax(np.abs(normal)))
        side = "min" if point[axis] < self.center[axis] else "max"
        return "xyz"[axis] + side


@dataclass(frozen=True)
class Cylinder:
    """Cylinder from `base_center` along unit `axis` (any direction, normalised), metres.

    Boundary tags: outer (lateral), bottom (at base_center), top.
    """

    base_center: Vec3
    axis: Vec3
    radius: float
    height: float
    material: str = "tissue"

    boundary_tags = ("outer", "bottom", "top")

    def __post_init__(self):
        _set(
            self,
            base_center=_vec3(self.base_center, "Cylinder.base_center"),
            axis=_unit(self.axis, "Cylinder.axis"),
            radius=_positive(self.radius, "Cylinder.radius"),
            height=_positive(self.height, "Cylinder.height"),
        )

    def signed_distance(self, point) -> float:
        d = np.asarray(point) - self.base_center
        t = float(d @ np.asarray(self.axis))
        radial = float(np.linalg.norm(d - t * np.asarray(self.axis)))
        dx, dy = radial - self.radius, abs(t - self.height / 2) - self.height / 2
        return min(max(dx, dy), 0.0) + math.hypot(max(dx, 0.0), max(dy, 0.0))

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        center = np.asarray(self.base_center) + np.asarray(self.axis) * self.height / 2
        return center, math.hypot(self.radius, self.height / 2)

    def boundary_tag(self, point, normal) -> str:
        if abs(float(np.dot(normal, self.axis))) < 0.5:
            return "outer"
        t = float(np.dot(np.asarray(point) - self.base_center, self.axis))
        return "bottom" if t < self.height / 2 else "top"


@dataclass(frozen=True)
class Sphere:
    """Ball, metres. Boundary tag: outer."""

    center: Vec3
    radius: float
    material: str = "tissue"

    boundary_tags = ("outer",)

    def __post_init__(self):
        _set(
            self,
            center=_vec3(self.center, "Sphere.center"),
            radius=_positive(self.radius, "Sphere.radius"),
        )

    def signed_distance(self, point) -> float:
        return float(np.linalg.norm(np.asarray(point) - self.center) - self.radius)

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        return np.asarray(self.center), self.radius

    def boundary_tag(self, point, normal) -> str:
        return "outer"


Domain = Union[Box, Cylinder, Sphere]


# --------------------------------------------------------------------------------------------
# Inclusions (regions of their own; clipped to the domain; where they overlap, the later wins)
#
# Order them as: layers (`layer_inclusions`), then structures, then vessels, so that a tumour in
# the fat layer is tumour and a vessel through the tumour is blood. Every inclusion takes two
# keyword options: `mesh_size` (m), its own element size (else `MeshSizes.inclusion_size`), and
# `keep_out`: no needle's active part may touch it (`check_scene`).


@dataclass(frozen=True)
class _InclusionOptions:
    mesh_size: float | None = field(default=None, kw_only=True)
    keep_out: bool = field(default=False, kw_only=True)

    def _check_options(self) -> None:
        if self.mesh_size is not None:
            _set(self, mesh_size=_positive(self.mesh_size, f"inclusion {self.name!r} mesh_size"))
        if not isinstance(self.keep_out, (bool, np.bool_)):
            raise MeshError(
                f"inclusion {self.name!r}: keep_out must be a bool, got {self.keep_out!r}"
            )
        _set(self, keep_out=bool(self.keep_out))


@dataclass(frozen=True)
class SphereInclusion(_InclusionOptions):
    """Ball of `material`, metres."""

    name: str
    center: Vec3
    radius: float
    material: str

    def __post_init__(self):
        _set(
            self,
            center=_vec3(self.center, f"inclusion {self.name!r} center"),
            radius=_positive(self.radius, f"inclusion {self.name!r} radius"),
        )
        self._check_options()

    def signed_distance(self, point) -> float:
        """Signed distance (m) from `point` (3,) to the surface, negative inside."""
        return Sphere(self.center, self.radius).signed_distance(point)


@dataclass(frozen=True)
class EllipsoidInclusion(_InclusionOptions):
    """Axis-aligned ellipsoid with semi-axes `radii` (3,), metres."""

    name: str
    center: Vec3
    radii: Vec3
    material: str

    def __post_init__(self):
        radii = _vec3(self.radii, f"inclusion {self.name!r} radii")
        if min(radii) <= 0.0:
            raise MeshError(f"inclusion {self.name!r}: radii must be positive, got {radii}")
        _set(self, center=_vec3(self.center, f"inclusion {self.name!r} center"), radii=radii)
        self._check_options()

    def signed_distance(self, point) -> float:
        """Approximate signed distance (m): exact sign and zero set, exact on the axes
        (k0 (k0 - 1) / k1 with k0 = |q / r|, k1 = |q / r^2|, after Quilez)."""
        q, r = np.asarray(point) - self.center, np.asarray(self.radii)
        k0, k1 = np.linalg.norm(q / r), np.linalg.norm(q / r**2)
        return -min(self.radii) if k1 == 0.0 else float(k0 * (k0 - 1.0) / k1)


@dataclass(frozen=True)
class CylinderInclusion(_InclusionOptions):
    """Cylinder of `material` from `base_center` along `axis` (normalised), metres (a vessel)."""

    name: str
    base_center: Vec3
    axis: Vec3
    radius: float
    height: float
    material: str

    def __post_init__(self):
        what = f"inclusion {self.name!r}"
        _set(
            self,
            base_center=_vec3(self.base_center, f"{what} base_center"),
            axis=_unit(self.axis, f"{what} axis"),
            radius=_positive(self.radius, f"{what} radius"),
            height=_positive(self.height, f"{what} height"),
        )
        self._check_options()

    def signed_distance(self, point) -> float:
        shape = Cylinder(self.base_center, self.axis, self.radius, self.height)
        return shape.signed_distance(point)


@dataclass(frozen=True)
class BoxInclusion(_InclusionOptions):
    """Axis-aligned box of `material`: `center`, edge lengths `size` (3,), metres."""

    name: str
    center: Vec3
    size: Vec3
    material: str

    def __post_init__(self):
        size = _vec3(self.size, f"inclusion {self.name!r} size")
        if min(size) <= 0.0:
            raise MeshError(f"inclusion {self.name!r}: size must be positive, got {size}")
        _set(self, center=_vec3(self.center, f"inclusion {self.name!r} center"), size=size)
        self._check_options()

    def signed_distance(self, point) -> float:
        return Box(self.center, self.size).signed_distance(point)


@dataclass(frozen=True)
class TubeInclusion(_InclusionOptions):
    """A vessel: a tube of `radius` along the polyline `points` (n >= 2, (n, 3)), metres.

    Built as one cylinder per segment, fused with balls at the inner joints; the ends are flat.
    It may run out of the domain (it is clipped). `signed_distance` treats the ends as round.
    """

    name: str
    points: tuple[Vec3, ...]
    radius: float
    material: str

    def __post_init__(self):
        what = f"inclusion {self.name!r}"
        points = tuple(_vec3(p, f"{what} point") for p in self.points)
        if len(points) < 2:
            raise MeshError(f"{what}: a tube needs at least two points, got {len(points)}")
        lengths = np.linalg.norm(np.diff(np.asarray(points), axis=0), axis=1)
        if np.any(lengths == 0.0):
            raise MeshError(f"{what}: consecutive points must differ, got {points}")
        _set(self, points=points, radius=_positive(self.radius, f"{what} radius"))
        self._check_options()

    def signed_distance(self, point) -> float:
        p, q = np.asarray(point), np.asarray(self.points)
        d = min(_point_segment_distance(p, a, b) for a, b in zip(q[:-1], q[1:]))
        return d - self.radius


@dataclass(frozen=True)
class StlInclusion(_InclusionOptions):
    """The inside of a closed, consistently oriented triangulated surface read from an STL file
    (ASCII or binary); coordinates in the file times `scale` are metres.

    Each triangle becomes a face of the model, so the mesh is never coarser than the file's
    triangles there; keep the file to a few thousand triangles.
    """

    name: str
    file: Path
    material: str
    scale: float = 1.0

    def __post_init__(self):
        scale = _positive(self.scale, f"inclusion {self.name!r} scale")
        _set(self, file=Path(self.file), scale=scale)
        self._check_options()

    def surface(self) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (n, 3) in metres and triangles (m, 3) (vertex indices), read-only.

        Raises:
            MeshError: the file is missing or unreadable, or the surface is not closed.
        """
        return read_stl(self.file, self.scale)

    def signed_distance(self, point) -> float:
        """Signed distance (m), negative inside (inside: by the winding number)."""
        vertices, triangles = self.surface()
        tri = vertices[triangles] - np.asarray(point)
        return _triangles_distance(tri) * (-1.0 if _winding_number(tri) > 0.5 else 1.0)


Inclusion = Union[
    SphereInclusion,
    EllipsoidInclusion,
    CylinderInclusion,
    BoxInclusion,
    TubeInclusion,
    StlInclusion,
]


def layer_inclusions(
    domain: Domain, layers: Sequence[tuple[str, float]], *, mesh_size: float | None = None
) -> tuple[Union[BoxInclusion, CylinderInclusion], ...]:
    """Tissue layers stacked from the top face of the domain downwards, as inclusions.

    The top face is z max of a `Box`, the `top` cap of a `Cylinder` (layers along its axis).
    Layer i (material, thickness in m) is named `f"layer_{i}_{material}"` and spans the whole
    cross-section of the domain. Put the layers first in the inclusion list, so that structures
    and vessels win where they overlap a layer. `mesh_size` (m) is given to every layer: pass the
    background size so that `MeshSizes.inclusion_size` (meant for structures) does not refine
    whole layers.

    Raises:
        MeshError: a sphere domain, non-positive thicknesses, layers as thick as the domain.
    """
    thickness = [_positive(t, f"layer {i} thickness") for i, (_, t) in enumerate(layers)]
    if isinstance(domain, Box):
        height = domain.size[2]
    elif isinstance(domain, Cylinder):
        height = domain.height
    else:
        raise MeshError("layers need a flat top face: use a Box or a Cylinder domain")
    if sum(thickness) >= height:
        raise MeshError(
            f"the layers are {sum(thickness):.6g} m thick in total, not less than the domain "
            f"height {height:.6g} m"
        )
    out, depth = [], 0.0  # depth of the layer's top below the top face
    for i, ((material, _), t) in enumerate(zip(layers, thickness)):
        name = f"layer_{i}_{material}"
        if isinstance(domain, Box):
            c = np.asarray(domain.center)
            center = (c[0], c[1], c[2] + height / 2 - depth - t / 2)
            size = (domain.size[0], domain.size[1], t)
            out.append(BoxInclusion(name, center, size, material, mesh_size=mesh_size))
        else:
            axis = np.asarray(domain.axis)
            base = np.asarray(domain.base_center) + axis * (height - depth - t)
            out.append(
                CylinderInclusion(name, base, axis, domain.radius, t, material, mesh_size=mesh_size)
            )
        depth += t
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Holes (cut out of the tissue; their surfaces are tagged)


@dataclass(frozen=True)
class Needle:
    """Straight needle with a flat tip, as a hole through the tissue, metres.

    The shaft runs from `tip` towards `entry` and on past the domain boundary. Its surface within
    `active_length` of the tip (tip disk included) is tagged `name`; the rest of the shaft inside
    the tissue is tagged `f"{name}_insulated"`. A tip on the domain boundary gives an open shaft
    (no tip disk), e.g. a coaxial electrode along a `Cylinder` domain.
    """

    name: str
    tip: Vec3
    entry: Vec3
    radius: float
    active_length: float

    def __post_init__(self):
        tip = _vec3(self.tip, f"needle {self.name!r} tip")
        entry = _vec3(self.entry, f"needle {self.name!r} entry")
        if np.allclose(tip, entry, rtol=0.0, atol=0.0):
            raise ElectrodeError(f"needle {self.name!r}: tip and entry are the same point")
        _set(
            self,
            tip=tip,
            entry=entry,
            radius=_positive(self.radius, f"needle {self.name!r} radius", ElectrodeError),
            active_length=_positive(
                self.active_length, f"needle {self.name!r} active_length", ElectrodeError
            ),
        )

    @property
    def direction(self) -> np.ndarray:
        """Unit vector (3,) from the tip towards the entry."""
        d = np.asarray(self.entry) - self.tip
        return d / np.linalg.norm(d)

    @property
    def insulated_name(self) -> str:
        return f"{self.name}_insulated"


@dataclass(frozen=True)
class SphereHole:
    """Spherical hole whose surface is tagged `name`, metres."""

    name: str
    center: Vec3
    radius: float

    def __post_init__(self):
        _set(
            self,
            center=_vec3(self.center, f"hole {self.name!r} center"),
            radius=_positive(self.radius, f"hole {self.name!r} radius", ElectrodeError),
        )


def plate_axes(normal, up=None) -> np.ndarray:
    """Rows (3, 3): width direction, height direction, normal (a right-handed frame).

    The height direction is `up` projected onto the plate's plane; by default the projection of
    z, or of y when `normal` is along z.

    Raises:
        ElectrodeError: `up` along `normal`.
    """
    n = np.asarray(_unit(normal, "plate normal"))
    z, y = np.eye(3)[2], np.eye(3)[1]
    candidates = [z, y] if up is None else [np.asarray(_vec3(up, "plate up"))]
    for u in candidates:
        h = u - (u @ n) * n
        if np.linalg.norm(h) > 1e-6 * np.linalg.norm(u):
            h = h / np.linalg.norm(h)
            return np.stack([np.cross(h, n), h, n])
    raise ElectrodeError(f"plate up {up} must not be along the normal {tuple(n)}")


@dataclass(frozen=True)
class PlateHole:
    """A plate electrode: a thin box cut out of the tissue, or pressed onto its surface, metres.

    `center` is the centre of the electrode face, the rectangle of `size` (width, height) with
    unit `normal` facing the tissue; the plate extends `thickness` behind it (along -normal).
    `up` sets the in-plane direction of the height (see `plate_axes`). The part of the electrode
    face inside the tissue is tagged `name`, the plate's other faces `f"{name}_insulated"`. The
    plate may stick out of the domain or lie on its surface (the face tagged is then where the
    plate touches a flat face of the domain).
    """

    name: str
    center: Vec3
    normal: Vec3
    size: tuple[float, float]
    thickness: float = 0.5e-3
    up: Vec3 | None = None

    def __post_init__(self):
        what = f"plate {self.name!r}"
        size = np.asarray(self.size, dtype=np.float64).reshape(-1)
        if size.shape != (2,):
            raise ElectrodeError(f"{what}: size must be (width, height), got {self.size!r}")
        _set(
            self,
            center=_vec3(self.center, f"{what} center"),
            normal=_unit(self.normal, f"{what} normal"),
            size=tuple(_positive(s, f"{what} size", ElectrodeError) for s in size),
            thickness=_positive(self.thickness, f"{what} thickness", ElectrodeError),
            up=None if self.up is None else _vec3(self.up, f"{what} up"),
        )
        plate_axes(self.normal, self.up)

    @property
    def insulated_name(self) -> str:
        return f"{self.name}_insulated"

    @property
    def axes(self) -> np.ndarray:
        """Rows (3, 3): width direction, height direction, normal."""
        return plate_axes(self.normal, self.up)

    @property
    def half_extents(self) -> np.ndarray:
        """Half edge lengths (3,) of the plate box along `axes`, metres."""
        return np.array([self.size[0], self.size[1], self.thickness]) / 2

    @property
    def box_center(self) -> np.ndarray:
        return np.asarray(self.center) - np.asarray(self.normal) * self.thickness / 2

    def face_points(self, n: int = 9) -> np.ndarray:
        """A regular n x n grid (n*n, 3) over the electrode face, edges included, metres."""
        s = np.linspace(-0.5, 0.5, n)
        u, v = np.meshgrid(s * self.size[0], s * self.size[1], indexing="ij")
        w, h, _ = self.axes
        return self.center + u.reshape(-1, 1) * w + v.reshape(-1, 1) * h

    def signed_distance(self, point) -> float:
        """Signed distance (m) from `point` (3,) to the plate box, negative inside."""
        q = np.abs(self.axes @ (np.asarray(point) - self.box_center)) - self.half_extents
        return float(np.linalg.norm(np.maximum(q, 0.0)) + min(q.max(), 0.0))

    def face_tag(self, point, normal) -> str:
        """Tag of a plate face through `point` (3,) with unit normal `normal` (3,)."""
        on_face = abs(float(np.dot(np.asarray(point) - self.center, self.normal)))
        if abs(float(np.dot(normal, self.normal))) > 0.99 and on_face < self.thickness / 4:
            return self.name
        return self.insulated_name


def plate_pair(
    name: str, center, normal, gap: float, size, thickness: float = 0.5e-3, up=None
) -> tuple[PlateHole, PlateHole]:
    """Two parallel plates `f"{name}_a"`, `f"{name}_b"` whose electrode faces are `gap` (m)
    apart along `normal` (from a to b) and face each other, centred on `center` (metres).

    `size` (width, height) and `up` as for `PlateHole`; both plates share the same frame.
    """
    n = np.asarray(_unit(normal, f"plates {name!r} normal"))
    gap = _positive(gap, f"plates {name!r} gap", ElectrodeError)
    c = np.asarray(_vec3(center, f"plates {name!r} center"))
    up = tuple(plate_axes(n, up)[1])
    return (
        PlateHole(f"{name}_a", c - n * gap / 2, n, size, thickness, up),
        PlateHole(f"{name}_b", c + n * gap / 2, -n, size, thickness, up),
    )


Hole = Union[Needle, SphereHole, PlateHole]


def hole_tags(hole: Hole) -> tuple[str, ...]:
    """Facet tags a hole gives the mesh."""
    if isinstance(hole, (Needle, PlateHole)):
        return (hole.name, hole.insulated_name)
    return (hole.name,)


@dataclass(frozen=True)
class MeshSizes:
    """Target element sizes, metres.

    Attributes:
        size: size far from electrodes and outside inclusions.
        inclusion_size: constant size inside (and on) inclusions that have no `mesh_size` of
            their own; None: `size`. Where inclusions overlap, the size of the one that wins.
            Sizes are capped at `size`, and in round inclusions (sphere, ellipsoid, cylinder,
            tube) at half their smallest radius, so that thin vessels stay meshable.
        electrode_size: size on hole surfaces; None: min(size, smallest hole radius).
        grading_distance: distance from the hole surfaces over which the size grows linearly
            from `electrode_size` to `size`; None: 3 * (size - electrode_size).
    """

    size: float
    inclusion_size: float | None = None
    electrode_size: float | None = None
    grading_distance: float | None = None

    def __post_init__(self):
        _positive(self.size, "MeshSizes.size")
        for key in ("inclusion_size", "electrode_size", "grading_distance"):
            if getattr(self, key) is not None:
                _positive(getattr(self, key), f"MeshSizes.{key}")


# --------------------------------------------------------------------------------------------
# STL surfaces (numpy)


def read_stl(file, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Read a closed triangulated surface from an ASCII or binary STL file.

    Args:
        file: path of the STL file.
        scale: metres per file unit.
    Returns:
        vertices (n, 3) float64 in metres (duplicates merged) and triangles (m, 3) int64, both
        read-only (cached per file, modification time and scale).
    Raises:
        MeshError: a missing or unreadable file, or a surface that is not closed and consistently
            oriented (every edge shared by exactly two triangles, traversed once each way).
    """
    path = Path(file)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise MeshError(f"cannot read the STL file {str(path)!r}: {exc}") from exc
    return _read_stl_cached(str(path.resolve()), stamp, float(scale))


@functools.lru_cache(maxsize=16)
def _read_stl_cached(path: str, stamp: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    data = Path(path).read_bytes()
    count = int.from_bytes(data[80:84], "little") if len(data) >= 84 else -1
    if len(data) == 84 + 50 * count:  # binary: header, count, 50-byte records
        record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
        corners = np.frombuffer(data, record, count, offset=84)["corners"].astype(np.float64)
    else:
        text = data.decode("ascii", errors="replace")
        found = re.findall(r"vertex\s+(\S+)\s+(\S+)\s+(\S+)", text)
        try:
            corners = np.asarray(found, dtype=np.float64).reshape(-1, 3, 3)
        except ValueError as exc:
            raise MeshError(f"{path!r} is not a readable STL file: {exc}") from exc
    if len(corners) == 0 or not np.all(np.isfinite(corners)):
        raise MeshError(f"{path!r} holds no triangles (or non-finite coordinates)")
    vertices, triangles = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
    triangles = triangles.reshape(-1, 3).astype(np.int64)
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    key, back = edges @ [len(vertices), 1], edges @ [1, len(vertices)]
    degenerate = np.any(triangles == np.roll(triangles, 1, axis=1))
    if degenerate or len(np.unique(key)) != len(key) or np.any(np.sort(key) != np.sort(back)):
        raise MeshError(
            f"{path!r}: the surface is not closed and consistently oriented (every edge must be "
            "shared by exactly two triangles, traversed once each way)"
        )
    vertices = vertices * scale
    vertices.flags.writeable = triangles.flags.writeable = False
    return vertices, triangles


def _triangles_distance(tri: np.ndarray) -> float:
    """Distance from the origin to the nearest of the triangles `tri` (m, 3, 3)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    n = np.cross(b - a, c - a)
    n = n / np.linalg.norm(n, axis=1, keepdims=True)
    height = np.einsum("ij,ij->i", a, n)
    foot = height[:, None] * n  # projection of the origin onto each plane
    inside = np.ones(len(tri), dtype=bool)
    for p, q in ((a, b), (b, c), (c, a)):
        inside &= np.einsum("ij,ij->i", np.cross(q - p, foot - p), n) >= 0.0
    best = np.where(inside, np.abs(height), np.inf)
    for p, q in ((a, b), (b, c), (c, a)):
        d = q - p
        t = np.clip(-np.einsum("ij,ij->i", p, d) / np.einsum("ij,ij->i", d, d), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(p + t[:, None] * d, axis=1))
    return float(best.min())


def _winding_number(tri: np.ndarray) -> float:
    """|Winding number| of the closed triangle surface `tri` (m, 3, 3) around the origin
    (1 inside, 0 outside), from the solid angles (Van Oosterom and Strackee 1983)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
    dot = lambda x, y: np.einsum("ij,ij->i", x, y)  # noqa: E731
    numerator = dot(a, np.cross(b, c))
    denominator = la * lb * lc + dot(a, b) * lc + dot(a, c) * lb + dot(b, c) * la
    return abs(float(np.sum(2.0 * np.arctan2(numerator, denominator)))) / (4.0 * math.pi)


# --------------------------------------------------------------------------------------------
# Scene checks (pure numpy)


def _point_segment_distance(p, a, b) -> float:
    ab = b - a
    length2 = float(np.dot(ab, ab))
    t = np.clip(np.dot(p - a, ab) / length2, 0.0, 1.0) if length2 > 0.0 else 0.0
    return float(np.linalg.norm(p - (a + t * ab)))


def segment_distance(a0, a1, b0, b1) -> float:
    """Shortest distance (m) between segments a0-a1 and b0-b1 (each point (3,))."""
    a0, a1, b0, b1 = (np.asarray(x, dtype=np.float64) for x in (a0, a1, b0, b1))
    candidates = [
        _point_segment_distance(a0, b0, b1),
        _point_segment_distance(a1, b0, b1),
        _point_segment_distance(b0, a0, a1),
        _point_segment_distance(b1, a0, a1),
    ]
    u, v, w = a1 - a0, b1 - b0, a0 - b0
    uu, uv, vv, uw, vw = u @ u, u @ v, v @ v, u @ w, v @ w
    det = uu * vv - uv * uv
    if det > 1e-12 * uu * vv:
        s, t = (uv * vw - vv * uw) / det, (uu * vw - uv * uw) / det
        if 0.0 <= s <= 1.0 and 0.0 <= t <= 1.0:
            candidates.append(float(np.linalg.norm(w + s * u - t * v)))
    return min(candidates)


@dataclass(frozen=True)
class NeedlePath:
    """Where a needle's hole tools go: start, junction and end points (3,), metres."""

    start: np.ndarray  # tip, or a little behind it when the tip is on the boundary
    junction: np.ndarray | None  # end of the active part; None: active all the way
    exit: np.ndarray  # where the axis leaves the (convex) domain
    end: np.ndarray  # beyond the far side of the domain


def _exit_point(domain: Domain, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Where the segment from `inside` to `outside` crosses the (convex) domain's surface."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if domain.signed_distance(inside + mid * (outside - inside)) <= 0.0:
            lo = mid
        else:
            hi = mid
    return inside + hi * (outside - inside)


def needle_path(needle: Needle, domain: Domain) -> NeedlePath:
    """Where the hole tools of `needle` go in `domain`, metres.

    Raises:
        ElectrodeError: the tip lies outside the domain.
    """
    center, radius = domain.bounding_sphere()
    tol = 1e-9 * radius
    tip, a = np.asarray(needle.tip), needle.direction
    distance = domain.signed_distance(tip)
    if distance > tol:
        raise ElectrodeError(
            f"needle {needle.name!r}: tip {needle.tip} m lies outside the domain "
            f"(by {distance:.3g} m)"
        )
    reach = np.linalg.norm(tip - center) + 1.2 * radius  # past any point of the domain
    start = tip - 0.1 * radius * a if distance >= -tol else tip
    junction = tip + needle.active_length * a
    if needle.active_length >= reach or domain.signed_distance(junction) >= -tol:
        junction = None
    end = tip + reach * a
    return NeedlePath(start, junction, _exit_point(domain, tip, end), end)


def _min_on_segment(f, a, b, samples: int = 33) -> float:
    """Minimum of f(point) over the segment a-b (points (3,)): sampled, then refined by golden
    section around the best sample (exact up to round-off for convex f)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ts = np.linspace(0.0, 1.0, samples)
    values = [f(a + t * (b - a)) for t in ts]
    i = int(np.argmin(values))
    lo, hi = ts[max(i - 1, 0)], ts[min(i + 1, samples - 1)]
    g = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(40):
        m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
        if f(a + m1 * (b - a)) < f(a + m2 * (b - a)):
            hi = m2
        else:
            lo = m1
    return min(values[i], f(a + (lo + hi) / 2 * (b - a)))


def _plates_gap(p: PlateHole, q: PlateHole) -> float:
    """Largest separation (m) of two plate boxes along the separating axes of the two frames:
    positive iff they are disjoint (and then at most their distance)."""
    pa, qa = p.axes, q.axes
    axes = [*pa, *qa] + [np.cross(u, v) for u in pa for v in qa]
    t = q.box_center - p.box_center
    gap = -math.inf
    for axis in axes:
        norm = np.linalg.norm(axis)
        if norm < 1e-9:
            continue
        axis = axis / norm
        reach = p.half_extents @ np.abs(pa @ axis) + q.half_extents @ np.abs(qa @ axis)
        gap = max(gap, abs(float(t @ axis)) - float(reach))
    return gap


def _hole_gap(x, y) -> float:
    """Clearance (m) between two hole shapes: ("capsule", start, end, radius) or ("plate", hole),
    positive when apart."""
    if x[0] == "plate" and y[0] == "plate":
        return _plates_gap(x[1], y[1])
    if x[0] == "plate":
        x, y = y, x
    if y[0] == "plate":
        return _min_on_segment(y[1].signed_distance, x[1], x[2]) - x[3]
    return segment_distance(x[1], x[2], y[1], y[2]) - x[3] - y[3]


def check_scene(domain: Domain, inclusions: Sequence, holes: Sequence) -> dict:
    """Validate names, tips, overlaps and keep-out structures. Returns needle name -> NeedlePath.

    Raises:
        ElectrodeError: a needle tip or sphere-hole centre outside the domain, a plate that does
            not touch the domain, holes that overlap inside the domain, hole tags that clash with
            each other or the boundary tags, a needle's active part that touches an inclusion
            with `keep_out` set (needles checked as capsules around their axes).
        MeshError: duplicate inclusion names, an unknown hole type, an unreadable STL file.
    """
    names = [inc.name for inc in inclusions]
    if len(set(names)) != len(names):
        raise MeshError(f"inclusion names must be unique, got {names}")
    for inc in inclusions:
        if isinstance(inc, StlInclusion):
            inc.surface()  # readable and closed
    for hole in holes:
        if not isinstance(hole, (Needle, SphereHole, PlateHole)):
            raise MeshError(f"unknown hole type {type(hole).__name__}")
    tags = list(domain.boundary_tags) + [t for hole in holes for t in hole_tags(hole)]
    duplicated = sorted({t for t in tags if tags.count(t) > 1})
    if duplicated:
        raise ElectrodeError(
            f"hole tags clash with each other or with the boundary tags {domain.boundary_tags}: "
            f"{duplicated}"
        )
    _, domain_radius = domain.bounding_sphere()
    paths, shapes = {}, []  # shapes: (name, ("capsule", start, end, radius) | ("plate", hole))
    for hole in holes:
        if isinstance(hole, Needle):
            path = paths[hole.name] = needle_path(hole, domain)
            shapes.append((hole.name, ("capsule", path.start, path.exit, hole.radius)))
        elif isinstance(hole, SphereHole):
            if domain.signed_distance(hole.center) > 0.0:
                raise ElectrodeError(
                    f"hole {hole.name!r}: centre {hole.center} m lies outside the domain"
                )
            c = np.asarray(hole.center)
            shapes.append((hole.name, ("capsule", c, c, hole.radius)))
        else:
            gap = min(domain.signed_distance(p) for p in hole.face_points())
            if gap > 1e-9 * domain_radius:
                raise ElectrodeError(
                    f"plate {hole.name!r}: its electrode face does not touch the domain "
                    f"(by {gap:.3g} m)"
                )
            shapes.append((hole.name, ("plate", hole)))
    for i, (name_i, x) in enumerate(shapes):
        for name_j, y in shapes[i + 1 :]:
            gap = _hole_gap(x, y)
            if gap <= 0.0:
                raise ElectrodeError(
                    f"holes {name_i!r} and {name_j!r} overlap inside the domain (gap {gap:.3g} m; "
                    "needles are checked as capsules around their axes)"
                )
    _check_keep_out(inclusions, holes, paths)
    return paths


def _check_keep_out(inclusions: Sequence, holes: Sequence, paths: dict) -> None:
    """Raise ElectrodeError when a needle's active part (a capsule) touches a keep-out inclusion."""
    for hole in holes:
        if not isinstance(hole, Needle):
            continue
        path = paths[hole.name]
        end = path.exit if path.junction is None else path.junction
        for inc in inclusions:
            if not inc.keep_out:
                continue
            gap = _min_on_segment(inc.signed_distance, hole.tip, end) - hole.radius
            if gap < 0.0:
                raise ElectrodeError(
                    f"needle {hole.name!r}: its active part pierces {inc.name!r} "
                    f"({inc.material}), a structure to keep out of (by {-gap:.3g} m)"
                )


def region_names(domain: Domain, inclusions: Sequence) -> tuple[str, ...]:
    """Domain material first, then inclusion materials in order of first appearance."""
    names = [domain.material]
    for inc in inclusions:
        if inc.material not in names:
            names.append(inc.material)
    return tuple(names)


def electrode_size(sizes: MeshSizes, holes: Sequence[Hole]) -> float:
    """Size (m) on hole surfaces: `sizes.electrode_size`, else min(size, the smallest needle or
    sphere-hole radius or plate thickness)."""
    features = [h.thickness if isinstance(h, PlateHole) else h.radius for h in holes]
    e = sizes.electrode_size or min([sizes.size] + features)
    return min(e, sizes.size)
