"""The robust planning objective (issue 14, must-show 3): the CVaR estimator on known
distributions, and robust == nominal (value and gradient) when every perturbation is zero."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.optimise.evaluate import planning_objective
from epsim.optimise.plan import Plan
from epsim.optimise.robust import RobustWeights, cvar, robust_objective
from tests.helpers.scenes import MM, layout, small_case


def test_cvar_of_equally_likely_losses():
    """The mean of the worst 1 - alpha share, the boundary loss with its fraction."""
    losses = jnp.arange(1.0, 11.0)[::-1]  # order does not matter
    assert float(cvar(losses, 0.8)) == pytest.approx((10 + 9) / 2)
    assert float(cvar(losses, 0.75)) == pytest.approx((10 + 9 + 0.5 * 8) / 2.5)
    assert float(cvar(losses, 0.0)) == pytest.approx(5.5)  # alpha 0: the mean
    grad = jax.grad(lambda x: cvar(x, 0.75))(jnp.arange(1.0, 11.0))
    np.testing.assert_allclose(grad, [0] * 7 + [0.2, 0.4, 0.4])


@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_cvar_of_an_exponential_distribution(alpha):
    """Losses ~ Exp(1): CVaR_alpha = VaR_alpha + 1 = 1 - log(1 - alpha) (memorylessness);
    the estimator on 400000 samples within 1 %."""
    losses = jax.random.exponential(jax.random.PRNGKey(0), (400_000,), dtype=jnp.float64)
    assert float(cvar(losses, alpha)) == pytest.approx(1.0 - np.log(1.0 - alpha), rel=0.01)


@pytest.fixture(scope="module")
def case():
    scene, goals, needles, plan = small_case(2, size=8.0, electrode_size=1.2, voltage=900.0)
    tip, axis = layout(needles, plan)
    data = scene.mesh_data(scene.mesh(tip, axis, np.asarray(needles.length)), tip, axis)
    point = Plan(shift=jnp.asarray(np.random.default_rng(2).uniform(-0.3, 0.3, (2, 3)) * MM),
                 tilt=jnp.full((2, 2), 0.005), voltage=jnp.array([1100.0]))
    return needles, data, goals, point


@pytest.mark.slow
def test_robust_equals_nominal_at_zero_perturbation(case):
    """Two zero scenarios, weights 0.5/0.5: value and gradient of the nominal objective to
    1e-10; scenarios that move the needles change the value."""
    needles, data, goals, point = case
    scale = jnp.ones(1)

    def nominal(plan):
        return planning_objective(plan, needles, data, goals, scale)[0]

    def robust(plan, shifts, tilts):
        return robust_objective(plan, needles, data, goals, scale, shifts, tilts,
                                RobustWeights(0.5, 0.5, 0.9))[0]

    zero_shifts, zero_tilts = jnp.zeros((2, 2, 3)), jnp.zeros((2, 2, 2))
    value, grad = eqx.filter_jit(jax.value_and_grad(nominal))(point)
    robust_and_grad = eqx.filter_jit(jax.value_and_grad(robust))
    r_value, r_grad = robust_and_grad(point, zero_shifts, zero_tilts)
    assert abs(float(r_value) - float(value)) <= 1e-10 * abs(float(value))
    for leaf in ("shift", "tilt", "voltage"):
        a, b = np.asarray(getattr(r_grad, leaf)), np.asarray(getattr(grad, leaf))
        assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b)), leaf
    moved = zero_shifts.at[:, 0, 0].set(jnp.array([-1.0, 1.0]) * MM)
    assert abs(float(robust_and_grad(point, moved, zero_tilts)[0]) - float(value)) > 1e-6
