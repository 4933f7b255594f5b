"""The `physics:`, `heating:` and `solver:` sections: model choices, Joule heating and the
nonlinear solver's settings.
"""

from __future__ import annotations

from typing import Literal

from epsim.config.schema.base import Fraction, PositiveTime, Section, tagged, whole


class Physics(Section):
    """Model choices. `idle_electrodes`: needles not in the firing pair are floating conductors
    (zero net current) or absent from the model."""

    conductivity: Literal["linear", "nonlinear"] = "nonlinear"
    model: Literal["smooth_step", "ramp", "logistic"] = "smooth_step"
    pair_mode: Literal["independent", "max_field_memory"] = "independent"
    idle_electrodes: Literal["floating", "absent"] = "floating"
    survival_rule: Literal["independent_pairs", "equivalent_pulses"] = "independent_pairs"


class Heating(Section):
    """Joule heating over the pulse train (Pennes bioheat, epsim.heating). Its presence turns
    heating on. `budget`: the longest compute time the run may take; a longer train is refused
    before it starts. `heat_sink`: electrodes held at body temperature."""

    heat_sink: bool = False
    substeps: whole(1) = 4
    pause_steps: whole(1) = 4
    budget: PositiveTime = 600.0


class Newton(Section):
    """Newton on the convex energy (docs/design.md, section 2, the nonlinear solver)."""

    kind: Literal["newton"] = "newton"
    rtol: Fraction = 1e-8
    max_iterations: whole(1) = 50
    preconditioner: Literal["amg", "jacobi"] = "amg"


class Picard(Section):
    """Damped fixed-point iteration sigma <- sigma(|E|) (the sequential model of Sel 2005)."""

    kind: Literal["picard"]
    rtol: Fraction = 1e-8
    max_iterations: whole(1) = 200
    preconditioner: Literal["amg", "jacobi"] = "amg"
    damping: Fraction = 0.5


Solver = tagged((Newton, Picard), "kind", default="newton")
