"""Clearances gmsh needs, as hard limits of every optimiser step.

gmsh meshes a layout only when the needle surfaces stay clear of each other and of the scene's
surfaces: a needle that grazes a structure (its cylinder nearly tangent to the surface) or two
needles almost touching give surface triangulations that cross ("PLC Error: Two facets
intersect"), and the plan cannot be meshed. Penalties keep the optimum away from such layouts but
cannot forbid them on the way; this module measures them so that each step can be projected back
onto the layouts gmsh can mesh.

For a gap `g` (m; about half the electrode mesh size, so that the discretised surfaces of the two
sides cannot cross) a layout violates:

- spacing: two needles whose surfaces (the exact segment distance between their axes from tip
  to skin, minus both radii) are closer than 2 g, or than `min_gap` (optimise.min_gap: needles
  never cross and keep that distance along their whole length);
- grazing: a point of a needle's axis whose distance from a surface is the radius give or take g
  (the cylinder touches the surface) while the axis runs along the surface there (the axis makes
  less than `GRAZING_SLOPE` with it, so the two surfaces meet nearly tangentially);
- tip: a tip less than g inside the tissue surface.

A needle end (tip, end of the conducting part) near a structure's surface is not a hard limit:
an end crosses the target's surface whenever a needle moves sideways past the target's rim, a
band of millimetres in the layout that no step could jump (tried: with that limit the pelvic
plan stalled at 82 % coverage, 73 of 85 steps held back), and gmsh meshes such layouts (an end
exactly on a surface meshes in the tests); where it does not, the retries of
`epsim.optimise.recovery` take over.

`project_step` moves a proposed plan along its step, to the nearest point of the segment
[previous, 2 x proposed - previous] that breaks no clearance the previous plan kept: a step may
jump across a forbidden band (a needle passing the tangent position beside a vessel), not stop
in it. A clearance the previous plan already broke (a user's starting layout that gmsh meshed)
does not hold the step back.
Host-side numpy over jitted JAX signed distances; lengths in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from epsim.optimise.geometry import signed_distance_function
from epsim.optimise.plan import Needles, Plan, axes, tips

GRAZING_SLOPE = 0.2
"""Sine of the smallest angle (about 11.5 degrees) at which an axis may meet a surface near the
needle's radius."""

STEP_FRACTIONS = tuple(sorted(
    (1.0 + k / 8 for k in range(-8, 9) if k), key=lambda s: (abs(s - 1.0), -s)
))
"""Points of the step (1: as proposed) tried, nearest first, when the proposed plan violates."""


@dataclass(frozen=True)
class Violation:
    """One clearance a layout breaks: kind (spacing, grazing, tip), needle, what it is near,
    the clearance found and the one needed (m)."""

    kind: str
    needle: str
    near: str
    found: float
    needed: float

    def __str__(self) -> str:
        return (f"{self.kind}: needle {self.needle} to {self.near} {self.found * 1e3:.2f} mm "
                f"(needs {self.needed * 1e3:.2f} mm)")


def segment_distance(a0, a1, b0, b1):
    """Exact distance (m) between the segments a0-a1 and b0-b1 (points (..., 3), JAX): the
    closest points' parameters from the normal equations, clamped to [0, 1] one segment at a
    time (parallel segments: from a0; Ericson, Real-Time Collision Detection, 2005, 5.1.9)."""
    d1, d2, r = a1 - a0, b1 - b0, a0 - b0
    a, e = jnp.sum(d1 * d1, -1), jnp.sum(d2 * d2, -1)
    b, c, f = jnp.sum(d1 * d2, -1), jnp.sum(d1 * r, -1), jnp.sum(d2 * r, -1)
    denom = a * e - b * b
    parallel = denom <= 1e-12 * a * e
    s = jnp.where(parallel, 0.0, jnp.clip((b * f - c * e) / jnp.where(parallel, 1.0, denom),
                                          0.0, 1.0))
    t = (b * s + f) / e
    s = jnp.where(t < 0.0, jnp.clip(-c / a, 0.0, 1.0),
                  jnp.where(t > 1.0, jnp.clip((b - c) / a, 0.0, 1.0), s))
    t = jnp.clip(t, 0.0, 1.0)
    gap = a0 + s[..., None] * d1 - b0 - t[..., None] * d2
    return jnp.sqrt(jnp.sum(gap * gap, -1))


