"""How each needle goes in, in the terms a clinician places it: where it crosses the skin, how
deep it goes from there along its axis, its angles to the patient axes and where its conducting
part sits. Host numpy; SI in, SI out (angles in radians).

The skin is the scene's outer surface (the domain's boundary): the entry point on the skin is
where the needle's axis, followed from the tip towards the handle, leaves the domain. Scenes made
from images are in the NIfTI RAS+ frame (x towards the patient's right, y anterior, z superior;
`epsim.imaging.labelmap`), so the angles to x, y and z are angles to the patient's axes there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epsim.config import mesh_domain, needle_axes


@dataclass(frozen=True)
class Insertion:
    """One needle as placed.

    Attributes:
        name; tip: (3,) m; skin: (3,) m, where the axis crosses the outer surface (None when the
        tip lies outside the scene); direction: (3,) unit, from the skin towards the tip (the way
        the needle is pushed); depth: m, from the skin to the tip along the axis;
        angles: (3,) rad, between the direction and the +x, +y, +z axes;
        conducting: (from, to) m, depths from the skin of the conducting part's ends (the upper
        end is negative when the conducting part sticks out of the skin);
        radius, active_length: m.
    """

    name: str
    tip: np.ndarray
    skin: np.ndarray | None
    direction: np.ndarray
    depth: float | None
    angles: np.ndarray
    conducting: tuple[float, float] | None
    radius: float
    active_length: float


def insertion(domain, needle) -> Insertion:
    """The insertion geometry of one `epsim.mesh.scene.Needle` in a domain shape."""
    up = np.asarray(needle.direction, dtype=np.float64)  # tip towards the handle
    tip = np.asarray(needle.tip, dtype=np.float64)
    depth = domain.exit_distance(tip, up)
    skin = None if depth is None else tip + depth * up
    down = -up
    angles = np.arccos(np.clip(down, -1.0, 1.0))  # to +x, +y, +z: the components of a unit
    conducting = None if depth is None else (depth - needle.active_length, depth)
    return Insertion(needle.name, tip, skin, down, depth, angles, conducting, needle.radius,
                     needle.active_length)


def insertions(cfg) -> list[Insertion]:
    """The insertion geometry of every needle of a config (resolved or not), in config order."""
    domain = mesh_domain(cfg)
    return [insertion(domain, n) for n in needle_axes(cfg)]


__all__ = ["Insertion", "insertion", "insertions"]
