"""Budgets before work (epsim.budget, epsim.mesh.estimate, epsim.sweep.budget): the cell estimate
against gmsh, the limits and their options, and the command line refusing oversized work with
the numbers, before gmsh or the solver start (tripwires on their entry points)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from epsim.budget import (
    BudgetError,
    Estimate,
    Limits,
    check,
    estimate_run,
    parse_count,
    parse_duration,
    parse_memory,
)
from epsim.cli import main
from epsim.config import load_config_data
from epsim.config.schema import SweepBlock
from epsim.errors import InputError
from epsim.mesh.estimate import CALIBRATION_SPREAD, estimate_cells
from epsim.mesh.gmsh import build_mesh
from epsim.mesh.scene import Box, MeshSizes, Needle, SphereInclusion
from epsim.sweep.budget import count_points, moves_geometry
from tests.helpers.budgets import all_pairs_of_200, mesh_sizes, needle_grid, needle_row
from tests.helpers.cli_configs import SMALL

MM = 1e-3


# ---------------------------------------------------------------- the cell estimate

def test_estimate_is_near_gmsh_for_a_small_scene():
    box = Box((0, 0, 0), (30 * MM, 30 * MM, 24 * MM), material="liver")
    tumour = [SphereInclusion("t", (0, 0, 0), 4 * MM, "tumour", mesh_size=1.5 * MM)]
    needles = [Needle(n, (x * MM, 0, -6 * MM), (x * MM, 0, 20 * MM), 0.6 * MM, 12 * MM)
               for n, x in (("a", -5), ("b", 5))]
    sizes = MeshSizes(size=5 * MM, electrode_size=0.6 * MM)
    guess = estimate_cells(box, tumour, needles, sizes)
    mesh = build_mesh(box, tumour, needles, sizes)
    assert abs(guess.cells / mesh.n_cells - 1) < 2 * CALIBRATION_SPREAD
    assert abs(guess.nodes / mesh.n_nodes - 1) < 2 * CALIBRATION_SPREAD
    assert guess.cells == pytest.approx(guess.background + guess.inclusions + guess.electrodes)


def test_estimate_is_reproducible_and_scales_with_size():
    box = Box((0, 0, 0), (0.05, 0.05, 0.05))
    a = estimate_cells(box, sizes=MeshSizes(size=4 * MM))
    b = estimate_cells(box, sizes=MeshSizes(size=2 * MM))
    assert a == estimate_cells(box, sizes=MeshSizes(size=4 * MM))
    assert b.cells == pytest.approx(8 * a.cells)


def test_many_needles_are_sampled_and_scaled():
    """200 needles cost as much as 48: a subset is integrated; needles far apart add up."""
    box = Box((0, 0, 0), (0.4, 0.4, 0.04))
    sizes = MeshSizes(size=6 * MM, electrode_size=0.4 * MM)

    def grid(n):
        side = math.ceil(math.sqrt(n))
        return [Needle(f"n{i}", ((i % side) * 0.025 - 0.18, (i // side) * 0.025 - 0.18, -0.01),
                       ((i % side) * 0.025 - 0.18, (i // side) * 0.025 - 0.18, 0.03), 5e-4, 0.015)
                for i in range(n)]

    one = estimate_cells(box, holes=grid(1), sizes=sizes).electrodes
    many = estimate_cells(box, holes=grid(200), sizes=sizes).electrodes
    assert many == pytest.approx(200 * one, rel=0.15)


def test_close_needles_share_their_refinement():
    """Two needles 2 mm apart refine less than twice one needle: the nearest one sets the size."""
    box = Box((0, 0, 0), (0.06, 0.06, 0.04))
    sizes = MeshSizes(size=6 * MM, electrode_size=0.4 * MM)
    needle = lambda name, x: Needle(name, (x, 0, -0.01), (x, 0, 0.03), 5e-4, 0.015)  # noqa: E731
    one = estimate_cells(box, holes=[needle("a", 0.0)], sizes=sizes).electrodes
    two = estimate_cells(box, holes=[needle("a", -1e-3), needle("b", 1e-3)], sizes=sizes).electrodes
    assert one < two < 1.5 * one


# ---------------------------------------------------------------- limits

def test_options_read_sizes_durations_and_counts():
    assert parse_memory("16G") == 16 * 2**30
    assert parse_memory("500 MB") == 500 * 2**20
    assert parse_memory("2e9") == 2e9
    assert parse_duration("90s") == 90 and parse_duration("30m") == 1800
    assert parse_duration("4h") == 4 * 3600 and parse_duration("1.5min") == 90
    assert parse_count("2e6") == 2e6 and parse_count("500k") == 5e5
    assert parse_memory("0") == math.inf  # no limit
    for bad in ("lots", "-1G", "nan", "1e999x"):
        with pytest.raises(ValueError):
            parse_memory(bad)


def test_check_names_each_quantity_over_its_limit_on_one_line():
    estimate = Estimate("run (19900 pairs)", 3.4e9, 6.5e8, 19900, 2e13, 5e5)
    with pytest.raises(BudgetError) as err:
        check(estimate, Limits(max_cells=5e6, max_memory=16 * 2**30, max_seconds=3600))
    text = str(err.value)
    assert isinstance(err.value, InputError)  # exit code 2
    assert "\n" not in text and len(text) < 280
    for words in ("19900 pairs", "3.4e+09 cells", "--max-cells 5,000,000", "--max-memory 16 GB",
                  "--max-time 1 h"):
        assert words in text
    assert check(estimate, Limits(math.inf, math.inf, math.inf)) is estimate


def resolved(edit=None):
    data = yaml.safe_load(SMALL)
    if edit:
        edit(data)
    data.pop("output", None)
    return load_config_data(data, source="case.yaml", base_dir=".")


def test_run_estimate_counts_pairs_and_heating():
    one = estimate_run(resolved())
    four = estimate_run(resolved(lambda d: d["protocol"].update(
        pairs=[{"anode": "a", "cathode": "b", "voltage": 800}] * 4)))
    assert four.cells == one.cells and four.pairs == 4
    assert four.seconds > one.seconds and four.memory > one.memory
    heated = estimate_run(resolved(lambda d: d.update(heating={})))
    assert heated.seconds > one.seconds


def test_sweep_points_are_counted_without_generating_them():
    block = SweepBlock.model_validate({
        "samples": 100_000_000,
        "axes": {"protocol.pairs[0].voltage": {"kind": "linspace", "start": 1, "stop": 2,
                                               "num": 7},
                 "materials.tumour.sigma0": {"kind": "uniform", "low": 0.1, "high": 0.2},
                 "materials.liver.sigma0": [0.1, 0.2, 0.3]},
        "points": [{"physics.conductivity": "linear"}, {"physics.conductivity": "nonlinear"}],
    })
    assert count_points(block) == 7 * 3 * 100_000_000 * 2
    assert not moves_geometry(block)
    assert moves_geometry(SweepBlock.model_validate({"axes": {"electrodes[0].tip": [[0, 0, 0]]}}))


# ---------------------------------------------------------------- the command line refuses early

EARLY = [  # (name, command, config edit, extra arguments, words in the message)
    ("target_size 0.01 mm", "run", mesh_sizes(target_size=0.01), (), "--max-cells"),
    ("every size 1e-6 mm", "run",
     mesh_sizes(size=1e-6, target_size=1e-6, electrode_size=1e-6), (), "of memory"),
    ("every size 1e-6 mm, mesh only", "mesh", mesh_sizes(size=1e-6, target_size=1e-6,
                                                    electrode_size=1e-6), (), "--max-cells"),
    ("every size 1e-6 mm, check", "check", mesh_sizes(size=1e-6, target_size=1e-6,
                                                 electrode_size=1e-6), (), "--max-cells"),
    ("200 needles", "run", needle_grid(200), ("--max-cells", "1e6"), "--max-cells 1,000,000"),
    ("200 needles, all_pairs: 19900 pairs", "run",
     all_pairs_of_200, ("--max-memory", "64G"), "19900 pairs"),
    ("needle_row of 2000 needles (was 2.4 min of overlap checks)", "check", needle_row(2000),
     ("--max-cells", "1e5"), "--max-cells 100,000"),
    ("a run over --max-time", "run", None, ("--max-time", "1s"), "--max-time 1 s"),
]


@pytest.fixture
def tripwires(monkeypatch):
    """gmsh, the mesh cache, the runner, the sweep and the planner fail if reached."""
    import importlib

    def reached(*args, **kwargs):
        raise AssertionError("reached: the budget should have refused before")

    for module, name in (("epsim.mesh.gmsh", "mesh_arrays"), ("epsim.meshcache", "build_mesh"),
                         ("epsim.runner", "run_config"), ("epsim.sweep", "load_plan"),
                         ("epsim.sweep", "run_sweep"), ("epsim.optimise", "run_planning")):
        monkeypatch.setattr(importlib.import_module(module), name, reached)


def assert_refused(code, capsys, words, folder, before):
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("epsim: error: over budget"), err
    assert len(err) < 300 and "Traceback" not in out + err
    assert words in err, err
    assert sorted(folder.rglob("*")) == before  # nothing left


@pytest.mark.parametrize("name, cmd, edit, extra, words", EARLY, ids=[c[0] for c in EARLY])
def test_oversized_work_is_refused_before_it_starts(name, cmd, edit, extra, words, tmp_path,
                                                    monkeypatch, capsys, tripwires):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    data = yaml.safe_load(SMALL)
    if edit:
        edit(data)
    config = tmp_path / "case.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    before = sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    assert_refused(main([cmd, str(config), *extra]), capsys, words, tmp_path, before)


SWEEP = """
sweep:
  samples: 4
  axes:
    protocol.pairs[0].voltage: [600, 800]
    materials.tumour.sigma0: {kind: uniform, low: 0.1, high: 0.3}
