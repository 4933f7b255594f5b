"""`epsim verify DIR --actual actual.yaml`: a plan whose two needles went in 3 mm off loses its
coverage (the deficit, on a fresh mesh), and voltages re-optimised for the needles where they are
win it back; a bad actual.yaml is refused (exit 2) before anything is written."""

import json

import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.config import ConfigError, load_config, load_config_text, needle_axes
from epsim.config.schema import OptimiseBlock
from epsim.optimise.recheck import read_actual, recheck
from epsim.optimise.sheet import write_plan_sheet
from epsim.runner import run_config
from tests.helpers.plans import tiny_plan_config

PLANNED_VOLTAGE = 550  # V: covers the 3 mm tumour between needles 9 mm apart (100 %)


def plan_folder(folder):
    """A plan folder as `epsim optimise` leaves it (plan.yaml, plan.json, plan.html): two
    needles 9 mm apart across a 3 mm tumour at 550 V, the request's optimise block kept."""
    raw = yaml.safe_load(tiny_plan_config())
    raw["scene"]["structures"][0]["radius"] = 3
    for needle, x in zip(raw["electrodes"], (-4.5, 4.5)):
        needle.update(tip=[x, 0, -7], entry=[x, 0, 13])
    raw["protocol"]["pairs"][0]["voltage"] = PLANNED_VOLTAGE
    raw["optimise"].update(max_voltage=2000, linear_steps=2, nonlinear_steps=1,
                           step_voltage=150, starts=1, baseline=False)
    raw["optimise"].pop("jitter", None)
    plan = {k: v for k, v in raw.items() if k != "optimise"}
    plan["output"] = {"file": "plan.h5"}
    text = yaml.safe_dump(plan, sort_keys=False)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.yaml").write_text(text)
    cfg = load_config_text(text, base_dir=folder)
    block = OptimiseBlock.model_validate(raw["optimise"], context={"units": raw["units"]})
    write_plan_sheet(folder, cfg, run_config(cfg), block=block, raw=raw, render=False)
    return cfg


def actual_yaml(path, moves):
    """actual.yaml with needle a and b shifted by `moves` (mm, (2, 3))."""
    needles = {}
    for name, x, move in zip("ab", (-4.5, 4.5), moves):
        shift = np.asarray(move, dtype=float)
        needles[name] = {"tip": (np.array([x, 0, -7]) + shift).tolist(),
                         "entry": (np.array([x, 0, 13]) + shift).tolist()}
    path.write_text(yaml.safe_dump({"units": {"length": "mm"}, "needles": needles}))
    return path


@pytest.fixture(scope="module")
def rechecked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    plan_folder(folder)
    actual = actual_yaml(folder / "actual.yaml", [(-3, 0, 0), (3, 0, 0)])
    return folder, recheck(folder, actual, render=False)


@pytest.mark.slow
def test_moved_needles_show_a_deficit_and_new_voltages_restore_coverage(rechecked):
    """Both needles 3 mm further out (15 mm apart): the planned 550 V cover almost nothing;
    the voltages recommended for the needles as placed cover the goal again."""
    folder, report = rechecked
    assert report.planned >= 99.0 and report.goal == 99.0
    assert report.placed < report.planned - 50
    best = max(report.replanned, report.same_field)
    assert best >= 99.0
    out = folder / "recheck"
    summary = json.loads((out / "recheck.json").read_text())
    assert summary["coverage_percent"]["placed"] == pytest.approx(report.placed)
    assert summary["coverage_percent"][summary["recommended"]] == pytest.approx(best)
    assert summary["voltages_V"]["same_field"]["a -> b"] == pytest.approx(550 * 15 / 9)
    (volts,) = report.voltages.values()
    assert volts > PLANNED_VOLTAGE
    assert summary["moves_mm"]["a"]["tip"] == pytest.approx(3.0)
    # the needles stayed where they were placed: only voltages moved
    placed = {n.name: n for n in needle_axes(load_config(out / "plan.yaml"))}
    assert np.allclose(placed["a"].tip, [-7.5e-3, 0, -7e-3], atol=1e-7)
    assert np.allclose(placed["b"].tip, [7.5e-3, 0, -7e-3], atol=1e-7)
    text = (out / "recheck.txt").read_text()
    assert "deficit" in text and "(goal met)" in text
    assert all((out / name).is_file() for name in ("plan.html", "plan.json", "placed.h5"))


def test_actual_positions_are_read_in_their_units(tmp_path):
    path = tmp_path / "actual.yaml"
    path.write_text("units: {length: cm}\nneedles:\n  a: {tip: [1, 0, 0], entry: [1, 0, 2]}\n"
                    "  b: {tip: [0, 0, 0], entry: ['5 mm', 0, 20 mm]}\n")
    placed = read_actual(path, ["a", "b"])
    assert np.allclose(placed["a"].entry, [0.01, 0, 0.02])
    assert np.allclose(placed["b"].entry, [0.005, 0, 0.02])


@pytest.mark.parametrize("body, message", [
    ("needles:\n  a: {tip: [0, 0, 0], entry: [0, 0, 1]}\n"
     "  bb: {tip: [1, 0, 0], entry: [1, 0, 1]}\n",
     "needles.bb: unknown needle 'bb'; did you mean 'b'?"),
    ("needles:\n  a: {tip: [0, 0, 0], entry: [0, 0, 1]}\n", "no position for b"),
    ("needles:\n  a: {tip: [0, 0], entry: [0, 0, 1]}\n  b: {tip: [1, 0, 0], entry: [1, 0, 1]}\n",
     "needles.a.tip"),
])
def test_bad_actual_positions_are_refused(tmp_path, body, message):
    path = tmp_path / "actual.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        read_actual(path, ["a", "b"])


def test_cli_refuses_a_folder_without_a_plan_and_writes_nothing(tmp_path, capsys):
    actual = actual_yaml(tmp_path / "actual.yaml", [(0, 0, 0), (0, 0, 0)])
    assert main(["verify", str(tmp_path), "--actual", str(actual)]) == 2
    assert "no plan.yaml and plan.json here" in capsys.readouterr().err
    assert not (tmp_path / "recheck").exists()
