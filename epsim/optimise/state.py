"""The planner's state as checkpoint data, and back (`epsim.optimise.checkpoint` stores it).

Evaluations keep their plan, value, diagnostics and mesh id (their gradients are spent by the
time a step ends); tracks keep their optimiser state as its list of leaves, rebuilt on the tree
of `opt.init(plan)`; the session keeps its meshes as layouts plus files, its counters, the
current-correction factors, the audit rows and the events.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from epsim.optimise.adam import Track
from epsim.optimise.cmaes import BaselineResult
from epsim.optimise.padded import pad_mesh_data
from epsim.optimise.session import Evaluation, MeshRef, Session
from epsim.padding import Capacity


def evaluation_data(ev: Evaluation | None) -> dict | None:
    if ev is None:
        return None
    return {"plan": ev.plan, "value": ev.value, "aux": ev.aux, "mesh": ev.mesh.id}


def evaluation_from(data: dict | None, session: Session) -> Evaluation | None:
    if data is None:
        return None
    return Evaluation(data["plan"], float(data["value"]), data["aux"], None,
                      session.meshes[int(data["mesh"])])


def track_data(track: Track | None) -> dict | None:
    if track is None:
        return None
    return {
        "start": track.start, "plan": track.plan,
        "state": None if track.state is None else jax.tree.leaves(track.state),
        "mesh": None if track.mesh is None else track.mesh.id, "previous": track.previous,
        "best": evaluation_data(track.best), "history": track.history,
        "evaluations": [evaluation_data(e) for e in track.evaluations],
    }


def track_from(data: dict | None, session: Session, opt) -> Track | None:
    """A track from `track_data`; `opt` is the optimiser whose state it holds."""
    if data is None:
        return None
    track = Track(int(data["start"]), data["plan"])
    if data["state"] is not None:
        tree = jax.tree.structure(opt.init(track.plan))
        track.state = jax.tree.unflatten(tree, [jnp.asarray(x) for x in data["state"]])
    track.mesh = None if data["mesh"] is None else session.meshes[int(data["mesh"])]
    track.previous = data["previous"]
    track.best = evaluation_from(data["best"], session)
    track.history = [tuple(h) for h in data["history"]]
    track.evaluations = [evaluation_from(e, session) for e in data["evaluations"]]
    return track


def baseline_data(result: BaselineResult | None) -> dict | None:
    if result is None:
        return None
    return {"best": evaluation_data(result.best), "history": result.history}


def baseline_from(data: dict | None, session: Session) -> BaselineResult | None:
    if data is None:
        return None
    return BaselineResult(evaluation_from(data["best"], session),
                          [tuple(h) for h in data["history"]])


def session_data(session: Session) -> dict:
    return {
        "meshes": [{"factor": m.factor, "size_scale": m.size_scale, "tips": m.layout[0],
                    "axes": m.layout[1],
                    "capacity": m.capacity.as_list() if m.capacity else None}
                   for m in session.meshes],
        "forward": dict(session.forward), "remesh_time": session.remesh_time,
        "phase": session.phase, "current_scale": session.current_scale,
        "events": session.events.rows, "audit": session.audit.rows,
    }


def restore_session(session: Session, data: dict, store) -> None:
    """Put a saved session state into a fresh `session`; meshes load from `store` when used."""

    def restored(i: int, m: dict) -> MeshRef:
        factor = float(m["factor"]) * float(m["size_scale"])
        capacity = Capacity.from_list(m["capacity"]) if m.get("capacity") else None

        def load():
            mesh = store.load_mesh(i)
            # padded as before the interruption: the same sums in the same order
            data = session.scene.mesh_data(mesh, m["tips"], m["axes"], factor)
            return mesh, pad_mesh_data(data, capacity)

        return MeshRef(i, float(m["factor"]), (np.asarray(m["tips"]), np.asarray(m["axes"])),
                       float(m["size_scale"]), capacity=capacity, load=load)

    session.meshes = [restored(i, m) for i, m in enumerate(data["meshes"])]
    session.forward = {k: int(v) for k, v in data["forward"].items()}
    session.remesh_time = float(data["remesh_time"])
    session.phase = data["phase"]
    session.current_scale = jnp.asarray(data["current_scale"])
    session.events.rows = [tuple(r) for r in data["events"]]
    session.audit.rows = list(data["audit"])
    if session.audit.rows:  # audit times continue from the last saved candidate
        session.audit.started = time.perf_counter() - float(session.audit.rows[-1]["time"])


__all__ = ["baseline_data", "baseline_from", "restore_session", "session_data", "track_data",
           "track_from"]
