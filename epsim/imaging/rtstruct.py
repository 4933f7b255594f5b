"""RTSTRUCT regions of interest: their closed planar contours read, and rasterised onto a CT grid.

Rasterisation is done here rather than by a library: each contour is taken to voxel index
coordinates (i, j, k) of the CT grid; it must lie in one slice plane k (within `PLANE_TOLERANCE`
voxels). A voxel centre (i, j) of that slice is inside an ROI when a ray from it towards -i
crosses the ROI's contours on that slice an odd number of times (the even-odd rule: a contour
inside another is a hole, as DICOM specifies for CLOSED_PLANAR contours of one ROI). An edge
counts for a row j when it spans j half-open (y0 <= j < y1 or y1 <= j < y0), so a vertex on a
row is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.errors import InputError

# A contour point may lie this far (in voxels along the slice normal) from its slice's plane.
PLANE_TOLERANCE = 0.1


@dataclass(frozen=True)
class Roi:
    """One ROI of a structure set: its name, number and contours in LPS mm ((n, 3) each)."""

    number: int
    name: str
    contours: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class StructureSet:
    """An RTSTRUCT file: its frame of reference, referenced series and ROIs by name."""

    path: str
    frame_of_reference: str | None
    series_uids: tuple[str, ...]
    rois: dict[str, Roi]


def read_rtstruct(path) -> StructureSet:
    """Read the ROIs and their CLOSED_PLANAR contours (LPS mm) of an RTSTRUCT file.

    Points (POINT) and open contours are skipped (they enclose nothing).

    Raises:
        InputError: missing, unreadable or non-RTSTRUCT file; a contour whose point count is
            not a multiple of 3; two ROIs with the same name.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such RTSTRUCT file")
    try:
        data = pydicom.dcmread(str(path))
        if data.get("Modality") != "RTSTRUCT":
            raise InputError(f"{path}: not an RTSTRUCT (modality {data.get('Modality')!r})")
        names = {int(r.ROINumber): str(r.ROIName).strip() for r in data.StructureSetROISequence}
        contours = {number: [] for number in names}
        for roi in data.get("ROIContourSequence", []):
            number = int(roi.ReferencedROINumber)
            for contour in roi.get("ContourSequence", []):
                if contour.get("ContourGeometricType", "CLOSED_PLANAR") != "CLOSED_PLANAR":
                    continue
                points = np.asarray(contour.ContourData, dtype=float)
                if points.size % 3 or points.size < 9:
                    raise InputError(
                        f"{path}: ROI {names.get(number, number)!r} has a contour of "
                        f"{points.size} numbers (need 3 per point, at least 3 points)"
                    )
                contours.setdefault(number, []).append(points.reshape(-1, 3))
        frames = [
            str(f.FrameOfReferenceUID) for f in data.get("ReferencedFrameOfReferenceSequence", [])
        ]
        series = [
            str(s.SeriesInstanceUID)
            for f in data.get("ReferencedFrameOfReferenceSequence", [])
            for st in f.get("RTReferencedStudySequence", [])
            for s in st.get("RTReferencedSeriesSequence", [])
        ]
    except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError, KeyError) as exc:
        raise InputError(f"{path}: cannot read the RTSTRUCT ({type(exc).__name__}: {exc})")
    if len(set(names.values())) != len(names):
        raise InputError(f"{path}: ROI names repeat: {sorted(names.values())}")
    rois = {n: Roi(k, n, tuple(contours.get(k, ()))) for k, n in names.items()}
    return StructureSet(str(path), frames[0] if frames else None, tuple(series), rois)


def rasterise_roi(roi: Roi, lps_to_index: np.ndarray, shape, where: str) -> np.ndarray:
    """Boolean mask (shape) of the voxel centres inside `roi` on a grid.

    Args:
        roi: the ROI, contours in LPS mm.
        lps_to_index: (4, 4) LPS mm -> voxel index (i, j, k) of the grid.
        shape: (ni, nj, nk) of the grid.
        where: file named in messages.
    Raises:
        InputError: a contour off the slice planes or outside the slice range.
    """
    ni, nj, nk = shape
    parity = np.zeros((nk, nj, ni + 1), dtype=np.int64)  # crossings to the right, per row
    for contour in roi.contours:
        ijk = contour @ lps_to_index[:3, :3].T + lps_to_index[:3, 3]
        k = float(np.round(ijk[:, 2].mean()))
        if np.max(np.abs(ijk[:, 2] - k)) > PLANE_TOLERANCE:
            raise InputError(
                f"{where}: a contour of ROI {roi.name!r} does not lie in a slice plane of the CT "
                f"(off by up to {np.max(np.abs(ijk[:, 2] - k)):.3g} slices)"
            )
        if not 0 <= k < nk:
            raise InputError(f"{where}: a contour of ROI {roi.name!r} lies outside the CT slices")
        add_crossings(parity[int(k)], ijk[:, :2])
    inside = np.cumsum(parity, axis=2)[:, :, :ni] % 2 == 1  # (nk, nj, ni)
    return inside.transpose(2, 1, 0)


def add_crossings(counts: np.ndarray, polygon: np.ndarray) -> None:
    """Count, into `counts` (nj, ni + 1), the crossings of a closed polygon's edges with the
    rows j = 0 .. nj-1: a crossing at x adds 1 at column 0 and -1 at column ceil(x), so that a
    cumulative sum along a row counts the crossings to the right of each voxel centre i < x.

    Args:
        polygon: (n, 2) vertices (i, j) in voxel index coordinates, closed implicitly.
    """
    nj, width = counts.shape
    start, end = polygon, np.roll(polygon, -1, axis=0)
    lower, upper = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
    first = np.clip(np.ceil(lower), 0, nj).astype(np.int64)  # rows j with lower <= j < upper
    last = np.clip(np.ceil(upper), 0, nj).astype(np.int64)
    rows_per_edge = np.maximum(last - first, 0)
    edge = np.repeat(np.arange(len(start)), rows_per_edge)
    offset = np.arange(edge.size) - np.repeat(
        np.cumsum(rows_per_edge) - rows_per_edge, rows_per_edge
    )
    row = first[edge] + offset
    (x0, y0), (x1, y1) = start[edge].T, end[edge].T
    x = x0 + (row - y0) * (x1 - x0) / (y1 - y0)  # y1 != y0 for every counted edge
    column = np.clip(np.ceil(x), 0, width - 1).astype(np.int64)
    np.add.at(counts, (row, np.zeros_like(row)), 1)
    np.add.at(counts, (row, column), -1)
