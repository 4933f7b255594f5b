"""The electrode catalogue: every model's geometry invariants, `model:` in configs (the model
fills what the config leaves out, the config's keys win) and unknown models refused with the
closest names (exit 2)."""

import itertools
import math

import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.config import ConfigError, load_config_text, needle_axes
from epsim.config.catalogue import electrode_catalogue, electrode_model
from epsim.config.schema import HexagonalArray, NeedleElectrode, NeedleRow, Plates

SCHEMA = {"needle": NeedleElectrode, "needle_row": NeedleRow,
          "hexagonal_array": HexagonalArray, "plates": Plates}

BASE = {
    "name": "catalogue case",
    "units": {"length": "mm", "voltage": "V", "field": "V/cm", "conductivity": "S/m",
              "time": "us"},
    "scene": {"domain": {"shape": "box", "size": [60, 60, 60], "material": "liver"},
              "mesh": {"size": 5}},
    "protocol": {"pulses": {"count": 8, "width": 100, "rate": "1 Hz"},
                 "pairs": "all_pairs", "voltage_to_distance": 1000},
}


def electrode_of(model, choice=0):
    """A config electrode of `model` placed in BASE's domain, with the model's geometry left to
    the model (a choice made where the model offers several)."""
    item = {"name": "e", "type": model.type, "model": model.name}
    for key, value in model.geometry.items():
        if isinstance(value.text, tuple) and len(value.text) > 1:
            item[key] = value.text[choice]
    if model.type == "needle":
        item.update(tip=[0, 0, -20], entry=[0, 0, 30])
    elif model.type == "needle_row":
        item.update(tip=[-6, 0, -20], direction=[1, 0, 0], count=4, spacing=4, diameter=0.7)
    elif model.type == "hexagonal_array":
        item.update(center_tip=[0, 0, -20], diameter=0.7)
    else:
        item.update(center=[0, 0, 30], normal=[1, 0, 0], size=[10, 8])
    return item


def load_with(*electrodes):
    data = {**BASE, "electrodes": list(electrodes)}
    if len([e for e in electrodes if e["type"] == "needle"]) == 1:
        data["electrodes"].append({"name": "other", "type": "needle", "tip": [10, 0, -20],
                                   "entry": [10, 0, 30], "diameter": 1, "active_length": 20})
    return load_config_text(yaml.safe_dump(data))


CATALOGUE = electrode_catalogue()


def test_catalogue_ships_the_models_of_the_issue():
    assert {"VGD-12", "VGD-18"} <= set(CATALOGUE)
    assert {m.type for m in CATALOGUE.values()} == set(SCHEMA)
    assert electrode_model("VGD-12").choices("active_length") == pytest.approx((0.02, 0.03, 0.04))


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_value_has_a_source_and_is_unverified(name):
    model = CATALOGUE[name]
    values = {**model.geometry, **model.layout, **model.protocol}
    assert values
    for value in values.values():
        assert value.source.strip() and value.verified is False


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_geometry_invariants(name):
    """Every geometry key is a key of the electrode type it fills; lengths positive, choices
    distinct and ascending; a needle is longer than it is wide; the recommended voltage is the
    recommended field times the model's own spacing (U/d); every choice loads as a config and
    its conductors have the model's geometry."""
    model = CATALOGUE[name]
    fields = SCHEMA[model.type].model_fields
    assert set(model.geometry) <= set(fields)
    for key in model.geometry:
        options = model.choices(key)
        assert all(v > 0 for v in options)
        assert list(options) == sorted(set(options))
    if "diameter" in model.geometry and "active_length" in model.geometry:
        assert model.choices("diameter")[0] < min(model.choices("active_length"))
    if "voltage" in model.protocol:
        distance = {**model.geometry, **model.layout}
        d = next(distance[k].value for k in ("circumradius", "row_gap", "gap") if k in distance)
        assert model.protocol["voltage"].value == pytest.approx(
            model.protocol["voltage_to_distance"].value * d, rel=1e-9)
    for choice in range(len(model.choices("active_length")) if "active_length" in
                        model.geometry else 1):
        cfg = load_with(electrode_of(model, choice))
        needles = {n.name: n for n in needle_axes(cfg)}
        own = [n for key, n in needles.items() if key.startswith("e")]
        if "diameter" in model.geometry:
            assert all(2 * n.radius == pytest.approx(model.geometry["diameter"].value)
                       for n in own)
        if "active_length" in model.geometry:
            wanted = model.choices("active_length")[choice]
            assert all(n.active_length == pytest.approx(wanted) for n in own)
        if model.type == "hexagonal_array":  # a regular hexagon: every edge one circumradius
            r = model.geometry["circumradius"].value
            tips = np.array([needles[f"e_{k}"].tip for k in range(7)])
            gaps = [np.linalg.norm(tips[0] - tips[k]) for k in range(1, 7)]
            gaps += [np.linalg.norm(tips[k] - tips[k % 6 + 1]) for k in range(1, 7)]
            assert np.allclose(gaps, r, rtol=1e-12)
            nearest = min(np.linalg.norm(a - b) for a, b in itertools.combinations(tips, 2))
            assert nearest == pytest.approx(r)
        if model.type == "plates":
            plates = cfg.electrodes[0]
            assert plates.gap == pytest.approx(model.geometry["gap"].value)


