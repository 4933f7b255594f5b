"""Nodes that move with the needles: rigid needle surfaces, fixed neighbours, boundary kept."""

import jax.numpy as jnp
import numpy as np
import pytest

from epsim.optimise.motion import moved_points, rotation_between, shift_ratio
from epsim.optimise.plan import Plan, axes, tips
from epsim.mesh.tetmesh import signed_volumes
from tests.helpers.scenes import MM, layout, small_case


@pytest.fixture(scope="module")
def case():
    scene, goals, needles, plan = small_case(2)
    tip, axis = layout(needles, plan)
    mesh = scene.mesh(tip, axis, np.asarray(needles.length))
    data = scene.mesh_data(mesh, tip, axis)
    return scene, needles, plan, mesh, data


def test_rotation_between_takes_a_to_b():
    a = jnp.array([0.0, 0.0, 1.0])
    b = jnp.array([0.1, -0.05, 1.0]) / jnp.linalg.norm(jnp.array([0.1, -0.05, 1.0]))
    r = rotation_between(a, b)
    np.testing.assert_allclose(r @ a, b, atol=1e-14)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(rotation_between(a, a), np.eye(3), atol=1e-15)


def test_zero_pose_leaves_the_mesh_alone(case):
    _, needles, plan, mesh, data = case
    points = moved_points(data.motion, tips(needles, plan), axes(needles, plan))
    np.testing.assert_allclose(points, mesh.points, atol=1e-15)


def test_needle_moves_rigidly_and_the_rest_follows_validly(case):
    _, needles, plan, mesh, data = case
    moved = Plan(plan.shift.at[0].set(jnp.array([0.4, -0.3, 0.5]) * MM),
                 jnp.array([[0.02, -0.01], [0.0, 0.0]]), plan.voltage)
    tip, axis = tips(needles, moved), axes(needles, moved)
    points = np.asarray(moved_points(data.motion, tip, axis))
    ref = np.asarray(mesh.points)
    rot = np.asarray(rotation_between(needles.axis[0], axis[0]))
    surface = mesh.facet_nodes("n0")  # the active part: all within the rigid axial zone
    expected = np.asarray(tip[0]) + (ref[surface] - np.asarray(needles.tip[0])) @ rot.T
    np.testing.assert_allclose(points[surface], expected, atol=1e-12)
    other = np.union1d(mesh.facet_nodes("n1"), mesh.facet_nodes("n1_insulated"))
    np.testing.assert_allclose(points[other], ref[other], atol=1e-15)
    for face, axis_index in (("xmin", 0), ("xmax", 0), ("ymin", 1), ("zmax", 2), ("zmin", 2)):
        nodes = mesh.facet_nodes(face)
        np.testing.assert_allclose(points[nodes, axis_index], ref[nodes, axis_index], atol=1e-15)
    assert signed_volumes(points, mesh.cells).min() > 0


def test_shift_ratio_is_the_shift_over_the_limit(case):
    _, needles, plan, _, data = case
    shift = jnp.array([0.3, 0.4, 0.0]) * MM  # 0.5 mm sideways
    moved = Plan(plan.shift.at[1].set(shift), plan.tilt, plan.voltage)
    ratio = np.asarray(shift_ratio(data.motion, tips(needles, moved), axes(needles, moved)))
    np.testing.assert_allclose(ratio, [0.0, 0.5 * MM / float(data.motion.limit[1])], atol=1e-12)


def test_moved_cells_take_the_material_of_where_they_are(case):
    scene, needles, plan, mesh, data = case
    ref = np.asarray(mesh.points)
    centroids = ref[mesh.cells].mean(axis=1)
    field = data.materials
    cells = jnp.asarray(mesh.cells)
    np.testing.assert_allclose(field.weights(jnp.asarray(ref), cells), field.labels, atol=1e-12)
    # needle n0 sits inside the 6 mm tumour at x = 5 mm: move it 1.5 mm outwards, across the
    # tumour boundary, and the cells that travel with it must turn into liver
    moved = Plan(plan.shift.at[0].set(jnp.array([1.5, 0.0, 0.0]) * MM), plan.tilt, plan.voltage)
    points = np.asarray(moved_points(data.motion, tips(needles, moved), axes(needles, moved)))
    now = points[mesh.cells].mean(axis=1)
    travelled = np.linalg.norm(now - centroids, axis=1) > 1.0 * MM
    clear = np.abs(np.linalg.norm(centroids, axis=1) - 6 * MM) > 2 * MM  # well off, as meshed
    radius = np.linalg.norm(now, axis=1)
    tumour = mesh.region_names.index("tumour")
    w = np.asarray(field.weights(jnp.asarray(points), cells))[:, tumour]
    outside = travelled & clear & (radius > 6 * MM + 1.5 * MM)
    inside = travelled & clear & (radius < 6 * MM - 1.5 * MM)
    assert outside.sum() > 10 and inside.sum() > 0
    assert np.all(w[outside] < 0.1) and np.all(w[inside] > 0.9)
    total = np.sum(np.asarray(field.weights(jnp.asarray(points), cells)), axis=1)
    np.testing.assert_allclose(total, 1.0)
