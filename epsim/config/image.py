"""Image scenes in the config: the label map read once per file, the crop box, the checks, and
the mesh layer's `ImageScene`.

    config = resolve_image(config, base_dir)   # absolute paths, the crop box filled in
    scene = image_scene(cfg)                    # epsim.imaging.mesher.ImageScene (SI)
    check_image(cfg, needles, index)            # labels present, target not empty, tips inside

A NIfTI label map (`file: labels.nii.gz`) keeps its label values; a DICOM CT series with an
RTSTRUCT (`file: {dicom: ct_dir, rtstruct: rs.dcm}`) takes each table label from the ROI named
like the label's region (`name`, default its material). Every problem is a `ConfigIssue` at
`scene.image...` naming the file.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from epsim.config.issues import ConfigIssue
from epsim.config.schema import Cleanup, Config, Crop, DicomImage
from epsim.errors import InputError
from epsim.imaging.cleanup import clean_labels
from epsim.imaging.dicom import read_dicom
from epsim.imaging.labelmap import LabelImage
from epsim.imaging.levelset import labelled_extent
from epsim.imaging.mesher import ImageLabel, ImageScene, crop_bounds
from epsim.imaging.nifti import read_nifti
from epsim.mesh.scene import Box

FILE = ("scene", "image", "file")
LOG = logging.getLogger("epsim")
MM = 1e-3


def region_name(entry) -> str:
    """A label's region name: its `name`, else its material."""
    return entry.name or entry.material


def _source(section) -> str:
    f = section.file
    return f"{f.dicom} + {f.rtstruct}" if isinstance(f, DicomImage) else str(f)


@functools.lru_cache(maxsize=4)
def _read(key: tuple) -> LabelImage:
    kind, *paths = key[0], *key[1]
    if kind == "nifti":
        return read_nifti(paths[0])
    names = dict(key[2])
    return read_dicom(paths[0], paths[1], names)


def label_image(cfg: Config) -> LabelImage:
    """The config's label map (read once per file and modification time).

    Raises:
        ConfigIssue: at scene.image.file, a missing or unreadable file (the reader's message).
    """
    section = cfg.scene.image
    f = section.file
    paths = (f.dicom, f.rtstruct) if isinstance(f, DicomImage) else (f,)
    for path in paths:
        if not Path(path).exists():
            raise ConfigIssue(FILE, f"file not found: {path}")
    stamps = tuple(Path(p).stat().st_mtime_ns for p in paths)
    names = tuple((region_name(e), v) for v, e in section.entries())
    kind = "dicom" if isinstance(f, DicomImage) else "nifti"
    key = (kind, tuple(str(Path(p).resolve()) for p in paths), names if kind == "dicom" else (),
           stamps)
    try:
        if section.cleanup is None:
            return _read(key)
        return _cleaned(key, section.cleanup)
    except InputError as exc:
        raise ConfigIssue(FILE, str(exc)) from None


@functools.lru_cache(maxsize=4)
def _cleaned(key: tuple, cleanup: Cleanup) -> LabelImage:
    """The label map after the config's clean-up; what it changed is logged once per file."""
    image, report = clean_labels(_read(key), largest_component=cleanup.largest_component,
                                 fill=cleanup.fill_holes, min_island_mm3=cleanup.min_island_mm3)
    for line in report.lines():
        LOG.warning("clean-up of %s: %s", image.source, line)
    return image


def resolve_image(config: Config, base_dir: Path) -> Config:
    """An image scene's paths made absolute (relative to `base_dir`), its label map read and its
    crop box filled in (default: the world box of the table's labelled voxels); any other
    config unchanged.

    Raises:
        ConfigIssue: a missing or unreadable file, a table label absent from the image.
    """
    section = config.scene.image
    if section is None:
        return config
    absolute = lambda p: (base_dir / Path(p).expanduser()).resolve()  # noqa: E731
    f = section.file
    f = (DicomImage(dicom=absolute(f.dicom), rtstruct=absolute(f.rtstruct))
         if isinstance(f, DicomImage) else absolute(f))
    section = section.model_copy(update={"file": f})
    config = config.model_copy(update={"scene": config.scene.model_copy(update={"image": section})})
    image = label_image(config)
    present = set(np.unique(image.labels).tolist())
    for value, entry in section.entries():
        if value not in present:
            raise ConfigIssue(("scene", "image", "labels", value),
                              f"label {value} ({region_name(entry)}) is absent from "
                              f"{image.source}; its labels are {sorted(present - {0})}")
    if section.crop is None:
        lo, hi = labelled_extent(image, [v for v, _ in section.entries()])
        crop = Crop(center=tuple((lo + hi) / 2), size=tuple(hi - lo))
        section = section.model_copy(update={"crop": crop})
        scene = config.scene.model_copy(update={"image": section})
        config = config.model_copy(update={"scene": scene})
    return config


