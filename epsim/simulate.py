"""The forward map: potentials, fields, conductivities and currents for a sequence of pairs.

`prepare` does the host-side work once per mesh (sparsity pattern, electrode node sets,
preconditioner hierarchy); `simulate` is pure JAX, jit-able, vmap-able over voltages and material
parameters, and differentiable with respect to voltages, conductivity parameters and node
coordinates (implicit adjoint in `epsim.solve`).

Electrodes not in the firing pair are left out (their surfaces are insulating holes); floating
conductors are not modelled yet.
"""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.errors import ElectrodeError
from epsim.fem.assembly import StiffnessPattern, apply_dirichlet, build_pattern, stiffness
from epsim.fem.fields import gradient, internal_force, safe_norm
from epsim.fem.sparse import hyb_to_scipy
from epsim.mesh.tetmesh import TetMesh, cell_geometry
from epsim.physics.conductivity import Conductivity
from epsim.solve.amg import build_amg, build_jacobi
from epsim.solve.nonlinear import solve_potential
from epsim.solve.settings import Amg, Jacobi, Newton, Picard


class Problem(eqx.Module):
    """Host-prepared data for one mesh and its electrodes.

    Attributes:
        pattern: stiffness sparsity pattern.
        electrode_masks: (n_electrodes, n_nodes) bool, nodes on each electrode's conducting
            surface.
        precondition: AMG or Jacobi preconditioner of the sigma0 operator with every electrode
            fixed.
        electrode_names: names in the order of `electrode_masks` (static).
    """

    pattern: StiffnessPattern
    electrode_masks: jax.Array
    precondition: eqx.Module
    electrode_names: tuple[str, ...] = eqx.field(static=True)

    def electrode_index(self, name: str) -> int:
        if name not in self.electrode_names:
            raise ElectrodeError(
                f"unknown electrode {name!r}; electrodes: {list(self.electrode_names)}"
            )
        return self.electrode_names.index(name)


class Pairs(eqx.Module):
    """A sequence of firing pairs: anode at `voltage`, cathode at 0 V.

    Attributes:
        anode, cathode: (n_pairs,) int indices into the problem's electrodes.
        voltage: (n_pairs,) V.
    """

    anode: jax.Array
    cathode: jax.Array
    voltage: jax.Array


class Fields(eqx.Module):
    """Per-pair results.

    Attributes:
        potential: (n_pairs, n_nodes) V.
        e_mag: (n_pairs, n_cells) V/m.
        sigma: (n_pairs, n_cells) S/m.
        current: (n_pairs,) A, into the anode (minus the cathode's).
        cathode_current: (n_pairs,) A, into the cathode.
        e_max: (n_cells,) V/m, maximum over pairs.
        converged, iterations, linear_iterations, residual: (n_pairs,) solver status.
    """

    potential: jax.Array
    e_mag: jax.Array
    sigma: jax.Array
    current: jax.Array
    cathode_current: jax.Array
    e_max: jax.Array
    converged: jax.Array
    iterations: jax.Array
    linear_iterations: jax.Array
    residual: jax.Array


def electrode_masks(mesh: TetMesh, names: Sequence[str]) -> np.ndarray:
    """(n_electrodes, n_nodes) bool node masks from the mesh's facet tags."""
    masks = np.zeros((len(names), mesh.n_nodes), dtype=bool)
    for k, name in enumerate(names):
        nodes = mesh.facet_nodes(name)
        if len(nodes) == 0:
            raise ElectrodeError(f"electrode {name!r} has no nodes in the mesh")
        masks[k, nodes] = True
    overlap = masks.sum(axis=0) > 1
    if overlap.any():
        raise ElectrodeError(f"electrodes share {overlap.sum()} mesh nodes: they touch or overlap")
    return masks


