"""The analytic phantom on its oblique grid: voxelised volumes against the analytic ones, the grid
covers the body box, and the command line writes both formats once."""

import json

import numpy as np
import pytest

from epsim.imaging.phantom import LABELS, PhantomShapes, main, make_phantom, rotation


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(1.0)


def test_the_grid_is_oblique_and_covers_the_body_box(phantom):
    shapes, image = phantom
    linear = image.affine[:3, :3]
    assert np.allclose(image.spacing_mm, 1.0)
    assert np.linalg.det(linear) > 0
    off_axis = np.abs(linear / image.spacing_mm - np.eye(3)).max()
    assert off_axis > 0.1  # no axis of the grid is a world axis
    axis_of_turn = np.linalg.eig(linear)[1][:, np.argmin(np.abs(np.linalg.eig(linear)[0] - 1))]
    assert np.abs(np.real(axis_of_turn)).max() < 0.95  # turned about a non-axis direction
    corners = np.array(np.meshgrid(*[[-0.5, 0.5]] * 3, indexing="ij")).reshape(3, -1).T
    world = np.asarray(shapes.crop_center) + corners * shapes.crop_size
    ijk = image.voxel_index(world)
    assert np.all(ijk >= 0) and np.all(ijk <= np.array(image.labels.shape) - 1)


def test_voxelised_tumour_and_vessel_volumes_match_the_analytic_ones(phantom):
    shapes, image = phantom
    tumour = np.count_nonzero(image.labels == LABELS["tumour"]) * image.voxel_volume_mm3
    vessel = np.count_nonzero(image.labels == LABELS["vessel"]) * image.voxel_volume_mm3
    assert abs(tumour / shapes.tumour_volume - 1) < 0.03
    assert abs(vessel / shapes.vessel_volume - 1) < 0.05
    assert set(np.unique(image.labels)) == {0, *LABELS.values()}


def test_anisotropic_voxels_keep_the_volumes():
    shapes, image = make_phantom((0.8, 1.0, 1.3), axis=(-0.6, 0.2, 0.7), angle_deg=35.0)
    assert np.allclose(image.spacing_mm, (0.8, 1.0, 1.3))
    tumour = np.count_nonzero(image.labels == LABELS["tumour"]) * image.voxel_volume_mm3
    vessel = np.count_nonzero(image.labels == LABELS["vessel"]) * image.voxel_volume_mm3
    assert abs(tumour / shapes.tumour_volume - 1) < 0.03
    assert abs(vessel / shapes.vessel_volume - 1) < 0.05


def test_labels_follow_the_shapes_at_chosen_points(phantom):
    """Points picked from the description, away from every surface, land in the right label."""
    shapes, image = phantom
    top = shapes.skin_top
    cx, cy, _ = shapes.crop_center
    start, end = np.array(shapes.vessel_start), np.array(shapes.vessel_end)
    probes = {
        0: (cx, cy, top + 3.0),
        LABELS["skin"]: (cx, cy, top - shapes.skin_thickness / 2),
        LABELS["fat"]: (cx, cy, top - shapes.skin_thickness - shapes.fat_thickness / 2),
        LABELS["liver"]: np.add(shapes.liver_center, (-12.0, 8.0, 0.0)),
        LABELS["tumour"]: shapes.tumour_center,
        LABELS["vessel"]: (start + end) / 2,
        LABELS["muscle"]: (cx, cy, shapes.crop_center[2] - shapes.crop_size[2] / 2 + 1.0),
    }
    for label, world in probes.items():
        ijk = tuple(np.round(image.voxel_index(world)).astype(int))
        assert image.labels[ijk] == label, (label, world)


def test_rotation_is_a_rotation():
    turn = rotation((1.0, 2.0, 3.0), 40.0)
    assert np.allclose(turn @ turn.T, np.eye(3)) and np.isclose(np.linalg.det(turn), 1.0)
    assert np.allclose(turn @ np.array([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0])


def test_the_command_writes_a_nifti_phantom_and_refuses_to_overwrite(tmp_path, capsys):
    assert main([str(tmp_path), "--format", "nifti", "--voxel", "2"]) == 0
    description = json.loads((tmp_path / "phantom.json").read_text())
    assert description["labels"] == LABELS
    assert description["shapes"]["tumour_radius"] == PhantomShapes().tumour_radius
    assert (tmp_path / "labels.nii.gz").is_file() and not (tmp_path / "ct").exists()
    before = (tmp_path / "labels.nii.gz").read_bytes()
    assert main([str(tmp_path), "--format", "nifti"]) == 2
    message = capsys.readouterr().err.strip()
    assert "phantom.json" in message and "exists" in message and "\n" not in message
    assert (tmp_path / "labels.nii.gz").read_bytes() == before
