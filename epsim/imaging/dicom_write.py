"""A label map written as a DICOM CT series (one CT number per label) and its contours as an
RTSTRUCT, from scratch with pydicom: what the phantom generator ships, and what tests read back.

The geometry is the inverse of `epsim.imaging.dicom`: pixel (row j, column i) of slice k is voxel
(i, j, k); ImagePositionPatient is the LPS position of voxel (0, 0, k), ImageOrientationPatient
the LPS directions of the i and j axes. UIDs are derived from the grid and the content
(`pydicom.uid.generate_uid` with entropy sources), so the same phantom gives the same files.
Every file is written under a temporary name and moved into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.imaging.files import write_atomically
from epsim.imaging.labelmap import LabelImage

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
DATE, TIME = "20240101", "120000"  # fixed, so files are reproducible


@dataclass(frozen=True)
class WrittenSeries:
    """What an RTSTRUCT needs to reference a written CT series."""

    paths: list[Path]
    study: str
    series: str
    frame: str
    instances: list[str]


def uid(*parts) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["epsim"] + [str(p) for p in parts])


def ds_text(values, decimals: int) -> list[str]:
    """Decimal strings for DS attributes (at most 16 characters each)."""
    return [f"{float(v):.{decimals}f}".rstrip("0").rstrip(".") for v in values]


def base_dataset(sop_class: str, sop_instance: str, study: str, frame: str, modality: str):
    """A dataset with file meta, patient, study, series-level and SOP common attributes."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_instance
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = (
        "Phantom^Epsim",
        "EPSIM",
        "",
        "O",
    )
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID = study, DATE, TIME, "1"
    ds.ReferringPhysicianName, ds.AccessionNumber = "", ""
    ds.Modality, ds.Manufacturer = modality, "epsim"
    ds.FrameOfReferenceUID = frame
    ds.SpecificCharacterSet = "ISO_IR 100"
    return ds


def save(ds, path: Path) -> Path:
    """Write a dataset as a DICOM file (preamble and meta) atomically."""
    return write_atomically(
        path, lambda temporary: ds.save_as(str(temporary), enforce_file_format=True)
    )


def write_ct_series(folder, image: LabelImage, hounsfield: dict[int, int]) -> WrittenSeries:
    """One CT slice file per k in `folder` (CT_0000.dcm, ...), CT numbers from the labels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lps = RAS_TO_LPS @ image.affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    orientation = np.concatenate([lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]])
    key = (image.affine.round(9).tobytes().hex(), image.labels.shape)
    study, series, frame = uid(key, "study"), uid(key, "series"), uid(key, "frame")
    table = np.full(int(image.labels.max()) + 1, -1000, dtype=np.int16)
    for label, number in hounsfield.items():
        if label < len(table):
            table[label] = number
    paths, instances = [], []
    for k in range(image.labels.shape[2]):
        instance = uid(key, "slice", k)
        ds = base_dataset(CT_IMAGE, instance, study, frame, "CT")
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series, 1, k + 1
        ds.SeriesDescription, ds.ImageType = "epsim phantom", ["DERIVED", "SECONDARY", "AXIAL"]
        ds.PositionReferenceIndicator = ""
        position = lps[:3, :3] @ [0, 0, k] + lps[:3, 3]
        ds.ImagePositionPatient = ds_text(position, 6)
        ds.ImageOrientationPatient = ds_text(orientation, 10)
        ds.PixelSpacing = ds_text([spacing[1], spacing[0]], 6)  # between rows, between columns
        ds.SliceThickness = ds_text([spacing[2]], 6)[0]
        pixels = table[image.labels[:, :, k].T]  # (rows j, columns i)
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "HU"
        ds.KVP, ds.AcquisitionNumber = "120", 1
        ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
        paths.append(save(ds, folder / f"CT_{k:04d}.dcm"))
        instances.append(instance)
    return WrittenSeries(paths, study, series, frame, instances)


def write_rtstruct(
    path,
    series: WrittenSeries,
    image: LabelImage,
    contours: list[dict[int, list]],
    labels: dict[str, int],
) -> Path:
    """An RTSTRUCT with one ROI per `labels` entry (name -> label).

    Args:
        contours: per slice k, label -> polygons (n, 2) in voxel indices (i, j) on slice k.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    lps = RAS_TO_LPS @ image.affine
    ds = base_dataset(
        RT_STRUCTURE_SET, uid(series.series, "rtstruct"), series.study, series.frame, "RTSTRUCT"
    )
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = uid(series.series, "rt series"), 2, 1
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "epsim phantom", DATE, TIME
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_reference(series)])
    rois, roi_contours, observations = [], [], []
    for number, (name, label) in enumerate(labels.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = number, series.frame
        roi.ROIName, roi.ROIGenerationAlgorithm = name, "AUTOMATIC"
        rois.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ROIDisplayColor = [int(c) for c in np.array([60, 90, 140]) * number % 256]
        item.ContourSequence = Sequence(
            [
                contour_item(series, k, polygon, lps)
                for k, by_label in enumerate(contours)
                for polygon in by_label.get(label, [])
            ]
        )
        roi_contours.append(item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType = "GTV" if name == "tumour" else "ORGAN"
        observation.ROIInterpreter = ""
        observations.append(observation)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(roi_contours)
    ds.RTROIObservationsSequence = Sequence(observations)
    return save(ds, Path(path))


def frame_reference(series: WrittenSeries):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    images = []
    for instance in series.instances:
        image = Dataset()
        image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID = CT_IMAGE, instance
        images.append(image)
    referenced_series = Dataset()
    referenced_series.SeriesInstanceUID = series.series
    referenced_series.ContourImageSequence = Sequence(images)
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
    study.ReferencedSOPInstanceUID = series.study
    study.RTReferencedSeriesSequence = Sequence([referenced_series])
    frame = Dataset()
    frame.FrameOfReferenceUID = series.frame
    frame.RTReferencedStudySequence = Sequence([study])
    return frame


def contour_item(series: WrittenSeries, k: int, polygon: np.ndarray, lps: np.ndarray):
    """One CLOSED_PLANAR contour: polygon (n, 2) voxel (i, j) on slice k, written in LPS mm."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ijk = np.column_stack([polygon, np.full(len(polygon), k)])
    points = ijk @ lps[:3, :3].T + lps[:3, 3]
    image = Dataset()
    image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID = CT_IMAGE, series.instances[k]
    item = Dataset()
    item.ContourImageSequence = Sequence([image])
    item.ContourGeometricType, item.NumberOfContourPoints = "CLOSED_PLANAR", len(points)
    item.ContourData = ds_text(points.ravel(), 4)
    return item
