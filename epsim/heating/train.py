"""Joule heating along a pulse train: Pennes bioheat on the field mesh, coupled to sigma(E, T).

    rho c dT/dt = div(k grad T) + sigma(E, T) |E|^2 [during pulses] + w_b rho_b c_b (T_b - T) + q_m

(docs/physics.md, section 4), sigma(E, T) = sigma(E) (1 + alpha (T - T0)).

Discretisation [derived]: `epsim.heating.operators` (P1 temperature on the field mesh, lumped
mass, backward Euler with PCG, Jacobi by default or a host-built AMG hierarchy).

Time line: pairs fire in sequence, each pair's `count` pulses consecutively; every pulse (width
tau) is followed by a pause of 1/rate - tau, the last one included, so a train lasts
n_pairs * count / rate. At the start of every pulse the potential is solved again with
sigma(E) (1 + alpha (T_cell - T0)), T_cell the mean of the cell's nodal temperatures, which gives
the current of every pulse; the pulse then heats by sigma |E|^2 from that solve over
`substeps` implicit steps (the temperature change within one pulse, a fraction of a kelvin for
100 us pulses, is not fed back until the next pulse: a first-order splitting), and the pause is
resolved with `pause_steps` larger implicit steps with the source off.

Boundaries: the outer surface is insulated (dT/dn = 0). With `heat_sink=True` every electrode
node (all electrodes, firing or not) is held at its initial temperature: metal needles as perfect
heat sinks, which bounds the real (finite) sink effect from above; otherwise electrodes are
insulated like the rest of the surface.

Tracked per cell: peak over time of T_cell (sampled at the end of every implicit step, which
includes every pulse end) and the Arrhenius integral Omega (trapezoid rule per step). The energy
budget is tracked too: Joule + metabolic heat in = stored + perfusion + sink losses, an identity
of backward Euler with lumped mass up to the linear-solver tolerance.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.errors import InputError
from epsim.fem.assembly import diagonal
from epsim.fem.elements import elements
from epsim.fem.sparse import hyb_to_scipy
from epsim.heating.operators import (
    HeatSolver,
    HeatState,
    cellwise,
    heat_operators,
    heat_steps,
)
from epsim.physics.conductivity import Conductivity, FieldMemory
from epsim.physics.thermal import (
    Arrhenius,
    TemperatureConductivity,
    ThermalTissue,
    temperature_factor,
)
from epsim.simulate import Pairs, Problem, solve_pair
from epsim.solve.amg import JacobiPreconditioner, build_amg
from epsim.solve.settings import Amg, Newton, Picard


class PulseTrain(eqx.Module):
    """Pulses of every pair and how finely time is resolved.

    Attributes:
        count: pulses per pair (static).
        width: s, pulse width tau.
        rate: Hz, repetition rate (pause 1/rate - tau after every pulse).
        substeps: implicit steps per pulse (static).
        pause_steps: implicit steps per pause (static).
    """

    count: int = eqx.field(static=True)
    width: jax.Array | float
    rate: jax.Array | float
    substeps: int = eqx.field(static=True, default=4)
    pause_steps: int = eqx.field(static=True, default=4)

    def __check_init__(self):
        for name in ("count", "substeps", "pause_steps"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise InputError(f"PulseTrain: {name} must be a positive integer, got {value!r}")
        width, rate = _host(self.width), _host(self.rate)
        if width is None or rate is None:
            return
        if not (np.isfinite(width) and width > 0 and np.isfinite(rate) and rate > 0):
            raise InputError(f"PulseTrain: width ({width} s) and rate ({rate} Hz) must be positive")
        if width * rate >= 1.0:
            raise InputError(
                f"PulseTrain: pulses of {width} s at {rate} Hz leave no pause between pulses "
                "(width * rate must be below 1)"
            )

    @property
    def pause(self):
        """s, pause after every pulse."""
        return 1.0 / self.rate - self.width


def _host(value):
    """A float, or None while traced (then checked when concrete)."""
    if isinstance(value, jax.core.Tracer):
        return None
    return float(np.asarray(value))



class HeatingResult(eqx.Module):
    """Outcome of a heated pulse train.

    Attributes:
        temperature: (n_nodes,) K at the end of the train (after the last pause).
        temperature_max: (n_cells,) K, peak over time of the cell temperature (mean of its nodes).
        omega: (n_cells,) Arrhenius damage integral (damaged fraction 1 - exp(-omega)).
        current: (n_pairs, count) A into the anode at the start of every pulse.
        e_max: (n_cells,) V/m, maximum field over every pulse.
        e_pair_max: (n_pairs, n_cells) V/m, maximum field over each pair's pulses.
        joule_energy, metabolic_energy: J delivered over the train.
        perfusion_energy, sink_energy: J carried away by blood and by the electrode heat sinks.
        stored_energy: J, sum over nodes of the lumped rho c V (T_end - T_start).
        converged: (n_pairs, count) potential solves converged.
        iterations: (n_pairs, count) Newton iterations of the potential solves.
        heat_converged: every heat step's PCG converged.
        heat_iterations: PCG iterations summed over every heat step.
        duration: s, length of the train.
    """

    temperature: jax.Array
    temperature_max: jax.Array
    omega: jax.Array
    current: jax.Array
    e_max: jax.Array
    e_pair_max: jax.Array
    joule_energy: jax.Array
    metabolic_energy: jax.Array
    perfusion_energy: jax.Array
    sink_energy: jax.Array
    stored_energy: jax.Array
    converged: jax.Array
    iterations: jax.Array
    heat_converged: jax.Array
    heat_iterations: jax.Array
    duration: jax.Array



def simulate_heating(
    problem: Problem,
    points: jax.Array,
    model: Conductivity,
    pairs: Pairs,
    thermal: ThermalTissue,
    protocol: PulseTrain,
    *,
    solver: Newton | Picard = Newton(),
    damage: Arrhenius = Arrhenius(),
    heat_sink: bool = False,
    memory: bool = False,
    heat_solver: HeatSolver = HeatSolver(),
    heat_precondition: tuple | None = None,
) -> HeatingResult:
    """Fire every pair's pulses in sequence, re-solving the field at the current temperature for
    every pulse and resolving Joule heating, diffusion, perfusion and pauses in time.

    Pure JAX: jit-able (`protocol.count`, `substeps`, `pause_steps` are static) and
    differentiable by reverse mode with respect to voltages, conductivity and thermal parameters
    and node coordinates (implicit adjoints of the potential and heat solves; the scan over
    pulses keeps every step's state, so memory grows with the number of steps).

    Args:
        problem: from `epsim.simulate.prepare`.
        points: (n_nodes, 3) m.
        model: sigma(|E|) at the reference temperature thermal.t0.
        pairs: from `epsim.simulate.make_pairs`.
        thermal: tissue thermal properties (per cell or broadcast).
        protocol: pulses per pair, width, rate and time steps.
        solver: potential solver settings.
        damage: Arrhenius coefficients.
        heat_sink: hold every electrode node at its initial temperature (else insulated).
        memory: max-field memory (`FieldMemory`) across pulses and pairs.
        heat_solver: PCG settings of the heat steps.
        heat_precondition: (pulse, pause) preconditioners from `build_heat_preconditioner`;
            None: Jacobi.
    Returns:
        HeatingResult.
    """
    n_cells = problem.pattern.cells.shape[0]
    geometry = elements(points, problem.pattern.corners)  # shared by heat and potential
    volumes = geometry.volumes
    heat = heat_operators(problem, geometry, thermal, heat_sink)
    alpha = cellwise(thermal.alpha, n_cells, volumes.dtype)
    t0 = cellwise(thermal.t0, n_cells, volumes.dtype)
    dt_on = protocol.width / protocol.substeps
    dt_off = protocol.pause / protocol.pause_steps
    a_on, a_off = heat.step_matrix(dt_on), heat.step_matrix(dt_off)
    if heat_precondition is None:
        pc_on = JacobiPreconditioner(1.0 / diagonal(a_on))
        pc_off = JacobiPreconditioner(1.0 / diagonal(a_off))
    else:
        pc_on, pc_off = heat_precondition

    def pulse(carry, pair):
        clock, e_floor, e_pair = carry
        anode, cathode, voltage = pair
        factor = temperature_factor(heat.cell_mean(clock.temperature), alpha, t0)
        base = FieldMemory(model, e_floor) if memory else model
        sigma_t = TemperatureConductivity(base, factor)
        solved = solve_pair(problem, points, sigma_t, solver, geometry, anode, cathode, voltage)
        e_mag = solved.e_mag
        source = heat.lump(solved.sigma * e_mag**2 * volumes)
        clock = heat_steps(heat, clock, source, dt_on, protocol.substeps, a_on, pc_on, damage,
                           heat_solver)
        clock = heat_steps(heat, clock, jnp.zeros_like(source), dt_off, protocol.pause_steps,
                           a_off, pc_off, damage, heat_solver)
        e_floor = jnp.maximum(e_floor, e_mag) if memory else e_floor
        status = (solved.current, solved.converged, solved.iterations)
        return (clock, e_floor, jnp.maximum(e_pair, e_mag)), status

    def fire_pair(carry, pair):
        clock, e_floor = carry
        e_pair = jnp.zeros(n_cells, volumes.dtype)
        (clock, e_floor, e_pair), out = jax.lax.scan(
            lambda c, _: pulse(c, pair), (clock, e_floor, e_pair), None, length=protocol.count
        )
        return (clock, e_floor), (e_pair, *out)

    start = HeatState(
        temperature=heat.t_start,
        t_max=heat.cell_mean(heat.t_start),
        omega=jnp.zeros(n_cells, volumes.dtype),
        energy=jnp.zeros(4, volumes.dtype),
        iterations=jnp.asarray(0),
        converged=jnp.asarray(True),
    )
    e_floor = jnp.zeros(n_cells, volumes.dtype)
    (clock, _), (e_pair, current, converged, iterations) = jax.lax.scan(
        fire_pair, (start, e_floor), (pairs.anode, pairs.cathode, pairs.voltage)
    )
    joule, metabolic, perfusion, sink = clock.energy
    n_pulses = pairs.voltage.shape[0] * protocol.count
    return HeatingResult(
        temperature=clock.temperature,
        temperature_max=clock.t_max,
        omega=clock.omega,
        current=current,
        e_max=jnp.max(e_pair, axis=0),
        e_pair_max=e_pair,
        joule_energy=joule,
        metabolic_energy=metabolic,
        perfusion_energy=perfusion,
        sink_energy=sink,
        stored_energy=jnp.sum(heat.mass * (clock.temperature - heat.t_start)),
        converged=converged,
        iterations=iterations,
        heat_converged=clock.converged,
        heat_iterations=clock.iterations,
        duration=n_pulses / jnp.asarray(protocol.rate, volumes.dtype),
    )



def build_heat_preconditioner(
    problem: Problem, points, thermal: ThermalTissue, protocol: PulseTrain, *,
    heat_sink: bool = False, amg: Amg = Amg(),
) -> tuple:
    """Host side: smoothed-aggregation AMG hierarchies of the pulse-step and pause-step heat
    matrices (pyamg), for `simulate_heating(..., heat_precondition=...)` on large meshes where
    Jacobi needs many iterations in the long pause steps (the pulse steps, dominated by the mass
    term, converge in a few Jacobi iterations)."""
    geometry = elements(jnp.asarray(points), problem.pattern.corners)
    heat = heat_operators(problem, geometry, thermal, heat_sink)
    out = []
    for dt in (protocol.width / protocol.substeps, protocol.pause / protocol.pause_steps):
        a = hyb_to_scipy(heat.step_matrix(dt))
        out.append(build_amg(
            a, max_coarse=amg.max_coarse, degree=amg.degree, strength_theta=amg.strength_theta
        ))
    return tuple(out)



__all__ = ["HeatingResult", "PulseTrain", "build_heat_preconditioner", "simulate_heating"]
