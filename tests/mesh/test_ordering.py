"""Locality numbering: Morton codes, and a renumbered mesh is the same mesh."""

import numpy as np

from epsim.mesh import make_mesh, renumbered, signed_volumes
from epsim.mesh.ordering import _spread_bits, morton_codes
from tests.helpers.meshes import inclusion_box


def test_spread_bits_interleaves():
    assert int(_spread_bits(np.uint64(0b111))) == 0b1001001
    top = int(_spread_bits(np.uint64(2**21 - 1)))
    assert top == sum(1 << (3 * k) for k in range(21))


def test_morton_order_of_cube_corners_is_z_order():
    corners = np.array([(x, y, z) for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
    shuffled = corners[[5, 2, 7, 0, 3, 6, 1, 4]]
    np.testing.assert_array_equal(shuffled[np.argsort(morton_codes(shuffled))], corners)


def shuffled(mesh, seed=0):
    """The mesh with nodes and cells in random order (what a mesher's numbering looks like)."""
    rng = np.random.default_rng(seed)
    node_order, cell_order = rng.permutation(mesh.n_nodes), rng.permutation(mesh.n_cells)
    new_index = np.argsort(node_order)
    facets = {k: new_index[v] for k, v in mesh.facets.items()}
    return make_mesh(np.asarray(mesh.points)[node_order], new_index[mesh.cells[cell_order]],
                     mesh.cell_region[cell_order], mesh.region_names, facets)


def cell_keys(mesh):
    """Each cell as its sorted corner coordinates plus region, rows sorted: numbering-free."""
    x = np.sort(np.round(np.asarray(mesh.points)[mesh.cells], 12).reshape(mesh.n_cells, -1), axis=1)
    rows = np.column_stack([x, mesh.cell_region])
    return rows[np.lexsort(rows.T[::-1])]


def span(mesh):
    return np.median(mesh.cells.max(axis=1) - mesh.cells.min(axis=1))


def test_renumbered_is_the_same_mesh_with_local_numbering():
    mesh = shuffled(inclusion_box(n=8))
    local = renumbered(mesh)
    np.testing.assert_array_equal(cell_keys(local), cell_keys(mesh))
    assert np.all(signed_volumes(local.points, local.cells) > 0)
    for name, tri in mesh.facets.items():
        before = np.sort(np.sort(np.asarray(mesh.points)[tri].reshape(len(tri), -1), axis=1), axis=0)
        after = np.asarray(local.points)[local.facets[name]].reshape(len(tri), -1)
        np.testing.assert_array_equal(np.sort(np.sort(after, axis=1), axis=0), before)
    assert span(local) < 0.2 * span(mesh)
    assert np.all(np.diff(local.cells.min(axis=1)) >= 0)


def test_renumbering_twice_changes_nothing():
    once = renumbered(shuffled(inclusion_box(n=6)))
    twice = renumbered(once)
    np.testing.assert_array_equal(twice.cells, once.cells)
    np.testing.assert_array_equal(twice.points, once.points)
