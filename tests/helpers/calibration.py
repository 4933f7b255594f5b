"""The twin experiment of `epsim calibrate`: four needles in liver on a coarse mesh, synthetic
currents from known parameters with multiplicative noise, and fits from perturbed starts
(tests/calibrate and benchmarks/bench_calibrate.py)."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import yaml

from epsim.calibrate.measurements import Measurements
from epsim.calibrate.parameters import log_parameter, parse_parameters
from epsim.calibrate.problem import CalibrationProblem, calibration_problem
from epsim.config import load_config
from epsim.runner import setup_config
from epsim.translate import mesh_of

FOUR_NEEDLES = """
name: four needles twin
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [24, 24, 20], material: liver}
  mesh: {size: 10, electrode_size: 1.5}
electrodes:
  - {name: a, type: needle, tip: [-5, -5, -5], entry: [-5, -5, 20], diameter: 1.2, active_length: 10}
  - {name: b, type: needle, tip: [5, -5, -5], entry: [5, -5, 20], diameter: 1.2, active_length: 10}
  - {name: c, type: needle, tip: [5, 5, -5], entry: [5, 5, 20], diameter: 1.2, active_length: 10}
  - {name: d, type: needle, tip: [-5, 5, -5], entry: [-5, 5, 20], diameter: 1.2, active_length: 10}
protocol:
  pulses: {count: 8, width: 100, rate: "1 Hz"}
  pairs:
    - {anode: a, cathode: b, voltage: 1000}
physics: {conductivity: nonlinear}
solver: {preconditioner: amg}
device: {max_voltage: 3000, max_current: "50 A"}
"""
PAIRS = tuple(combinations("abcd", 2))  # six pairs
VOLTAGES = (500.0, 1000.0, 1500.0)
# the truth: liver's sigma0 30 % above the library's, its ratio sigma1/sigma0 20 % below
TRUTH = {"liver.sigma0": 0.08 * 1.3, "liver.ratio": 4.0 * 0.8, "liver.e_rev": 35000.0 * 1.1}


def write_twin_config(folder: Path, name: str = "twin.yaml") -> Path:
    path = Path(folder) / name
    path.write_text(FOUR_NEEDLES)
    return path


def protocol(voltages=VOLTAGES, extra=()) -> list[tuple[str, str, float]]:
    """Every pair at every voltage, then the `extra` (anode, cathode, voltage) pulses."""
    return [(a, c, v) for a, c in PAIRS for v in voltages] + list(extra)


def measurements(rows, current=None, source="twin") -> Measurements:
    anode, cathode, voltage = zip(*rows)
    n = len(rows)
    current = np.ones(n) if current is None else np.asarray(current)
    return Measurements(anode, cathode, np.asarray(voltage), current,
                        np.zeros(n, dtype=np.int64), np.full(n, np.nan), source)


class Twin:
    """The four-needle config on its coarse mesh (meshed without the cache), prepared once."""

    def __init__(self, folder: Path):
        self.cfg = load_config(write_twin_config(folder))
        self.mesh = mesh_of(self.cfg, use_cache=False)
        self.setup = setup_config(self.cfg, self.mesh)

    def problem(self, rows, kinds=("sigma0", "ratio")) -> CalibrationProblem:
        params = parse_parameters([f"liver.{k}" for k in kinds], self.mesh.region_names,
                                  self.setup.model.models)
        return calibration_problem(self.cfg, self.mesh, measurements(rows), params, self.setup)

    @staticmethod
    def truth(problem: CalibrationProblem) -> np.ndarray:
        """The true log-parameters of the problem's parameters."""
        return np.array([log_parameter(p.kind, TRUTH[p.name]) for p in problem.params])

    def exact(self, problem: CalibrationProblem) -> np.ndarray:
        """(n,) A, the currents of the truth, computed once per problem."""
        if not hasattr(problem, "exact"):
            value, _, ok = problem.evaluate(self.truth(problem))
            assert ok
            problem.exact = np.exp(value[problem.rows])
        return problem.exact

    def observe(self, problem: CalibrationProblem, seed: int, noise: float = 0.02):
        """The problem with currents of the truth times (1 + noise * N(0, 1)), fixed seed."""
        rng = np.random.default_rng(seed)
        exact = self.exact(problem)
        problem.measurements = replace(
            problem.measurements, current=exact * (1.0 + noise * rng.standard_normal(len(exact))))
        return problem


def start(problem: CalibrationProblem, seed: int) -> np.ndarray:
    """Log-parameters of a start between 0.5 and 2 times the true values (log-uniform factors),
    fixed seed."""
    rng = np.random.default_rng(10_000 + seed)
    factors = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=len(problem.params)))
    return np.array([log_parameter(p.kind, f * TRUTH[p.name])
                     for p, f in zip(problem.params, factors)])


def twin_config_data() -> dict:
    return yaml.safe_load(FOUR_NEEDLES)
