"""Fresh-mesh verification of a plan, recovering from meshing failures.

The planned layout is written out as a config and run as `epsim run` would run it: a new
conforming mesh, the full nonlinear model. When gmsh cannot mesh it, the attempts of
`epsim.optimise.recovery` follow (other mesh sizes, tiny nudges of the needles); when none
works, the next plan in line (the next best evaluation of the nonlinear stage, then the best of
the linear stage, then the start) is tried the same way. The plan that verified, with the mesh
sizes that worked, is the one written to plan.yaml, so `epsim run plan.yaml` reproduces the
verification exactly. Every failure and retry is recorded in the events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np

from epsim.errors import InputError, MeshError, SolverError
from epsim.optimise.plan import Plan
from epsim.optimise.recovery import ATTEMPTS, Attempt, Events, MeshFaults, sideways


@dataclass
class Verified:
    """A plan that verified: the plan, its config text and resolved config, the results, the
    attempt that meshed and its place in the line of candidates (0: the chosen plan)."""

    plan: Plan
    text: str
    config: object
    results: object
    attempt: Attempt
    rank: int
    label: str


def nudged_plan(plan: Plan, attempt: Attempt, gap: float) -> Plan:
    """The plan with every tip moved sideways in its needle's initial frame (`sideways`)."""
    if not attempt.nudge:
        return plan
    shift = np.asarray(plan.shift).copy()
    shift[:, :2] += sideways(attempt, len(shift), gap)
    return Plan(jnp.asarray(shift), plan.tilt, plan.voltage)


def verify(
    candidates: list[tuple[str, Plan]],
    make_config: Callable[[Plan, float], tuple[str, object]],
    run: Callable[[object], object],
    *,
    events: Events,
    faults: MeshFaults,
    gap: float,
    stage: str = "verification",
    nudge: bool = True,
) -> Verified | None:
    """The first candidate (label, plan) that meshes and solves, trying every attempt on each.

    Args:
        make_config: (plan, mesh size scale) -> (config text, resolved config); may raise
            InputError for a layout that is not a valid config.
        run: resolved config -> results (meshes with gmsh, solves).
        gap: m, the nudge unit; nudge: whether attempts may move the needles (not for the
            user's own starting layout).
    Returns None when nothing verifies.
    """
    attempts = [a for a in ATTEMPTS if nudge or not a.nudge]
    for rank, (label, plan) in enumerate(candidates):
        for k, attempt in enumerate(attempts):
            moved = nudged_plan(plan, attempt, gap)
            try:
                text, cfg = make_config(moved, attempt.size_scale)
                faults.check("verify")
                results = run(cfg)
            except MeshError as exc:
                more = k + 1 < len(attempts)
                then = f"retrying with {attempts[k + 1].describe()}" if more else "giving up on it"
                events.add(stage, f"{label}: fresh mesh failed", f"{exc}; {then}")
                continue
            except (InputError, SolverError) as exc:
                events.add(stage, f"{label}: cannot be verified", f"{exc}; next plan in line")
                break
            if k or rank:
                events.add(stage, f"{label}: verified",
                           f"with {attempt.describe()}" + (
                               f" (candidate {rank + 1} in line)" if rank else ""))
            return Verified(moved, text, cfg, results, attempt, rank, label)
    return None


__all__ = ["Verified", "nudged_plan", "verify"]
