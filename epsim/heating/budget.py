"""The compute budget of a heated train: a cost model per cell, the estimate, the refusal, and a
measurement on the machine at hand to calibrate the model."""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.errors import InputError
from epsim.fem.assembly import diagonal
from epsim.fem.elements import elements
from epsim.heating.operators import HeatSolver, HeatState, heat_operators, heat_steps
from epsim.heating.train import PulseTrain
from epsim.physics.conductivity import Conductivity
from epsim.physics.thermal import Arrhenius, ThermalTissue
from epsim.simulate import Pairs, Problem, solve_pair
from epsim.solve.amg import JacobiPreconditioner
from epsim.solve.settings import Newton, Picard


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
        geometry = elements(points, problem.pattern.corners)
        return solve_pair(problem, points, model, solver, geometry, pairs.anode[0],
                          pairs.cathode[0], pairs.voltage[0]).e_mag

    heat = heat_operators(problem, elements(points, problem.pattern.corners), thermal, heat_sink)
    dt = protocol.pause / protocol.pause_steps
    a = heat.step_matrix(dt)
    precondition = JacobiPreconditioner(1.0 / diagonal(a))

    @jax.jit
    def heat_step(heat, a, precondition, temperature, source):
        clock = HeatState(temperature, heat.cell_mean(temperature), jnp.zeros(n_cells),
                          jnp.zeros(4), jnp.asarray(0), jnp.asarray(True))
        return heat_steps(heat, clock, source, dt, 1, a, precondition, Arrhenius(),
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


__all__ = ["CostModel", "check_budget", "estimate_cost", "measure_cost"]
