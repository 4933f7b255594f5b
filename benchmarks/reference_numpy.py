"""The Newton potential solve of `epsim.solve.nonlinear` written with numpy, scipy and pyamg.

This is the reference a user would otherwise write: the same algorithm (element geometry from
the points, sigma0 start, inexact Newton with the same forcing, the same backtracking line search
and tolerance), with the tangent assembled by numpy into a fixed scipy CSR pattern at every
Newton step and pyamg-preconditioned CG inner solves (the sigma0 smoothed-aggregation hierarchy
reused). Used by `bench_solver.py`; not part of the package. Precision differs only inside the inner solves, where each side does
what is fastest for it: epsim keeps the tangent's values and the V-cycle in float32 (fewer bytes
per gather), while scipy's sparse products would convert a float32 matrix to float64 on every
call, so the reference stays float64; both take the same steps to the same float64 residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyamg
import scipy.sparse as sp


def cell_geometry(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P1 basis gradients (n_cells, 4, 3) 1/m and volumes (n_cells,) m^3."""
    x = points[cells]  # (n, 4, 3)
    jac = (x[:, 1:] - x[:, :1]).transpose(0, 2, 1)  # columns: edges from node 0, (n, 3, 3)
    inv = np.linalg.inv(jac)  # rows: gradients of barycentrics 1..3
    grads = np.concatenate([-inv.sum(axis=1, keepdims=True), inv], axis=1)
    volumes = np.abs(np.linalg.det(jac)) / 6.0
    return grads, volumes


def smooth_step(e_mag, sigma0, sigma1, e_rev, e_irr):
    """C2 smooth step conductivity and its derivative d sigma / d|E| (numpy)."""
    centre, half = 0.5 * (e_rev + e_irr), 0.5 * (e_irr - e_rev)
    r = (e_mag - centre) / half
    inside = np.abs(r) < 1.0
    rc = np.clip(r, -1.0, 1.0)
    h = 0.5 + rc * (15.0 / 16.0 - rc * rc * (5.0 / 8.0 - 3.0 / 16.0 * rc * rc))
    dh = np.where(inside, (15.0 / 16.0) * (1.0 - rc * rc) ** 2, 0.0)
    return sigma0 + (sigma1 - sigma0) * h, (sigma1 - sigma0) * dh / half


@dataclass
class NewtonResult:
    phi: np.ndarray
    converged: bool
    iterations: int
    linear_iterations: int
    residual: float


class NumpyProblem:
    """Geometry, CSR pattern and Dirichlet bookkeeping of one mesh and one electrode pair.

    Args:
        points: (n_nodes, 3) m; cells: (n_cells, 4); cell_region: (n_cells,) int.
        region_params: per region (sigma0, sigma1, e_rev, e_irr) of a smooth step (S/m, V/m).
        free: (n_nodes,) bool, unknown nodes.
    """

    def __init__(self, points, cells, cell_region, region_params, free):
        self.cells = np.asarray(cells, dtype=np.int64)
        self.n_nodes = len(points)
        self.free = np.asarray(free, dtype=bool)
        self.points = np.asarray(points, np.float64)
        self.place(self.points)
        params = np.asarray(region_params, dtype=np.float64)[np.asarray(cell_region)]
        self.params = tuple(params.T)  # four (n_cells,) arrays
        # CSR pattern of the element matrices and the map element entry -> CSR slot.
        rows = np.repeat(self.cells, 4, axis=1).ravel()
        cols = np.tile(self.cells, (1, 4)).ravel()
        keys, self.slot = np.unique(rows * self.n_nodes + cols, return_inverse=True)
        self.slot = self.slot.astype(np.int64)
        self.nnz = len(keys)
        r, c = keys // self.n_nodes, keys % self.n_nodes
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=self.n_nodes))])
        self.indices = c.astype(np.int32)
        self.eliminated = ~(self.free[r] & self.free[c])
        self.fixed_diagonal = (r == c) & ~self.free[r]

    def place(self, points):
        """The element geometry of the mesh on `points` (m). epsim's solve computes it from the
        points in every call (which makes it differentiable in them), so `newton_solve` calls
        this too: both contestants are timed from the same inputs."""
        self.grads, self.volumes = cell_geometry(points, self.cells)

    def conductivity(self, e_mag):
        return smooth_step(e_mag, *self.params)

    def e_field(self, phi):
        return -np.einsum("cij,ci->cj", self.grads, phi[self.cells])

    def residual(self, phi):
        """Free-node residual K(sigma(|E(phi)|)) phi, zero on fixed nodes, (n_nodes,) A."""
        e = self.e_field(phi)
        sigma, _ = self.conductivity(np.linalg.norm(e, axis=1))
        local = self.volumes[:, None] * np.einsum("cij,cj->ci", self.grads, -sigma[:, None] * e)
        force = np.bincount(self.cells.ravel(), local.ravel(), minlength=self.n_nodes)
        return np.where(self.free, force, 0.0)

    def matrix(self, sigma, slope=None, e_unit=None):
        """K with D = sigma I (+ slope e e^T), Dirichlet rows and columns eliminated, CSR."""
        g = self.grads
        local = sigma[:, None, None] * np.einsum("cik,cjk->cij", g, g)
        if slope is not None:
            q = np.einsum("cij,cj->ci", g, e_unit)
            local += slope[:, None, None] * q[:, :, None] * q[:, None, :]
        local *= self.volumes[:, None, None]
        data = np.bincount(self.slot, local.ravel(), minlength=self.nnz)
        data[self.eliminated] = 0.0
        data[self.fixed_diagonal] = 1.0
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n_nodes,) * 2)

    def tangent(self, phi):
        e = self.e_field(phi)
        e_mag = np.linalg.norm(e, axis=1)
        sigma, dsigma = self.conductivity(e_mag)
        e_unit = e / np.where(e_mag > 0, e_mag, 1.0)[:, None]
        return self.matrix(sigma, dsigma * e_mag, e_unit)

    def sigma0_matrix(self):
        sigma, _ = self.conductivity(np.zeros(len(self.cells)))
        return self.matrix(sigma)

    def force_on(self, phi, mask):
        """Current (A) into the electrode whose nodes are `mask`: the reaction sum there."""
        e = self.e_field(phi)
        sigma, _ = self.conductivity(np.linalg.norm(e, axis=1))
        local = self.volumes[:, None] * np.einsum("cij,cj->ci", self.grads, -sigma[:, None] * e)
        force = np.bincount(self.cells.ravel(), local.ravel(), minlength=self.n_nodes)
        return float(force[mask].sum())


