"""The parameters a calibration fits, their log-normal priors, and the conductivity they give.

A parameter is one number of one material, fitted in log space:

    sigma0   S/m   conductivity of intact tissue (sigma1 moves with it: the ratio stays)
    ratio    1     sigma1 / sigma0, fitted as log(ratio - 1): the rise stays positive, as the
                   convex energy needs (docs/physics.md, section 1)
    e_rev    V/m   the threshold: e_rev, with e_irr (and a logistic's centre and width) moving in
                   proportion, so that the rise keeps its shape

Its prior is log-normal (for the ratio: ratio - 1) with the median at the config's value (the
material library's, or the config's override) and a coefficient of variation `cv`
(docs/physics.md, section 2: library values are engineering defaults). Default
parameters: sigma0 and, for nonlinear physics, the ratio of every material touching an
electrode's conducting surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from epsim.errors import InputError
from epsim.mesh.tetmesh import TetMesh
from epsim.physics import Constant, Logistic, RegionConductivity
from epsim.physics.scaled import scaled_regions
from epsim.translate import LOGISTIC_WIDTH_FRACTION

KINDS = ("sigma0", "ratio", "e_rev")
UNITS = {"sigma0": "S/m", "ratio": "1", "e_rev": "V/m"}
# Default prior coefficients of variation: an engineering assumption of epsim (library values
# are defaults, not measurements of the patient; docs/physics.md, section 2).
DEFAULT_CV = {"sigma0": 0.5, "ratio": 0.5, "e_rev": 0.3}
SLOT = {"sigma0": 0, "ratio": 1, "e_rev": 2}  # the factor of `physics.scaled_model` it sets


@dataclass(frozen=True)
class Parameter:
    """One fitted number.

    Attributes:
        material: material name; region: its index among the material mesh's regions.
        kind: one of KINDS; median: prior median (SI, the config's value); cv: prior
            coefficient of variation.
    """

    material: str
    kind: str
    region: int
    median: float
    cv: float

    @property
    def name(self) -> str:
        return f"{self.material}.{self.kind}"

    @property
    def log_sd(self) -> float:
        """Standard deviation of the log-parameter under the prior."""
        return math.sqrt(math.log1p(self.cv**2))

    @property
    def log_median(self) -> float:
        """The log-parameter of the prior median."""
        return log_parameter(self.kind, self.median)


def log_parameter(kind: str, value: float) -> float:
    """The fitted log-parameter of a value: log(value), for the ratio log(ratio - 1)."""
    return math.log(value - 1.0) if kind == "ratio" else math.log(value)


def parameter_value(kind: str, theta, xp=np):
    """The value of a log-parameter (inverse of `log_parameter`); xp: numpy or jax.numpy."""
    return 1.0 + xp.exp(theta) if kind == "ratio" else xp.exp(theta)


def config_value(model, kind: str) -> float:
    """A material model's value of `kind` (SI)."""
    if kind == "sigma0":
        return float(model.sigma0)
    if kind == "ratio":
        return float(model.sigma1) / float(model.sigma0)
    if isinstance(model, Logistic):  # centre midway, width a fraction of e_irr - e_rev
        return float(model.e_mid - 0.5 * model.width / LOGISTIC_WIDTH_FRACTION)
    return float(model.e_rev)


def touching_materials(mesh: TetMesh, electrodes) -> tuple[int, ...]:
    """Indices of the mesh regions (materials) with a cell touching an electrode surface."""
    nodes = np.zeros(mesh.n_nodes, dtype=bool)
    for name in electrodes:
        nodes[mesh.facet_nodes(name)] = True
    cells = nodes[np.asarray(mesh.cells)].any(axis=1)
    return tuple(int(r) for r in np.unique(np.asarray(mesh.cell_region)[cells]))


def parse_parameters(specs, region_names, models, defaults=()) -> tuple:
    """Parameters from `MATERIAL.KIND[:CV]` strings (`--fit`), or sigma0 and (nonlinear models)
    the ratio of the regions `defaults` when `specs` is empty.

    Args:
        specs: the strings; region_names: material names, index = region;
        models: each region's conductivity model (its values are the prior medians).
    Raises:
        InputError: an unknown material or kind, a kind the material's model lacks (a ratio of a
            linear model), a cv that is not a positive number, a parameter named twice.
    """
    if not specs:
        specs = [f"{region_names[r]}.{k}" for r in defaults
                 for k in ("sigma0",) + (() if models[r].is_linear else ("ratio",))]
    params = []
    for spec in specs:
        head, _, cv_text = spec.partition(":")
        material, _, kind = head.rpartition(".")
        where = f"--fit {spec[:60]!r}"
        if material not in region_names:
            raise InputError(f"{where}: no material {material[:40]!r} in the scene "
                             f"(materials: {', '.join(region_names)})")
        if kind not in KINDS:
            raise InputError(f"{where}: unknown parameter {kind[:20]!r}; one of {', '.join(KINDS)}")
        region = list(region_names).index(material)
        if kind != "sigma0" and isinstance(models[region], Constant):
            raise InputError(f"{where}: {material} has a linear (constant) conductivity; "
                             "only sigma0 can be fitted")
        median = config_value(models[region], kind)
        if kind == "ratio" and not median > 1.0:
            raise InputError(f"{where}: {material} has sigma1 = sigma0; give it a sigma1 above "
                             "sigma0 to fit the ratio")
        params.append(Parameter(material, kind, region, median,
                                _cv(cv_text, DEFAULT_CV[kind], where)))
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise InputError(f"--fit names a parameter twice: {', '.join(names)}")
    return tuple(params)


def _cv(text: str, default: float, where: str) -> float:
    if not text:
        return default
    try:
        cv = float(text)
    except ValueError:
        cv = math.nan
    if not (math.isfinite(cv) and cv > 0):
        raise InputError(f"{where}: the prior cv {text[:20]!r} must be a positive number")
    return cv


def with_parameters(base: RegionConductivity, params: tuple, theta) -> RegionConductivity:
    """The conductivity with the log-parameters `theta` (p,) of `params` put into `base`
    (whose values are the parameters' medians). Differentiable in theta."""
    factors = [[1.0, 1.0, 1.0] for _ in base.models]
    for k, p in enumerate(params):
        factors[p.region][SLOT[p.kind]] = parameter_value(p.kind, theta[k], jnp) / p.median
    return scaled_regions(base, factors)


def prior_arrays(params: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and standard deviation of the log-parameters, (p,) each."""
    return (np.array([p.log_median for p in params]),
            np.array([p.log_sd for p in params]))
