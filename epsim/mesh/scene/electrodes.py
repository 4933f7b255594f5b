"""Electrodes as holes in the tissue: needles, sphere holes and plates, and where a needle's
hole tools go in a domain (`needle_path`). Frozen dataclasses in SI metres, validated on
construction (`ElectrodeError` for a hole that cannot be; `HoleError`, which names the holes,
for a hole that does not fit its scene).

- `Needle`: flat tip, active part tagged `name`, the rest of the shaft `f"{name}_insulated"`.
- `SphereHole`: a ball cut out, surface tagged `name`.
- `PlateHole`: a plate electrode, electrode face tagged `name`, the rest `f"{name}_insulated"`;
  `plate_pair` for two facing plates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from epsim.errors import ElectrodeError
from epsim.mesh.scene.batch import signed_distances
from epsim.mesh.scene.geometry import Vec3, positive_length, set_fields, unit_vector, vec3
from epsim.mesh.scene.shapes import Domain


class HoleError(ElectrodeError):
    """A hole that does not fit its scene (outside the domain, overlapping another, touching a
    keep-out structure...). `holes`: the names of the holes concerned, in scene order, so that a
    caller can say which of its electrodes is at fault."""

    def __init__(self, message: str, holes: tuple[str, ...]):
        super().__init__(message)
        self.holes = tuple(holes)


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
        tip = vec3(self.tip, f"needle {self.name!r} tip")
        entry = vec3(self.entry, f"needle {self.name!r} entry")
        if np.allclose(tip, entry, rtol=0.0, atol=0.0):
            raise ElectrodeError(f"needle {self.name!r}: tip and entry are the same point")
        set_fields(
            self,
            tip=tip,
            entry=entry,
            radius=positive_length(self.radius, f"needle {self.name!r} radius", ElectrodeError),
            active_length=positive_length(
                self.active_length, f"needle {self.name!r} active_length", ElectrodeError
            ),
        )

    @property
    def direction(self) -> np.ndarray:
        """Unit vector (3,) from the tip towards the entry."""
        d = np.asarray(self.entry) - self.tip
        return d / np.linalg.norm(d)

    @property
    def length(self) -> float:
        """Distance (m) from the tip to the entry."""
        return float(np.linalg.norm(np.subtract(self.entry, self.tip)))

    @property
    def active_center(self) -> np.ndarray:
        """Centre (3,) of the active part, m."""
        return np.asarray(self.tip) + 0.5 * self.active_length * self.direction

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
        set_fields(
            self,
            center=vec3(self.center, f"hole {self.name!r} center"),
            radius=positive_length(self.radius, f"hole {self.name!r} radius", ElectrodeError),
        )


def plate_axes(normal, up=None, *, what: str = "plate") -> np.ndarray:
    """Rows (3, 3): width direction, height direction, normal (a right-handed frame).

    The height direction is `up` (3,) projected onto the plate's plane; by default the
    projection of z, or of y when `normal` (3,) is along z. `what` names the plate in errors.

    Raises:
        ElectrodeError: `up` along `normal`.
    """
    n = np.asarray(unit_vector(normal, f"{what} normal"))
    z, y = np.eye(3)[2], np.eye(3)[1]
    candidates = [z, y] if up is None else [np.asarray(vec3(up, f"{what} up"))]
    for u in candidates:
        h = u - (u @ n) * n
        if np.linalg.norm(h) > 1e-6 * np.linalg.norm(u):
            h = h / np.linalg.norm(h)
            return np.stack([np.cross(h, n), h, n])
    normal = tuple(float(x) for x in n)
    raise ElectrodeError(f"{what}: up {tuple(up)} must not be along the normal {normal}")


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
        set_fields(
            self,
            center=vec3(self.center, f"{what} center"),
            normal=unit_vector(self.normal, f"{what} normal"),
            size=tuple(positive_length(s, f"{what} size", ElectrodeError) for s in size),
            thickness=positive_length(self.thickness, f"{what} thickness", ElectrodeError),
            up=None if self.up is None else vec3(self.up, f"{what} up"),
        )
        plate_axes(self.normal, self.up, what=what)

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
    n = np.asarray(unit_vector(normal, f"plates {name!r} normal"))
    gap = positive_length(gap, f"plates {name!r} gap", ElectrodeError)
    c = np.asarray(vec3(center, f"plates {name!r} center"))
    up = tuple(plate_axes(n, up, what=f"plates {name!r}")[1])
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


# --------------------------------------------------------------------------------------------
# Needle paths


@dataclass(frozen=True)
class NeedlePath:
    """Where a needle's hole tools go: start, junction and end points (3,), metres."""

    start: np.ndarray  # tip, or a little behind it when the tip is on the boundary
    junction: np.ndarray | None  # end of the active part; None: active all the way
    exit: np.ndarray  # where the axis leaves the (convex) domain
    end: np.ndarray  # beyond the far side of the domain


