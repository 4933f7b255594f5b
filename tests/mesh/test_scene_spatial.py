"""Geometry checks stay linear in the number of holes: a spatial index (BoxIndex) picks the pairs
worth measuring, and needle paths are found for all needles at once."""

import numpy as np
import pytest

from epsim.mesh.scene import Box, HoleError, Needle, SphereInclusion, check_scene, needle_path
from epsim.mesh.scene import checks as scene_checks
from epsim.mesh.scene.spatial import BoxIndex

BOX = Box((0.0, 0.0, 0.0), (2.0, 0.04, 0.04))


def row(n, spacing=0.9e-3, radius=0.25e-3):
    x0 = -0.99
    return [Needle(f"r_{k}", (x0 + k * spacing, 0.0, -5e-3), (x0 + k * spacing, 0.0, 0.02),
                   radius, 7e-3) for k in range(n)]


def counted(monkeypatch):
    calls = []
    original = scene_checks._hole_gap

    def gap(x, y):
        calls.append(1)
        return original(x, y)

    monkeypatch.setattr(scene_checks, "_hole_gap", gap)
    return calls


def test_a_row_of_needles_measures_only_neighbours(monkeypatch):
    calls = counted(monkeypatch)
    check_scene(BOX, [], row(2000))
    assert len(calls) < 4 * 2000  # all pairs would be 2 million


def test_overlap_found_and_named_in_scene_order(monkeypatch):
    needles = row(2000)
    needles[1500] = Needle("x", (needles[3].tip[0] + 1e-4, 0.0, -5e-3),
                           (needles[3].tip[0], 0.0, 0.02), 0.25e-3, 7e-3)
    with pytest.raises(HoleError, match="'r_3' and 'x' overlap") as err:
        check_scene(BOX, [], needles)
    assert err.value.holes == ("r_3", "x")


def test_needle_paths_agree_with_needle_path():
    needles = row(50)
    paths = check_scene(BOX, [], needles)
    for needle in needles[::7]:
        one = needle_path(needle, BOX)
        np.testing.assert_allclose(paths[needle.name].exit, one.exit, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(paths[needle.name].start, one.start)
        np.testing.assert_array_equal(paths[needle.name].end, one.end)


def test_first_bad_needle_in_scene_order_is_reported():
    needles = row(20)
    needles[5] = Needle("out", (5.0, 0.0, 0.0), (5.0, 0.0, 1.0), 0.25e-3, 7e-3)
    needles[9] = Needle("out2", (6.0, 0.0, 0.0), (6.0, 0.0, 1.0), 0.25e-3, 7e-3)
    with pytest.raises(HoleError, match="'out'"):
        check_scene(BOX, [], needles)


def test_keep_out_still_found_among_many_needles():
    vessel = SphereInclusion("v", (-0.99 + 1000 * 0.9e-3, 0.0, 0.0), 0.5e-3, "blood",
                             keep_out=True)
    with pytest.raises(HoleError, match="pierces 'v'"):
        check_scene(BOX, [vessel], row(2000))


def test_box_index_finds_exactly_the_intersecting_boxes():
    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 1, (300, 3))
    bounds = np.stack([lo, lo + rng.uniform(0.001, 0.2, (300, 3)) ** 2], axis=1)
    bounds[7] = [[0, 0, 0], [1, 1, 1]]  # a large one among small ones
    index = BoxIndex(bounds)
    for j in range(len(bounds)):
        meets = np.all((bounds[:j, 0] <= bounds[j, 1]) & (bounds[:j, 1] >= bounds[j, 0]), axis=1)
        assert index.near(j) == np.nonzero(meets)[0].tolist()
        index.add(j)
