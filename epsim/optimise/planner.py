"""`epsim optimise CONFIG -o DIR`: plan, verify, write and report.

    report = run_planning("configs/pelvic_deep_seated_plan.yaml", "plan_dir")

writes into DIR:

    plan.yaml          the best plan, a config `epsim run` accepts unchanged
    audit.h5           every evaluated candidate (`epsim.optimise.audit`)
    verification.h5    the plan on a fresh conforming mesh, full nonlinear model (epsim.io)
    initial.h5         the starting plan, the same way
    plan.png, plan_slice.png, initial.png, initial_slice.png   pictures (epsim.viz)
    convergence.png    best coverage and objective against forward evaluations, both optimisers
    report.txt         the summary printed at the end, with the constraint table

Raises `InfeasibleError` (exit code 2) before any solve when a constraint provably cannot hold;
constraints that bind only at the end are reported in the table (with a warning).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from epsim.io import write_results
from epsim.io.atomic import atomic_output, check_writable
from epsim.optimise.audit import Audit
from epsim.optimise.driver import Outcome, plan_treatment
from epsim.optimise.feasibility import Row, binding, check_feasible, format_table
from epsim.optimise.objective import spacing_matrix
from epsim.optimise.plan import Plan, axes, tips
from epsim.optimise.session import Progress, Session
from epsim.optimise.setup import Setup, plan_yaml, planning_setup, read_request
from epsim.runner import run_config

OUTPUTS = (
    "plan.yaml", "audit.h5", "verification.h5", "initial.h5", "plan.png", "plan_slice.png",
    "initial.png", "initial_slice.png", "convergence.png", "report.txt",
)


@dataclass
class PlanReport:
    """What `run_planning` did: the outcome, both verifications, the table, timings, files."""

    setup: Setup
    outcome: Outcome
    initial: object
    verification: object
    rows: list
    text: str
    timings: dict = field(default_factory=dict)
    written: list = field(default_factory=list)

    @property
    def warnings(self) -> list[Row]:
        return [r for r in self.rows if r.status == "VIOLATED"]


def _region(results, material):
    return next(m for m in results.metrics if m.name == material)


def constraint_rows(setup: Setup, plan: Plan, results) -> list[Row]:
    """Every constraint of the request at the plan, values from the verification `results`."""
    goals, block = setup.goals, setup.block
    rows = []
    target = min(_region(results, m).fraction_rev if block.therapy != "ire"
                 else _region(results, m).fraction_irr for m in setup.target_materials)
    rows.append(Row(f"target coverage at {'E_irr' if block.therapy == 'ire' else 'E_rev'}",
                    100 * target, 100 * block.coverage_goal, "goal", "%"))
    for m in setup.spare_materials:
        r = _region(results, m)
        rows.append(Row(f"{m}: max field / E_irr", r.e_max_max / r.e_irr, 1.0, "max"))
    volts = np.asarray(plan.voltage)
    rows.append(Row("pair voltage (max)", float(volts.max()), goals.max_voltage, "max", "V"))
    if goals.min_voltage > 0:
        rows.append(Row("pair voltage (min)", float(volts.min()), goals.min_voltage, "min", "V"))
    if goals.max_current:
        current = float(np.max(np.abs(results.current)))
        rows.append(Row("pair current (max)", current, goals.max_current, "max", "A"))
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
    return rows


def _convergence_plot(outcome: Outcome, audit: Audit, path: Path, goal: float) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, history, colour, phase, short in (
        ("projected Adam (gradients)", outcome.adam_history, "#d62728", "adam", "Adam"),
        ("CMA-ES (no gradients)", outcome.baseline_history, "#1f77b4", "cmaes", "CMA-ES"),
    ):
        if not history:
            continue
        x, value, cover = (np.asarray(v) for v in zip(*history))
        left.plot(x, 100 * cover, color=colour, label=label)
        right.plot(x, value, color=colour, label=label)
        checks = [(r["phase_forward_solves"], r["coverage"]) for r in audit.rows
                  if r["phase"] == phase and r["optimiser"] == "check" and r["nonlinear"]]
        if checks:
            cx, cy = (np.asarray(v) for v in zip(*checks))
            left.plot(cx, 100 * cy, "o", color=colour, mfc="none",
                      label=f"{short}: nonlinear check at its current plan")
    left.axhline(100 * goal, color="k", lw=0.8, ls="--", label=f"goal {100 * goal:g} %")
    left.set_xlabel("forward evaluations (every pair solved)")
    left.set_ylabel("target coverage of the best plan (%)")
    right.set_xlabel("forward evaluations (every pair solved)")
    right.set_ylabel("objective of the best plan")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    left.set_title("best coverage (superposition model; circles: nonlinear)", fontsize=9)
    right.set_title("objective (lower is better)", fontsize=9)
    fig.tight_layout()
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    return path.resolve()


def _pictures(results, out: Path, stem: str) -> list[Path]:
    from epsim.viz import render_overview, render_slice

    return [render_overview(results, out / f"{stem}.png", overwrite=True),
            render_slice(results, out / f"{stem}_slice.png", overwrite=True)]


def _summary(setup, outcome, initial, verification, rows, timings, session) -> str:
    name = "E_irr" if setup.block.therapy == "ire" else "E_rev"
    lines = [f"treatment plan: {len(setup.needles.names)} needles, {len(setup.pair_labels)} pairs, "
             f"coverage threshold {setup.threshold / 100:g} V/cm ({name})"]

    key = "fraction_irr" if name == "E_irr" else "fraction_rev"

    def cover(results):
        return min(getattr(_region(results, m), key) for m in setup.target_materials)

    def ratio(results, m):
        return _region(results, m).e_max_max / _region(results, m).e_irr

    final = outcome.final
    lines.append(f"{'':<44}{'initial':>10}{'plan':>10}")
    if final is not None:
        model = 100 * float(final.aux["metrics"]["coverage_hard"])
        lines.append(f"{'coverage, planning model (moved mesh) %':<44}{'':>10}{model:>10.2f}")
    lines.append(f"{'coverage, verification (fresh mesh) %':<44}{100 * cover(initial):>10.2f}"
                 f"{100 * cover(verification):>10.2f}")
    if final is not None:
        lines.append(f"{'max |current|, planning model A':<44}{'':>10}"
                     f"{float(np.max(np.abs(final.aux['current']))):>10.2f}")
    lines.append(f"{'max |current|, verification A':<44}{np.max(np.abs(initial.current)):>10.2f}"
                 f"{np.max(np.abs(verification.current)):>10.2f}")
    for m in setup.spare_materials:
        lines.append(f"{m + ' max field / E_irr':<44}{ratio(initial, m):>10.3f}"
                     f"{ratio(verification, m):>10.3f}")
    lines.append("pairs (plan): " + ", ".join(
        f"{label} {v:.0f} V {i:.1f} A" for label, v, i in
        zip(setup.pair_labels, np.asarray(outcome.plan.voltage), verification.current)))
    tip = np.asarray(tips(setup.needles, outcome.plan)) * 1e3
    lines.append("needle tips (plan, mm): " + ", ".join(
        f"{n} ({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f})" for n, t in zip(setup.needles.names, tip)))
    if outcome.baseline is not None and outcome.adam_history and outcome.baseline_history:
        a, b = outcome.adam_history[-1], outcome.baseline_history[-1]
        lines.append(f"same forward evaluations ({a[0]} vs {b[0]}): Adam objective {a[1]:.4f}, "
                     f"coverage {100 * a[2]:.1f} %; CMA-ES objective {b[1]:.4f}, "
                     f"coverage {100 * b[2]:.1f} %")
    lines.append(format_table(rows))
    held = binding(rows)
    if any(r.status == "VIOLATED" for r in rows):
        broken = "; ".join(r.constraint for r in held if r.status == "VIOLATED")
        lines.append(f"WARNING: the plan violates: {broken}. Binding constraints: "
                     + "; ".join(r.constraint for r in held))
    elif held:
        lines.append("binding constraints: " + "; ".join(r.constraint for r in held))
    lines.append(f"forward evaluations: {dict(session.forward)}, meshes: {len(session.meshes)} "
                 f"({session.remesh_time:.0f} s meshing)")
    lines.append("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    return "\n".join(lines)


def run_planning(
    config,
    out_dir,
    *,
    overwrite: bool = False,
    render: bool = True,
    progress: Progress | None = None,
    **overrides,
) -> PlanReport:
    """Plan a treatment from a config (see the module doc). `overrides` replace fields of the
    config's `optimise:` block (e.g. starts=2, linear_steps=20, baseline=False).

    Raises:
        InfeasibleError: a constraint cannot hold (before any solve).
        OutputExistsError: an output exists and `overwrite` is false.
        ConfigError, InputError: bad config.
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    for name in OUTPUTS:
        check_writable(out / name, overwrite=overwrite)
    cfg, block, raw = read_request(config)
    if overrides:
        block = block.model_copy(update=overrides)
    setup = planning_setup(cfg, block)
    check_feasible(setup.request)
    progress = progress or Progress()
    audit = Audit(setup.needles.names, setup.pair_labels, tuple(s.name for s in setup.goals.spares))
    session = Session(setup.scene, setup.goals, setup.needles, audit, progress=progress)
    timings = {}
    outcome = plan_treatment(session, setup.start, setup.settings)
    timings["planning"] = time.perf_counter() - t_start

    t0 = time.perf_counter()
    text, plan_cfg = plan_yaml(raw, cfg, setup, outcome.plan, "plan.h5", out)
    out.mkdir(parents=True, exist_ok=True)
    note = progress.note if progress.enabled else None
    verification = run_config(plan_cfg, progress=note)
    initial = run_config(cfg, progress=note)
    timings["verification"] = time.perf_counter() - t0
    written = []
    with atomic_output(out / "plan.yaml", overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    written.append((out / "plan.yaml").resolve())
    written.append(audit.write(out / "audit.h5", overwrite=overwrite))
    written.append(write_results(out / "verification.h5", verification, overwrite=overwrite))
    written.append(write_results(out / "initial.h5", initial, overwrite=overwrite))
    t0 = time.perf_counter()
    if render:
        written += _pictures(initial, out, "initial") + _pictures(verification, out, "plan")
    written.append(_convergence_plot(outcome, audit, out / "convergence.png", block.coverage_goal))
    timings["pictures"] = time.perf_counter() - t0
    rows = constraint_rows(setup, outcome.plan, verification)
    timings["total"] = time.perf_counter() - t_start
    text = _summary(setup, outcome, initial, verification, rows, timings, session)
    with atomic_output(out / "report.txt", overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    written.append((out / "report.txt").resolve())
    return PlanReport(setup, outcome, initial, verification, rows, text, timings, written)
