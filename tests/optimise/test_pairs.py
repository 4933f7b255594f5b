"""Pair selection: the sparsity term (a smoothed L1 norm of the pair voltages) against finite
differences and its bounds, candidate pairs by distance, a pair that adds nothing driven to zero
by projected Adam on a small scene, and dropped pairs left out of plan.yaml."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml

from epsim.optimise.count import count_starts
from epsim.optimise.evaluate import planning_objective
from epsim.optimise.objective import Weights
from epsim.optimise.pairs import (
    SPARSITY_EPS,
    candidate_pairs,
    pair_sparsity,
    redundant_pairs,
    sequence_lines,
)
from epsim.optimise.plan import Plan
from epsim.optimise.setup import plan_yaml, planning_setup, read_request
from tests.helpers.plans import tiny_count_config
from tests.helpers.scenes import MM, layout, small_case

VMAX = 3000.0


def test_sparsity_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    v = jnp.asarray(np.concatenate([rng.uniform(0, VMAX, 6), [0.0, 3.0, 60.0]]))
    grad = np.asarray(jax.grad(pair_sparsity)(v, VMAX))
    h = 1e-3
    for k in range(len(v)):
        e = jnp.zeros_like(v).at[k].set(h)
        fd = (float(pair_sparsity(v + e, VMAX)) - float(pair_sparsity(v - e, VMAX))) / (2 * h)
        assert abs(fd - grad[k]) <= 1e-6 * max(abs(grad[k]), 1e-9), (k, fd, grad[k])
    assert grad[6] == 0.0  # smooth at zero: a switched-off pair is not pushed below it


def test_sparsity_is_a_smoothed_l1_norm():
    v = np.array([0.0, 30.0, 300.0, 1500.0, 3000.0])
    s = np.array([float(pair_sparsity(jnp.asarray([x]), VMAX)) for x in v])
    l1 = v / VMAX
    assert s[0] == 0.0
    assert np.all(s <= l1 + 1e-15) and np.all(s >= l1 - SPARSITY_EPS)
    assert float(pair_sparsity(jnp.asarray(v), VMAX)) == pytest.approx(s.sum())


def test_candidates_are_the_pairs_within_max_spacing():
    square = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]]) * MM
    assert candidate_pairs(square, 12 * MM) == [(0, 1), (0, 3), (1, 2), (2, 3)]
    assert len(candidate_pairs(square, None)) == 6  # diagonals 14.1 mm too
    lines = sequence_lines(["a -> b", "b -> c", "a -> c"], [900.0, 0.0, 400.0], 50.0, 8)
    assert lines[-2:] == ["total: 2 pairs x 8 pulses = 16 pulses",
                          "dropped (voltage <= 50 V): b -> c"]


def test_sparsity_switches_off_a_pair_that_adds_nothing():
    """Two needles fire twice, the second time reversed at 2/3 of the voltage: its field is 2/3
    of the first pair's everywhere, so it adds no coverage. Voltage-only projected Adam on the
    superposition model with the sparsity term drives it to 0 V and keeps the first pair."""
    scene, goals, needles, _ = small_case(2, spare=False, size=6.0, electrode_size=1.2)
    scene = scene.__class__(**{**scene.__dict__, "anode": (0, 1), "cathode": (1, 0)})
    goals = goals.__class__(**{**{k: getattr(goals, k) for k in goals.__dataclass_fields__},
                               "firing": ((0, 1), (1, 0)), "weights": Weights(sparsity=0.05)})
    tip, axis = layout(needles, Plan(jnp.zeros((2, 3)), jnp.zeros((1, 2)), jnp.zeros(2)))
    data = scene.mesh_data(scene.mesh(tip, axis, np.asarray(needles.length)), tip, axis)
    scale = jnp.ones(2)

    @jax.jit
    def value_and_grad(v):
        def f(v):
            plan = Plan(jnp.zeros((2, 3)), jnp.zeros((1, 2)), v)
            return planning_objective(plan, needles, data, goals, scale)[0]
        return jax.value_and_grad(f)(v)

    v = jnp.array([900.0, 600.0])
    opt = optax.adam(100.0)
    state = opt.init(v)
    for _ in range(12):
        _, g = value_and_grad(v)
        step, state = opt.update(g, state)
        v = jnp.clip(v + step, 0.0, VMAX)
    assert float(v[1]) == 0.0
    assert float(v[0]) > 300.0


def test_dropped_pairs_are_not_written(tmp_path):
    path = tmp_path / "count.yaml"
    path.write_text(tiny_count_config(count=(3, 3), drop_voltage=50))
    cfg, block, raw = read_request(path)
    start = count_starts(cfg, block, raw)[0]
    assert len(start.data["protocol"]["pairs"]) == 3
    (tmp_path / "start.yaml").write_text(yaml.safe_dump(start.data))
    cfg, block, raw = read_request(tmp_path / "start.yaml")
    setup = planning_setup(cfg, block)
    plan = Plan(setup.start.shift, setup.start.tilt, jnp.array([600.0, 20.0, 500.0]))
    text, resolved = plan_yaml(raw, cfg, setup, plan, "plan.h5", tmp_path)
    assert [(p.anode, p.cathode) for p in resolved.protocol.pairs] == [("n1", "n2"),
                                                                       ("n2", "n3")]
    assert "total: 2 pairs x 8 pulses = 16 pulses" in text
    assert "dropped (voltage <= 50 V): n1 -> n3" in text


def test_redundant_pairs_by_hand():
    """A covers cells {0, 1}, B {1, 2}, C {0, 1, 2}: A and B are each covered by C (and C by
    A and B together); the lowest voltage goes first (A), then B, which C still covers; C
    alone reaches a cell then and stays."""
    covered = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=bool)
    assert redundant_pairs(covered, np.ones(3), [100.0, 200.0, 300.0]) == [0, 1]
    assert redundant_pairs(covered, np.ones(3), [300.0, 200.0, 100.0]) == [2]  # C first: then
    # A alone reaches cell 0 and B cell 2


@pytest.mark.parametrize("seed", range(4))
def test_redundant_pairs_keep_every_covered_cell(seed):
    """Random coverage of 12 pairs over 300 cells (60 % each): leaving out the returned pairs
    covers the same cells, and every pair left reaches some volume no other pair left reaches."""
    rng = np.random.default_rng(seed)
    covered = rng.random((12, 300)) < 0.6
    volumes = rng.uniform(0.5, 2.0, 300)
    drop = redundant_pairs(covered, volumes, rng.uniform(100, 3000, 12))
    keep = [p for p in range(12) if p not in drop]
    assert len(set(drop)) == len(drop) and drop  # 12 pairs at 60 % each overlap a lot
    assert np.array_equal(covered[keep].any(axis=0), covered.any(axis=0))
    for p in keep:
        others = covered[[q for q in keep if q != p]].any(axis=0)
        assert volumes @ (covered[p] & ~others) > 0
