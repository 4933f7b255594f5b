"""TetMesh validation, P1 geometry and the structured box mesh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.errors import (
    DegenerateCellError,
    InvertedCellError,
    MeshError,
    MissingTagError,
    UnusedNodeError,
)
from epsim.mesh import boundary_facets, cell_geometry, make_mesh, signed_volumes
from epsim.mesh.structured import structured_box_mesh

UNIT_TET = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def two_tets(second):
    """Two cells sharing the face (1, 2, 3); node 4 is on the other side of it.

    (1, 2, 3, 4) is positively oriented with volume 1/3, (1, 3, 2, 4) is inverted.
    """
    points = np.vstack([UNIT_TET, [[1.0, 1.0, 1.0]]])
    return points, np.array([[0, 1, 2, 3], second])


def test_valid_mesh_keeps_cells():
    points, cells = two_tets((1, 2, 3, 4))
    mesh = make_mesh(points, cells, [0, 0], ["tissue"])
    assert np.all(signed_volumes(mesh.points, mesh.cells) > 0)
    np.testing.assert_array_equal(mesh.cells, cells)


def test_inverted_cell_raises_when_not_fixed():
    points, cells = two_tets((1, 3, 2, 4))  # second cell is negatively oriented
    with pytest.raises(InvertedCellError, match=r"inverted.*: 1\b"):
        make_mesh(points, cells, [0, 0], ["tissue"], fix_orientation=False)


def test_inverted_cell_is_fixed_by_default():
    points, cells = two_tets((1, 3, 2, 4))
    mesh = make_mesh(points, cells, [0, 0], ["tissue"])
    volumes = signed_volumes(mesh.points, mesh.cells)
    assert np.all(volumes > 0)
    np.testing.assert_allclose(volumes, [1 / 6, 1 / 3])
    assert sorted(mesh.cells[1]) == [1, 2, 3, 4]


def test_degenerate_cell_raises_and_names_it():
    points = np.vstack([UNIT_TET, [[0.5, 0.5, 0.0]]])  # node 4 lies in the plane z = 0
    cells = np.array([[0, 1, 2, 3], [0, 1, 2, 4]])
    with pytest.raises(DegenerateCellError, match=r"degenerate.*: 1\b"):
        make_mesh(points, cells, [0, 0], ["tissue"])


def test_unused_node_raises_and_names_it():
    points = np.vstack([UNIT_TET, [[5.0, 5.0, 5.0]]])
    with pytest.raises(UnusedNodeError, match=r"no cell: 4\b"):
        make_mesh(points, [[0, 1, 2, 3]], [0], ["tissue"])


@pytest.mark.parametrize(
    "cell_region, names", [(None, ["tissue"]), ([0], None), ([0], []), ([0, 0], ["tissue"])]
)
def test_missing_region_tags_raise(cell_region, names):
    with pytest.raises(MissingTagError):
        make_mesh(UNIT_TET, [[0, 1, 2, 3]], cell_region, names)


def test_region_index_out_of_range_raises():
    with pytest.raises(MissingTagError, match="index region_names"):
        make_mesh(UNIT_TET, [[0, 1, 2, 3]], [1], ["tissue"])


def test_bad_node_index_and_coordinates_raise():
    with pytest.raises(MeshError, match="outside"):
        make_mesh(UNIT_TET, [[0, 1, 2, 7]], [0], ["tissue"])
    points = UNIT_TET.copy()
    points[2, 1] = np.nan
    with pytest.raises(MeshError, match="nodes 2"):
        make_mesh(points, [[0, 1, 2, 3]], [0], ["tissue"])


def test_tag_lookups_name_what_is_missing():
    mesh = make_mesh(UNIT_TET, [[0, 1, 2, 3]], [0], ["tissue"], {"top": [[1, 2, 3]]})
    np.testing.assert_array_equal(mesh.facet_nodes("top"), [1, 2, 3])
    assert mesh.region_id("tissue") == 0
    with pytest.raises(MissingTagError, match="'bottom'"):
        mesh.facet_nodes("bottom")
    with pytest.raises(MissingTagError, match="'tumour'"):
        mesh.region_id("tumour")


def perturbed_box(seed=0):
    """A structured 1 x 2 x 3 cm box mesh with interior nodes moved randomly."""
    mesh = structured_box_mesh((0.01, 0.02, 0.03), (3, 4, 5), center=(0.1, 0.0, -0.2))
    lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
    interior = np.all((mesh.points > lo + 1e-12) & (mesh.points < hi - 1e-12), axis=1)
    rng = np.random.default_rng(seed)
    h = 0.01 / 3
    points = mesh.points + interior[:, None] * rng.uniform(-0.2 * h, 0.2 * h, mesh.points.shape)
    return mesh.with_points(points), interior


def test_volumes_sum_to_box_volume():
    mesh, _ = perturbed_box()
    _, volumes = cell_geometry(mesh.points, mesh.cells)
    assert np.all(volumes > 0)
    np.testing.assert_allclose(jnp.sum(volumes), 0.01 * 0.02 * 0.03, rtol=1e-12)


def test_gradients_reproduce_linear_functions_exactly():
    mesh, _ = perturbed_box()
    grads, _ = cell_geometry(mesh.points, mesh.cells)
    slope, offset = np.array([3.0, -2.0, 0.5]), 7.0
    f = mesh.points @ slope + offset  # (n_nodes,)
    recovered = jnp.einsum("cid,ci->cd", grads, f[mesh.cells])
    np.testing.assert_allclose(recovered, np.broadcast_to(slope, recovered.shape), atol=1e-9)
    np.testing.assert_allclose(jnp.sum(grads, axis=1), 0.0, atol=1e-9)  # partition of unity


def test_total_volume_is_differentiable_in_the_points():
    mesh, interior = perturbed_box()
    cells = mesh.cells

    def total_volume(points):
        return jnp.sum(cell_geometry(points, cells)[1])

    grad = jax.grad(total_volume)(jnp.asarray(mesh.points))
    assert np.all(np.isfinite(grad))
    # moving an interior node does not change the total volume; moving the boundary does
    np.testing.assert_allclose(grad[interior], 0.0, atol=1e-15)
    assert np.abs(grad[~interior]).max() > 1e-6
    node = int(np.flatnonzero(~interior)[7])
    step = np.zeros_like(mesh.points)
    step[node, 0] = 1e-7
    fd = (total_volume(mesh.points + step) - total_volume(mesh.points - step)) / 2e-7
    np.testing.assert_allclose(grad[node, 0], fd, rtol=1e-6, atol=1e-18)


def test_structured_box_mesh_is_conforming_and_tagged():
    n = (2, 3, 4)
    size = np.array([0.02, 0.03, 0.01])
    mesh = structured_box_mesh(size, n, center=(0.0, 0.0, 0.005))
    assert mesh.n_nodes == 3 * 4 * 5 and mesh.n_cells == 6 * 2 * 3 * 4
    assert mesh.region_names == ("tissue",)
    assert np.all(signed_volumes(mesh.points, mesh.cells) > 0)
    # conforming: the only faces with one cell are on the box surface, and all are tagged once
    outer = {tuple(sorted(t)) for t in boundary_facets(mesh.cells)}
    tagged = [tuple(sorted(t)) for tri in mesh.facets.values() for t in tri]
    assert len(tagged) == len(set(tagged)) == len(outer) and set(tagged) == outer
    counts = {"x": 2 * n[1] * n[2], "y": 2 * n[0] * n[2], "z": 2 * n[0] * n[1]}
    lo, hi = np.array([-0.01, -0.015, 0.0]), np.array([0.01, 0.015, 0.01])
    for axis, name in enumerate("xyz"):
        for side, value in (("min", lo[axis]), ("max", hi[axis])):
            tri = mesh.facets[name + side]
            assert len(tri) == counts[name]
            np.testing.assert_allclose(mesh.points[tri][..., axis], value, atol=1e-15)


def test_structured_box_mesh_rejects_bad_input():
    with pytest.raises(MeshError):
        structured_box_mesh(0.01, 0)
    with pytest.raises(MeshError):
        structured_box_mesh(-1.0, 2)
    with pytest.raises(MeshError):
        structured_box_mesh(0.01, 2.5)


def test_scaled_and_with_points_return_copies():
    mesh = structured_box_mesh(1.0, 1)
    scaled = mesh.scaled(1e-3)
    np.testing.assert_allclose(scaled.points, mesh.points * 1e-3)
    assert mesh.points.max() == 0.5  # the original is unchanged
    assert scaled.region_names == mesh.region_names
    for tag, tri in mesh.facets.items():
        np.testing.assert_array_equal(scaled.facets[tag], tri)
