"""How many needles: one plan per needle count, the smallest that meets every goal.

    report = run_count_search("configs/pelvic_deep_seated_count.yaml", "count_dir")

for a config whose `optimise:` block has `needles: {model: VGD-12, count: {min: 3, max: 8},
active_lengths: [20, 30, 40]}`. For each count n, in increasing order:

1. a starting layout from the target's shape (`epsim.optimise.layouts`: a ring, or a grid, around
   the principal axes of its cross-section, parallel needles along the shortest way in or towards
   the entry region, fitted inside the entry region; snapped to a guide template if one is
   given), the active length from the list, candidate pairs: every pair within max_spacing
   (`epsim.optimise.pairs`), each starting at the model's recommended U/d (1000 V/cm without a
   model) times its spacing, at most 80 % of max_voltage;
2. the necessary conditions of `check_feasible` and of the layout (spacing and entry region,
   candidate pairs); a count that cannot hold is skipped, and when no count can, the search
   stops before any solve with `InfeasibleError` (exit code 2) naming each count's binding
   constraint;
3. the plan of that layout (`run_planning` on the count's config, `DIR/count_<n>/start.yaml`,
   outputs in `DIR/count_<n>/`; no CMA-ES baseline unless asked), judged by its fresh-mesh
   verification: it succeeds when no row of the constraint table is VIOLATED. The screen:
   when the nonlinear checks of the linear stage (coarse mesh, full model) all stay more than
   `needles.screen_margin` (1 point) below the coverage goal, the count stops there, before
   the nonlinear stage and the verification (about two thirds of a count's cost): it cannot
   be expected to reach the goal (the best check lay 0.01-0.9 points above the final verified
   coverage on the pelvic scene). Such a count is listed as screened out, not verified.

Counts are tried in increasing order and the search stops at the first that succeeds: that is
the smallest count that meets the goals (larger counts are not planned). Its firing pairs that
add no coverage on its verification are then left out (`needles.prune`; `redundant_pairs`: exact,
since each pair fires on its own) and the plan is verified again without them (`_prune`).
`DIR/plan.yaml` is its plan; `DIR/report.txt` lists every count tried (verified coverage,
largest current, pulses, time) and the chosen plan's report. With no count succeeding, the
best (highest verified coverage) is written, marked with a warning. With a template, the needles
stay in their guide holes (lateral moves frozen; depth and voltages are optimised).

The config needs no electrodes or pairs (placeholders stand in, epsim.config.schema); any it
has are not used.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import yaml

from epsim.errors import InputError
from epsim.io.errors import OutputExistsError
from epsim.io.atomic import atomic_output, check_writable
from epsim.mesh.scene import Box
from epsim.optimise.constraints import target_cells
from epsim.optimise.driver import ScreenedOut
from epsim.optimise.feasibility import InfeasibleError, check_feasible
from epsim.optimise.layouts import (
    fit_offsets,
    grid_offsets,
    host_function,
    insertion_direction,
    needle_lines,
    ring_offsets,
    snap,
    target_frame,
    target_samples,
)
from epsim.optimise.pairs import candidate_pairs, fired, redundant_pairs
from epsim.optimise.setup import absolute_inputs, planning_setup, read_request
from epsim.translate import scene_spec

DEFAULT_U_OVER_D = 1000e2
"""V/m: the starting U/d of every pair without a catalogue model (8 x 100 us at 1000 V/cm, the
deep-seated protocol named in issue 12; the model's own value when it states one)."""

START_FRACTION = 0.8
"""Starting voltages stay below this fraction of max_voltage (room for the optimiser)."""


@dataclass(frozen=True)
class CountStart:
    """The starting layout of one count: n needles, the config data to plan it, the active
    length (m), the candidate pairs, and the binding constraint when it cannot hold (or None)."""

    n: int
    data: dict | None
    active_length: float
    pairs: int
    problem: str | None


@dataclass
class CountRow:
    """One count tried: its plan report (or None if it stopped) and how it went."""

    n: int
    active_length: float
    candidates: int
    report: object = None
    seconds: float = 0.0
    failure: str | None = None
    screened: float | None = None  # best nonlinear check of a count screened out (fraction)
    folder: Path | None = None  # where the plan of `report` is
    unpruned: object = None  # the plan before and after leaving out redundant pairs, if any
    pruned: object = None

    @property
    def ok(self) -> bool:
        return self.report is not None and not any(r.status == "VIOLATED"
                                                   for r in self.report.rows)

    @property
    def coverage(self) -> float:
        """Verified target coverage, % (the first row of the constraint table)."""
        return coverage(self.report)

    def line(self) -> str:
        head = f"{self.n:>5}{self.active_length * 1e3:>8.0f}"
        if self.report is None:
            why = (f"screened out: {self.failure}" if self.screened is not None
                   else f"stopped: {self.failure}")
            return f"{head}{self.candidates:>7}{'-':>7}{'-':>10}{'-':>9}{'-':>8}" \
                   f"{self.seconds:>8.0f}  {why}"
        setup, plan = self.report.setup, self.report.outcome.plan
        on = int(fired(plan.voltage, setup.block.drop_voltage).sum())
        current = float(np.max(np.abs(self.report.verification.current)))
        cover = self.coverage
        broken = [r.constraint for r in self.report.rows if r.status == "VIOLATED"]
        verdict = "meets every goal and limit" if not broken else "VIOLATED: " + "; ".join(broken)
        line = (f"{head}{self.candidates:>7}{on:>7}{cover:>10.2f}{current:>9.2f}"
                f"{on * setup.pulses:>8}{self.seconds:>8.0f}  {verdict}")
        if self.pruned is not None:
            before = int(fired(self.unpruned.outcome.plan.voltage, setup.block.drop_voltage).sum())
            after = len(self.pruned.setup.pair_labels)
            kept = "pruned" if self.report is self.pruned else "full"
            line += (f"\n{'':>5}  pairs that add no coverage left out: {before} -> {after} "
                     f"pairs, {coverage(self.unpruned):.2f} % -> {coverage(self.pruned):.2f} % "
                     f"verified; the {kept} plan kept")
        return line


def coverage(report) -> float:
    """Verified target coverage of a plan report, % (its constraint table's first row)."""
    return report.rows[0].value if report is not None else float("-inf")


def _violations(report) -> int:
    return sum(r.status == "VIOLATED" for r in report.rows)


def pruned_data(plan_text: str, optimise: dict, drop: list[str]) -> dict:
    """The pruned plan's config: plan.yaml without the pairs `drop` ("anode -> cathode"), the
    needles and the other voltages as planned, no optimisation steps (the planner verifies it
    as it is)."""
    data = yaml.safe_load(plan_text)
    protocol = dict(data["protocol"])
    protocol["pairs"] = [p for p in protocol["pairs"]
                         if f"{p['anode']} -> {p['cathode']}" not in drop]
    data["protocol"] = protocol
    data["optimise"] = {**optimise, "linear_steps": 0, "nonlinear_steps": 0, "baseline": False}
    data["output"] = {**dict(data.get("output") or {}), "file": "start.h5"}
    return data


def covered_cells(results, materials, therapy: str) -> tuple[np.ndarray, np.ndarray]:
    """(n_pairs, n_target_cells) whether each pair's field reaches the target material's E_rev
    (E_irr for ire) in each cell of the target materials, and those cells' volumes (m^3)."""
    cells, threshold, volumes = target_cells(results, materials, therapy)
    return np.asarray(results.e_mag)[:, cells] >= threshold, volumes


HEADER = (f"{'count':>5}{'active':>8}{'cand.':>7}{'fired':>7}{'cover %':>10}{'max A':>9}"
          f"{'pulses':>8}{'time s':>8}  result (verified on a fresh mesh)")


@dataclass
class CountReport:
    """What `run_count_search` did: every count tried, the chosen one, the text, the files."""

    rows: list[CountRow]
    chosen: CountRow | None
    skipped: list[CountStart]
    text: str
    written: list = field(default_factory=list)

    @property
    def warnings(self):
        return self.chosen.report.warnings if self.chosen is not None else []


def needle_model(search) -> tuple[float, tuple[float, ...], float]:
    """(diameter m, active lengths m, starting U/d V/m) of the search's needles: the block's
    values, else the catalogue model's."""
    diameter, lengths, u_d = search.diameter, search.active_lengths, DEFAULT_U_OVER_D
    if search.model is not None:
        from epsim.config.catalogue import electrode_model

        model = electrode_model(search.model)
        if model.type != "needle":
            raise InputError(f"optimise.needles.model: {search.model} is a {model.type}, "
                             "not a needle")
        diameter = diameter or model.geometry["diameter"].value
        lengths = lengths or model.choices("active_length")
        if "voltage_to_distance" in model.protocol:
            u_d = model.protocol["voltage_to_distance"].value
    if diameter is None:
        raise InputError("optimise.needles: give a model or a diameter")
    if not lengths:
        raise InputError("optimise.needles: give active_lengths (or a model that has them)")
    return float(diameter), tuple(float(x) for x in lengths), float(u_d)


def _mm(x: float) -> str:
    return f"{x * 1e3:.4f} mm"


def _layout_problem(n, offsets, diameter, block, entry) -> str | None:
    """The binding constraint of a layout that cannot be spread to min_spacing (or min_gap)
    inside the entry region, or None."""
    gaps = [np.linalg.norm(offsets[i] - offsets[j]) for i in range(n) for j in range(i + 1, n)]
    need = max(block.min_spacing or 0.0, (block.min_gap or 0.0) + diameter)
    if need and min(gaps) < need * (1 - 1e-9):
        where = f" of radius {entry.radius * 1e3:g} mm" if entry else ""
        return (f"spacing in the entry region: {n} needles at least {need * 1e3:g} mm apart do "
                f"not fit in the entry region{where} (layout: {min(gaps) * 1e3:.3g} mm)")
    return None


def count_starts(cfg, block, raw) -> list[CountStart]:
    """The starting layout of every count of the block's range (module doc, steps 1-2)."""
    search = block.needles
    spec = scene_spec(cfg)
    if not isinstance(spec.domain, Box):
        raise InputError("optimise.needles: the count search needs a box domain (entries on "
                         "its faces)")
    setup = planning_setup(cfg, block.model_copy(update={"needles": None}))
    goals = setup.goals
    if any(t.distance is None for t in goals.targets):
        raise InputError("optimise.needles: the count search needs targets with an analytic "
                         "shape (not STL)")

    distance = host_function(lambda p: jnp.min(jnp.stack([t.distance(p) for t in goals.targets]),
                                               axis=0))
    exit_point = host_function(goals.exit_point, rows=64)

    lo = np.asarray(spec.domain.center) - 0.5 * np.asarray(spec.domain.size)
    hi = lo + np.asarray(spec.domain.size)
    points = target_samples(distance, lo, hi)
    if len(points) < 10:
        raise InputError("optimise.needles: the target is too small to locate on a "
                         f"{len(points)}-point sample of the domain")
    entry = block.entry_region
    centre = points.mean(axis=0)
    frame = target_frame(points, insertion_direction(centre, lo, hi,
                                                     entry.center if entry else None))
    diameter, lengths, u_d = needle_model(search)
    reach = float(np.linalg.norm(hi - lo))
    out = []
    for n in range(search.count.min, search.count.max + 1):
        make = ring_offsets if search.layout == "ring" else grid_offsets
        offsets = make(n, frame.semi, search.spread)
        need = max(block.min_spacing or 0.0, (block.min_gap or 0.0) + diameter) * 1.05
        closest = min(np.linalg.norm(offsets[i] - offsets[j]) for i in range(n)
                      for j in range(i + 1, n))
        if need and closest < need:  # spread the layout to the spacing it must keep
            offsets = offsets * need / closest
        if entry is not None:
            offsets = fit_offsets(offsets, frame, exit_point, entry.center, entry.radius)
        if search.template is not None:
            offsets = snap(offsets, search.template.pitch)
        tips, entries, active = needle_lines(frame, offsets, distance, exit_point,
                                             lengths, reach)
        request = dataclasses.replace(setup.request, n_needles=n, active_lengths=(active,) * n)
        problem = _layout_problem(n, offsets, diameter, block, entry)
        try:
            check_feasible(request)
        except InfeasibleError as exc:
            problem = problem or str(exc).removeprefix("binding constraint: ")
        centres = tips + 0.5 * active * frame.direction
        pairs = candidate_pairs(centres, block.max_spacing and 0.97 * block.max_spacing)
        if not pairs and problem is None:
            problem = (f"max_spacing: no two of {n} needles are within "
                       f"{block.max_spacing * 1e3:g} mm of each other")
        data = None
        if problem is None:
            data = _count_data(raw, cfg, n, tips, entries, diameter, active, pairs, centres,
                               u_d, setup.goals, search.template is not None, search.model)
        out.append(CountStart(n, data, active, len(pairs), problem))
    return out


def _count_data(raw, cfg, n, tips, entries, diameter, active, pairs, centres, u_d, goals,
                template, model=None) -> dict:
    """The config data of one count: the layout's needles, every candidate pair, the optimise
    block without its count search (no baseline unless the config asks; a template freezes
    lateral moves)."""
    names = [f"n{k + 1}" for k in range(n)]
    low, high = goals.min_voltage, goals.max_voltage
    data = dict(raw)
    data["electrodes"] = [
        {"name": name, **({"model": model} if model else {}), "type": "needle",
         "tip": [_mm(x) for x in t],
         "entry": [_mm(x) for x in e], "diameter": _mm(diameter), "active_length": _mm(active)}
        for name, t, e in zip(names, tips, entries)
    ]
    protocol = {k: v for k, v in dict(raw["protocol"]).items() if k != "voltage_to_distance"}
    protocol["pairs"] = [
        {"anode": names[i], "cathode": names[j], "voltage": "%.2f V" % float(np.clip(
            u_d * np.linalg.norm(centres[i] - centres[j]), low, max(low, START_FRACTION * high)))}
        for i, j in pairs
    ]
    data["protocol"] = protocol
    data["scene"] = absolute_inputs(raw["scene"], cfg)
    optimise = {k: v for k, v in dict(raw["optimise"]).items() if k != "needles"}
    optimise.setdefault("baseline", False)
    if template:
        optimise["lateral"] = False
    data["optimise"] = optimise
    data["output"] = {**dict(raw.get("output") or {}), "file": "start.h5"}
    return data


def check_counts(starts: list[CountStart]) -> list[CountStart]:
    """The counts that may hold; `InfeasibleError` naming the binding constraint of every count
    when none can (before any solve): counts grouped by constraint, each group's detail from
    the count nearest to holding it (the most needles for max_voltage, the fewest otherwise)."""
    feasible = [s for s in starts if s.problem is None]
    if feasible:
        return feasible
    groups: dict[str, list[CountStart]] = {}
    for s in starts:
        groups.setdefault(s.problem.split(":")[0].split(",")[0], []).append(s)
    parts = []
    for kind, group in groups.items():
        nearest = group[-1] if kind == "max_voltage" else group[0]
        counts = f"{group[0].n}-{group[-1].n}" if len(group) > 1 else f"{group[0].n}"
        parts.append(f"{counts} needles: binding constraint: {nearest.problem}")
    raise InfeasibleError(f"no needle count from {starts[0].n} to {starts[-1].n} can meet the "
                          "request: " + "; ".join(parts))


def _table(rows: list[CountRow], skipped: list[CountStart]) -> list[str]:
    lines = ["needle counts tried (in increasing order; the search stops at the first that "
             "meets every goal and limit):", HEADER]
    lines += [r.line() for r in rows]
    lines += [f"{s.n:>5}  skipped before solving: {s.problem}" for s in skipped]
    return lines


def _write_text(path: Path, text: str, overwrite: bool) -> Path:
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path.resolve()


def run_count_search(config, out_dir, *, overwrite=False, render=True, progress=None,
                     **overrides) -> CountReport:
    """Plan every count of the config's `optimise.needles` range (module doc)."""
    from epsim.optimise.planner import run_planning  # planner dispatches here: no cycle

    out = Path(out_dir)
    cfg, block, raw = read_request(config)
    if overrides:
        block = block.model_copy(update=overrides)
    starts = count_starts(cfg, block, raw)
    feasible = check_counts(starts)
    for name in ("plan.yaml", "report.txt"):
        check_writable(out / name, overwrite=overwrite)
    margin = block.needles.screen_margin
    screen_below = None if margin is None else block.coverage_goal - margin
    rows, chosen = [], None
    for start in feasible:
        folder = out / f"count_{start.n}"
        folder.mkdir(parents=True, exist_ok=True)
        path = _write_text(folder / "start.yaml", yaml.safe_dump(
            start.data, sort_keys=False, default_flow_style=None, width=110), overwrite)
        row = CountRow(start.n, start.active_length, start.pairs)
        t0 = time.perf_counter()
        try:
            row.report = run_planning(path, folder, overwrite=overwrite, render=render,
                                      progress=progress, verify_start=False,
                                      screen_below=screen_below, **overrides)
        except OutputExistsError:
            raise
        except ScreenedOut as out_of_reach:
            row.screened = out_of_reach.coverage
            row.failure = (f"{out_of_reach}, below the goal less {100 * margin:g} points; "
                           "not verified")
        except Exception as exc:  # a count that stopped (exit 4 in a plain plan): try the next
            row.failure = str(exc).splitlines()[0]
        row.folder = folder
        if row.ok and block.needles.prune:
            _prune(row, folder, start.data["optimise"], overwrite=overwrite, render=render,
                   progress=progress, **overrides)
        row.seconds = time.perf_counter() - t0
        rows.append(row)
        if row.ok:
            chosen = row
            break
    return _finish(out, rows, chosen, [s for s in starts if s.problem], overwrite)


def _prune(row: CountRow, folder: Path, optimise: dict, *, overwrite, **options) -> None:
    """Leave out the firing pairs that add no coverage on the count's verification
    (`redundant_pairs`) and verify the plan without them (`DIR/count_<n>/pruned/`); it replaces
    the count's plan when it violates no more limits and covers at least as much (the same
    layout meshes alike, so the kept pairs' fields and the coverage are the same)."""
    from epsim.optimise.planner import run_planning

    report = row.report
    fires = fired(report.outcome.plan.voltage, report.setup.block.drop_voltage)
    labels = list(np.asarray(report.setup.pair_labels)[fires])
    covered, volumes = covered_cells(report.verification, report.setup.target_materials,
                                     report.setup.block.therapy)
    drop = [labels[k] for k in redundant_pairs(covered, volumes, report.verification.voltage)]
    if not drop:
        return
    text = (folder / "plan.yaml").read_text(encoding="utf-8")
    path = _write_text(folder / "pruned" / "start.yaml", yaml.safe_dump(
        pruned_data(text, optimise, drop), sort_keys=False, default_flow_style=None, width=110),
        overwrite)
    try:
        pruned = run_planning(path, folder / "pruned", overwrite=overwrite, verify_start=False,
                              **options)
    except OutputExistsError:
        raise
    except Exception:  # the full plan stands (the pruned folder's report says why)
        return
    row.unpruned, row.pruned = report, pruned
    if (_violations(pruned), -coverage(pruned)) <= (_violations(report), -coverage(report)):
        row.report, row.folder = pruned, folder / "pruned"


def _finish(out: Path, rows, chosen, skipped, overwrite) -> CountReport:
    lines = _table(rows, skipped)
    pick = chosen
    if pick is None:
        done = [r for r in rows if r.report is not None]
        pick = max(done, key=lambda r: r.coverage, default=None)
        lines.append("WARNING: no needle count meets every goal and limit"
                     + (f"; plan.yaml holds the best coverage, {pick.n} needles" if pick else ""))
    else:
        lines.append(f"chosen: {pick.n} needles, the smallest count that meets every goal and "
                     f"limit ({pick.folder.relative_to(out)}/)")
    written = []
    if pick is not None:
        plan = (pick.folder / "plan.yaml").read_text(encoding="utf-8")
        written.append(_write_text(out / "plan.yaml", plan, overwrite))
        lines += ["", f"plan of {pick.n} needles:", pick.report.text]
    text = "\n".join(lines)
    written.append(_write_text(out / "report.txt", text + "\n", overwrite))
    for r in rows:
        others = [x for x in (r.unpruned, r.pruned) if x is not None and x is not r.report]
        for report in [r.report, *others] if r.report is not None else []:
            written += report.written
    return CountReport(rows, chosen, skipped, text, written)


__all__ = ["CountReport", "CountRow", "CountStart", "check_counts", "count_starts", "coverage",
           "covered_cells", "needle_model", "pruned_data", "run_count_search"]
