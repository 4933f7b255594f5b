"""`epsim run CONFIG --scenarios N`: the plan under placement and conductivity uncertainty
(epsim.optimise.scenarios)."""

import math

import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.config import load_config
from epsim.io import read_results
from epsim.optimise.scenarios import (
    Uncertainty,
    config_uncertainty,
    draw,
    uncertainty_from_options,
)
from tests.helpers.cli_configs import write_config
from tests.helpers.plans import tiny_plan_config
from tests.helpers.outputs import listing


def jacobi(data):
    """The small config on a coarser mesh with Jacobi: quick to mesh and to compile."""
    data["solver"] = {"preconditioner": "jacobi"}
    data["scene"]["mesh"] = {"size": 8, "target_size": 2, "electrode_size": 1}


def test_draws_follow_the_uncertainty_model(tmp_path):
    """Shifts, tilts and conductivity factors have the model's spread; one seed, one set."""
    cfg = load_config(write_config(tmp_path, edit=jacobi))
    u = Uncertainty(lateral=2e-3, depth=1e-3, angle=math.radians(3), cv=0.25, seed=4)
    d = draw(u, 20000, 2, cfg, ("liver", "tumour"))
    np.testing.assert_allclose(d.shift.std(axis=(0, 1)), [2e-3, 2e-3, 1e-3], rtol=0.03)
    np.testing.assert_allclose(d.tilt.std(axis=(0, 1)), math.tan(math.radians(3)), rtol=0.03)
    log_factor = np.log(d.factors[:, :, 0])
    np.testing.assert_allclose(log_factor.std(axis=0), math.sqrt(math.log1p(0.25**2)),
                               rtol=0.03)
    assert abs(np.median(d.factors[:, :, 0]) - 1.0) < 0.01
    assert np.all(d.factors[:, :, 1:] == 1.0)
    again = draw(u, 20000, 2, cfg, ("liver", "tumour"))
    assert np.array_equal(d.shift, again.shift) and np.array_equal(d.factors, again.factors)


@pytest.mark.slow
def test_zero_uncertainty_reproduces_the_nominal_run(tmp_path, capsys):
    """With no placement error and no conductivity spread every scenario is the nominal plan:
    coverage quantiles equal the run's target fractions, the probabilities are 0 or 1 where
    the nominal field is below or above the thresholds."""
    config = write_config(tmp_path, edit=jacobi)
    out = tmp_path / "out" / "small.h5"
    code = main(["run", str(config), "-o", str(out), "--no-paraview", "--no-cache",
                 "--scenarios", "2", "--placement", "0,0,0", "--cv", "0"])
    printed = capsys.readouterr().out
    assert code == 0
    results = read_results(out)
    target = next(m for m in results.metrics if m.role == "target")
    rows = (out.with_suffix(".scenarios.csv")).read_text().splitlines()
    assert rows[0] == "scenario,coverage_rev,coverage_irr,kept" and len(rows) == 1 + 2 + 3
    for row in rows[1:]:
        _, rev, irr, _ = row.split(",")
        assert float(rev) == pytest.approx(target.fraction_rev, abs=1e-6)
        assert float(irr) == pytest.approx(target.fraction_irr, abs=1e-6)
    e_irr = np.asarray(load_config(config).materials["tumour"].e_irr)
    in_target = np.asarray(results.cell_region) == results.region_names.index("tumour")
    p_irr = results.extra_fields["p_irr"]
    np.testing.assert_array_equal(p_irr[in_target], results.e_max[in_target] >= e_irr)
    assert np.all(p_irr <= results.extra_fields["p_rev"])
    assert "target coverage (E >= E_irr): P5" in printed


@pytest.mark.parametrize("options, words", [
    (["--scenarios", "0"], "at least one scenario"),
    (["--scenarios", "2", "--placement", "2,2"], "LATERAL,DEPTH,ANGLE"),
    (["--scenarios", "2", "--placement", "2,-1,3"], "at least 0"),
    (["--scenarios", "2", "--posterior", "missing.h5"], "no such posterior file"),
])
def test_bad_scenario_options(options, words, tmp_path, capsys):
    config = write_config(tmp_path, edit=jacobi)
    before = listing(tmp_path)
    assert main(["run", str(config), "--no-cache", *options]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert listing(tmp_path) == before


def test_scenarios_need_a_target(tmp_path, capsys):
    def no_target(data):
        jacobi(data)
        data["scene"]["structures"][0]["role"] = "spare"

    config = write_config(tmp_path, edit=no_target)
    assert main(["run", str(config), "--scenarios", "2"]) == 2
    assert "role: target" in capsys.readouterr().err


def test_the_config_robust_block_is_the_default_model(tmp_path):
    """`epsim run --scenarios` takes the model of the config's optimise.robust block; each
    option replaces its own part only (--cv drops the block's posterior)."""
    data = yaml.safe_load(tiny_plan_config())
    data["optimise"]["robust"] = {"placement": {"lateral": "1 mm", "depth": "3 mm",
                                                "angle": "2 deg"},
                                  "conductivity": {"posterior": "fit/posterior.h5"}, "seed": 7}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    base = config_uncertainty(path)
    assert base == Uncertainty(1e-3, 3e-3, math.radians(2), 0.0,
                               str(tmp_path / "fit" / "posterior.h5"), 7)
    assert uncertainty_from_options(None, None, None, None, base) == base
    u = uncertainty_from_options("2,2,3", 0.1, None, 3, base)
    assert u == Uncertainty(2e-3, 2e-3, math.radians(3), 0.1, None, 3)
    del data["optimise"]["robust"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert config_uncertainty(path) == Uncertainty()
