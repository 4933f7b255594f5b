"""Budgets before work: what a run, a sweep or a plan will cost, estimated from the config before
gmsh or JAX start, and refused with the numbers when it is over the limits.

    limits = Limits(max_cells=2e6)                 # the command line: limits_of(args)
    check(estimate_run(cfg), limits)               # BudgetError (exit 2) when over

The cost model, per cell of the mesh (`epsim.mesh.estimate` counts the cells of a scene; an
imported mesh is judged by its file's size):

- gmsh: GMSH_SECONDS_PER_CELL and GMSH_BYTES_PER_CELL (its process's peak);
- a run: BASE_BYTES + RUN_BYTES_PER_CELL for the prepared problem and the solver, plus the
  fields of every pair (potential per node; |E| and sigma per cell, float64, held on the device,
  on the host and in the results file built in memory: FIELD_COPIES); PREPARE_SECONDS_PER_CELL,
  COMPILE_SECONDS and SOLVE_SECONDS_PER_CELL per pair (a Newton solve with AMG); a heated train
  adds HEATING_FACTOR times `epsim.heating.estimate_cost` and HEAT_BYTES_PER_CELL;
- a sweep: every point validated (POINT_SECONDS, POINT_BYTES while the plan is held) and solved,
  a mesh and a set-up per point when the axes move geometry, else one;
- a plan: the run twice (verification of the plan and of the start), each optimiser step's
  solves (linear steps: one linear solve per electrode on the coarse mesh; nonlinear steps: one
  Newton solve per pair; gradients at GRADIENT_FACTOR forward solves, the CMA-ES baseline the
  same again), and a remesh every REMESH_EVERY steps.

Calibration: benchmarks/RESULTS.md, "Budgets" (`benchmarks/bench_budget.py` on this project's
2-core CPU): times are rounded up, so that the estimate errs towards refusing; the limits are
meant to stop inputs that are off by orders of magnitude (a 0.01 mm target size, 19,900 pairs,
1e8 sweep points), not to predict a run to the second.

Limits are raised on the command line: `--max-cells N`, `--max-memory SIZE` (`16G`, `500M`),
`--max-time DURATION` (`90s`, `30m`, `4h`); `--max-cells 0` etc. switches a limit off.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from epsim.config.schema import ResolvedConfig
from epsim.errors import InputError
from epsim.heating import estimate_cost
from epsim.mesh.estimate import estimate_cells
from epsim.translate import electrode_layout, pulse_train, scene_spec

GMSH_SECONDS_PER_CELL = 1e-4  # measured 64 us on average on a quiet machine, 112 us shared
GMSH_BYTES_PER_CELL = 1.5e3  # measured: at most 0.8 kB of the child's growth per cell
BASE_BYTES = 0.8e9  # Python, JAX and epsim before the first mesh (measured 0.72 GB)
RUN_BYTES_PER_CELL = 2e3  # measured 1.2 kB (47k to 208k cells)
FIELD_COPIES = 4
PREPARE_SECONDS_PER_CELL = 3e-5
COMPILE_SECONDS = 60.0  # start-up and compilation: 40-70 s measured on the shared machine
SOLVE_SECONDS_PER_CELL = 1e-5  # one Newton solve with AMG, per pair
HEATING_FACTOR = 1.5  # on `epsim.heating.estimate_cost` (liver_ire: 1.4x its estimate measured)
HEAT_BYTES_PER_CELL = 1e3  # the heated train's states and operators
IMPORTED_BYTES_PER_CELL = 40.0  # binary .msh/.vtu: 4 indices and a fifth of a node per cell
POINT_SECONDS = 0.05  # validating a point: 0.04 s measured
POINT_BYTES = 5e4  # a validated point held in the plan: 18 kB measured
GRADIENT_FACTOR = 3.0  # a value-and-gradient evaluation in forward solves
REMESH_EVERY = 3  # optimiser steps per remesh, about (the pelvic plan: 15 meshes, 45 steps)
PLAN_BYTES = 5e9  # compiled programs of the planner's many mesh shapes (pelvic plan: 5.9 GB)

DEFAULT_MAX_CELLS = 5e6
DEFAULT_MAX_SECONDS = 4 * 3600.0
MEMORY_FRACTION = 0.8  # of the machine's memory, the default memory limit


class BudgetError(InputError):
    """An estimate over the limits (exit code 2): nothing was started."""


def machine_memory() -> float:
    """Bytes of memory of this machine (16 GiB where it cannot be found)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 16.0 * 2**30


@dataclass(frozen=True)
class Limits:
    """What a command may use; 0 or inf: no limit.

    Attributes:
        max_cells: cells of the mesh (estimated before gmsh).
        max_memory: bytes of peak memory (estimated).
        max_seconds: wall seconds (estimated).
    """

    max_cells: float = DEFAULT_MAX_CELLS
    max_memory: float = MEMORY_FRACTION * machine_memory()
    max_seconds: float = DEFAULT_MAX_SECONDS


