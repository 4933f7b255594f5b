"""A verified plan against its request, and the common voltage scaling that repairs it.

    rows = constraint_rows(setup, plan, results)        # the report's constraint table
    kept = topped_up(kept, setup, make_config, run, events)   # coverage short: voltages up
    kept = trimmed(kept, setup, make_config, run, events)     # a current over: voltages down

The planner stops where its model meets the goal or where its objective's trade of coverage
against healthy tissue and spared structures settles. A fresh mesh can then read a tenth of a
point less (the pelvic plan once: 99.05 % on its planning mesh, 98.96 % on the fresh one), and
an optimiser path can settle a few points short while every limit has room (the phantom image
plan planned with AMG, before the objective had its goal term: 96.41 % verified, the voltages
at a third of the generator's, the vessel at 0.37 E_irr). `topped_up` then raises every
voltage by one common factor, predicted from the verified field, until the fresh mesh meets the
goal, unless that breaks a limit or needs more than RAISE_LIMIT. `trimmed` is the other way
round: a plan that meets the goal but verifies just over a limit that falls with the voltages
(a pair's current, a spared structure's field) gets voltages lowered (the pairs over the current
limit, or every pair), if the goal still holds.
"""

from __future__ import annotations

import numpy as np

from epsim.errors import InputError, SolverError
from epsim.io import material_metrics
from epsim.optimise.clearance import segment_distance
from epsim.optimise.feasibility import Row
from epsim.optimise.objective import spacing_matrix
from epsim.optimise.plan import Plan, axes, tips
from epsim.optimise.recovery import Events
from epsim.optimise.setup import Setup
from epsim.optimise.verify import Verified
from epsim.viz.common import cell_volumes


CURRENT_ROW = "pair current (max)"  # row names that `_falls_with_voltage` recognises
VOLTAGE_ROW = "pair voltage (max)"


def constraint_rows(setup: Setup, plan: Plan, results) -> list[Row]:
    """Every constraint of the request at the plan, values from the verification `results`;
    the coverage goal first."""
    goals, block = setup.goals, setup.block
    rows = []
    key = "fraction_irr" if block.therapy == "ire" else "fraction_rev"
    target = min(getattr(material_metrics(results.metrics, m), key)
                 for m in setup.target_materials)
    rows.append(Row(f"target coverage at {'E_irr' if block.therapy == 'ire' else 'E_rev'}",
                    100 * target, 100 * block.coverage_goal, "goal", "%"))
    for m in setup.spare_materials:
        r = material_metrics(results.metrics, m)
        rows.append(Row(f"{m}: max field / E_irr", r.e_max_max / r.e_irr, 1.0, "max"))
    volts = np.asarray(plan.voltage)
    rows.append(Row(VOLTAGE_ROW, float(volts.max()), goals.max_voltage, "max", "V"))
    if goals.min_voltage > 0:
        rows.append(Row("pair voltage (min)", float(volts.min()), goals.min_voltage, "min", "V"))
    if goals.max_current:
        current = float(np.max(np.abs(results.current)))
        rows.append(Row(CURRENT_ROW, current, goals.max_current, "max", "A"))
    s = np.asarray(spacing_matrix(setup.needles, plan))
    n = len(s)
    if goals.min_spacing:
        closest = min(s[i, j] for i in range(n) for j in range(i + 1, n))
        rows.append(Row("needle spacing (min, all pairs)", closest * 1e3,
                        goals.min_spacing * 1e3, "min", "mm"))
    if goals.max_spacing:
        widest = max(s[i, j] for i, j in goals.firing)
        rows.append(Row("needle spacing (max, firing pairs)", widest * 1e3,
                        goals.max_spacing * 1e3, "max", "mm"))
    tip, axis = tips(setup.needles, plan), axes(setup.needles, plan)
    if goals.keep_out > 0 and goals.spares:
        active = np.asarray(setup.needles.active_length)[:, None, None]
        t = np.linspace(0.0, 1.0, 9)[None, :, None] * active
        samples = np.asarray(tip)[:, None, :] + t * np.asarray(axis)[:, None, :]
        radius = np.asarray(setup.needles.radius)[:, None]
        clear = min(
            float(np.min(np.asarray(s.distance(samples)) - radius))
            for s in goals.spares if s.distance is not None
        )
        rows.append(Row("clearance from spared structures", clear * 1e3, goals.keep_out * 1e3,
                        "min", "mm"))
    if goals.entry_centre is not None:
        exits = np.asarray(goals.exit_point(tip, axis))
        miss = np.linalg.norm(exits - np.asarray(goals.entry_centre), axis=1)
        rows.append(Row("entry distance from region centre", float(miss.max()) * 1e3,
                        goals.entry_radius * 1e3, "max", "mm"))
    if block.min_gap:  # needles' surfaces along their whole length, tip to skin
        ends = np.asarray(goals.exit_point(tip, axis))
        r = np.asarray(setup.needles.radius)
        gap = min(float(segment_distance(tip[i], ends[i], tip[j], ends[j])) - r[i] - r[j]
                  for i in range(n) for j in range(i + 1, n))
        rows.append(Row("needle gap (min, whole length)", gap * 1e3, block.min_gap * 1e3,
                        "min", "mm"))
    return rows


