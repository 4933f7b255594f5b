"""Solver settings as immutable values (strategies are types, not strings)."""

from __future__ import annotations

import equinox as eqx


class Newton(eqx.Module):
    """Inexact Newton on the convex energy with backtracking line search.

    rtol: stop when |r| <= rtol * |r_ref| (r_ref: residual of the Dirichlet lifting under sigma0).
    forcing_max: inner PCG relative tolerance cap (Eisenstat-Walker style forcing below it);
        0.1 let the early steps wander (11 Newton steps instead of 6 on the 100k-cell benchmark
        mesh, benchmarks/RESULTS.md), 0.03 costs a few PCG iterations more per early step.
    adjoint_rtol: relative tolerance of the adjoint solve.
    """

    rtol: float = eqx.field(static=True, default=1e-9)
    max_iterations: int = eqx.field(static=True, default=30)
    forcing_max: float = eqx.field(static=True, default=0.03)
    line_search_steps: int = eqx.field(static=True, default=12)
    linear_max_iterations: int = eqx.field(static=True, default=2000)
    adjoint_rtol: float = eqx.field(static=True, default=1e-10)


class Picard(eqx.Module):
    """Damped fixed-point (secant) iteration: the fallback when Newton fails.

    Undamped Picard falls into limit cycles for realistic sigmoid widths (docs/design.md, section 2).
    """

    rtol: float = eqx.field(static=True, default=1e-9)
    max_iterations: int = eqx.field(static=True, default=200)
    damping: float = eqx.field(static=True, default=0.5)
    linear_max_iterations: int = eqx.field(static=True, default=2000)
    adjoint_rtol: float = eqx.field(static=True, default=1e-10)


class Amg(eqx.Module):
    """Smoothed-aggregation AMG preconditioner settings (see `build_amg`)."""

    max_coarse: int = eqx.field(static=True, default=1500)
    degree: int = eqx.field(static=True, default=2)
    strength_theta: float = eqx.field(static=True, default=0.02)


class Jacobi(eqx.Module):
    """Diagonal preconditioner (zero set-up; for small meshes)."""