def prepare(
    mesh: TetMesh,
    electrodes: Sequence[str],
    sigma0: np.ndarray,
    *,
    preconditioner: Amg | Jacobi = Amg(),
) -> Problem:
    """Host-side set-up for a mesh: pattern, electrode node sets and the preconditioner.

    Args:
        mesh: the tetrahedral mesh; each electrode is a facet tag.
        electrodes: names of the electrode facet tags.
        sigma0: (n_cells,) S/m, the low-field conductivity the preconditioner is built for.
        preconditioner: Amg() (default) or Jacobi().
    """
    names = tuple(electrodes)
    if not names:
        raise ElectrodeError("at least two electrodes are needed, got none")
    masks = electrode_masks(mesh, names)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    free = jnp.asarray(~masks.any(axis=0))
    a = hyb_to_scipy(apply_dirichlet(stiffness(pattern, mesh.points, jnp.asarray(sigma0)), free))
    if isinstance(preconditioner, Jacobi):
        precondition = build_jacobi(a)
    else:
        precondition = build_amg(
            a, max_coarse=preconditioner.max_coarse, degree=preconditioner.degree
        )
    return Problem(pattern, jnp.asarray(masks), precondition, names)


def make_pairs(problem: Problem, pairs: Sequence[tuple[str, str, float]]) -> Pairs:
    """Pairs from (anode name, cathode name, voltage in V) triples."""
    if not pairs:
        raise ElectrodeError("the protocol has no electrode pairs")
    anode, cathode, voltage = [], [], []
    for a, c, v in pairs:
        if a == c:
            raise ElectrodeError(f"pair ({a!r}, {c!r}): anode and cathode are the same electrode")
        anode.append(problem.electrode_index(a))
        cathode.append(problem.electrode_index(c))
        voltage.append(float(v))
    return Pairs(jnp.asarray(anode), jnp.asarray(cathode), jnp.asarray(voltage))


def _solve_pair(problem, points, model, solver, grads, volumes, anode, cathode, voltage):
    on_anode = problem.electrode_masks[anode]
    on_cathode = problem.electrode_masks[cathode]
    free = ~(on_anode | on_cathode)
    g = jnp.where(on_anode, voltage, 0.0)
    sol = solve_potential(
        problem.pattern, points, model, g, free, problem.precondition, solver=solver
    )
    cells = problem.pattern.cells
    e_mag = safe_norm(-gradient(grads, cells, sol.phi))
    sigma = model(e_mag)
    force = internal_force(grads, volumes, cells, sigma, sol.phi)
    i_anode = jnp.sum(jnp.where(on_anode, force, 0.0))
    i_cathode = jnp.sum(jnp.where(on_cathode, force, 0.0))
    status = (sol.converged, sol.iterations, sol.linear_iterations, sol.residual)
    return sol.phi, e_mag, sigma, i_anode, i_cathode, status


def simulate(
    problem: Problem,
    points: jax.Array,
    model: Conductivity,
    pairs: Pairs,
    *,
    solver: Newton | Picard = Newton(),
) -> Fields:
    """Solve every pair (independent pairs) and collect fields, currents and max field.

    Args:
        problem: from `prepare`.
        points: (n_nodes, 3) m, node coordinates (differentiable).
        model: conductivity, parameters per cell or broadcast (differentiable).
        pairs: from `make_pairs` (voltages differentiable).
        solver: nonlinear solver settings.
    """
    grads, volumes = cell_geometry(points, problem.pattern.cells)

    def one(pair):
        return _solve_pair(problem, points, model, solver, grads, volumes, *pair)

    phi, e_mag, sigma, i_a, i_c, status = jax.lax.map(
        one, (pairs.anode, pairs.cathode, pairs.voltage)
    )
    return Fields(
        potential=phi,
        e_mag=e_mag,
        sigma=sigma,
        current=i_a,
        cathode_current=i_c,
        e_max=jnp.max(e_mag, axis=0),
        converged=status[0],
        iterations=status[1],
        linear_iterations=status[2],
        residual=status[3],
    )