def goal_and_broken(setup: Setup, plan: Plan, results) -> tuple[Row, list[Row]]:
    """The coverage goal's row and the rows of the other constraints the plan breaks."""
    goal, *others = constraint_rows(setup, plan, results)
    return goal, [r for r in others if r.status == "VIOLATED"]


def _names(rows: list[Row]) -> str:
    return ", ".join(r.constraint for r in rows)


def target_cells(results, materials, therapy: str):
    """(cells, threshold, volumes): the cells of the target `materials` in a results file, the
    coverage threshold of each (its material's E_rev, E_irr for ire; V/m) and their volumes
    (m^3)."""
    key = "e_irr" if therapy == "ire" else "e_rev"
    cells, threshold = [], []
    for m in materials:
        regions = [k for k in range(len(results.region_names)) if results.material_of(k) == m]
        inside = np.flatnonzero(np.isin(results.cell_region, regions))
        cells.append(inside)
        threshold.append(np.full(len(inside), getattr(material_metrics(results.metrics, m), key)))
    cells = np.concatenate(cells)
    return cells, np.concatenate(threshold), cell_volumes(results.points, results.cells[cells])


def needed_raise(results, materials, therapy: str, goal: float) -> float:
    """The common factor on every voltage that would bring each target material's verified
    coverage to `goal` (a fraction) if the field grew in proportion to the voltages: the
    material's threshold over the field that a fraction 1 - goal of its volume stays under.
    Conductivity rising with the field makes the real growth somewhat different: a prediction
    to try on the fresh mesh, not a result."""
    factor = 1.0
    for m in materials:
        cells, threshold, volume = target_cells(results, [m], therapy)
        reached = np.asarray(results.e_max)[cells] / threshold  # 1 at the threshold
        order = np.argsort(reached)
        below = np.cumsum(volume[order]) / volume.sum()  # volume at or under each ratio
        k = min(int(np.searchsorted(below, 1.0 - goal, side="right")), len(order) - 1)
        factor = max(factor, 1.0 / max(float(reached[order[k]]), 1e-30))
    return factor


RAISE_LIMIT = 0.25  # at most 25 % above the plan's voltages: beyond, the shortfall is the plan's
RAISE_TRIES = 3  # fresh-mesh runs; each aims at the goal from the last one's field
RAISE_AIM = 0.002  # aim this much coverage (a fraction) above the goal
RAISE_MIN_STEP = 0.005  # a try raises at least 0.5 % over the last


def _scaled_run(kept: Verified, scale, label: str, make_config, run, events: Events):
    """The kept layout with its voltages times `scale` (one factor or one per pair), run on the
    verification's mesh sizes (the mesh cache serves the same layout): (plan, text, config,
    results), or None when it could not be run (an event)."""
    plan = Plan(kept.plan.shift, kept.plan.tilt, kept.plan.voltage * scale)
    try:
        text, config = make_config(plan, kept.attempt.size_scale)
        return plan, text, config, run(config)
    except (InputError, SolverError) as exc:  # a MeshError is an InputError
        events.add("verification", f"{label}: not verified", f"{exc}; plan kept")
        return None


def topped_up(kept: Verified, setup: Setup, make_config, run, events: Events) -> Verified:
    """The verified plan, or, when its fresh-mesh coverage misses the goal with every other
    constraint met, the same layout with every voltage raised by one factor (at most
    RAISE_LIMIT, the generator's limit respected) that meets the goal and still every
    constraint. Each try is an event; a try that breaks a constraint, or a goal that needs
    more, keeps the plan as it was."""
    goal, broken = goal_and_broken(setup, kept.plan, kept.results)
    if goal.status != "VIOLATED" or broken:
        return kept
    base = np.asarray(kept.plan.voltage)
    aim = min(setup.block.coverage_goal + RAISE_AIM, 1.0)
    # the generator's limit, a hair inside so that rounding cannot put a pair over it
    ceiling = min(1.0 + RAISE_LIMIT, (1 - 1e-9) * setup.goals.max_voltage / float(base.max()))
    scale, results = 1.0, kept.results
    for _ in range(RAISE_TRIES):
        if scale >= ceiling:
            break
        step = needed_raise(results, setup.target_materials, setup.block.therapy, aim)
        scale = min(scale * max(step, 1.0 + RAISE_MIN_STEP), ceiling)
        label = f"voltages raised {100 * (scale - 1):.1f} %"
        tried = _scaled_run(kept, scale, label, make_config, run, events)
        if tried is None:
            return kept
        plan, text, config, results = tried
        reached, broken = goal_and_broken(setup, plan, results)
        if broken:
            events.add("verification", f"{label}: breaks a constraint",
                       f"{_names(broken)}; plan kept at {goal.value:.2f} % coverage")
            return kept
        if reached.status != "VIOLATED":
            events.add("verification", label,
                       f"verified coverage {goal.value:.2f} % -> {reached.value:.2f} % "
                       f"(goal {goal.limit:g} %)")
            return Verified(plan, text, config, results, kept.attempt, kept.rank, kept.label)
        events.add("verification", f"{label}: short of the goal",
                   f"{reached.value:.2f} % (goal {goal.limit:g} %)")
    why = (f"the goal needs more than +{100 * (ceiling - 1):.1f} % (a raise's limit or the "
           f"generator's)" if scale >= ceiling else f"{RAISE_TRIES} raises fell short")
    events.add("verification", "voltages not raised", f"{why}; plan kept at {goal.value:.2f} %")
    return kept


