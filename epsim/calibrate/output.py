"""What a calibration writes: `materials.yaml` (a config's `materials:` block with units),
`posterior.h5` (the Laplace posterior and samples of it; `epsim.io.posterior` reads it back).

posterior.h5 (every dataset with a `units` attribute; per-parameter units in `units`):

    /parameters/names, material, kind     (p,) utf-8
    /parameters/map                       (p,) SI values at the optimum
    /parameters/log_map, log_covariance   (p,), (p, p) of the log-parameters (log(value);
                                          for a ratio log(ratio - 1))
    /parameters/prior_log_mean, prior_log_sd, variance_ratio   (p,)
    /samples                              (n, p) SI values drawn from the posterior
    /measurements/anode, cathode, voltage V, current A, predicted A, residual 1
    root attributes: format "epsim-posterior", format_version 1, epsim_version, config (the
        resolved YAML), created, noise (relative), seed, source (the measurements file)
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from epsim.calibrate.fit import Fit
from epsim.calibrate.parameters import SLOT, UNITS, Parameter, parameter_value
from epsim.config.schema import ResolvedConfig
from epsim.io.hdf5 import write_hdf5
from epsim.io.posterior import FORMAT, FORMAT_VERSION



def fitted_materials(cfg: ResolvedConfig, params: tuple[Parameter, ...], theta) -> dict:
    """name -> {sigma0, sigma1, e_rev, e_irr} (SI) of every material with a fitted parameter:
    sigma0 and sigma1 scale with the fitted sigma0, sigma1 also with the ratio, both thresholds
    with the fitted e_rev (`epsim.calibrate.parameters`)."""
    factors: dict[str, list[float]] = {}
    for p, t in zip(params, theta):
        value = parameter_value(p.kind, t)
        factors.setdefault(p.material, [1.0, 1.0, 1.0])[SLOT[p.kind]] = value / p.median
    out = {}
    for name, (f_sigma, f_ratio, f_field) in factors.items():
        m = cfg.materials[name]
        out[name] = {"sigma0": m.sigma0 * f_sigma, "sigma1": m.sigma1 * f_sigma * f_ratio,
                     "e_rev": m.e_rev * f_field, "e_irr": m.e_irr * f_field}
    return out


def _g(value: float) -> str:
    return f"{value:.6g}"


def materials_yaml(cfg: ResolvedConfig, params, fit: Fit, source: str, noise: float) -> str:
    """The `materials:` block of the MAP estimate, values with units, and a provenance note
    with the 95 % intervals (a config may copy the block as it is)."""
    low, high = fit.interval(params)
    intervals = "; ".join(f"{p.name} {_g(lo)} .. {_g(hi)} {UNITS[p.kind]}"
                          for p, lo, hi in zip(params, low, high))
    lines = [
        f"# epsim calibrate: maximum a posteriori parameters fitted to {Path(source).name}",
        f"# (relative noise {noise:g}); 95 % intervals (Laplace, log-normal): {intervals}",
        "# Copy this block into a config's `materials:` section.",
        "materials:",
    ]
    for name, values in fitted_materials(cfg, params, fit.theta).items():
        fitted = ", ".join(p.kind for p in params if p.material == name)
        note = (f"calibrated by epsim calibrate ({fitted}) from the currents in "
                f"{Path(source).name}; 95 % intervals: {intervals}")
        lines += [
            f"  {name}:",
            f"    sigma0: {_g(values['sigma0'])} S/m",
            f"    sigma1: {_g(values['sigma1'])} S/m",
            f"    e_rev: {_g(values['e_rev'] * 1e-2)} V/cm",
            f"    e_irr: {_g(values['e_irr'] * 1e-2)} V/cm",
            "    provenance:",
            f"      electrical: {json.dumps(note)}",  # a JSON string is a YAML string
        ]
    return "\n".join(lines) + "\n"


def posterior_samples(fit: Fit, params, n: int, seed: int) -> np.ndarray:
    """(n, p) parameter values (SI) drawn from the Laplace posterior of the log-parameters."""
    rng = np.random.default_rng(seed)
    theta = rng.multivariate_normal(fit.theta, fit.covariance, size=n, method="cholesky")
    return np.stack([parameter_value(p.kind, theta[:, k]) for k, p in enumerate(params)], axis=1)


def write_posterior(path, cfg_yaml: str, params, fit: Fit, measurements, predicted,
                    samples: np.ndarray, *, noise: float, seed: int) -> Path:
    """posterior.h5 (layout in the module's docstring), atomically."""

    def fill(f):
        import h5py

        from epsim import __version__

        strings = h5py.string_dtype("utf-8")
        f.attrs.update({
            "format": FORMAT, "format_version": FORMAT_VERSION, "epsim_version": __version__,
            "config": cfg_yaml, "noise": noise, "seed": seed, "source": measurements.source,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
        units = [UNITS[p.kind] for p in params]
        g = f.create_group("parameters")
        for key, values in (("names", [p.name for p in params]),
                            ("material", [p.material for p in params]),
                            ("kind", [p.kind for p in params])):
            g.create_dataset(key, data=values, dtype=strings).attrs["units"] = "1"
        g.create_dataset("map", data=fit.values(params)).attrs["units"] = units
        for key, value in (("log_map", fit.theta), ("log_covariance", fit.covariance),
                           ("prior_log_mean", fit.prior_mean), ("prior_log_sd", fit.prior_sd),
                           ("variance_ratio", fit.variance_ratio())):
            g.create_dataset(key, data=value).attrs["units"] = "1"
        d = f.create_dataset("samples", data=samples)
        d.attrs["units"] = units
        d.attrs.create("names", [p.name for p in params], dtype=strings)
        m = f.create_group("measurements")
        m.create_dataset("anode", data=list(measurements.anode), dtype=strings)
        m.create_dataset("cathode", data=list(measurements.cathode), dtype=strings)
        for key, value, unit in (("voltage", measurements.voltage, "V"),
                                 ("current", measurements.current, "A"),
                                 ("predicted", predicted, "A"),
                                 ("residual", measurements.current / predicted - 1.0, "1")):
            m.create_dataset(key, data=np.asarray(value, dtype=float)).attrs["units"] = unit

    return write_hdf5(path, fill)
