"""NIfTI label maps: the affine from the sform (else the qform), labels checked, bad files
refused in one line naming the file and the problem."""

import nibabel as nib
import numpy as np
import pytest

from epsim.errors import InputError
from epsim.imaging.labelmap import LabelImage
from epsim.imaging.nifti import read_nifti, write_nifti

# An oblique affine with anisotropic spacing (a rotation about (1, 1, 0) times diag(0.7, 1, 1.6)).
ANGLE = np.deg2rad(25.0)
C, S = np.cos(ANGLE), np.sin(ANGLE)
TURN = np.array(
    [
        [(1 + C) / 2, (1 - C) / 2, S / np.sqrt(2)],
        [(1 - C) / 2, (1 + C) / 2, -S / np.sqrt(2)],
        [-S / np.sqrt(2), S / np.sqrt(2), C],
    ]
)
AFFINE = np.eye(4)
AFFINE[:3, :3] = TURN * [0.7, 1.0, 1.6]
AFFINE[:3, 3] = [-40.5, 12.25, 80.0]


def save(path, data, *, sform=AFFINE, sform_code=1, qform=None, qform_code=0):
    image = nib.Nifti1Image(data, None)
    image.set_sform(sform, code=sform_code)
    image.set_qform(AFFINE if qform is None else qform, code=qform_code)
    image.to_filename(str(path))
    return path


def labels(seed=0, dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, 5, size=(7, 6, 5)).astype(dtype)


def test_labels_and_sform_read_back_exactly(tmp_path):
    data = labels()
    image = read_nifti(save(tmp_path / "a.nii.gz", data))
    assert np.array_equal(image.labels, data) and image.labels.dtype == np.uint8
    assert np.allclose(image.affine, AFFINE, atol=1e-5)  # stored as float32
    assert image.xform_codes == (1, 0) and image.qform is None
    assert np.allclose(image.spacing_mm, [0.7, 1.0, 1.6], atol=1e-6)
    point = image.world_mm([2, 3, 4])
    assert np.allclose(point, AFFINE[:3, :3] @ [2, 3, 4] + AFFINE[:3, 3], atol=1e-4)
    assert np.allclose(image.voxel_index(point), [2, 3, 4])


def test_qform_is_used_without_sform_and_kept_for_writing(tmp_path):
    qform = AFFINE.copy()
    qform[:3, 3] += [1.0, -2.0, 3.0]
    path = save(tmp_path / "q.nii", labels(), sform_code=0, qform=qform, qform_code=2)
    image = read_nifti(path)
    assert np.allclose(image.affine, qform, atol=1e-5)
    assert image.xform_codes == (0, 2)
    out = nib.load(str(write_nifti(tmp_path / "out.nii", labels(1).astype(np.float32), image)))
    # a qform is stored as a float32 quaternion: re-encoded, it agrees to rounding (~1e-17)
    assert np.allclose(out.header.get_qform(), nib.load(str(path)).header.get_qform(), atol=1e-12)
    assert (int(out.header["sform_code"]), int(out.header["qform_code"])) == (0, 2)


def test_whole_number_floats_and_a_trailing_axis_are_accepted(tmp_path):
    data = labels(2).astype(np.float32)[..., None]
    image = read_nifti(save(tmp_path / "f.nii.gz", data))
    assert image.labels.shape == (7, 6, 5) and np.array_equal(image.labels, data[..., 0])
    big = labels(3, np.int32) * 1000
    assert read_nifti(save(tmp_path / "big.nii", big)).labels.dtype == np.uint16


def one_line_input_error(path, *words):
    with pytest.raises(InputError) as caught:
        read_nifti(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message
    for word in words:
        assert word in message, message
    assert caught.value.exit_code == 2


def test_bad_label_maps_are_refused_naming_file_and_problem(tmp_path):
    fractional = labels().astype(np.float32)
    fractional[1, 2, 3] = 1.5
    one_line_input_error(
        save(tmp_path / "frac.nii.gz", fractional), "not a whole number", "(1, 2, 3)"
    )
    negative = labels(4, np.int16)
    negative[0, 0, 1] = -3
    one_line_input_error(save(tmp_path / "neg.nii", negative), "negative", "-3")
    not_finite = labels().astype(np.float64)
    not_finite[2, 2, 2] = np.nan
    one_line_input_error(save(tmp_path / "nan.nii", not_finite), "not finite")
    one_line_input_error(save(tmp_path / "flat.nii", labels()[:, :, 0]), "3-D")
    one_line_input_error(
        save(tmp_path / "nowhere.nii", labels(), sform_code=0), "no voxel-to-world"
    )
    one_line_input_error(tmp_path / "missing.nii.gz", "no such")


def test_truncated_and_corrupt_files_are_refused(tmp_path):
    whole = save(tmp_path / "whole.nii.gz", labels()).read_bytes()
    for name, content in [
        ("cut.nii.gz", whole[: len(whole) // 2]),
        ("junk.nii.gz", b"\x1f\x8b" + bytes(40)),
        ("short.nii", bytes(100)),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        one_line_input_error(path, "cannot read")


def test_write_keeps_the_affine_bit_for_bit_and_leaves_no_temporary(tmp_path):
    grid = read_nifti(save(tmp_path / "in.nii.gz", labels(), qform_code=1))
    values = np.random.default_rng(5).normal(size=grid.labels.shape).astype(np.float32)
    path = write_nifti(tmp_path / "values.nii.gz", values, grid, description="max field (V/m)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nii.gz", "values.nii.gz"]
    source, out = nib.load(str(tmp_path / "in.nii.gz")), nib.load(str(path))
    assert np.array_equal(out.get_sform(), source.get_sform())
    assert np.allclose(out.get_qform(), source.get_qform(), atol=1e-12)  # a quaternion again
    assert np.array_equal(out.affine, source.affine)
    assert out.get_sform(coded=True)[1] == 1 and out.get_qform(coded=True)[1] == 1
    assert np.array_equal(np.asanyarray(out.dataobj), values)
    with pytest.raises(InputError, match="ends with .nii"):
        write_nifti(tmp_path / "values.img", values, grid)
    with pytest.raises(ValueError):
        write_nifti(tmp_path / "wrong.nii", values[:-1], grid)


def test_an_array_grid_writes_its_affine():
    grid = LabelImage(labels(), AFFINE)
    assert grid.voxel_volume_mm3 == pytest.approx(0.7 * 1.6)
