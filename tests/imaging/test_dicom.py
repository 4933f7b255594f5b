"""DICOM CT + RTSTRUCT: the phantom written both ways reads back as the same label map in the
same world place; the rasteriser against an independent point-in-polygon test; bad series and
structure sets refused in one line naming the file and the problem."""

import shutil

import numpy as np
import pydicom
import pytest
from matplotlib.path import Path as PolygonPath

from epsim.errors import InputError
from epsim.imaging.dicom import read_dicom
from epsim.imaging.nifti import read_nifti
from epsim.imaging.phantom import LABELS, write_phantom
from epsim.imaging.rtstruct import add_crossings

# painted in this order: the organ before the tumour and vessel inside it
ROIS = {name: LABELS[name] for name in ("muscle", "fat", "skin", "liver", "tumour", "vessel")}


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    write_phantom(folder, 1.0, "both")
    return folder


@pytest.fixture(scope="module")
def both(phantom_dir):
    nifti = read_nifti(phantom_dir / "labels.nii.gz")
    dicom = read_dicom(phantom_dir / "ct", phantom_dir / "rtstruct.dcm", ROIS)
    return nifti, dicom


def test_the_two_formats_place_the_grid_identically(both):
    nifti, dicom = both
    assert nifti.labels.shape == dicom.labels.shape
    assert np.abs(nifti.affine - dicom.affine).max() < 1e-4  # DS text and float32 rounding
    rng = np.random.default_rng(11)
    inner = rng.uniform(0.5, np.array(nifti.labels.shape) - 1.5, size=(2000, 3))
    world = nifti.world_mm(inner)
    assert np.array_equal(np.round(nifti.voxel_index(world)), np.round(dicom.voxel_index(world)))
    assert np.allclose(dicom.world_mm(dicom.voxel_index(world)), world)


def test_the_two_formats_agree_label_by_label(both):
    nifti, dicom = both
    for name, label in LABELS.items():
        a, b = nifti.labels == label, dicom.labels == label
        dice = 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))
        assert dice > 0.98, (name, dice)
    assert np.mean(nifti.labels == dicom.labels) > 0.999


def test_dicom_is_lps_and_the_reader_converts_to_ras(phantom_dir, both):
    nifti, _ = both
    first = pydicom.dcmread(str(phantom_dir / "ct" / "CT_0000.dcm"), stop_before_pixels=True)
    ras = nifti.world_mm([0, 0, 0])
    assert np.allclose(np.asarray(first.ImagePositionPatient, float), ras * [-1, -1, 1], atol=1e-5)


def test_slice_order_comes_from_positions_not_file_names(phantom_dir, tmp_path, both):
    ct = tmp_path / "ct"
    ct.mkdir()
    files = sorted((phantom_dir / "ct").iterdir())
    for n, path in enumerate(reversed(files)):
        shutil.copy(path, ct / f"IM{n:04d}")
    (ct / "notes.txt").write_text("not DICOM")
    image = read_dicom(ct, phantom_dir / "rtstruct.dcm", ROIS)
    assert np.array_equal(image.labels, both[1].labels)
    assert np.array_equal(image.affine, both[1].affine)


def test_even_odd_rasterisation_matches_an_independent_point_in_polygon_test():
    """A star with a star-shaped hole (two contours of one ROI): a pixel centre is inside when
    it is in exactly one of them (matplotlib's contains_points, counted independently)."""
    angle = np.linspace(0, 2 * np.pi, 23, endpoint=False)
    star = np.column_stack([np.cos(angle), np.sin(angle)]) * (9 + 4 * (np.arange(23) % 2))[:, None]
    outer, hole = star + [15.3, 14.1], 0.4 * star + [16.2, 13.7]
    counts = np.zeros((30, 33), dtype=np.int64)  # rows j, columns i + 1
    add_crossings(counts, outer)
    add_crossings(counts, hole)
    inside = np.cumsum(counts, axis=1)[:, :32] % 2 == 1
    j, i = np.mgrid[:30, :32]
    centres = np.column_stack([i.ravel(), j.ravel()])
    expected = PolygonPath(outer).contains_points(centres) ^ PolygonPath(hole).contains_points(
        centres
    )
    assert np.array_equal(inside.ravel(), expected)
    assert 100 < expected.sum() < 900  # the shapes cover part of the grid, not none or all


