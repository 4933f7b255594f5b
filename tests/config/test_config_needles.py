"""Electrode expansion, pair generators, spacing, overlap, and the Python (SI) API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from epsim.config import (
    Config,
    ConfigError,
    load_config_text,
    needle_axes,
    pair_voltages,
    resolve,
)

HEADER = """\
name: t
units: {length: mm, voltage: V, field: V/cm}
scene:
  domain: {shape: box, size: [60, 60, 60], material: liver}
  mesh: {size: 5}
protocol:
  pulses: {count: 8, width: "100 us", rate: "1 Hz"}
  voltage_to_distance: 1000
"""


def load(electrodes: str, pairs: str = "all_pairs", extra: str = ""):
    text = HEADER + f"  pairs: {pairs}\nelectrodes:\n{electrodes}{extra}"
    return load_config_text(text, source="t.yaml")


def hexagon(axis="[0, 0, 1]", rotation="0", center="[1, 2, -3]"):
    return (
        f"  - {{name: h, type: hexagonal_array, center_tip: {center}, axis: {axis}, "
        f"circumradius: 4, diameter: 0.7, active_length: 8, rotation: \"{rotation} deg\"}}\n"
    )


@pytest.mark.parametrize("axis", ["[0, 0, 1]", "[1, 0, 0]", "[0.3, -0.4, 1]"])
@pytest.mark.parametrize("rotation", ["0", "17"])
def test_hexagonal_array_geometry(axis, rotation):
    cfg = load(hexagon(axis, rotation), "hexagonal_cycle")
    needles = needle_axes(cfg)
    assert [n.name for n in needles] == [f"h_{k}" for k in range(7)]
    direction = np.asarray(json.loads(axis), dtype=float)
    direction /= np.linalg.norm(direction)
    tips = np.array([n.tip for n in needles])
    np.testing.assert_allclose(tips[0], [0.001, 0.002, -0.003])
    offsets = tips[1:] - tips[0]
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), 0.004)
    np.testing.assert_allclose(offsets @ direction, 0.0, atol=1e-15)  # in the plane normal to axis
    ring = np.linalg.norm(offsets - np.roll(offsets, -1, axis=0), axis=1)
    np.testing.assert_allclose(ring, 0.004)  # a regular hexagon: side = circumradius
    for k in range(6):  # counter-clockwise about the axis
        assert np.dot(np.cross(offsets[k], offsets[(k + 1) % 6]), direction) > 0
    for n in needles:
        np.testing.assert_allclose(n.direction, direction)
        assert n.radius == pytest.approx(0.00035)
    # 12 pairs: each spoke and each rim edge once, every pair one circumradius apart
    pairs = cfg.protocol.pairs
    assert len(pairs) == 12
    assert len({frozenset((p.anode, p.cathode)) for p in pairs}) == 12
    assert all(p.voltage == pytest.approx(400.0) for p in pairs)  # 1000 V/cm x 4 mm


def test_hexagonal_rotation_turns_the_ring():
    first = needle_axes(load(hexagon(rotation="0")))[1].tip
    turned = needle_axes(load(hexagon(rotation="90")))[1].tip
    centre = [0.001, 0.002, -0.003]
    np.testing.assert_allclose(np.subtract(first, centre), [0.004, 0, 0], atol=1e-15)
    np.testing.assert_allclose(np.subtract(turned, centre), [0, 0.004, 0], atol=1e-15)


ROW = (
    "  - {name: r, type: needle_row, tip: [-6, 0, -10], direction: [1, 0, 0], count: 4, "
    "spacing: 4, diameter: 1, active_length: 15}\n"
)


def test_needle_row_and_generators():
    cfg = load(ROW, "adjacent")
    needles = needle_axes(cfg)
    assert [n.name for n in needles] == ["r_0", "r_1", "r_2", "r_3"]
    assert [n.tip[0] for n in needles] == pytest.approx([-0.006, -0.002, 0.002, 0.006])
    # the default entry is where the axis leaves the box (z = 30 mm)
    assert all(n.entry[2] == pytest.approx(0.03) for n in needles)
    assert [(p.anode, p.cathode) for p in cfg.protocol.pairs] == [
        ("r_0", "r_1"), ("r_1", "r_2"), ("r_2", "r_3")]
    assert [p.voltage for p in cfg.protocol.pairs] == pytest.approx([400.0] * 3)
    cfg = load(ROW, "all_pairs")
    assert len(cfg.protocol.pairs) == 6
    assert cfg.protocol.pairs[2].voltage == pytest.approx(1200.0)  # r_0 -> r_3, 12 mm


def test_spacing_of_staggered_and_tilted_needles():
    staggered = (
        "  - {name: a, type: needle, tip: [0, 0, -10], entry: [0, 0, 30], diameter: 1, "
        "active_length: 10}\n"
        "  - {name: b, type: needle, tip: [7, 0, 5], entry: [7, 0, 30], diameter: 1, "
        "active_length: 10}\n"
    )
    assert load(staggered).protocol.pairs[0].voltage == pytest.approx(700.0)
    # needles tilted symmetrically apart: the spacing is the distance from one active centre
    # to the other needle's axis line (both directions give the same number here)
    tilted = (
        "  - {name: a, type: needle, tip: [-5, 0, 0], entry: [-15, 0, 20], diameter: 1, "
        "active_length: 5}\n"
        "  - {name: b, type: needle, tip: [5, 0, 0], entry: [15, 0, 20], diameter: 1, "
        "active_length: 5}\n"
    )
    cfg = load(tilted)
    a, b = needle_axes(cfg)
    centre_a, centre_b = a.active_center, b.active_center
    off = centre_a - np.asarray(b.tip)
    axis = b.direction
    expected = np.linalg.norm(off - (off @ axis) * axis)  # symmetric: both terms equal
    assert cfg.protocol.pairs[0].voltage == pytest.approx(1e5 * expected)


def test_explicit_pairs_without_voltage_need_voltage_to_distance():
    electrodes = ROW.replace("count: 4", "count: 2")
    text = HEADER.replace("  voltage_to_distance: 1000\n", "")
    text += "  pairs: [{anode: r_0, cathode: r_1}]\nelectrodes:\n" + electrodes
    with pytest.raises(ConfigError, match=r"protocol.pairs\[0\]: pair r_0 -> r_1: no voltage"):
        load_config_text(text)


def test_hexagonal_cycle_needs_an_array():
    with pytest.raises(ConfigError, match="hexagonal_cycle needs a hexagonal_array"):
        load(ROW, "hexagonal_cycle")


def test_voltage_to_distance_between_needle_and_plate_is_refused():
    plates = ("  - {name: p, type: plates, center: [0, 20, 0], normal: [0, 1, 0], gap: 5, "
              "size: [5, 5]}\n")
    with pytest.raises(ConfigError, match="give this pair a voltage"):
        load(ROW.replace("count: 4", "count: 2") + plates, "adjacent")


def test_duplicate_conductor_names():
    twice = ROW + ROW.replace("tip: [-6, 0, -10]", "tip: [-6, 10, -10]")
    with pytest.raises(ConfigError, match=r"electrodes\[1\].name: electrode name 'r_0'"):
        load(twice)


def test_python_api_takes_si():
    cfg = Config.model_validate({
        "name": "api",
        "scene": {"domain": {"shape": "sphere", "radius": 0.05, "material": "liver"},
                  "mesh": {"size": 0.005}},
        "electrodes": [
            {"type": "needle", "name": "a", "tip": [-0.005, 0, 0], "entry": [-0.005, 0, 0.05],
             "diameter": 0.001, "active_length": 0.02},
            {"type": "needle", "name": "b", "tip": [0.005, 0, 0], "entry": [0.005, 0, 0.05],
             "diameter": 0.001, "active_length": 0.02},
        ],
        "protocol": {"pulses": {"count": 8, "width": 1e-4, "rate": 1.0},
                     "pairs": "adjacent", "voltage_to_distance": 1e5},
    })
    resolved = resolve(cfg)
    assert resolved.protocol.pairs[0].voltage == pytest.approx(1000.0)
    assert pair_voltages(resolved, needle_axes(resolved)) == resolved.protocol.pairs
    assert resolved.materials["liver"].sigma0 == 0.08
    with pytest.raises(Exception):
        resolved.name = "changed"  # frozen


def test_needles_reach_the_sphere_surface():
    text = (HEADER.replace("{shape: box, size: [60, 60, 60], material: liver}",
                           "{shape: sphere, radius: 20, material: liver}")
            + "  pairs: adjacent\nelectrodes:\n" + ROW.replace("count: 4", "count: 2"))
    needles = needle_axes(load_config_text(text))
    for n in needles:
        assert np.linalg.norm(n.entry) == pytest.approx(0.02)
        assert n.entry[:2] == pytest.approx(n.tip[:2])


def test_needles_reach_the_cylinder_top():
    text = (HEADER.replace("{shape: box, size: [60, 60, 60], material: liver}",
                           "{shape: cylinder, radius: 20, height: 40, material: liver}")
            + "  pairs: adjacent\nelectrodes:\n"
            + ROW.replace("count: 4", "count: 2").replace("direction: [1, 0, 0]",
                                                          "direction: [1, 0, 0], axis: [1, 0, 1]"))
    for n in needle_axes(load_config_text(text)):
        assert np.hypot(n.entry[0], n.entry[1]) == pytest.approx(0.02)  # leaves through the side
        assert n.entry[0] - n.tip[0] == pytest.approx(n.entry[2] - n.tip[2])


def test_zero_direction_is_refused():
    with pytest.raises(ConfigError, match=r"electrodes\[0\].direction: a direction must not be"):
        load(ROW.replace("direction: [1, 0, 0]", "direction: [0, 0, 0]"))
