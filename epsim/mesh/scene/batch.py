"""Scene geometry over many points at once: signed distances of (n, 3) point arrays to domains
and inclusions, and axis-aligned bounds of inclusions.

The shapes' own `signed_distance` takes one point; needle paths of thousands of needles and the
cell-count estimate (`epsim.mesh.estimate`) need the same geometry over arrays. Same formulas,
negative inside; the ellipsoid's is the same approximation (exact sign and zero set).
"""

from __future__ import annotations

import numpy as np

from epsim.mesh.scene.shapes import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    Sphere,
    SphereInclusion,
    TubeInclusion,
)


def _box(points, center, size) -> np.ndarray:
    q = np.abs(points - np.asarray(center)) - np.asarray(size) / 2
    return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(axis=-1), 0.0)


def _cylinder(points, base, axis, radius, height) -> np.ndarray:
    d = points - np.asarray(base)
    t = d @ np.asarray(axis)
    radial = np.linalg.norm(d - t[:, None] * np.asarray(axis), axis=-1)
    dx, dy = radial - radius, np.abs(t - height / 2) - height / 2
    outside = np.hypot(np.maximum(dx, 0.0), np.maximum(dy, 0.0))
    return np.minimum(np.maximum(dx, dy), 0.0) + outside


def segment_distances(points, a, b) -> np.ndarray:
    """Distances (n,) from points (n, 3) to the segment a-b ((3,) each; a == b allowed), m."""
    a, ab = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64) - np.asarray(a)
    length2 = float(ab @ ab)
    t = np.clip((points - a) @ ab / length2, 0.0, 1.0) if length2 > 0.0 else 0.0
    return np.linalg.norm(points - (a + np.multiply.outer(t, ab)), axis=-1)


def signed_distances(shape, points) -> np.ndarray:
    """Signed distances (n,) from points (n, 3) to a domain or inclusion, m, negative inside
    (inclusions read from STL files: point by point, so keep n small)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if isinstance(shape, (Box, BoxInclusion)):
        return _box(p, shape.center, shape.size)
    if isinstance(shape, Cylinder):
        return _cylinder(p, shape.base_center, shape.axis, shape.radius, shape.height)
    if isinstance(shape, CylinderInclusion):
        return _cylinder(p, shape.base_center, shape.axis, shape.radius, shape.height)
    if isinstance(shape, (Sphere, SphereInclusion)):
        return np.linalg.norm(p - np.asarray(shape.center), axis=-1) - shape.radius
    if isinstance(shape, EllipsoidInclusion):
        q, r = p - np.asarray(shape.center), np.asarray(shape.radii)
        k0, k1 = np.linalg.norm(q / r, axis=-1), np.linalg.norm(q / r**2, axis=-1)
        safe = np.where(k1 == 0.0, 1.0, k1)
        return np.where(k1 == 0.0, -min(shape.radii), k0 * (k0 - 1.0) / safe)
    if isinstance(shape, TubeInclusion):
        q = np.asarray(shape.points)
        d = np.min([segment_distances(p, a, b) for a, b in zip(q[:-1], q[1:])], axis=0)
        return d - shape.radius
    return np.array([shape.signed_distance(x) for x in p])


def bounds(shape) -> np.ndarray:
    """Axis-aligned bounds (2, 3) of an inclusion or domain, m."""
    if isinstance(shape, (Box, BoxInclusion)):
        c, h = np.asarray(shape.center), np.asarray(shape.size) / 2
        return np.stack([c - h, c + h])
    if isinstance(shape, (Sphere, SphereInclusion)):
        c = np.asarray(shape.center)
        return np.stack([c - shape.radius, c + shape.radius])
    if isinstance(shape, EllipsoidInclusion):
        c, r = np.asarray(shape.center), np.asarray(shape.radii)
        return np.stack([c - r, c + r])
    if isinstance(shape, (Cylinder, CylinderInclusion)):
        a = np.asarray(shape.axis)
        ends = np.stack([shape.base_center, np.asarray(shape.base_center) + a * shape.height])
        reach = shape.radius * np.sqrt(np.clip(1.0 - a**2, 0.0, 1.0))
        return np.stack([ends.min(axis=0) - reach, ends.max(axis=0) + reach])
    if isinstance(shape, TubeInclusion):
        q = np.asarray(shape.points)
        return np.stack([q.min(axis=0) - shape.radius, q.max(axis=0) + shape.radius])
    vertices, _ = shape.surface()
    return np.stack([vertices.min(axis=0), vertices.max(axis=0)])


__all__ = ["bounds", "segment_distances", "signed_distances"]
