"""`epsim render` options: the plane through the firing electrodes (the default), x|y|z planes
and offsets, pairs by number or name, every quantity, cropping; the survival picture's plain
statement; a 3-D overview with nothing on stderr."""

import dataclasses

import numpy as np
import pytest

from epsim.cli import main
from epsim.errors import InputError
from epsim.io import write_results
from epsim.viz import render_overview
from epsim.viz.plane import axis_plane, crop_window, cut, depth_direction, find_pair, pair_plane
from epsim.viz.slice import QUANTITIES, colouring, killed_statement, level_note
from tests.viz.test_render import check_png


@pytest.fixture(scope="module")
def result_file(results, tmp_path_factory):
    """The synthetic run as a results file, with a peak temperature (C = K - 273.15)."""
    heated = dataclasses.replace(results, extra_fields={
        **results.extra_fields, "temperature_max": 310.15 + 2e-4 * results.e_max})
    return write_results(tmp_path_factory.mktemp("render") / "run.h5", heated)


def test_pair_plane_through_the_electrodes(results):
    plane = pair_plane(results)  # pair 1: xmax -> xmin, plates on the x faces
    np.testing.assert_allclose(plane.u, [-1, 0, 0], atol=1e-12)  # from anode to cathode
    np.testing.assert_allclose(plane.v, [0, 0, 1], atol=1e-12)  # plates: cut down the depth
    np.testing.assert_allclose(plane.origin, 0, atol=1e-12)
    assert plane.v_label == "z (mm)" and "xmin" in plane.u_label
    moved = pair_plane(results, "xmin->xmax", offset=0.002)
    np.testing.assert_allclose(moved.origin @ moved.normal, 0.002)
    section = cut(results, moved)
    assert len(section.triangles) and np.ptp(section.uv[:, 1]) == pytest.approx(0.02)


def test_depth_direction_follows_needles_and_stands_plates_up():
    t = np.linspace(0, 1, 50)[:, None]
    tilted = np.array([0.2, 0.1, 1.0]) / np.linalg.norm([0.2, 0.1, 1.0])
    needles = np.concatenate([t * 0.02 * tilted, [0.01, 0, 0] + t * 0.02 * tilted])
    across = np.array([1.0, 0, 0])
    in_plane = tilted - (tilted @ across) * across  # the needles' axis, seen in the plane
    np.testing.assert_allclose(depth_direction(needles, across),
                               in_plane / np.linalg.norm(in_plane), atol=1e-9)
    grid = np.array([[x, y, z] for x in (0, 0.01) for y in np.linspace(0, 0.016, 9)
                     for z in np.linspace(0, 0.008, 5)])  # two 16 x 8 mm plates
    np.testing.assert_allclose(depth_direction(grid, across), [0, 0, 1], atol=1e-12)


def test_pairs_by_index_or_name(results):
    assert find_pair(results, 1) == 1
    assert find_pair(results, "xmin->xmax") == find_pair(results, "xmin-xmax") == 1
    with pytest.raises(InputError, match="out of range"):
        find_pair(results, 2)
    with pytest.raises(InputError, match="its pairs: xmax->xmin, xmin->xmax"):
        find_pair(results, "a->b")


def test_crop_to_the_target(results):
    plane = axis_plane(results, "z")
    section = cut(results, plane)
    low, high = crop_window(results, plane, section, "target")
    full_low, full_high = crop_window(results, plane, section, "all")
    # the target, two 3.33 mm cells wide, plus a 5 mm margin each side, inside the 20 mm section
    assert np.all(low > full_low) and np.all(high < full_high)
    np.testing.assert_allclose(high - low, 0.02 / 3 + 2 * 0.005)
    with pytest.raises(InputError, match="crop"):
        crop_window(results, plane, section, "tumour")


def test_levels_say_when_they_are_not_crossed():
    assert level_note(400.0, False, 100.0, 900.0) is None
    assert "not reached on the section: highest 300 V/cm" in level_note(400.0, False, 10.0, 300.0,
                                                                          " V/cm")
    assert "reached all over" in level_note(400.0, False, 500.0, 900.0)
    assert level_note(0.5, True, 0.2, 1.0) is None  # survival: reached where it is low
    assert "not reached on the section: lowest 0.7" in level_note(0.5, True, 0.7, 1.0)


def test_survival_says_plainly_what_is_killed(results):
    spared = dataclasses.replace(results, extra_fields={
        **results.extra_fields, "survival": np.full(len(results.cells), 0.8)})
    assert killed_statement(spared).startswith("Nothing reaches the kill threshold")
    assert "lowest 0.80" in killed_statement(spared)
    some = dataclasses.replace(results, extra_fields={
        **results.extra_fields, "survival": np.where(results.e_max > 60e3, 0.1, 0.9)})
    assert killed_statement(some).startswith("Killed (survival below 0.5):")
    assert QUANTITIES["survival"].below and colouring(results, None, "survival").span == (0, 1)


@pytest.mark.parametrize("options, name", [
    ([], "run_e_max_pair.png"),  # --crop alone asks for the default view
    (["--plane", "pair", "--pair", "2"], "run_e_max_pair.png"),
    (["--plane", "pair", "--pair", "xmax->xmin", "--offset", "3"], "run_e_max_pair.png"),
    (["--plane", "x", "--offset", "-2"], "run_e_max_x.png"),
    (["--plane", "y"], "run_e_max_y.png"),
    (["--plane", "z", "--quantity", "e_max"], "run_e_max_z.png"),
    (["--quantity", "survival"], "run_survival_pair.png"),
    (["--quantity", "permeabilisation", "--plane", "y"], "run_permeabilisation_y.png"),
    (["--quantity", "temperature"], "run_temperature_pair.png"),
])
@pytest.mark.parametrize("crop", ["target", "all"])
def test_every_option_draws_one_slice(result_file, tmp_path, options, name, crop, capsys):
    out = tmp_path / name
    assert main(["render", str(result_file), "-o", str(out), "--crop", crop, *options]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    check_png(out)


def test_default_name_and_bad_options(result_file, tmp_path, capsys):
    copy = tmp_path / "copy.h5"
    copy.write_bytes(result_file.read_bytes())
    assert main(["render", str(copy), "--quantity", "survival"]) == 0
    assert (tmp_path / "copy_survival_pair.png").is_file()
    assert main(["render", str(copy), "--pair", "7"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["render", str(copy), "--plane", "z", "--offset", "50"]) == 2
    assert "does not cut" in capsys.readouterr().err


def test_overview_is_opaque_and_quiet(results, tmp_path, capfd):
    pytest.importorskip("pyvista")
    for crop in ("target", "all"):
        check_png(render_overview(results, tmp_path / f"{crop}.png", crop=crop,
                                  window_size=(640, 480)))
    assert capfd.readouterr().err == ""  # no VTK warning (the X-server one) on stderr
