"""Starting layouts of the count search (from the target's shape, inside the entry region, on a
guide grid), the exact segment distance against brute force, and count ranges that cannot hold
stopped before any solve (exit code 2, naming the binding constraint)."""

import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.optimise.clearance import segment_distance
from epsim.optimise.count import count_starts, pruned_data
from epsim.optimise.layouts import grid_offsets, ring_offsets, snap, target_frame
from epsim.optimise.setup import plan_yaml, planning_setup, read_request
from tests.helpers.plans import tiny_count_config, tiny_plan_config

MM = 1e-3


def test_frame_recovers_an_ellipsoids_axes():
    """A solid ellipsoid (semi-axes 8, 5, 3 mm, turned 30 degrees about z) sampled on a grid:
    seen along z the frame's semi-axes are 8 and 5 mm, u along the turned long axis."""
    g = np.linspace(-10, 10, 81) * MM
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    local = p @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])  # rows: coordinates in the body
    inside = p[np.sum((local / (np.array([8, 5, 3]) * MM)) ** 2, axis=1) <= 1.0]
    frame = target_frame(inside + np.array([1, 2, 3]) * MM, [0, 0, 1])
    assert np.allclose(frame.centre, np.array([1, 2, 3]) * MM, atol=1e-6)
    assert np.allclose(frame.semi, [8 * MM, 5 * MM], rtol=0.03)
    assert abs(abs(frame.u @ np.array([c, s, 0])) - 1.0) < 1e-3


@pytest.mark.parametrize("n", [3, 5, 6, 7, 9])
def test_ring_and_grid_offsets(n):
    ring = ring_offsets(n, (10 * MM, 6 * MM), 0.6)
    assert ring.shape == (n, 2)
    on_ellipse = (ring[:, 0] / 6e-3) ** 2 + (ring[:, 1] / 3.6e-3) ** 2
    assert np.allclose(np.sort(on_ellipse)[(1 if n >= 7 else 0):], 1.0)  # n >= 7: one central
    assert np.allclose(ring.mean(axis=0), 0.0, atol=1e-12)
    grid = grid_offsets(n, (10 * MM, 6 * MM), 0.6)
    assert len({tuple(q) for q in np.round(grid, 9)}) == n
    assert np.all(np.abs(grid) <= np.array([6e-3, 3.6e-3]) + 1e-12)


def test_snap_puts_needles_in_distinct_holes():
    offsets = np.array([[0.4, 0.2], [0.6, -0.1], [4.9, 5.2], [-3.1, 0.0]]) * MM
    holes = snap(offsets, 2 * MM) / (2 * MM)
    assert np.allclose(holes, np.round(holes))
    assert len({tuple(h) for h in holes}) == 4


def _starts(tmp_path, **optimise):
    path = tmp_path / "count.yaml"
    path.write_text(tiny_count_config(count=(3, 6), **optimise))
    cfg, block, raw = read_request(path)
    return count_starts(cfg, block, raw)


def test_layouts_lie_inside_the_entry_region_and_target(tmp_path):
    region = {"center": [1, 1, 13], "radius": 4}
    starts = _starts(tmp_path, entry_region=region, min_spacing=2)
    for start in starts:
        assert start.problem is None, start.problem
        entry = np.array([[float(x.split()[0]) for x in e["entry"]]
                          for e in start.data["electrodes"]])
        tip = np.array([[float(x.split()[0]) for x in e["tip"]]
                        for e in start.data["electrodes"]])
        assert len(entry) == start.n
        assert np.all(np.linalg.norm(entry - region["center"], axis=1) <= region["radius"])
        # parallel, towards the region; the conducting part's middle inside the 4.5 mm tumour
        middle = tip + 0.5 * start.active_length / MM * (entry - tip) / np.linalg.norm(
            entry - tip, axis=1, keepdims=True)
        assert np.all(np.linalg.norm(middle, axis=1) < 4.5)
        assert start.pairs == len(start.data["protocol"]["pairs"]) >= start.n - 1


def test_template_holds_needles_on_the_guide_grid(tmp_path):
    starts = _starts(tmp_path, needles={"diameter": 1, "count": {"min": 4, "max": 4},
                                        "active_lengths": [10], "template": {"pitch": 2.5}})
    (start,) = starts
    tip = np.array([[float(x.split()[0]) for x in e["tip"]] for e in start.data["electrodes"]])
    # the frame's axes of a sphere are x and y up to sign: holes at multiples of the pitch
    assert np.allclose(np.abs(tip[:, :2]) / 2.5, np.round(np.abs(tip[:, :2]) / 2.5), atol=1e-3)
    assert start.data["optimise"]["lateral"] is False


def _brute(a0, a1, b0, b1, n=401):
    t = np.linspace(0, 1, n)[:, None]
    p, q = a0 + t * (a1 - a0), b0 + t * (b1 - b0)
    return np.min(np.linalg.norm(p[:, None, :] - q[None, :, :], axis=-1))