TRIM_MARGIN = 0.01  # a lowering aims 1 % inside the limits it broke
TRIM_TRIES = 2


def _falls_with_voltage(row: Row) -> bool:
    """Whether a constraint's value falls when the voltages do: the largest current, the
    largest voltage, a spared structure's field (geometry does not move)."""
    return (row.constraint in (CURRENT_ROW, VOLTAGE_ROW)
            or row.constraint.endswith("max field / E_irr"))


def trim_factors(over: list[Row], results) -> np.ndarray:
    """(n_pairs,) factors on the voltages that bring the broken limits TRIM_MARGIN inside, as if
    each value fell in proportion: a pair over the current limit by its own current (pairs fire
    one at a time: the others keep theirs), every pair by a spared field's or the voltage's
    ratio (the largest over the pairs)."""
    current = np.abs(np.asarray(results.current, dtype=float))
    factor = np.ones_like(current)
    for r in over:
        if r.constraint == CURRENT_ROW:
            factor = np.minimum(factor, np.where(current > r.limit,
                                                 (1 - TRIM_MARGIN) * r.limit / current, 1.0))
        else:
            factor = np.minimum(factor, (1 - TRIM_MARGIN) * r.limit / r.value)
    return factor


def _lowering(scale: np.ndarray, results) -> str:
    """The event's words for a lowering: one factor, or the pairs lowered and by how much."""
    if np.all(scale == scale[0]):
        return f"voltages lowered {100 * (1 - scale[0]):.1f} %"
    lowered = [f"{results.pair_label(k)} {100 * (1 - scale[k]):.1f} %"
               for k in np.flatnonzero(scale < 1.0)]
    return f"voltages lowered: {', '.join(lowered)}"


def trimmed(kept: Verified, setup: Setup, make_config, run, events: Events) -> Verified:
    """The verified plan, or, when it meets the coverage goal but breaks only limits that fall
    with the voltages (a pair's current over the generator's limit, a spared structure above
    E_irr), the same layout with voltages lowered (`trim_factors`: only the pairs over the
    current limit, or every pair for a field) so that every limit and still the goal hold.

    The planning model's currents and fields can differ from the fresh mesh's by a few per
    cent, so a plan that the optimiser left just inside a limit can verify just outside it.
    Each try is an event; a try that loses the goal or breaks another constraint keeps the
    plan as it was."""
    goal, over = goal_and_broken(setup, kept.plan, kept.results)
    if goal.status == "VIOLATED" or not over or not all(map(_falls_with_voltage, over)):
        return kept
    names = _names(over)
    scale, results = np.ones(len(kept.results.current)), kept.results
    for _ in range(TRIM_TRIES):
        scale = scale * trim_factors(over, results)
        label = _lowering(scale, results)
        tried = _scaled_run(kept, scale, label, make_config, run, events)
        if tried is None:
            return kept
        plan, text, config, results = tried
        reached, over = goal_and_broken(setup, plan, results)
        lost = [r for r in over if not _falls_with_voltage(r)]
        if reached.status == "VIOLATED":
            lost.insert(0, reached)
        if lost:
            events.add("verification", f"{label}: breaks a constraint",
                       f"{_names(lost)}; plan kept over {names}")
            return kept
        if not over:
            events.add("verification", label,
                       f"{names} within limits; verified coverage {goal.value:.2f} % -> "
                       f"{reached.value:.2f} % (goal {goal.limit:g} %)")
            return Verified(plan, text, config, results, kept.attempt, kept.rank, kept.label)
        events.add("verification", f"{label}: still over",
                   ", ".join(f"{r.constraint} {r.value:.4g}" for r in over))
    events.add("verification", "voltages not lowered",
               f"{TRIM_TRIES} tries stayed over a limit; plan kept over {names}")
    return kept
