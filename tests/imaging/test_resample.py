"""Per-cell values on an oblique voxel grid: every voxel centre gets the value of the cell that
contains it (checked against a brute-force barycentric test over all cells), NaN outside, and the
NIfTI written from them carries the input file's affine bit for bit."""

import nibabel as nib
import numpy as np
import pytest

from epsim.imaging.labelmap import LabelImage
from epsim.imaging.nifti import read_nifti, write_nifti
from epsim.imaging.resample import MM, CellLocator, resample_cells_to_image
from epsim.mesh import structured_box_mesh

TURN = np.linalg.qr(np.array([[0.9, -0.3, 0.2], [0.35, 0.8, -0.4], [-0.1, 0.45, 0.85]]))[0]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A jittered structured mesh of a 24 x 20 x 16 mm box (m) and an oblique 14 x 12 x 10 grid
    (0.9, 1.2, 1.5 mm voxels) read from a NIfTI file, partly outside the mesh."""
    mesh = structured_box_mesh((24e-3, 20e-3, 16e-3), (6, 5, 4), center=(5e-3, -3e-3, 40e-3))
    points = np.asarray(mesh.points).copy()
    interior = np.all((points > points.min(0) + 1e-9) & (points < points.max(0) - 1e-9), axis=1)
    rng = np.random.default_rng(3)
    points[interior] += rng.uniform(-0.6e-3, 0.6e-3, size=(interior.sum(), 3))  # h = 4 mm
    affine = np.eye(4)
    affine[:3, :3] = TURN * [0.9, 1.2, 1.5]
    affine[:3, 3] = np.array([5.0, -3.0, 40.0]) - affine[:3, :3] @ [6.5, 5.5, 4.5] + [8.0, 0, 0]
    image = nib.Nifti1Image(np.zeros((14, 12, 10), np.uint8), affine)
    path = tmp_path_factory.mktemp("grid") / "grid.nii.gz"
    image.to_filename(str(path))
    return points, np.asarray(mesh.cells), read_nifti(path)


def brute_force_cells(points, cells, query):
    """(n, n_cells) barycentric depth of every query point in every cell, solved directly."""
    corners = points[cells]
    depth = np.empty((len(query), len(cells)))
    for c, (v0, v1, v2, v3) in enumerate(corners):
        bary = np.linalg.solve(np.column_stack([v1 - v0, v2 - v0, v3 - v0]), (query - v0).T).T
        depth[:, c] = np.minimum(bary.min(axis=1), 1 - bary.sum(axis=1))
    return depth


def test_voxel_values_are_the_values_of_the_containing_cells(case):
    points, cells, grid = case
    centroids = points[cells].mean(axis=1)
    values = 1e3 * centroids @ [1.0, -2.0, 0.5] + 7.0  # a known per-cell function
    on_grid = resample_cells_to_image(points, cells, values, grid)
    assert on_grid.shape == grid.labels.shape
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in grid.labels.shape], indexing="ij"), -1)
    centres = grid.world_mm(ijk.reshape(-1, 3)) * MM
    depth = brute_force_cells(points, cells, centres)
    inside = depth >= -1e-9
    outside = ~inside.any(axis=1)
    flat = on_grid.ravel()
    assert np.all(np.isnan(flat[outside])) and not np.isnan(flat[~outside]).any()
    assert 0.1 < outside.mean() < 0.7  # the grid sticks out of the mesh on purpose
    for n in np.flatnonzero(~outside):  # a point on a shared face may take either cell
        assert flat[n] in values[inside[n]]
    clear = ~outside & (np.sort(depth, axis=1)[:, -2] < -1e-6)  # in exactly one cell
    assert clear.sum() > 0.9 * (~outside).sum()
    assert np.array_equal(flat[clear], values[np.argmax(depth[clear], axis=1)])


def test_the_fill_value_and_the_rounds_of_candidates(case):
    points, cells, grid = case
    values = np.arange(len(cells), dtype=float)
    zero_fill = resample_cells_to_image(points, cells, values, grid, fill=-1.0)
    assert np.count_nonzero(zero_fill == -1.0) > 0 and not np.isnan(zero_fill).any()
    locator = CellLocator(points, cells)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in grid.labels.shape], indexing="ij"), -1)
    centres = grid.world_mm(ijk.reshape(-1, 3)) * MM
    assert np.array_equal(locator.locate(centres), zero_fill.ravel().astype(int))
    far = np.array([[1.0, 1.0, 1.0]])
    assert locator.locate(far)[0] == -1


def test_the_exact_ball_query_finds_what_the_nearest_centroids_miss(case, monkeypatch):
    """With one nearest centroid per point, most points are settled by the ball query."""
    points, cells, grid = case
    query = grid.world_mm(np.random.default_rng(8).uniform(0, 9, size=(400, 3))) * MM
    expected = CellLocator(points, cells).locate(query)
    monkeypatch.setattr("epsim.imaging.resample.ROUNDS", (1,))
    assert np.array_equal(CellLocator(points, cells).locate(query), expected)
    assert np.count_nonzero(expected >= 0) > 200


def test_written_results_carry_the_input_affine_exactly(case, tmp_path):
    points, cells, grid = case
    values = 1e3 * points[cells].mean(axis=1)[:, 2]
    on_grid = resample_cells_to_image(points, cells, values, grid).astype(np.float32)
    path = write_nifti(tmp_path / "field.nii.gz", on_grid, grid)
    source, out = nib.load(grid.source), nib.load(str(path))
    assert np.array_equal(out.affine, source.affine)
    assert np.array_equal(out.get_sform(), source.get_sform())
    assert out.get_sform(coded=True)[1] == source.get_sform(coded=True)[1]
    assert np.array_equal(np.asanyarray(out.dataobj), on_grid, equal_nan=True)


def test_a_label_image_grid_without_a_file():
    grid = LabelImage(np.zeros((3, 3, 3), np.uint8), np.diag([1.0, 1.0, 1.0, 1.0]))
    mesh = structured_box_mesh(4e-3, 1, center=(1e-3, 1e-3, 1e-3))
    on_grid = resample_cells_to_image(mesh.points, mesh.cells, np.full(6, 2.5), grid)
    assert np.all(on_grid == 2.5)
