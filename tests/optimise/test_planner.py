"""`epsim optimise` end to end on a small scene: plan, audit, verification, report."""

import h5py
import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.config import load_config, needle_axes
from tests.helpers.plans import PLAN_CONFIG as CONFIG



@pytest.mark.slow
def test_optimise_writes_a_plan_that_run_accepts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    config = tmp_path / "small.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "plan"
    assert main(["optimise", str(config), "-o", str(out), "--no-render"]) == 0
    report = capsys.readouterr().out
    for name in ("plan.yaml", "audit.h5", "verification.h5", "initial.h5", "convergence.png",
                 "report.txt"):
        assert (out / name).is_file(), name

    # the plan is a config `epsim run` accepts unchanged: same scene, moved needles, voltages
    assert main(["check", str(out / "plan.yaml")]) == 0
    plan = load_config(out / "plan.yaml")
    start = load_config(config)
    assert plan.scene.structures == start.scene.structures
    assert "optimise" not in yaml.safe_load((out / "plan.yaml").read_text())
    volts = [p.voltage for p in plan.protocol.pairs]
    assert volts[0] > 300 and volts[0] <= 700 + 1e-6
    moved = [n.tip for n in needle_axes(plan)] != [n.tip for n in needle_axes(start)]
    assert moved

    # the audit keeps every candidate of both optimisers and both starts
    with h5py.File(out / "audit.h5") as f:
        c = f["candidates"]
        optimisers = {s.decode() for s in c["optimiser"][()]}
        assert {"adam", "cmaes", "check"} <= optimisers
        assert set(c["start"][()]) >= {0, 1}
        n = len(c["objective"])
        assert c["voltage"].shape == (n, 1) and c["tip"].shape == (n, 2, 3)
        assert np.all(np.isfinite(c["coverage"][()]))

    # both numbers reported; the voltage limit binds and the missed goal is a warning
    assert "coverage, planning model (moved mesh)" in report
    assert "coverage, verification (fresh mesh)" in report
    assert "pair voltage (max)" in report
    assert "WARNING: the plan violates: target coverage" in report
    with h5py.File(out / "verification.h5") as f, h5py.File(out / "initial.h5") as g:
        assert f["metrics/tumour/fraction_rev"][()] > g["metrics/tumour/fraction_rev"][()]