@dataclass(frozen=True)
class Estimate:
    """What a command will cost.

    Attributes:
        what: what it is ("run", "sweep", "plan") and its size, for messages.
        cells, nodes: of the (largest) mesh.
        pairs: pairs fired per evaluation.
        memory: peak bytes.
        seconds: wall seconds.
    """

    what: str
    cells: float
    nodes: float
    pairs: int
    memory: float
    seconds: float


# ---------------------------------------------------------------- estimates

def mesh_size(cfg: ResolvedConfig) -> tuple[float, float, bool]:
    """(cells, nodes, built by gmsh) of a config's mesh: the scene's estimate, or an imported
    file judged by its size."""
    file = cfg.scene.mesh.file
    if file is not None:
        try:
            cells = Path(file).stat().st_size / IMPORTED_BYTES_PER_CELL
        except OSError:
            cells = 0.0
        return cells, cells / 5, False
    spec = scene_spec(cfg, electrode_layout(cfg))
    guess = estimate_cells(spec.domain, spec.inclusions, spec.holes, spec.sizes)
    return guess.cells, guess.nodes, True


def _field_bytes(cells: float, nodes: float, pairs: int) -> float:
    return FIELD_COPIES * 8.0 * pairs * (nodes + 2 * cells)


def estimate_run(cfg: ResolvedConfig) -> Estimate:
    """`epsim run` of a resolved config: mesh, set-up, compilation, every pair, heating."""
    cells, nodes, meshed = mesh_size(cfg)
    pairs = len(cfg.protocol.pairs)
    seconds = (GMSH_SECONDS_PER_CELL * cells if meshed else 0.0) + COMPILE_SECONDS
    seconds += PREPARE_SECONDS_PER_CELL * cells + SOLVE_SECONDS_PER_CELL * cells * pairs
    solve = BASE_BYTES + RUN_BYTES_PER_CELL * cells + _field_bytes(cells, nodes, pairs)
    if cfg.heating is not None:
        train = pulse_train(cfg)
        seconds += HEATING_FACTOR * estimate_cost(int(min(cells, 2**62)), pairs, train.count,
                                                  train.substeps, train.pause_steps)
        solve += HEAT_BYTES_PER_CELL * cells
    gmsh = BASE_BYTES + GMSH_BYTES_PER_CELL * cells if meshed else 0.0
    what = f"run ({pairs} pair{'s' if pairs != 1 else ''})"
    return Estimate(what, cells, nodes, pairs, max(solve, gmsh), seconds)


def estimate_mesh(cfg: ResolvedConfig) -> Estimate:
    """`epsim mesh`: gmsh only."""
    cells, nodes, meshed = mesh_size(cfg)
    seconds = GMSH_SECONDS_PER_CELL * cells if meshed else 0.0
    memory = BASE_BYTES + (GMSH_BYTES_PER_CELL if meshed else RUN_BYTES_PER_CELL) * cells
    return Estimate("mesh", cells, nodes, 0, memory, seconds)


def estimate_sweep(base: ResolvedConfig, points: int, chunk_size: int, moves_geometry: bool) -> Estimate:
    """`epsim sweep`: `points` points of the base config, `chunk_size` per batch; a mesh and a
    set-up per point when the axes move geometry (`moves_geometry`)."""
    run = estimate_run(base)
    cells, nodes, pairs = run.cells, run.nodes, run.pairs
    meshes = points if moves_geometry else 1
    per_mesh = GMSH_SECONDS_PER_CELL * cells + PREPARE_SECONDS_PER_CELL * cells
    seconds = COMPILE_SECONDS + meshes * per_mesh
    seconds += points * (POINT_SECONDS + SOLVE_SECONDS_PER_CELL * cells * pairs)
    batch = min(points, max(chunk_size, 1))
    memory = (BASE_BYTES + RUN_BYTES_PER_CELL * cells + batch * _field_bytes(cells, nodes, pairs)
              + points * POINT_BYTES)
    return Estimate(f"sweep ({points} points x {pairs} pairs)", cells, nodes, pairs,
                    max(memory, run.memory), seconds)


def estimate_plan(cfg: ResolvedConfig, block=None, **overrides) -> Estimate:
    """`epsim optimise`: the config's `optimise:` block (`epsim.optimise.setup.read_request`;
    None: its defaults) with the command line's `overrides` (starts, linear_steps,
    nonlinear_steps, baseline; others are ignored)."""
    settings = {k: getattr(block, k) for k in ("starts", "linear_steps", "nonlinear_steps",
                                               "baseline", "coarse_factor")} if block else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    run = estimate_run(cfg)
    cells, pairs = run.cells, run.pairs
    electrodes = len(electrode_layout(cfg).names)
    coarse = cells / settings.get("coarse_factor", 1.5) ** 3
    linear = settings.get("linear_steps", 40) * electrodes * SOLVE_SECONDS_PER_CELL * coarse / 5
    nonlinear = settings.get("nonlinear_steps", 5) * pairs * SOLVE_SECONDS_PER_CELL * cells
    searches = settings.get("starts", 1) * (2 if settings.get("baseline", True) else 1)
    steps = settings.get("linear_steps", 40) + settings.get("nonlinear_steps", 5)
    remesh = (1 + steps / REMESH_EVERY) * (GMSH_SECONDS_PER_CELL + PREPARE_SECONDS_PER_CELL) * cells
    seconds = 2 * run.seconds + searches * GRADIENT_FACTOR * (linear + nonlinear) + remesh
    return Estimate(f"plan ({steps} steps x {searches} searches)", cells, run.nodes, pairs,
                    run.memory + PLAN_BYTES, seconds)


