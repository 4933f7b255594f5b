"""The heat equation's pieces on the field mesh: lumped nodal quantities, conductive stiffness,
implicit steps (docs/physics.md, section 4).

P1 temperature on the nodes, one value per cell for every coefficient, LUMPED mass (each cell
gives a quarter of its rho c volume to each of its nodes; so do perfusion, metabolic heat and the
Joule source, which for a per-cell constant source is exactly the P1 load vector), conductive
stiffness from the same element kernel as the electric problem (`Elements.edge_values`), backward
Euler solved for the increment T^{n+1} - T^n with PCG inside `custom_linear_solve`, so gradients
go through the heat solves by the implicit function theorem.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.fem.assembly import apply_dirichlet, assemble
from epsim.fem.elements import Elements
from epsim.fem.sparse import HybMatrix
from epsim.physics.thermal import Arrhenius, ThermalTissue
from epsim.simulate import Problem
from epsim.solve.pcg import pcg


class HeatSolver(eqx.Module):
    """PCG settings of the implicit heat steps: stop at |r| <= rtol |b| (b: the increment's
    right-hand side)."""

    rtol: float = eqx.field(static=True, default=1e-10)
    max_iterations: int = eqx.field(static=True, default=5000)


class HeatOperators(eqx.Module):
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
        """(n_cells,) -> (n_nodes,): a quarter of each cell's value to each of its nodes."""
        return lump(self.cells, per_cell, self.mass.shape[0])

    def cell_mean(self, nodal):
        """(n_nodes,) -> (n_cells,): the mean of each cell's nodal values."""
        return jnp.mean(nodal[self.cells], axis=1)

    def step_matrix(self, dt) -> HybMatrix:
        """M / dt + K + P with heat-sink rows and columns eliminated."""
        a = self.stiffness
        ell = a.ell_vals.at[0].add(self.mass / dt + self.perfusion)
        return apply_dirichlet(a.with_values(ell, a.ovf_vals), self.free)


def lump(cells, per_cell, n_nodes: int):
    """Nodal sums of a quarter of each cell's value: (n_cells,) -> (n_nodes,)."""
    return jax.ops.segment_sum(jnp.repeat(per_cell / 4.0, 4), jnp.ravel(cells), n_nodes)


def cellwise(value, n_cells, dtype):
    """A scalar or per-cell parameter as (n_cells,) of dtype."""
    return jnp.broadcast_to(jnp.asarray(value, dtype=dtype), (n_cells,))


def heat_operators(problem: Problem, geometry: Elements, thermal: ThermalTissue,
                   heat_sink: bool) -> HeatOperators:
    """The thermal operators of a prepared mesh.

    Args:
        problem: from `epsim.simulate.prepare` (pattern and electrode nodes).
        geometry: `epsim.fem.elements(points, problem.pattern.corners)`, shared with the
            potential solves of the same points.
        thermal: tissue thermal properties (per cell or broadcast).
        heat_sink: hold every electrode node at its initial temperature (else insulated).
    """
    cells = problem.pattern.cells
    n_nodes, n_cells = problem.pattern.n_nodes, cells.shape[0]
    volumes = geometry.volumes
    cw = lambda v: cellwise(v, n_cells, volumes.dtype)  # noqa: E731
    heat_capacity = cw(thermal.heat_capacity) * volumes
    perfusion = cw(thermal.perfusion) * volumes
    mass = lump(cells, heat_capacity, n_nodes)
    sink = jnp.any(problem.electrode_masks, axis=0) if heat_sink else jnp.zeros(n_nodes, bool)
    return HeatOperators(
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


class HeatState(eqx.Module):
    """What the heat steps carry: nodal temperature, per-cell peak and damage, energy budget
    [joule, metabolic, perfusion, sink] in J, PCG iterations and convergence."""

    temperature: jax.Array
    t_max: jax.Array
    omega: jax.Array
    energy: jax.Array
    iterations: jax.Array
    converged: jax.Array


def heat_steps(heat: HeatOperators, clock: HeatState, source, dt, steps: int, a, precondition,
               damage: Arrhenius, settings: HeatSolver) -> HeatState:
    """`steps` backward Euler steps of length dt with the nodal Joule source (W) held fixed."""

    def step(c: HeatState, _):
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
        return HeatState(t_new, jnp.maximum(c.t_max, t_cell), omega, energy,
                         c.iterations + its, c.converged & ok), None

    clock, _ = jax.lax.scan(step, clock, None, length=steps)
    return clock


__all__ = [
    "HeatOperators", "HeatSolver", "HeatState", "cellwise", "heat_operators", "heat_steps", "lump",
]
