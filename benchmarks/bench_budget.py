"""Budgets: the cell estimate (`epsim.mesh.estimate`) against gmsh, and the run estimate
(`epsim.budget`) against measured runs.

    python benchmarks/bench_budget.py                  # both parts, markdown tables
    python benchmarks/bench_budget.py --part cells
    python benchmarks/bench_budget.py --part runs

cells: every shipped config, and variants with every mesh size scaled (x0.7: finer, x1.4:
    coarser), estimated and then meshed by gmsh in a child process: cells, nodes, estimate /
    gmsh, gmsh seconds and the meshing process's peak memory above what it held before. The
    calibration constants of `epsim.mesh.estimate` come from this table.
runs: `epsim run --no-cache` on a few configs in a child process: wall seconds and peak
    memory against `epsim.budget.estimate_run`.

Run from the repository root; about five minutes on two cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SCALES = (1.0, 0.7, 1.4)
LARGE = ("two_needles_liver", 0.4)  # one larger mesh (about half a million cells)
RUN_CONFIGS = (("two_needles_liver", 1.0), ("liver_ire", 1.0), ("calcium_skin", 1.0),
               ("breast_plates", 1.0), ("two_needles_liver", 0.45))


def scaled_config(path: Path, factor: float):
    """A shipped config with every mesh size times `factor`, resolved."""
    from epsim.config import load_config_data

    data = yaml.safe_load(path.read_text())
    mesh = data["scene"]["mesh"]
    for key in ("size", "target_size", "electrode_size"):
        if key in mesh:
            mesh[key] = mesh[key] * factor
    data.pop("output", None)
    return load_config_data(data, source=str(path), base_dir=path.parent)


def mesh_in_child(spec, queue) -> None:
    """Mesh in this process and report counts, seconds and peak memory growth (bytes)."""
    from epsim.mesh.gmsh import build_mesh

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    mesh = build_mesh(spec.domain, spec.inclusions, spec.holes, spec.sizes, isolate=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put((mesh.n_cells, mesh.n_nodes, seconds, peak - before))


def part_cells() -> list[tuple]:
    from epsim.mesh.estimate import estimate_cells
    from epsim.translate import scene_spec

    rows = []
    context = multiprocessing.get_context("spawn")
    seen = set()
    cases = [(path, factor) for path in CONFIGS for factor in SCALES]
    cases.append((ROOT / "configs" / f"{LARGE[0]}.yaml", LARGE[1]))
    for path, factor in cases:
        spec = scene_spec(scaled_config(path, factor))
        key = (repr(spec.domain), repr(spec.inclusions), repr(spec.holes), repr(spec.sizes))
        if key in seen:  # two configs may share a scene
            continue
        seen.add(key)
        guess = estimate_cells(spec.domain, spec.inclusions, spec.holes, spec.sizes)
        queue = context.Queue()
        child = context.Process(target=mesh_in_child, args=(spec, queue))
        child.start()
        cells, nodes, seconds, memory = queue.get()
        child.join()
        rows.append((path.stem, factor, guess.cells, cells, guess.nodes, nodes, seconds, memory))
        print(f"  {path.stem} x{factor}: estimate {guess.cells:.0f}, gmsh {cells}",
              file=sys.stderr, flush=True)
    return rows


def print_cells(rows) -> None:
    print("| config | sizes | cells estimated | cells gmsh | estimate / gmsh | nodes estimated "
          "| nodes gmsh | gmsh s | gmsh MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, factor, guess, cells, guess_nodes, nodes, seconds, memory in rows:
        print(f"| {name} | x{factor:g} | {guess:.0f} | {cells} | {guess / cells:.2f} | "
              f"{guess_nodes:.0f} | {nodes} | {seconds:.1f} | {memory / 2**20:.0f} |")
    ratios = np.array([cells / guess for _, _, guess, cells, *_ in rows])
    node_ratio = np.array([nodes / cells for _, _, _, cells, _, nodes, *_ in rows])
    per_cell = np.array([(memory / cells, seconds / cells)
                         for _, _, _, cells, _, _, seconds, memory in rows])
    print(f"\ngmsh / estimate: geometric mean {np.exp(np.log(ratios).mean()):.3f}, "
          f"range {ratios.min():.3f}-{ratios.max():.3f}; nodes / cells mean "
          f"{node_ratio.mean():.3f} (range {node_ratio.min():.3f}-{node_ratio.max():.3f}); "
          f"gmsh per cell: {per_cell[:, 0].max():.0f} B peak memory at most, "
          f"{per_cell[:, 1].mean() * 1e6:.1f} us mean, {per_cell[:, 1].max() * 1e6:.1f} us most")


def part_runs() -> list[tuple]:
    from epsim.budget import estimate_run
    from epsim.config import load_config_data

    rows = []
    for name, factor in RUN_CONFIGS:
        path = ROOT / "configs" / f"{name}.yaml"
        data = yaml.safe_load(path.read_text())
        data.pop("output", None)
        for key in ("size", "target_size", "electrode_size"):
            data["scene"]["mesh"][key] *= factor
        cfg = load_config_data(data, source=str(path), base_dir=path.parent)
        guess = estimate_run(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / path.name
            config.write_text(yaml.safe_dump(data, sort_keys=False))
            env = dict(os.environ, EPSIM_CACHE=str(Path(tmp) / "cache"))
            start = time.perf_counter()
            done = subprocess.run(  # no limits: this measures what the estimate predicts
                [sys.executable, "-c", RUN_AND_MEASURE, str(config)], env=env, cwd=tmp,
                capture_output=True, text=True,
            )
            seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{name}: epsim run failed:\n{done.stderr}")
        peak, cells = (float(x) for x in done.stdout.split()[-2:])
        rows.append((f"{name} x{factor:g}", guess, cells, seconds, peak))
        print(f"  {name}: {seconds:.1f} s, {peak / 2**20:.0f} MB", file=sys.stderr, flush=True)
    return rows


# Runs `epsim run` in a fresh process and prints its peak memory (self and children: gmsh) and
# the mesh's cell count.
RUN_AND_MEASURE = """
import resource, sys, h5py
from epsim.cli import main
code = main(["run", sys.argv[1], "--no-cache", "--no-paraview", "-o", "out.h5",
             "--max-cells", "0", "--max-memory", "0", "--max-time", "0"])
assert code == 0, code
peak = max(resource.getrusage(who).ru_maxrss for who in
           (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) * 1024
with h5py.File("out.h5") as f:
    print(peak, len(f["mesh/cells"]))
"""


def print_runs(rows) -> None:
    print("| config | sizes | pairs | cells estimated | cells | seconds estimated | seconds | "
          "memory estimated MB | peak memory MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, guess, cells, seconds, peak in rows:
        config, factor = name.split(" ")
        print(f"| {config} | {factor} | {guess.pairs} | {guess.cells:.0f} | {cells:.0f} | "
              f"{guess.seconds:.0f} | {seconds:.0f} | {guess.memory / 2**20:.0f} | "
              f"{peak / 2**20:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("cells", "runs", "all"), default="all")
    args = parser.parse_args()
    print(f"Machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"Python {platform.python_version()}; date {time.strftime('%Y-%m-%d')}\n")
    if args.part in ("cells", "all"):
        print_cells(part_cells())
        print()
    if args.part in ("runs", "all"):
        print_runs(part_runs())


if __name__ == "__main__":
    main()
