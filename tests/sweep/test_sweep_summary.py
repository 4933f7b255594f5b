"""Points that do not converge are recorded as failed (status, NaN metrics) and left out of the
statistics; the summary's quantiles are those of the converged points."""

from __future__ import annotations

import numpy as np
import pytest

from epsim.sweep import make_plan, read_table, run_sweep, summarise
from epsim.sweep.store import SweepTable
from epsim.sweep.plot import plot_coverage
from epsim.sweep.summary import format_summary

from tests.helpers.sweep_cases import coarse_case


def synthetic(coverage, converged) -> SweepTable:
    n = len(coverage)
    nan = np.full(n, np.nan)
    return SweepTable(
        index=np.arange(n), key=np.array([f"k{i}" for i in range(n)]), chunk=np.array(["c"] * n),
        parameters={"materials.tumour.sigma0": np.linspace(0.1, 0.3, n)},
        status=np.where(converged, "ok", "not converged: a->b"), converged=np.asarray(converged),
        coverage_rev=np.asarray(coverage, float), coverage_irr=0.5 * np.asarray(coverage, float),
        max_current=np.ones(n), current=np.ones((n, 1)), residual=nan[:, None],
        iterations=np.ones((n, 1), int), linear_iterations=np.ones((n, 1), int),
        fraction_rev={}, fraction_irr={},
    )


def test_statistics_of_converged_points_only(tmp_path):
    coverage = np.r_[np.linspace(0.0, 1.0, 101), np.nan, 0.123]
    converged = np.r_[np.ones(101, bool), False, False]
    (design,) = summarise(synthetic(coverage, converged))  # no design axis: one design point
    rev = design.stats[0]
    assert (rev.n, rev.n_failed) == (101, 2)
    assert rev.mean == pytest.approx(0.5) and rev.q50 == pytest.approx(0.5)
    assert (rev.q05, rev.q95) == pytest.approx((0.05, 0.95))
    assert rev.std == pytest.approx(np.std(np.linspace(0, 1, 101), ddof=1))
    assert "2 failed" in format_summary(synthetic(coverage, converged))
    png = plot_coverage(synthetic(coverage, converged), tmp_path / "c.png")
    written = [p.name for p in tmp_path.iterdir() if p.name != ".epsim-outputs"]  # + manifest
    assert png.read_bytes()[:4] == b"\x89PNG" and written == ["c.png"]


def test_point_that_does_not_converge_is_recorded_as_failed(tmp_path, mesh_cache):
    data = coarse_case(samples=1, max_iterations=1)  # one Newton step cannot reach rtol 1e-11
    plan = make_plan(data, source="case.yaml", base_dir=tmp_path)
    report = run_sweep(plan, tmp_path / "out", workers=0, plot=False)
    assert report.complete  # the sweep itself finished: failed points are results
    table = read_table(report.table)
    assert not table.converged.any()
    assert all(s.startswith("not converged: a->b (residual") for s in table.status)
    assert np.isnan(table.coverage_rev).all() and np.isnan(table.current).all()
    assert (table.residual > 1e-11).all() and (table.iterations == 1).all()
    assert table.attrs["n_failed"] == 2
    assert "0 converged, 2 failed" in report.summary


def test_geometry_axis_gets_a_mesh_per_point(tmp_path, mesh_cache):
    data = coarse_case()
    data["sweep"] = {"axes": {"electrodes[1].tip[0]": [5, 7]}}  # mm: moves needle b
    plan = make_plan(data, source="case.yaml", base_dir=tmp_path)
    assert len({p.mesh_key for p in plan.points}) == 2
    report = run_sweep(plan, tmp_path / "out", workers=0, plot=False)
    table = read_table(report.table)
    assert len(report.chunks_run) == 2 and all(table.status == "ok")
    cells = {int(np.load(f)["n_cells"]) for f in (tmp_path / "out" / "chunks").glob("*.npz")}
    assert len(cells) == 2  # two meshes
    assert table.parameters["electrodes[1].tip[0]"] == pytest.approx([0.005, 0.007])  # SI
    # a wider gap at the same voltage: weaker field, less of the tumour above E_rev
    assert table.coverage_rev[1] < table.coverage_rev[0]


def grid_table(roles) -> SweepTable:
    """15 voltages (design) x 3 values of E_rev (V/m in the table, V/cm in the config)."""
    table = synthetic(np.linspace(0.4, 1.0, 45), np.ones(45, bool))
    table.parameters = {"protocol.pairs[0].voltage": np.repeat(np.linspace(500, 1200, 15), 3),
                        "materials.tumour.e_rev": np.tile([3.5e4, 4e4, 4.5e4], 15)}
    table.roles = roles
    table.config_units = {"protocol.pairs[0].voltage": "V", "materials.tumour.e_rev": "V/cm"}
    return table


def test_design_points_in_config_units_and_a_colour_bar_beyond_twelve(tmp_path):
    table = grid_table({"protocol.pairs[0].voltage": "design", "materials.tumour.e_rev": "uncertainty"})
    designs = summarise(table)
    assert len(designs) == 15 and all(len(d.design.rows) == 3 for d in designs)
    assert designs[0].design.label == "protocol.pairs[0].voltage = 500 V"
    assert designs[0].stats[0].mean == pytest.approx(np.mean(table.coverage_rev[:3]))
    from epsim.sweep.plot import coverage_figure

    fig = coverage_figure(table)
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)  # 15 colours: a colour bar
    assert fig.axes[1].get_xlabel() == "materials.tumour.e_rev (V/cm)"


def test_a_pure_grid_gives_one_line_per_design_point():
    table = grid_table({"protocol.pairs[0].voltage": "design", "materials.tumour.e_rev": "design"})
    lines = format_summary(table).splitlines()
    assert lines[0] == "45 point(s) in 45 design point(s), 45 converged, 0 failed"
    assert lines[2].startswith("design point") and "coverage_rev %" in lines[2]
    assert lines[3].startswith("protocol.pairs[0].voltage = 500 V, materials.tumour.e_rev = 350 V/cm")
    assert len(lines) == 3 + 45