def _pcg(a, b, ml, rtol, maxiter):
    """pyamg CG preconditioned by the V-cycle of `ml`; |r| < rtol |b|. Returns x, iterations."""
    residuals = []
    x, _ = pyamg.krylov.cg(
        a, b, tol=rtol, criteria="rr", maxiter=maxiter, M=ml.aspreconditioner(), residuals=residuals
    )
    return x, len(residuals) - 1


def newton_solve(
    problem: NumpyProblem,
    g: np.ndarray,
    ml,
    *,
    rtol: float = 1e-9,
    max_iterations: int = 30,
    forcing_max: float = 0.03,
    line_search_steps: int = 12,
    linear_max_iterations: int = 2000,
) -> NewtonResult:
    """The algorithm of `epsim.solve.nonlinear._newton`, step for step, in numpy.

    Args:
        problem: the mesh and pair; g: (n_nodes,) V, Dirichlet values on fixed nodes;
        ml: pyamg hierarchy of the sigma0 operator (reused for every inner solve).
    """
    problem.place(problem.points)
    free = problem.free
    g = np.where(free, 0.0, g)
    k0 = problem.sigma0_matrix()
    # Lifting residual under sigma0: K0 acting on g with the fixed columns kept.
    b = -np.where(free, _lift(problem, g), 0.0)
    r_ref = np.linalg.norm(b)
    r_ref = r_ref if r_ref > 0 else 1.0
    x, lin = _pcg(k0, b, ml, forcing_max, linear_max_iterations)
    phi = g + np.where(free, x, 0.0)
    tol = rtol * r_ref
    r = problem.residual(phi)
    rnorm = np.linalg.norm(r)
    rnorm0 = max(rnorm, tol)
    k = 0
    while rnorm > tol and k < max_iterations and np.isfinite(rnorm):
        tangent = problem.tangent(phi)
        eta = min(max(rnorm / rnorm0, 0.0), forcing_max)
        eta = max(eta, 0.1 * tol / rnorm)
        step, its = _pcg(tangent, -r, ml, eta, linear_max_iterations)
        step = np.where(free, step, 0.0)
        lin += its
        alpha = 1.0
        trial = phi + step
        r_t = problem.residual(trial)
        rn = np.linalg.norm(r_t)
        j = 0
        while not (rn <= (1.0 - 1e-4 * alpha) * rnorm) and j < line_search_steps:
            alpha *= 0.5
            trial = phi + alpha * step
            r_t = problem.residual(trial)
            rn = np.linalg.norm(r_t)
            j += 1
        phi, r, rnorm = trial, r_t, rn
        k += 1
    return NewtonResult(phi, bool(rnorm <= tol), max(k, 1), lin, float(rnorm / r_ref))


def _lift(problem: NumpyProblem, g: np.ndarray) -> np.ndarray:
    """K(sigma0) g without Dirichlet elimination, (n_nodes,)."""
    sigma, _ = problem.conductivity(np.zeros(len(problem.cells)))
    flux = sigma[:, None] * np.einsum("cij,ci->cj", problem.grads, g[problem.cells])
    local = problem.volumes[:, None] * np.einsum("cij,cj->ci", problem.grads, flux)
    return np.bincount(problem.cells.ravel(), local.ravel(), minlength=problem.n_nodes)