def exit_point(domain: Domain, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Where the segment from `inside` to `outside` (points (3,), m) crosses the surface of the
    (convex) domain, by bisection to round-off (m, (3,))."""
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
        HoleError: the tip lies outside the domain, or on its surface with the needle pointing
            out of it (no part of the shaft in the tissue).
    """
    start, junction, end, problem = _path_ends(needle, domain)
    if problem:
        raise problem
    exit_at = exit_point(domain, np.asarray(needle.tip), end)
    _check_leaves(needle, domain, exit_at)
    return NeedlePath(start, junction, exit_at, end)


def needle_paths(needles, domain: Domain) -> dict[str, NeedlePath]:
    """`needle_path` of many needles (name -> NeedlePath): the exit points by one bisection over
    all of them at once, so thousands of needles cost milliseconds, not minutes. The first needle
    in order that does not fit raises, as `needle_path` would.
    """
    ends = [_path_ends(needle, domain) for needle in needles]
    if not ends:
        return {}
    tips = np.array([needle.tip for needle in needles], dtype=np.float64)
    exits = exit_points(domain, tips, np.array([e[2] for e in ends]))
    paths = {}
    for needle, (start, junction, end, problem), exit_at in zip(needles, ends, exits):
        if problem:
            raise problem
        _check_leaves(needle, domain, exit_at)
        paths[needle.name] = NeedlePath(start, junction, exit_at, end)
    return paths


def exit_points(domain: Domain, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """`exit_point` for many segments at once: points (n, 3) inside and outside, m."""
    lo, hi = np.zeros(len(inside)), np.ones(len(inside))
    for _ in range(60):
        mid = (lo + hi) / 2
        within = signed_distances(domain, inside + mid[:, None] * (outside - inside)) <= 0.0
        lo, hi = np.where(within, mid, lo), np.where(within, hi, mid)
    return inside + hi[:, None] * (outside - inside)


def _path_ends(needle: Needle, domain: Domain) -> tuple:
    """(start, junction, end, problem) of a needle's hole tools; problem: the HoleError of a tip
    outside the domain, else None."""
    center, radius = domain.bounding_sphere()
    tol = 1e-9 * radius
    tip, a = np.asarray(needle.tip), needle.direction
    distance = domain.signed_distance(tip)
    reach = np.linalg.norm(tip - center) + 1.2 * radius  # past any point of the domain
    end = tip + reach * a
    if distance > tol:
        problem = HoleError(
            f"needle {needle.name!r}: tip {needle.tip} m lies outside the domain "
            f"(by {distance:.3g} m)",
            (needle.name,),
        )
        return None, None, end, problem
    start = tip - 0.1 * radius * a if distance >= -tol else tip
    junction = tip + needle.active_length * a
    if needle.active_length >= reach or domain.signed_distance(junction) >= -tol:
        junction = None
    return start, junction, end, None


def _check_leaves(needle: Needle, domain: Domain, exit_at: np.ndarray) -> None:
    """Raise HoleError when the needle leaves the domain at its tip (on the surface, pointing
    out: the domain is convex, so nothing of it lies beyond)."""
    tol = 1e-9 * domain.bounding_sphere()[1]
    if np.linalg.norm(exit_at - np.asarray(needle.tip)) <= tol:
        raise HoleError(
            f"needle {needle.name!r}: tip {needle.tip} m lies on the surface of the domain and "
            "the needle points out of it",
            (needle.name,),
        )
