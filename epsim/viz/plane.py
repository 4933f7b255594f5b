"""Where a slice is cut: planes normal to an axis or through a pair's electrodes, sections in the
plane's own coordinates, and the window a picture is cropped to. Host numpy only.

    plane = pair_plane(results, pair=0)          # through the firing electrodes
    section = cut(results, plane)                # epsim.viz.section.Section, uv in metres
    window = crop_window(results, plane, section, pair=0)

A plane has an origin, two in-plane unit vectors u and v and the normal u x v. Points map to
(u . (p - origin), v . p + shift): u is measured from the origin, v absolute where it is a
coordinate axis (a cut along vertical needles reads z in mm), so labels stay physical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epsim.errors import InputError
from epsim.io.results import Results
from epsim.viz.common import AXES, region_roles, target_centre
from epsim.viz.section import Section, plane_section, surface_section

# An electrode pair counts as elongated (needles: cut along them) when its cross-axis spread is
# this many times its second one; flatter ones (plates) are cut along the depth (z) instead.
ELONGATED = 3.0
CROP_MARGIN = 5e-3  # m, at least this around the target in a cropped picture
AXIS_SNAP = 0.999  # electrodes within 2.6 degrees of an axis are cut along that axis


@dataclass(frozen=True)
class Plane:
    """A cutting plane (m). `u_label`, `v_label`: axis names for the picture; `title`: what
    the picture says the plane is."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    u_label: str
    v_label: str
    title: str

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.u, self.v)

    def local(self, points) -> np.ndarray:
        """(n, 3) coordinates (u, v, distance from the plane) of points (n, 3)."""
        p = np.asarray(points, dtype=np.float64) - self.origin
        return np.stack([p @ self.u, p @ self.v + self.origin @ self.v, p @ self.normal], axis=1)


def axis_plane(results: Results, axis: str, offset: float | None = None) -> Plane:
    """The plane x[axis] = offset (m; default: through the target centre)."""
    if axis not in AXES:
        raise InputError(f"plane {axis!r}: use pair, x, y or z")
    k = AXES[axis]
    if offset is None:
        offset = float(target_centre(results)[k])
    origin = np.zeros(3)
    origin[k] = offset
    i, j = (n for n in range(3) if n != k)
    u, v = np.eye(3)[i], np.eye(3)[j]
    names = "xyz"
    origin[i] = 0.0  # u measured from 0: the picture shows plain coordinates
    return Plane(origin, u, v, f"{names[i]} (mm)", f"{names[j]} (mm)",
                 f"{axis} = {offset * 1e3 + 0.0:.2f} mm")


def find_pair(results: Results, pair) -> int:
    """The index of a pair given as an index (0-based) or a name "a->b", "a-b" or "a,b"."""
    n = len(results.anode)
    if isinstance(pair, (int, np.integer)):
        if not 0 <= pair < n:
            raise InputError(f"pair {pair + 1} out of range: the run has {n} pair(s)")
        return int(pair)
    text = str(pair).replace(" ", "")
    for k, (a, c) in enumerate(zip(results.anode, results.cathode)):
        if text in (f"{a}->{c}", f"{a}-{c}", f"{a},{c}"):
            return k
    known = ", ".join(f"{a}->{c}" for a, c in zip(results.anode, results.cathode))
    raise InputError(f"no pair {pair!r} in this run; its pairs: {known}")


def electrode_points(results: Results, name: str) -> np.ndarray:
    """(n, 3) m: the nodes of an electrode's conducting surface."""
    facets = np.asarray(results.electrode_facets.get(name, np.zeros((0, 3))), dtype=np.int64)
    return np.asarray(results.points, dtype=np.float64)[np.unique(facets)]


def depth_direction(points: np.ndarray, across: np.ndarray) -> np.ndarray:
    """The in-plane direction besides `across`: along elongated electrodes (needles), else the
    vertical (plates reach down from the skin), pointing up."""
    q = points - points.mean(axis=0)
    q = q - np.outer(q @ across, across)
    _, s, vt = np.linalg.svd(q, full_matrices=False)
    direction = vt[0]
    if s[0] < ELONGATED * s[1]:
        z = np.array([0.0, 0.0, 1.0])
        vertical = z - (z @ across) * across
        if np.linalg.norm(vertical) > 0.1:
            direction = vertical / np.linalg.norm(vertical)
    return direction if direction[2] >= 0 else -direction


