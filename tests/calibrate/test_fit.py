"""The MAP fit and its Laplace posterior against closed forms: for a linear forward map with a
Gaussian prior the posterior is Gaussian, its mean and covariance known exactly."""

import numpy as np

from epsim.calibrate.fit import MAX_LOG_STEP, map_fit, not_identified, pair_variance_ratio


def linear_case(seed=0, n=12, p=3):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, p))
    truth = rng.normal(size=p)
    noise = 0.05
    y = a @ truth + noise * rng.normal(size=n)
    mu, sd = np.zeros(p), np.full(p, 2.0)
    return a, y, noise, mu, sd


def test_linear_gaussian_posterior_is_exact():
    """LM converges to the posterior mean (A^T A / s^2 + P)^-1 (A^T y / s^2 + P mu) and the
    Laplace covariance equals (A^T A / s^2 + P)^-1, P the prior precision."""
    a, y, noise, mu, sd = linear_case()
    rows = np.arange(len(y))
    calls = []

    def evaluate(theta):
        calls.append(theta)
        return a @ theta, a, True

    fit = map_fit(evaluate, y, rows, noise, mu, sd, mean_start := np.full(3, 5.0))
    precision = a.T @ a / noise**2 + np.diag(1 / sd**2)
    mean = np.linalg.solve(precision, a.T @ y / noise**2 + mu / sd**2)
    assert fit.converged
    # the stopping rule (decrement below 1e-10) leaves the optimum within 1e-5 of a posterior sd
    assert np.max(np.abs(fit.theta - mean) / fit.sd) < 1e-4
    np.testing.assert_allclose(fit.covariance, np.linalg.inv(precision), rtol=1e-9)
    # a quadratic cost: full Gauss-Newton steps once the step bound (a factor e per step in
    # values) no longer cuts them
    bounded = int(np.ceil(np.max(np.abs(mean - mean_start)) / MAX_LOG_STEP))
    assert len(calls) <= bounded + 3


def test_rows_share_solves_and_a_failed_trial_is_rejected():
    """Repeated measurements of one solve count once each; a trial step whose forward map
    fails is rejected and the fit still ends at the optimum."""
    a, y, noise, mu, sd = linear_case(seed=1, n=4)
    rows = np.array([0, 1, 2, 3, 3, 3])  # the last solve measured three times
    y_rows = np.concatenate([y, y[3:] + [0.01, -0.01]])
    failed = []

    def evaluate(theta):
        if not failed and not np.allclose(theta, 0.0):
            failed.append(theta)
            return np.full(4, np.nan), a, False
        return a @ theta, a, True

    fit = map_fit(evaluate, y_rows, rows, noise, mu, sd, np.zeros(3))
    weights = np.bincount(rows)
    precision = a.T @ (weights[:, None] * a) / noise**2 + np.diag(1 / sd**2)
    rhs = a.T @ np.bincount(rows, weights=y_rows) / noise**2 + mu / sd**2
    assert failed and fit.converged
    assert np.max(np.abs(fit.theta - np.linalg.solve(precision, rhs)) / fit.sd) < 1e-4


def test_identifiability_of_a_combination():
    """Two parameters the data see only through their sum: each alone and their difference keep
    much of the prior variance and are flagged; a third, seen alone, is identified."""
    a = np.array([[1.0, 1.0, 0.0]] * 5 + [[0.0, 0.0, 1.0]] * 5)
    y = a @ np.array([0.3, -0.2, 0.5])
    fit = map_fit(lambda t: (a @ t, a, True), y, np.arange(10), 0.01, np.zeros(3),
                  np.ones(3), np.zeros(3))
    assert pair_variance_ratio(fit.covariance, fit.prior_sd, 0, 1) > 0.99  # x0 - x1: unseen
    flagged = dict(not_identified(fit, ["x0", "x1", "x2"]))
    assert set(flagged) == {"x0", "x1", "x0 with x1"}
    np.testing.assert_allclose(flagged["x0"], 0.5, rtol=1e-3)  # half the prior variance left
