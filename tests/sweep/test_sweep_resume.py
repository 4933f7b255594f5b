"""A sweep killed (SIGKILL) right after its first chunk file is written, then run again: the table
is complete, no point is lost or duplicated, and the finished chunk is not recomputed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np

from epsim.cli import main
from epsim.sweep import load_plan, read_table

KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    from epsim.sweep import load_plan, run_sweep
    plan = load_plan(sys.argv[1], chunk_size=1)
    # the process dies hard as soon as the first chunk file is on disk
    run_sweep(plan, sys.argv[2], workers=0, on_chunk=lambda c, p: os.kill(os.getpid(), signal.SIGKILL))
""")


def chunk_files(out: Path) -> dict[str, tuple[int, int, bytes]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted((out / "chunks").glob("chunk_*.npz"))}


def test_killed_sweep_resumes_without_loss_or_recomputation(case, tmp_path, capsys):
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(case), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    first = chunk_files(out)
    assert len(first) == 1 and not (out / "sweep.h5").exists()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # no half-written file left

    args = ["sweep", str(case), "-o", str(out), "--workers", "0", "--chunk-size", "1"]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "4 point(s): 1 from earlier chunk files, 3 chunk(s) evaluated" in stdout
    second = chunk_files(out)
    assert len(second) == 4
    name = next(iter(first))
    assert second[name] == first[name]  # same inode, time stamp and bytes: not recomputed

    plan = load_plan(case, chunk_size=1)
    table = read_table(out / "sweep.h5")
    assert sorted(table.key) == sorted(p.key for p in plan.points)  # every point exactly once
    assert list(table.index) == [0, 1, 2, 3] and all(table.status == "ok")
    with np.load(out / "chunks" / name) as kept:
        row = list(table.key).index(str(kept["point_key"][0]))
        assert table.coverage_rev[row] == kept["coverage_rev"][0]
        np.testing.assert_array_equal(table.current[row], kept["current"][0])
        assert table.chunk[row] == name

    # the table keeps the base config and the axes, never a scheduler address
    with h5py.File(out / "sweep.h5") as f:
        assert "materials" in f.attrs["base_config"] and "lognormal" in f["axes"].asstr()[()]
        assert f["written/protocol.pairs[0].voltage"].asstr()[()].tolist() == ["500", "500", "650", "650"]
        assert "tcp://" not in str(dict(f.attrs))
    assert "coverage_rev" in (out / "summary.txt").read_text()
    assert (out / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a third run finds everything done
    assert main(args) == 0
    assert "4 from earlier chunk files, 0 chunk(s) evaluated" in capsys.readouterr().out
    assert chunk_files(out) == second