def pair_plane(results: Results, pair=0, offset: float = 0.0) -> Plane:
    """The plane through both electrodes of a pair (index or name): across from anode to
    cathode, and along the needles (or down the plates); `offset` (m) moves it along its
    normal."""
    k = find_pair(results, pair)
    a, c = results.anode[k], results.cathode[k]
    pa, pc = electrode_points(results, a), electrode_points(results, c)
    if len(pa) == 0 or len(pc) == 0:
        raise InputError(f"pair {a}->{c}: no electrode surface in this results file")
    across = pc.mean(axis=0) - pa.mean(axis=0)
    if np.linalg.norm(across) == 0:
        raise InputError(f"pair {a}->{c}: the electrodes have the same centre")
    u = across / np.linalg.norm(across)
    v = depth_direction(np.concatenate([pa, pc]), u)
    axis = int(np.argmax(np.abs(v)))
    if abs(v[axis]) > AXIS_SNAP:  # needles along an axis: read that coordinate in the picture
        v = np.sign(v[axis]) * np.eye(3)[axis]
        u = across - (across @ v) * v
        u = u / np.linalg.norm(u)
    origin = 0.5 * (pa.mean(axis=0) + pc.mean(axis=0)) + offset * np.cross(u, v)
    v_label = f"{'xyz'[axis]} (mm)" if abs(v[axis]) == 1.0 else "along the electrodes (mm)"
    title = f"plane of pair {k + 1} ({a} -> {c})"
    if offset:
        title += f", moved {offset * 1e3:+.1f} mm"
    return Plane(origin, u, v, f"from the middle towards {c} (mm)", v_label, title)


def cut(results: Results, plane: Plane) -> Section:
    """The section of the mesh by `plane`, uv in the plane's coordinates (m)."""
    local = plane.local(results.points)
    return plane_section(local, results.cells, 2, 0.0)


def surface_cut(results: Results, facets, plane: Plane) -> np.ndarray:
    """(n, 2, 2) m: where surface triangles cross `plane`, in the plane's coordinates."""
    return surface_section(plane.local(results.points), facets, 2, 0.0)


def crop_window(results: Results, plane: Plane, section: Section, crop: str = "target",
                pair: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) uv corners (m) of the picture: the whole section ("all"), or ("target") the
    target's cut and the firing pair's electrodes in the plane, with a margin of half the
    target's size but at least CROP_MARGIN, within the section."""
    low, high = section.uv.min(axis=0), section.uv.max(axis=0)
    if crop == "all":
        return low, high
    if crop != "target":
        raise InputError(f"crop {crop!r}: use target or all")
    roles = region_roles(results)
    ids = [k for k, n in enumerate(results.region_names) if roles[n] == "target"]
    parts = [section.outline(np.isin(np.asarray(results.cell_region), ids)).reshape(-1, 2)]
    if pair is not None:
        for name in (results.anode[pair], results.cathode[pair]):
            facets = results.electrode_facets.get(name)
            if facets is not None and len(facets):
                parts.append(surface_cut(results, facets, plane).reshape(-1, 2))
    points = np.concatenate(parts)
    if len(points) == 0:  # the plane misses the target and the electrodes
        return low, high
    target = parts[0] if len(parts[0]) else points
    margin = max(CROP_MARGIN, 0.5 * float(np.ptp(target, axis=0).max()))
    return (np.maximum(points.min(axis=0) - margin, low),
            np.minimum(points.max(axis=0) + margin, high))


__all__ = [
    "AXIS_SNAP", "CROP_MARGIN", "ELONGATED", "Plane", "axis_plane", "crop_window", "cut",
    "depth_direction", "electrode_points", "find_pair", "pair_plane", "surface_cut",
]
