"""Image scenes read through the config: the same phantom as NIfTI and as DICOM + RTSTRUCT gives
the same label map, and the config's `cleanup:` changes the labels and says what it changed."""

import logging

import numpy as np
import pytest
import yaml
from scipy.ndimage import binary_erosion

from epsim.config import load_config
from epsim.config.image import label_image
from epsim.imaging.nifti import write_nifti
from epsim.imaging.phantom import LABELS, write_phantom

SHIPPED = "configs/phantom_liver_image.yaml"


def image_config(folder, file, name="scene", **image):
    """The shipped phantom config with its image section's file (and more keys) replaced."""
    data = yaml.safe_load(open(SHIPPED).read())
    data["scene"]["image"].update(file=file, **image)
    data["scene"]["image"]["labels"][LABELS["vessel"]] = {
        "name": "vessel", "material": "blood", "role": "spare"}  # as the RTSTRUCT names it
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    write_phantom(folder, voxel=1.0, fmt="both")
    return folder


def test_dicom_and_nifti_configs_give_the_same_labels(phantom):
    nifti = label_image(load_config(image_config(phantom, "labels.nii.gz", "nifti")))
    dicom = label_image(load_config(image_config(
        phantom, {"dicom": "ct", "rtstruct": "rtstruct.dcm"}, "dicom")))
    assert dicom.labels.shape == nifti.labels.shape
    assert np.allclose(dicom.affine, nifti.affine, atol=1e-5)
    for name in ("liver", "tumour", "vessel"):
        a, b = nifti.labels == LABELS[name], dicom.labels == LABELS[name]
        dice = 2 * np.sum(a & b) / (a.sum() + b.sum())
        assert dice > 0.98, (name, dice)


def test_cleanup_in_the_config_changes_the_labels_and_reports(phantom, tmp_path, caplog):
    image = label_image(load_config(image_config(phantom, "labels.nii.gz", "plain")))
    labels = image.labels.copy()
    deep = binary_erosion(labels == LABELS["liver"], iterations=2)  # liver all around
    centre = np.argwhere(deep)[0]
    island = tuple(np.argwhere(labels == 0)[0])  # an air voxel above the skin
    labels[island] = LABELS["tumour"]  # a one-voxel tumour island outside the body
    hole = tuple(slice(c - 1, c + 2) for c in centre)
    assert np.all(labels[hole] == LABELS["liver"])
    labels[hole] = 0  # a 27-voxel hole inside the liver
    write_nifti(tmp_path / "edited.nii.gz", labels, image)

    raw = label_image(load_config(image_config(tmp_path, "edited.nii.gz", "raw")))
    assert raw.labels[island] == LABELS["tumour"] and np.all(raw.labels[hole] == 0)
    with caplog.at_level(logging.WARNING, logger="epsim"):
        cleaned = label_image(load_config(image_config(
            tmp_path, "edited.nii.gz", "cleaned",
            cleanup={"min_island_mm3": 2, "fill_holes": True})))
    assert cleaned.labels[island] != LABELS["tumour"]
    assert np.all(cleaned.labels[hole] == LABELS["liver"])
    unchanged = np.ones(labels.shape, bool)
    unchanged[island] = False
    unchanged[hole] = False
    assert np.array_equal(cleaned.labels[unchanged], labels[unchanged])
    text = caplog.text
    assert "clean-up of" in text and f"label {LABELS['tumour']}: -1 voxels" in text, text
    assert f"label {LABELS['liver']}: -0 voxels (0 mm^3), +27 voxels" in text, text


def test_a_bad_cleanup_key_is_refused(phantom, tmp_path):
    from epsim.errors import InputError

    with pytest.raises(InputError, match="min_island_mm3"):
        load_config(image_config(phantom, "labels.nii.gz", "bad", cleanup={"min_island_mm3": -1}))
