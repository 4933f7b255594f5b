"""What the planner varies: needle poses and pair voltages, as pytrees.

A `Plan` holds, for every needle, a shift of its tip in the needle's own initial frame
(e1, e2 perpendicular to the axis, then along the axis towards the entry), a tilt of its axis
(two components in the same frame; one shared pair for parallel insertion), and one voltage per
firing pair. `Needles` holds the fixed description: initial tips and frames, radii, active
lengths. Positions in metres, voltages in volts, tilts dimensionless (tangent of the angle).
"""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Plan(eqx.Module):
    """Decision variables.

    Attributes:
        shift: (n_needles, 3) m, tip displacement along (e1, e2, axis) of each needle's initial
            frame.
        tilt: (n_needles, 2), or (1, 2) when all needles stay parallel: the axis becomes
            normalise(axis + tilt_1 e1 + tilt_2 e2).
        voltage: (n_pairs,) V, anode voltage of each firing pair (cathode at 0 V).
    """

    shift: jax.Array
    tilt: jax.Array
    voltage: jax.Array


class Needles(eqx.Module):
    """The needles being planned, in their initial pose (SI).

    Attributes:
        tip: (n, 3) m; axis: (n, 3) unit, tip towards entry; e1, e2: (n, 3) unit, perpendicular.
        radius, active_length, length: (n,) m (length: tip to entry, kept when written back).
        names: needle names (static), also the electrode names of the mesh.
    """

    tip: jax.Array
    axis: jax.Array
    e1: jax.Array
    e2: jax.Array
    radius: jax.Array
    active_length: jax.Array
    length: jax.Array
    names: tuple[str, ...] = eqx.field(static=True)

    @property
    def count(self) -> int:
        return len(self.names)


def perpendicular_frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors e1, e2 with (e1, e2, axis) right-handed: e1 is x (or y when the axis is
    close to x) projected onto the plane normal to the axis."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    reference = np.array([1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 = reference - reference @ axis * axis
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def make_needles(
    names: Sequence[str], tips, entries, radii, active_lengths
) -> Needles:
    """Needles from tips and entry points (n, 3) m, radii and active lengths (n,) m."""
    tips, entries = np.asarray(tips, dtype=float), np.asarray(entries, dtype=float)
    length = np.linalg.norm(entries - tips, axis=1)
    axis = (entries - tips) / length[:, None]
    frames = [perpendicular_frame(a) for a in axis]
    return Needles(
        tip=jnp.asarray(tips), axis=jnp.asarray(axis),
        e1=jnp.asarray(np.array([f[0] for f in frames])),
        e2=jnp.asarray(np.array([f[1] for f in frames])),
        radius=jnp.asarray(np.asarray(radii, dtype=float)),
        active_length=jnp.asarray(np.asarray(active_lengths, dtype=float)),
        length=jnp.asarray(length), names=tuple(names),
    )


def initial_plan(needles: Needles, voltages, *, parallel: bool = False) -> Plan:
    """The plan that leaves every needle where it is, with the given pair voltages (V)."""
    n = needles.count
    return Plan(
        shift=jnp.zeros((n, 3)),
        tilt=jnp.zeros((1 if parallel else n, 2)),
        voltage=jnp.asarray(np.asarray(voltages, dtype=float)),
    )


def tips(needles: Needles, plan: Plan) -> jax.Array:
    """(n, 3) m, tip positions of the plan."""
    s = plan.shift
    return needles.tip + s[:, :1] * needles.e1 + s[:, 1:2] * needles.e2 + s[:, 2:] * needles.axis


def axes(needles: Needles, plan: Plan) -> jax.Array:
    """(n, 3) unit axes (tip towards entry) of the plan."""
    t = jnp.broadcast_to(plan.tilt, (needles.count, 2))
    a = needles.axis + t[:, :1] * needles.e1 + t[:, 1:] * needles.e2
    return a / jnp.linalg.norm(a, axis=1, keepdims=True)


def entries(needles: Needles, plan: Plan) -> jax.Array:
    """(n, 3) m, entry points: `length` from the tip along the axis (as in the input)."""
    return tips(needles, plan) + needles.length[:, None] * axes(needles, plan)


def active_centres(needles: Needles, plan: Plan) -> jax.Array:
    """(n, 3) m, centres of the conducting parts."""
    return tips(needles, plan) + 0.5 * needles.active_length[:, None] * axes(needles, plan)
