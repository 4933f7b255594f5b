"""Scene shapes: the domain (the tissue) and the inclusions in it, with the pure geometry a mesher
needs (signed distances, bounding spheres, which boundary face a point is on).

Frozen dataclasses in SI metres, validated on construction (`MeshError` names the bad field).

- Domains: `Box`, `Cylinder` (any axis), `Sphere`; each names its `material` and its boundary
  tags.
- Inclusions (regions of their own, clipped to the domain; a later one wins where two overlap,
  so list layers, then structures, then vessels): `SphereInclusion`, `EllipsoidInclusion` and
  `BoxInclusion` (axis-aligned), `CylinderInclusion`, `TubeInclusion` (a vessel along a
  polyline), and `layer_inclusions` (skin, fat... stacked from the top face). Each may carry its
  own `mesh_size` and a `keep_out` flag (`InclusionOptions`). The closed surface read from a file
  is `epsim.mesh.scene.stl.StlInclusion`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from epsim.errors import MeshError
from epsim.mesh.scene.geometry import (
    Vec3,
    point_segment_distance,
    positive_length,
    set_fields,
    unit_vector,
    vec3,
)


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
        size = vec3(self.size, "Box.size")
        if min(size) <= 0.0:
            raise MeshError(f"Box.size must be positive, got {size}")
        set_fields(self, center=vec3(self.center, "Box.center"), size=size)

    def signed_distance(self, point) -> float:
        """Signed distance (m) from `point` (3,) to the surface, negative inside."""
        q = np.abs(np.asarray(point) - self.center) - np.asarray(self.size) / 2
        return float(np.linalg.norm(np.maximum(q, 0.0)) + min(q.max(), 0.0))

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """Centre (3,) and radius (m) of a sphere that contains the domain."""
        return np.asarray(self.center), float(np.linalg.norm(self.size) / 2)

    def exit_distance(self, point, direction) -> float | None:
        """Distance (m) from `point` (3,) along the unit `direction` (3,) to where the ray leaves
        the domain; None when it does not leave ahead of the point (a point outside)."""
        p = np.asarray(point) - np.asarray(self.center)
        half = 0.5 * np.asarray(self.size)
        t = min((np.sign(d) * h - x) / d for x, d, h in zip(p, direction, half) if d != 0.0)
        return float(t) if t > 0.0 else None

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
        set_fields(
            self,
            base_center=vec3(self.base_center, "Cylinder.base_center"),
            axis=unit_vector(self.axis, "Cylinder.axis"),
            radius=positive_length(self.radius, "Cylinder.radius"),
            height=positive_length(self.height, "Cylinder.height"),
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

    def exit_distance(self, point, direction) -> float | None:
        """Distance (m) from `point` (3,) along the unit `direction` (3,) to where the ray leaves
        the domain (through a cap or the side); None when it does not leave ahead of the point."""
        a, u = np.asarray(self.axis), np.asarray(direction, dtype=np.float64)
        d = np.asarray(point) - self.base_center
        along, speed = float(d @ a), float(u @ a)
        steps = []
        if speed != 0.0:
            steps.append(((self.height if speed > 0.0 else 0.0) - along) / speed)
        radial, sideways = d - along * a, u - speed * a
        v2 = float(sideways @ sideways)
        if v2 > 0.0:
            b, c = float(radial @ sideways), float(radial @ radial) - self.radius**2
            steps.append((-b + math.sqrt(max(b * b - v2 * c, 0.0))) / v2)
        t = min(steps)
        return float(t) if t > 0.0 else None

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
        set_fields(
            self,
            center=vec3(self.center, "Sphere.center"),
            radius=positive_length(self.radius, "Sphere.radius"),
        )

    def signed_distance(self, point) -> float:
        return float(np.linalg.norm(np.asarray(point) - self.center) - self.radius)

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        return np.asarray(self.center), self.radius

    def exit_distance(self, point, direction) -> float | None:
        """Distance (m) from `point` (3,) along the unit `direction` (3,) to where the ray leaves
        the ball; None when it does not leave ahead of the point."""
        p = np.asarray(point) - np.asarray(self.center)
        b = float(np.dot(p, direction))
        c = float(np.dot(p, p)) - self.radius**2
        t = -b + math.sqrt(max(b * b - c, 0.0))
        return float(t) if t > 0.0 else None

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
class InclusionOptions:
    """The keyword options every inclusion takes: `mesh_size` (m, or None) and `keep_out`."""

    mesh_size: float | None = field(default=None, kw_only=True)
    keep_out: bool = field(default=False, kw_only=True)

    def check_options(self) -> None:
        """Validate and normalise the options (called by each inclusion's `__post_init__`).

        Raises:
            MeshError: a non-positive `mesh_size`, a `keep_out` that is not a bool.
        """
        if self.mesh_size is not None:
            size = positive_length(self.mesh_size, f"inclusion {self.name!r} mesh_size")
            set_fields(self, mesh_size=size)
        if not isinstance(self.keep_out, (bool, np.bool_)):
            raise MeshError(
                f"inclusion {self.name!r}: keep_out must be a bool, got {self.keep_out!r}"
            )
        set_fields(self, keep_out=bool(self.keep_out))


@dataclass(frozen=True)
class SphereInclusion(InclusionOptions):
    """Ball of `material`, metres."""

    name: str
    center: Vec3
    radius: float
    material: str

    def __post_init__(self):
        set_fields(
            self,
            center=vec3(self.center, f"inclusion {self.name!r} center"),
            radius=positive_length(self.radius, f"inclusion {self.name!r} radius"),
        )
        self.check_options()

    def signed_distance(self, point) -> float:
        """Signed distance (m) from `point` (3,) to the surface, negative inside."""
        return Sphere(self.center, self.radius).signed_distance(point)


@dataclass(frozen=True)
class EllipsoidInclusion(InclusionOptions):
    """Axis-aligned ellipsoid with semi-axes `radii` (3,), metres."""

    name: str
    center: Vec3
    radii: Vec3
    material: str

    def __post_init__(self):
        radii = vec3(self.radii, f"inclusion {self.name!r} radii")
        if min(radii) <= 0.0:
            raise MeshError(f"inclusion {self.name!r}: radii must be positive, got {radii}")
        set_fields(self, center=vec3(self.center, f"inclusion {self.name!r} center"), radii=radii)
        self.check_options()

    def signed_distance(self, point) -> float:
        """Approximate signed distance (m): exact sign and zero set, exact on the axes
        (k0 (k0 - 1) / k1 with k0 = |q / r|, k1 = |q / r^2|, after Quilez)."""
        q, r = np.asarray(point) - self.center, np.asarray(self.radii)
        k0, k1 = np.linalg.norm(q / r), np.linalg.norm(q / r**2)
        return -min(self.radii) if k1 == 0.0 else float(k0 * (k0 - 1.0) / k1)


@dataclass(frozen=True)
class CylinderInclusion(InclusionOptions):
    """Cylinder of `material` from `base_center` along `axis` (normalised), metres (a vessel)."""

    name: str
    base_center: Vec3
    axis: Vec3
    radius: float
    height: float
    material: str

    def __post_init__(self):
        what = f"inclusion {self.name!r}"
        set_fields(
            self,
            base_center=vec3(self.base_center, f"{what} base_center"),
            axis=unit_vector(self.axis, f"{what} axis"),
            radius=positive_length(self.radius, f"{what} radius"),
            height=positive_length(self.height, f"{what} height"),
        )
        self.check_options()

    def signed_distance(self, point) -> float:
        shape = Cylinder(self.base_center, self.axis, self.radius, self.height)
        return shape.signed_distance(point)


@dataclass(frozen=True)
class BoxInclusion(InclusionOptions):
    """Axis-aligned box of `material`: `center`, edge lengths `size` (3,), metres."""

    name: str
    center: Vec3
    size: Vec3
    material: str

    def __post_init__(self):
        size = vec3(self.size, f"inclusion {self.name!r} size")
        if min(size) <= 0.0:
            raise MeshError(f"inclusion {self.name!r}: size must be positive, got {size}")
        set_fields(self, center=vec3(self.center, f"inclusion {self.name!r} center"), size=size)
        self.check_options()

    def signed_distance(self, point) -> float:
        return Box(self.center, self.size).signed_distance(point)


@dataclass(frozen=True)
class TubeInclusion(InclusionOptions):
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
        points = tuple(vec3(p, f"{what} point") for p in self.points)
        if len(points) < 2:
            raise MeshError(f"{what}: a tube needs at least two points, got {len(points)}")
        lengths = np.linalg.norm(np.diff(np.asarray(points), axis=0), axis=1)
        if np.any(lengths == 0.0):
            raise MeshError(f"{what}: consecutive points must differ, got {points}")
        set_fields(self, points=points, radius=positive_length(self.radius, f"{what} radius"))
        self.check_options()

    def signed_distance(self, point) -> float:
        p, q = np.asarray(point), np.asarray(self.points)
        d = min(point_segment_distance(p, a, b) for a, b in zip(q[:-1], q[1:]))
        return d - self.radius


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
    thickness = [positive_length(t, f"layer {i} thickness") for i, (_, t) in enumerate(layers)]
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