@dataclass(frozen=True)
class Clearance:
    """The clearance checks of a planning scene.

    Attributes:
        names: needle names; radius: (n,) m.
        surfaces: (name, signed distance) of each structure with an analytic distance, then
            the domain's (named "tissue surface"), last.
        exit_point: (tips, axes) -> (n, 3) m where each needle leaves the tissue.
        gap: m, the clearance g of the module doc.
        min_gap: m, the user's smallest needle surface gap (`optimise.min_gap`), if larger.
        samples: axis samples per needle for the grazing test.
    """

    names: tuple[str, ...]
    radius: np.ndarray
    surfaces: tuple[tuple[str, Callable], ...]
    exit_point: Callable
    gap: float
    samples: int = 400
    min_gap: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "_measure", jax.jit(self._measures))

    def _measures(self, tip, axis):
        """Per-check clearance margins (found - needed, m; negative = violated)."""
        r, g = jnp.asarray(self.radius), self.gap
        exits = self.exit_point(tip, axis)
        n = len(self.names)
        spacing = jnp.full((n, n), jnp.inf)
        for i in range(n):
            for j in range(i + 1, n):
                d = segment_distance(tip[i], exits[i], tip[j], exits[j]) - r[i] - r[j]
                spacing = spacing.at[i, j].set(d - max(2 * g, self.min_gap))
        t = jnp.linspace(0.0, 1.0, self.samples)[None, :, None]
        line = tip[:, None, :] + t * (exits - tip)[:, None, :]  # (n, samples, 3)
        step = jnp.linalg.norm(exits - tip, axis=-1) / (self.samples - 1)
        grazing = []
        for _, sd in self.surfaces:
            d = sd(line)
            slope = jnp.abs(jnp.gradient(d, axis=1)) / step[:, None]
            touching = jnp.abs(jnp.abs(d) - r[:, None]) < g
            # margin: how far the touching points are from the safe slope (negative = grazing)
            grazing.append(jnp.min(jnp.where(touching, slope - GRAZING_SLOPE, jnp.inf), axis=1)
                           * g)
        inside = -self.surfaces[-1][1](tip) - g  # the last surface is the tissue's
        return spacing, inside, jnp.stack(grazing, axis=1)

    def violations(self, tip, axis) -> list[Violation]:
        """Every clearance the layout (tips, unit axes (n, 3) m) breaks."""
        tip, axis = np.asarray(tip, dtype=float), np.asarray(axis, dtype=float)
        spacing, inside, grazing = (np.asarray(m) for m in self._measure(tip, axis))
        g, out = self.gap, []
        for i, j in zip(*np.nonzero(spacing < 0)):
            need = max(2 * g, self.min_gap)
            out.append(Violation("spacing", self.names[i], f"needle {self.names[j]}",
                                 spacing[i, j] + need, need))
        for i in np.nonzero(inside < 0)[0]:
            out.append(Violation("tip", self.names[i], "tissue surface", inside[i] + g, g))
        for (i, k) in zip(*np.nonzero(grazing < 0)):
            out.append(Violation("grazing", self.names[i], self.surfaces[k][0], 0.0, g))
        return out

    def margins(self, tip, axis) -> np.ndarray:
        """Every clearance's margin (m), flat: negative where the layout breaks it."""
        found = self._measure(np.asarray(tip, dtype=float), np.asarray(axis, dtype=float))
        return np.concatenate([np.asarray(m).ravel() for m in found])

    def excess(self, tip, axis) -> float:
        """Total violation (m): 0 for a layout that breaks no clearance."""
        return float(np.sum(np.maximum(-self.margins(tip, axis), 0.0)))


def scene_clearance(scene, exit_point, gap: float, min_gap: float = 0.0) -> Clearance:
    """The clearance checks of a `PlanningScene`: every inclusion with an analytic signed
    distance, and the domain; needles at least max(2 gap, min_gap) apart along their length."""
    surfaces = [(f"{i.name} surface", signed_distance_function(i)) for i in scene.inclusions]
    surfaces = [(n, sd) for n, sd in surfaces if sd is not None]
    surfaces.append(("tissue surface", signed_distance_function(scene.domain)))
    return Clearance(
        names=tuple(scene.names), radius=np.asarray(scene.radii, dtype=float),
        surfaces=tuple(surfaces),
        exit_point=exit_point, gap=float(gap), min_gap=float(min_gap),
    )


def _along(old: Plan, new: Plan, s: float) -> Plan:
    """The plan a fraction s of the way from old to new in position and tilt (new voltages)."""
    return Plan(old.shift + s * (new.shift - old.shift), old.tilt + s * (new.tilt - old.tilt),
                new.voltage)


def project_step(clearance: Clearance, needles: Needles, old: Plan, new: Plan) -> tuple[Plan, float]:
    """`new` if it breaks no clearance that `old` kept, else the nearest point of the step (see
    the module doc) that does, else `old` with new voltages. Returns the plan and the fraction
    of the step taken."""
    def margins(plan):
        return clearance.margins(tips(needles, plan), axes(needles, plan))

    broken = margins(old) < 0

    def keeps(plan):
        return bool(np.all((margins(plan) >= 0) | broken))

    if keeps(new):
        return new, 1.0
    for s in STEP_FRACTIONS:
        plan = _along(old, new, s)
        if keeps(plan):
            return plan, s
    return _along(old, new, 0.0), 0.0


__all__ = ["Clearance", "Violation", "project_step", "scene_clearance", "segment_distance"]
