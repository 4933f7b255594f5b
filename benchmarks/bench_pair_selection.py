"""Which pairs fire: a six-needle plan with every candidate pair against the sparsity term.

    python benchmarks/bench_pair_selection.py                  # sparsity 0 and 0.02
    python benchmarks/bench_pair_selection.py --weights 0 0.05

The scene and goals of configs/pelvic_deep_seated_count.yaml with the count fixed at six
(`needles.count: {min: 6, max: 6}`): six VGD-12 needles on a ring around the target's principal
axes and every pair within max_spacing (32 mm) a candidate, i.e. all 15. For each sparsity
weight (`optimise.pair_sparsity`; pairs at or below `drop_voltage`, 50 V, are not fired) one
cold `epsim optimise` run; the table gives the verified coverage, the largest current, the pairs
that fire and the total pulses, the pairs dropped, and the polish stage (when pairs were
dropped, the firing pairs' voltages re-optimised without the term, needles held; the count
keeps the polished plan when it covers at least as much): the sparse and polished coverage.
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
    sparse = out / "count_6" / "report.txt"  # the sparse plan's own report (before the polish)
    dropped = re.search(r"dropped \(voltage <= [^)]*\): (.*)",
                        sparse.read_text() if sparse.exists() else "")
    row["dropped"] = dropped[1] if dropped else "-"
    polish = re.search(r"polish \(.*\): (\S+) % -> (\S+) %; the (\w+) plan kept", text)
    row["polish"] = f"{polish[1]} -> {polish[2]} ({polish[3]} kept)" if polish else "-"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.02])
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True)
        rows = [run(w, args.keep) for w in args.weights]
    else:
        with tempfile.TemporaryDirectory(prefix="bench_pairs_") as tmp:
            rows = [run(w, Path(tmp)) for w in args.weights]
    print("| pair_sparsity | exit | candidates | fired | pulses | verified coverage % "
          "| max current A | time s | dropped | polish: sparse -> polished % |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['weight']:g} | {r['exit']} | {r.get('candidates', '-')} | "
              f"{r.get('fired', '-')} | {r.get('pulses', '-')} | {r.get('cover', '-')} | "
              f"{r.get('current', '-')} | {r['time']:.0f} | {r['dropped']} | {r['polish']} |")


if __name__ == "__main__":
    main()
