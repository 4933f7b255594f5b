"""`epsim run CONFIG --converge TOL`: refine the mesh until the answers stop changing.

    tol = parse_tolerance("1 %")
    outcome = converge(cfg, tol, limits)      # levels of `refined(cfg, FACTOR ** k)`
    print(outcome.text())                     # cells, currents, coverage, change per level

Level 0 is the config as written; level k scales every cell size of it by FACTOR ** k
(`refined`: a modified config, meshed afresh, so the results file of the final level states the
sizes it used). The run stops at the first level whose pair currents (relative change) and
target coverages at E_rev and E_irr (change in percentage points) all changed by less than TOL
from the level before, or before a level whose estimated cost (`epsim.budget`: cells, memory,
and the time spent so far plus its estimate) is over the command line's limits, or after
MAX_LEVELS levels; the last two are not converged, and the caller reports them as such.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np

from epsim.budget import BudgetError, Limits, check, estimate_run, format_seconds
from epsim.config.schema import ResolvedConfig
from epsim.errors import InputError
from epsim.io.results import Results
from epsim.mesh.scene import electrode_size
from epsim.runner import run_config
from epsim.translate import electrode_layout, scene_spec

FACTOR = 0.7  # cell sizes per level: 1.7-2.1x the cells measured (at most 1 / 0.7^3 = 2.9x)
MAX_LEVELS = 6


def parse_tolerance(text) -> float:
    """'1 %', '0.5%' or a fraction (0.01) -> a fraction in (0, 0.5]; ValueError otherwise."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"expected a tolerance such as '1 %' or 0.01, got {raw[:40]!r}") from None
    if not 0.0 < value <= 0.5:
        raise ValueError(f"the tolerance must be above 0 % and at most 50 %, got {raw[:40]!r}")
    return value


