"""Which pairs fire: a six-needle plan with every candidate pair against the sparsity term.

    python benchmarks/bench_pair_selection.py                  # sparsity 0 and 0.02
    python benchmarks/bench_pair_selection.py --weights 0 0.05

The scene and goals of configs/pelvic_deep_seated_count.yaml with the count fixed at six
(`needles.count: {min: 6, max: 6}`): six VGD-12 needles on a ring around the target's principal
axes and every pair within max_spacing (32 mm) a candidate, i.e. all 15. For each sparsity
weight (`optimise.pair_sparsity`; pairs at or below `drop_voltage`, 50 V, are not fired) one
cold `epsim optimise` run; the table gives the verified coverage, the largest current, the pairs
that fire and the total pulses, the pairs dropped by the term, and the prune (the pairs that
add no coverage on the verification left out, the plan verified again: full -> pruned).

    python benchmarks/bench_pair_selection.py --prune DIR/count_6 --keep OUT

prunes an existing count folder (its plan.yaml, start.yaml and verification.h5) the way the
count search does (`epsim.optimise.count`: `covered_cells`, `redundant_pairs`, `pruned_data`)
and verifies the pruned plan with `epsim optimise` (no steps: the verification only).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pelvic_deep_seated_count.yaml"


def run(weight: float, folder: Path) -> dict:
    data = yaml.safe_load(CONFIG.read_text())
    data["optimise"]["needles"]["count"] = {"min": 6, "max": 6}
    data["optimise"]["pair_sparsity"] = weight
    data["output"]["file"] = "results.h5"
    config = folder / f"pairs_{weight:g}.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out, cache = folder / f"out_{weight:g}", folder / f"cache_{weight:g}"
    env = {**os.environ, "EPSIM_CACHE": str(cache),
           "JAX_COMPILATION_CACHE_DIR": str(cache / "xla")}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "epsim.cli", "optimise", str(config), "-o",
                           str(out), "--no-render"], env=env, capture_output=True, text=True)
    text = (out / "report.txt").read_text() if (out / "report.txt").exists() else ""
    row = {"weight": weight, "exit": done.returncode, "time": time.perf_counter() - t0}
    found = re.search(r"^\s+6\s+\d+\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)", text, re.M)
    if found:
        row.update(candidates=int(found[1]), fired=int(found[2]), cover=float(found[3]),
                   current=float(found[4]), pulses=int(found[5]))
    full = out / "count_6" / "report.txt"  # the count's own report (before the prune)
    dropped = re.search(r"dropped \(voltage <= [^)]*\): (.*)",
                        full.read_text() if full.exists() else "")
    row["dropped"] = dropped[1] if dropped else "-"
    pruned = re.search(r"left out: (\d+) -> (\d+) pairs, (\S+) % -> (\S+) %", text)
    row["prune"] = f"{pruned[1]} -> {pruned[2]} pairs, {pruned[3]} -> {pruned[4]} %" \
        if pruned else "-"
    return row


def prune(folder: Path, out: Path) -> None:
    """The count search's prune of an existing count folder, verified (module doc)."""
    from epsim.io import read_results
    from epsim.optimise.count import covered_cells, pruned_data
    from epsim.optimise.pairs import redundant_pairs

    results = read_results(folder / "verification.h5")
    materials = sorted({m.material for m in results.metrics if m.role == "target"})
    covered, volumes = covered_cells(results, materials, "ect")
    labels = [f"{a} -> {c}" for a, c in zip(results.anode, results.cathode)]
    drop = [labels[k] for k in redundant_pairs(covered, volumes, results.voltage)]
    optimise = yaml.safe_load((folder / "start.yaml").read_text())["optimise"]
    data = pruned_data((folder / "plan.yaml").read_text(), optimise, drop)
    config = out / "pruned.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "epsim.cli", "optimise", str(config), "-o",
                           str(out / "pruned"), "--no-render"], capture_output=True, text=True)
    text = done.stdout if done.returncode == 0 else done.stderr[-2000:]
    cover = re.search(r"coverage, verification \(fresh mesh\) %\s+\S+\s+(\S+)", text)
    every = [m for m in results.metrics if m.role == "target"]
    print(f"{folder}: {len(labels)} pairs, {100 * min(m.fraction_rev for m in every):.3f} % "
          f"verified; left out {len(drop)}: {', '.join(drop)}")
    print(f"pruned plan ({len(labels) - len(drop)} pairs): exit {done.returncode}, verified "
          f"coverage {cover[1] if cover else '-'} %, {time.perf_counter() - t0:.0f} s")
    print("\n".join(line for line in text.splitlines() if "pulses" in line or "VIOLATED" in line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.02])
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    parser.add_argument("--prune", type=Path, help="only prune this count folder (module doc)")
    args = parser.parse_args()
    if args.prune:
        out = args.keep or Path(tempfile.mkdtemp(prefix="bench_prune_"))
        out.mkdir(parents=True, exist_ok=True)
        prune(args.prune, out)
        return
    if args.keep:
        args.keep.mkdir(parents=True)
        rows = [run(w, args.keep) for w in args.weights]
    else:
        with tempfile.TemporaryDirectory(prefix="bench_pairs_") as tmp:
            rows = [run(w, Path(tmp)) for w in args.weights]
    print("| pair_sparsity | exit | candidates | fired | pulses | verified coverage % "
          "| max current A | time s | dropped | prune: full -> pruned |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['weight']:g} | {r['exit']} | {r.get('candidates', '-')} | "
              f"{r.get('fired', '-')} | {r.get('pulses', '-')} | {r.get('cover', '-')} | "
              f"{r.get('current', '-')} | {r['time']:.0f} | {r['dropped']} | {r['prune']} |")


if __name__ == "__main__":
    main()
