"""Robust against nominal plan on held-out scenarios (issue 14, must-show 4 and 6b).

    python benchmarks/bench_robust_plan.py [--held-out 64] [--scenarios 8] [--steps 8]

Plans the tiny two-needle scene of the planner tests (tests/helpers/plans.py) twice with the
same budget (linear and nonlinear steps): nominal, and with an `optimise: robust:` block
(placement 1 mm, 1 mm, 2 deg; conductivity cv 0.2). Both verified plans are then evaluated under
`--held-out` scenarios of the same uncertainty model drawn from another seed (`epsim run
--scenarios`'s machinery, full nonlinear model, fresh mesh). Prints the nominal coverage (the
verification), P10 and P50 of the coverage at E_rev over the held-out scenarios, and the wall
time of each planning run and their ratio.
"""

from __future__ import annotations

import argparse
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
from epsim.io import material_metrics  # noqa: E402
from epsim.optimise.planner import run_planning  # noqa: E402
from epsim.optimise.scenarios import Uncertainty, run_scenarios  # noqa: E402

ROBUST = {"placement": {"lateral": "1 mm", "depth": "1 mm", "angle": "2 deg"},
          "conductivity": {"cv": 0.2}, "objective": {"mean": 0.5, "cvar": 0.5, "alpha": 0.9},
          "seed": 0}
HELD_OUT = Uncertainty(lateral=1e-3, depth=1e-3, angle=np.radians(2.0), cv=0.2, seed=12345)


def plan(folder: Path, steps: int, scenarios: int | None):
    data = yaml.safe_load(tiny_plan_config())
    data["optimise"].update(linear_steps=steps, nonlinear_steps=1)
    if scenarios:
        data["optimise"]["robust"] = {**ROBUST, "scenarios": scenarios}
    folder.mkdir(parents=True)
    (folder / "plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    t0 = time.perf_counter()
    report = run_planning(folder / "plan.yaml", folder / "out", render=False)
    wall = time.perf_counter() - t0
    nominal = min(material_metrics(report.verification.metrics, m).fraction_rev
                  for m in report.setup.target_materials)
    return folder / "out" / "plan.yaml", nominal, wall, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=64)
    parser.add_argument("--scenarios", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {}
        for label, n in (("nominal", None), ("robust", args.scenarios)):
            path, nominal, wall, report = plan(Path(tmp) / label, args.steps, n)
            print(report.text.splitlines()[-1] if n else "", flush=True)
            t0 = time.perf_counter()
            held = run_scenarios(load_config(path), args.held_out, HELD_OUT)
            cover = held.coverage_rev
            rows[label] = (nominal, np.percentile(cover, 10), np.percentile(cover, 50), wall,
                           float(np.median(held.kept)))
            print(f"{label}: planned in {wall:.0f} s, {args.held_out} held-out scenarios in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    print(f"\n{'plan':<10}{'nominal %':>11}{'P10 %':>9}{'P50 %':>9}{'wall s':>9}{'kept':>7}")
    for label, (nominal, p10, p50, wall, kept) in rows.items():
        print(f"{label:<10}{100 * nominal:>11.2f}{100 * p10:>9.2f}{100 * p50:>9.2f}"
              f"{wall:>9.0f}{kept:>7.2f}")
    (n0, p0, _, w0, _), (n1, p1, _, w1, _) = rows["nominal"], rows["robust"]
    print(f"robust - nominal: P10 {100 * (p1 - p0):+.2f} pp, nominal coverage "
          f"{100 * (n1 - n0):+.2f} pp; wall cost ratio {w1 / w0:.2f}")


if __name__ == "__main__":
    main()