def tolerance_argument(text: str) -> float:
    """`parse_tolerance` as an argparse type (a bad TOL: a usage error, exit 2)."""
    try:
        return parse_tolerance(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def refined(cfg: ResolvedConfig, factor: float) -> ResolvedConfig:
    """The config with every cell size scaled by `factor`: scene.mesh size, target_size,
    electrode_size (its default from the needles when left out), each refine region's size,
    and an `accuracy` by factor^2 (the accurate-default rule sizes cells by sqrt(accuracy))."""
    m = cfg.scene.mesh
    if m.file is not None:
        raise InputError("--converge refines a generated mesh; scene.mesh.file is a fixed mesh")
    update = {"size": m.size * factor,
              "refine": tuple(r.model_copy(update={"size": r.size * factor}) for r in m.refine)}
    if m.target_size is not None:
        update["target_size"] = m.target_size * factor
    holes = electrode_layout(cfg).holes
    if holes:
        spec = scene_spec(cfg)
        update["electrode_size"] = electrode_size(spec.sizes, holes) * factor
    if m.accuracy is not None:  # the rule's zone between needles (its scale stops at 0.35)
        update["accuracy"] = m.accuracy * factor**2
    scene = cfg.scene.model_copy(update={"mesh": m.model_copy(update=update)})
    return cfg.model_copy(update={"scene": scene})


@dataclass(frozen=True)
class Level:
    """One level: its cells, pair currents (A) and their estimated errors (1), target
    coverages (fractions at E_rev and E_irr, by region name) and wall seconds."""

    factor: float
    cells: int
    currents: np.ndarray
    current_error: np.ndarray
    coverage: dict[str, tuple[float, float]]
    seconds: float


def level_of(results: Results, factor: float, seconds: float) -> Level:
    coverage = {m.name: (m.fraction_rev, m.fraction_irr) for m in results.metrics
                if m.role == "target"}
    errors = results.pair_fields.get("current_error", np.zeros(len(results.current)))
    return Level(factor, len(results.cells), np.asarray(results.current, dtype=float),
                 np.asarray(errors, dtype=float), coverage, seconds)


def change(new: Level, old: Level) -> tuple[float, float]:
    """(largest relative change of a pair current, largest change of a target coverage as a
    fraction of the target's volume) from `old` to `new`."""
    currents = np.max(np.abs(new.currents - old.currents)
                      / np.maximum(np.abs(new.currents), 1e-300))
    coverage = [abs(a - b) for name, pair in new.coverage.items()
                for a, b in zip(pair, old.coverage.get(name, pair))]
    return float(currents), float(max(coverage, default=0.0))


@dataclass
class Outcome:
    """Levels run, the final level's config and results, and whether the changes fell below
    the tolerance (`reason` says why not)."""

    tolerance: float
    factor: float = FACTOR
    levels: list[Level] = field(default_factory=list)
    cfg: ResolvedConfig | None = None
    results: Results | None = None
    converged: bool = False
    reason: str = ""

    def text(self) -> str:
        """The sequence: per level its size factor, cells, currents, target coverages and the
        change from the level before."""
        lines = [f"mesh convergence (--converge {100 * self.tolerance:g} %): cell sizes x"
                 f"{self.factor:g} per level"]
        for k, lev in enumerate(self.levels):
            currents = ", ".join(f"{i:.4g} A (est. error {100 * e:.1f} %)"
                                 for i, e in zip(lev.currents, lev.current_error))
            cover = "; ".join(f"{name} {100 * r:.1f} / {100 * i:.1f} %"
                              for name, (r, i) in lev.coverage.items())
            line = (f"  level {k}: sizes x{lev.factor:.3g}, {lev.cells} cells, "
                    f"{format_seconds(lev.seconds)}; current {currents}")
            if cover:
                line += f"; coverage >= E_rev / E_irr: {cover}"
            if k:
                dc, dv = change(lev, self.levels[k - 1])
                line += f"; change: current {100 * dc:.2f} %, coverage {100 * dv:.2f} points"
            lines.append(line)
        if self.converged:
            lines.append(f"converged: level {len(self.levels) - 1} changed less than "
                         f"{100 * self.tolerance:g} % from the one before; its results are "
                         "written")
            rest = float(np.max(self.levels[-1].current_error, initial=0.0))
            if rest > self.tolerance:  # slow convergence: small changes, larger error
                lines.append(f"note: its currents are still estimated {100 * rest:.1f} % high "
                             "(the changes shrink slowly); a smaller TOL refines further")
        else:
            lines.append(f"NOT converged to {100 * self.tolerance:g} %: {self.reason}")
        return "\n".join(lines)


def converge(cfg: ResolvedConfig, tolerance: float, limits: Limits, *, progress=None,
             use_cache: bool = True, factor: float = FACTOR) -> Outcome:
    """Run levels 0, 1, ... of `refined(cfg, factor ** k)` until the change is below
    `tolerance` (see the module's docstring). The caller checked level 0's budget."""
    refined(cfg, factor)  # a config that cannot be refined fails before any work
    outcome = Outcome(tolerance, factor)
    start = time.perf_counter()
    for k in range(MAX_LEVELS):
        level_cfg = cfg if k == 0 else refined(cfg, factor**k)
        if k:
            spent = time.perf_counter() - start
            try:
                estimate = check(estimate_run(level_cfg), _remaining(limits, spent))
            except BudgetError as exc:
                outcome.reason = f"level {k} is over budget ({exc})"
                return outcome
            if progress:
                progress(f"level {k}: about {estimate.cells:.3g} cells")
        t0 = time.perf_counter()
        results = run_config(level_cfg, progress=progress, use_cache=use_cache)
        outcome.levels.append(level_of(results, factor**k, time.perf_counter() - t0))
        outcome.cfg, outcome.results = level_cfg, results
        if k and max(change(outcome.levels[-1], outcome.levels[-2])) < tolerance:
            outcome.converged = True
            return outcome
    outcome.reason = f"still changing after {MAX_LEVELS} levels"
    return outcome


def _remaining(limits: Limits, spent: float) -> Limits:
    """The limits with the seconds spent so far taken off the time limit."""
    seconds = limits.max_seconds
    if seconds > 0 and np.isfinite(seconds):
        seconds = max(seconds - spent, 1e-9)
    return Limits(limits.max_cells, limits.max_memory, seconds)


__all__ = ["FACTOR", "MAX_LEVELS", "Level", "Outcome", "change", "converge", "parse_tolerance",
           "refined", "tolerance_argument"]
