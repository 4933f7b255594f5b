"""Robust against nominal plan on held-out scenarios (issue 14, must-show 4 and 6b).

    python benchmarks/bench_robust_plan.py [--held-out 256] [--scenarios 8] [--steps 8]
                                           [--truth 8]

Plans the tiny two-needle scene of the planner tests (tests/helpers/plans.py) as an IRE plan
(coverage at E_irr, voltage up to 3000 V, so that margins are a choice and not the device's
limit) twice with the same budget (linear and nonlinear steps): nominal, and with an
`optimise: robust:` block (placement 1 mm, 1 mm, 2 deg; conductivity cv 0.2). Both verified plans are then evaluated under `--held-out` scenarios of the same model
drawn from another seed (`epsim run --scenarios`'s machinery: full nonlinear model on the plan's
fresh mesh, the array's common motion carried by the anatomy, each needle's remainder by the
mesh motion). The first `--truth` held-out scenarios of each plan are also solved on fresh
meshes made with the needles at their drawn poses (the reference), to measure the one-mesh
model's error. Prints the nominal coverage (the verification), P10 and P50 of the held-out
coverage, the wall time of each planning run and their ratio.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import yaml

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.plans import tiny_plan_config  # noqa: E402

from epsim.config import load_config  # noqa: E402
from epsim.errors import ElectrodeError, MeshError  # noqa: E402
from epsim.io import material_metrics  # noqa: E402
from epsim.optimise.planner import run_planning  # noqa: E402
from epsim.optimise.scenarios import (  # noqa: E402
    Draws,
    Uncertainty,
    config_needles,
    draw,
    drawn_poses,
    run_scenarios,
)
from epsim.translate import electrode_layout, material_mesh, scene_mesh  # noqa: E402

ROBUST = {"placement": {"lateral": "1 mm", "depth": "1 mm", "angle": "2 deg"},
          "conductivity": {"cv": 0.2}, "objective": {"mean": 0.5, "cvar": 0.5, "alpha": 0.9},
          "seed": 0}
HELD_OUT = Uncertainty(lateral=1e-3, depth=1e-3, angle=math.radians(2.0), cv=0.2, seed=12345)
START_VOLTAGE = 1200.0  # V


def plan(folder: Path, steps: int, scenarios: int | None):
    data = yaml.safe_load(tiny_plan_config())
    data["optimise"].update(linear_steps=steps, nonlinear_steps=1, therapy="ire",
                            max_voltage=3000, step_voltage=150)
    data["protocol"]["pairs"][0]["voltage"] = START_VOLTAGE
    if scenarios:
        data["optimise"]["robust"] = {**ROBUST, "scenarios": scenarios}
    folder.mkdir(parents=True)
    (folder / "plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    t0 = time.perf_counter()
    report = run_planning(folder / "plan.yaml", folder / "out", render=False)
    wall = time.perf_counter() - t0
    nominal = min(material_metrics(report.verification.metrics, m).fraction_irr
                  for m in report.setup.target_materials)
    return folder / "out" / "plan.yaml", nominal, wall, report


def fresh_mesh_coverage(path: Path, draws: Draws, count: int) -> np.ndarray:
    """Coverage at E_irr of the first `count` scenarios of `draws`, each on a fresh mesh made
    with the needles at their drawn poses (no mesh motion, no anatomy motion); NaN where gmsh
    cannot mesh the pose."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    needles = config_needles(electrode_layout(load_config(path)))
    out = np.zeros(count)
    for s in range(count):
        tip, axis = drawn_poses(needles, draws.shift[s], draws.tilt[s])
        entry = tip + np.asarray(needles.length)[:, None] * axis
        for e, t, n in zip(data["electrodes"], tip, entry):
            e["tip"] = [f"{1e3 * v:.6f} mm" for v in t]
            e["entry"] = [f"{1e3 * v:.6f} mm" for v in n]
        moved = path.with_name(f"scenario_{s}.yaml")
        moved.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        k = len(data["electrodes"])
        one = Draws(np.zeros((1, k, 3)), np.zeros((1, k, 2)), draws.factors[s:s + 1])
        try:
            out[s] = run_scenarios(load_config(moved), 1, Uncertainty(0, 0, 0, 0), draws=one,
                                   use_cache=False).coverage_irr[0]
        except (MeshError, ElectrodeError):  # gmsh cannot mesh this pose: left out
            out[s] = np.nan
    return out


def held_out(path: Path, n: int, truth: int):
    cfg = load_config(path)
    layout = electrode_layout(cfg)
    regions = material_mesh(cfg, scene_mesh(cfg, layout)).region_names
    draws = draw(HELD_OUT, n, len(layout.needles), cfg, regions)
    report = run_scenarios(cfg, n, HELD_OUT, draws=draws)
    reference = fresh_mesh_coverage(path, draws, truth) if truth else np.zeros(0)
    return report, reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=256)
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--truth", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {}
        for label, n in (("nominal", None), ("robust", args.scenarios)):
            path, nominal, wall, report = plan(Path(tmp) / label, args.steps, n)
            print("\n".join(report.text.splitlines()[-4:]) if n else "", flush=True)
            print(f"{label} plan: pairs {report.text.split('pairs (plan): ')[1].splitlines()[0]}")
            t0 = time.perf_counter()
            held, reference = held_out(path, args.held_out, args.truth)
            cover = held.coverage_irr
            error = (cover[:args.truth] - reference)[np.isfinite(reference)]
            rows[label] = (nominal, np.percentile(cover, 10), np.percentile(cover, 50), wall,
                           float(np.median(held.kept)))
            print(f"{label}: planned in {wall:.0f} s, {args.held_out} held-out scenarios and "
                  f"{args.truth} fresh meshes ({len(error)} meshed) in "
                  f"{time.perf_counter() - t0:.0f} s; one-mesh model minus fresh mesh: mean {100 * np.mean(error):+.2f} pp, largest |.| "
                  f"{100 * np.max(np.abs(error), initial=0):.2f} pp", flush=True)
    print(f"\n{'plan':<10}{'nominal %':>11}{'P10 %':>9}{'P50 %':>9}{'wall s':>9}{'kept':>7}")
    for label, (nominal, p10, p50, wall, kept) in rows.items():
        print(f"{label:<10}{100 * nominal:>11.2f}{100 * p10:>9.2f}{100 * p50:>9.2f}"
              f"{wall:>9.0f}{kept:>7.2f}")
    (n0, p0, _, w0, _), (n1, p1, _, w1, _) = rows["nominal"], rows["robust"]
    print(f"robust - nominal: P10 {100 * (p1 - p0):+.2f} pp, nominal coverage "
          f"{100 * (n1 - n0):+.2f} pp; wall cost ratio {w1 / w0:.2f}")


if __name__ == "__main__":
    main()
