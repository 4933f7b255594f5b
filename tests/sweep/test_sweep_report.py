"""What a sweep reports (issue 16): one design axis (the voltage) and two uncertainty axes give a
summary per design point with the statistics of its samples; sweep.csv equals the sweep.h5
table; coverage.png in the config's units, one colour per design point, ticks apart; one point
per chunk on a CPU, so progress moves per point; clear errors from read_table."""

from __future__ import annotations

import csv
import math
import re

import h5py
import numpy as np
import pytest

from epsim.errors import InputError
from epsim.sweep import make_plan, read_table, run_sweep
from epsim.sweep.export import table_columns
from epsim.sweep.plot import coverage_figure
from epsim.sweep.summary import summarise

from tests.helpers.sweep_cases import coarse_case

VOLTAGE = "protocol.pairs[0].voltage"


@pytest.fixture(scope="module")
def swept(tmp_path_factory, mesh_cache):
    """2 voltages (design) x 2 draws of tumour sigma0 and E_rev (uncertainty), in-process."""
    tmp = tmp_path_factory.mktemp("report")
    data = coarse_case()
    data["sweep"] = {"samples": 2, "seed": 3, "axes": {
        VOLTAGE: [500, 650],
        "materials.tumour.sigma0": {"kind": "lognormal", "median": 0.2, "sigma": 0.25},
        "materials.tumour.e_rev": {"kind": "normal", "mean": 400, "std": 40},
    }}
    plan = make_plan(data, source="case.yaml", base_dir=tmp)
    chunks = []
    report = run_sweep(plan, tmp / "out", workers=0, on_chunk=lambda c, _: chunks.append(c))
    return plan, report, chunks


def test_summary_per_design_point(swept):
    plan, report, _ = swept
    table = read_table(report.out_dir)
    assert table.roles == {VOLTAGE: "design", "materials.tumour.sigma0": "uncertainty",
                           "materials.tumour.e_rev": "uncertainty"}
    designs = summarise(table)
    assert [d.design.label for d in designs] == [f"{VOLTAGE} = 500 V", f"{VOLTAGE} = 650 V"]
    for d, volts in zip(designs, (500.0, 650.0)):
        rows = d.design.rows
        assert len(rows) == 2 and np.all(table.parameters[VOLTAGE][rows] == volts)
        assert d.stats[0].mean == pytest.approx(np.mean(table.coverage_rev[rows]), rel=1e-12)
        assert d.stats[0].std == pytest.approx(np.std(table.coverage_rev[rows], ddof=1), rel=1e-12)
    # the higher voltage covers more: pooling the two would have hidden that
    assert designs[1].stats[0].mean > designs[0].stats[0].mean
    text = (report.out_dir / "summary.txt").read_text()
    assert "4 point(s) in 2 design point(s), 4 converged, 0 failed" in text
    assert f"design axes: {VOLTAGE}; uncertainty axes: materials.tumour.sigma0" in text
    assert f"design point 1: {VOLTAGE} = 500 V (2 point(s), 2 converged)" in text
    assert f"design point 2: {VOLTAGE} = 650 V (2 point(s), 2 converged)" in text
    mean_500 = re.search(r"500 V .*\n.*\n\s+coverage_rev %\s+([\d.]+)", text).group(1)
    assert float(mean_500) == pytest.approx(100 * designs[0].stats[0].mean, abs=1e-3)


def test_csv_equals_the_hdf5_table(swept):
    _, report, _ = swept
    assert report.csv == report.out_dir / "sweep.csv"
    with open(report.csv, newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    expected = table_columns(read_table(report.table))
    assert head == [f"{n} [{u}]" if u else n for n, u, _ in expected]
    assert f"{VOLTAGE} [V]" in head and "max_current [A]" in head and "design" in head
    assert len(body) == 4
    for j, (name, _, values) in enumerate(expected):
        for row, value in zip(body, values):
            text = row[j]
            if isinstance(value, (bool, np.bool_)):
                assert text == ("true" if value else "false"), name
            elif isinstance(value, (float, np.floating)):
                assert float(text) == value or (math.isnan(value) and text == "nan"), name
            else:
                assert text == str(value), name
    with h5py.File(report.table) as f:
        assert [int(r[head.index("design")]) for r in body] == list(f["points/design"][()])
        assert f[f"parameters/{VOLTAGE}"].attrs["role"] == "design"
        assert f["parameters/materials.tumour.e_rev"].attrs["config_units"] == "V/cm"


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_plot_in_config_units_coloured_by_design_point(swept):
    _, report, _ = swept
    assert (report.out_dir / "coverage.png").read_bytes()[:4] == b"\x89PNG"
    fig = coverage_figure(read_table(report.table))
    fig.canvas.draw()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    labels = [ax.get_xlabel() for ax in axes]
    assert labels == [f"{VOLTAGE} (V)", "materials.tumour.sigma0 (S/m)",
                      "materials.tumour.e_rev (V/cm)"]
    e_rev_ticks = [float(t.get_text().replace("\u2212", "-")) for t in axes[2].get_xticklabels()
                   if t.get_text()]
    assert 300 < min(e_rev_ticks) and max(e_rev_ticks) < 500  # V/cm, not V/m
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) >= 2
        assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    colours = {tuple(c) for coll in axes[1].collections for c in coll.get_facecolors()}
    assert len(colours) == 2  # one per design point (squares are open)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"{VOLTAGE} = 650 V" in legend


def test_one_point_per_chunk_on_a_cpu(swept):
    plan, report, chunks = swept
    assert plan.chunk_size == 1  # the sweep block gives none: one point per chunk on a CPU
    assert [len(c.points) for c in chunks] == [1, 1, 1, 1]  # progress advances per point
    assert len(report.chunks_run) == 4


def test_read_table_errors(tmp_path, swept):
    with pytest.raises(InputError, match="no sweep at .*missing: no such folder or file"):
        read_table(tmp_path / "missing")
    with pytest.raises(InputError, match="holds no sweep"):
        read_table(tmp_path)
    _, report, _ = swept
    unfinished = tmp_path / "unfinished"
    (unfinished / "chunks").mkdir(parents=True)
    chunk = next((report.out_dir / "chunks").glob("*.npz"))
    (unfinished / "chunks" / chunk.name).write_bytes(chunk.read_bytes())
    with pytest.raises(InputError, match="has not finished .1 chunk file.*run the same"):
        read_table(unfinished)
    bad = tmp_path / "sweep.h5"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="is not a sweep table"):
        read_table(bad)
