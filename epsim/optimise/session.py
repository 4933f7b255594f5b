"""Host-side bookkeeping of a planning run: reference meshes, remeshing, counted evaluations.

A `Session` owns the meshes the plans are evaluated on. Before a plan is evaluated on a mesh it
checks how far the needles have moved from the mesh's layout (`plan_shift_ratio`); beyond the
allowed shift it remeshes at the plan's layout (gmsh), and it remeshes too when a moved cell
came out squashed (`MIN_VOLUME_RATIO`). Plans that share a mesh are evaluated together (vmap).
Every evaluation is counted per optimiser and recorded in the audit trail.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from epsim.errors import ElectrodeError, MeshError
from epsim.optimise.audit import Audit
from epsim.optimise.clearance import Clearance
from epsim.optimise.evaluate import evaluate_batch, evaluate_one, plan_shift_ratio, stack, unstack
from epsim.optimise.motion import MIN_VOLUME_RATIO
from epsim.optimise.objective import Goals
from epsim.optimise.padded import HEADROOM, pad_mesh_data
from epsim.optimise.plan import Needles, Plan, axes, tips
from epsim.optimise.recovery import ATTEMPTS, Events, MeshFaults, nudged_tips
from epsim.optimise.scene import PlanningScene
from epsim.padding import pick_capacity
from epsim.solve import Newton


class MeshRef:
    """One reference mesh: made at `layout` (tips, axes) with sizes times `factor` (the stage's
    resolution) times `size_scale` (1 unless a meshing retry changed it). A mesh restored from a
    checkpoint is loaded and prepared (`load() -> (mesh, data)`) when first used. `capacity`:
    the sizes its data is padded to (`epsim.optimise.padded`), kept in checkpoints."""

    def __init__(self, id: int, factor: float, layout, size_scale: float = 1.0, *,
                 mesh=None, data=None, load: Callable | None = None, capacity=None):
        self.id, self.factor, self.layout, self.size_scale = id, factor, layout, size_scale
        self._mesh, self._data, self._load = mesh, data, load
        self.capacity = capacity

    def _ensure(self) -> None:
        if self._mesh is None or self._data is None:
            self._mesh, self._data = self._load()

    @property
    def mesh(self):
        self._ensure()
        return self._mesh

    @property
    def data(self):
        self._ensure()
        return self._data


@dataclass
class Evaluation:
    """One evaluated plan: objective value, diagnostics (host numpy) and gradient (a Plan)."""

    plan: Plan
    value: float
    aux: dict
    grad: Plan | None
    mesh: MeshRef


class Progress:
    """A rich progress bar on a terminal; silent in a pipe (or when `enabled` is False)."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar = None

    def start(self, description: str, total: int) -> None:
        self.stop()
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn
        from rich.progress import TimeElapsedColumn
        from rich.console import Console

        self._bar = Bar(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, info="")

    def advance(self, info: str = "") -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, info=info)

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message)
        elif self.enabled:
            print(message, file=sys.stderr)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# Tolerances of the planner's solves: its steps need the objective to a few digits and the
# gradient's direction, not the 1e-10 adjoints of a results file. On the pelvic plan's 88k-cell
# mesh (nine nonlinear pairs and their gradient) rtol 1e-8 -> 1e-6 and adjoints 1e-10 -> 1e-6
# took an evaluation from 6.0 to 4.8 s; the objective moved by 2e-8 relative, the gradient by
# 4e-6 (benchmarks/RESULTS.md; tests/optimise/test_planning_gradients.py checks both on a small
# mesh). The verification solves its fresh mesh at the defaults.
PLANNING_SOLVER = Newton(rtol=1e-6, adjoint_rtol=1e-6)


