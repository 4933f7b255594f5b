"""DICOM CT series geometry and RTSTRUCT regions as a `LabelImage` (`read_dicom`).

Geometry. In a CT slice, ImagePositionPatient (IPP) is the LPS mm position of the centre of the
first pixel; ImageOrientationPatient holds the LPS direction of increasing column index (row
direction, first three) and of increasing row index (column direction, last three); PixelSpacing
is (spacing between rows, spacing between columns). The label map's voxel index is (i, j, k) =
(column, row, slice), slices sorted by their IPP along the normal row x column direction, so

    LPS(i, j, k) = IPP_0 + i * dc * row_dir + j * dr * col_dir + k * step,

where step is the mean IPP difference between neighbouring slices (a gantry tilt, a step not
along the normal, is kept as it is). Every step must equal the mean within `SPACING_TOLERANCE` of
its length, and every slice must share the first one's orientation, pixel spacing and size.
RAS+ = diag(-1, -1, 1) LPS, applied to the affine's rows once (`LPS_TO_RAS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.errors import InputError
from epsim.imaging.labelmap import LabelImage
from epsim.imaging.rtstruct import rasterise_roi, read_rtstruct

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Slice steps may differ from their mean by this fraction of the mean step length.
SPACING_TOLERANCE = 0.01
# Direction cosines of two slices may differ by this much.
ORIENTATION_TOLERANCE = 1e-4
# SOP classes of CT, enhanced CT, MR, enhanced MR and PET images: such a file without a position
# was cut short.
IMAGE_CLASSES = tuple(f"1.2.840.10008.5.1.4.1.1.{c}" for c in ("2", "2.1", "4", "4.1", "128"))


@dataclass(frozen=True)
class CtSlice:
    """The header fields of one CT slice that fix its place (LPS mm)."""

    path: str
    position: np.ndarray  # (3,) IPP
    orientation: np.ndarray  # (6,) IOP
    spacing: tuple[float, float]  # (between rows, between columns)
    size: tuple[int, int]  # (rows, columns)
    series: str
    frame: str | None
    instance: int | None


@dataclass(frozen=True)
class CtGrid:
    """A sorted CT series: its shape (columns, rows, slices), LPS affine and identity."""

    shape: tuple[int, int, int]
    lps_affine: np.ndarray
    series: str
    frame: str | None
    paths: tuple[str, ...]


def read_slices(ct_dir) -> list[CtSlice]:
    """Headers of every image file under `ct_dir` (files that are not DICOM, and DICOM files
    that are not images, are skipped; a truncated image is refused)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    ct_dir = Path(ct_dir)
    if not ct_dir.is_dir():
        raise InputError(f"{ct_dir}: no such DICOM folder")
    slices = []
    for path in sorted(p for p in ct_dir.iterdir() if p.is_file()):
        try:
            data = pydicom.dcmread(str(path))
        except InvalidDicomError:
            continue  # not DICOM: a folder may hold notes or an index
        except (OSError, EOFError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the DICOM file ({exc})")
        if not is_image(data, path):
            continue
        try:
            slices.append(
                CtSlice(
                    path=str(path),
                    position=np.asarray(data.ImagePositionPatient, dtype=float),
                    orientation=np.asarray(data.ImageOrientationPatient, dtype=float),
                    spacing=tuple(float(v) for v in data.PixelSpacing),
                    size=(int(data.Rows), int(data.Columns)),
                    series=str(data.SeriesInstanceUID),
                    frame=str(data.FrameOfReferenceUID) if "FrameOfReferenceUID" in data else None,
                    instance=int(data.InstanceNumber) if "InstanceNumber" in data else None,
                )
            )
        except (AttributeError, ValueError, TypeError) as exc:
            raise InputError(f"{path}: incomplete image geometry ({exc})")
    return slices


def is_image(data, path: Path) -> bool:
    """Whether a DICOM dataset is an image slice to place; a slice cut short is refused
    (pydicom reads a truncated file as far as it goes)."""
    meta_class = str(data.file_meta.get("MediaStorageSOPClassUID", ""))
    if "ImagePositionPatient" not in data:
        if str(data.get("SOPClassUID", meta_class)) in IMAGE_CLASSES:
            raise InputError(f"{path}: an image without a position (truncated or incomplete)")
        return False  # an RTSTRUCT, a report, a DICOMDIR
    syntax = data.file_meta.get("TransferSyntaxUID")
    if syntax is not None and not syntax.is_compressed:
        expected = int(data.get("Rows", 0)) * int(data.get("Columns", 0))
        expected *= int(data.get("BitsAllocated", 16)) // 8 * int(data.get("SamplesPerPixel", 1))
        if len(data.get("PixelData", b"")) < expected:
            raise InputError(f"{path}: pixel data shorter than the image (truncated file)")
    return True


def ct_grid(slices: list[CtSlice], where: str) -> CtGrid:
    """Sort one series' slices along their normal and check that they form one regular grid.

    Raises:
        InputError: fewer than 2 slices; a slice whose orientation, pixel spacing or size
            differs from the first; repeated positions; uneven steps (naming series and slice).
    """
    if len(slices) < 2:
        raise InputError(f"{where}: a CT series needs at least 2 slices, found {len(slices)}")
    first = slices[0]
    for s in slices[1:]:
        name = slice_name(s)
        if np.max(np.abs(s.orientation - first.orientation)) > ORIENTATION_TOLERANCE:
            raise InputError(
                f"{where}: series {s.series}: slice {name} has orientation "
                f"{np.round(s.orientation, 6).tolist()}, the series "
                f"{np.round(first.orientation, 6).tolist()} (inconsistent orientation)"
            )
        if not np.allclose(s.spacing, first.spacing, rtol=1e-4) or s.size != first.size:
            raise InputError(
                f"{where}: series {s.series}: slice {name} has pixel spacing {s.spacing} and size "
                f"{s.size}, the series {first.spacing} and {first.size} (inconsistent spacing)"
            )
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row_dir, col_dir)
    slices = sorted(slices, key=lambda s: float(s.position @ normal))
    positions = np.array([s.position for s in slices])
    steps = np.diff(positions, axis=0)
    mean = (positions[-1] - positions[0]) / (len(slices) - 1)
    if abs(mean @ normal) < 1e-6:
        raise InputError(f"{where}: series {first.series}: all slices at one position")
    deviation = np.linalg.norm(steps - mean, axis=1)
    worst = int(np.argmax(deviation))
    if deviation[worst] > SPACING_TOLERANCE * np.linalg.norm(mean):
        raise InputError(
            f"{where}: series {first.series}: slice {slice_name(slices[worst + 1])} is "
            f"{np.linalg.norm(steps[worst]):.4g} mm from its neighbour, the mean step is "
            f"{np.linalg.norm(mean):.4g} mm (inconsistent slice spacing)"
        )
    dr, dc = first.spacing
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = dc * row_dir, dr * col_dir, mean
    affine[:3, 3] = positions[0]
    rows, columns = first.size
    return CtGrid(
        (columns, rows, len(slices)),
        affine,
        first.series,
        first.frame,
        tuple(s.path for s in slices),
    )


