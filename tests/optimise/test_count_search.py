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