@dataclass
class Session:
    """Meshes, the current-correction factors and the counters of one planning run."""

    scene: PlanningScene
    goals: Goals
    needles: Needles
    audit: Audit
    linear_solver: Newton = PLANNING_SOLVER
    nonlinear_solver: Newton = PLANNING_SOLVER
    progress: Progress = field(default_factory=lambda: Progress(False))
    current_scale: jax.Array | None = None
    meshes: list = field(default_factory=list)
    forward: dict = field(default_factory=dict)
    remesh_time: float = 0.0
    phase: str = ""  # which optimiser is running (recorded with every candidate)
    clearance: Clearance | None = None
    events: Events = field(default_factory=Events)
    faults: MeshFaults = field(default_factory=MeshFaults)
    store: object = None  # a `Checkpoint` that keeps every new mesh, or None
    robust: object = None  # a `RobustPlanning`: evaluate the robust objective instead

    def __post_init__(self):
        if self.current_scale is None:
            self.current_scale = jnp.ones(len(self.scene.anode))

    @property
    def capacities(self) -> list:
        """The padded sizes of this session's meshes (each once), the only ones a new mesh may
        take (`epsim.optimise.padded`)."""
        return list(dict.fromkeys(m.capacity for m in self.meshes if m.capacity is not None))

    # ------------------------------------------------------------------ meshes

    def layout(self, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(tips(self.needles, plan)), np.asarray(axes(self.needles, plan))

    def remesh(self, plan: Plan, factor: float) -> MeshRef:
        """A fresh conforming mesh at the plan's layout; when gmsh fails, retried as
        `epsim.optimise.recovery` says (each retry recorded in `events`).

        Raises:
            ElectrodeError: the layout cannot be meshed (needles overlap, leave the tissue,
                pierce a keep-out structure).
            MeshError: gmsh failed at every attempt.
        """
        t0 = time.perf_counter()
        tip, axis = self.layout(plan)
        where = f"mesh {len(self.meshes)} ({self.phase or 'start'})"
        try:
            for k, attempt in enumerate(ATTEMPTS):
                moved = nudged_tips(tip, axis, attempt, self.gap)
                try:
                    self.faults.check("remesh")
                    mesh = self.scene.mesh(moved, axis, np.asarray(self.needles.length),
                                           factor * attempt.size_scale)
                except MeshError as exc:
                    last = k == len(ATTEMPTS) - 1
                    then = ("the candidate is skipped and the step halved back" if last else
                            f"retrying with {ATTEMPTS[k + 1].describe()}")
                    self.events.add(self.phase or "start", f"{where} failed", f"{exc}; {then}")
                    self.progress.note(f"{where} failed: {exc}; {then}")
                    if last:
                        raise
                    continue
                data = self.scene.mesh_data(mesh, moved, axis, factor * attempt.size_scale)
                # padded: meshes of similar size share the compiled evaluators
                capacity = pick_capacity(data.problem, self.capacities, HEADROOM)
                data = pad_mesh_data(data, capacity)
                ref = MeshRef(len(self.meshes), factor, (moved, axis), attempt.size_scale,
                              mesh=mesh, data=data, capacity=capacity)
                if self.store is not None:
                    self.store.save_mesh(ref.id, mesh)
                if k:
                    self.events.add(self.phase or "start", f"{where} recovered",
                                    f"meshed with {attempt.describe()}")
                self.meshes.append(ref)
                return ref
        finally:
            self.remesh_time += time.perf_counter() - t0

    @property
    def gap(self) -> float:
        """The clearance gap (m) of the needle nudges: the clearance checks' own, or a quarter
        of the smallest needle radius."""
        if self.clearance is not None:
            return self.clearance.gap
        return 0.25 * float(np.min(np.asarray(self.needles.radius)))

    def fits(self, ref: MeshRef | None, plan: Plan, factor: float, tolerance: float = 1.0) -> bool:
        """Whether `plan` may be evaluated on `ref` (same resolution, needles within reach)."""
        if ref is None or ref.factor != factor:
            return False
        return float(jnp.max(plan_shift_ratio(ref.data, self.needles, plan))) <= tolerance

    def find(self, plan: Plan, factor: float, tolerance: float = 1.0, recent: int = 6):
        """The most recent of the last `recent` meshes at this resolution that the plan fits."""
        for ref in reversed([m for m in self.meshes if m.factor == factor][-recent:]):
            if self.fits(ref, plan, factor, tolerance):
                return ref
        return None

    def reference(self, plan: Plan, ref: MeshRef | None, factor: float, tolerance: float = 1.0):
        """`ref` if the plan fits it, else another recent mesh it fits, else a new mesh at the
        plan's layout."""
        if self.fits(ref, plan, factor, tolerance):
            return ref
        return self.find(plan, factor, tolerance) or self.remesh(plan, factor)

    # ------------------------------------------------------------------ evaluations

    def _run(self, ref: MeshRef, plans: list[Plan], nonlinear: bool, grad: bool):
        solver = self.nonlinear_solver if nonlinear else self.linear_solver
        # The current correction applies to the superposition model only.
        scale = jnp.ones_like(self.current_scale) if nonlinear else self.current_scale
        args = (self.needles, ref.data, self.goals, scale, nonlinear, solver, grad)
        one, batch = (evaluate_one, evaluate_batch) if self.robust is None else \
            self.robust.evaluators(ref, self.needles)
        if len(plans) == 1:
            (value, aux), g = one(plans[0], *args)
            out = [(value, aux, g)]
        else:
            (values, auxes), grads = batch(stack(plans), *args)
            n = len(plans)
            aux_list = unstack(auxes, n)
            grad_list = unstack(grads, n) if grad else [None] * n
            out = list(zip(list(values), aux_list, grad_list))
        return [(float(v), jax.device_get(a), g) for v, a, g in out]

    def evaluate(
        self,
        plans: list[Plan],
        ref: MeshRef | None,
        *,
        factor: float,
        nonlinear: bool = False,
        grad: bool = False,
        optimiser: str,
        stage: str,
        starts=None,
        step: int = 0,
        tolerance: float = 1.0,
        center: Plan | None = None,
        spread: float | None = None,
        min_ratio: float = MIN_VOLUME_RATIO,
    ) -> tuple[list[Evaluation | None], MeshRef | None]:
        """Evaluate plans on `ref` (remeshing at `center`, default the first plan, when its
        needles have moved more than `tolerance` times the allowed shift); plans further than
        `spread` (default `tolerance`) times the allowed shift from the shared mesh get meshes
        of their own, and so does any plan whose moved cells came out squashed. A plan whose
        layout cannot be meshed gives None. `min_ratio`: remesh for a plan whose smallest moved
        cell volume falls below this fraction of its meshed volume. Returns the evaluations and
        the shared mesh."""
        spread = tolerance if spread is None else spread
        starts = list(range(len(plans))) if starts is None else list(starts)
        try:
            middle = center if center is not None else plans[0]
            shared = self.reference(middle, ref, factor, tolerance)
        except (ElectrodeError, MeshError):
            shared = ref if ref is not None and ref.factor == factor else None
        groups: dict[int, tuple[MeshRef, list[int]]] = {}
        results: list[Evaluation | None] = [None] * len(plans)
        for i, plan in enumerate(plans):
            try:
                fits = self.fits(shared, plan, factor, spread)
                own = shared if fits else self.remesh(plan, factor)
            except (ElectrodeError, MeshError) as exc:
                self.events.add(self.phase or "start", "candidate skipped",
                                f"its layout cannot be meshed: {exc}")
                self.progress.note(f"candidate skipped, its layout cannot be meshed: {exc}")
                continue
            groups.setdefault(own.id, (own, []))[1].append(i)
        for own, members in groups.values():
            out = self._run(own, [plans[i] for i in members], nonlinear, grad)
            for i, (value, aux, g) in zip(members, out):
                if aux["min_volume_ratio"] < min_ratio:  # squashed cells: remesh here
                    try:
                        own_i = self.remesh(plans[i], factor)
                    except (ElectrodeError, MeshError):
                        continue
                    value, aux, g = self._run(own_i, [plans[i]], nonlinear, grad)[0]
                    results[i] = Evaluation(plans[i], value, aux, g, own_i)
                else:
                    results[i] = Evaluation(plans[i], value, aux, g, own)
        for i, ev in enumerate(results):
            if ev is None:
                continue
            count = self.forward.get(optimiser, 0) + 1
            self.forward[optimiser] = count
            self._record(ev, optimiser, stage, starts[i], step, count, nonlinear, grad)
        return results, shared

    def _record(self, ev: Evaluation, optimiser, stage, start, step, count, nonlinear, grad):
        plan, aux = ev.plan, ev.aux
        tip, axis = self.layout(plan)
        self.audit.record(
            optimiser=optimiser, stage=stage, phase=self.phase, start=int(start), step=int(step),
            forward_solves=count, phase_forward_solves=self.forward.get(self.phase, 0),
            mesh=ev.mesh.id, n_cells=int(ev.mesh.mesh.n_cells),
            shift=np.asarray(plan.shift),
            tilt=np.broadcast_to(np.asarray(plan.tilt), (self.needles.count, 2)).copy(),
            voltage=np.asarray(plan.voltage), tip=tip, axis=axis,
            objective=ev.value if np.isfinite(ev.value) else np.nan,
            terms={k: float(v) for k, v in aux["terms"].items()},
            coverage=float(aux["metrics"]["coverage_hard"]),
            spare_fraction_irr=np.asarray(aux["metrics"]["spare_hard"], dtype=float),
            current=np.asarray(aux["current"], dtype=float),
            min_volume_ratio=float(aux["min_volume_ratio"]),
            converged=bool(aux["converged"]), gradient=bool(grad), nonlinear=bool(nonlinear),
        )

    def update_current_scale(self, plan: Plan, ref: MeshRef | None, factor: float, step: int = 0):
        """Fidelity check: nonlinear over linear currents at `plan` (both on the same mesh),
        used to scale the linear model's currents from now on. Returns the mesh used."""
        saved = self.current_scale
        self.current_scale = jnp.ones_like(saved)
        try:
            # With the gradient, though unused: the linear stage's own program then serves the
            # check (one compilation fewer, 2-3 s, for a fraction of a second per check).
            (lin,), ref = self.evaluate([plan], ref, factor=factor, optimiser="check",
                                        stage="linear", step=step, grad=True)
            if lin is None:  # no mesh could be made at this plan: keep the scale we have
                return ref
            (nl,), _ = self.evaluate([plan], lin.mesh, factor=factor, nonlinear=True,
                                     optimiser="check", stage="nonlinear", step=step)
        finally:
            self.current_scale = saved
        if nl is None or not nl.aux["converged"]:
            return ref
        ratio = np.abs(nl.aux["current"]) / np.maximum(np.abs(lin.aux["current"]), 1e-30)
        self.current_scale = jnp.asarray(np.clip(ratio, 1.0, 10.0))
        return lin.mesh
