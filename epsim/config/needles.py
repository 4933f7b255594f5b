"""Electrodes expanded into individual conductors, and the pair sequence with its voltages.

`needle_axes(cfg)` turns needle, needle_row and hexagonal_array electrodes into `Needle`s (SI);
`pair_voltages(cfg, needles)` spells out the protocol's pairs with their voltages;
`check_needles(cfg, needles)` rejects overlapping needles and tips outside the domain.
No mesh is needed for any of this.

Conventions (engineering choices, documented here and in the schema):
- Needle names: a `needle` keeps its name; a `needle_row` named R gives R_0 .. R_{count-1};
  a `hexagonal_array` named H gives H_0 (centre) and H_1 .. H_6 (the hexagon, counter-clockwise
  about the axis). `plates` named P give two conductors P_a and P_b (not needles).
- Where an array gives no `length`, each needle's entry is where its axis leaves the domain (at
  least `active_length` from the tip).
- Pair generators: `adjacent` pairs each conductor with the next one in config order;
  `all_pairs` every conductor with every later one; `hexagonal_cycle`, for each hexagonal array,
  the 12 nearest-neighbour pairs, triangle by triangle: (H_0, H_k), (H_k, H_{k+1}) for k = 1..6
  (H_7 = H_1). Every one of these pairs is one circumradius apart. The sequence a commercial
  device fires is not confirmed in a primary source [unverified].
- Needle spacing, for `voltage_to_distance`: the mean of the distances from the centre of each
  needle's active part to the other needle's axis line. For parallel needles this is the axis
  distance, whatever the depths of the tips. Plates: the gap.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Iterable

import numpy as np

from epsim.config.issues import ConfigIssue, Loc
from epsim.config.schema import (
    BoxDomain,
    Config,
    CylinderDomain,
    HexagonalArray,
    NeedleElectrode,
    NeedleRow,
    Pair,
    Plates,
)
from epsim.config.units import unknown_name_message

_TOL = 1e-9  # relative tolerance of geometric comparisons


@dataclasses.dataclass(frozen=True)
class Needle:
    """One needle, SI units.

    Attributes:
        name: conductor name used by pairs.
        electrode: index of the config electrode it comes from.
        tip: (3,) tip position, m.
        entry: (3,) a point further up the shaft, m; the needle is the segment tip-entry.
        radius: m.
        active_length: conducting length from the tip towards entry, m; the rest is insulated.
    """

    name: str
    electrode: int
    tip: tuple[float, float, float]
    entry: tuple[float, float, float]
    radius: float
    active_length: float

    @property
    def length(self) -> float:
        """Distance tip to entry, m."""
        return float(np.linalg.norm(np.subtract(self.entry, self.tip)))

    @property
    def axis(self) -> np.ndarray:
        """(3,) unit vector from the tip towards the entry."""
        return np.subtract(self.entry, self.tip) / self.length

    @property
    def active_center(self) -> np.ndarray:
        """(3,) centre of the conducting part, m."""
        return np.asarray(self.tip) + 0.5 * self.active_length * self.axis


def _unit(vector: Iterable[float]) -> np.ndarray:
    v = np.asarray(vector, dtype=float)
    return v / np.linalg.norm(v)


def _perpendicular_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (e1, e2) with (e1, e2, axis) right-handed; e1 is the x axis (or the y
    axis when `axis` is close to x) projected onto the plane normal to `axis` (a unit vector)."""
    reference = np.array([1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 = reference - np.dot(reference, axis) * axis
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def _exit_distance(domain: Any, point: np.ndarray, direction: np.ndarray) -> float | None:
    """Distance along `direction` (unit) from `point` inside the domain to its boundary."""
    centre = np.asarray(domain.center)
    p = point - centre
    if isinstance(domain, BoxDomain):
        half = 0.5 * np.asarray(domain.size)
        steps = [(np.sign(d) * h - x) / d for x, d, h in zip(p, direction, half) if d != 0.0]
        t = min(steps)
    elif isinstance(domain, CylinderDomain):
        steps = []
        if direction[2] != 0.0:
            steps.append((np.sign(direction[2]) * 0.5 * domain.height - p[2]) / direction[2])
        a = direction[0] ** 2 + direction[1] ** 2
        if a > 0.0:
            b = p[0] * direction[0] + p[1] * direction[1]
            c = p[0] ** 2 + p[1] ** 2 - domain.radius**2
            steps.append((-b + math.sqrt(max(b * b - a * c, 0.0))) / a)
        t = min(steps)
    else:
        b = float(np.dot(p, direction))
        c = float(np.dot(p, p)) - domain.radius**2
        t = -b + math.sqrt(max(b * b - c, 0.0))
    return float(t) if t > 0.0 else None


def _inside(domain: Any, point: np.ndarray) -> bool:
    p = np.asarray(point) - np.asarray(domain.center)
    if isinstance(domain, BoxDomain):
        half = 0.5 * np.asarray(domain.size)
        return bool(np.all(np.abs(p) <= half * (1 + _TOL)))
    if isinstance(domain, CylinderDomain):
        radial = math.hypot(p[0], p[1])
        half_height = 0.5 * domain.height
        return radial <= domain.radius * (1 + _TOL) and abs(p[2]) <= half_height * (1 + _TOL)
    return float(np.linalg.norm(p)) <= domain.radius * (1 + _TOL)


def _parallel_needle(cfg, index, name, tip, axis, length, electrode) -> "Needle":
    if length is None:
        length = max(_exit_distance(cfg.scene.domain, tip, axis) or 0.0, electrode.active_length)
    return Needle(
        name=name,
        electrode=index,
        tip=tuple(float(x) for x in tip),
        entry=tuple(float(x) for x in tip + length * axis),
        radius=0.5 * electrode.diameter,
        active_length=electrode.active_length,
    )


def needle_axes(cfg: Config) -> tuple[Needle, ...]:
    """Every needle of the config, in config order (plates are not needles).

    Args:
        cfg: a Config or ResolvedConfig (SI values).

    Returns:
        Needles with tips, entries, radii and active lengths in metres.
    """
    needles: list[Needle] = []
    for index, electrode in enumerate(cfg.electrodes):
        if isinstance(electrode, NeedleElectrode):
            needles.append(
                Needle(
                    name=electrode.name,
                    electrode=index,
                    tip=electrode.tip,
                    entry=electrode.entry,
                    radius=0.5 * electrode.diameter,
                    active_length=electrode.active_length,
                )
            )
        elif isinstance(electrode, NeedleRow):
            axis = _unit(electrode.axis)
            step = _unit(electrode.direction) * electrode.spacing
            for k in range(electrode.count):
                tip = np.asarray(electrode.tip) + k * step
                needles.append(
                    _parallel_needle(
                        cfg, index, f"{electrode.name}_{k}", tip, axis, electrode.length, electrode
                    )
                )
        elif isinstance(electrode, HexagonalArray):
            axis = _unit(electrode.axis)
            e1, e2 = _perpendicular_basis(axis)
            centre = np.asarray(electrode.center_tip)
            tips = [centre]
            for k in range(6):
                angle = electrode.rotation + k * math.pi / 3.0
                offset = math.cos(angle) * e1 + math.sin(angle) * e2
                tips.append(centre + electrode.circumradius * offset)
            for k, tip in enumerate(tips):
                needles.append(
                    _parallel_needle(
                        cfg, index, f"{electrode.name}_{k}", tip, axis, electrode.length, electrode
                    )
                )
    return tuple(needles)


def conductor_names(cfg: Config) -> dict[str, int]:
    """Every conductor name (needles and plate sides) -> index of its config electrode.

    Raises:
        ConfigIssue: a name used twice.
    """
    names: dict[str, int] = {}
    for index, electrode in enumerate(cfg.electrodes):
        if isinstance(electrode, NeedleElectrode):
            own = [electrode.name]
        elif isinstance(electrode, NeedleRow):
            own = [f"{electrode.name}_{k}" for k in range(electrode.count)]
        elif isinstance(electrode, HexagonalArray):
            own = [f"{electrode.name}_{k}" for k in range(7)]
        else:
            own = [f"{electrode.name}_a", f"{electrode.name}_b"]
        for name in own:
            if name in names:
                raise ConfigIssue(
                    ("electrodes", index, "name"),
                    f"electrode name {name!r} is already used by electrodes[{names[name]}]",
                )
            names[name] = index
    return names


def segment_distance(p0, p1, q0, q1) -> float:
    """Shortest distance between the segments p0-p1 and q0-q1 (3-vectors)."""
    p0, p1, q0, q1 = (np.asarray(x, dtype=float) for x in (p0, p1, q0, q1))
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    if a == 0.0 and e == 0.0:
        return float(np.linalg.norm(r))
    if a == 0.0:
        s, t = 0.0, float(np.clip(f / e, 0.0, 1.0))
    else:
        c = d1 @ r
        if e == 0.0:
            s, t = float(np.clip(-c / a, 0.0, 1.0)), 0.0
        else:
            b = d1 @ d2
            denom = a * e - b * b
            s = float(np.clip((b * f - c * e) / denom, 0.0, 1.0)) if denom > 1e-14 * a * e else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                s, t = float(np.clip(-c / a, 0.0, 1.0)), 0.0
            elif t > 1.0:
                s, t = float(np.clip((b - c) / a, 0.0, 1.0)), 1.0
    return float(np.linalg.norm(p0 + s * d1 - (q0 + t * d2)))


def check_needles(cfg: Config, needles: tuple[Needle, ...]) -> None:
    """Reject needles that cannot be: zero length, an active part longer than the needle, a tip
    outside the domain, or two needles closer than the sum of their radii.

    Raises:
        ConfigIssue: located at the electrode concerned.
    """
    conductor_names(cfg)
    for needle in needles:
        loc = ("electrodes", needle.electrode)
        if needle.length == 0.0:
            raise ConfigIssue(loc, f"needle {needle.name!r}: tip and entry are the same point")
        if needle.active_length > needle.length * (1 + _TOL):
            raise ConfigIssue(
                loc + ("active_length",),
                f"needle {needle.name!r}: active length {needle.active_length * 1e3:.6g} mm is "
                f"longer than the needle from tip to entry ({needle.length * 1e3:.6g} mm)",
            )
        if not _inside(cfg.scene.domain, needle.tip):
            tip = ", ".join(f"{x * 1e3:.6g}" for x in needle.tip)
            raise ConfigIssue(loc, f"needle {needle.name!r}: tip ({tip}) mm is outside the domain")
    for first, second in itertools.combinations(needles, 2):
        gap = segment_distance(first.tip, first.entry, second.tip, second.entry)
        if gap < first.radius + second.radius:
            raise ConfigIssue(
                ("electrodes", second.electrode),
                f"needles {first.name!r} and {second.name!r} overlap: their axes come within "
                f"{gap * 1e3:.6g} mm, less than the sum of their radii "
                f"({(first.radius + second.radius) * 1e3:.6g} mm)",
            )


def _line_distance(point: np.ndarray, needle: Needle) -> float:
    offset = point - np.asarray(needle.tip)
    return float(np.linalg.norm(offset - np.dot(offset, needle.axis) * needle.axis))


def spacing(cfg: Config, needles: dict[str, Needle], anode: str, cathode: str) -> float | None:
    """Distance between two conductors (m) for voltage_to_distance, None if not defined."""
    if anode in needles and cathode in needles:
        a, b = needles[anode], needles[cathode]
        return 0.5 * (_line_distance(a.active_center, b) + _line_distance(b.active_center, a))
    for electrode in cfg.electrodes:
        if isinstance(electrode, Plates) and {anode, cathode} == {
            f"{electrode.name}_a",
            f"{electrode.name}_b",
        }:
            return electrode.gap
    return None


def _generated_pairs(cfg: Config, generator: str, names: list[str]) -> list[tuple[str, str]]:
    if generator == "adjacent":
        return list(zip(names[:-1], names[1:]))
    if generator == "all_pairs":
        return list(itertools.combinations(names, 2))
    pairs = []
    for electrode in cfg.electrodes:
        if isinstance(electrode, HexagonalArray):
            ring = [f"{electrode.name}_{k}" for k in range(7)]
            for k in range(1, 7):
                pairs += [(ring[0], ring[k]), (ring[k], ring[k % 6 + 1])]
    if not pairs:
        raise ConfigIssue(
            ("protocol", "pairs"), "hexagonal_cycle needs a hexagonal_array electrode"
        )
    return pairs


def pair_voltages(cfg: Config, needles: tuple[Needle, ...]) -> tuple[Pair, ...]:
    """The protocol's pairs spelled out, each with its voltage.

    A pair's voltage is its explicit `voltage`, else `protocol.voltage_to_distance` (V/m) times
    the spacing of the two conductors (see the module docstring).

    Args:
        cfg: a Config or ResolvedConfig.
        needles: `needle_axes(cfg)`.

    Raises:
        ConfigIssue: an unknown conductor, anode equal to cathode, no way to get a voltage, or a
            voltage above `device.max_voltage`.
    """
    names = list(conductor_names(cfg))
    by_name = {needle.name: needle for needle in needles}
    protocol = cfg.protocol
    specs: list[tuple[Loc, str, str, float | None]]
    if isinstance(protocol.pairs, str):
        loc = ("protocol", "pairs")
        specs = [(loc, a, c, None) for a, c in _generated_pairs(cfg, protocol.pairs, names)]
        if not specs:
            raise ConfigIssue(loc, f"{protocol.pairs} gives no pairs for these electrodes")
    else:
        specs = [
            (("protocol", "pairs", i), p.anode, p.cathode, p.voltage)
            for i, p in enumerate(protocol.pairs)
        ]
    pairs = []
    for loc, anode, cathode, voltage in specs:
        for role, name in (("anode", anode), ("cathode", cathode)):
            if name not in names:
                at = loc + (role,) if len(loc) == 3 else loc
                raise ConfigIssue(at, unknown_name_message("electrode", name, names))
        label = f"pair {anode} -> {cathode}"
        if anode == cathode:
            raise ConfigIssue(loc, f"{label}: anode and cathode are the same electrode")
        if voltage is None:
            if protocol.voltage_to_distance is None:
                raise ConfigIssue(
                    loc, f"{label}: no voltage, and protocol.voltage_to_distance is not set"
                )
            distance = spacing(cfg, by_name, anode, cathode)
            if distance is None:
                raise ConfigIssue(
                    loc, f"{label}: voltage_to_distance needs two needles or the two plates of "
                    "one electrode; give this pair a voltage",
                )
            voltage = protocol.voltage_to_distance * distance
        limit = cfg.device.max_voltage
        if limit is not None and voltage > limit * (1 + _TOL):
            raise ConfigIssue(
                loc, f"{label}: {voltage:.6g} V is above device.max_voltage {limit:.6g} V"
            )
        pairs.append(Pair(anode=anode, cathode=cathode, voltage=voltage))
    return tuple(pairs)
