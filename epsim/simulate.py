"""The forward map: potentials, fields, conductivities and currents for a sequence of pairs.

`prepare` does the host-side work once per mesh (sparsity pattern, electrode node sets,
preconditioner hierarchy); `simulate` is pure JAX, jit-able, vmap-able over voltages and material
parameters, and differentiable with respect to voltages, conductivity parameters and node
coordinates (implicit adjoint in `epsim.solve`). Both `simulate` and the heated train of
`epsim.heating` fire a pair with `solve_pair`, which post-processes the potential with the
solver's own element kernels (`epsim.fem.elements`), computed once per set of node coordinates.

Electrodes not in the firing pair are metal: by default floating conductors (one unknown
potential each, zero net current), or left out (insulating holes) when `floating_idle` is off.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from epsim.errors import ElectrodeError
from epsim.fem.assembly import StiffnessPattern, build_pattern
from epsim.fem.elements import Elements, elements
from epsim.fem.fields import component_norm
from epsim.fem.host import stiffness_host
from epsim.fem.sparse import hyb_to_scipy
from epsim.memory_maps import relieve
from epsim.mesh.tetmesh import TetMesh
from epsim.physics.conductivity import Conductivity, FieldMemory
from epsim.solve.amg import build_amg, build_jacobi
from epsim.solve.lumped import LumpedCoupling, LumpedPreconditioner, lumped_coupling
from epsim.solve.nonlinear import Floating, solve_potential
from epsim.solve.settings import Amg, Jacobi, Newton, Picard


class Problem(eqx.Module):
    """Host-prepared data for one mesh and its electrodes.

    Attributes:
        pattern: stiffness sparsity pattern.
        electrode_masks: (n_electrodes, n_nodes) bool, nodes on each electrode's conducting
            surface.
        electrode_nodes, electrode_of_node: (m,) int, every electrode node and its electrode.
        electrode_rep: (n_electrodes,) int, one representative node per electrode.
        precondition: AMG or Jacobi preconditioner of the sigma0 operator with every electrode
            cut out of the tissue.
        electrode_names: names in the order of `electrode_masks` (static).
        floating_idle: electrodes outside the firing pair float (True) or are left out (False).
        lumped: couplings of the electrodes for preconditioning floating ones (None when no
            electrode can float).
        inert: (n_nodes,) bool, padding nodes held at 0 V (`epsim.padding`); None unpadded.
    """

    pattern: StiffnessPattern
    electrode_masks: jax.Array
    electrode_nodes: jax.Array
    electrode_of_node: jax.Array
    electrode_rep: jax.Array
    precondition: eqx.Module
    electrode_names: tuple[str, ...] = eqx.field(static=True)
    floating_idle: bool = eqx.field(static=True, default=True)
    lumped: LumpedCoupling | None = None
    inert: jax.Array | None = None

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


def _preconditioned_operator(k, masks: np.ndarray):
    """The sigma0 operator the preconditioner is built for, shared by every pair.

    Electrode nodes are decoupled from the tissue (rows and columns zeroed) but keep their own
    diagonal: in a given pair only the anode and cathode are fixed, and the idle electrodes'
    nodes are unknowns (floating or insulating) that must stay on the scale of their neighbours.
    With a unit diagonal there instead, PCG needed 5000 iterations per pair for insulating idle
    needles on the hexagonal example.
    """
    fixed = masks.any(axis=0)
    keep = sp.diags((~fixed).astype(np.float64))
    a = keep @ hyb_to_scipy(k) @ keep  # numpy: no program compiled per mesh
    a.eliminate_zeros()
    return (a + sp.diags(np.where(fixed, np.asarray(k.ell_vals[0]), 0.0))).tocsr()


def prepare(
    mesh: TetMesh,
    electrodes: Sequence[str],
    sigma0: np.ndarray,
    *,
    preconditioner: Amg | Jacobi = Amg(),
    floating_idle: bool = True,
) -> Problem:
    """Host-side set-up for a mesh: pattern, electrode node sets and the preconditioner.

    Args:
        mesh: the tetrahedral mesh; each electrode is a facet tag.
        electrodes: names of the electrode facet tags.
        sigma0: (n_cells,) S/m, the low-field conductivity the preconditioner is built for.
        preconditioner: Amg() (default) or Jacobi().
        floating_idle: idle electrodes are floating conductors (default) or left out.
    """
    names = tuple(electrodes)
    if not names:
        raise ElectrodeError("at least two electrodes are needed, got none")
    relieve()  # a new mesh compiles new programs: keep the process below its mapping limit
    masks = electrode_masks(mesh, names)
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    k0 = stiffness_host(pattern, mesh.points, sigma0)
    a = _preconditioned_operator(k0, masks)
    if isinstance(preconditioner, Jacobi):
        precondition = build_jacobi(a)
    else:
        precondition = build_amg(
            a, max_coarse=preconditioner.max_coarse, degree=preconditioner.degree,
            strength_theta=preconditioner.strength_theta,
        )
    electrode_of_node, nodes = np.nonzero(masks)
    rep = np.array([np.flatnonzero(m)[0] for m in masks])
    lumped = None
    if floating_idle and len(names) > 2:
        lumped = lumped_coupling(hyb_to_scipy(k0), masks, rep, precondition)
    return Problem(  # device_put: jnp.asarray compiles a small program per new shape
        pattern=pattern,
        electrode_masks=jax.device_put(masks),
        electrode_nodes=jax.device_put(nodes),
        electrode_of_node=jax.device_put(electrode_of_node),
        electrode_rep=jax.device_put(rep),
        precondition=precondition,
        electrode_names=names,
        floating_idle=floating_idle,
        lumped=lumped,
    )


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


def floating_conductors(problem: Problem, anode, cathode) -> Floating | None:
    """The Floating structure of one pair: every electrode but the anode and the cathode."""
    n_electrodes = len(problem.electrode_names)
    if not problem.floating_idle or n_electrodes <= 2:
        return None
    index = jnp.arange(n_electrodes)
    floats = (index != anode) & (index != cathode)
    nodes, owner = problem.electrode_nodes, problem.electrode_of_node
    node_rep = problem.electrode_rep[owner]
    node_floats = floats[owner]
    source = jnp.arange(problem.pattern.n_nodes).at[nodes].set(jnp.where(node_floats, node_rep, nodes))
    return Floating(source, nodes, node_rep, node_floats & (nodes != node_rep))


class PairSolution(NamedTuple):
    """One pair solved, and its fields.

    Attributes:
        phi: (n_nodes,) V, nodal potential.
        e_mag: (n_cells,) V/m, |E| per cell.
        sigma: (n_cells,) S/m, the conductivity at that field.
        current, cathode_current: () A, into the anode and into the cathode.
        converged, iterations, linear_iterations, residual: the solver's status.
    """

    phi: jax.Array
    e_mag: jax.Array
    sigma: jax.Array
    current: jax.Array
    cathode_current: jax.Array
    converged: jax.Array
    iterations: jax.Array
    linear_iterations: jax.Array
    residual: jax.Array


def free_nodes(problem: Problem, fixed) -> jax.Array:
    """(n_nodes,) bool, the unknowns of a solve: neither in `fixed` (the Dirichlet nodes) nor
    padding (`Problem.inert`, held at 0 V)."""
    free = ~fixed
    return free if problem.inert is None else free & ~problem.inert


def solve_pair(
    problem: Problem, points: jax.Array, model: Conductivity, solver: Newton | Picard,
    geometry: Elements, anode, cathode, voltage,
) -> PairSolution:
    """Solve one pair (anode at `voltage`, cathode at 0 V, idle electrodes floating or left out)
    and post-process it with the solver's own element kernels.

    Args:
        problem: from `prepare`; points: (n_nodes, 3) m; model: sigma(|E|) per cell.
        solver: nonlinear solver settings.
        geometry: `epsim.fem.elements(points, problem.pattern.corners)`, computed once by the
            caller for every pair (and every pulse) on these points.
        anode, cathode: electrode indices; voltage: V.
    """
    on_anode = problem.electrode_masks[anode]
    on_cathode = problem.electrode_masks[cathode]
    free = free_nodes(problem, on_anode | on_cathode)
    g = jnp.where(on_anode, voltage, 0.0)
    floating = floating_conductors(problem, anode, cathode)
    precondition = problem.precondition
    if floating is not None:
        precondition = LumpedPreconditioner(precondition, problem.lumped, anode, cathode)
    sol = solve_potential(
        problem.pattern, points, model, g, free, precondition, solver=solver, floating=floating
    )
    grad = geometry.gradient(sol.phi)  # (3, n_cells)
    e_mag = component_norm(grad)
    sigma = model(e_mag)
    force = geometry.force(sigma, grad)
    return PairSolution(
        phi=sol.phi, e_mag=e_mag, sigma=sigma,
        current=jnp.sum(jnp.where(on_anode, force, 0.0)),
        cathode_current=jnp.sum(jnp.where(on_cathode, force, 0.0)),
        converged=sol.converged, iterations=sol.iterations,
        linear_iterations=sol.linear_iterations, residual=sol.residual,
    )


def simulate(
    problem: Problem,
    points: jax.Array,
    model: Conductivity,
    pairs: Pairs,
    *,
    solver: Newton | Picard = Newton(),
    memory: bool = False,
) -> Fields:
    """Solve every pair and collect fields, currents and the max field over pairs.

    Args:
        problem: from `prepare`.
        points: (n_nodes, 3) m, node coordinates (differentiable).
        model: conductivity, parameters per cell or broadcast (differentiable).
        pairs: from `make_pairs` (voltages differentiable).
        solver: nonlinear solver settings.
        memory: False: independent pairs (each starts from intact tissue). True: max-field memory,
            each pair's conductivity follows the highest field earlier pairs produced in each
            cell (never decreasing along the sequence; docs/physics.md, section 1).
    """
    geometry = elements(points, problem.pattern.corners)
    sequence = (pairs.anode, pairs.cathode, pairs.voltage)

    def one(e_floor, pair):
        m = FieldMemory(model, e_floor) if memory else model
        out = solve_pair(problem, points, m, solver, geometry, *pair)
        return jnp.maximum(e_floor, out.e_mag), out

    e_floor = jnp.zeros(problem.pattern.cells.shape[0], dtype=jnp.asarray(points).dtype)
    if memory:
        _, out = jax.lax.scan(one, e_floor, sequence)
    else:
        out = jax.lax.map(lambda pair: one(e_floor, pair)[1], sequence)
    return Fields(
        potential=out.phi,
        e_mag=out.e_mag,
        sigma=out.sigma,
        current=out.current,
        cathode_current=out.cathode_current,
        e_max=jnp.max(out.e_mag, axis=0),
        converged=out.converged,
        iterations=out.iterations,
        linear_iterations=out.linear_iterations,
        residual=out.residual,
    )