# ---------------------------------------------------------------- limits

def _over(value: float, limit: float) -> bool:
    return limit > 0 and math.isfinite(limit) and value > limit


def check(estimate: Estimate, limits: Limits) -> Estimate:
    """The estimate, or BudgetError naming every quantity over its limit and the option that
    raises it (one line)."""
    over = []
    if _over(estimate.cells, limits.max_cells):
        over.append(f"{format_count(estimate.cells)} cells "
                    f"(--max-cells {format_count(limits.max_cells)})")
    if _over(estimate.memory, limits.max_memory):
        over.append(f"{format_bytes(estimate.memory)} of memory "
                    f"(--max-memory {format_bytes(limits.max_memory)})")
    if _over(estimate.seconds, limits.max_seconds):
        over.append(f"{format_seconds(estimate.seconds)} "
                    f"(--max-time {format_seconds(limits.max_seconds)})")
    if over:
        raise BudgetError(
            f"over budget: this {estimate.what} needs about {', '.join(over)}; use coarser "
            "mesh sizes or fewer needles, pairs or points, or raise the limit"
        )
    return estimate


def describe(estimate: Estimate) -> str:
    """'about 48000 cells, 9200 nodes, 1.3 GB, 40 s' for reports."""
    return (f"about {format_count(estimate.cells)} cells, {format_count(estimate.nodes)} nodes, "
            f"{format_bytes(estimate.memory)}, {format_seconds(estimate.seconds)}")


# ---------------------------------------------------------------- units of the options

_BYTES = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SECONDS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def format_count(value: float) -> str:
    """48544 -> '49,000'; 2.5e10 -> '2.5e+10'."""
    rounded = float(f"{value:.2g}")
    return f"{rounded:,.0f}" if rounded < 1e9 else f"{value:.2g}"


def format_bytes(value: float) -> str:
    for unit in ("TB", "GB", "MB"):
        scale = _BYTES[unit[0].lower()]
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 2**20:.2g} MB"


def format_seconds(value: float) -> str:
    for unit, scale in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} s"


def _number_and_unit(text: str, units: dict[str, float], what: str) -> float:
    raw = str(text).strip().lower()
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = raw[len(digits):].strip().removesuffix("b") if what == "size" else raw[len(digits):].strip()
    try:
        value = float(digits) * units[unit]
    except (KeyError, ValueError):
        raise ValueError(f"cannot read {str(text)[:40]!r} as a {what}") from None
    if not value >= 0 or math.isnan(value):
        raise ValueError(f"a {what} must be 0 (no limit) or positive, got {str(text)[:40]!r}")
    return value or math.inf


def parse_memory(text: str) -> float:
    """'16G', '500 MB', '2e9' -> bytes (0: no limit, as inf)."""
    return _number_and_unit(text, _BYTES, "size")


def parse_duration(text: str) -> float:
    """'90s', '30m', '4h', '3600' -> seconds (0: no limit, as inf)."""
    return _number_and_unit(text, _SECONDS, "duration")


def parse_count(text: str) -> float:
    """'2e6', '500000' -> a count (0: no limit, as inf)."""
    return _number_and_unit(text, {"": 1, "k": 1e3, "m": 1e6}, "count")


def add_limit_options(parser) -> None:
    """--max-cells, --max-memory, --max-time on an argparse (sub)parser."""
    group = parser.add_argument_group("budget (checked before any work; 0: no limit)")
    group.add_argument("--max-cells", type=parse_count, metavar="N",
                       help=f"most cells of a mesh (default {DEFAULT_MAX_CELLS:.0e})")
    group.add_argument("--max-memory", type=parse_memory, metavar="SIZE",
                       help="most memory, e.g. 16G (default: 80%% of this machine's)")
    group.add_argument("--max-time", type=parse_duration, metavar="DURATION",
                       help="longest estimated time, e.g. 30m, 4h (default 4h)")


def limits_of(args) -> Limits:
    """The limits a command line asks for (defaults where it gives none)."""
    given = {key: getattr(args, option, None) for key, option in (
        ("max_cells", "max_cells"), ("max_memory", "max_memory"), ("max_seconds", "max_time"))}
    return replace(Limits(), **{k: v for k, v in given.items() if v is not None})


__all__ = [
    "BudgetError", "Estimate", "Limits", "add_limit_options", "check", "describe",
    "estimate_mesh", "estimate_plan", "estimate_run", "estimate_sweep", "format_bytes",
    "format_count", "format_seconds", "limits_of", "machine_memory", "mesh_size", "parse_count",
    "parse_duration", "parse_memory",
]
