"""The calibration report (report.txt and the command's output): estimates, intervals,
correlations, what the data do not identify, residuals per pair."""

from __future__ import annotations

import numpy as np

from epsim.calibrate.fit import NOT_IDENTIFIED, Fit, not_identified
from epsim.calibrate.parameters import UNITS


def _g(value: float) -> str:
    return f"{value:.4g}"


def residuals_by_pair(measurements, predicted) -> list[tuple[str, int, float, float]]:
    """(pair label, pulses, mean, rms) of measured / predicted - 1 per pair, in order of first
    appearance."""
    residual = measurements.current / predicted - 1.0
    groups: dict[str, list[float]] = {}
    for a, c, r in zip(measurements.anode, measurements.cathode, residual):
        groups.setdefault(f"{a} -> {c}", []).append(r)
    return [(label, len(r), float(np.mean(r)), float(np.sqrt(np.mean(np.square(r)))))
            for label, r in groups.items()]


def report_text(name: str, params, fit: Fit, measurements, predicted, *, noise: float,
                n_cells: int, n_solves: int, seconds: float) -> str:
    """The report as text, SI units with the unit named on every line."""
    names = [p.name for p in params]
    low, high = fit.interval(params)
    values = fit.values(params)
    ratio = fit.variance_ratio()
    chi2 = float(np.sum((np.log(measurements.current / predicted) / noise) ** 2))
    lines = [
        f"epsim calibrate: {name}",
        f"data: {len(measurements)} measured pulse(s) from {measurements.source} "
        f"({n_solves} distinct solve(s)); relative noise {noise:g}",
        f"fit: maximum a posteriori, Levenberg-Marquardt, {fit.iterations} step(s), "
        f"{fit.evaluations} forward-map evaluation(s) on {n_cells} cells, "
        f"{'converged' if fit.converged else 'NOT CONVERGED'}, {seconds:.1f} s; "
        f"chi^2 of the data {chi2:.3g} for {len(measurements)} pulse(s)",
        "",
        f"{'parameter':<24} {'unit':<5} {'prior median':>12} {'estimate':>10} "
        f"{'95 % interval':>21} {'post/prior var':>14}",
    ]
    for k, p in enumerate(params):
        interval = f"{_g(low[k])} .. {_g(high[k])}"
        lines.append(f"{p.name:<24} {UNITS[p.kind]:<5} {_g(p.median):>12} "
                     f"{_g(values[k]):>10} {interval:>21} {ratio[k]:>14.3g}")
    if len(params) > 1:
        lines += ["", "correlations (log-parameters):"]
        width = max(len(n) for n in names)
        for k, n in enumerate(names):
            row = " ".join(f"{c:+.2f}" for c in fit.correlation[k])
            lines.append(f"  {n:<{width}} {row}")
    flagged = not_identified(fit, names)
    lines.append("")
    if flagged:
        lines.append(f"not identified (the data did not halve the prior standard deviation, "
                     f"posterior/prior variance over {NOT_IDENTIFIED:g}):")
        lines += [f"  {label}: {r:.2f} of the prior variance left" for label, r in flagged]
    else:
        lines.append("every parameter identified (posterior/prior variance at most "
                     f"{NOT_IDENTIFIED:g}, also for correlated pairs)")
    lines += ["", "residuals per pair (measured / predicted - 1):"]
    for label, count, mean, rms in residuals_by_pair(measurements, predicted):
        lines.append(f"  {label}: {count} pulse(s), mean {mean:+.2%}, rms {rms:.2%}")
    return "\n".join(lines) + "\n"
