"""Validated vectors and point-segment distances shared by the scene modules (pure numpy, SI).

The checks raise `MeshError` (or the error type a caller passes) with the name of the value, so
that a bad spec says which field is wrong.
"""

from __future__ import annotations

import math

import numpy as np

from epsim.errors import MeshError

Vec3 = tuple[float, float, float]


def vec3(value, what: str) -> Vec3:
    """`value` as three finite floats (metres).

    Raises:
        MeshError: not three finite numbers.
    """
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise MeshError(f"{what} must be three finite numbers (metres), got {value!r}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def unit_vector(value, what: str) -> Vec3:
    """`value` (3,) normalised to length 1.

    Raises:
        MeshError: not three finite numbers, or the zero vector.
    """
    v = np.asarray(vec3(value, what))
    n = np.linalg.norm(v)
    if n == 0.0:
        raise MeshError(f"{what} must be a non-zero vector")
    return tuple(float(x) for x in v / n)


def positive_length(value, what: str, error=MeshError) -> float:
    """`value` as a finite float > 0 (metres); raises `error` otherwise."""
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise error(f"{what} must be a positive length in metres, got {value!r}")
    return value


def set_fields(obj, **values) -> None:
    """Set fields of a frozen dataclass in its `__post_init__` (normalised values)."""
    for key, value in values.items():
        object.__setattr__(obj, key, value)


def perpendicular_frame(axis) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to the unit `axis` and to each other (the first in the
    plane of the axis and x, or y when the axis is near x)."""
    axis = np.asarray(axis, dtype=np.float64)
    ref = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = ref - (ref @ axis) * axis
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def point_segment_distance(p, a, b) -> float:
    """Distance (m) from the point `p` (3,) to the segment a-b ((3,) each; a == b allowed)."""
    ab = b - a
    length2 = float(np.dot(ab, ab))
    t = np.clip(np.dot(p - a, ab) / length2, 0.0, 1.0) if length2 > 0.0 else 0.0
    return float(np.linalg.norm(p - (a + t * ab)))


def point_line_distance(p, origin, direction) -> float:
    """Distance (m) from the point `p` (3,) to the line through `origin` (3,) along the unit
    `direction` (3,)."""
    offset = np.asarray(p) - np.asarray(origin)
    return float(np.linalg.norm(offset - np.dot(offset, direction) * direction))


def segment_distance(a0, a1, b0, b1) -> float:
    """Shortest distance (m) between segments a0-a1 and b0-b1 (each point (3,)); a segment may be
    a single point.

    The minimum is at an end point of one segment or at the interior critical point of both.
    """
    a0, a1, b0, b1 = (np.asarray(x, dtype=np.float64) for x in (a0, a1, b0, b1))
    candidates = [
        point_segment_distance(a0, b0, b1),
        point_segment_distance(a1, b0, b1),
        point_segment_distance(b0, a0, a1),
        point_segment_distance(b1, a0, a1),
    ]
    u, v, w = a1 - a0, b1 - b0, a0 - b0
    uu, uv, vv, uw, vw = u @ u, u @ v, v @ v, u @ w, v @ w
    det = uu * vv - uv * uv
    if det > 1e-12 * uu * vv:
        s, t = (uv * vw - vv * uw) / det, (uu * vw - uv * uw) / det
        if 0.0 <= s <= 1.0 and 0.0 <= t <= 1.0:
            candidates.append(float(np.linalg.norm(w + s * u - t * v)))
    return min(candidates)


def min_on_segment(f, a, b, samples: int = 33) -> float:
    """Minimum of f(point) over the segment a-b (points (3,), m): sampled, then refined by golden
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
