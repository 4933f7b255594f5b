"""The `optimise: robust:` block: plan against needle placement and conductivity uncertainty
(`epsim.optimise.robust_plan`; the model is `epsim.optimise.scenarios.Uncertainty`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

from annotated_types import Ge, Lt
from pydantic import model_validator

from epsim.config.schema.base import Real, Section, problem, quantity, whole

Spread = quantity("length", "nonnegative")


class Placement(Section):
    """Standard deviations of each needle's placement error: sideways and along the axis (length),
    and of its axis tilt (angle)."""

    lateral: Spread = 2e-3
    depth: Spread = 2e-3
    angle: quantity("angle", "nonnegative") = 0.0523598775598  # 3 degrees


class Conductivity(Section):
    """Each material's conductivity times a log-normal factor of this coefficient of variation,
    or drawn from `epsim calibrate`'s posterior samples (a path relative to the config)."""

    cv: Optional[Annotated[Real, Ge(0)]] = None
    posterior: Optional[Path] = None

    @model_validator(mode="after")
    def _one(self):
        if (self.cv is None) == (self.posterior is None):
            raise problem("give one of cv or posterior", "cv")
        return self


class RobustObjective(Section):
    """The robust objective: mean * sample mean + cvar * CVaR_alpha over the scenarios."""

    mean: Annotated[Real, Ge(0)] = 0.5
    cvar: Annotated[Real, Ge(0)] = 0.5
    alpha: Annotated[Real, Ge(0), Lt(1)] = 0.9

    @model_validator(mode="after")
    def _some(self):
        if self.mean + self.cvar <= 0:
            raise problem("mean and cvar are both 0: nothing to minimise", "mean")
        return self


class RobustBlock(Section):
    """Plan for `scenarios` draws of the uncertainty (fixed `seed`) instead of the nominal case."""

    placement: Placement = Placement()
    conductivity: Conductivity = Conductivity(cv=0.25)
    scenarios: whole(1) = 16
    objective: RobustObjective = RobustObjective()
    seed: whole(0) = 0
