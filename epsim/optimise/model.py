"""Planning forward models on one moving-node mesh: superposition (constant sigma) and nonlinear.

With constant conductivity the potential is linear in the electrode potentials. One solve per
electrode (unit potential on it, zero on the others) gives basis potentials u_k; their fields
E_k and the electrode conductance matrix G (G[j, k]: current into electrode j when electrode k is
at 1 V and the others at 0 V) then give every pair at every voltage:

    v = V e_anode + floating potentials, G_ff v_f = -G_fa V  (zero net current on idle needles)
    E_pair = sum_k v_k E_k,   I_anode = (G v)_anode.

So one planning step costs n_electrodes linear solves (plus adjoints) whatever the number of
pairs and voltages (docs/design.md, section 4). The nonlinear model calls `epsim.simulate.simulate`.
Both are pure JAX functions of the node coordinates and the voltages, differentiable through the
implicit adjoints of `epsim.solve`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.fem.fields import gradient, safe_norm
from epsim.mesh.tetmesh import cell_geometry
from epsim.optimise.geometry import spd_solve
from epsim.optimise.materials import MaterialField
from epsim.optimise.motion import MeshMotion
from epsim.physics.conductivity import Constant
from epsim.simulate import Pairs, Problem, free_nodes, simulate
from epsim.solve import Newton, solve_potential


class MeshData(eqx.Module):
    """Everything the models need on one reference mesh (a pytree: pass it to jitted code).

    Attributes:
        problem: from `epsim.simulate.prepare` (electrodes in needle order).
        motion: node motion of this mesh.
        materials: the cells' materials as a function of where they are (`MaterialField`).
        ref_volumes: (n_cells,) m^3 as meshed.
        fixed_distance: (n_structures, n_cells) m, host-computed signed distances at the
            reference centroids, for structures without a JAX distance (else unused zeros).
        anode, cathode: (n_pairs,) int electrode indices.
        cell_mask: (n_cells,) 1 for the mesh's cells, 0 for padding cells
            (`epsim.optimise.padded`); None on an unpadded mesh.
    """

    problem: Problem
    motion: MeshMotion
    materials: MaterialField
    ref_volumes: jax.Array
    fixed_distance: jax.Array
    anode: jax.Array
    cathode: jax.Array
    cell_mask: jax.Array | None = None


class Response(eqx.Module):
    """What the objective sees of one evaluated plan.

    Attributes:
        e_mag: (n_pairs, n_cells) V/m; current: (n_pairs,) A into the anode;
        volumes, centroids: (n_cells,) m^3 and (n_cells, 3) m on the moved mesh;
        e_irr: (n_cells,) V/m, E_irr of the cells' materials (healthy-tissue damage);
        min_volume_ratio: smallest moved/reference cell volume (mesh validity);
        converged: bool, every solve converged.
    """

    e_mag: jax.Array
    current: jax.Array
    volumes: jax.Array
    centroids: jax.Array
    e_irr: jax.Array
    min_volume_ratio: jax.Array
    converged: jax.Array


def basis_potentials(
    problem: Problem, points, sigma0, solver: Newton
) -> tuple[jax.Array, jax.Array]:
    """(n_electrodes, n_nodes) V: unit potential on each electrode in turn, zero on the others;
    and whether each solve converged."""
    masks = problem.electrode_masks
    free = free_nodes(problem, jnp.any(masks, axis=0))
    constant = Constant(sigma0)

    def one(mask):
        sol = solve_potential(
            problem.pattern, points, constant, mask.astype(points.dtype), free,
            problem.precondition, solver=solver,
        )
        return sol.phi, sol.converged

    return jax.lax.map(one, masks)


def conductance_matrix(fields: jax.Array, volumes: jax.Array, sigma0: jax.Array) -> jax.Array:
    """(n_el, n_el) S, G[j, k] = u_j^T K u_k = sum over cells of vol sigma0 E_j . E_k: the current
    into electrode j for the basis potential u_k (u_j is 1 on electrode j, 0 on the other
    electrodes, and K u_k vanishes at free nodes). Symmetric by construction; its error is
    quadratic in the solves' error (energy form).

    Args:
        fields: (n_el, n_cells, 3) V/m basis fields; volumes, sigma0: (n_cells,).
    """
    return jnp.einsum("c,jci,kci->jk", volumes * sigma0, fields, fields)


def pair_potentials(g: jax.Array, anode, cathode, voltage, floating: bool) -> jax.Array:
    """(n_el,) V, the electrode potentials of one pair: the anode at `voltage`, the cathode at 0,
    idle electrodes floating (zero net current) or, when `floating` is off, at 0 V (only for two
    electrodes, where there are no idle ones)."""
    n = g.shape[0]
    index = jnp.arange(n)
    fixed = (index == anode) | (index == cathode)
    v = jnp.where(index == anode, voltage, 0.0)
    if not floating or n <= 2:
        return v
    idle = ~fixed
    m = jnp.where(idle[:, None] & idle[None, :], g, jnp.eye(n))
    rhs = jnp.where(idle, -(g @ v), 0.0)
    return v + jnp.where(idle, spd_solve(m, rhs), 0.0)


def _geometry(data: MeshData, points):
    cells = data.problem.pattern.cells
    grads, volumes = cell_geometry(points, cells)
    centroids = jnp.mean(points[cells], axis=1)
    ratio = volumes / data.ref_volumes
    if data.cell_mask is not None:  # padding cells weigh nothing and never ask for a remesh
        volumes = volumes * data.cell_mask
        ratio = jnp.where(data.cell_mask > 0, ratio, jnp.inf)
    return grads, volumes, centroids, jnp.min(ratio)


def linear_response(
    data: MeshData, points, voltage, *, solver: Newton = Newton(rtol=1e-10)
) -> Response:
    """Superposition model (each cell at its material's sigma0) at node coordinates `points`
    (n_nodes, 3) m and pair voltages (n_pairs,) V."""
    problem = data.problem
    grads, volumes, centroids, ratio = _geometry(data, points)
    w = data.materials.weights(points, problem.pattern.cells)
    sigma0 = w @ data.materials.sigma0
    e_irr = w @ data.materials.e_irr
    if not problem.floating_idle and len(problem.electrode_names) > 2:
        # Idle needles left out are insulating holes: no superposition basis; solve each pair.
        return _simulated(data, points, voltage, Constant(sigma0), solver)
    phi, ok = basis_potentials(problem, points, sigma0, solver)
    cells = problem.pattern.cells
    fields = jax.vmap(lambda u: -gradient(grads, cells, u))(phi)  # (n_el, n_cells, 3)
    g = conductance_matrix(fields, volumes, sigma0)
    v = jax.vmap(lambda a, c, u: pair_potentials(g, a, c, u, problem.floating_idle))(
        data.anode, data.cathode, voltage
    )
    e_mag = safe_norm(jnp.einsum("pk,kcj->pcj", v, fields))
    current = jnp.take_along_axis(v @ g.T, data.anode[:, None], axis=1)[:, 0]
    return Response(e_mag, current, volumes, centroids, e_irr, ratio,
                    jnp.all(jax.lax.stop_gradient(ok)))


def nonlinear_response(
    data: MeshData, points, voltage, *, solver: Newton = Newton(rtol=1e-9)
) -> Response:
    """Full nonlinear model (`epsim.simulate.simulate`, independent pairs, each cell a mixture of
    its materials' sigma(|E|))."""
    w = data.materials.weights(points, data.problem.pattern.cells)
    return _simulated(data, points, voltage, data.materials.conductivity(w), solver)


def _simulated(data: MeshData, points, voltage, model, solver) -> Response:
    pairs = Pairs(data.anode, data.cathode, voltage)
    fields = simulate(data.problem, points, model, pairs, solver=solver)
    _, volumes, centroids, ratio = _geometry(data, points)
    e_irr = data.materials.weights(points, data.problem.pattern.cells) @ data.materials.e_irr
    return Response(
        fields.e_mag, fields.current, volumes, centroids, e_irr, ratio,
        jnp.all(jax.lax.stop_gradient(fields.converged)),
    )
