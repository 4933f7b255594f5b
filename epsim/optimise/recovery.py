"""What the planner does when gmsh cannot mesh a layout, and the record of it.

gmsh fails on some layouts that are geometrically fine (surfaces nearly tangent, a triangulation
that happens to cross another), and whether it does can hinge on a hundredth of a millimetre. No
such failure may end a plan, so every meshing the planner does goes through `ATTEMPTS`: the layout
as asked, then slightly different mesh sizes, then tiny deterministic sideways nudges of the
needles. In the optimisation a nudged mesh is exact (the moving mesh carries the needles from the
meshed layout to the plan's); at the verification a nudge changes the plan, which is then the
plan written and reported. When every attempt fails, the optimiser steps back (the candidate is
skipped and the step halved) and the verification falls back to the next best plan. Each event
goes into `Events`, then into the audit and the report.

`MeshFaults` injects failures at chosen meshing calls, for tests of exactly this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from epsim.errors import MeshError
from epsim.optimise.plan import perpendicular_frame


@dataclass(frozen=True)
class Attempt:
    """One way to mesh a layout: mesh sizes times `size_scale`, every needle moved sideways by
    `nudge` x the clearance gap (a direction per needle drawn from `seed`)."""

    size_scale: float = 1.0
    nudge: float = 0.0
    seed: int = 0

    def describe(self) -> str:
        parts = []
        if self.size_scale != 1.0:
            parts.append(f"mesh sizes x{self.size_scale:g}")
        if self.nudge:
            parts.append(f"needles nudged sideways by {self.nudge:g} x the clearance gap")
        return ", ".join(parts) or "as planned"


ATTEMPTS = (
    Attempt(),
    Attempt(size_scale=0.97),
    Attempt(size_scale=1.03),
    Attempt(nudge=0.25, seed=1),
    Attempt(nudge=0.5, seed=2),
    Attempt(size_scale=0.95, nudge=0.5, seed=3),
)
"""Tried in order until one meshes."""


def sideways(attempt: Attempt, count: int, gap: float) -> np.ndarray:
    """(count, 2) m: each needle's nudge in its own perpendicular frame, attempt.nudge x gap
    long, in directions drawn from attempt.seed (the same every run)."""
    angles = np.random.default_rng(attempt.seed).uniform(0.0, 2 * np.pi, count)
    return attempt.nudge * gap * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def nudged_tips(tips: np.ndarray, axes: np.ndarray, attempt: Attempt, gap: float) -> np.ndarray:
    """Tips (n, 3) m moved perpendicular to their axes by `sideways`."""
    tips = np.asarray(tips, dtype=float)
    if not attempt.nudge:
        return tips
    out = tips.copy()
    for k, (axis, (a, b)) in enumerate(zip(np.asarray(axes, dtype=float),
                                           sideways(attempt, len(tips), gap))):
        e1, e2 = perpendicular_frame(axis)
        out[k] += a * e1 + b * e2
    return out


@dataclass
class Events:
    """What went wrong and how it was handled, in order: (stage, what, detail) rows."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, stage: str, what: str, detail: str) -> None:
        self.rows.append((stage, what, detail))

    def lines(self) -> list[str]:
        return [f"[{stage}] {what}: {detail}" for stage, what, detail in self.rows]


@dataclass
class MeshFaults:
    """Meshing failures to inject: 0-based numbers of the meshing calls of each kind ("remesh":
    meshes of the optimisation, "verify": fresh meshes of the verifications) that fail as gmsh
    does. Counts every call, retries included."""

    remesh: frozenset = frozenset()
    verify: frozenset = frozenset()
    calls: dict = field(default_factory=dict)

    def check(self, kind: str) -> None:
        """Count a meshing call of `kind`; raise MeshError when it is one to fail."""
        n = self.calls.get(kind, 0)
        self.calls[kind] = n + 1
        if n in getattr(self, kind):
            raise MeshError(f"gmsh failed to mesh the scene: injected fault ({kind} call {n})")


__all__ = ["ATTEMPTS", "Attempt", "Events", "MeshFaults", "nudged_tips", "sideways"]
