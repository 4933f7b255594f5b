"""Maximum a posteriori fit by Levenberg-Marquardt, and the Laplace posterior around it.

The negative log posterior in the log-parameters theta (p,) is half the squared norm of

    r(theta) = [ (f(theta)[row] - log I_measured) / noise ,  (theta - mu) / s ]

with f the forward map (log currents, `epsim.calibrate.forward`), `noise` the relative
measurement noise (a log-normal error of the current) and (mu, s) the log-normal prior. The
Gauss-Newton matrix J^T J of that residual at the optimum is the Laplace approximation of the
posterior precision (exact for a linear forward map; Bishop 2006, Pattern Recognition and
Machine Learning, section 4.4). Levenberg-Marquardt with Marquardt's diagonal scaling (Nocedal &
Wright 2006, Numerical Optimization, section 10.3) damps the steps while far from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from epsim.calibrate.parameters import parameter_value

# A parameter (or a combination of two) is not identified when the data did not halve its prior
# standard deviation (posterior/prior variance above 1/4): an engineering threshold of epsim.
NOT_IDENTIFIED = 0.25
CONFOUNDED = 0.5  # |correlation| above which a pair's combination is reported as such
MAX_LOG_STEP = 1.0  # at most a factor e per step: the forward solves stay in range


@dataclass(frozen=True)
class Fit:
    """A MAP estimate and its Laplace posterior, in log-parameters (`epsim.calibrate.parameters`).

    Attributes:
        theta: (p,) log values at the optimum; covariance: (p, p) posterior covariance.
        prior_mean, prior_sd: (p,) the log-normal prior.
        log_current: (n_solves,) forward map at the optimum; jacobian: (n_solves, p).
        cost: half the squared residual norm at the optimum.
        iterations: accepted and rejected LM steps; evaluations: forward-map calls.
        converged: the Gauss-Newton decrement fell below its tolerance, or the steps stalled.
    """

    theta: np.ndarray
    covariance: np.ndarray
    prior_mean: np.ndarray
    prior_sd: np.ndarray
    log_current: np.ndarray
    jacobian: np.ndarray
    cost: float
    iterations: int
    evaluations: int
    converged: bool

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    @property
    def correlation(self) -> np.ndarray:
        return self.covariance / np.outer(self.sd, self.sd)

    def variance_ratio(self) -> np.ndarray:
        """Posterior over prior variance of each log-parameter, (p,): near 1, the data taught
        nothing about it."""
        return np.diag(self.covariance) / self.prior_sd**2

    def values(self, params) -> np.ndarray:
        """The estimate as parameter values (SI), (p,)."""
        return np.array([parameter_value(p.kind, t) for p, t in zip(params, self.theta)])

    def interval(self, params, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
        """The central interval of the posterior (95 % by default), in parameter values."""
        ends = [[parameter_value(p.kind, t + s * z * sd) for p, t, sd in
                 zip(params, self.theta, self.sd)] for s in (-1.0, 1.0)]
        return np.array(ends[0]), np.array(ends[1])


def pair_variance_ratio(covariance, prior_sd, i: int, j: int) -> float:
    """The largest posterior/prior variance ratio over combinations of parameters i and j:
    the top eigenvalue of the prior-scaled 2x2 posterior covariance."""
    index = [i, j]
    scaled = covariance[np.ix_(index, index)] / np.outer(prior_sd[index], prior_sd[index])
    return float(np.linalg.eigvalsh(scaled)[-1])


def not_identified(fit: Fit, names) -> list[tuple[str, float]]:
    """What the data do not identify: (label, posterior/prior variance ratio) for every
    parameter above NOT_IDENTIFIED, and every correlated pair (|correlation| above CONFOUNDED)
    whose worst combination is (`pair_variance_ratio`)."""
    ratio, corr = fit.variance_ratio(), fit.correlation
    flagged = [(names[k], float(ratio[k])) for k in range(len(names)) if ratio[k] > NOT_IDENTIFIED]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = pair_variance_ratio(fit.covariance, fit.prior_sd, i, j)
            if r > NOT_IDENTIFIED and abs(corr[i, j]) > CONFOUNDED:
                flagged.append((f"{names[i]} with {names[j]}", r))
    return flagged


def _augmented(value, jacobian, rows, y, noise, theta, mu, s):
    r = np.concatenate([(value[rows] - y) / noise, (theta - mu) / s])
    j = np.vstack([jacobian[rows] / noise, np.diag(1.0 / s)])
    return r, j


def map_fit(
    evaluate: Callable, y: np.ndarray, rows: np.ndarray, noise: float,
    prior_mean: np.ndarray, prior_sd: np.ndarray, theta0: np.ndarray, *,
    max_iterations: int = 50, dtol: float = 1e-10, ftol: float = 1e-6,
) -> Fit:
    """Levenberg-Marquardt from theta0.

    Args:
        evaluate: theta (p,) -> (log currents (n_solves,), Jacobian (n_solves, p), ok) with ok
            False when a solve failed.
        y: (n,) log measured currents; rows: (n,) the solve of each measurement.
        noise: relative noise of a measured current (standard deviation of its log).
        prior_mean, prior_sd: (p,) log-normal prior; theta0: (p,) start.
        dtol: stop when the Gauss-Newton decrement g^T H^-1 g (twice the cost a full step
            would still gain) is below it: far below the posterior's scale, where cost
            differences of order 1 matter; ftol: or when an accepted step gained less than
            it and moved less than a hundredth of a posterior standard deviation.
    Raises:
        ValueError: the forward map fails at theta0.
    """
    theta = np.asarray(theta0, dtype=float)
    value, jac, ok = evaluate(theta)
    if not ok:
        raise ValueError("the forward map failed at the starting parameters")
    r, j = _augmented(value, jac, rows, y, noise, theta, prior_mean, prior_sd)
    cost, lam, evaluations, converged, k = 0.5 * r @ r, 1e-3, 1, False, 0
    for k in range(1, max_iterations + 1):
        g, h = j.T @ r, j.T @ j
        newton = np.linalg.solve(h, -g)
        if -g @ newton < dtol:  # the Gauss-Newton decrement: the optimum is this close
            converged = True
            break
        step = np.linalg.solve(h + lam * np.diag(np.diag(h)), -g)
        step *= min(1.0, MAX_LOG_STEP / np.max(np.abs(step)))
        trial = theta + step
        t_value, t_jac, t_ok = evaluate(trial)
        evaluations += 1
        t_cost = np.inf
        if t_ok:
            t_r, t_j = _augmented(t_value, t_jac, rows, y, noise, trial, prior_mean, prior_sd)
            t_cost = 0.5 * t_r @ t_r
        if t_cost <= cost:
            # A step that gains almost nothing and moves a hundredth of a standard deviation:
            # a stationary point (with large residuals Gauss-Newton's decrement stalls there).
            stalled = (cost - t_cost < ftol
                       and np.max(np.abs(step) / np.sqrt(np.diag(np.linalg.inv(h)))) < 1e-2)
            theta, value, jac, r, j = trial, t_value, t_jac, t_r, t_j
            cost, lam = t_cost, max(lam / 3.0, 1e-9)
            if stalled:
                converged = True
                break
        else:
            lam *= 4.0
    else:
        g, h = j.T @ r, j.T @ j
        converged = bool(-g @ np.linalg.solve(h, -g) < dtol)
    covariance = np.linalg.inv(j.T @ j)
    return Fit(theta, 0.5 * (covariance + covariance.T), np.asarray(prior_mean),
               np.asarray(prior_sd), np.asarray(value), np.asarray(jac), float(cost), k,
               evaluations, converged)
