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


class NewtonConfig(Section):
    """The `solver:` section for Newton on the convex energy (docs/design.md, section 2,
    nonlinear solver); `epsim.solve.Newton` is the solver value it is translated into.

    The defaults are what `epsim run` (and every config without a `solver:` section) solves to:
    rtol 1e-8 and at most 50 Newton steps, not `epsim.solve.Newton`'s 1e-9 and 30. They are the
    config format's own since its first version, kept so that results of existing config files
    do not change: 1e-8 on the residual is far below the uncertainty of the tissue parameters,
    and the generous cap on steps is there because a CLI run whose solve does not converge
    writes nothing (exit code 3). Python callers of `epsim.simulate` get `epsim.solve.Newton`'s
    defaults unless they pass a solver.
    """

    kind: Literal["newton"] = "newton"
    rtol: Fraction = 1e-8
    max_iterations: whole(1) = 50
    preconditioner: Literal["amg", "jacobi"] = "amg"


class PicardConfig(Section):
    """The `solver:` section for damped fixed-point iteration sigma <- sigma(|E|) (the sequential
    model of Sel 2005); `epsim.solve.Picard` is the solver value it is translated into. Its
    rtol default (1e-8) is the config format's own, like `NewtonConfig`'s.
    """

    kind: Literal["picard"]
    rtol: Fraction = 1e-8
    max_iterations: whole(1) = 200
    preconditioner: Literal["amg", "jacobi"] = "amg"
    damping: Fraction = 0.5


Solver = tagged((NewtonConfig, PicardConfig), "kind", default="newton")