def slice_name(s: CtSlice) -> str:
    return f"{Path(s.path).name}" + (f" (instance {s.instance})" if s.instance is not None else "")


def read_dicom(ct_dir, rtstruct_file, names_to_labels: dict[str, int]) -> LabelImage:
    """A label map on a CT series' grid from the ROIs of an RTSTRUCT.

    Args:
        ct_dir: folder of the CT series (other files and series may be there: the series the
            RTSTRUCT references is used, else the only one).
        rtstruct_file: the RTSTRUCT file.
        names_to_labels: ROI name -> label (>= 1). ROIs are painted in this mapping's order,
            a later one over an earlier one where they overlap (a tumour after its organ).
    Returns:
        LabelImage with the RAS+ affine; voxels in no named ROI are 0.
    Raises:
        InputError: unreadable files, an inconsistent series, a named ROI absent from the
            RTSTRUCT or without contours, a frame of reference that differs from the CT's.
    """
    structures = read_rtstruct(rtstruct_file)
    where = structures.path
    for name, label in names_to_labels.items():
        if name not in structures.rois:
            raise InputError(
                f"{where}: no ROI named {name!r}; the ROIs are {sorted(structures.rois)}"
            )
        if not structures.rois[name].contours:
            raise InputError(f"{where}: ROI {name!r} has no closed planar contours")
        if int(label) != label or not 1 <= label <= 65535:
            raise InputError(f"{where}: ROI {name!r}: label {label!r} is not an integer 1-65535")
    grid = ct_grid(pick_series(read_slices(ct_dir), structures.series_uids, ct_dir), str(ct_dir))
    if structures.frame_of_reference and grid.frame and structures.frame_of_reference != grid.frame:
        raise InputError(
            f"{where}: frame of reference {structures.frame_of_reference} is not the CT's "
            f"({grid.frame} in {ct_dir})"
        )
    lps_to_index = np.linalg.inv(grid.lps_affine)
    dtype = np.uint8 if max(names_to_labels.values(), default=0) <= 255 else np.uint16
    labels = np.zeros(grid.shape, dtype=dtype)
    for name, label in names_to_labels.items():
        labels[rasterise_roi(structures.rois[name], lps_to_index, grid.shape, where)] = label
    return LabelImage(labels, LPS_TO_RAS @ grid.lps_affine, source=f"{ct_dir} + {where}")


def pick_series(slices: list[CtSlice], referenced: tuple[str, ...], ct_dir) -> list[CtSlice]:
    """The slices of the series the RTSTRUCT references, else of the only series present."""
    series = sorted({s.series for s in slices})
    chosen = [uid for uid in series if uid in referenced]
    if len(chosen) == 1:
        return [s for s in slices if s.series == chosen[0]]
    if len(series) == 1:
        return slices
    if not series:
        raise InputError(f"{ct_dir}: no DICOM images with a position in this folder")
    raise InputError(f"{ct_dir}: {len(series)} series and none referenced by the RTSTRUCT")
