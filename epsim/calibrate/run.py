"""`epsim calibrate CONFIG --measurements FILE.csv -o DIR`: read, check, fit, write.

Every input is checked before any work (the measurements against the config's electrodes and
device, the parameters against its materials, the outputs against what exists): bad input is one
line, exit code 2, and nothing written. Then the mesh, the fit, and DIR/materials.yaml,
DIR/posterior.h5 and DIR/report.txt published together (`epsim.io.publish.Publication`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epsim.calibrate.measurements import read_measurements
from epsim.calibrate.output import materials_yaml, posterior_samples, write_posterior
from epsim.calibrate.parameters import parse_parameters, touching_materials
from epsim.calibrate.problem import calibration_problem
from epsim.calibrate.report import report_text
from epsim.config import load_config, resolved_to_yaml
from epsim.errors import InputError, SolverError
from epsim.io.publish import Publication
from epsim.runner import setup_config
from epsim.translate import check_materials, electrode_layout, material_model, mesh_of

OUTPUTS = ("materials.yaml", "posterior.h5", "report.txt")
MAX_SAMPLES = 1_000_000


@dataclass(frozen=True)
class CalibrationReport:
    """What `run_calibration` did: the report text, the files written, the fit."""

    text: str
    written: list
    fit: object
    names: list


def check_options(noise: float, samples: int) -> None:
    if not (math.isfinite(noise) and 0 < noise < 1):
        raise InputError(f"--noise {noise!r}: the relative noise must be a number in (0, 1), "
                         "for example 0.02 for 2 %")
    if not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"--samples {samples}: must be from 1 to {MAX_SAMPLES}")


def run_calibration(config, measurements, out, *, fit=(), noise: float = 0.02,
                    samples: int = 1000, seed: int = 0, overwrite: bool = False,
                    use_cache: bool = True, progress=None) -> CalibrationReport:
    """Fit the config's tissue parameters to the measured currents and write DIR's files.

    Args:
        config: the config file; measurements: the CSV file (`epsim.calibrate.measurements`).
        out: the output folder; fit: `MATERIAL.KIND[:CV]` strings (default: sigma0 and ratio
            of the materials touching the electrodes); noise: relative noise of a current;
        samples, seed: posterior samples written to posterior.h5.
    Raises:
        InputError (exit 2) before any work; SolverError when the forward map fails at the
        start.
    """
    started = time.perf_counter()
    cfg = load_config(config)
    check_options(noise, samples)
    layout = electrode_layout(cfg)
    data = read_measurements(measurements, layout.names, cfg.device.max_voltage)
    if fit:  # names checked before meshing; region indices come from the mesh below
        names = tuple(cfg.materials)
        parse_parameters(fit, names, [material_model(cfg, n) for n in names])
    paths = [Path(out) / name for name in OUTPUTS]
    publication = Publication(paths, overwrite=overwrite)
    mesh = mesh_of(cfg, layout, use_cache=use_cache, progress=progress)
    check_materials(cfg, mesh)
    if progress:
        progress(f"preparing {mesh.n_cells} cells")
    setup = setup_config(cfg, mesh, layout.names)
    params = parse_parameters(fit, mesh.region_names, setup.model.models,
                              touching_materials(mesh, layout.names))
    problem = calibration_problem(cfg, mesh, data, params, setup)
    if progress:
        progress(f"fitting {len(params)} parameter(s) to {len(data)} pulse(s)")
    try:
        result = problem.fit(noise)
    except ValueError as exc:
        raise SolverError(f"calibration: {exc} (a pulse did not converge)") from None
    predicted = np.exp(result.log_current[problem.rows])
    text = report_text(cfg.name, params, result, data, predicted, noise=noise,
                       n_cells=mesh.n_cells, n_solves=len(problem.solves),
                       seconds=time.perf_counter() - started)
    drawn = posterior_samples(result, params, samples, seed)
    with publication:
        staged = {name: publication.staged(path) for name, path in zip(OUTPUTS, paths)}
        staged["materials.yaml"].write_text(
            materials_yaml(cfg, params, result, data.source, noise), encoding="utf-8")
        write_posterior(staged["posterior.h5"], resolved_to_yaml(cfg), params, result, data,
                        predicted, drawn, noise=noise, seed=seed)
        staged["report.txt"].write_text(text, encoding="utf-8")
    return CalibrationReport(text, list(publication.published), result, problem.names)
