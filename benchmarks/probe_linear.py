"""Developer probe: JAX AMG-PCG vs pyamg-PCG on a structured box, one core, CPU time.

    python benchmarks/probe_linear.py --n 44 --repeats 5 [--dtype float64] [--degree 1]

A quick loop for tuning the linear solver (n = 44: 511k cells, 91k nodes; n = 70: 2.06M cells).
The matvec and V-cycle columns are rough (20 and 5 calls, not individually blocked); use
bench_solver.py for numbers to report.
"""
import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
import pyamg

from epsim.fem.assembly import apply_dirichlet, build_pattern, stiffness
from epsim.fem.sparse import hyb_to_scipy, matvec
from epsim.mesh.structured import structured_box_mesh
from epsim.solve.amg import build_amg
from epsim.solve.pcg import pcg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=44)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--degree", type=int, default=2)
    p.add_argument("--max-coarse", type=int, default=500)
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    mesh = structured_box_mesh(0.04, args.n)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    free = np.ones(mesh.n_nodes, bool)
    free[mesh.facet_nodes("xmin")] = False
    free[mesh.facet_nodes("xmax")] = False
    k = stiffness(pattern, jnp.asarray(mesh.points), jnp.full(mesh.n_cells, 0.2))
    g = np.where(~free & (np.asarray(mesh.points)[:, 0] > 0), 100.0, 0.0)
    b = -np.where(free, hyb_to_scipy(k) @ g, 0.0)
    a_h = apply_dirichlet(k, jnp.asarray(free))
    a = hyb_to_scipy(a_h)
    print(f"cells {mesh.n_cells} nodes {mesh.n_nodes} nnz {a.nnz}")
    t = time.perf_counter()
    amg = build_amg(a, max_coarse=args.max_coarse, degree=args.degree, dtype=np.dtype(args.dtype))
    print(f"build_amg {time.perf_counter() - t:.2f}s levels {amg.n_levels}")
    tol = 1e-8 * np.linalg.norm(b)

    @jax.jit
    def solve(a_h, amg, b):
        atol = 1e-8 * jnp.linalg.norm(b)
        return pcg(lambda x: matvec(a_h, x), b, amg, atol=atol, max_iterations=500)

    @jax.jit
    def mv(a_h, x):
        return matvec(a_h, x)

    @jax.jit
    def vc(amg, x):
        return amg(x)

    bj = jnp.asarray(b)
    t = time.process_time()
    res = solve(a_h, amg, bj); res.x.block_until_ready()
    print(f"compile+first {time.process_time() - t:.2f}s its {int(res.iterations)} "
          f"relres {np.linalg.norm(b - a @ np.asarray(res.x)) / np.linalg.norm(b):.2e}")
    mv(a_h, bj).block_until_ready(); vc(amg, bj).block_until_ready()
    ml = pyamg.smoothed_aggregation_solver(  # the hierarchy settings of build_amg's defaults
        a, symmetry="symmetric", max_coarse=args.max_coarse, strength=("symmetric", {"theta": 0.02})
    )
    for r in range(args.repeats):
        t = time.process_time()
        res = solve(a_h, amg, bj); res.x.block_until_ready()
        tj = time.process_time() - t
        its = []
        t = time.process_time()
        x = ml.solve(b, tol=1e-8, accel="cg", residuals=its)
        tp = time.process_time() - t
        t = time.process_time()
        for _ in range(20):
            y = mv(a_h, bj)
        y.block_until_ready()
        tmv = (time.process_time() - t) / 20
        t = time.process_time()
        for _ in range(20):
            y = a @ b
        tsp = (time.process_time() - t) / 20
        t = time.process_time()
        for _ in range(5):
            y = vc(amg, bj)
        y.block_until_ready()
        tvc = (time.process_time() - t) / 5
        print(f"jax {tj:.3f}s/{int(res.iterations)}  pyamg {tp:.3f}s/{len(its) - 1}  "
              f"ratio {tp / tj:.2f}  "
              f"matvec jax {tmv*1e3:.2f}ms scipy {tsp*1e3:.2f}ms vcycle {tvc*1e3:.1f}ms")


if __name__ == "__main__":
    main()
