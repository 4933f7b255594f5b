"""The twin experiment (issue 14, must-shows 1-3): currents simulated from known parameters with
2 % noise, fitted back on the same four-needle mesh.

One coarse mesh and one compiled forward map serve every test here (module fixture). The
coverage of the 95 % intervals is checked on 8 seeds here and on 50 seeds in
benchmarks/bench_calibrate.py (`--seeds 50`), which reports the rate.
"""

import numpy as np
import pytest
import yaml

from epsim.calibrate.fit import not_identified
from epsim.io.posterior import read_posterior
from epsim.cli import main
from epsim.config import load_config
from tests.helpers.calibration import (
    TRUTH,
    Twin,
    protocol,
    start,
    twin_config_data,
    write_twin_config,
)
from tests.helpers.outputs import listing

SEEDS = 8


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    return Twin(tmp_path_factory.mktemp("twin"))


def test_jacobian_matches_central_differences(twin):
    """d log(current) / d theta through the implicit adjoint against central differences of
    the forward map, for sigma0, the ratio and the threshold, below and above the threshold."""
    rows = [("a", "b", 500.0), ("a", "c", 1000.0), ("b", "d", 1500.0)]
    problem = twin.problem(rows, ("sigma0", "ratio", "e_rev"))
    theta = twin.truth(problem)
    _, jacobian, ok = problem.evaluate(theta)
    assert ok
    h = 1e-4
    columns = []
    for k in range(len(theta)):
        step = np.zeros_like(theta)
        step[k] = h
        plus, _, _ = problem.evaluate(theta + step)
        minus, _, _ = problem.evaluate(theta - step)
        columns.append((plus - minus) / (2 * h))
    central = np.stack(columns, axis=1)
    scale = np.max(np.abs(central), axis=1, keepdims=True)
    assert np.max(np.abs(jacobian - central) / scale) < 1e-3
    # every conductivity scaled by one factor scales the current by it: d log I / d log sigma0 = 1
    np.testing.assert_allclose(jacobian[:, 0], 1.0, atol=1e-6)


def test_twin_recovers_sigma0_and_intervals_cover_the_truth(twin):
    """Six pairs at three voltages, 2 % noise, starts between 0.5 and 2 times the truth:
    sigma0 within 5 % on every seed, the 95 % intervals cover the truth on at least 7 of 8."""
    problem = twin.problem(protocol())
    truth = np.array([TRUTH[name] for name in problem.names])
    covered = np.zeros(len(truth))
    for seed in range(SEEDS):
        fit = twin.observe(problem, seed).fit(0.02, theta0=start(problem, seed))
        assert fit.converged
        estimate = fit.values(problem.params)
        assert abs(estimate[0] / truth[0] - 1.0) < 0.05, (seed, estimate)
        low, high = fit.interval(problem.params)
        covered += (low <= truth) & (truth <= high)
    assert np.all(covered >= SEEDS - 1), covered


def test_single_voltage_leaves_ratio_and_threshold_unidentified(twin):
    """One voltage: the combination of sigma1/sigma0 and the threshold keeps most of its prior
    variance and is flagged; one sub-threshold pulse (50 V, where sigma = sigma0 in every cell:
    its Jacobian row is (1, 0, 0)) pins sigma0 and narrows its interval over tenfold."""
    kinds = ("sigma0", "ratio", "e_rev")
    single = twin.observe(twin.problem(protocol([1000.0]), kinds), seed=0)
    fit_single = single.fit(0.02)
    flagged = dict(not_identified(fit_single, single.names))
    assert "liver.ratio with liver.e_rev" in flagged, flagged

    extra = twin.observe(twin.problem(protocol([1000.0], [("a", "c", 50.0)]), kinds), seed=0)
    fit_extra = extra.fit(0.02)
    np.testing.assert_allclose(fit_extra.jacobian[-1], [1.0, 0.0, 0.0], atol=1e-9)
    assert not_identified(fit_extra, extra.names) == []
    factor = fit_single.sd[0] / fit_extra.sd[0]
    assert factor > 10.0, factor  # 13.8 on this mesh


@pytest.mark.slow
def test_calibrate_command_end_to_end(twin, tmp_path, capsys):
    """`epsim calibrate` on a CSV of the twin's noisy currents: the estimate of the fit in
    process, a materials.yaml a config loads to it, posterior samples around it, the report;
    a second run without --overwrite refuses (exit 2) and leaves the files alone."""
    problem = twin.observe(twin.problem(protocol()), seed=3)
    m = problem.measurements
    lines = ["anode,cathode,voltage_V,current_A,pulse"]
    lines += [f"{a},{c},{v:g},{i:.17g},0" for a, c, v, i in zip(m.anode, m.cathode, m.voltage,
                                                          m.current)]
    csv = tmp_path / "currents.csv"
    csv.write_text("\n".join(lines) + "\n")
    config = write_twin_config(tmp_path)
    out = tmp_path / "fit"
    args = ["calibrate", str(config), "--measurements", str(csv), "-o", str(out), "--no-cache",
            "--samples", "400"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert listing(out) == ["materials.yaml", "posterior.h5", "report.txt"]
    report = (out / "report.txt").read_text()
    assert report in printed and "a -> b: 3 pulse(s)" in report and "converged" in report

    expected = problem.fit(0.02).values(problem.params)  # the same fit, in process
    data = twin_config_data()
    data["materials"] = yaml.safe_load((out / "materials.yaml").read_text())["materials"]
    (tmp_path / "calibrated.yaml").write_text(yaml.safe_dump(data))
    liver = load_config(tmp_path / "calibrated.yaml").materials["liver"]
    np.testing.assert_allclose([liver.sigma0, liver.sigma1 / liver.sigma0], expected, rtol=1e-5)
    assert "calibrated by epsim calibrate" in liver.provenance.electrical

    names, samples = read_posterior(out / "posterior.h5")
    assert names == ("liver.sigma0", "liver.ratio") and samples.shape == (400, 2)
    log_sigma0 = np.log(samples[:, 0])
    assert abs(np.mean(log_sigma0) - np.log(expected[0])) < 4 * np.std(log_sigma0) / 20

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
