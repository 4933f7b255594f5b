"""A calibration problem: a config on its mesh, the measurements, the parameters, and the forward
map as a host function for the Levenberg-Marquardt loop.

    problem = calibration_problem(cfg, mesh, measurements, params)
    fit = problem.fit(noise=0.02)
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from epsim.calibrate.fit import Fit, map_fit
from epsim.calibrate.forward import log_current_gradient
from epsim.calibrate.measurements import Measurements
from epsim.calibrate.parameters import prior_arrays
from epsim.config.schema import ResolvedConfig
from epsim.mesh.tetmesh import TetMesh
from epsim.runner import Setup, setup_config
from epsim.simulate import make_pairs


@dataclass
class CalibrationProblem:
    """What the fit evaluates. `solves`: the distinct (anode, cathode, voltage) of the
    measurements; `rows`: (n,) the solve of each measurement."""

    setup: Setup
    points: jax.Array
    params: tuple
    measurements: Measurements
    solves: list
    rows: np.ndarray
    evaluations: int = 0

    def __post_init__(self):
        self.pairs = make_pairs(self.setup.problem, self.solves)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def evaluate(self, theta) -> tuple[np.ndarray, np.ndarray, bool]:
        """Log currents (n_solves,), Jacobian (n_solves, p) and whether every solve converged
        to finite values, at the log-parameters theta (p,)."""
        self.evaluations += 1
        s, theta = self.setup, jnp.asarray(theta, dtype=float)
        pairs = zip(self.pairs.anode, self.pairs.cathode, self.pairs.voltage)
        out = [log_current_gradient(theta, s.problem, self.points, s.model, self.params,
                                    s.solver, *pair) for pair in pairs]
        value, jac, converged = (np.asarray(x) for x in zip(*jax.device_get(out)))
        ok = bool(np.all(converged) and np.all(np.isfinite(value)) and np.all(np.isfinite(jac)))
        return value, jac.reshape(len(value), len(self.params)), ok

    def fit(self, noise: float, theta0=None, **options) -> Fit:
        """MAP fit (`map_fit`) from theta0 (default: the prior median)."""
        mean, sd = prior_arrays(self.params)
        start = mean if theta0 is None else np.asarray(theta0, dtype=float)
        y = np.log(self.measurements.current)
        return map_fit(self.evaluate, y, self.rows, noise, mean, sd, start, **options)


def calibration_problem(cfg: ResolvedConfig, mesh: TetMesh, measurements: Measurements,
                        params: tuple, setup: Setup | None = None) -> CalibrationProblem:
    """The problem on `mesh` (one region per material, `epsim.translate.mesh_of`); `setup`:
    the config prepared on it, when the caller has it (`epsim.runner.setup_config`)."""
    setup = setup_config(cfg, mesh) if setup is None else setup
    solves, rows = measurements.solves()
    return CalibrationProblem(setup, jnp.asarray(mesh.points), params, measurements, solves, rows)
