"""`epsim optimise` with an `optimise: robust:` block: the robust plan's report, plan sheet and
verification file hold the scenario quantiles and per-cell probabilities; bad blocks exit 2."""

import json

import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.io import read_results
from tests.helpers.plans import tiny_plan_config

ROBUST = {"placement": {"lateral": "1 mm", "depth": "1 mm", "angle": "2 deg"},
          "conductivity": {"cv": 0.2}, "scenarios": 2, "seed": 0}


def write_config(tmp_path, robust, **optimise):
    data = yaml.safe_load(tiny_plan_config())
    data["optimise"].update(robust=robust, **optimise)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("robust, words", [
    ({"scenarios": 0}, "scenarios"),
    ({"conductivity": {"cv": -0.1}}, "cv"),
    ({"conductivity": {"cv": 0.2, "posterior": "p.h5"}}, "one of cv or posterior"),
    ({"objective": {"alpha": 1.0}}, "alpha"),
    ({"objective": {"mean": 0, "cvar": 0}}, "nothing to minimise"),
    ({"placement": {"lateral": "-1 mm"}}, "lateral"),
    ({"placement": {"angle": 3}}, "angle"),  # a bare number: the file's angle unit is not set
    ({"conductivity": {"posterior": "missing.h5"}}, "missing.h5"),
])
def test_bad_robust_blocks_exit_2_with_one_line(tmp_path, capsys, robust, words):
    path = write_config(tmp_path, robust)
    assert main(["optimise", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_robust_plan_reports_quantiles_and_probabilities(tmp_path, capsys):
    path = write_config(tmp_path, ROBUST, linear_steps=1, nonlinear_steps=0)
    out = tmp_path / "out"
    assert main(["optimise", str(path), "-o", str(out), "--no-render"]) == 0
    report = (out / "report.txt").read_text()
    assert "robust plan: 0.5 x mean + 0.5 x CVaR_0.9 of the objective over 2 scenarios" in report
    table = json.loads((out / "plan.json").read_text())["tables"]["uncertainty"]
    assert [r["quantile"] for r in table["rows"]] == ["P5", "P50", "P95"]
    for key in ("rev", "irr"):  # quantiles are ordered coverage percentages
        q = [r[key] for r in table["rows"]]
        assert 0 <= q[0] <= q[1] <= q[2] <= 100
        assert f"P50 {q[1]:.1f}%" in report
    results = read_results(out / "verification.h5")
    p_rev, p_irr = results.extra_fields["p_rev"], results.extra_fields["p_irr"]
    assert p_rev.shape == p_irr.shape == (len(results.cells),)
    # shares of 2 scenarios; E_irr > E_rev, so E >= E_irr implies E >= E_rev in every scenario
    assert set(np.unique(np.concatenate([p_rev, p_irr]))) <= {0.0, 0.5, 1.0}
    assert np.all(p_irr <= p_rev) and p_rev.max() == 1.0
