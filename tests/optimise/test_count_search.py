"""The count search end to end on a tiny scene: counts tried in increasing order, the first whose
fresh-mesh verification meets every goal and limit is chosen, larger counts are not planned, and
the chosen plan.yaml runs as it is. No optimisation steps (each count's plan is its starting
layout), so that the test checks the search, not the optimiser."""

import numpy as np
import pytest

from epsim.config import load_config
from epsim.optimise import run_planning
from tests.helpers.plans import tiny_count_config


@pytest.mark.slow
def test_count_search_picks_the_smallest_count(tmp_path):
    path = tmp_path / "count.yaml"
    path.write_text(tiny_count_config(count=(2, 4), linear_steps=0, nonlinear_steps=0))
    report = run_planning(path, tmp_path / "out", render=False)
    assert [r.n for r in report.rows] == [2, 3]
    first, chosen = report.rows
    assert not first.ok and chosen.ok and report.chosen is chosen
    cover = [r.report.rows[0].value for r in report.rows]
    assert cover[0] < 99.0 <= cover[1]
    assert not (tmp_path / "out" / "count_4").exists()
    plan = load_config(tmp_path / "out" / "plan.yaml")
    assert len(plan.electrodes) == 3 and len(plan.protocol.pairs) == 3
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "chosen: 3 needles" in text and "VIOLATED: target coverage" in text
    assert np.isfinite(chosen.seconds) and chosen.seconds > 0


@pytest.mark.slow
def test_screen_stops_a_count_before_the_nonlinear_stage(tmp_path):
    """A count whose linear-stage nonlinear checks stay below goal - screen_margin is not planned
    further nor verified: no plan, no verification, listed as screened out with that check."""
    path = tmp_path / "count.yaml"
    needles = {"diameter": 1, "count": {"min": 2, "max": 2}, "active_lengths": [6, 10, 14],
               "screen_margin": 0.0}
    path.write_text(tiny_count_config(linear_steps=1, nonlinear_steps=0, needles=needles))
    report = run_planning(path, tmp_path / "out", render=False)
    (row,) = report.rows
    assert row.report is None and report.chosen is None
    assert 0.0 < row.screened < 0.99  # the start's check (the unchanged config's test: < 99 %)
    assert f"{100 * row.screened:.2f} %" in row.line() and "screened out" in row.line()
    kept = sorted(p.name for p in (tmp_path / "out" / "count_2").iterdir())
    assert [k for k in kept if not k.startswith(".")] == ["start.yaml"]  # and epsim's ledger
    assert "WARNING: no needle count meets" in (tmp_path / "out" / "report.txt").read_text()
