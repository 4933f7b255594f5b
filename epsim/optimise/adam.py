"""Projected Adam on plans (optax), with several starts.

Step sizes are per kind of parameter (`Rates`: metres for tip shifts, tangent for tilts, volts
for voltages), so that Adam's normalised steps have physical sizes: about `rates.shift` of tip
motion and `rates.voltage` of voltage per step at first, decaying (cosine) to a tenth. Frozen
parameters (depth, tilt) have rate zero. Voltages are projected onto the generator's box
[min_voltage, max_voltage] after every step (`optax.projections.projection_box`), and the
needle layout onto the layouts gmsh can mesh (`epsim.optimise.clearance.project_step`: a step
that would bring a needle too close to another needle or a surface is shortened or lengthened
along itself). A step whose layout cannot be meshed or whose solve failed is halved back
towards the previous plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax import projections

from epsim.optimise.clearance import project_step
from epsim.optimise.plan import Plan
from epsim.optimise.session import Evaluation, MeshRef, Session


@dataclass(frozen=True)
class Rates:
    """Initial Adam step sizes: tip shift (m), tilt (tangent), voltage (V)."""

    shift: float = 0.6e-3
    tilt: float = 0.01
    voltage: float = 80.0


class _ScaleState(NamedTuple):
    count: jax.Array


def scale_by_tree(rates: Plan, steps: int, final: float = 0.1) -> optax.GradientTransformation:
    """Multiply updates leaf by leaf by -rates (a Plan of arrays), times a cosine decay from 1
    to `final` over `steps` updates (a descent direction from Adam's normalised moments)."""

    def init(params):
        del params
        return _ScaleState(jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        del params
        t = jnp.minimum(state.count / max(steps - 1, 1), 1.0)
        decay = final + (1.0 - final) * 0.5 * (1.0 + jnp.cos(jnp.pi * t))
        out = jax.tree.map(lambda u, r: -decay * r * u, updates, rates)
        return out, _ScaleState(state.count + 1)

    return optax.GradientTransformation(init, update)


def rate_tree(plan: Plan, rates: Rates, *, depth: bool, tilt: bool,
              lateral: bool = True) -> Plan:
    """Per-element step sizes: zero where a parameter is frozen (`lateral` False: needles
    held in their guide holes, only depth and voltages move)."""
    shift = np.full(plan.shift.shape, rates.shift)
    if not depth:
        shift[:, 2] = 0.0
    if not lateral:
        shift[:, :2] = 0.0
    return Plan(
        shift=jnp.asarray(shift),
        tilt=jnp.full(plan.tilt.shape, rates.tilt if tilt else 0.0),
        voltage=jnp.full(plan.voltage.shape, rates.voltage),
    )


def project(plan: Plan, low: float, high: float) -> Plan:
    """Voltages into the generator's box."""
    voltage = projections.projection_box(plan.voltage, low, high)
    return Plan(plan.shift, plan.tilt, voltage)


def stage_optimiser(rates: Plan, steps: int) -> optax.GradientTransformation:
    """Adam with per-element step sizes decaying over the stage's `steps`."""
    return optax.chain(optax.scale_by_adam(), scale_by_tree(rates, steps))


@dataclass
class Track:
    """One start: its current plan, optimiser state, mesh and best evaluation so far."""

    start: int
    plan: Plan
    state: object = None
    mesh: MeshRef | None = None
    previous: Plan | None = None
    best: Evaluation | None = None
    history: list = field(default_factory=list)  # (forward solves, value, coverage)
    evaluations: list = field(default_factory=list)


def _midpoint(a: Plan, b: Plan) -> Plan:
    return jax.tree.map(lambda x, y: 0.5 * (x + y), a, b)


def adam_stage(
    session: Session,
    tracks: list[Track],
    steps: int,
    rates: Plan,
    *,
    factor: float,
    nonlinear: bool,
    stage: str,
    check_every: int = 0,
    first_step: int = 0,
    on_step: Callable[[int], None] | None = None,
) -> list[Track]:
    """Run `steps` projected Adam steps on every track (tracks on one mesh are batched).

    Args:
        rates: per-element step sizes (`rate_tree`).
        factor: mesh size factor of this stage; nonlinear: the model of this stage.
        check_every: in a linear stage, refresh the current-correction factors with a nonlinear
            solve at the best track's plan every this many steps (0: never).
        first_step: continue a stage from this step (tracks restored from a checkpoint keep
            their optimiser states); on_step: called with each finished step's number.
    """
    goals = session.goals
    opt = stage_optimiser(rates, steps)
    for track in tracks:
        if track.state is None:
            track.state = opt.init(track.plan)
    session.progress.start(f"{stage} ({'nonlinear' if nonlinear else 'superposition'})", steps)
    for step in range(first_step, steps):
        if check_every and step % check_every == 0 and not nonlinear:
            lead = min(tracks, key=lambda t: t.best.value if t.best else np.inf)
            lead.mesh = session.update_current_scale(lead.plan, lead.mesh, factor, step)
        by_mesh: dict = {}
        for track in tracks:
            if not session.fits(track.mesh, track.plan, factor):
                track.mesh = session.find(track.plan, factor)
            key = track.mesh.id if track.mesh is not None else -1 - track.start
            by_mesh.setdefault(key, []).append(track)
        for group in by_mesh.values():
            evals, shared = session.evaluate(
                [t.plan for t in group], group[0].mesh, factor=factor, nonlinear=nonlinear,
                grad=True, optimiser="adam", stage=stage, starts=[t.start for t in group],
                step=step,
            )
            for track, ev in zip(group, evals):
                _advance(track, ev, opt, goals, session, step)
        best = min((t.best.value for t in tracks if t.best), default=np.nan)
        cover = max((t.best.aux["metrics"]["coverage_hard"] for t in tracks if t.best), default=0)
        session.progress.advance(f"objective {best:.4f}, coverage {100 * cover:.1f} %")
        if on_step is not None:
            on_step(step)
    session.progress.stop()
    return tracks


def _clear(session: Session, old: Plan, new: Plan, track: int, step: int) -> Plan:
    """`new` projected onto the layouts gmsh can mesh (recorded when the step changed)."""
    if session.clearance is None:
        return new
    plan, fraction = project_step(session.clearance, session.needles, old, new)
    if fraction != 1.0:
        session.events.add(session.phase, "step projected",
                           f"start {track}, step {step}: {fraction:g} of the step taken to keep "
                           "the needles clear of each other and of the surfaces")
    return plan


def _advance(track: Track, ev: Evaluation | None, opt, goals, session: Session,
             step: int = 0) -> None:
    ok = ev is not None and np.isfinite(ev.value) and bool(ev.aux["converged"])
    if not ok:
        if track.previous is not None:
            back = _midpoint(track.previous, track.plan)
            track.plan = _clear(session, track.previous, back, track.start, step)
        return
    track.mesh = ev.mesh
    track.evaluations.append(ev)
    track.history.append((session.forward.get("adam", 0), ev.value,
                          float(ev.aux["metrics"]["coverage_hard"])))
    if track.best is None or ev.value < track.best.value:
        track.best = ev
    updates, track.state = opt.update(ev.grad, track.state, track.plan)
    track.previous = track.plan
    moved = optax.apply_updates(track.plan, updates)
    moved = project(moved, goals.min_voltage, goals.max_voltage)
    track.plan = _clear(session, track.previous, moved, track.start, step)
