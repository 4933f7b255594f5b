"""`epsim optimise CONFIG -o DIR`: plan, verify, write and report.

    report = run_planning("configs/pelvic_deep_seated_plan.yaml", "plan_dir")

writes into DIR:

    plan.yaml          the best plan, a config `epsim run` accepts unchanged
    audit.h5           every evaluated candidate (`epsim.optimise.audit`)
    verification.h5    the plan on a fresh conforming mesh, full nonlinear model (epsim.io)
    initial.h5         the starting plan, the same way
    plan.png, plan_slice.png, initial.png, initial_slice.png   pictures (epsim.viz)
    convergence.png    best coverage and objective against forward evaluations, both optimisers
    report.txt         the summary printed at the end, with the constraint table and the events
    plan.json, plan.html   the plan sheet: needles, pulse sequence, coverage (epsim.optimise.sheet)
    checkpoint/        the planner's state after every step (removed when the plan is written)

Raises `InfeasibleError` (exit code 2) before any solve when a constraint provably cannot hold;
constraints that bind only at the end are reported in the table (with a warning). Meshing
failures are recovered from (`epsim.optimise.recovery`, `epsim.optimise.verify`) and listed in
the report and in audit.h5 (/events). Anything that stops the run after solving began keeps
what was computed (the best plan so far as plan.yaml, marked unverified, the audit, a report
saying what failed where, the checkpoint) and raises `IncompleteRunError` (exit code 4);
`resume=True` (`--resume`) continues from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from epsim.errors import EpsimError, IncompleteRunError
from epsim.io import material_metrics, write_results
from epsim.io.atomic import atomic_output, check_writable
from epsim.io.errors import OutputExistsError
from epsim.optimise.audit import Audit
from epsim.optimise.checkpoint import Checkpoint, fingerprint
from epsim.optimise.clearance import scene_clearance
from epsim.optimise.constraints import constraint_rows, topped_up, trimmed
from epsim.optimise.driver import Outcome, ScreenedOut, plan_treatment
from epsim.optimise.feasibility import Row, binding, check_feasible, format_table
from epsim.optimise.pairs import fired, sequence_lines
from epsim.optimise.plan import Plan, tips
from epsim.optimise.recovery import Events, MeshFaults
from epsim.optimise.robust_plan import robust_planning
from epsim.optimise.session import Progress, Session
from epsim.optimise.setup import Setup, plan_yaml, planning_setup, read_request
from epsim.optimise.sheet import write_plan_sheet
from epsim.optimise.verify import Verified, verify
from epsim.runner import run_config

OUTPUTS = (
    "plan.yaml", "audit.h5", "verification.h5", "initial.h5", "plan.png", "plan_slice.png",
    "initial.png", "initial_slice.png", "convergence.png", "report.txt",
    "plan.json", "plan.html",
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
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:  # a run with no steps drew no labelled line
            ax.legend(fontsize=8)
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


def _event_lines(events: Events) -> list[str]:
    """The events for the report: each recovery in full, projected steps as one count."""
    projected = sum(1 for _, what, _ in events.rows if what == "step projected")
    lines = [line for line, (_, what, _) in zip(events.lines(), events.rows)
             if what != "step projected"]
    if projected:
        lines.append(f"[optimisation] {projected} step(s) shortened or lengthened to keep the "
                     "needles clear of each other and of the surfaces (gmsh clearances)")
    return lines


def _summary(setup, outcome, initial, verification, rows, timings, session) -> str:
    name = "E_irr" if setup.block.therapy == "ire" else "E_rev"
    lines = [f"treatment plan: {len(setup.needles.names)} needles, {len(setup.pair_labels)} pairs, "
             f"coverage threshold {setup.threshold / 100:g} V/cm ({name})"]

    key = "fraction_irr" if name == "E_irr" else "fraction_rev"

    def cover(results):
        return min(getattr(material_metrics(results.metrics, m), key)
                   for m in setup.target_materials)

    def ratio(results, m):
        r = material_metrics(results.metrics, m)
        return r.e_max_max / r.e_irr

    def start(value, fmt):  # the initial column: empty when the start could not be verified
        return f"{value(initial):>10{fmt}}" if initial is not None else f"{'-':>10}"

    final = outcome.final
    lines.append(f"{'':<44}{'initial':>10}{'plan':>10}")
    if final is not None:
        model = 100 * float(final.aux["metrics"]["coverage_hard"])
        lines.append(f"{'coverage, planning model (moved mesh) %':<44}{'':>10}{model:>10.2f}")
    lines.append(f"{'coverage, verification (fresh mesh) %':<44}"
                 f"{start(lambda r: 100 * cover(r), '.2f')}{100 * cover(verification):>10.2f}")
    if final is not None:
        lines.append(f"{'max |current|, planning model A':<44}{'':>10}"
                     f"{float(np.max(np.abs(final.aux['current']))):>10.2f}")
    lines.append(f"{'max |current|, verification A':<44}"
                 f"{start(lambda r: np.max(np.abs(r.current)), '.2f')}"
                 f"{np.max(np.abs(verification.current)):>10.2f}")
    for m in setup.spare_materials:
        lines.append(f"{m + ' max field / E_irr':<44}{start(lambda r: ratio(r, m), '.3f')}"
                     f"{ratio(verification, m):>10.3f}")
    volts = np.asarray(outcome.plan.voltage)
    on = fired(volts, setup.block.drop_voltage)  # dropped pairs were not verified
    lines.append("pairs (plan): " + ", ".join(
        f"{label} {v:.0f} V {i:.1f} A" for label, v, i in
        zip(np.asarray(setup.pair_labels)[on], volts[on], verification.current)))
    lines += sequence_lines(setup.pair_labels, volts, setup.block.drop_voltage,
                            setup.pulses)
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
    events = _event_lines(session.events)
    if events:
        lines.append("events (recovered; also in audit.h5 /events):")
        lines += ["  " + e for e in events]
    lines.append(f"forward evaluations: {dict(session.forward)}, meshes: {len(session.meshes)} "
                 f"({session.remesh_time:.0f} s meshing)")
    lines.append("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    return "\n".join(lines)


def best_so_far(audit: Audit, start: Plan) -> tuple[Plan, dict] | None:
    """The best plan the optimiser has evaluated (lowest objective; nonlinear-stage evaluations
    first, as they use the full model) and its audit row, from the audit trail."""
    rows = [r for r in audit.rows if r["optimiser"] == "adam" and np.isfinite(r["objective"])]
    if not rows:
        return None
    row = min(rows, key=lambda r: (r["stage"] != "nonlinear", r["objective"]))
    tilt = np.asarray(row["tilt"])[: start.tilt.shape[0]]
    return Plan(np.asarray(row["shift"]), tilt, np.asarray(row["voltage"])), row


def _keep_partial(out: Path, request, setup: Setup, session: Session, where: str,
                  exc: BaseException, config) -> list[Path]:
    """Write what a stopped run has: the best plan so far (unverified), audit, report."""
    cfg, raw = request
    written, lines = [], [f"PLANNING STOPPED during {where}: {exc}"]
    found = best_so_far(session.audit, setup.start)
    if found is not None:
        plan, row = found
        try:
            text, _ = plan_yaml(raw, cfg, setup, plan, "plan.h5", out,
                                header="NOT VERIFIED: best plan so far of a planning run that "
                                       "stopped (see report.txt)")
            with atomic_output(out / "plan.yaml", overwrite=True) as tmp:
                tmp.write_text(text, encoding="utf-8")
            written.append((out / "plan.yaml").resolve())
            lines.append(f"plan.yaml holds the best plan so far ({row['stage']} stage, "
                         f"objective {row['objective']:.4f}, planning-model coverage "
                         f"{100 * row['coverage']:.2f} %); it is NOT verified on a fresh mesh")
        except (EpsimError, OSError) as write_error:
            lines.append(f"the best plan so far could not be written: {write_error}")
    try:
        written.append(session.audit.write(out / "audit.h5", overwrite=True,
                                           events=session.events.rows))
    except (EpsimError, OSError) as write_error:
        lines.append(f"audit.h5 could not be written: {write_error}")
    lines += _event_lines(session.events)
    lines.append(f"forward evaluations: {dict(session.forward)}, meshes: {len(session.meshes)}")
    lines.append(f"continue from the last checkpoint: epsim optimise {config} -o {out} --resume")
    try:
        with atomic_output(out / "report.txt", overwrite=True) as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append((out / "report.txt").resolve())
    except OSError:
        pass
    return written


def _verify_plan(outcome: Outcome, request, setup: Setup, session: Session, out: Path,
                 progress, verify_start: bool = True) -> tuple[Verified, Verified | None]:
    """The plan (or the next in line) and the starting layout on fresh meshes (the start
    only when `verify_start`)."""
    cfg, raw = request
    note = progress.note if progress.enabled else None

    def make_config(plan, size_scale):
        return plan_yaml(raw, cfg, setup, plan, "plan.h5", out, size_scale=size_scale)

    def run(config):
        return run_config(config, progress=note)

    line = [("the chosen plan", outcome.plan), *outcome.alternatives]
    kept = verify(line, make_config, run, events=session.events, faults=session.faults,
                  gap=session.gap)
    if kept is None:
        raise IncompleteRunError("no plan could be meshed and verified on a fresh mesh (every "
                                 "retry and every fallback failed; see the events)")
    kept = topped_up(kept, setup, make_config, run, session.events)
    kept = trimmed(kept, setup, make_config, run, session.events)
    if kept.plan is setup.start or not verify_start:  # the same layout, or not asked for
        return kept, (kept if kept.plan is setup.start else None)
    initial = verify([("the starting layout", setup.start)], make_config, run,
                     events=session.events, faults=session.faults, gap=session.gap,
                     stage="initial verification", nudge=False)
    return kept, initial


def _prepare_folder(out: Path, checkpoint: Checkpoint, *, overwrite: bool, resume: bool):
    """Refuse to replace what epsim did not write; the state to resume from, if asked."""
    if resume:
        return checkpoint.load()
    for name in OUTPUTS:
        check_writable(out / name, overwrite=overwrite)
    if checkpoint.exists():
        if not overwrite:
            raise OutputExistsError(
                f"{out} holds an unfinished plan ({checkpoint.folder}): continue it with "
                "--resume, or start again with --overwrite")
        checkpoint.clear()
    return None


def run_planning(
    config,
    out_dir,
    *,
    overwrite: bool = False,
    render: bool = True,
    progress: Progress | None = None,
    resume: bool = False,
    faults: MeshFaults | None = None,
    verify_start: bool = True,
    screen_below: float | None = None,
    **overrides,
) -> PlanReport:
    """Plan a treatment from a config (see the module doc). `overrides` replace fields of the
    config's `optimise:` block (e.g. starts=2, linear_steps=20, baseline=False); `resume`
    continues a stopped run in `out_dir` from its checkpoint; `faults` injects meshing failures
    (tests of the recovery); `verify_start` False skips the starting layout's verification
    (the count search's starts); `screen_below` stops the run after the linear stage when its
    nonlinear checks stay below it (`ScreenedOut`, nothing written: the count search's screen).

    Raises:
        InfeasibleError: a constraint cannot hold (before any solve).
        OutputExistsError: an output exists and `overwrite` is false.
        ConfigError, InputError: bad config, or nothing to resume.
        IncompleteRunError: the run stopped after solving began (what it had is written).
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    cfg, block, raw = read_request(config)
    if overrides:
        block = block.model_copy(update=overrides)
    if block.needles is not None:  # how many needles: one plan per count (epsim.optimise.count)
        from epsim.optimise.count import run_count_search

        return run_count_search(config, out, overwrite=overwrite, render=render,
                                progress=progress, **overrides)
    setup = planning_setup(cfg, block)
    check_feasible(setup.request)
    robust = robust_planning(cfg, block, Path(config).parent, len(setup.needles.names))
    checkpoint = Checkpoint(out, fingerprint(Path(config).read_text(encoding="utf-8"), overrides))
    state = _prepare_folder(out, checkpoint, overwrite=overwrite, resume=resume)
    overwrite = overwrite or resume  # a resumed folder's outputs are epsim's own
    progress = progress or Progress()
    audit = Audit(setup.needles.names, setup.pair_labels, tuple(s.name for s in setup.goals.spares))
    sizes = setup.scene.sizes
    gap = 0.5 * (sizes.electrode_size or min(setup.scene.radii))
    session = Session(setup.scene, setup.goals, setup.needles, audit, progress=progress,
                      clearance=scene_clearance(setup.scene, setup.goals.exit_point, gap,
                                                min_gap=block.min_gap or 0.0),
                      faults=faults or MeshFaults(), store=checkpoint, robust=robust)
    out.mkdir(parents=True, exist_ok=True)
    request, where, timings = (cfg, raw), "planning", {}
    try:
        settings = dataclasses.replace(setup.settings, screen_below=screen_below)
        outcome = plan_treatment(session, setup.start, settings, checkpoint=checkpoint,
                                 resume=state)
        timings["planning"] = time.perf_counter() - t_start
        where, t0 = "verification", time.perf_counter()
        kept, initial = _verify_plan(outcome, request, setup, session, out, progress,
                                     verify_start)
        outcome.plan = kept.plan
        timings["verification"] = time.perf_counter() - t0
        note, tables = "", {}
        if robust is not None:  # the verified plan under the same scenarios
            where, t0 = "the scenarios' verification", time.perf_counter()
            scenarios = robust.verify(kept.config, progress.note if progress.enabled else None)
            kept.results = scenarios.with_probabilities(kept.results)
            note, tables = robust.text(scenarios), {"uncertainty": robust.table(scenarios)}
            timings["scenarios"] = time.perf_counter() - t0
        where = "writing the outputs"
        written, text, rows = _write_outputs(out, kept, initial, outcome, setup, session,
                                             timings, t_start, overwrite=overwrite,
                                             render=render, note=note)
        written += write_plan_sheet(out, kept.config, kept.results, overwrite=overwrite,
                                    render=render, request_cfg=cfg, block=setup.block, raw=raw,
                                    config_text=Path(config).read_text(encoding="utf-8"),
                                    extra_tables=tables)
    except Exception as exc:  # anything after solving began: keep what was computed
        progress.stop()
        if isinstance(exc, ScreenedOut):  # asked for: not a failure, nothing to resume
            checkpoint.clear()
            raise
        if not isinstance(exc, EpsimError):
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        kept_files = _keep_partial(out, request, setup, session, where, exc, config)
        raise IncompleteRunError(
            f"planning stopped during {where}: {exc}. Kept: "
            + ", ".join(p.name for p in kept_files)
            + f"; continue with: epsim optimise {config} -o {out} --resume") from exc
    checkpoint.clear()
    initial_results = initial.results if initial is not None else None
    return PlanReport(setup, outcome, initial_results, kept.results, rows, text, timings,
                      written)


def _write_outputs(out: Path, kept: Verified, initial: Verified | None, outcome: Outcome,
                   setup: Setup, session: Session, timings: dict, t_start: float, *,
                   overwrite: bool, render: bool, note: str = "") -> tuple[list, str, list]:
    """Every output file of a finished plan: (paths written, report text, constraint rows);
    `note` is added to the report (a robust plan's scenario coverage)."""
    written = []
    with atomic_output(out / "plan.yaml", overwrite=overwrite) as tmp:
        tmp.write_text(kept.text, encoding="utf-8")
    written.append((out / "plan.yaml").resolve())
    written.append(session.audit.write(out / "audit.h5", overwrite=overwrite,
                                       events=session.events.rows))
    written.append(write_results(out / "verification.h5", kept.results, overwrite=overwrite))
    if initial is not None:
        written.append(write_results(out / "initial.h5", initial.results, overwrite=overwrite))
    t0 = time.perf_counter()
    if render:
        if initial is not None:
            written += _pictures(initial.results, out, "initial")
        written += _pictures(kept.results, out, "plan")
    written.append(_convergence_plot(outcome, session.audit, out / "convergence.png",
                                     setup.block.coverage_goal))
    timings["pictures"] = time.perf_counter() - t0
    rows = constraint_rows(setup, kept.plan, kept.results)
    timings["total"] = time.perf_counter() - t_start
    initial_results = initial.results if initial is not None else None
    text = _summary(setup, outcome, initial_results, kept.results, rows, timings, session)
    text = f"{text}\n{note}" if note else text
    with atomic_output(out / "report.txt", overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    written.append((out / "report.txt").resolve())
    return written, text, rows
