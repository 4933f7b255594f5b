"""Nonlinear potential solve div(sigma(|E|) grad phi) = 0 with Dirichlet electrodes.

Newton on the convex energy (the tangent sigma I + sigma' |E| e e^T is SPD; docs/physics.md,
section 1), started from the sigma0 solution, with inexact AMG-PCG inner solves (the tangent's
values in float32, the residual in float64) and a backtracking line search on the residual
norm; damped Picard as the fallback. Gradients come from the implicit function theorem at the
converged state: one adjoint solve with the same tangent (in float64) and preconditioner
(`equinox.filter_custom_vjp`), never from differentiating the iterations.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.fem.assembly import StiffnessPattern, apply_dirichlet, assemble, dirichlet_keep
from epsim.fem.elements import Elements, elements
from epsim.fem.fields import component_norm
from epsim.fem.sparse import HybMatrix, materialise
from epsim.physics.conductivity import Conductivity, conductivity_and_slope
from epsim.solve.pcg import pcg
from epsim.solve.settings import Newton, Picard


TANGENT_DTYPE = jnp.float32
"""Precision of the Newton tangent's values in the inner solves (see `_newton`): float32 made
the whole Newton solve of the solver benchmark 11-22 % faster than float64, with the same
iteration counts and the converged potential equal to 1.5e-14 (benchmarks/RESULTS.md)."""


class Solution(eqx.Module):
    """Result of a potential solve.

    Attributes:
        phi: (n_nodes,) V, nodal potential (Dirichlet values on electrode nodes).
        converged: bool.
        iterations: outer (Newton or Picard) iterations.
        linear_iterations: PCG iterations summed over the outer iterations.
        residual: final |r| / |r_ref|.
        history: (max_iterations + 1,) relative residual after each outer iteration (NaN after
            the last one).
    """

    phi: jax.Array
    converged: jax.Array
    iterations: jax.Array
    linear_iterations: jax.Array
    residual: jax.Array
    history: jax.Array


class Floating(eqx.Module):
    """Floating conductors: electrodes outside the firing pair, each at one unknown potential
    with zero net current.

    Each floating electrode keeps one representative node; its other nodes are slaves that copy
    it. Unknowns then live in a reduced vector (slaves zero), phi = u[source] on the non-fixed
    nodes, and residuals are summed back onto the representatives.

    Attributes:
        source: (n_nodes,) int, representative of each node (the node itself if not a slave).
        nodes: (m,) int, every electrode node (fixed size across pairs).
        node_rep: (m,) int, the representative of each of those nodes' electrode.
        node_slave: (m,) bool, True where that node is a slave in this pair.
    """

    source: jax.Array
    nodes: jax.Array
    node_rep: jax.Array
    node_slave: jax.Array

    def slave(self, n: int) -> jax.Array:
        return self.source != jnp.arange(n)

    def expand(self, u):
        return u[self.source]

    def reduce(self, y):
        """Transpose of expand: slave entries summed onto their representatives."""
        kept = jnp.where(self.slave(y.shape[0]), 0.0, y)
        return kept.at[self.node_rep].add(jnp.where(self.node_slave, y[self.nodes], 0.0))


class Operators(eqx.Module):
    """What the loops need, bundled: element geometry, pattern, conductivity, the non-Dirichlet
    mask (and the matrix entries it keeps) and the floating conductors. Vectors of unknowns live
    in the reduced space (see Floating)."""

    pattern: StiffnessPattern
    elements: Elements
    model: Conductivity
    free: jax.Array
    keep: tuple[jax.Array, jax.Array]
    floating: Floating | None

    @property
    def unknown(self):
        """(n,) bool, entries of the reduced vector that are unknowns."""
        if self.floating is None:
            return self.free
        return self.free & ~self.floating.slave(self.free.shape[0])

    def expand(self, u):
        return u if self.floating is None else self.floating.expand(u)

    def reduce(self, y):
        return y if self.floating is None else self.floating.reduce(y)

    def eliminated(self, values) -> HybMatrix:
        """Matrix of element edge values (6, n_cells), Dirichlet rows and columns eliminated."""
        return apply_dirichlet(assemble(self.pattern, values), self.free, self.keep)

    def secant(self, phi):
        """K(sigma(|E(phi)|)), Dirichlet rows and columns eliminated."""
        sigma = self.model(component_norm(self.elements.gradient(phi)))
        return self.eliminated(self.elements.edge_values(sigma))

    def residual_and_gradient(self, phi):
        """Reduced residual of K(sigma(phi)) phi, zero on fixed nodes, (n,) A, element by element
        (a scatter of 4 values per cell costs less than assembling K(sigma) to multiply by it),
        and grad(phi) (3, n_cells)."""
        grad = self.elements.gradient(phi)
        return self._residual(self.model(component_norm(grad)), grad), grad

    def _residual(self, sigma, grad):
        force = self.elements.force(sigma, grad)
        return self.reduce(jnp.where(self.free, force, 0.0))

    def residual_and_linearisation(self, phi):
        """The residual of `residual_and_gradient` and the per-cell state the tangent at phi
        needs, (grad (3, n_cells), sigma and weight (2, n_cells)): a Newton trial that is
        accepted hands it to the next tangent, which then evaluates neither the field nor the
        conductivity again (sigma and its slope come from one jvp)."""
        grad = self.elements.gradient(phi)
        sigma, weight = _tangent_coefficients(self.model, grad)
        return self._residual(sigma, grad), (grad, sigma, weight)

    def residual(self, phi):
        return self.residual_and_gradient(phi)[0]

    def sigma0_system(self, g):
        """The linear sigma0 = sigma(0) problem for Dirichlet values g: the eliminated matrix
        K0 and the reduced right-hand side -K0 g on the unknowns."""
        sigma0 = self.model(jnp.zeros(self.elements.volumes.shape, g.dtype))
        lifted = self.elements.force(sigma0, self.elements.gradient(g))
        return self.eliminated(self.elements.edge_values(sigma0)), -self.reduce(
            jnp.where(self.free, lifted, 0.0)
        )

    def reduced(self, a):
        """x -> E^T A E x for a Dirichlet-eliminated matrix A."""
        return lambda x: self.reduce(a @ self.expand(x))

    def tangent_matrix(self, phi, linearisation=None, geometry=None):
        """Newton tangent sigma I + sigma'(|E|) / |E| E E^T, Dirichlet rows and columns
        eliminated; linearisation: `residual_and_linearisation(phi)[1]` if known; geometry:
        `self.elements` in the precision wanted for the matrix (see `_newton`)."""
        if linearisation is None:
            grad = self.elements.gradient(phi)
            linearisation = (grad, *_tangent_coefficients(self.model, grad))
        geometry = self.elements if geometry is None else geometry
        grad, sigma, weight = cast_floats(linearisation, geometry.volumes.dtype)
        return self.eliminated(geometry.edge_values(sigma, weight, grad))

    def tangent(self, phi):
        """Newton tangent in the reduced space (a matvec function)."""
        return self.reduced(self.tangent_matrix(phi))


def _tangent_coefficients(model: Conductivity, grad):
    """sigma(|E|) and the tangent's weight sigma'(|E|) / |E| per cell, (2, n_cells)."""
    e_mag = component_norm(grad)
    sigma, dsigma = conductivity_and_slope(model, e_mag)
    weight = jnp.where(e_mag > 0, dsigma / jnp.where(e_mag > 0, e_mag, 1.0), 0.0)
    # A buffer for (sigma, weight): fused into the six edge values instead, they were
    # recomputed for each (twice the time on CPU).
    return materialise(jnp.stack([sigma, weight]))


def cast_floats(tree, dtype):
    """The floating-point arrays of a pytree in `dtype` (indices untouched)."""
    def cast(x):
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
    return jax.tree.map(cast, tree)


def _masked(precondition, unknown):
    return lambda r: jnp.where(unknown, precondition(r), 0.0)


def _linear_start(ops: Operators, g, precondition, rtol, max_iterations):
    """Solve with sigma0 = sigma(0): returns phi, PCG result and the reference residual norm."""
    k0, b = ops.sigma0_system(g)
    r_ref = jnp.linalg.norm(b)
    matvec = ops.reduced(k0)
    res = pcg(matvec, b, precondition, atol=rtol * r_ref, max_iterations=max_iterations)
    return g + ops.expand(res.x), res, jnp.where(r_ref > 0, r_ref, 1.0)


def _history(max_iterations, first):
    return jnp.full(max_iterations + 1, jnp.nan).at[0].set(first)


def _newton(ops: Operators, g, precondition, s: Newton) -> Solution:
    if ops.model.is_linear:
        phi, start, r_ref = _linear_start(ops, g, precondition, s.rtol, s.linear_max_iterations)
        rnorm = jnp.linalg.norm(ops.residual(phi))
        tol = s.rtol * r_ref
        history = _history(s.max_iterations, rnorm / r_ref)
        return Solution(phi, rnorm <= tol, jnp.asarray(1), start.iterations, rnorm / r_ref,
                        history)
    # The sigma0 start is iteration -1 of the Newton loop: a full step (no line search) with
    # the "tangent" of sigma0 (weight 0) from the lifting g, to relative tolerance forcing_max.
    # One loop, so the program holds one inner solve (one AMG V-cycle) instead of two: the
    # V-cycle dominates the compilation (benchmarks/RESULTS.md).
    grad = ops.elements.gradient(g)
    sigma0 = ops.model(jnp.zeros(ops.elements.volumes.shape, g.dtype))
    r = ops._residual(sigma0, grad)
    rnorm = jnp.linalg.norm(r)
    r_ref = jnp.where(rnorm > 0, rnorm, 1.0)
    tol = s.rtol * r_ref
    # The tangent only steers the inner solves (relative tolerance >= 0.1 tol / |r|, far above
    # float32 rounding); the residual that decides convergence stays float64. A float32 copy
    # of the geometry, made once, halves the bytes of every assembly and tangent product.
    geometry = cast_floats(ops.elements, TANGENT_DTYPE)

    def cond(state):
        _, _, _, rnorm, k, _, _, _ = state
        go_on = (rnorm > tol) & (k < s.max_iterations) & jnp.isfinite(rnorm)
        return (k < 0) | go_on

    def body(state):
        phi, lin_state, r, rnorm, k, lin, hist, rnorm0 = state
        tangent = ops.reduced(ops.tangent_matrix(phi, lin_state, geometry))
        eta = jnp.clip(rnorm / rnorm0, 0.0, s.forcing_max)  # the start: forcing_max
        eta = jnp.maximum(eta, 0.1 * tol / rnorm)  # do not oversolve the last step
        step = pcg(
            tangent, -r, precondition, atol=eta * rnorm, max_iterations=s.linear_max_iterations
        )

        def ls_cond(ls):
            alpha, _, _, _, rn, j = ls
            sufficient = rn <= (1.0 - 1e-4 * alpha) * rnorm
            return (k >= 0) & ~sufficient & (j < s.line_search_steps)

        def trial_at(alpha, j):
            trial = phi + alpha * ops.expand(step.x)
            r_t, state_t = ops.residual_and_linearisation(trial)
            return alpha, trial, state_t, r_t, jnp.linalg.norm(r_t), j

        def ls_body(ls):
            alpha, *_, j = ls
            return trial_at(0.5 * alpha, j + 1)

        ls = trial_at(jnp.asarray(1.0), jnp.asarray(0))
        _, phi, lin_state, r, rnorm, _ = jax.lax.while_loop(ls_cond, ls_body, ls)
        rnorm0 = jnp.where(k < 0, jnp.maximum(rnorm, tol), rnorm0)
        hist = hist.at[k + 1].set(rnorm / r_ref)
        return phi, lin_state, r, rnorm, k + 1, lin + step.iterations, hist, rnorm0

    start_state = (grad, sigma0, jnp.zeros_like(sigma0))
    history = _history(s.max_iterations, jnp.nan)
    state = (g, start_state, r, rnorm, jnp.asarray(-1), jnp.asarray(0), history, r_ref)
    phi, _, _, rnorm, k, lin, hist, _ = jax.lax.while_loop(cond, body, state)
    return Solution(phi, rnorm <= tol, jnp.maximum(k, 1), lin, rnorm / r_ref, hist)


def _picard(ops: Operators, g, precondition, s: Picard) -> Solution:
    phi, start, r_ref = _linear_start(ops, g, precondition, s.rtol, s.linear_max_iterations)
    tol = s.rtol * r_ref
    r = ops.residual(phi)

    def cond(state):
        _, rnorm, k, _, _ = state
        return (rnorm > tol) & (k < s.max_iterations) & jnp.isfinite(rnorm)

    def body(state):
        phi, rnorm, k, lin, hist = state
        matvec = ops.reduced(ops.secant(phi))
        # Secant step: solve K(phi) d = -r(phi), then damp.
        step = pcg(
            matvec, -ops.residual(phi), precondition, atol=0.1 * tol + 0.01 * rnorm,
            max_iterations=s.linear_max_iterations,
        )
        phi = phi + s.damping * ops.expand(step.x)
        rnorm = jnp.linalg.norm(ops.residual(phi))
        return phi, rnorm, k + 1, lin + step.iterations, hist.at[k + 1].set(rnorm / r_ref)

    rnorm = jnp.linalg.norm(r)
    state = (phi, rnorm, jnp.asarray(0), start.iterations, _history(s.max_iterations, rnorm / r_ref))
    phi, rnorm, k, lin, hist = jax.lax.while_loop(cond, body, state)
    return Solution(phi, rnorm <= tol, jnp.maximum(k, 1), lin, rnorm / r_ref, hist)


def operators(pattern: StiffnessPattern, points, model: Conductivity, free,
              floating: Floating | None = None) -> Operators:
    """What the Newton and Picard loops use on a mesh: element geometry of `points`, the
    conductivity, the Dirichlet mask `free` (True for unknown nodes) and the floating conductors.
    Public for checks of the loops' pieces (the unrolled reference, the lumped preconditioner)."""
    geometry = elements(points, pattern.corners)
    return Operators(pattern, geometry, model, free, dirichlet_keep(pattern, free), floating)


