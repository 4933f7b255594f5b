"""Electrodes expanded into individual conductors, and the pair sequence with its voltages.

`needle_axes(cfg)` turns needle, needle_row and hexagonal_array electrodes into the mesh layer's
`Needle`s (SI); `conductor_names(cfg)` names every conductor; `pair_voltages(cfg, needles)`
spells out the protocol's pairs with their voltages. No mesh is needed for any of this; the
checks of names, lengths and geometry are in `epsim.config.checks`.

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

import itertools
import math

import numpy as np

from epsim.config.geometry import mesh_domain
from epsim.config.issues import ConfigIssue, Loc
from epsim.config.schema import (
    Config,
    HexagonalArray,
    NeedleElectrode,
    NeedleRow,
    Pair,
    Plates,
)
from epsim.config.units import unknown_name_message
from epsim.errors import ElectrodeError
from epsim.mesh.scene import Needle, point_line_distance, unit_vector

_TOL = 1e-9  # relative tolerance of the device voltage limit (round-off in V/m x m)


def _perpendicular_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (e1, e2) with (e1, e2, axis) right-handed; e1 is the x axis (or the y
    axis when `axis` is close to x) projected onto the plane normal to `axis` (a unit vector)."""
    reference = np.array([1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 = reference - np.dot(reference, axis) * axis
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def _needle(index: int, name: str, tip, entry, electrode) -> Needle:
    """One needle of electrode `index` (tip and entry (3,), m), refused at its config key when
    it cannot be (tip and entry the same point)."""
    try:
        return Needle(name, tip, entry, 0.5 * electrode.diameter, electrode.active_length)
    except ElectrodeError as exc:
        raise ConfigIssue(("electrodes", index), str(exc)) from None


def _parallel_needles(domain, index: int, electrode, tips, axis: np.ndarray) -> list[Needle]:
    """Needles of an array (tips (n, 3), unit axis (3,), m), named `<name>_<k>`; without a
    `length`, each reaches where its axis leaves the domain (at least its active length)."""
    needles = []
    for k, tip in enumerate(tips):
        length = electrode.length
        if length is None:
            length = max(domain.exit_distance(tip, axis) or 0.0, electrode.active_length)
        name = f"{electrode.name}_{k}"
        needles.append(_needle(index, name, tip, tip + length * axis, electrode))
    return needles


def _hexagon_tips(electrode: HexagonalArray, axis: np.ndarray) -> list[np.ndarray]:
    """The centre tip, then the six on the hexagon counter-clockwise about `axis` (m, (3,))."""
    e1, e2 = _perpendicular_basis(axis)
    centre = np.asarray(electrode.center_tip)
    tips = [centre]
    for k in range(6):
        angle = electrode.rotation + k * math.pi / 3.0
        offset = math.cos(angle) * e1 + math.sin(angle) * e2
        tips.append(centre + electrode.circumradius * offset)
    return tips


def needle_axes(cfg: Config) -> tuple[Needle, ...]:
    """Every needle of the config, in config order (plates are not needles).

    Args:
        cfg: a Config or ResolvedConfig (SI values).
    Returns:
        `epsim.mesh.scene.Needle`s: name, tip and entry (3,), radius and active length, metres.
    Raises:
        ConfigIssue: at the electrode, a needle whose tip and entry are the same point.
    """
    domain = mesh_domain(cfg)
    needles: list[Needle] = []
    for index, electrode in enumerate(cfg.electrodes):
        if isinstance(electrode, NeedleElectrode):
            tip, entry = electrode.tip, electrode.entry
            needles.append(_needle(index, electrode.name, tip, entry, electrode))
        elif isinstance(electrode, NeedleRow):
            axis = np.asarray(unit_vector(electrode.axis, "axis"))
            step = np.asarray(unit_vector(electrode.direction, "direction")) * electrode.spacing
            tips = [np.asarray(electrode.tip) + k * step for k in range(electrode.count)]
            needles += _parallel_needles(domain, index, electrode, tips, axis)
        elif isinstance(electrode, HexagonalArray):
            axis = np.asarray(unit_vector(electrode.axis, "axis"))
            tips = _hexagon_tips(electrode, axis)
            needles += _parallel_needles(domain, index, electrode, tips, axis)
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


def spacing(cfg: Config, needles: dict[str, Needle], anode: str, cathode: str) -> float | None:
    """Distance between two conductors (m) for voltage_to_distance, None if not defined.

    Args:
        needles: needle name -> Needle, from `needle_axes(cfg)`.
    """
    if anode in needles and cathode in needles:
        a, b = needles[anode], needles[cathode]
        across = point_line_distance(a.active_center, b.tip, b.direction)
        back = point_line_distance(b.active_center, a.tip, a.direction)
        return 0.5 * (across + back)
    for electrode in cfg.electrodes:
        if isinstance(electrode, Plates) and {anode, cathode} == {
            f"{electrode.name}_a",
            f"{electrode.name}_b",
        }:
            return electrode.gap
    return None


MAX_GENERATED_PAIRS = 100_000
"""`all_pairs` of more electrodes than this many pairs is refused before the pairs are built
(n(n-1)/2 grows quadratically: 100000 needles would be 5e9 pairs)."""


def _generated_pairs(cfg: Config, generator: str, names: list[str]) -> list[tuple[str, str]]:
    if generator == "adjacent":
        return list(zip(names[:-1], names[1:]))
    if generator == "all_pairs":
        count = len(names) * (len(names) - 1) // 2
        if count > MAX_GENERATED_PAIRS:
            raise ConfigIssue(("protocol", "pairs"),
                              f"all_pairs of {len(names)} electrodes gives {count} pairs, more "
                              f"than {MAX_GENERATED_PAIRS}; list the pairs that fire")
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
    known = set(names)  # membership in a set: linear in the pairs, not quadratic
    pairs = []
    for loc, anode, cathode, voltage in specs:
        for role, name in (("anode", anode), ("cathode", cathode)):
            if name not in known:
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


def electrode_models(cfg) -> dict[str, str]:
    """needle name -> catalogue model of the electrode it comes from (arrays: every needle)."""
    out = {}
    for e in cfg.electrodes:
        model = getattr(e, "model", None)
        if model is None:
            continue
        if isinstance(e, NeedleElectrode):
            out[e.name] = model
        elif isinstance(e, (NeedleRow, HexagonalArray)):
            count = e.count if isinstance(e, NeedleRow) else 7
            out.update({f"{e.name}_{k}": model for k in range(count)})
    return out