def test_segment_distance_against_brute_force():
    rng = np.random.default_rng(5)
    cases = [rng.normal(size=(4, 3)) for _ in range(40)]
    a = np.array([0.0, 0, 0])
    cases += [np.array([a, [1, 0, 0], [0, 1, 0], [1, 1, 0]]),  # parallel, side by side
              np.array([a, [1, 0, 0], [2, 0.5, 0], [3, 0.5, 0]]),  # parallel, beyond the end
              np.array([a, [1, 1, 0], [1, 0, 0], [0, 1, 0]]),  # crossing: 0
              np.array([a, [1, 0, 0], [0.5, -1, 0.3], [0.5, 1, 0.3]])]  # skew, 0.3 apart
    exact = np.asarray(segment_distance(*(jnp.asarray(np.array(cases)[:, k]) for k in range(4))))
    for d, s in zip(exact, cases):  # brute force samples both segments 400 steps finely
        brute = _brute(*s)
        assert d <= brute + 1e-12
        step = (np.linalg.norm(s[1] - s[0]) + np.linalg.norm(s[3] - s[2])) / 400
        assert brute - d <= step
    assert exact[-2] == pytest.approx(0.0, abs=1e-12)
    assert exact[-1] == pytest.approx(0.3)


@pytest.mark.parametrize("optimise, words", [
    ({"entry_region": {"center": [0, 0, 13], "radius": 1.5}, "min_spacing": 4},
     "3-4 needles: binding constraint: spacing in the entry region: 3 needles at least 4 mm"),
    ({"max_voltage": 5}, "3 V / 2 rho bound"),
])
def test_impossible_count_ranges_exit_2_before_solving(tmp_path, capsys, optimise, words):
    path = tmp_path / "count.yaml"
    path.write_text(tiny_count_config(count=(3, 4), **optimise))
    code = main(["optimise", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no needle count from 3 to 4 can meet the request: 3-4 needles: binding" in err
    assert words in err
    assert not (tmp_path / "out").exists()


def test_count_block_is_checked(tmp_path, capsys):
    data = yaml.safe_load(tiny_count_config())
    data["optimise"]["needles"]["count"] = {"min": 5, "max": 3}
    path = tmp_path / "count.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["optimise", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "count min 5 > max 3" in capsys.readouterr().err


def test_count_config_needs_no_electrodes_or_pairs(tmp_path, capsys):
    """A count search makes its own needles and pairs: without `electrodes:` and
    `protocol.pairs:` it starts from the same layouts; any other config still needs both."""
    data = yaml.safe_load(tiny_count_config(count=(3, 4)))
    data["optimise"]["needles"]["model"] = "VGD-12"
    with_needles = tmp_path / "with.yaml"
    with_needles.write_text(yaml.safe_dump(data))
    del data["electrodes"], data["protocol"]["pairs"]
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump(data))
    first, second = (count_starts(*read_request(p)) for p in (with_needles, bare))
    assert [s.data["electrodes"] for s in first] == [s.data["electrodes"] for s in second]
    assert [s.data["protocol"] for s in first] == [s.data["protocol"] for s in second]
    assert all(e["model"] == "VGD-12" for s in second for e in s.data["electrodes"])
    del data["optimise"]["needles"]
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(data))
    assert main(["check", str(plain)]) == 2
    assert "electrodes: missing required key (optional only in a count search" in \
        capsys.readouterr().err


def test_plan_yaml_keeps_the_catalogue_model(tmp_path):
    """plan.yaml names the model its needles came from, and loads back as that needle."""
    data = yaml.safe_load(tiny_plan_config())
    data["electrodes"][0].update(model="VGD-18", diameter=None)
    del data["electrodes"][0]["diameter"]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg, block, raw = read_request(path)
    setup = planning_setup(cfg, block)
    _, plan = plan_yaml(raw, cfg, setup, setup.start, "plan.h5", tmp_path)
    assert [getattr(e, "model", None) for e in plan.electrodes] == ["VGD-18", None]
    assert plan.electrodes[0].diameter == pytest.approx(1.8 * MM)


def test_pruned_plan_leaves_out_the_pairs_and_takes_no_steps(tmp_path):
    """The pruned plan's config: the plan's needles and the other pairs at their voltages, no
    optimisation steps (the planner verifies it as it is)."""
    data = yaml.safe_load(tiny_plan_config())
    data["protocol"]["pairs"].append({"anode": "b", "cathode": "a", "voltage": 250})
    optimise = {**data.pop("optimise"), "linear_steps": 7}
    path = tmp_path / "pruned.yaml"
    path.write_text(yaml.safe_dump(pruned_data(yaml.safe_dump(data), optimise, ["a -> b"])))
    cfg, block, _ = read_request(path)
    setup = planning_setup(cfg, block)
    assert block.linear_steps == 0 and block.nonlinear_steps == 0
    assert setup.pair_labels == ("b -> a",) and np.allclose(setup.start.voltage, [250.0])
    assert [e.tip for e in cfg.electrodes] == [tuple(np.array(t) * MM) for t in
                                               ([-3, 0, -7], [3, 0, -7])]
