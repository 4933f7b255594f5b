"""Calibration benchmarks (issue 14, must-shows 1 and 6).

    python benchmarks/bench_calibrate.py --seeds 50          # twin coverage over 50 seeds
    python benchmarks/bench_calibrate.py --large             # 4 parameters, ~50k cells

`--seeds N`: the twin experiment of tests/calibrate/test_twin.py (four needles, six pairs at
three voltages, 2 % noise, starts between 0.5 and 2 times the truth) on N seeds: how often the
95 % intervals cover the truth, the largest sigma0 error, evaluations per fit.

`--large`: the four needles (1 mm) through an 8 mm tumour in a 30 x 30 x 24 mm block of liver on
a finer mesh (AMG), sigma0 and sigma1/sigma0 of both materials (4 parameters), synthetic
currents from a known truth with 2 % noise, fitted from the library values: wall time, LM
steps, forward-map evaluations.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from epsim.calibrate.parameters import log_parameter, parse_parameters  # noqa: E402
from epsim.calibrate.problem import calibration_problem  # noqa: E402
from epsim.config import load_config  # noqa: E402
from epsim.runner import setup_config  # noqa: E402
from epsim.translate import mesh_of  # noqa: E402
from tests.helpers.calibration import (  # noqa: E402
    TRUTH,
    Twin,
    measurements,
    protocol,
    start,
    twin_config_data,
)


def coverage(seeds: int) -> None:
    twin = Twin(Path(tempfile.mkdtemp()))
    problem = twin.problem(protocol())
    truth = np.array([TRUTH[n] for n in problem.names])
    twin.exact(problem)  # compiles
    covered, errors, evaluations, seconds = np.zeros(len(truth)), [], [], []
    for seed in range(seeds):
        t = time.perf_counter()
        fit = twin.observe(problem, seed).fit(0.02, theta0=start(problem, seed))
        seconds.append(time.perf_counter() - t)
        low, high = fit.interval(problem.params)
        covered += (low <= truth) & (truth <= high)
        errors.append(fit.values(problem.params)[0] / truth[0] - 1.0)
        evaluations.append(fit.evaluations)
        assert fit.converged
    print(f"twin on {twin.mesh.n_cells} cells, {len(problem.solves)} solves, {seeds} seeds")
    for name, c in zip(problem.names, covered):
        print(f"  95 % interval covers {name}: {int(c)}/{seeds} = {c / seeds:.0%}")
    print(f"  largest |sigma0 error| {np.max(np.abs(errors)):.2%}; evaluations per fit "
          f"median {np.median(evaluations):.0f}, max {max(evaluations)}; "
          f"{np.median(seconds):.2f} s per fit (median)")


LARGE_TRUTH = {"liver.sigma0": 0.08 * 1.25, "liver.ratio": 4.0 * 0.85,
               "tumour.sigma0": 0.2 * 0.8, "tumour.ratio": 3.5 * 1.2}


def large(size: float, electrode_size: float, target_size: float) -> None:
    data = twin_config_data()
    data["scene"]["domain"]["size"] = [30, 30, 24]  # as measured (docs/calibration.md)
    for needle in data["electrodes"]:
        needle["diameter"] = 1.0
    data["scene"]["structures"] = [{"name": "tumour", "shape": "sphere", "center": [0, 0, 0],
                                    "radius": 8, "material": "tumour", "role": "target"}]
    data["scene"]["mesh"] = {"size": size, "electrode_size": electrode_size,
                             "target_size": target_size}
    data["solver"] = {"preconditioner": "amg"}
    folder = Path(tempfile.mkdtemp())
    (folder / "large.yaml").write_text(yaml.safe_dump(data))
    cfg = load_config(folder / "large.yaml")
    t0 = time.perf_counter()
    mesh = mesh_of(cfg, use_cache=False)
    setup = setup_config(cfg, mesh)
    t1 = time.perf_counter()
    params = parse_parameters(list(LARGE_TRUTH), mesh.region_names, setup.model.models)
    problem = calibration_problem(cfg, mesh, measurements(protocol()), params, setup)
    truth = np.array([log_parameter(p.kind, LARGE_TRUTH[p.name]) for p in params])
    value, _, ok = problem.evaluate(truth)
    t2 = time.perf_counter()
    exact = np.exp(value[problem.rows])
    rng = np.random.default_rng(0)
    problem.measurements = measurements(
        protocol(), exact * (1 + 0.02 * rng.standard_normal(len(exact))))
    fit = problem.fit(0.02)
    t3 = time.perf_counter()
    low, high = fit.interval(params)
    print(f"large: {mesh.n_cells} cells, {mesh.n_nodes} nodes, {len(params)} parameters, "
          f"{len(problem.solves)} solves")
    print(f"  mesh + prepare {t1 - t0:.1f} s; compile + first evaluation {t2 - t1:.1f} s; "
          f"fit {t3 - t2:.1f} s: {fit.iterations} LM steps, {fit.evaluations} evaluations "
          f"({(t3 - t2) / fit.evaluations:.1f} s each), converged {fit.converged}")
    for p, v, lo, hi in zip(params, fit.values(params), low, high):
        print(f"  {p.name:<14} truth {LARGE_TRUTH[p.name]:.4g}  estimate {v:.4g}  "
              f"95 % [{lo:.4g}, {hi:.4g}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=0)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--size", type=float, default=5.0)
    parser.add_argument("--electrode-size", type=float, default=0.35)
    parser.add_argument("--target-size", type=float, default=1.2)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"{jax.default_backend()}")
    if args.seeds:
        coverage(args.seeds)
    if args.large:
        large(args.size, args.electrode_size, args.target_size)


if __name__ == "__main__":
    main()
