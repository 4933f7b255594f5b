"""Clean-up of label maps: planted islands removed, planted holes filled, largest components
kept, each with a report whose numbers are the planted voxel counts and volumes."""

import numpy as np
import pytest

from epsim.imaging.cleanup import clean_labels, drop_islands, fill_holes, keep_largest_component
from epsim.imaging.labelmap import LabelImage

SPACING = (0.5, 1.0, 2.0)  # mm: one voxel is 1 mm^3
LIVER, TUMOUR = 1, 2


@pytest.fixture(scope="module")
def planted():
    """Liver ball (label 1) holding a tumour ball (2), a 3x3x3 hole of 0 inside the liver, and
    a 2x2x2 tumour island out in the background (8 voxels, 8 mm^3)."""
    shape = (60, 30, 16)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1) * SPACING
    centre = np.array([15.0, 15.0, 15.0])
    distance = np.linalg.norm(ijk - centre, axis=-1)
    labels = np.zeros(shape, np.uint8)
    labels[distance < 12] = LIVER
    labels[np.linalg.norm(ijk - (centre + [4, 0, 0]), axis=-1) < 4] = TUMOUR
    labels[20:23, 12:15, 6:9] = 0  # the hole: voxels at (10-11, 12-14, 12-16) mm, in the liver
    labels[55:57, 1:3, 1:3] = TUMOUR  # the island, far from everything
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = [-7.0, 3.0, 11.0]
    return LabelImage(labels, affine)


def test_a_planted_island_is_dropped_and_reported(planted):
    cleaned, report = drop_islands(planted, min_volume_mm3=20.0)
    assert np.count_nonzero(cleaned.labels[55:57, 1:3, 1:3]) == 0  # nearest is background
    assert report.changed_voxels(TUMOUR) == (8, 0) and report.changed_voxels(0) == (0, 8)
    assert np.count_nonzero(cleaned.labels != planted.labels) == 8
    ((step, changes),) = report.steps
    assert step == "islands below 20 mm^3"
    tumour = next(c for c in changes if c.label == TUMOUR)
    assert tumour.removed_mm3 == pytest.approx(8.0)
    assert (
        "islands below 20 mm^3: label 2: -8 voxels (8 mm^3), +0 voxels (0 mm^3)" in report.lines()
    )
    untouched, nothing = drop_islands(planted, min_volume_mm3=5.0)
    assert np.array_equal(untouched.labels, planted.labels)
    assert nothing.lines() == ["clean-up changed nothing"]


def test_a_planted_hole_is_filled_and_the_tumour_is_not_swallowed(planted):
    cleaned, report = fill_holes(planted)
    assert np.all(cleaned.labels[20:23, 12:15, 6:9] == LIVER)
    assert report.changed_voxels(LIVER) == (0, 27) and report.changed_voxels(0) == (27, 0)
    assert np.array_equal(cleaned.labels == TUMOUR, planted.labels == TUMOUR)
    assert any(
        "label 1: -0 voxels (0 mm^3), +27 voxels (27 mm^3)" in line for line in report.lines()
    )


def test_the_largest_component_is_kept(planted):
    cleaned, report = keep_largest_component(planted, labels=[TUMOUR])
    assert report.changed_voxels(TUMOUR) == (8, 0)
    assert (
        np.count_nonzero(cleaned.labels == TUMOUR) == np.count_nonzero(planted.labels == TUMOUR) - 8
    )
    same, nothing = keep_largest_component(planted, labels=[LIVER])
    assert np.array_equal(same.labels, planted.labels) and nothing.steps[0][1] == ()


def test_a_removed_blob_takes_the_surrounding_label(planted):
    """A stray tumour voxel block inside the liver becomes liver, not background."""
    labels = planted.labels.copy()
    labels[14:16, 13:15, 7:9] = TUMOUR  # inside the liver, away from the tumour ball
    image = LabelImage(labels, planted.affine)
    cleaned, report = keep_largest_component(image, labels=[TUMOUR])
    assert np.all(cleaned.labels[14:16, 13:15, 7:9] == LIVER)
    assert report.changed_voxels(LIVER) == (0, 8)


def test_all_steps_together_report_each_step(planted):
    cleaned, report = clean_labels(planted, largest_component=True, fill=True, min_island_mm3=1.0)
    assert [step for step, _ in report.steps] == [
        "islands below 1 mm^3",
        "largest component",
        "fill holes",
    ]
    assert report.changed_voxels(TUMOUR) == (8, 0) and report.changed_voxels(LIVER) == (0, 27)
    assert np.count_nonzero(cleaned.labels != planted.labels) == 35
