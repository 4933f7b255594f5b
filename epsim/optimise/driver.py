"""The planning schedule: coarse superposition steps, then nonlinear steps, plus the baseline.

1. Linear stage: every start (the given plan and jittered copies) takes `linear_steps` projected
   Adam steps on a mesh coarsened by `coarse_factor` with the superposition model; the
   current-correction factors are refreshed with a nonlinear solve every `check_every` steps.
2. Nonlinear stage: the best plan so far (the given plan when `linear_steps` is 0) takes
   `nonlinear_steps` steps with the full nonlinear model on a mesh at the full resolution.
3. Baseline (optional): CMA-ES from the same start on the stage-1 model with as many forward
   evaluations as stage 1 used (and as many nonlinear checks), to show what gradients buy.

The planner then verifies the result on a fresh conforming mesh (`epsim.optimise.planner`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from epsim.optimise.adam import Rates, Track, adam_stage, project, rate_tree, stage_optimiser
from epsim.optimise.cmaes import BaselineResult, cma_es
from epsim.optimise.plan import Plan
from epsim.optimise.session import Evaluation, Session
from epsim.optimise.state import (
    baseline_data,
    baseline_from,
    restore_session,
    session_data,
    track_data,
    track_from,
)


@dataclass(frozen=True)
class Settings:
    """Schedule of a planning run.

    Attributes:
        linear_steps, nonlinear_steps: Adam steps per stage.
        coarse_factor: mesh sizes of the linear stage over the config's.
        rates: initial Adam step sizes; nonlinear_rate_factor scales them in stage 2.
        starts: number of starts; jitter: m, random tip shift of the extra starts.
        depth: needles may move along their axes; tilt: axes may tilt; lateral: sideways.
        check_every: linear steps between current-correction refreshes (0: never).
        baseline: also run the CMA-ES baseline; seed: random seed (starts, baseline).
        coverage_goal: the final plan is the best nonlinear evaluation that reaches it (and
            keeps currents, spared structures and geometry within limits), if any.
        screen_below: stop after the linear stage (`ScreenedOut`) when its best nonlinear
            check covers less than this (the count search's screen; None: never).
    """

    linear_steps: int = 40
    nonlinear_steps: int = 5
    coarse_factor: float = 1.5
    rates: Rates = Rates()
    nonlinear_rate_factor: float = 0.4
    starts: int = 1
    jitter: float = 1.0e-3
    depth: bool = True
    tilt: bool = False
    lateral: bool = True
    check_every: int = 10
    baseline: bool = True
    seed: int = 0
    coverage_goal: float = 0.99
    screen_below: float | None = None


@dataclass
class Outcome:
    """What a planning run found.

    Attributes:
        start: the given plan; plan: the best plan (nonlinear model, full resolution).
        final: its evaluation (planning model, nonlinear, full resolution).
        linear_best: the best stage-1 evaluation.
        tracks: the stage-1 tracks (one per start) with their histories.
        adam_history, baseline_history: (forward evaluations, best objective, its coverage)
            after each stage-1 evaluation, for the gradient optimiser and the baseline.
        baseline: the baseline's result, or None.
        alternatives: (label, plan) to verify, in order, when `plan` cannot be verified.
    """

    start: Plan
    plan: Plan
    final: Evaluation | None
    linear_best: Evaluation | None
    tracks: list
    adam_history: list = field(default_factory=list)
    baseline_history: list = field(default_factory=list)
    baseline: BaselineResult | None = None
    alternatives: list = field(default_factory=list)


def starting_plans(plan: Plan, settings: Settings, low: float, high: float) -> list[Plan]:
    """The given plan and `starts - 1` jittered copies (tips moved by about `jitter`, voltages
    scaled by 0.8-1.25), deterministic from `seed`."""
    rng = np.random.default_rng(settings.seed)
    out = [plan]
    for _ in range(settings.starts - 1):
        shift = rng.normal(0.0, settings.jitter, plan.shift.shape)
        if not settings.depth:
            shift[:, 2] = 0.0
        if not settings.lateral:
            shift[:, :2] = 0.0
        scale = rng.uniform(0.8, 1.25, plan.voltage.shape)
        out.append(project(Plan(plan.shift + shift, plan.tilt, plan.voltage * scale), low, high))
    return out


def _best_so_far(history):
    """[(forward, value, coverage)] -> the running best (by value) at each evaluation."""
    out, best = [], None
    for forward, value, coverage in sorted(history):
        if best is None or value < best[1]:
            best = (forward, value, coverage)
        out.append((forward, best[1], best[2]))
    return out


def acceptable(ev: Evaluation, goal: float) -> bool:
    """Whether an evaluation meets the coverage goal and every hard limit of the model."""
    m, terms = ev.aux["metrics"], ev.aux["terms"]
    geometry = max(float(terms[k]) for k in ("spacing", "keep_out", "entry", "domain"))
    return (
        float(m["coverage_hard"]) >= goal
        and float(np.max(m["current_ratio"], initial=0.0)) <= 1.0
        and float(np.max(m["spare_hard"], initial=0.0)) == 0.0
        and geometry < 1e-8
        and bool(ev.aux["converged"])
    )


def ranked(evaluations: list[Evaluation], goal: float) -> list[Evaluation]:
    """Acceptable evaluations by objective, then the others by objective."""
    return sorted(evaluations, key=lambda e: (not acceptable(e, goal), e.value))


def choose(evaluations: list[Evaluation], goal: float) -> Evaluation | None:
    """The best acceptable evaluation (lowest objective), else the lowest objective."""
    order = ranked(evaluations, goal)
    return order[0] if order else None


def _save(checkpoint, session: Session, schedule: dict) -> None:
    if checkpoint is None:
        return
    checkpoint.save({
        "session": session_data(session), "stage": schedule["stage"], "step": schedule["step"],
        "tracks": [track_data(t) for t in schedule["tracks"]],
        "fine": track_data(schedule["fine"]), "baseline": baseline_data(schedule["baseline"]),
        "scale0": schedule["scale0"],
    })


def _restore(state: dict, session: Session, checkpoint, rates: Plan, settings: Settings) -> dict:
    restore_session(session, state["session"], checkpoint)
    linear = stage_optimiser(rates, settings.linear_steps)
    fine_rates = jax.tree.map(lambda r: r * settings.nonlinear_rate_factor, rates)
    fine = stage_optimiser(fine_rates, settings.nonlinear_steps)
    return {
        "stage": state["stage"], "step": int(state["step"]),
        "tracks": [track_from(t, session, linear) for t in state["tracks"]],
        "fine": track_from(state["fine"], session, fine),
        "baseline": baseline_from(state["baseline"], session), "scale0": state["scale0"],
    }


class ScreenedOut(Exception):
    """The linear stage's best nonlinear check stayed below `Settings.screen_below`: the run
    stops before the nonlinear stage (`coverage`: that best check, a fraction)."""

    def __init__(self, coverage: float):
        super().__init__(f"best nonlinear check of the linear stage {100 * coverage:.2f} %")
        self.coverage = coverage


def checked_coverage(audit) -> float | None:
    """The best coverage of the nonlinear checks an `Audit` recorded during the gradient stages
    (coarse mesh, full model at the plan of the moment), or None without checks. On the pelvic
    count search it lay 0.01-0.9 points above the final plan's verified coverage
    (docs/planning.md)."""
    checks = [float(r["coverage"]) for r in audit.rows
              if r["optimiser"] == "check" and r["nonlinear"] and r["phase"] == "adam"]
    return max(checks) if checks else None


def plan_treatment(session: Session, plan: Plan, settings: Settings, *, checkpoint=None,
                   resume: dict | None = None) -> Outcome:
    """Run the schedule from `plan` (see the module doc).

    Args:
        checkpoint: a `Checkpoint` the state is saved to after every step and stage, or None.
        resume: a state loaded from that checkpoint: the run continues from it.
    """
    goals = session.goals
    rates = rate_tree(plan, settings.rates, depth=settings.depth, tilt=settings.tilt,
                      lateral=settings.lateral)
    coarse = settings.coarse_factor
    if resume is not None:
        schedule = _restore(resume, session, checkpoint, rates, settings)
    else:
        starts = starting_plans(plan, settings, goals.min_voltage, goals.max_voltage)
        schedule = {"stage": "linear", "step": 0, "tracks": [Track(i, p) for i, p in
                                                             enumerate(starts)],
                    "fine": None, "baseline": None, "scale0": session.current_scale}
        _save(checkpoint, session, schedule)
    tracks = schedule["tracks"]

    def finished_step(stage):
        def done(step):
            schedule["stage"], schedule["step"] = stage, step + 1
            _save(checkpoint, session, schedule)
        return done

    def next_stage(stage):
        schedule["stage"], schedule["step"] = stage, 0
        _save(checkpoint, session, schedule)

    if schedule["stage"] == "linear":
        session.phase = "adam"
        adam_stage(session, tracks, settings.linear_steps, rates, factor=coarse, nonlinear=False,
                   stage="linear", check_every=settings.check_every,
                   first_step=schedule["step"], on_step=finished_step("linear"))
        best_check = checked_coverage(session.audit)
        if settings.screen_below is not None and best_check is not None \
                and best_check < settings.screen_below:
            raise ScreenedOut(best_check)
        next_stage("baseline")
    adam_history = _best_so_far([h for t in tracks for h in t.history])
    finished = [t for t in tracks if t.best is not None]
    linear_best = min(finished, key=lambda t: t.best.value).best if finished else None

    if schedule["stage"] == "baseline":
        if settings.baseline and linear_best is not None:
            adam_scale = session.current_scale
            session.current_scale = jnp.asarray(schedule["scale0"])
            budget = session.forward.get("adam", 0)
            lam = 4 + int(3 * math.log(int(np.sum(np.asarray(ravel_pytree(rates)[0]) > 0))))
            every = 0
            if settings.check_every:
                every = max(1, round(settings.check_every * len(tracks) / lam))
            session.phase = "cmaes"
            schedule["baseline"] = cma_es(session, plan, rates, budget, factor=coarse,
                                          seed=settings.seed, check_every=every)
            session.current_scale = adam_scale
        next_stage("nonlinear")
    baseline = schedule["baseline"]

    final = linear_best
    best_plan = linear_best.plan if linear_best is not None else plan
    line = []
    # no linear stage asked for (linear_steps 0): the nonlinear stage starts from the plan
    if settings.nonlinear_steps > 0 and (linear_best is not None or not settings.linear_steps):
        fine_rates = jax.tree.map(lambda r: r * settings.nonlinear_rate_factor, rates)
        if schedule["fine"] is None:
            schedule["fine"] = Track(0, best_plan)
        track = schedule["fine"]
        if schedule["stage"] == "nonlinear":
            session.phase = "nonlinear"
            adam_stage(session, [track], settings.nonlinear_steps, fine_rates, factor=1.0,
                       nonlinear=True, stage="nonlinear", first_step=schedule["step"],
                       on_step=finished_step("nonlinear"))
        line = ranked(track.evaluations, settings.coverage_goal)
        if line:
            final, best_plan = line[0], line[0].plan
    alternatives = [(f"runner-up {k + 1} of the nonlinear stage", e.plan)
                    for k, e in enumerate(line[1:])]
    if linear_best is not None and line:
        alternatives.append(("best plan of the linear stage", linear_best.plan))
    alternatives.append(("the starting layout", plan))
    if schedule["stage"] != "done":
        next_stage("done")
    return Outcome(
        start=plan, plan=best_plan, final=final, linear_best=linear_best, tracks=tracks,
        adam_history=adam_history,
        baseline_history=_best_so_far(baseline.history) if baseline else [],
        baseline=baseline, alternatives=alternatives,
    )


__all__ = ["Outcome", "ScreenedOut", "Settings", "checked_coverage", "plan_treatment",
           "starting_plans"]
