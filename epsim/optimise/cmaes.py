"""Derivative-free baseline: a plain (mu/mu_w, lambda)-CMA-ES on the same planning model.

Written from the standard algorithm (Hansen, "The CMA Evolution Strategy: A Tutorial", 2016,
arXiv:1604.00772): weighted recombination, cumulative step-size adaptation, rank-one and
rank-mu covariance updates. Variables are the free plan entries divided by their Adam step
sizes, so one unit is about one Adam step (0.6 mm, 80 V). Candidates are repaired into the
voltage box before they are evaluated (and the repaired point is what the update sees). Each
generation is evaluated on the mesh of its mean (remeshed when the mean has moved out of
reach), as one vmapped batch, as long as its moved cells stay sound (a candidate with a cell
squeezed below `CANDIDATE_MIN_VOLUME_RATIO` gets a mesh of its own): candidates scatter further
than one Adam path, and a mesh per candidate would cost the baseline far more time than its
solves.

Why not the `cma` package: this is a comparison baseline, there to show what the gradients buy,
so it must see exactly what Adam sees: the same `Session` (reference meshes, remeshing rule,
vmapped batches on shared meshes, the evaluation count), the same repair into the voltage box,
and the same audit rows and checkpoints. `cma` would drive all of that through an ask/tell
adapter wrapped around this same code, adding a dependency to save the hundred lines of the
update itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from epsim.optimise.adam import project
from epsim.optimise.plan import Plan
from epsim.optimise.session import Evaluation, Session


CANDIDATE_MIN_VOLUME_RATIO = 0.1
"""Candidates share their generation's mesh until a moved cell shrinks below this fraction."""


@dataclass
class BaselineResult:
    best: Evaluation | None
    history: list = field(default_factory=list)  # (forward solves, best value, best coverage)


def cma_es(
    session: Session,
    start: Plan,
    rates: Plan,
    budget: int,
    *,
    factor: float,
    sigma: float = 1.0,
    seed: int = 0,
    check_every: int = 0,
    stage: str = "linear",
) -> BaselineResult:
    """Minimise the planning objective from `start` with at most `budget` forward evaluations.

    Args:
        rates: per-element scales (a Plan; zero marks a frozen entry).
        sigma: initial step size in units of `rates`.
        check_every: refresh the current-correction factors at the mean every this many
            generations times the population size of evaluations (0: never).
    """
    goals = session.goals
    flat_rates, unravel = ravel_pytree(rates)
    flat_rates = np.asarray(flat_rates)
    free = flat_rates > 0
    x0, _ = ravel_pytree(start)
    x0 = np.asarray(x0)
    n = int(free.sum())

    def to_plan(y: np.ndarray) -> Plan:
        x = x0.copy()
        x[free] = x0[free] + y * flat_rates[free]
        return project(unravel(jnp.asarray(x)), goals.min_voltage, goals.max_voltage)

    def to_y(plan: Plan) -> np.ndarray:
        x = np.asarray(ravel_pytree(plan)[0])
        return (x[free] - x0[free]) / flat_rates[free]

    lam = 4 + int(3 * math.log(n))
    mu = lam // 2
    w = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    w /= w.sum()
    mueff = 1.0 / np.sum(w**2)
    cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
    cs = (mueff + 2) / (n + mueff + 5)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
    damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
    rng = np.random.default_rng(seed)
    mean, pc, ps = np.zeros(n), np.zeros(n), np.zeros(n)
    b, d, c = np.eye(n), np.ones(n), np.eye(n)
    result = BaselineResult(None)
    ref, used, generation = None, 0, 0
    session.progress.start("baseline (CMA-ES)", budget)
    while used < budget:
        if check_every and generation % check_every == 0:
            ref = session.update_current_scale(to_plan(mean), ref, factor, generation)
        size = min(lam, budget - used)
        z = rng.standard_normal((size, n))
        ys = mean + sigma * (z * d) @ b.T
        plans = [to_plan(y) for y in ys]
        ys = np.array([to_y(p) for p in plans])  # repaired into the voltage box
        evals, ref = session.evaluate(
            plans, ref, factor=factor, optimiser="cmaes", stage=stage, step=generation,
            center=to_plan(mean), spread=np.inf, min_ratio=CANDIDATE_MIN_VOLUME_RATIO,
        )
        used += size
        values = np.array([
            e.value if e is not None and np.isfinite(e.value) and e.aux["converged"] else np.inf
            for e in evals
        ])
        for k, (e, v) in enumerate(zip(evals, values)):
            if np.isfinite(v) and (result.best is None or v < result.best.value):
                result.best = e
            if np.isfinite(v):
                result.history.append((used - size + k + 1, v,
                                       float(e.aux["metrics"]["coverage_hard"])))
            session.progress.advance()
        if size < lam or not np.isfinite(values).any():
            generation += 1
            continue
        order = np.argsort(values)[:mu]
        old = mean
        mean = w @ ys[order]
        step = (mean - old) / sigma
        inv_sqrt = b @ np.diag(1 / d) @ b.T
        ps = (1 - cs) * ps + math.sqrt(cs * (2 - cs) * mueff) * inv_sqrt @ step
        hsig = np.linalg.norm(ps) / math.sqrt(1 - (1 - cs) ** (2 * (generation + 1))) / chi_n
        hsig = float(hsig < 1.4 + 2 / (n + 1))
        pc = (1 - cc) * pc + hsig * math.sqrt(cc * (2 - cc) * mueff) * step
        art = (ys[order] - old) / sigma
        c = ((1 - c1 - cmu) * c + c1 * (np.outer(pc, pc) + (1 - hsig) * cc * (2 - cc) * c)
             + cmu * art.T @ np.diag(w) @ art)
        sigma *= math.exp((cs / damps) * (np.linalg.norm(ps) / chi_n - 1))
        c = np.triu(c) + np.triu(c, 1).T
        eigen, b = np.linalg.eigh(c)
        d = np.sqrt(np.maximum(eigen, 1e-20))
        generation += 1
    session.progress.stop()
    return result


__all__ = ["BaselineResult", "cma_es"]