def test_vgd18_gives_a_1p8_mm_needle_and_explicit_keys_win():
    model = electrode_model("VGD-18")
    needle = {"name": "n1", "type": "needle", "model": "VGD-18", "active_length": 30,
              "tip": [0, 0, -20], "entry": [0, 0, 30]}
    n1 = needle_axes(load_with(needle))[0]
    assert 2 * n1.radius == pytest.approx(1.8e-3)
    assert n1.active_length == pytest.approx(0.03)
    assert model.geometry["diameter"].value == pytest.approx(1.8e-3)
    thinner = needle_axes(load_with({**needle, "diameter": 1.5}))[0]
    assert 2 * thinner.radius == pytest.approx(1.5e-3)
    # the model's value carries its own unit: a file in metres reads the same needle
    metres = {**BASE, "units": {**BASE["units"], "length": "m"}, "electrodes": [
        {**needle, "active_length": "30 mm", "tip": [0, 0, -0.02], "entry": [0, 0, 0.03]},
        {"name": "b", "type": "needle", "tip": [0.01, 0, -0.02], "entry": [0.01, 0, 0.03],
         "diameter": 0.001, "active_length": 0.02}]}
    metres["scene"] = {"domain": {"shape": "box", "size": [0.06] * 3, "material": "liver"},
                       "mesh": {"size": 0.005}}
    again = needle_axes(load_config_text(yaml.safe_dump(metres)))[0]
    assert math.isclose(again.radius, n1.radius) and math.isclose(again.active_length, 0.03)


def test_a_variable_part_must_be_chosen():
    needle = {"name": "n1", "type": "needle", "model": "VGD-12", "tip": [0, 0, -20],
              "entry": [0, 0, 30]}
    with pytest.raises(ConfigError, match=r"electrodes\[0\]\.active_length: model VGD-12 "
                                          r"offers active_length of 20 mm, 30 mm, 40 mm"):
        load_with(needle)


def test_model_of_another_type_is_refused():
    needle = {"name": "n1", "type": "needle", "model": "ESOPE-I-plates", "tip": [0, 0, -20],
              "entry": [0, 0, 30], "diameter": 1, "active_length": 20}
    with pytest.raises(ConfigError, match="is a plates electrode, not a needle; needle models: "
                                          "VGD-12, VGD-18"):
        load_with(needle)


def test_unknown_model_exits_2_with_the_closest_names(tmp_path, capsys):
    data = {**BASE, "electrodes": [
        {"name": "n1", "type": "needle", "model": "VGD12", "active_length": 30,
         "tip": [0, 0, -20], "entry": [0, 0, 30]},
        {"name": "n2", "type": "needle", "model": "VGD-12", "active_length": 30,
         "tip": [10, 0, -20], "entry": [10, 0, 30]}]}
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "electrodes[0].model: unknown electrode model 'VGD12'; closest: VGD-12, VGD-18" in err
    assert len(err.strip().splitlines()) == 1


def test_resolved_config_keeps_the_model_and_loads_back():
    from epsim.config import resolved_to_yaml

    cfg = load_with({"name": "n1", "type": "needle", "model": "VGD-12", "active_length": 40,
                     "tip": [0, 0, -20], "entry": [0, 0, 30]})
    again = load_config_text(resolved_to_yaml(cfg))
    assert again.electrodes[0].model == "VGD-12"
    assert needle_axes(again)[0] == needle_axes(cfg)[0]
