"""Does the headline plan always finish? The shipped pelvic plan, run as a new user would.

    python benchmarks/bench_plan_reliability.py                  # seeds 0-4, prints a table
    python benchmarks/bench_plan_reliability.py --seeds 0 1 --starts 2
    python benchmarks/bench_plan_reliability.py --repeat 0       # also seed 0 again: same plan?

Each run is `epsim optimise configs/pelvic_deep_seated_plan.yaml -o DIR --seed S --starts N
--no-baseline` (`--baseline` keeps the CMA-ES comparison, which does not change the plan) in a
fresh process with an empty mesh cache and an empty compiled-program cache (EPSIM_CACHE and
JAX_COMPILATION_CACHE_DIR point to a new temporary folder), one run at a time. With one start
(the config's default) the seed drives only the extra starts and the CMA-ES baseline, so the
runs must give the same plan byte for byte (the table says whether each plan.yaml is identical
to the first run's); `--starts 2` lets the seed move a second start (jittered tips and voltages)
so that the runs take different paths. The table gives
per run: exit code, verified coverage (fresh mesh, full nonlinear model), the planning model's
coverage, vessel max field over E_irr, largest current, meshes made, recovery events (meshing
retries, skipped candidates, verification fallbacks, projected steps) and wall time.
`--repeat S` runs seed S a second time and compares plan.yaml byte for byte and the audit's
objective values bit for bit.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pelvic_deep_seated_plan.yaml"


def run_once(seed: int, starts: int, folder: Path, baseline: bool = False) -> dict:
    """One cold planning run; its numbers from report.txt and audit.h5."""
    out = folder / f"seed{seed}"
    cache = folder / f"cache{seed}"
    env = {**os.environ, "EPSIM_CACHE": str(cache), "JAX_COMPILATION_CACHE_DIR": str(cache / "xla")}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "epsim.cli", "optimise", str(CONFIG), "-o", str(out),
         "--seed", str(seed), "--starts", str(starts), "--no-render",
         *([] if baseline else ["--no-baseline"])],
        env=env, capture_output=True, text=True,
    )
    row = {"seed": seed, "exit": done.returncode, "time": time.perf_counter() - t0, "out": out}
    report = (out / "report.txt").read_text() if (out / "report.txt").exists() else ""
    if done.returncode != 0:
        row["error"] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
    verified = re.search(r"coverage, verification \(fresh mesh\) %\s+\S+\s+(\S+)", report)
    model = re.search(r"coverage, planning model \(moved mesh\) %\s+(\S+)", report)
    vessel = re.search(r"blood max field / E_irr\s+\S+\s+(\S+)", report)
    current = re.search(r"max \|current\|, verification A\s+\S+\s+(\S+)", report)
    meshes = re.search(r"meshes: (\d+)", report)
    row.update(verified=verified and float(verified.group(1)), model=model and float(model.group(1)),
               vessel=vessel and float(vessel.group(1)), current=current and float(current.group(1)),
               meshes=meshes and int(meshes.group(1)))
    if (out / "audit.h5").exists():
        with h5py.File(out / "audit.h5") as f:
            whats = [w.decode() for w in f["events/what"][()]]
            row["objective"] = f["candidates/objective"][()]
        row["projected"] = sum(w == "step projected" for w in whats)
        row["recovered"] = len(whats) - row["projected"]
    return row


def same_plan(a: dict, b: dict) -> bool:
    """Whether two runs wrote byte-identical plan.yaml files."""
    pa, pb = a["out"] / "plan.yaml", b["out"] / "plan.yaml"
    return pa.is_file() and pb.is_file() and pa.read_bytes() == pb.read_bytes()


def table(rows: list[dict], starts: int) -> str:
    lines = [
        f"| seed | exit | verified coverage % | planning model % | vessel E_max/E_irr | max current A "
        f"| meshes | recovery events | projected steps | plan.yaml as the first run's | time s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['exit']} | {fmt(r.get('verified'), '.2f')} | "
            f"{fmt(r.get('model'), '.2f')} | {fmt(r.get('vessel'), '.3f')} | "
            f"{fmt(r.get('current'), '.2f')} | {fmt(r.get('meshes'), 'd')} | "
            f"{fmt(r.get('recovered'), 'd')} | {fmt(r.get('projected'), 'd')} | "
            f"{'yes' if same_plan(rows[0], r) else 'no'} | {r['time']:.0f} |"
        )
    lines.append(f"\n`--starts {starts}`, {platform.processor() or platform.machine()}, "
                 f"{os.cpu_count()} cores, Python {platform.python_version()}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--starts", type=int, default=1)
    p.add_argument("--repeat", type=int, help="run this seed a second time and compare")
    p.add_argument("--keep", type=Path, help="keep the output folders here")
    p.add_argument("--baseline", action="store_true", help="also run the CMA-ES baseline")
    args = p.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="epsim-reliability-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        rows.append(run_once(seed, args.starts, folder, args.baseline))
        print(f"seed {seed}: exit {rows[-1]['exit']}, verified {rows[-1].get('verified')} %, "
              f"{rows[-1]['time']:.0f} s", file=sys.stderr, flush=True)
    print(table(rows, args.starts))
    ok = sum(r["exit"] == 0 and (r.get("verified") or 0) >= 99.0 for r in rows)
    print(f"\n{ok} of {len(rows)} runs finished with >= 99 % verified coverage")
    same = sum("objective" in r and "objective" in rows[0]
               and np.array_equal(r["objective"], rows[0]["objective"]) for r in rows[1:])
    print(f"{same} of {len(rows) - 1} later runs have the first run's audit objective values, "
          "bit for bit")
    if args.repeat is not None:
        first = next(r for r in rows if r["seed"] == args.repeat)
        again = run_once(args.repeat, args.starts, folder / "repeat", args.baseline)
        same_audit = ("objective" in first and "objective" in again
                      and np.array_equal(first["objective"], again["objective"]))
        print(f"seed {args.repeat} again: plan.yaml identical: {same_plan(first, again)}; "
              f"audit objective "
              f"values bit for bit: {same_audit} ({again['time']:.0f} s)")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
