"""The count search end to end on a tiny scene: counts tried in increasing order, the first whose
fresh-mesh verification meets every goal and limit is chosen, larger counts are not planned, no
pair that adds no coverage is left in, and the chosen plan.yaml runs as it is. No optimisation
steps (each count's plan is its starting layout), so that the test checks the search, not the
optimiser."""

import numpy as np
import pytest

from epsim.config import load_config
from epsim.optimise import run_planning
from epsim.optimise.audit import Audit
from epsim.optimise.count import CountRow, covered_cells
from epsim.optimise.driver import ScreenedOut, checked_coverage
from epsim.optimise.pairs import redundant_pairs
from tests.helpers.plans import tiny_count_config


@pytest.mark.slow
def test_count_search_picks_the_smallest_count(tmp_path):
    path = tmp_path / "count.yaml"
    # a 600 V generator: two needles cannot reach the goal, even with their voltage raised
    # by the verification (at 900 V they reach it at their start voltage plus 12.6 %)
    path.write_text(tiny_count_config(count=(2, 4), linear_steps=0, nonlinear_steps=0,
                                      max_voltage=600))
    report = run_planning(path, tmp_path / "out", render=False)
    assert [r.n for r in report.rows] == [2, 3]
    first, chosen = report.rows
    assert not first.ok and chosen.ok and report.chosen is chosen
    cover = [r.report.rows[0].value for r in report.rows]
    assert cover[0] < 99.0 <= cover[1]
    assert not (tmp_path / "out" / "count_4").exists()
    plan = load_config(tmp_path / "out" / "plan.yaml")
    assert len(plan.electrodes) == 3
    # every pair of the plan adds coverage on its verification (none was left to prune: each
    # pair of the triangle reaches cells the other two do not)
    setup, results = chosen.report.setup, chosen.report.verification
    covered, volumes = covered_cells(results, setup.target_materials, "ect")
    assert covered.shape == (3, len(volumes)) and covered.any(axis=0).sum() > 0
    share = covered.any(axis=0) @ volumes / volumes.sum()
    assert 100 * share == pytest.approx(chosen.coverage, abs=1e-9)  # the table's coverage
    assert redundant_pairs(covered, volumes, results.voltage) == []
    assert chosen.pruned is None and len(plan.protocol.pairs) == 3
    text = (tmp_path / "out" / "report.txt").read_text()
    assert "chosen: 3 needles" in text and "VIOLATED: target coverage" in text
    assert np.isfinite(chosen.seconds) and chosen.seconds > 0


def test_screen_reads_the_best_nonlinear_check_of_the_gradient_stages():
    """The screen judges a count by the best nonlinear check (optimiser "check", nonlinear,
    phase adam) the audit holds; linear checks, baseline checks and steps do not count; a
    screened count is listed with that check, not verified."""
    audit = Audit(("n1", "n2"), ("n1 -> n2",), ())
    assert checked_coverage(audit) is None
    for optimiser, nonlinear, phase, cover in [("check", False, "adam", 0.99),
                                               ("check", True, "adam", 0.95),
                                               ("adam", True, "adam", 0.999),
                                               ("check", True, "cmaes", 0.998),
                                               ("check", True, "adam", 0.97)]:
        audit.record(optimiser=optimiser, nonlinear=nonlinear, phase=phase, coverage=cover)
    assert checked_coverage(audit) == 0.97
    out = ScreenedOut(0.97)
    row = CountRow(3, 0.03, 3, failure=f"{out}, below the goal less 1 points; not verified",
                   screened=out.coverage)
    assert not row.ok and "screened out: best nonlinear check of the linear stage 97.00 %" \
        in row.line()
