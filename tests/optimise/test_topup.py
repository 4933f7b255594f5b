"""A verified coverage short of the goal: the voltages go up together, by a factor predicted
from the verified field, until the fresh mesh reaches it, unless that breaks another constraint
or needs more than the raise's limit. A verified current just over the limit with the goal met:
the voltages go down together, unless that loses the goal."""

import dataclasses

import numpy as np
import pytest

from epsim.optimise.constraints import (
    RAISE_LIMIT,
    constraint_rows,
    needed_raise,
    topped_up,
    trim_factors,
    trimmed,
)
from epsim.optimise.feasibility import Row
from epsim.optimise.recovery import Events, MeshFaults
from epsim.optimise.setup import plan_yaml, planning_setup, read_request
from epsim.optimise.verify import verify
from epsim.runner import run_config
from tests.helpers.plans import tiny_plan_config


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The tiny plan's start verified on a fresh mesh, and its coverage there (53 %)."""
    folder = tmp_path_factory.mktemp("topup")
    path = folder / "tiny.yaml"
    path.write_text(tiny_plan_config())
    cfg, block, raw = read_request(path)
    setup = planning_setup(cfg, block)

    def make_config(plan, size_scale):
        return plan_yaml(raw, cfg, setup, plan, "plan.h5", folder, size_scale=size_scale)

    kept = verify([("the chosen plan", setup.start)], make_config, run_config,
                  events=Events(), faults=MeshFaults(), gap=0.5e-3)
    start = constraint_rows(setup, kept.plan, kept.results)[0].value
    return setup, make_config, kept, start


def with_goal(setup, goal_percent, **goals):
    block = setup.block.model_copy(update={"coverage_goal": goal_percent / 100})
    return dataclasses.replace(setup, block=block,
                               goals=dataclasses.replace(setup.goals, **goals))


def _common_factor(kept, topped) -> float:
    """The common factor of a topped-up plan's voltages (asserting that it is common)."""
    ratio = np.asarray(topped.plan.voltage) / np.asarray(kept.plan.voltage)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    return float(ratio[0])


def test_the_predicted_raise_grows_with_the_goal(scene):
    setup, _, kept, start = scene
    materials, therapy = setup.target_materials, setup.block.therapy
    factors = [needed_raise(kept.results, materials, therapy, (start + d) / 100)
               for d in (0.0, 2.0, 10.0)]
    assert factors[0] == pytest.approx(1.0, abs=2e-3)  # the coverage it has needs no raise
    assert 1.0 < factors[1] < factors[2]


def test_a_shortfall_is_closed_by_raising_every_voltage_together(scene):
    setup, make_config, kept, start = scene
    goal_setup = with_goal(setup, start + 3.0)
    events = Events()
    topped = topped_up(kept, goal_setup, make_config, run_config, events)
    factor = _common_factor(kept, topped)
    assert 1.0 < factor <= 1.0 + RAISE_LIMIT
    rows = constraint_rows(goal_setup, topped.plan, topped.results)
    assert rows[0].status == "ok" and all(r.status != "VIOLATED" for r in rows)
    written = [pair.voltage for pair in topped.config.protocol.pairs]  # the plan.yaml to write
    np.testing.assert_allclose(written, np.asarray(kept.plan.voltage) * factor, rtol=1e-3)
    what = [w for _, w, _ in events.rows]
    assert what[-1] == f"voltages raised {100 * (factor - 1):.1f} %"
    assert all(w.endswith("short of the goal") for w in what[:-1]) and len(what) <= 3


def test_a_raise_that_breaks_a_limit_keeps_the_plan(scene):
    setup, make_config, kept, start = scene
    current = float(np.max(np.abs(kept.results.current)))
    tight = with_goal(setup, start + 3.0, max_current=1.001 * current)
    events = Events()
    assert topped_up(kept, tight, make_config, run_config, events) is kept
    assert [w for _, w, _ in events.rows][-1].endswith("breaks a constraint")
    at_limit = with_goal(setup, start + 3.0, max_voltage=float(np.max(kept.plan.voltage)))
    events = Events()
    assert topped_up(kept, at_limit, make_config, run_config, events) is kept
    assert [w for _, w, _ in events.rows] == ["voltages not raised"]  # no room: no try


def test_a_goal_beyond_the_raise_limit_keeps_the_plan(scene):
    setup, make_config, kept, start = scene
    far = with_goal(setup, 99.0)  # needs over twice the voltage on this mesh
    assert needed_raise(kept.results, setup.target_materials, "ect", 0.99) > 1 + RAISE_LIMIT
    events = Events()
    assert topped_up(kept, far, make_config, run_config, events) is kept
    assert [w for _, w, _ in events.rows] == [
        f"voltages raised {100 * RAISE_LIMIT:.1f} %: short of the goal", "voltages not raised"]


def test_a_current_just_over_the_limit_is_closed_by_lowering_every_voltage(scene):
    setup, make_config, kept, start = scene
    current = float(np.max(np.abs(kept.results.current)))
    goal = start - 5.0  # met with room
    over = with_goal(setup, goal, max_current=0.97 * current)
    events = Events()
    assert topped_up(kept, over, make_config, run_config, events) is kept  # nothing to raise
    lowered = trimmed(kept, over, make_config, run_config, events)
    factor = _common_factor(kept, lowered)
    assert 0.9 < factor < 0.97
    rows = constraint_rows(over, lowered.plan, lowered.results)
    assert all(r.status != "VIOLATED" for r in rows)
    assert float(np.max(np.abs(lowered.results.current))) <= 0.97 * current
    assert [w for _, w, _ in events.rows][-1] == f"voltages lowered {100 * (1 - factor):.1f} %"


def test_a_lowering_that_loses_the_goal_keeps_the_plan(scene):
    setup, make_config, kept, start = scene
    current = float(np.max(np.abs(kept.results.current)))
    tight = with_goal(setup, start - 0.05, max_current=0.9 * current)  # goal met by a hair
    events = Events()
    assert trimmed(kept, tight, make_config, run_config, events) is kept
    assert [w for _, w, _ in events.rows][-1].endswith("breaks a constraint")
    met = with_goal(setup, start - 5.0)  # every limit holds: nothing to lower
    assert trimmed(kept, met, make_config, run_config, Events()) is kept


def test_only_the_pairs_over_the_current_limit_are_lowered():
    """Pairs fire one at a time: a pair over the limit is lowered by its own current's ratio,
    the others keep their voltages; a spared field over its limit lowers every pair."""

    class Fired:  # what trim_factors reads of a results file: each pair's current
        current = np.array([40.0, -52.0, 49.0, 60.0])

    over = [Row("pair current (max)", 60.0, 50.0, "max", "A")]
    factors = trim_factors(over, Fired)
    np.testing.assert_allclose(factors, [1.0, 0.99 * 50 / 52, 1.0, 0.99 * 50 / 60])
    field = Row("blood: max field / E_irr", 1.1, 1.0, "max")
    np.testing.assert_allclose(trim_factors([field], Fired), np.full(4, 0.99 / 1.1))
    both = trim_factors([*over, field], Fired)
    np.testing.assert_allclose(both, np.minimum(factors, 0.99 / 1.1))
