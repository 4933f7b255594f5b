"""The objective's goal term: zero once the target reaches the coverage goal (plus a small
aim), growing with the square of the shortfall below it, and its gradient asks for more field.
Synthetic cells: a row of equal cells along x, the target the half x < 0, the field falling
linearly with x, so the covered share of the target is known in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.optimise.model import Response
from epsim.optimise.objective import Goals, Structure, Weights, field_terms, total

jax.config.update("jax_enable_x64", True)

N = 2000
X = jnp.linspace(-1.0, 1.0, N)  # m, cell centroids along x
THRESHOLD = 400e2  # V/m


def goals(goal: float, weight: float = Weights().goal) -> Goals:
    target = Structure("tumour", lambda c: c[:, 0])  # inside where x < 0
    return Goals(threshold=THRESHOLD, targets=(target,), spares=(),
                 domain_distance=lambda p: jnp.zeros(p.shape[:-1]), exit_point=None,
                 coverage_goal=goal, weights=Weights(goal=weight), membership_width=1e-3)


def response(scale) -> Response:
    """e = scale (1 - x) T / 1.5 along the row: it reaches T where x = 1 - 1.5 / scale (at
    x = -0.5, half the target, when scale is 1)."""
    e = scale * (1.0 - X) * THRESHOLD / 1.5
    centroids = jnp.stack([X, jnp.zeros(N), jnp.zeros(N)], axis=1)
    return Response(e_mag=e[None], current=jnp.zeros(1), volumes=jnp.full(N, 1.0 / N),
                    centroids=centroids, e_irr=jnp.full(N, 1e9),
                    min_volume_ratio=jnp.asarray(1.0), converged=jnp.asarray(True))


def covered_share(scale: float) -> float:
    """The exact share of the target (x in [-1, 0]) where e >= T."""
    crossing = 1.0 - 1.5 / scale
    return float(np.clip((crossing + 1.0) / 1.0, 0.0, 1.0))


def test_zero_at_the_goal_and_quadratic_below():
    assert covered_share(1.0) == pytest.approx(0.5)
    # a field that covers 50 % of the target: short of a 99 % goal by 49.3 points (the aim)
    shortfall = 0.99 + Goals.goal_aim - 0.5
    terms, _ = field_terms(goals(0.99), None, response(1.0))
    assert float(terms["goal"]) == pytest.approx((shortfall / 0.01) ** 2, rel=0.02)
    terms, _ = field_terms(goals(0.40), None, response(1.0))
    assert float(terms["goal"]) == 0.0  # goal met: the term is off
    terms, _ = field_terms(goals(0.0), None, response(1.0))
    assert float(terms["goal"]) == 0.0  # no goal given


def test_the_goal_term_asks_for_more_field_below_the_goal():
    def objective(scale, goal, weight):
        terms, _ = field_terms(goals(goal, weight), None, response(scale))
        return total(goals(goal, weight), {**terms, "spacing": 0.0, "keep_out": 0.0,
                                            "entry": 0.0, "domain": 0.0})

    without = jax.grad(objective)(1.0, 0.0, 0.0)
    below = jax.grad(objective)(1.0, 0.99, Weights().goal)
    assert without < 0  # more field, more coverage: lower objective
    assert below < 10 * without  # the goal term pulls an order of magnitude harder
    met = jax.grad(objective)(1.0, 0.40, Weights().goal)
    assert float(met) == pytest.approx(float(without), rel=1e-12)
