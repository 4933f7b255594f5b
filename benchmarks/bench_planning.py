"""Planning benchmarks: how needles move in the planning model, checked against fresh meshes.

    python benchmarks/bench_planning.py                 # both parts, prints markdown tables
    python benchmarks/bench_planning.py --part accuracy
    python benchmarks/bench_planning.py --part smoothness

accuracy: the moving-node planning model (a conforming mesh made at a reference layout, nodes
    moved with the needles) against a fresh gmsh mesh at the moved layout, at the configs'
    default resolution, full nonlinear model: a needle pair (configs/two_needles_liver.yaml,
    one needle moved sideways and deeper) and the six-needle layout
    (configs/pelvic_deep_seated.yaml, every needle moved outwards and deeper), at shifts of
    0.5, 1 and 2 times the allowed shift before a remesh. Currents (max relative difference over
    the pairs) and target coverage at E_rev (planning model: centroid membership; fresh mesh:
    cells labelled tumour), and the cost of one evaluation (moved: the solve; fresh: gmsh,
    set-up, compilation and the solve).
smoothness: the objective along a sub-cell path of one needle (0 to 0.2 mm in 11 steps, the
    superposition model) with moving nodes against remeshing at every point: the moved model is
    smooth and its finite differences match the gradient, the remeshed one jumps by mesh noise.

Every number is printed as a markdown table (the README quotes them). Runs one case at a time;
about five minutes on two cores.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from epsim.optimise.compare import moved_versus_fresh  # noqa: E402
from epsim.optimise.evaluate import planning_objective  # noqa: E402
from epsim.optimise.plan import Plan, axes, tips  # noqa: E402
from epsim.optimise.setup import planning_setup, read_request  # noqa: E402
from epsim.solve import Newton  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "needle pair": (ROOT / "configs" / "two_needles_liver.yaml", 0.6),
    "six needles": (ROOT / "configs" / "pelvic_deep_seated.yaml", 0.6),
}
RATIOS = (0.5, 1.0, 2.0)


def _setup(path: Path, voltage_factor: float):
    cfg, block, _ = read_request(path)
    setup = planning_setup(cfg, block)
    plan = Plan(setup.start.shift, setup.start.tilt, setup.start.voltage * voltage_factor)
    return setup, plan


def _direction(setup, name: str) -> np.ndarray:
    """(n, 3) unit shift per needle in its (e1, e2, axis) frame: the pair's second needle
    sideways away from the first and 0.5 deeper; the six needles outwards and 0.5 deeper."""
    needles = setup.needles
    n = needles.count
    d = np.zeros((n, 3))
    tip = np.asarray(needles.tip)
    e1, e2 = np.asarray(needles.e1), np.asarray(needles.e2)
    if name == "needle pair":
        out = tip[1] - tip[0]
        d[1] = [out @ e1[1], out @ e2[1], 0.0]
    else:
        centre = tip.mean(axis=0)
        for i in range(n):
            out = tip[i] - centre
            d[i] = [out @ e1[i], out @ e2[i], 0.0]
    d[:, :2] /= np.maximum(np.linalg.norm(d[:, :2], axis=1, keepdims=True), 1e-30)
    d[:, 2] = np.where(np.any(d[:, :2] != 0, axis=1), -0.5, 0.0)
    return d


def accuracy(cases=tuple(CASES)) -> list[str]:
    rows = ["| case | cells | shift (mm) | shift / allowed | current error | coverage moved | "
            "coverage fresh | difference (pp) | moved eval (s) | fresh mesh+eval (s) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in cases:
        path, factor = CASES[name]
        setup, plan = _setup(path, factor)
        needles = setup.needles
        tip, axis = np.asarray(tips(needles, plan)), np.asarray(axes(needles, plan))
        mesh = setup.scene.mesh(tip, axis, np.asarray(needles.length))
        data = setup.scene.mesh_data(mesh, tip, axis)
        direction = _direction(setup, name)
        limit = float(np.min(np.asarray(data.motion.limit)))
        for ratio in RATIOS:
            size = ratio * limit / float(np.max(np.linalg.norm(direction, axis=1)))
            moved = Plan(plan.shift + jnp.asarray(size * direction), plan.tilt, plan.voltage)
            c = moved_versus_fresh(setup.scene, setup.goals, needles, plan, moved,
                                   setup.target_materials, reference_data=(mesh, data))
            rows.append(
                f"| {name} | {c.cells_moved} / {c.cells_fresh} | {size * 1e3:.2f} | "
                f"{c.shift_ratio:.2f} | {100 * c.current_error:.2f} % | "
                f"{100 * c.coverage_moved:.2f} % | {100 * c.coverage_fresh:.2f} % | "
                f"{c.coverage_points:+.2f} | {c.seconds_moved:.2f} | {c.seconds_fresh:.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


def smoothness(points: int = 11, span: float = 0.2e-3) -> list[str]:
    path, factor = CASES["needle pair"]
    setup, plan = _setup(path, factor)
    needles, goals, scene = setup.needles, setup.goals, setup.scene
    scale = jnp.ones(len(scene.anode))
    solver = Newton(rtol=1e-10)

    @eqx.filter_jit
    def value_and_grad(p, data):
        return jax.value_and_grad(
            lambda q: planning_objective(q, needles, data, goals, scale, False, solver)[0])(p)

    offsets = np.linspace(0.0, span, points)
    lengths = np.asarray(needles.length)
    tip, axis = np.asarray(tips(needles, plan)), np.asarray(axes(needles, plan))
    mesh = scene.mesh(tip, axis, lengths)
    data = scene.mesh_data(mesh, tip, axis)
    moved, grads, fresh, seconds = [], [], [], []
    for s in offsets:
        p = Plan(plan.shift.at[1, 0].add(s), plan.tilt, plan.voltage)
        v, g = value_and_grad(p, data)
        moved.append(float(v))
        grads.append(float(g.shift[1, 0]))
        t0 = time.perf_counter()
        t, a = np.asarray(tips(needles, p)), np.asarray(axes(needles, p))
        m = scene.mesh(t, a, lengths)
        d = scene.mesh_data(m, t, a)
        fresh.append(float(value_and_grad(Plan(p.shift, p.tilt, p.voltage), d)[0]))
        seconds.append(time.perf_counter() - t0)
    moved, fresh, grads = np.array(moved), np.array(fresh), np.array(grads)
    h = offsets[1] - offsets[0]
    fd_moved = np.diff(moved) / h
    fd_fresh = np.diff(fresh) / h
    mid = 0.5 * (grads[1:] + grads[:-1])
    rows = [
        f"objective along {points} points, needle b moved 0 to {span * 1e3:g} mm sideways "
        f"(cells at the needle: {scene.sizes.electrode_size * 1e3:g} mm)",
        "",
        "| | moving nodes | remeshing every point |",
        "|---|---|---|",
        f"| objective range | {moved.min():.6f} .. {moved.max():.6f} | "
        f"{fresh.min():.6f} .. {fresh.max():.6f} |",
        f"| finite-difference slope vs gradient, max relative error | "
        f"{np.max(np.abs(fd_moved - mid) / np.abs(mid)):.2e} | "
        f"{np.max(np.abs(fd_fresh - mid) / np.abs(mid)):.2e} |",
        f"| sign changes of the slope (gradient: {int(np.sum(np.diff(np.sign(mid)) != 0))}) | "
        f"{int(np.sum(np.diff(np.sign(fd_moved)) != 0))} | "
        f"{int(np.sum(np.diff(np.sign(fd_fresh)) != 0))} |",
        f"| seconds per point | (solve only) | {np.mean(seconds):.1f} "
        "(gmsh, set-up, compile, solve) |",
    ]
    for line in rows:
        print(line, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("accuracy", "smoothness", "all"), default="all")
    parser.add_argument("--case", choices=tuple(CASES), action="append",
                        help="accuracy cases (default: all)")
    args = parser.parse_args(argv)
    print(f"# bench_planning: {platform.processor() or platform.machine()}, "
          f"jax {jax.__version__} on {jax.default_backend()}, float64\n", flush=True)
    if args.part in ("accuracy", "all"):
        accuracy(tuple(args.case or CASES))
        print()
    if args.part in ("smoothness", "all"):
        smoothness()
    return 0


if __name__ == "__main__":
    sys.exit(main())