@pytest.fixture()
def series_copy(phantom_dir, tmp_path):
    ct = tmp_path / "ct"
    shutil.copytree(phantom_dir / "ct", ct)
    return ct


def refused(ct, rtstruct, rois, *words):
    with pytest.raises(InputError) as caught:
        read_dicom(ct, rtstruct, rois)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2, message
    for word in words:
        assert word in message, message


def test_a_missing_slice_is_inconsistent_spacing(series_copy, phantom_dir):
    (series_copy / "CT_0030.dcm").unlink()
    refused(
        series_copy,
        phantom_dir / "rtstruct.dcm",
        ROIS,
        str(series_copy),
        "CT_0031.dcm",
        "inconsistent slice spacing",
    )


def test_a_slice_with_other_pixel_spacing_is_refused(series_copy, phantom_dir):
    path = series_copy / "CT_0012.dcm"
    data = pydicom.dcmread(str(path))
    data.PixelSpacing = ["1.1", "1"]
    data.save_as(str(path))
    refused(series_copy, phantom_dir / "rtstruct.dcm", ROIS, "CT_0012.dcm", "inconsistent spacing")


def test_a_tilted_slice_is_inconsistent_orientation(series_copy, phantom_dir):
    path = series_copy / "CT_0020.dcm"
    data = pydicom.dcmread(str(path))
    orientation = np.asarray(data.ImageOrientationPatient, float)
    turn = np.deg2rad(2.0)
    row = orientation[:3] * np.cos(turn) + orientation[3:] * np.sin(turn)
    column = orientation[3:] * np.cos(turn) - orientation[:3] * np.sin(turn)
    data.ImageOrientationPatient = [f"{v:.8f}" for v in np.concatenate([row, column])]
    data.save_as(str(path))
    refused(
        series_copy,
        phantom_dir / "rtstruct.dcm",
        ROIS,
        "CT_0020.dcm",
        "inconsistent orientation",
        str(data.SeriesInstanceUID),
    )


def test_an_roi_absent_from_the_rtstruct_is_refused(phantom_dir):
    rtstruct = phantom_dir / "rtstruct.dcm"
    refused(
        phantom_dir / "ct",
        rtstruct,
        {"liver": 1, "spleen": 2},
        str(rtstruct),
        "'spleen'",
        "'liver'",
    )


def test_a_structure_set_of_another_frame_of_reference_is_refused(phantom_dir, tmp_path):
    data = pydicom.dcmread(str(phantom_dir / "rtstruct.dcm"))
    data.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.4"
    data.save_as(str(tmp_path / "rs.dcm"))
    refused(phantom_dir / "ct", tmp_path / "rs.dcm", ROIS, "frame of reference")


def test_files_that_are_not_what_they_should_be(phantom_dir, tmp_path):
    (tmp_path / "rs.dcm").write_bytes(b"DICM" + bytes(50))
    refused(phantom_dir / "ct", tmp_path / "rs.dcm", ROIS, "rs.dcm", "RTSTRUCT")
    refused(phantom_dir / "ct", phantom_dir / "ct" / "CT_0000.dcm", ROIS, "not an RTSTRUCT")
    refused(tmp_path / "nowhere", phantom_dir / "rtstruct.dcm", ROIS, "no such DICOM folder")


@pytest.mark.parametrize("keep", [300, 1000, 12000])  # meta only, header only, pixels cut
def test_a_truncated_slice_is_refused(series_copy, phantom_dir, keep):
    path = series_copy / "CT_0007.dcm"
    path.write_bytes(path.read_bytes()[:keep])
    refused(series_copy, phantom_dir / "rtstruct.dcm", ROIS, "CT_0007.dcm", "truncated")
