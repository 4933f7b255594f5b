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
