"""A sweep on an embedded Dask LocalCluster with 2 worker processes, one of which is killed after
it finishes its first chunk: the table is complete and equals the same points run one by one
through `epsim.runner` (to ~1e-10, the solver tolerance being 1e-11)."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from epsim.runner import run_config
from epsim.sweep import load_plan, read_table, run_sweep


@pytest.mark.slow
def test_local_cluster_matches_one_by_one_runs(case, tmp_path):
    plan = load_plan(case, chunk_size=1)  # 4 points, 4 chunks
    assert len(plan.points) == 4
    killed: list[int] = []

    def kill_worker_once(chunk, path):
        if killed:
            return
        pid = int(np.load(path)["pid"])
        assert pid != os.getpid()  # evaluated on a worker process
        os.kill(pid, signal.SIGKILL)  # its queued chunk is rescheduled by Dask
        killed.append(pid)

    report = run_sweep(plan, tmp_path / "out", workers=2, on_chunk=kill_worker_once)
    assert killed and report.complete and not report.failed_chunks
    assert len(report.chunks_run) == 4
    table = read_table(report.table)
    assert list(table.index) == [0, 1, 2, 3] and len(set(table.key)) == 4
    assert all(table.status == "ok")

    for i, point in enumerate(plan.points):
        ref = run_config(point.config)
        metrics = {m.name: m for m in ref.metrics}
        assert table.coverage_rev[i] == pytest.approx(metrics["tumour"].fraction_rev, rel=1e-10)
        assert table.coverage_irr[i] == pytest.approx(metrics["tumour"].fraction_irr, rel=1e-10, abs=1e-14)
        for region, m in metrics.items():
            assert table.fraction_rev[region][i] == pytest.approx(m.fraction_rev, rel=1e-10)
            assert table.fraction_irr[region][i] == pytest.approx(m.fraction_irr, rel=1e-10, abs=1e-14)
        np.testing.assert_allclose(table.current[i], ref.current, rtol=1e-10)
        assert table.max_current[i] == pytest.approx(np.max(np.abs(ref.current)), rel=1e-10)
        # the parameters column holds the resolved (SI) values
        assert table.parameters["protocol.pairs[0].voltage"][i] == ref.voltage[0]
        assert table.parameters["materials.tumour.sigma0"][i] == point.config.materials["tumour"].sigma0
