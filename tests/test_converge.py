"""`epsim run --converge TOL` (epsim.converge) and the error estimate every run reports
(epsim.accuracy): a tiny two-needle config refined level by level, a budget that stops it, a
coarse mesh flagged, bad tolerances refused."""

import contextlib
import io

import h5py
import numpy as np
import pytest
import yaml

from epsim.budget import Limits, estimate_run
from epsim.cli import main
from epsim.config import load_config
from epsim.converge import FACTOR, converge, parse_tolerance, refined
from tests.helpers.cli_configs import write_config

# Deliberately coarse: 1.2 mm cells on 1.2 mm needles, 3 mm in a 3 mm tumour.
COARSE = {"size": 0.008, "target_size": 0.003, "electrode_size": 0.0012}


def coarse(data):
    data["scene"]["mesh"] = {"size": 8, "target_size": 3, "electrode_size": 1.2}
    data["solver"] = {"preconditioner": "jacobi"}  # compiles faster than AMG


def mesh_sizes(h5):
    with h5py.File(h5) as f:
        return yaml.safe_load(f.attrs["config"])["scene"]["mesh"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """converge() with sizes x0.95 per level (meshes close enough in size to share compiled
    programs) and a 50 % tolerance; then `epsim run --converge 0.1 %` under a cell limit
    between level 0's estimate and level 1's (x0.7), which runs level 0 again (its mesh and
    programs cached) and stops. Returns (outcome, (exit code, results, stdout))."""
    tmp = tmp_path_factory.mktemp("converge")
    mp = pytest.MonkeyPatch()
    mp.setenv("EPSIM_CACHE", str(tmp / "cache"))
    config = write_config(tmp, edit=coarse)
    cfg = load_config(config)
    outcome = converge(cfg, 0.5, Limits(), factor=0.95)
    limit = np.sqrt(estimate_run(cfg).cells * estimate_run(refined(cfg, FACTOR)).cells)
    h5, text = tmp / "stopped.h5", io.StringIO()
    with contextlib.redirect_stdout(text):
        code = main(["run", str(config), "--no-paraview", "-o", str(h5), "--converge", "0.1%",
                     "--max-cells", f"{limit:.0f}"])
    mp.undo()
    return outcome, (code, h5, text.getvalue())


@pytest.mark.slow
def test_converges_in_few_levels_and_prints_the_sequence(runs):
    outcome, _ = runs
    assert outcome.converged and len(outcome.levels) == 2
    text = outcome.text()
    assert "level 0: sizes x1, " in text and "level 1: sizes x0.95, " in text
    assert "change: current" in text and "converged: level 1" in text
    assert outcome.cfg.scene.mesh.electrode_size == pytest.approx(0.95 * 0.0012)  # level 1's
    first, second = outcome.levels
    assert second.cells > first.cells
    assert np.all(second.currents < first.currents)  # refined: less current (P1 is too stiff)
    assert np.all((second.current_error > 0) & (second.current_error < first.current_error))


@pytest.mark.slow
def test_budget_stops_before_converging(runs):
    _, (code, h5, text) = runs
    assert code == 4  # stopped after solving began; level 0's results kept
    assert "level 0: sizes x1, " in text
    assert "NOT converged to 0.1 %: level 1 is over budget" in text
    assert mesh_sizes(h5)["electrode_size"] == pytest.approx(0.0012)
    with h5py.File(h5) as f:  # the estimates in the results file, with units
        error = f["pairs/current_error"]
        assert error.attrs["units"] == "1" and 0 < error[0] < 0.5
        uncertain = f["metrics/tumour/fraction_irr_error"]
        assert uncertain.attrs["units"] == "1" and 0 <= uncertain[()] <= 1


@pytest.mark.slow
def test_coarse_mesh_is_flagged(runs):
    """Level 0, deliberately coarse: its summary says so."""
    text = runs[1][2]
    assert "WARNING: the mesh is too coarse: estimated mesh error: currents up to" in text
    assert "est. error" in text


@pytest.mark.parametrize("tol", ["abc", "0 %", "80%", "-1"])
def test_bad_tolerance_exits_2(tmp_path, tol, capsys):
    config = write_config(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(config), "--converge", tol])
    assert exc.value.code == 2
    assert "--converge" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_parse_tolerance():
    assert parse_tolerance("1 %") == pytest.approx(0.01)
    assert parse_tolerance("0.02") == pytest.approx(0.02)


def test_refined_scales_every_size(tmp_path):
    cfg = load_config(write_config(tmp_path, edit=coarse))
    finer = refined(cfg, 0.5)
    for key, value in COARSE.items():
        assert getattr(finer.scene.mesh, key) == pytest.approx(0.5 * value)
    assert estimate_run(finer).cells > 2 * estimate_run(cfg).cells
