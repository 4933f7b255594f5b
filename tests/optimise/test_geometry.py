"""The JAX signed distances equal the scene specs' own `.signed_distance`."""

import jax.numpy as jnp
import numpy as np
import pytest

from epsim.mesh import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    Sphere,
    SphereInclusion,
    TubeInclusion,
)
from epsim.optimise.geometry import box_exit, membership, signed_distance_function

SHAPES = [
    Box(center=(0.01, 0, -0.02), size=(0.05, 0.03, 0.04)),
    Cylinder((0, 0, -0.02), (0.2, 0.1, 1.0), 0.015, 0.04),
    Sphere((0.0, 0.01, 0.0), 0.02),
    SphereInclusion("s", (0.002, 0, 0), 0.01, "tumour"),
    EllipsoidInclusion("e", (0, 0.003, 0), (0.02, 0.015, 0.01), "tumour"),
    CylinderInclusion("c", (0, 0, -0.01), (1, 0.2, 0.3), 0.004, 0.03, "blood"),
    BoxInclusion("b", (0.005, 0, 0), (0.01, 0.02, 0.005), "fat"),
    TubeInclusion("t", ((-0.03, 0.01, 0), (0, 0.012, 0.005), (0.03, 0.02, 0.0)), 0.003, "blood"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: type(s).__name__)
def test_jax_distance_matches_spec(shape):
    points = np.random.default_rng(0).uniform(-0.04, 0.04, (200, 3))
    expected = np.array([shape.signed_distance(p) for p in points])
    got = np.asarray(signed_distance_function(shape)(jnp.asarray(points)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_box_exit_lands_on_the_surface():
    box = Box(center=(0, 0, 0.01), size=(0.04, 0.05, 0.06))
    rng = np.random.default_rng(1)
    tips = rng.uniform(-0.015, 0.015, (20, 3))
    axes = rng.normal(size=(20, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    exits = np.asarray(box_exit(box.center, box.size)(jnp.asarray(tips), jnp.asarray(axes)))
    np.testing.assert_allclose([box.signed_distance(p) for p in exits], 0.0, atol=1e-12)
    assert np.all(np.sum((exits - tips) * axes, axis=1) > 0)


def test_membership_is_a_smooth_step_at_the_margin():
    d = jnp.array([-1e-2, 1e-3, 1e-2])
    w = np.asarray(membership(d, 1e-3, 1e-4))
    np.testing.assert_allclose(w, [1.0, 0.5, 0.0], atol=1e-12)
