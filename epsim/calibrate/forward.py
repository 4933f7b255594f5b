"""The calibration's forward map: log pulse currents and their Jacobian in the log-parameters.

Each measured solve (anode, cathode, voltage) is one pulse on intact tissue (`solve_pair`). Its
row of the Jacobian is the gradient of log(current) with respect to theta, one reverse pass
through the Newton solve: the implicit adjoint (`epsim.solve.nonlinear`, one adjoint linear
solve at the converged state, docs/design.md, section 2). A row depends only on its own solve,
so the whole Jacobian costs one forward and one adjoint solve per distinct measurement, the
price of `jax.jacrev` without its zero cotangents.

The pulses are evaluated one call each (`log_current_gradient`), not in one `lax.map`: every
data set then shares one compiled program, whatever its number of distinct solves.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.calibrate.parameters import with_parameters
from epsim.fem.elements import elements
from epsim.physics import RegionConductivity
from epsim.simulate import Problem, solve_pair
from epsim.solve import Newton, Picard


def log_current(theta, problem: Problem, points, base: RegionConductivity, params: tuple,
                solver: Newton | Picard, geometry, anode, cathode, voltage):
    """log(current in A) of one pulse with the parameters theta (p,) and the solver status."""
    model = with_parameters(base, params, theta)
    out = solve_pair(problem, points, model, solver, geometry, anode, cathode, voltage)
    return jnp.log(out.current), out.converged


@eqx.filter_jit
def log_current_gradient(theta, problem: Problem, points, base: RegionConductivity,
                         params: tuple, solver: Newton | Picard, anode, cathode, voltage):
    """One pulse: log(current in A), its gradient (p,) in theta and the converged flag.

    One program for every measurement (electrode indices and the voltage are arguments), so
    data sets of any size reuse one compilation.
    """
    geometry = elements(points, problem.pattern.corners)
    (value, converged), row = jax.value_and_grad(log_current, has_aux=True)(
        theta, problem, points, base, params, solver, geometry, anode, cathode, voltage)
    return value, row, converged
