"""Joule heating along a pulse train: Pennes bioheat on the field mesh, coupled to sigma(E, T).

    rho c dT/dt = div(k grad T) + sigma(E, T) |E|^2 [during pulses] + w_b rho_b c_b (T_b - T) + q_m

(PHYSICS.md section 4), sigma(E, T) = sigma(E) (1 + alpha (T - T0)).

Discretisation [derived]: P1 temperature on the nodes of the field mesh, one value per cell for
every coefficient, LUMPED mass (each cell gives a quarter of its rho c volume to each of its
nodes; so do perfusion, metabolic heat and the Joule source, which for a per-cell constant source
is exactly the P1 load vector), conductive stiffness from the same edge-based assembly as the
electric problem, backward Euler in time solved for the increment T^{n+1} - T^n with PCG
(Jacobi by default, or a host-built AMG hierarchy) inside `custom_linear_solve`, so gradients go
through the heat solves by the implicit function theorem.

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

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.errors import InputError
from epsim.fem.assembly import apply_dirichlet, assemble, diagonal
from epsim.fem.elements import elements
from epsim.fem.sparse import HybMatrix, hyb_to_scipy
from epsim.mesh.tetmesh import cell_geometry
from epsim.physics.conductivity import Conductivity, FieldMemory
from epsim.physics.thermal import (
    Arrhenius,
    TemperatureConductivity,
    ThermalTissue,
    temperature_factor,
)
from epsim.simulate import Pairs, Problem, _solve_pair
from epsim.solve.amg import JacobiPreconditioner, build_amg
from epsim.solve.pcg import pcg
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
    if isinstance(value, jax.core.Tracer):
        return None
    return float(np.asarray(value))


class HeatSolver(eqx.Module):
    """PCG settings of the implicit heat steps: stop at |r| <= rtol |b| (b: the increment's
    right-hand side)."""

    rtol: float = eqx.field(static=True, default=1e-10)
    max_iterations: int = eqx.field(static=True, default=5000)


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


class _Heat(eqx.Module):
    """Per-mesh thermal operators: nodal lumped quantities and the conductive stiffness."""

    cells: jax.Array
    mass: jax.Array  # (n_nodes,) J/K, lumped rho c V
    perfusion: jax.Array  # (n_nodes,) W/K, lumped w_b rho_b c_b V
    perfusion_source: jax.Array  # (n_nodes,) W, lumped w_b rho_b c_b T_b V
    metabolic: jax.Array  # (n_nodes,) W, lumped q_m V
    stiffness: HybMatrix  # W/K
    free: jax.Array  # (n_nodes,) bool, False on heat-sink nodes
    t_start: jax.Array  # (n_nodes,) K

    def lump(self, per_cell):
        return lump(self.cells, per_cell, self.mass.shape[0])

    def cell_mean(self, nodal):
        return jnp.mean(nodal[self.cells], axis=1)

    def step_matrix(self, dt) -> HybMatrix:
        """M / dt + K + P with heat-sink rows and columns eliminated."""
        a = self.stiffness
        ell = a.ell_vals.at[0].add(self.mass / dt + self.perfusion)
        return apply_dirichlet(a.with_values(ell, a.ovf_vals), self.free)


def lump(cells, per_cell, n_nodes: int):
    """Nodal sums of a quarter of each cell's value: (n_cells,) -> (n_nodes,)."""
    return jax.ops.segment_sum(jnp.repeat(per_cell / 4.0, 4), jnp.ravel(cells), n_nodes)


def _cellwise(value, n_cells, dtype):
    return jnp.broadcast_to(jnp.asarray(value, dtype=dtype), (n_cells,))


def _heat_operators(problem: Problem, points, thermal: ThermalTissue, heat_sink: bool) -> _Heat:
    cells = problem.pattern.cells
    n_nodes, n_cells = problem.pattern.n_nodes, cells.shape[0]
    geometry = elements(points, problem.pattern.corners)
    volumes = geometry.volumes
    cw = lambda v: _cellwise(v, n_cells, volumes.dtype)  # noqa: E731
    heat_capacity = cw(thermal.heat_capacity) * volumes
    perfusion = cw(thermal.perfusion) * volumes
    mass = lump(cells, heat_capacity, n_nodes)
    sink = jnp.any(problem.electrode_masks, axis=0) if heat_sink else jnp.zeros(n_nodes, bool)
    return _Heat(
        cells=cells,
        mass=mass,
        perfusion=lump(cells, perfusion, n_nodes),
        perfusion_source=lump(cells, perfusion * cw(thermal.t_b), n_nodes),
        metabolic=lump(cells, cw(thermal.q_m) * volumes, n_nodes),
        stiffness=assemble(problem.pattern, geometry.edge_values(cw(thermal.k))),
        free=~sink,
        t_start=lump(cells, heat_capacity * cw(thermal.t0), n_nodes) / mass,
    )


