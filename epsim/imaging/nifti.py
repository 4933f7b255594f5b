"""NIfTI label maps in (`read_nifti`) and images on a label map's grid out (`write_nifti`).

The affine of a label map is its sform when the sform code is non-zero, else its qform when the
qform code is non-zero (nibabel's `Nifti1Image.affine`, which is RAS+ mm with voxel centres at
integer indices: the convention of `epsim.imaging.labelmap`). A file with neither has no place in
the world and is refused. The input's qform and both codes are kept on the `LabelImage`, so
images written on its grid carry them back unchanged. nibabel is imported lazily.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from epsim.errors import InputError
from epsim.imaging.files import write_atomically
from epsim.imaging.labelmap import LabelImage

# Largest label kept (labels are stored as the smallest unsigned type that holds them).
MAX_LABEL = 2**31 - 1


def read_nifti(path) -> LabelImage:
    """Read an integer label map from a .nii or .nii.gz file.

    Float files whose values are all exact non-negative integers are accepted. A (ni, nj, nk, 1)
    image is taken as 3-D.

    Raises:
        InputError: missing, truncated or corrupt file; not 3-D; no sform and no qform; labels
            that are not finite, not whole numbers or negative (one line naming the file).
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such label map file")
    try:
        image = nib.load(str(path))
        if not isinstance(image, nib.Nifti1Image):  # also Nifti2Image, a subclass
            raise InputError(f"{path}: not a NIfTI image ({type(image).__name__})")
        data = np.asanyarray(image.dataobj)
    except (ImageFileError, OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read the NIfTI file (truncated or corrupt: {exc})")
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: a label map must be 3-D, got shape {data.shape}")
    header = image.header
    sform_code, qform_code = int(header["sform_code"]), int(header["qform_code"])
    if sform_code == 0 and qform_code == 0:
        raise InputError(f"{path}: sform and qform codes are both 0: no voxel-to-world affine")
    return LabelImage(
        labels=checked_labels(data, str(path)),
        affine=np.asarray(image.affine, dtype=float),
        source=str(path),
        qform=np.asarray(header.get_qform(), dtype=float) if qform_code else None,
        xform_codes=(sform_code, qform_code),
    )


def checked_labels(data: np.ndarray, where: str) -> np.ndarray:
    """Labels as the smallest unsigned integer type, after checking they are whole numbers >= 0.

    Raises:
        InputError: non-finite, fractional, negative or too large values, naming `where` and the
            first offending voxel.
    """
    data = np.asarray(data)
    if data.dtype.kind not in "iufb":
        raise InputError(f"{where}: labels must be numbers, got data type {data.dtype}")
    problems = (
        ("not finite", lambda a: ~np.isfinite(a) if a.dtype.kind == "f" else None),
        ("not a whole number", lambda a: a != np.round(a) if a.dtype.kind == "f" else None),
        ("negative", lambda a: a < 0),
        (f"above {MAX_LABEL}", lambda a: a > MAX_LABEL),
    )
    for what, test in problems:
        bad = test(data)
        if bad is not None and np.any(bad):
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                f"{where}: label {data[first].item()} at voxel {first} is {what} "
                f"({int(np.count_nonzero(bad))} voxels); a label map holds integers >= 0"
            )
    top = int(data.max()) if data.size else 0
    kind = np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.uint32
    return data.astype(kind)


def nifti_image(values: np.ndarray, grid: LabelImage, *, description: str = ""):
    """A nibabel Nifti1Image of `values` on `grid`: sform = `grid.affine` exactly, qform =
    `grid.qform` (or the affine), both codes from `grid.xform_codes`.

    Args:
        values: array of shape `grid.labels.shape` (any numeric dtype; stored as given).
        description: NIfTI `descrip` text (at most 79 characters).
    """
    import nibabel as nib

    values = np.asarray(values)
    if values.shape != grid.labels.shape:
        raise ValueError(f"values of shape {values.shape} on a grid of {grid.labels.shape}")
    image = nib.Nifti1Image(values, None)
    sform_code, qform_code = grid.xform_codes
    image.set_sform(grid.affine, code=sform_code)
    image.set_qform(grid.affine if grid.qform is None else grid.qform, code=qform_code)
    image.header["descrip"] = description[:79].encode("ascii", "replace")
    return image


def write_nifti(path, values: np.ndarray, grid: LabelImage, *, description: str = "") -> Path:
    """Write `values` on `grid` to `path` (.nii or .nii.gz) atomically; return the path.

    The file is written under a temporary name and moved into place (`write_atomically`).
    Whether `path` may be overwritten is the caller's decision (the runner checks ownership;
    this layer cannot import epsim.io).
    """
    path = Path(path)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
    if not path.name.endswith(suffix):
        raise InputError(f"{path}: a NIfTI file name ends with .nii or .nii.gz")
    image = nifti_image(values, grid, description=description)
    return write_atomically(path, lambda temporary: image.to_filename(str(temporary)), suffix)
