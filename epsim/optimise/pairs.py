"""Which pairs fire: the candidate pairs, the sparsity term that lets pairs drop, the sequence.

Candidates are all needle pairs within `max_spacing` of each other (every pair when there is
none). Each candidate's voltage is a decision variable in [min_voltage, max_voltage]; with
min_voltage 0 a pair may switch off. The sparsity term

    S(V) = sum_p ( sqrt((V_p / V_max)^2 + eps^2) - eps )

is a smoothed L1 norm of the voltages relative to the generator's maximum (a group lasso with
groups of one: each pair is one voltage); its weight is `optimise.pair_sparsity` (it trades
coverage for volts: on the pelvic scene 0.02 gave up 0.7 points, docs/planning.md, so the
weight is chosen with the goal's margin in mind). Smooth at zero
(gradient V / (V_max^2 sqrt(...)), 0 at V = 0) and about |V| / V_max away from it, it costs
every volt the same, so a pair whose field adds no coverage is driven down by Adam until the
voltage box projects it onto 0; pairs at or below `optimise.drop_voltage` are then omitted from
plan.yaml (and from its verification, so the verified plan is the one written).
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

SPARSITY_EPS = 0.02
"""Smoothing of the L1 term, relative to V_max: the term is quadratic below about 2 % of V_max."""


def pair_sparsity(voltage, max_voltage: float, eps: float = SPARSITY_EPS):
    """The smoothed L1 norm S(V) of the module doc (dimensionless, JAX)."""
    u = jnp.asarray(voltage) / max_voltage
    return jnp.sum(jnp.sqrt(u * u + eps * eps) - eps)


def candidate_pairs(points, max_spacing: float | None) -> list[tuple[int, int]]:
    """(i, j), i < j, of the needles whose positions (n, 3) (any point per needle, e.g. the
    active centres; parallel needles) are within `max_spacing`; every pair when it is None."""
    points = np.asarray(points, dtype=float)
    return [(i, j) for i, j in itertools.combinations(range(len(points)), 2)
            if max_spacing is None or np.linalg.norm(points[i] - points[j]) <= max_spacing]


def fired(voltage, drop_voltage: float) -> np.ndarray:
    """Boolean mask of the pairs that fire: voltage above `drop_voltage`."""
    return np.asarray(voltage, dtype=float) > drop_voltage


def sequence_lines(labels, voltage, drop_voltage: float, pulses: int) -> list[str]:
    """The firing sequence as text: one line per firing pair, the total, the dropped pairs."""
    keep = fired(voltage, drop_voltage)
    lines = [f"{k + 1}. {label}: {v:.0f} V x {pulses} pulses" for k, (label, v) in
             enumerate((lb, float(v)) for lb, v, on in zip(labels, voltage, keep) if on)]
    lines.append(f"total: {int(keep.sum())} pairs x {pulses} pulses = {int(keep.sum()) * pulses} "
                 "pulses")
    dropped = [lb for lb, on in zip(labels, keep) if not on]
    if dropped:
        lines.append(f"dropped (voltage <= {drop_voltage:g} V): " + ", ".join(dropped))
    return lines


def redundant_pairs(covered, volumes, voltage) -> list[int]:
    """Pairs that can be left out without losing any coverage, lowest voltage first.

    `covered` (n_pairs, n_cells) says which target cells each pair's field reaches at the
    threshold, `volumes` (n_cells,) the cells' volumes. Coverage is the volume reached by at
    least one firing pair, and the pairs fire one after the other (a pair's field does not
    depend on which other pairs fire), so a pair whose covered cells are all covered by the
    other firing pairs adds nothing: leaving it out changes no covered cell. Greedy: while
    such pairs remain, the one of lowest voltage goes (and the test starts again without it).
    Returns the indices left out, in that order.
    """
    covered = np.asarray(covered, dtype=bool)
    volumes, voltage = np.asarray(volumes, dtype=float), np.asarray(voltage, dtype=float)
    keep, out = list(range(len(covered))), []
    while len(keep) > 1:
        count = covered[keep].sum(axis=0)  # firing pairs reaching each cell
        alone = [(covered[p] & (count == 1)) @ volumes for p in keep]
        free = [p for p, v in zip(keep, alone) if v == 0.0]
        if not free:
            break
        drop = min(free, key=lambda p: voltage[p])
        keep.remove(drop)
        out.append(drop)
    return out


__all__ = ["SPARSITY_EPS", "candidate_pairs", "fired", "pair_sparsity", "redundant_pairs",
           "sequence_lines"]
