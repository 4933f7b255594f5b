"""What does asking "how many needles" cost? The count search against a single-count plan.

    python benchmarks/bench_count_search.py              # both, one after the other, cold caches
    python benchmarks/bench_count_search.py --baseline   # the single plan with its CMA-ES baseline
    python benchmarks/bench_count_search.py --write benchmarks/COUNT_SEARCH_RESULTS.md
    python benchmarks/bench_count_search.py --keep /tmp/count_runs   # keep both outputs

Runs, each in a fresh process with an empty mesh cache and compiled-program cache:

1. the single-count plan: `epsim optimise configs/pelvic_deep_seated_plan.yaml --no-render
   --no-baseline` (six needles, nine pairs, the shipped start);
2. the count search: `epsim optimise configs/pelvic_deep_seated_count.yaml --no-render`
   (VGD-12 needles, 3 to 8, every pair within max_spacing a candidate, the sparsity term).

and prints both wall times and CPU times (user + system of the child process: less sensitive
to other jobs on a shared machine than the wall time), their ratios (the issue asks for at most
3), the machine's load average during each run (sampled every 30 s) and the count table of the
search. The count search plans counts in increasing order and stops at the first that meets
every goal on its fresh-mesh verification; counts whose linear stage stays clearly below the
goal are screened out before the nonlinear stage and the verification (epsim.optimise.count).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "configs" / "pelvic_deep_seated_plan.yaml"
SEARCH = ROOT / "configs" / "pelvic_deep_seated_count.yaml"


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(config: Path, out: Path, cache: Path, extra: list[str]) -> dict:
    """One cold `epsim optimise`: exit code, wall and CPU seconds, load averages, report."""
    env = {**os.environ, "EPSIM_CACHE": str(cache),
           "JAX_COMPILATION_CACHE_DIR": str(cache / "xla")}
    loads, done_flag = [], threading.Event()

    def sample():
        while not done_flag.wait(30.0 if loads else 0.0):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0, t0 = cpu_children(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "epsim.cli", "optimise", str(config), "-o",
                           str(out), "--no-render", *extra], env=env, capture_output=True,
                          text=True)
    seconds, cpu = time.perf_counter() - t0, cpu_children() - cpu0
    done_flag.set()
    sampler.join()
    report = out / "report.txt"
    text = report.read_text() if report.exists() else done.stderr[-2000:]
    return {"code": done.returncode, "wall": seconds, "cpu": cpu, "text": text,
            "load": (sum(loads) / len(loads), max(loads)) if loads else (float("nan"),) * 2}


def reduced(config: Path, folder: Path, size: float, linear: float, nonlinear: float) -> Path:
    """A copy of the config with its mesh sizes times `size` and the given step counts. The
    cells at the needles keep their size: at 1.2 mm (x 1.5), as large as the needles' diameter,
    gmsh failed on the pelvic scene ("Invalid boundary mesh (overlapping facets)")."""
    data = yaml.safe_load(config.read_text())
    mesh = data["scene"]["mesh"]
    for key in ("size", "target_size"):
        mesh[key] = mesh[key] * size
    data["optimise"].update(linear_steps=int(linear), nonlinear_steps=int(nonlinear))
    data["output"]["file"] = "results.h5"
    path = folder / config.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true",
                        help="run the single plan with its CMA-ES baseline (as shipped)")
    parser.add_argument("--write", type=Path, help="also write the results (Markdown) here")
    parser.add_argument("--reduce", type=float, nargs=3, metavar=("SIZE", "LINEAR", "NONLINEAR"),
                        help="both configs with mesh sizes (not at the needles) x SIZE and "
                             "these steps (a shorter run on a loaded machine; the same "
                             "reduction for both)")
    parser.add_argument("--keep", type=Path,
                        help="write both runs' outputs into this (new) folder and keep them "
                             "(to re-run the chosen plan: epsim run KEEP/search/plan.yaml)")
    args = parser.parse_args()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
    with tempfile.TemporaryDirectory(prefix="bench_count_") as tmp:
        folder = args.keep.resolve() if args.keep else Path(tmp)
        single_config, search_config = SINGLE, SEARCH
        if args.reduce:
            single_config, search_config = (reduced(c, folder, *args.reduce)
                                            for c in (SINGLE, SEARCH))
        single = run(single_config, folder / "single", folder / "cache1",
                     [] if args.baseline else ["--no-baseline"])
        search = run(search_config, folder / "search", folder / "cache2", [])
    table = [line for line in search["text"].splitlines()[:14]]
    lines = [
        "# Count search against a single-count plan (issue 12, must-show 7)", "",
        f"Command: `python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}`  ",
        *([f"Reduced: both configs with mesh sizes (not at the needles) x {args.reduce[0]:g}, "
           f"linear_steps "
           f"{args.reduce[1]:g}, nonlinear_steps {args.reduce[2]:g}  "] if args.reduce else []),
        f"Date: {started}  ",
        f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), shared "
        "with other jobs: load average (1 min) sampled every 30 s during each run below", "",
        "| run | exit | wall s | CPU s | load mean / max |", "|---|---:|---:|---:|---|",
    ]
    for name, r in ((f"single plan ({SINGLE.name})", single),
                    (f"count search ({SEARCH.name})", search)):
        lines.append(f"| {name} | {r['code']} | {r['wall']:.0f} | {r['cpu']:.0f} | "
                     f"{r['load'][0]:.1f} / {r['load'][1]:.1f} |")
    lines += ["", f"Ratio search / single: wall {search['wall'] / single['wall']:.2f}, CPU "
              f"{search['cpu'] / single['cpu']:.2f} (issue 12 asks for at most 3).", "",
              "The search's count table:", "", "```", *table, "```"]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
