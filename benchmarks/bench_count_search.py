"""What does asking "how many needles" cost? The count search against a single-count plan.

    python benchmarks/bench_count_search.py              # both, one after the other, cold caches
    python benchmarks/bench_count_search.py --baseline   # the single plan with its CMA-ES baseline

Runs, each in a fresh process with an empty mesh cache and compiled-program cache:

1. the single-count plan: `epsim optimise configs/pelvic_deep_seated_plan.yaml --no-render
   --no-baseline` (six needles, nine pairs, the shipped start);
2. the count search: `epsim optimise configs/pelvic_deep_seated_count.yaml --no-render`
   (VGD-12 needles, 3 to 8, every pair within max_spacing a candidate, the sparsity term).

and prints both wall times, their ratio (the issue asks for at most 3) and the count table of
the search. The count search plans counts in increasing order and stops at the first that meets
every goal on its fresh-mesh verification, so its cost is about (chosen count - min + 1) plans;
counts are cheaper than the shipped plan (no CMA-ES baseline, no verification of each start).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "configs" / "pelvic_deep_seated_plan.yaml"
SEARCH = ROOT / "configs" / "pelvic_deep_seated_count.yaml"


def run(config: Path, out: Path, cache: Path, extra: list[str]) -> tuple[int, float, str]:
    """One cold `epsim optimise`: (exit code, wall seconds, report text)."""
    env = {**os.environ, "EPSIM_CACHE": str(cache),
           "JAX_COMPILATION_CACHE_DIR": str(cache / "xla")}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "epsim.cli", "optimise", str(config), "-o",
                           str(out), "--no-render", *extra], env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - t0
    report = out / "report.txt"
    text = report.read_text() if report.exists() else done.stderr[-2000:]
    return done.returncode, seconds, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true",
                        help="run the single plan with its CMA-ES baseline (as shipped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_count_") as tmp:
        folder = Path(tmp)
        code1, single, _ = run(SINGLE, folder / "single", folder / "cache1",
                               [] if args.baseline else ["--no-baseline"])
        code2, search, text = run(SEARCH, folder / "search", folder / "cache2", [])
    print(f"single-count plan ({SINGLE.name}): exit {code1}, {single:.0f} s")
    print(f"count search ({SEARCH.name}): exit {code2}, {search:.0f} s")
    print(f"ratio: {search / single:.2f} (issue 12 asks for at most 3)")
    print("\n".join(line for line in text.splitlines()[:14]))


if __name__ == "__main__":
    main()