def _spd_solve(a: HybMatrix, b, precondition, settings: HeatSolver):
    """x with A x = b by PCG, differentiable through `custom_linear_solve`; also returns the
    iteration count and convergence flag."""

    def solve(matvec, rhs):
        res = pcg(matvec, rhs, precondition, atol=settings.rtol * jnp.linalg.norm(rhs),
                  max_iterations=settings.max_iterations)
        return res.x, (res.iterations, res.converged)

    return jax.lax.custom_linear_solve(lambda x: a @ x, b, solve, symmetric=True, has_aux=True)


class _Clock(eqx.Module):
    """What the heat steps carry: nodal temperature, per-cell peak and damage, energy budget
    [joule, metabolic, perfusion, sink] in J, PCG iterations and convergence."""

    temperature: jax.Array
    t_max: jax.Array
    omega: jax.Array
    energy: jax.Array
    iterations: jax.Array
    converged: jax.Array


def _heat_steps(heat: _Heat, clock: _Clock, source, dt, steps: int, a, precondition,
                damage: Arrhenius, settings: HeatSolver) -> _Clock:
    """`steps` backward Euler steps of length dt with the nodal Joule source (W) held fixed."""

    def step(c: _Clock, _):
        t = c.temperature
        rhs = source + heat.metabolic + heat.perfusion_source - heat.stiffness @ t
        rhs = jnp.where(heat.free, rhs - heat.perfusion * t, 0.0)
        delta, (its, ok) = _spd_solve(a, rhs, precondition, settings)
        t_new = t + delta
        t_cell_old, t_cell = heat.cell_mean(t), heat.cell_mean(t_new)
        omega = c.omega + 0.5 * dt * (damage.rate(t_cell_old) + damage.rate(t_cell))
        balance = source + heat.metabolic + heat.perfusion_source - heat.perfusion * t_new
        sink = jnp.sum(jnp.where(heat.free, 0.0, balance - heat.stiffness @ t_new))
        perfusion = jnp.sum(heat.perfusion * t_new - heat.perfusion_source)
        energy = c.energy + dt * jnp.stack(
            [jnp.sum(source), jnp.sum(heat.metabolic), perfusion, sink]
        )
        return _Clock(t_new, jnp.maximum(c.t_max, t_cell), omega, energy,
                      c.iterations + its, c.converged & ok), None

    clock, _ = jax.lax.scan(step, clock, None, length=steps)
    return clock


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
    cells = problem.pattern.cells
    n_cells = cells.shape[0]
    grads, volumes = cell_geometry(points, cells)
    heat = _heat_operators(problem, points, thermal, heat_sink)
    alpha = _cellwise(thermal.alpha, n_cells, volumes.dtype)
    t0 = _cellwise(thermal.t0, n_cells, volumes.dtype)
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
        _, e_mag, sigma, current, _, status = _solve_pair(
            problem, points, sigma_t, solver, grads, volumes, anode, cathode, voltage
        )
        source = heat.lump(sigma * e_mag**2 * volumes)
        clock = _heat_steps(heat, clock, source, dt_on, protocol.substeps, a_on, pc_on, damage,
                            heat_solver)
        clock = _heat_steps(heat, clock, jnp.zeros_like(source), dt_off, protocol.pause_steps,
                            a_off, pc_off, damage, heat_solver)
        e_floor = jnp.maximum(e_floor, e_mag) if memory else e_floor
        return (clock, e_floor, jnp.maximum(e_pair, e_mag)), (current, status[0], status[1])

    def fire_pair(carry, pair):
        clock, e_floor = carry
        e_pair = jnp.zeros(n_cells, volumes.dtype)
        (clock, e_floor, e_pair), out = jax.lax.scan(
            lambda c, _: pulse(c, pair), (clock, e_floor, e_pair), None, length=protocol.count
        )
        return (clock, e_floor), (e_pair, *out)

    start = _Clock(
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
    heat = _heat_operators(problem, jnp.asarray(points), thermal, heat_sink)
    out = []
    for dt in (protocol.width / protocol.substeps, protocol.pause / protocol.pause_steps):
        a = hyb_to_scipy(heat.step_matrix(dt))
        out.append(build_amg(
            a, max_coarse=amg.max_coarse, degree=amg.degree, strength_theta=amg.strength_theta
        ))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Compute budget

class CostModel(eqx.Module):
    """Seconds per cell of one potential solve and of one implicit heat step.

    Defaults: rounded up from `measure_cost` on this project's 2-core CPU (float64; structured
    boxes of 10k and 83k cells, smooth-step conductivity, Newton with AMG: 1.4-1.5e-6 s per cell
    per potential solve; Jacobi heat steps at 1 mm cells: 3-4e-8 s), where the estimate came
    within 20 % of the measured run. Linear in the cell count, which is optimistic for large or
    needle-refined meshes (Jacobi-PCG iterations of the pause steps grow as the cells shrink);
    compilation (seconds, once per shape) is left out. Calibrate with `measure_cost`.
    """

    potential_seconds_per_cell: float = 2e-6
    heat_step_seconds_per_cell: float = 1e-7


def estimate_cost(
    n_cells: int, n_pairs: int, count: int, substeps: int, pause_steps: int = 4, *,
    cost: CostModel = CostModel(),
) -> float:
    """Estimated seconds of `simulate_heating`: n_pairs * count pulses, each one potential solve
    and substeps + pause_steps heat steps, on n_cells cells."""
    per_pulse = (cost.potential_seconds_per_cell
                 + (substeps + pause_steps) * cost.heat_step_seconds_per_cell)
    return float(n_cells * n_pairs * count * per_pulse)


def check_budget(
    n_cells: int, n_pairs: int, protocol: PulseTrain, max_seconds: float, *,
    cost: CostModel = CostModel(),
) -> float:
    """Estimated seconds of the train; raises InputError, with the numbers, when over budget."""
    seconds = estimate_cost(n_cells, n_pairs, protocol.count, protocol.substeps,
                            protocol.pause_steps, cost=cost)
    if seconds > max_seconds:
        pulses = n_pairs * protocol.count
        steps = pulses * (protocol.substeps + protocol.pause_steps)
        raise InputError(
            f"heating: {pulses} pulses ({n_pairs} pairs x {protocol.count}) with "
            f"{protocol.substeps} + {protocol.pause_steps} implicit steps each on {n_cells} cells "
            f"means {pulses} potential solves and {steps} heat steps, about {seconds:.3g} s "
            f"(at {cost.potential_seconds_per_cell:.3g} s and "
            f"{cost.heat_step_seconds_per_cell:.3g} s per cell), over the budget of "
            f"{max_seconds:.3g} s: use fewer pulses, substeps or pause steps, a coarser mesh, "
            "or raise the budget"
        )
    return seconds


def measure_cost(
    problem: Problem, points, model: Conductivity, pairs: Pairs, thermal: ThermalTissue,
    protocol: PulseTrain, *, solver: Newton | Picard = Newton(), heat_sink: bool = False,
    repeats: int = 3,
) -> CostModel:
    """Host side: time one potential solve (first pair, at T0) and one pause-length heat step on
    this mesh after compilation (best of `repeats`), per cell."""
    points = jnp.asarray(points)
    n_cells = problem.pattern.cells.shape[0]

    @jax.jit
    def potential(problem, points, model, pairs):
        grads, volumes = cell_geometry(points, problem.pattern.cells)
        return _solve_pair(problem, points, model, solver, grads, volumes,
                           pairs.anode[0], pairs.cathode[0], pairs.voltage[0])[1]

    heat = _heat_operators(problem, points, thermal, heat_sink)
    dt = protocol.pause / protocol.pause_steps
    a = heat.step_matrix(dt)
    precondition = JacobiPreconditioner(1.0 / diagonal(a))

    @jax.jit
    def heat_step(heat, a, precondition, temperature, source):
        clock = _Clock(temperature, heat.cell_mean(temperature), jnp.zeros(n_cells),
                       jnp.zeros(4), jnp.asarray(0), jnp.asarray(True))
        return _heat_steps(heat, clock, source, dt, 1, a, precondition, Arrhenius(),
                           HeatSolver()).temperature

    def best(f, *args):
        jax.block_until_ready(f(*args))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            times.append(time.perf_counter() - t)
        return min(times)

    # A smooth non-uniform source (W per node, heating by up to 1 K/s) so PCG has work to do.
    r2 = jnp.sum((points - jnp.mean(points, axis=0)) ** 2, axis=1)
    source = heat.mass * r2 / jnp.max(r2)
    return CostModel(
        potential_seconds_per_cell=best(potential, problem, points, model, pairs) / n_cells,
        heat_step_seconds_per_cell=best(heat_step, heat, a, precondition, heat.t_start,
                                        source) / n_cells,
    )
