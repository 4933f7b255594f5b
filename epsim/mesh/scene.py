"""Scene specs for mesh generation: domains, inclusions, holes (electrodes) and mesh sizes.

Frozen dataclasses in SI metres, validated on construction, with the pure geometry a mesher needs
(signed distances, bounding spheres, which boundary face a point is on) and the scene checks
(needle tips inside the domain, holes apart). No gmsh here: `epsim.mesh.gmsh.build_mesh` meshes a
scene, and the config layer can build and check scenes without loading gmsh.

- Domains (the tissue): `Box`, `Cylinder` (any axis), `Sphere`; each names its `material` and its
  boundary tags.
- Inclusions (regions of their own, clipped to the domain; a later one wins where two overlap):
  `SphereInclusion`, `EllipsoidInclusion` (axis-aligned), `CylinderInclusion`.
- Holes (cut out of the tissue, surfaces tagged): `Needle` (flat tip, active part tagged `name`,
  the rest of the shaft `f"{name}_insulated"`), `SphereHole`.
- `MeshSizes`: element sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SphereInclusion:
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


@dataclass(frozen=True)
class EllipsoidInclusion:
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


@dataclass(frozen=True)
class CylinderInclusion:
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


Inclusion = Union[SphereInclusion, EllipsoidInclusion, CylinderInclusion]


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


Hole = Union[Needle, SphereHole]


@dataclass(frozen=True)
class MeshSizes:
    """Target element sizes, metres.

    Attributes:
        size: size far from electrodes and outside inclusions.
        inclusion_size: constant size inside (and on) inclusions; None: `size`.
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


def check_scene(domain: Domain, inclusions: Sequence, holes: Sequence) -> dict:
    """Validate names, tips and overlaps. Returns needle name -> NeedlePath.

    Raises:
        ElectrodeError: a needle tip or sphere-hole centre outside the domain, holes that overlap
            inside the domain, hole tags that clash with each other or the boundary tags.
        MeshError: duplicate inclusion names, an unknown hole type.
    """
    names = [inc.name for inc in inclusions]
    if len(set(names)) != len(names):
        raise MeshError(f"inclusion names must be unique, got {names}")
    tags = list(domain.boundary_tags)
    for hole in holes:
        tags += [hole.name, hole.insulated_name] if isinstance(hole, Needle) else [hole.name]
    duplicated = sorted({t for t in tags if tags.count(t) > 1})
    if duplicated:
        raise ElectrodeError(
            f"hole tags clash with each other or with the boundary tags {domain.boundary_tags}: "
            f"{duplicated}"
        )
    paths = {}
    capsules = []  # (name, segment start, segment end, radius)
    for hole in holes:
        if isinstance(hole, Needle):
            path = paths[hole.name] = needle_path(hole, domain)
            capsules.append((hole.name, path.start, path.exit, hole.radius))
        elif isinstance(hole, SphereHole):
            if domain.signed_distance(hole.center) > 0.0:
                raise ElectrodeError(
                    f"hole {hole.name!r}: centre {hole.center} m lies outside the domain"
                )
            c = np.asarray(hole.center)
            capsules.append((hole.name, c, c, hole.radius))
        else:
            raise MeshError(f"unknown hole type {type(hole).__name__}")
    for i, (name_i, a0, a1, ri) in enumerate(capsules):
        for name_j, b0, b1, rj in capsules[i + 1 :]:
            gap = segment_distance(a0, a1, b0, b1) - ri - rj
            if gap <= 0.0:
                raise ElectrodeError(
                    f"holes {name_i!r} and {name_j!r} overlap inside the domain (gap {gap:.3g} m; "
                    "needles are checked as capsules around their axes)"
                )
    return paths


def region_names(domain: Domain, inclusions: Sequence) -> tuple[str, ...]:
    """Domain material first, then inclusion materials in order of first appearance."""
    names = [domain.material]
    for inc in inclusions:
        if inc.material not in names:
            names.append(inc.material)
    return tuple(names)


def electrode_size(sizes: MeshSizes, holes: Sequence[Hole]) -> float:
    """Size (m) on hole surfaces: `sizes.electrode_size` or min(size, smallest hole radius)."""
    e = sizes.electrode_size or min([sizes.size] + [h.radius for h in holes])
    return min(e, sizes.size)
