"""Sweeps: a base config plus axes over any config field, evaluated in vmap-batched chunks on
Dask workers, one atomic file per finished chunk, one HDF5 table (docs/design.md, section 5).

    from epsim.sweep import load_plan, run_sweep, read_table, summarise
    plan = load_plan("configs/two_needles_sweep.yaml", axes=["protocol.pairs[0].voltage=[800, 1000]"])
    report = run_sweep(plan, "out/", workers=2)     # embedded LocalCluster; workers=0: in-process
    table = read_table("out/")                      # parameters (SI) and metrics of every point
    for s in summarise(table):                      # per design point (grid values): mean, std,
        print(s.design.label, s.stats[0])           # 5/50/95 % of target coverage over the samples

Layers: `axes` and `plan` (config edge: key paths, sampling, validation), `batch` (numerics: one
`prepare`, vmap over stacked parameters, sharded over local devices), `store` (chunk files and
the table), `executor` (Dask and the progress bar), `design` (design points: combinations of
grid values), `summary` (statistics per design point), `plot` (coverage.png), `export`
(sweep.csv).
"""

from epsim.sweep.axes import parse_axis_option, parse_path
from epsim.sweep.batch import PointMetrics, batched_metrics, evaluate_chunk, point_metrics
from epsim.sweep.executor import SweepError, SweepReport, mesh_for, run_sweep
from epsim.sweep.plan import Chunk, Plan, Point, load_plan, make_chunks, make_plan
from epsim.sweep.design import DesignPoint
from epsim.sweep.export import write_csv
from epsim.sweep.plot import coverage_figure, plot_coverage
from epsim.sweep.store import SweepTable, assemble, finished_points, read_table
from epsim.sweep.summary import DesignSummary, Stats, format_summary, summarise

__all__ = [
    "Chunk",
    "DesignPoint",
    "DesignSummary",
    "Plan",
    "Point",
    "PointMetrics",
    "Stats",
    "SweepError",
    "SweepReport",
    "SweepTable",
    "assemble",
    "batched_metrics",
    "coverage_figure",
    "evaluate_chunk",
    "finished_points",
    "format_summary",
    "load_plan",
    "make_chunks",
    "make_plan",
    "mesh_for",
    "parse_axis_option",
    "parse_path",
    "plot_coverage",
    "point_metrics",
    "read_table",
    "run_sweep",
    "summarise",
    "write_csv",
]
