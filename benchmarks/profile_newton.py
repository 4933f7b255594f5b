"""Developer probe: where the JAX Newton solve of bench_solver.py spends its time, per XLA kernel.

    python benchmarks/profile_newton.py --size 500k [--repeats 5] [--trace]

Times the solve (CPU seconds, one core, as bench_solver.py: run it against two commits to
compare them), and with --trace profiles one solve with `jax.profiler` and groups the kernels
by how often they ran: once (the solve's set-up: element geometry, float32 copies, the sigma0
start), once per Newton step, once per line-search trial, once per PCG iteration. Each kernel
is named with the shape it writes and the JAX operation it came from (from the optimised HLO).
Use bench_solver.py for numbers to report against numpy/scipy/pyamg.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_solver as bs  # noqa: E402  (pins this process to one core, sets x64)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from epsim.fem.assembly import apply_dirichlet, build_pattern, stiffness  # noqa: E402
from epsim.fem.sparse import hyb_to_scipy  # noqa: E402
from epsim.physics import RegionConductivity  # noqa: E402
from epsim.solve.amg import build_amg  # noqa: E402


def newton_inputs(label: str) -> tuple:
    """The arguments of `bench_solver.jax_newton` on the benchmark mesh `label`."""
    mesh, _, _ = bs.scene_mesh(label)
    _, free, g = bs.boundary(mesh)
    region = np.asarray(mesh.cell_region)
    tumour = region == mesh.region_id("tumour")
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    points = jnp.asarray(mesh.points)
    k0 = stiffness(pattern, points, jnp.asarray(np.where(tumour, bs.TUMOUR[0], bs.LIVER[0])))
    amg = build_amg(hyb_to_scipy(apply_dirichlet(k0, jnp.asarray(free))),
                    max_coarse=bs.AMG.max_coarse, strength_theta=bs.AMG.strength_theta)
    model = RegionConductivity(bs.smooth_steps(bs.VOLTAGE)[1], jnp.asarray(region))
    return pattern, points, model, jnp.asarray(g), jnp.asarray(free), amg


CONTROL_FLOW = ("while", "conditional", "cond", "call")


def kernel_times(trace_dir: str, hlo_text: str) -> list[tuple[int, str, float, str]]:
    """(calls, kernel, milliseconds, what it writes and where it came from) per XLA kernel of a
    `jax.profiler` trace."""
    path = sorted(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True))[-1]
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, calls = collections.Counter(), collections.Counter()
    for e in events:
        name = e.get("name", "")
        # loops and branches hold the kernels they run: counted once, through those
        if (e.get("ph") == "X" and e.get("args", {}).get("hlo_op") == name
                and not name.startswith(CONTROL_FLOW)):
            total[name] += e.get("dur", 0)
            calls[name] += 1
    rows = []
    for name, us in total.items():
        found = re.search(r"%" + re.escape(name) + r" = (\S+) .*?op_name=\"([^\"]*)\"", hlo_text)
        what = f"{found.group(1)} {found.group(2)[-50:]}" if found else ""
        rows.append((calls[name], name, us / 1e3, what))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="500k", choices=sorted(bs.SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trace", action="store_true", help="profile one solve, per kernel")
    parser.add_argument("--top", type=int, default=25, help="kernels listed")
    args = parser.parse_args(argv)
    inputs = newton_inputs(args.size)
    solve = lambda: jax.block_until_ready(bs.jax_newton(*inputs))  # noqa: E731
    sol = solve()
    print(f"{args.size}: {int(sol.iterations)} Newton, {int(sol.linear_iterations)} PCG its")
    times = []
    for _ in range(args.repeats):
        start = time.process_time()
        solve()
        times.append(time.process_time() - start)
    print("CPU s per solve: " + " ".join(f"{t:.3f}" for t in times)
          + f" (median {np.median(times):.3f})")
    if not args.trace:
        return 0
    hlo = bs.jax_newton.lower(*inputs).compile().compiled.as_text()  # equinox wraps jax's
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            solve()
        rows = kernel_times(trace_dir, hlo)
    by_calls = collections.Counter()
    for calls, _, ms, _ in rows:
        by_calls[calls] += ms
    print("ms by how often a kernel ran (calls: ms): "
          + ", ".join(f"{c}: {ms:.1f}" for c, ms in sorted(by_calls.items()) if ms >= 0.5))
    for calls, name, ms, what in sorted(rows, key=lambda r: -r[2])[: args.top]:
        print(f"{ms:8.1f} ms {calls:4d} x  {name:36s} {what}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