@eqx.filter_custom_vjp
def _solve(diff, pattern, free, precondition, solver, floating):
    points, model, g = diff
    ops = operators(pattern, points, model, free, floating)
    g = jnp.where(free, 0.0, g)
    masked = _masked(precondition, ops.unknown)
    if isinstance(solver, Picard):
        return _picard(ops, g, masked, solver)
    return _newton(ops, g, masked, solver)


@_solve.def_fwd
def _solve_fwd(perturbed, diff, pattern, free, precondition, solver, floating):
    sol = _solve(diff, pattern, free, precondition, solver, floating)
    return sol, sol.phi


@_solve.def_bwd
def _solve_bwd(phi, sol_bar, perturbed, diff, pattern, free, precondition, solver, floating):
    """Implicit adjoint: one solve with the (symmetric) tangent, then one residual VJP."""
    points, model, g = diff
    phi_bar = sol_bar.phi
    if phi_bar is None:
        return jax.tree.map(lambda _: None, diff)
    ops = operators(pattern, points, model, free, floating)
    rhs = ops.reduce(jnp.where(free, phi_bar, 0.0))
    adj = pcg(
        ops.tangent(phi), rhs, _masked(precondition, ops.unknown),
        atol=solver.adjoint_rtol * jnp.linalg.norm(rhs),
        max_iterations=solver.linear_max_iterations,
    )

    def free_residual(points, model, g):
        geometry = elements(points, pattern.corners)
        grad = geometry.gradient(jnp.where(free, phi, g))
        return jnp.where(free, geometry.force(model(component_norm(grad)), grad), 0.0)

    _, vjp = jax.vjp(free_residual, points, model, g)
    points_bar, model_bar, g_bar = vjp(-ops.expand(adj.x))
    g_bar = g_bar + jnp.where(free, 0.0, phi_bar)
    grads_out = (points_bar, model_bar, g_bar)
    return jax.tree.map(lambda grad, p: grad if p else None, grads_out, perturbed)


def solve_potential(
    pattern: StiffnessPattern,
    points: jax.Array,
    model: Conductivity,
    dirichlet_values: jax.Array,
    free: jax.Array,
    precondition,
    *,
    solver: Newton | Picard = Newton(),
    floating: Floating | None = None,
) -> Solution:
    """Solve div(sigma(|E|) grad phi) = 0 with phi fixed on the non-free nodes.

    Differentiable (implicit adjoint) with respect to `points`, the parameters of `model` and
    `dirichlet_values`.

    Args:
        pattern: stiffness pattern of the mesh.
        points: (n_nodes, 3) m.
        model: per-cell conductivity model (its parameters broadcast over cells).
        dirichlet_values: (n_nodes,) V, used on nodes where `free` is False.
        free: (n_nodes,) bool, True for unknown nodes.
        precondition: callable r -> M^-1 r (AMG or Jacobi), built for this mesh.
        solver: Newton (default) or Picard settings.
        floating: electrodes held at a common unknown potential with zero net current.
    Returns:
        Solution with status, iterations and residuals; check `converged`.
    """
    return _solve((points, model, dirichlet_values), pattern, free, precondition, solver, floating)