"""


@pytest.mark.parametrize("extra, words", [
    (("--samples", "100000000"), "200000000 points"),
    (("--axis", "protocol.pairs[0].voltage=linspace(800, 1200, 100000000)"), "400000000 points"),
], ids=["--samples 1e8", "a 1e8-point linspace"])
def test_oversized_sweeps_are_refused_before_points_exist(extra, words, tmp_path, monkeypatch,
                                                          capsys, tripwires):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    data = yaml.safe_load(SMALL)
    data.pop("output")
    config = tmp_path / "case.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False) + SWEEP)
    before = sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    code = main(["sweep", str(config), "-o", str(tmp_path / "out"), *extra])
    assert_refused(code, capsys, words, tmp_path, before)


def test_limits_can_be_raised(tmp_path, monkeypatch, capsys):
    """The numbers a refusal gives are the ones --max-* accept: raised, `check` passes and
    prints the estimate."""
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load(SMALL)
    mesh_sizes(target_size=0.3)(data)
    config = tmp_path / "case.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["check", str(config), "--max-cells", "1e4"]) == 2
    assert "--max-cells 10,000" in capsys.readouterr().err
    assert main(["check", str(config), "--max-cells", "0"]) == 0
    assert "# budget of a run: about" in capsys.readouterr().out
    assert np.isfinite(parse_count("1e5"))


def test_an_oversized_plan_is_refused_before_planning(tmp_path, monkeypatch, capsys, tripwires):
    from tests.helpers.plans import PLAN_CONFIG

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    config = tmp_path / "plan.yaml"
    config.write_text(PLAN_CONFIG)
    before = sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    code = main(["optimise", str(config), "-o", str(tmp_path / "plan"), "--linear-steps",
                 "100000000"])
    assert_refused(code, capsys, "--max-time 4 h", tmp_path, before)
