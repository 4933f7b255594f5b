"""Signed distances of scene structures in JAX, and smooth membership weights of cells.

The planning objective asks "is this cell in the target (plus margin), in a spared structure?"
at cell centroids that move with the needles, so membership must not come from the mesh labels
(which are dragged along with the nodes). These are the same analytic distances as the
structures' `.signed_distance` methods in `epsim.mesh.scene` (tested against them), written for
arrays of points and differentiable. A structure without an analytic distance (STL) is evaluated
once on the host at the reference centroids (constant, no gradient with respect to node motion).
All lengths in metres.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from epsim.fem.fields import safe_norm
from epsim.mesh.scene import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    Sphere,
    SphereInclusion,
    TubeInclusion,
)

SignedDistance = Callable[[jax.Array], jax.Array]


def point_segment_distance(p: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """Distance (m) of points p (..., 3) to the segment a-b ((3,) each)."""
    ab = b - a
    t = jnp.clip(jnp.sum((p - a) * ab, axis=-1) / jnp.sum(ab * ab), 0.0, 1.0)
    return safe_norm(p - (a + t[..., None] * ab))


def _box(center, size):
    c, h = jnp.asarray(center), 0.5 * jnp.asarray(size)

    def sd(p):
        q = jnp.abs(p - c) - h
        return safe_norm(jnp.maximum(q, 0.0)) + jnp.minimum(jnp.max(q, axis=-1), 0.0)

    return sd


def _sphere(center, radius):
    c = jnp.asarray(center)
    return lambda p: safe_norm(p - c) - radius


def _ellipsoid(center, radii):
    c, r = jnp.asarray(center), jnp.asarray(radii)

    def sd(p):  # Quilez's bound, as EllipsoidInclusion.signed_distance
        q = p - c
        k0, k1 = safe_norm(q / r), safe_norm(q / r**2)
        return jnp.where(k1 > 0, k0 * (k0 - 1.0) / jnp.where(k1 > 0, k1, 1.0), -jnp.min(r))

    return sd


def _cylinder(base, axis, radius, height):
    b, a = jnp.asarray(base), jnp.asarray(axis)

    def sd(p):
        d = p - b
        t = d @ a
        radial = safe_norm(d - t[..., None] * a)
        dx, dy = radial - radius, jnp.abs(t - height / 2) - height / 2
        outside = safe_norm(jnp.stack([jnp.maximum(dx, 0.0), jnp.maximum(dy, 0.0)], axis=-1))
        return jnp.minimum(jnp.maximum(dx, dy), 0.0) + outside

    return sd


def _tube(points, radius):
    q = jnp.asarray(points)

    def sd(p):
        d = jnp.stack([point_segment_distance(p, a, b) for a, b in zip(q[:-1], q[1:])])
        return jnp.min(d, axis=0) - radius

    return sd


def signed_distance_function(shape) -> SignedDistance | None:
    """A JAX function points (..., 3) -> signed distance (...,) for a domain or inclusion spec,
    or None when the shape has no analytic distance here (STL surfaces). The same function
    object for equal specs: it is static data of jitted programs (`MaterialField.shapes`,
    `Goals`), so a new one for each remesh would compile every program again."""
    try:
        return _cached_distance(shape)
    except TypeError:  # an unhashable spec
        return _distance(shape)


@functools.lru_cache(maxsize=256)
def _cached_distance(shape) -> SignedDistance | None:
    return _distance(shape)


def _distance(shape) -> SignedDistance | None:
    if isinstance(shape, (Box, BoxInclusion)):
        return _box(shape.center, shape.size)
    if isinstance(shape, (Sphere, SphereInclusion)):
        return _sphere(shape.center, shape.radius)
    if isinstance(shape, EllipsoidInclusion):
        return _ellipsoid(shape.center, shape.radii)
    if isinstance(shape, (Cylinder, CylinderInclusion)):
        return _cylinder(shape.base_center, shape.axis, shape.radius, shape.height)
    if isinstance(shape, TubeInclusion):
        return _tube(shape.points, shape.radius)
    return None


def host_signed_distance(shape, points: np.ndarray) -> np.ndarray:
    """The shape's own `.signed_distance` at each of points (n, 3), numpy (slow; STL fallback)."""
    return np.array([shape.signed_distance(p) for p in np.asarray(points)])


def membership(distance: jax.Array, margin: float, width: float) -> jax.Array:
    """Smooth indicator of {signed distance <= margin}: a logistic of width `width` (m)."""
    return jax.nn.sigmoid((margin - distance) / width)


def box_exit(center, size) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """(tips (n, 3), unit axes (n, 3)) -> (n, 3) points where each ray from the tip along the
    axis leaves the axis-aligned box (the tip inside)."""
    c, h = jnp.asarray(center), 0.5 * jnp.asarray(size)

    def exit_point(tip, axis):
        safe = jnp.where(jnp.abs(axis) > 1e-12, axis, 1e-12)
        t = (jnp.sign(safe) * h + c - tip) / safe  # distance to the face ahead on each axis
        return tip + jnp.min(t, axis=-1, keepdims=True) * axis

    return exit_point


def length_exit(lengths) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """(tips, axes) -> tips + lengths * axes: the needles' entry points (any domain shape)."""
    lengths = jnp.asarray(lengths)
    return lambda tip, axis: tip + lengths[:, None] * axis


def spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """Solve a x = b for a small SPD matrix (n, n) by an unrolled Cholesky factorisation in
    plain array operations: with jaxlib 0.10 on a two-core CPU, two batched LAPACK kernels
    running at once can wait on each other's thread pool tasks forever (seen in the planning
    gradients)."""
    n = a.shape[0]
    rows = [[None] * n for _ in range(n)]
    for j in range(n):
        s = a[j, j] - sum(rows[j][k] ** 2 for k in range(j))
        rows[j][j] = jnp.sqrt(s)
        for i in range(j + 1, n):
            rows[i][j] = (a[i, j] - sum(rows[i][k] * rows[j][k] for k in range(j))) / rows[j][j]
    y = [None] * n
    for i in range(n):
        y[i] = (b[i] - sum(rows[i][k] * y[k] for k in range(i))) / rows[i][i]
    x = [None] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(rows[k][i] * x[k] for k in range(i + 1, n))) / rows[i][i]
    return jnp.stack(x)
