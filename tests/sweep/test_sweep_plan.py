"""Sweep plans: key paths, grid x samples x points, Latin hypercube strata, seeds, units,
command-line axes. No solves."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from epsim.config import ConfigError
from epsim.sweep import make_plan, make_chunks, parse_axis_option, parse_path
from epsim.sweep.plan import si_unit

from tests.helpers.sweep_cases import coarse_case


def plan_of(axes: dict, **block):
    data = coarse_case()
    data["sweep"] = {"axes": axes, **block}
    return make_plan(data, source="case.yaml")


def test_parse_path():
    assert parse_path("protocol.pairs[0].voltage") == ("protocol", "pairs", 0, "voltage")
    assert parse_path("electrodes[1].tip[2]") == ("electrodes", 1, "tip", 2)
    with pytest.raises(ValueError):
        parse_path("materials..sigma0")


def test_grid_product_order_and_si_values():
    plan = plan_of({
        "protocol.pairs[0].voltage": [500, "0.65 kV"],
        "materials.tumour.sigma1": {"kind": "linspace", "start": 0.6, "stop": "0.8", "num": 3},
    })
    assert len(plan.points) == 6
    volts = [p.config.protocol.pairs[0].voltage for p in plan.points]
    sigma1 = [p.config.materials["tumour"].sigma1 for p in plan.points]
    assert volts == [500.0] * 3 + [650.0] * 3  # first axis slowest
    assert sigma1 == pytest.approx([0.6, 0.7, 0.8] * 2)
    assert si_unit("materials.tumour.sigma1") == "S/m" and si_unit("electrodes[1].tip") == "m"


def test_units_of_the_file_apply_to_bare_numbers():
    plan = plan_of({"materials.tumour.e_rev": [350, "0.45 kV/cm"], "electrodes[1].tip": [[6, 0, -10]]})
    e_rev = [p.config.materials["tumour"].e_rev for p in plan.points]
    assert e_rev == pytest.approx([35000.0, 45000.0])  # V/cm from the units block, to V/m
    assert plan.points[0].config.electrodes[1].tip == pytest.approx((0.006, 0.0, -0.010))


def test_random_axes_reproducible_and_independent_of_other_axes():
    axes = {"materials.tumour.sigma0": {"kind": "lognormal", "median": 0.2, "sigma": 0.3}}
    a = plan_of(axes, samples=50, seed=3)
    b = plan_of(axes, samples=50, seed=3)
    more = plan_of({**axes, "materials.tumour.e_rev": {"kind": "normal", "mean": 400, "std": 5}},
                   samples=50, seed=3)
    other = plan_of(axes, samples=50, seed=4)
    values = lambda plan: [p.config.materials["tumour"].sigma0 for p in plan.points]  # noqa: E731
    assert values(a) == values(b) == values(more) != values(other)
    logs = np.log(values(a))
    assert abs(np.median(logs) - np.log(0.2)) < 0.15 and 0.2 < np.std(logs) < 0.4


def test_latin_hypercube_one_sample_per_stratum():
    n = 20
    plan = plan_of({
        "electrodes[1].tip": {"kind": "latin", "low": [4, -1, -10], "high": [6, 1, -10]},
        "materials.tumour.sigma1": {"kind": "latin", "low": "0.5 S/m", "high": "0.9 S/m"},
    }, samples=n, seed=1)
    tips = np.array([p.config.electrodes[1].tip for p in plan.points]) * 1e3
    sigma1 = np.array([p.config.materials["tumour"].sigma1 for p in plan.points])
    for u in ((tips[:, 0] - 4) / 2, (tips[:, 1] + 1) / 2, (sigma1 - 0.5) / 0.4):
        assert sorted(np.floor(u * n).astype(int)) == list(range(n))
    assert np.allclose(tips[:, 2], -10)


def test_explicit_points_and_grid():
    plan = plan_of(
        {"protocol.pairs[0].voltage": [600, 700]},
        points=[{"materials.tumour.sigma0": 0.1}, {"materials.tumour.sigma0": 0.3, "materials.tumour.sigma1": 0.9}],
    )
    assert len(plan.points) == 4
    assert [p.config.materials["tumour"].sigma0 for p in plan.points] == pytest.approx([0.1, 0.3] * 2)
    assert plan.paths == ("protocol.pairs[0].voltage", "materials.tumour.sigma0", "materials.tumour.sigma1")


def test_batches_group_by_mesh():
    plan = plan_of({"materials.tumour.sigma0": [0.1, 0.2, 0.3], "electrodes[1].tip[0]": [5, 6]})
    chunks = make_chunks(plan.points, 8)
    assert len(chunks) == 2 and all(len(c.points) == 3 for c in chunks)
    assert len({c.mesh_key for c in chunks}) == 2
    assert len({p.key for p in plan.points}) == 6


@pytest.mark.parametrize("option, kind, keys", [
    ("protocol.pairs[0].voltage=[800, 1000 V]", "values", {"values": [800, "1000 V"]}),
    ("protocol.pairs[0].voltage=linspace(800, 1200, 5)", "linspace", {"start": 800, "stop": 1200, "num": 5}),
    ("materials.tumour.sigma0=lognormal(0.2 S/m, 0.25)", "lognormal", {"median": "0.2 S/m", "sigma": 0.25}),
    ("electrodes[1].tip=uniform([4, 0, -10], [6, 0, -10])", "uniform", {"low": [4, 0, -10], "high": [6, 0, -10]}),
    ("materials.tumour.e_rev={kind: normal, mean: 400, std: 40}", "normal", {"mean": 400, "std": 40}),
])
def test_axis_option_forms(option, kind, keys):
    path, spec = parse_axis_option(option, yaml.safe_load)
    if isinstance(spec, list):
        spec = {"kind": "values", "values": spec}
    assert spec.pop("kind", "values") == kind and spec == keys


@pytest.mark.parametrize("axes, block, words", [
    ({"materials.tumour.sigma0": {"kind": "lognormall", "median": 0.2, "sigma": 0.3}}, {"samples": 2},
     "did you mean 'lognormal'"),
    ({"materials.tumour.sigma0": {"kind": "normal", "mean": 0.2, "std": 0.1}}, {}, "samples"),
    ({"materials.tumour.sigma0": {"kind": "uniform", "low": "0.1 S/m", "high": 0.3}}, {"samples": 2}, "one unit"),
    ({"protocol.pairs[3].voltage": [500]}, {}, "out of range"),
    ({"electrodes[1].tip": [[5, 0, -10]], "electrodes[1].tip[0]": [5]}, {}, "overlap"),
])
def test_bad_sweep_blocks(axes, block, words):
    with pytest.raises(ConfigError) as info:
        plan_of(axes, **block)
    assert words in str(info.value)
