"""Constraints that cannot hold, found before any solve; and the table of where a plan stands.

Before planning (`check_feasible`, raises `InfeasibleError`, exit code 2), necessary
conditions only, so a plan is never refused that could exist:

- the voltage box: min_voltage <= max_voltage;
- spacing: min_spacing <= max_spacing; at least two needles;
- spacing in the entry region (parallel needles): n needles pairwise at least s apart inside a
  disc of radius R need s <= 2 R sin(pi / n) for n <= 6 and s <= R for n = 7 (the largest
  smallest distance of n points in a disc: the regular n-gon on its rim; the hexagon and its
  centre), and n * pi (s/2)^2 <= pi (R + s/2)^2 for any n (disjoint discs of radius s/2);
- coverage at the maximum voltage: with the potential between 0 and V (maximum principle), the
  interior gradient estimate of a harmonic function, |grad u(p)| <= 3/rho sup |u - V/2| on a ball
  of radius rho free of electrodes, bounds the field by 3 V / (2 rho) at distance rho from every
  electrode. A point can reach the threshold E only within rho_max = 1.5 V_max / E of an
  electrode, so the needles' capsules of radius rho_max must hold at least the goal fraction of
  the target volume (a bound for homogeneous tissue; it ignores conductivity contrasts, which we
  allow for with a factor 1.25 on rho_max).

After planning, `constraint_table` lists every constraint with its value, limit and status
(ok, active: within 2 % of its limit, VIOLATED), from the verification on a fresh mesh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


from epsim.errors import InputError

ACTIVE_TOLERANCE = 0.02
FIELD_BOUND_SAFETY = 1.25


class InfeasibleError(InputError):
    """The constraints of a planning request cannot all hold (exit code 2)."""


@dataclass(frozen=True)
class Request:
    """What `check_feasible` needs, SI units.

    Attributes:
        n_needles; active_lengths (n,) m; threshold V/m; max_voltage, min_voltage V;
        min_spacing, max_spacing m or None; entry_radius m or None (parallel needles only);
        target_volume m^3 (or None when unknown); coverage_goal in (0, 1].
    """

    n_needles: int
    active_lengths: tuple[float, ...]
    threshold: float
    max_voltage: float
    min_voltage: float = 0.0
    min_spacing: float | None = None
    max_spacing: float | None = None
    entry_radius: float | None = None
    parallel: bool = True
    target_volume: float | None = None
    coverage_goal: float = 0.99


def check_feasible(r: Request) -> None:
    """Raise InfeasibleError naming the first constraint that provably cannot hold."""
    mm = 1e3
    if r.n_needles < 2:
        raise InfeasibleError(f"planning needs at least two needles, the config has {r.n_needles}")
    if r.min_voltage > r.max_voltage:
        raise InfeasibleError(
            f"binding constraint: voltage box, min_voltage {r.min_voltage:g} V > max_voltage "
            f"{r.max_voltage:g} V"
        )
    if r.min_spacing and r.max_spacing and r.min_spacing > r.max_spacing:
        raise InfeasibleError(
            f"binding constraint: spacing, min_spacing {r.min_spacing * mm:g} mm > max_spacing "
            f"{r.max_spacing * mm:g} mm"
        )
    if r.min_spacing and r.entry_radius is not None and r.parallel:
        s, radius, n = r.min_spacing, r.entry_radius, r.n_needles
        widest = 2 * radius * math.sin(math.pi / n) if n <= 6 else radius if n == 7 else None
        if widest is not None and s > widest * (1 + 1e-9):
            raise InfeasibleError(
                f"binding constraint: spacing in the entry region, {n} parallel needles at "
                f"least {s * mm:g} mm apart do not fit in an entry region of radius "
                f"{radius * mm:g} mm (at most {widest * mm:.3g} mm apart for {n} needles)"
            )
        most = ((2 * radius + s) / s) ** 2
        if n > most:
            raise InfeasibleError(
                f"binding constraint: spacing in the entry region, {n} parallel needles "
                f"at least {s * mm:g} mm apart do not fit in an entry region of radius "
                f"{radius * mm:g} mm (at most {int(most)} fit: n (s/2)^2 <= (R + s/2)^2)"
            )
    if r.target_volume:
        rho = FIELD_BOUND_SAFETY * 1.5 * r.max_voltage / r.threshold
        reach = sum(math.pi * rho**2 * length + 4.0 / 3.0 * math.pi * rho**3
                    for length in r.active_lengths)
        if reach < r.coverage_goal * r.target_volume:
            raise InfeasibleError(
                f"binding constraint: max_voltage, at {r.max_voltage:g} V no layout can cover "
                f"{100 * r.coverage_goal:g} % of the target at {r.threshold / 100:g} V/cm: the "
                "field "
                f"reaches it only within {rho * mm:.2g} mm of a needle (3 V / 2 rho bound), "
                f"{reach * 1e6:.3g} cm3 around all needles against {r.target_volume * 1e6:.3g} cm3 "
                "of target"
            )


@dataclass(frozen=True)
class Row:
    constraint: str
    value: float
    limit: float
    kind: str  # "min" (value >= limit), "max" (value <= limit), "goal" (a minimum to reach)
    unit: str = ""

    @property
    def status(self) -> str:
        if self.kind == "goal":
            return "ok" if self.value >= self.limit else "VIOLATED"
        if self.kind == "min":
            slack = (self.value - self.limit) / max(abs(self.limit), 1e-30)
        else:
            slack = (self.limit - self.value) / max(abs(self.limit), 1e-30)
        if slack < -1e-9:
            return "VIOLATED"
        return "active" if slack <= ACTIVE_TOLERANCE else "ok"


def format_table(rows: list[Row]) -> str:
    """The constraint table as text."""
    lines = [f"{'constraint':<38}{'value':>12}{'limit':>12}  status"]
    for row in rows:
        sign = "<=" if row.kind == "max" else ">="
        lines.append(
            f"{row.constraint:<38}{row.value:>12.4g}{sign:>4}{row.limit:>8.4g} {row.unit:<5} "
            f"{row.status}"
        )
    return "\n".join(lines)


def binding(rows: list[Row]) -> list[Row]:
    """Rows that are active or violated: what holds the plan back."""
    return [row for row in rows if row.status != "ok"]


__all__ = ["InfeasibleError", "Request", "Row", "binding", "check_feasible", "format_table"]