def crop_box(cfg: Config) -> Box:
    """The domain of an image scene: its crop box (world m) filled with the background."""
    section = cfg.scene.image
    if section.crop is None:
        raise ConfigIssue(("scene", "image", "crop"), "the crop box is known once the config "
                          "is resolved (epsim.config.load_config)")
    return Box(center=section.crop.center, size=section.crop.size, material=section.background)


def image_scene(cfg: Config) -> ImageScene:
    """The mesh layer's image scene: targets at `scene.mesh.target_size`, spare labels kept out
    of the needles' active parts."""
    section, m = cfg.scene.image, cfg.scene.mesh
    labels = tuple(
        ImageLabel(value, region_name(e), e.material,
                   mesh_size=m.target_size if e.role == "target" else None,
                   keep_out=e.role == "spare")
        for value, e in section.entries()
    )
    return ImageScene(label_image(cfg), labels, crop_box(cfg))


def image_parts(cfg: Config) -> tuple[tuple[str, str, str], ...]:
    """(region name, material, role) of the background and each label, in region order."""
    section = cfg.scene.image
    names = {region_name(e) for _, e in section.entries()}
    background = "domain" if section.background in names else section.background
    return ((background, section.background, "tissue"),
            *((region_name(e), e.material, e.role) for _, e in section.entries()))


def check_image(cfg: Config, needles: Sequence, electrode_index: dict[str, int]) -> None:
    """Refuse an image scene whose target has no voxels in the crop box, a needle tip outside
    the labelled tissue (a voxel of no table label, or beyond the image), and a needle whose
    active part enters a spare label (sampled every half voxel).

    Args:
        electrode_index: conductor name -> index of its config electrode (for locations).
    Raises:
        ConfigIssue: at the label or the electrode.
    """
    scene = image_scene(cfg)
    image = scene.image
    lo, hi = crop_bounds(scene.crop)
    values = {label.value: label for label in scene.labels}
    for value, entry in cfg.scene.image.entries():
        if entry.role == "target":
            world = image.world_mm(np.argwhere(image.labels == value)) * MM
            if not np.any(np.all((world >= lo) & (world <= hi), axis=1)):
                raise ConfigIssue(("scene", "image", "labels", value),
                                  f"target label {value} ({region_name(entry)}) has no voxels "
                                  f"inside the crop box of {image.source}")
    step = 0.5 * float(image.spacing_mm.min()) * MM
    for needle in needles:
        loc = ("electrodes", electrode_index[needle.name])
        label = labels_at(image, [needle.tip])[0]
        if label not in values:
            tip = ", ".join(f"{x / MM:.4g}" for x in needle.tip)
            raise ConfigIssue(loc, f"needle {needle.name!r}: its tip ({tip}) mm lies outside the "
                              f"labelled tissue of {image.source} (label {label} there)")
        tip, entry = np.asarray(needle.tip), np.asarray(needle.entry)
        axis = (entry - tip) / np.linalg.norm(entry - tip)
        s = np.arange(0.0, needle.active_length + step, step)
        for value in set(labels_at(image, tip + s[:, None] * axis).tolist()):
            if value in values and values[value].keep_out:
                raise ConfigIssue(loc, f"needle {needle.name!r}: its active part enters the spare "
                                  f"label {value} ({values[value].name}) of {image.source}")


def labels_at(image: LabelImage, points) -> np.ndarray:
    """(n,) label of the voxel holding each world point (m); -1 outside the image."""
    index = np.rint(image.voxel_index(np.asarray(points, float) / MM)).astype(int)
    shape = np.asarray(image.labels.shape)
    inside = np.all((index >= 0) & (index < shape), axis=1)
    out = np.full(len(index), -1)
    out[inside] = image.labels[tuple(index[inside].T)]
    return out


__all__ = ["check_image", "crop_box", "image_parts", "image_scene", "label_image", "labels_at",
           "region_name", "resolve_image"]
