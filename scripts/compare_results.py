"""Run every shipped config the way `epsim run` does and store, or compare, its numbers.

A refactoring of the forward path must not move any result. This script runs each
`configs/*.yaml` through `epsim.runner.run_config` on a coarser mesh (every mesh size of the
config times `--coarsen`, so the whole set takes minutes rather than an hour) and stores per
config the mesh's digest, the pair currents, the per-pulse currents of a heated run, the solver
status and every region metric (coverage above E_rev and E_irr, field statistics, permeabilised,
killed and thermally damaged fractions, peak temperature) in a JSON file. Given `--compare`, it
checks a stored file against another to a relative tolerance instead.

Every config `epsim run` accepts is run: the sweep config (`two_needles_sweep.yaml`) runs its base
point and the planning config (`pelvic_deep_seated_plan.yaml`) its starting layout, as `epsim run`
does with them; their `sweep:` and `optimise:` blocks belong to `epsim sweep` and `epsim optimise`
and are not exercised here. Meshes are built afresh (no mesh cache), so the translation from
config to scene is compared too; gmsh runs single-threaded, so a scene gives the same mesh.

Two sources of run-to-run noise are switched off, so that a rerun of the same code reproduces
every number: pyamg starts the spectral-radius estimate of every smoothed-aggregation hierarchy
from numpy's global random generator (unseeded, it moved results by up to 1e-11 between two runs
of one commit), so the script seeds it before every hierarchy; and XLA runs with the
thread-count-independent CPU kernels of `epsim optimise` (DETERMINISTIC_XLA).

Before and after a change (the old code imported from a second work tree):

    git worktree add /tmp/epsim-base <old commit>
    PYTHONPATH=/tmp/epsim-base .venv/bin/python scripts/compare_results.py --out /tmp/before.json
    .venv/bin/python scripts/compare_results.py --out /tmp/after.json
    .venv/bin/python scripts/compare_results.py --compare /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MESH_SIZES = ("size", "target_size", "electrode_size")
# as epsim.jax_setup.DETERMINISTIC_XLA, set before JAX starts; a copy, because the script also
# runs the code of old work trees, which had it elsewhere
DETERMINISTIC_XLA = "--xla_cpu_multi_thread_eigen=false"


def coarsened(path: Path, factor: float):
    """The config of `path` with its mesh sizes (in the config's own length unit) times factor."""
    from epsim.config import load_config_data

    text = path.read_text()
    data = yaml.safe_load(text)
    mesh = data.get("scene", {}).get("mesh", {})
    for key in MESH_SIZES:
        if isinstance(mesh.get(key), (int, float)):
            mesh[key] = mesh[key] * factor
    return load_config_data(data, source=str(path), base_dir=path.parent)


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def numbers(results) -> dict:
    """What must not change: currents, solver status and every region metric."""
    import numpy as np

    out = {
        "mesh": digest(np.asarray(results.points), np.asarray(results.cells),
                       np.asarray(results.cell_region)),
        "n_cells": int(len(results.cells)),
        "current": [float(x) for x in results.current],
        "converged": [bool(x) for x in results.converged],
        "iterations": [int(x) for x in results.iterations],
        "regions": {},
    }
    if "pulse_current" in results.pair_fields:
        out["pulse_current"] = np.asarray(results.pair_fields["pulse_current"]).ravel().tolist()
    for m in results.metrics:
        fields = {k: getattr(m, k) for k in (
            "volume", "fraction_rev", "fraction_irr", "e_max_mean", "e_max_max",
            "permeabilised_fraction", "killed_fraction", "temperature_max", "damaged_fraction",
        )}
        out["regions"][m.name] = {k: (None if v is None else float(v)) for k, v in fields.items()}
    return out


def seeded_hierarchies() -> None:
    """Seed numpy's global generator before every pyamg hierarchy: equal matrices then give
    equal hierarchies, however many a version of epsim builds."""
    import numpy as np
    import pyamg

    build = pyamg.smoothed_aggregation_solver

    def seeded(*args, **kwargs):
        np.random.seed(0)
        return build(*args, **kwargs)

    pyamg.smoothed_aggregation_solver = seeded


def run_all(configs, factor: float) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)  # as the CLI does
    seeded_hierarchies()
    import epsim
    from epsim.runner import run_config

    report = {"epsim": str(Path(epsim.__file__).parent), "coarsen": factor,
              "xla_flags": os.environ.get("XLA_FLAGS", ""), "configs": {}}
    for path in configs:
        start = time.perf_counter()
        results = run_config(coarsened(path, factor), use_cache=False)
        report["configs"][path.name] = numbers(results) | {"seconds": time.perf_counter() - start}
        print(f"{path.name}: {len(results.cells)} cells, "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    return report


IGNORED = {"seconds", "epsim", "xla_flags"}  # not results


def differences(before, after, rtol: float, where: str = "") -> list[str]:
    """Every number of `before` that `after` misses by more than rtol (relative)."""
    if isinstance(before, dict):
        keys = set(before) | set(after)
        return [d for k in sorted(keys - IGNORED)
                for d in (differences(before[k], after[k], rtol, f"{where}/{k}")
                          if k in before and k in after else [f"{where}/{k}: missing"])]
    if isinstance(before, list):
        if len(before) != len(after):
            return [f"{where}: {len(before)} values vs {len(after)}"]
        return [d for i, (a, b) in enumerate(zip(before, after))
                for d in differences(a, b, rtol, f"{where}[{i}]")]
    if isinstance(before, float) and isinstance(after, float):
        scale = max(abs(before), abs(after))
        if abs(before - after) <= rtol * scale or (math.isnan(before) and math.isnan(after)):
            return []
        return [f"{where}: {before!r} vs {after!r} (rel {abs(before - after) / scale:.2e})"]
    return [] if before == after else [f"{where}: {before!r} vs {after!r}"]


def largest_relative(before, after) -> float:
    """The largest relative difference over every number the two reports share."""
    if isinstance(before, dict):
        return max([largest_relative(before[k], after[k]) for k in before
                    if k in after and k not in IGNORED] or [0.0])
    if isinstance(before, list):
        return max([largest_relative(a, b) for a, b in zip(before, after)] or [0.0])
    if isinstance(before, float) and isinstance(after, float):
        scale = max(abs(before), abs(after))
        return abs(before - after) / scale if scale > 0 else 0.0
    return 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the numbers of every config here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--coarsen", type=float, default=1.5, help="mesh sizes times this")
    parser.add_argument("--rtol", type=float, default=1e-12)
    parser.add_argument("configs", nargs="*", type=Path,
                        help="configs to run (default: every configs/*.yaml)")
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        bad = differences(before["configs"], after["configs"], args.rtol)
        print(f"largest relative difference: "
              f"{largest_relative(before['configs'], after['configs']):.3e}")
        print("\n".join(bad) if bad else f"all numbers agree to {args.rtol:g} (relative)")
        return 1 if bad else 0
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DETERMINISTIC_XLA}".strip()
    report = run_all(args.configs or sorted((ROOT / "configs").glob("*.yaml")), args.coarsen)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
