"""A plan under uncertainty: needle placement errors and tissue conductivity drawn per scenario,
coverage quantiles and per-cell probabilities (`epsim run CONFIG --scenarios N`).

The uncertainty model (`Uncertainty`), per needle and independent:

    lateral   m    standard deviation of the tip's displacement in each direction normal to
                   the needle's axis
    depth     m    standard deviation along the axis
    angle     rad  standard deviation of the axis tilt towards each normal direction
    cv             each material's conductivity (sigma0 and sigma1 together) times a log-normal
                   factor of median 1 and this coefficient of variation, per material
    posterior      or the conductivity parameters of a random draw of `epsim calibrate`'s
                   posterior samples (names MATERIAL.KIND) in place of the cv factors

Every scenario is solved on the config's own mesh: one mesh, one compiled program for every
scenario. A scenario's placement error is split (`split_common`) into the needle array's common
rigid motion (mean displacement, mean tilt, about the mean tip) and each needle's remainder.
Where every structure has an analytic shape, the common motion is applied, inverted, to the
anatomy (the target and the tissue labels of the cells are those of the structures moved the
other way, exact on one mesh: the same problem seen from the needles); the remainder moves the
mesh nodes with the needles (`epsim.optimise.motion`, docs/design.md, section 4). Otherwise
(imported meshes, STL or image structures) the whole error moves the nodes. The field of a
scenario is read at the reference cell centroids (the cell of the moved mesh whose centroid is
nearest), so the target stays where it is while the needles move; tissue labels inside a
needle's halo move with it, an approximation of the conductivity field within a few
millimetres of the needle. A needle moved further than its mesh motion allows
(`LIMIT_FRACTION` of the halo width, or a cell shrinking below `MIN_VOLUME_RATIO` of its
volume: where the planner would remesh) is pulled back until inside, and the report says how
much of the drawn displacement the scenarios kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.config.schema import ResolvedConfig
from epsim.errors import InputError, SolverError
from epsim.io.posterior import read_posterior
from epsim.mesh.tetmesh import TetMesh, signed_volumes
from epsim.optimise.motion import (
    LIMIT_FRACTION,
    MIN_VOLUME_RATIO,
    build_motion,
    moved_points,
    shift_ratio,
)
from epsim.optimise.geometry import signed_distance_function
from epsim.optimise.plan import Needles, Plan, axes, make_needles, tips
from epsim.optimise.robust import frame_map, frame_rotation
from epsim.optimise.setup import read_request
from epsim.physics.scaled import scaled_regions
from epsim.runner import setup_config
from epsim.simulate import simulate
from epsim.translate import (
    electrode_layout,
    material_mesh,
    scene_mesh,
    scene_regions,
    scene_spec,
)

HALO = 10e-3  # m, largest halo radius of the node motion (the planner's default)
KIND_SLOT = {"sigma0": 0, "ratio": 1, "e_rev": 2}
QUANTILES = (5, 50, 95)


@dataclass(frozen=True)
class Uncertainty:
    """Placement and conductivity uncertainty, SI (module docstring)."""

    lateral: float = 2e-3
    depth: float = 2e-3
    angle: float = math.radians(3.0)
    cv: float = 0.25
    posterior: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class Draws:
    """Scenario draws: shift (n, k, 3) m along (e1, e2, axis) of each needle, tilt (n, k, 2),
    factors (n, n_regions, 3) of (sigma, ratio, field) per material."""

    shift: np.ndarray
    tilt: np.ndarray
    factors: np.ndarray


def material_value(material, kind: str) -> float:
    """A config material's value of a posterior parameter kind (SI)."""
    return {"sigma0": material.sigma0, "ratio": material.sigma1 / material.sigma0,
            "e_rev": material.e_rev}[kind]


def posterior_factors(path, cfg: ResolvedConfig, regions, rows: np.ndarray) -> np.ndarray:
    """(len(rows), n_regions, 3) factors of the posterior's samples `rows` over the config's
    values. Raises InputError for a parameter of a material or kind the scene does not have."""
    names, samples = read_posterior(path)
    factors = np.ones((len(rows), len(regions), 3))
    for k, name in enumerate(names):
        material, _, kind = name.rpartition(".")
        if material not in cfg.materials or kind not in KIND_SLOT:
            raise InputError(f"{path}: posterior parameter {name!r} is not a parameter of a "
                             f"material of this config ({', '.join(cfg.materials)})")
        if material not in regions:
            continue  # a material of the config that is not in the mesh
        value = material_value(cfg.materials[material], kind)
        drawn = samples[rows % len(samples), k]
        factors[:, regions.index(material), KIND_SLOT[kind]] = drawn / value
    return factors


def draw(u: Uncertainty, n: int, n_needles: int, cfg: ResolvedConfig, regions) -> Draws:
    """n scenarios of the uncertainty model, from `u.seed` (the same seed, the same draws)."""
    rng = np.random.default_rng(u.seed)
    shift = rng.standard_normal((n, n_needles, 3)) * np.array([u.lateral, u.lateral, u.depth])
    tilt = rng.standard_normal((n, n_needles, 2)) * math.tan(u.angle)
    if u.posterior is not None:
        factors = posterior_factors(u.posterior, cfg, list(regions),
                                    rng.integers(0, 2**62, size=n))
    else:
        s = math.sqrt(math.log1p(u.cv**2))
        factors = np.ones((n, len(regions), 3))
        factors[:, :, 0] = np.exp(s * rng.standard_normal((n, len(regions))))
    return Draws(shift, tilt, factors)


def _frames(needles: Needles) -> np.ndarray:
    """(k, 3, 3) rows e1, e2, axis of each needle's frame."""
    return np.stack([np.asarray(needles.e1), np.asarray(needles.e2), np.asarray(needles.axis)],
                    axis=1)


def drawn_poses(needles: Needles, shift: np.ndarray, tilt: np.ndarray):
    """Tips (k, 3) m and unit axes (k, 3) of the needles moved by a scenario's shift (k, 3) m
    and tilt (k, 2) in each needle's frame (as `Plan` applies them)."""
    basis = _frames(needles)
    tip = np.asarray(needles.tip) + np.einsum("kj,kji->ki", shift, basis)
    axis = np.asarray(needles.axis) + np.einsum("kj,kji->ki", tilt, basis[:, :2])
    return tip, axis / np.linalg.norm(axis, axis=1, keepdims=True)


def split_common(needles: Needles, shift: np.ndarray, tilt: np.ndarray):
    """A scenario's placement error, shift (k, 3) m and tilt (k, 2) in each needle's frame,
    as the array's common rigid motion and each needle's remainder.

    The common motion maps x to pivot + R (x - pivot) + t: t the mean displacement, R the
    rotation about the mean of axis x (new axis), by the arcsine of its length (a tilt shared
    by parallel needles exactly), pivot the mean tip. The remainder is each drawn
    pose seen from the moved array (the inverse motion applied to it), as a shift and tilt in
    the needle's frame: needles at their remainders and the anatomy moved by the inverse of
    the common motion are exactly the drawn scenario.

    Returns:
        frame (6,) (rotation vector rad, t m), remainder shift (k, 3) m and tilt (k, 2), pivot
        (3,) m.
    """
    basis = _frames(needles)
    tip, axis = np.asarray(needles.tip), np.asarray(needles.axis)
    moved_tip, moved_axis = drawn_poses(needles, shift, tilt)
    m = np.mean(np.cross(axis, moved_axis - axis), axis=0)
    length = np.linalg.norm(m)
    omega = m * (math.asin(min(length, 1.0)) / length) if length > 0 else np.zeros(3)
    pivot = tip.mean(axis=0)
    frame = np.concatenate([omega, (moved_tip - tip).mean(axis=0)])
    rot = np.asarray(frame_rotation(jnp.asarray(omega)))
    seen_tip = pivot + (moved_tip - pivot - frame[3:]) @ rot  # R^T applied to row vectors
    seen_axis = moved_axis @ rot
    rest_shift = np.einsum("ki,kji->kj", seen_tip - tip, basis)
    along = np.einsum("ki,kji->kj", seen_axis, basis)
    return frame, rest_shift, along[:, :2] / along[:, 2:], pivot


def common_allowed(cfg: ResolvedConfig) -> bool:
    """Whether the config's structures can carry the common motion: a generated scene whose
    inclusions all have analytic shapes."""
    if cfg.scene.mesh.file is not None or cfg.scene.image is not None:
        return False
    return all(signed_distance_function(i) is not None for i in scene_spec(cfg).inclusions)


@eqx.filter_jit
def scenario_field(problem, motion, needles, base, solver, pairs, memory, cells, shift, tilt,
                   factors):
    """One scenario: e_max (n_cells,) V/m on the moved mesh, its cell centroids (n_cells, 3) m,
    whether every pair converged."""
    plan = Plan(shift, tilt, pairs.voltage)
    points = moved_points(motion, tips(needles, plan), axes(needles, plan))
    fields = simulate(problem, points, scaled_regions(base, factors), pairs, solver=solver,
                      memory=memory)
    return fields.e_max, jnp.mean(points[cells], axis=1), jnp.all(fields.converged)


@eqx.filter_jit
def _motion_check(motion, needles, cells, ref_volumes, shift, tilt):
    """(k,) shift ratio of each needle and the smallest cell volume over its reference one."""
    plan = Plan(shift, tilt, jnp.zeros(0))
    t, a = tips(needles, plan), axes(needles, plan)
    x = moved_points(motion, t, a)[cells]
    volumes = jnp.einsum("ci,ci->c", jnp.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]),
                         x[:, 3] - x[:, 0]) / 6.0
    return shift_ratio(motion, t, a), jnp.min(volumes / ref_volumes)


def within_limits(motion, needles, cells, ref_volumes, shift, tilt):
    """The scenario's shift and tilt, scaled back where a needle moved further than its motion
    limit or a cell shrank below MIN_VOLUME_RATIO (the planner's remeshing criteria), and the
    share of the drawn perturbation kept (1.0: none was scaled back)."""
    shift, tilt = np.array(shift), np.array(tilt)
    drawn = np.linalg.norm(shift) + np.linalg.norm(tilt)
    for _ in range(30):
        ratio, smallest = _motion_check(motion, needles, cells, ref_volumes, jnp.asarray(shift),
                                        jnp.asarray(tilt))
        ratio = np.asarray(ratio)
        if np.all(ratio <= 1.0) and float(smallest) >= MIN_VOLUME_RATIO:
            break
        scale = np.where(ratio > 1.0, 0.999 / np.maximum(ratio, 1e-300), 0.8)
        shift, tilt = shift * scale[:, None], tilt * scale[:, None]
    kept = (np.linalg.norm(shift) + np.linalg.norm(tilt)) / drawn if drawn > 0 else 1.0
    return shift, tilt, float(kept)


def nearest_values(centroids: np.ndarray, values: np.ndarray, where: np.ndarray) -> np.ndarray:
    """values of the cells whose centroids are nearest to the points `where` (m)."""
    from scipy.spatial import cKDTree

    return values[cKDTree(centroids).query(where)[1]]


@dataclass(frozen=True)
class ScenarioReport:
    """Coverage of the target per scenario and per-cell probabilities over the scenarios.

    Attributes:
        coverage_rev, coverage_irr: (n,) target volume fractions with E >= E_rev / E_irr.
        p_rev, p_irr: (n_cells,) share of scenarios with E >= E_rev / E_irr in each cell.
        kept: (n,) share of each scenario's drawn needle perturbation kept within the mesh
            motion's limits (1.0 where nothing was pulled back).
    """

    coverage_rev: np.ndarray
    coverage_irr: np.ndarray
    p_rev: np.ndarray
    p_irr: np.ndarray
    kept: np.ndarray

    def quantiles(self, which: str = "irr") -> dict[int, float]:
        values = self.coverage_irr if which == "irr" else self.coverage_rev
        return {q: float(np.percentile(values, q)) for q in QUANTILES}

    def with_probabilities(self, results):
        """`results` (epsim.io.Results) with the per-cell fields p_rev and p_irr added."""
        extra = {**results.extra_fields, "p_rev": self.p_rev, "p_irr": self.p_irr}
        return replace(results, extra_fields=extra)

    def csv(self) -> str:
        """One row per scenario (coverage fractions, share of the drawn displacement kept),
        then the P5, P50 and P95 rows."""
        rows = ["scenario,coverage_rev,coverage_irr,kept"]
        rows += [f"{k + 1},{r:.6g},{i:.6g},{kept:.4g}" for k, (r, i, kept) in
                 enumerate(zip(self.coverage_rev, self.coverage_irr, self.kept))]
        rev, irr = self.quantiles("rev"), self.quantiles("irr")
        rows += [f"P{q},{rev[q]:.6g},{irr[q]:.6g}," for q in QUANTILES]
        return "\n".join(rows) + "\n"

    def text(self) -> str:
        n = len(self.coverage_irr)
        clipped = int(np.sum(self.kept < 1.0))
        lines = [f"scenarios: {n} (placement and conductivity uncertainty)"
                 + (f"; {clipped} pulled back within the mesh motion's limits, keeping "
                    f"{np.median(self.kept):.0%} of the drawn displacement (median)"
                    if clipped else "")]
        for which, label in (("irr", "E >= E_irr"), ("rev", "E >= E_rev")):
            q = self.quantiles(which)
            lines.append(f"  target coverage ({label}): " + ", ".join(
                f"P{k} {v:.1%}" for k, v in q.items()))
        return "\n".join(lines)


def block_uncertainty(block, config_dir) -> Uncertainty:
    """The `Uncertainty` of a `RobustBlock` (SI already); a posterior path relative to the
    config's folder."""
    posterior = block.conductivity.posterior
    if posterior is not None and not Path(posterior).is_absolute():
        posterior = Path(config_dir) / posterior
    return Uncertainty(lateral=block.placement.lateral, depth=block.placement.depth,
                       angle=block.placement.angle, cv=block.conductivity.cv or 0.0,
                       posterior=None if posterior is None else str(posterior), seed=block.seed)


def config_uncertainty(path) -> Uncertainty:
    """The model of the `optimise: robust:` block of the config file `path`, or the defaults
    without one."""
    robust = read_request(path)[1].robust
    return Uncertainty() if robust is None else block_uncertainty(robust, Path(path).parent)


def uncertainty_from_options(placement: str | None, cv: float | None, posterior: str | None,
                             seed: int | None, base: Uncertainty = Uncertainty()) -> Uncertainty:
    """The model `epsim run --scenarios` asks for: --placement LATERAL,DEPTH,ANGLE (mm, mm,
    degrees), --cv or --posterior FILE, --scenario-seed, each in place of its part of `base`
    (the config's `optimise.robust` model, `config_uncertainty`; default 2,2,3, cv 0.25)."""
    u = base if seed is None else replace(base, seed=seed)
    if cv is not None:
        u = replace(u, cv=cv, posterior=None)
    if posterior is not None:
        u = replace(u, posterior=posterior)
    if placement is not None:
        try:
            lateral, depth, angle = (float(v) for v in placement.split(","))
        except ValueError:
            raise InputError(f"--placement {placement[:40]!r}: give LATERAL,DEPTH,ANGLE in mm, mm "
                             "and degrees, e.g. 2,2,3") from None
        if not all(math.isfinite(v) and v >= 0 for v in (lateral, depth, angle)):
            raise InputError(f"--placement {placement[:40]!r}: standard deviations must be "
                             "finite and at least 0")
        u = replace(u, lateral=lateral * 1e-3, depth=depth * 1e-3, angle=math.radians(angle))
    if not (math.isfinite(u.cv) and u.cv >= 0):
        raise InputError(f"--cv {u.cv!r}: the coefficient of variation must be at least 0")
    return u


def check_uncertainty(cfg: ResolvedConfig, n: int, u: Uncertainty) -> None:
    """Everything about the scenarios that can be wrong with the input, before any work.

    Raises:
        InputError: n below 1, a scene without a target, an imported mesh with placement
            uncertainty, a posterior file that cannot be read or names a material the config
            does not have.
    """
    if n < 1:
        raise InputError(f"--scenarios {n}: needs at least one scenario")
    if not any(s.role == "target" for s in (*cfg.scene.structures, *cfg.scene.vessels)):
        raise InputError("scenarios report the coverage of a target: the scene has no "
                         "structure with role: target")
    if cfg.scene.mesh.file is not None and (u.lateral or u.depth or u.angle):
        raise InputError("placement uncertainty needs a generated scene (scene.mesh.file is an "
                         "imported mesh); give --placement 0,0,0")
    if u.posterior is not None:
        posterior_factors(u.posterior, cfg, list(cfg.materials), np.zeros(1, dtype=np.int64))


def run_scenarios(cfg: ResolvedConfig, n: int, u: Uncertainty = Uncertainty(), *,
                  draws: Draws | None = None, use_cache: bool = True,
                  progress=None) -> ScenarioReport:
    """The config's plan under `n` scenarios of `u` (module docstring); `draws` in place of
    drawing them (n of them, factors in the order of the mesh's materials).

    Raises:
        InputError: as `check_uncertainty`; SolverError: a scenario's solve did not converge.
    """
    check_uncertainty(cfg, n, u)
    layout = electrode_layout(cfg)
    parts = scene_mesh(cfg, layout, use_cache=use_cache, progress=progress)
    mesh = material_mesh(cfg, parts)
    roles = [r.role for r in scene_regions(cfg, parts.region_names)]
    target = np.isin(np.asarray(parts.cell_region),
                     [k for k, role in enumerate(roles) if role == "target"])
    if draws is None:
        draws = draw(u, n, len(layout.needles), cfg, mesh.region_names)
    setup = setup_config(cfg, mesh, layout.names)
    needles, motion = _needles_and_motion(cfg, mesh, layout)
    points, cells = np.asarray(mesh.points), np.asarray(mesh.cells)
    centroids = points[cells].mean(axis=1)
    volumes = np.abs(signed_volumes(points, cells))
    ref_volumes = jnp.asarray(signed_volumes(points, cells))
    region = np.asarray(mesh.cell_region)
    e_rev, e_irr = (np.array([getattr(cfg.materials[r], key) for r in mesh.region_names])
                    for key in ("e_rev", "e_irr"))
    anatomy = _Anatomy(cfg, mesh, centroids, region, target) if common_allowed(cfg) else None
    memory = cfg.physics.pair_mode == "max_field_memory"
    cov_rev, cov_irr = np.zeros(n), np.zeros(n)
    p_rev, p_irr = np.zeros(mesh.n_cells), np.zeros(mesh.n_cells)
    kept = np.ones(n)
    for s in range(n):
        if progress:
            progress(f"scenario {s + 1} of {n}")
        shift, tilt = draws.shift[s], draws.tilt[s]
        cell_region, in_target = region, target
        if anatomy is not None:
            frame, shift, tilt, pivot = split_common(needles, shift, tilt)
            cell_region, in_target = anatomy.moved(frame, pivot)
        kept_shift, kept_tilt, share = within_limits(motion, needles, jnp.asarray(cells),
                                                     ref_volumes, shift, tilt)
        drawn = np.linalg.norm(draws.shift[s]) + np.linalg.norm(draws.tilt[s])
        rest = np.linalg.norm(shift) + np.linalg.norm(tilt)
        kept[s] = 1.0 - (1.0 - share) * rest / drawn if drawn > 0 else 1.0
        model = eqx.tree_at(lambda m: m.cell_region, setup.model, jnp.asarray(cell_region))
        e_max, moved, ok = jax.device_get(scenario_field(
            setup.problem, motion, needles, model, setup.solver, setup.pairs, memory,
            jnp.asarray(cells), jnp.asarray(kept_shift), jnp.asarray(kept_tilt),
            jnp.asarray(draws.factors[s])))
        if not (ok and np.all(np.isfinite(e_max))):
            raise SolverError(f"scenario {s + 1}: a pair did not converge")
        e = nearest_values(np.asarray(moved), np.asarray(e_max), centroids)
        field = draws.factors[s, cell_region, 2]
        above_rev, above_irr = e >= e_rev[cell_region] * field, e >= e_irr[cell_region] * field
        cov_rev[s] = volumes[in_target & above_rev].sum() / volumes[in_target].sum()
        cov_irr[s] = volumes[in_target & above_irr].sum() / volumes[in_target].sum()
        p_rev += above_rev / n
        p_irr += above_irr / n
    return ScenarioReport(cov_rev, cov_irr, p_rev, p_irr, kept)


class _Anatomy:
    """The cells' materials and target membership with the scene's structures moved by the
    inverse of a needle array's common motion (`split_common`): a cell whose centroid's
    classification by the analytic shapes changes takes the moved one, every other cell keeps
    its mesh label (so the unmoved scene is exactly the mesh's)."""

    def __init__(self, cfg, mesh, centroids, region, target):
        spec = scene_spec(cfg)
        names = list(mesh.region_names)
        self.domain = names.index(spec.domain.material)
        self.shapes = [(signed_distance_function(i), names.index(i.material))
                       for i in spec.inclusions]
        targets = {s.name for s in (*cfg.scene.structures, *cfg.scene.vessels)
                   if s.role == "target"}
        self.targets = [signed_distance_function(i) for i in spec.inclusions
                        if i.name in targets]
        self.centroids, self.region, self.target = centroids, region, target
        self.base = self.classify(centroids)

    def classify(self, points):
        """(material index, in a target) of each point, inclusions overriding in mesh order."""
        material = np.full(len(points), self.domain)
        for distance, index in self.shapes:
            material = np.where(np.asarray(distance(points)) <= 0.0, index, material)
        inside = np.zeros(len(points), dtype=bool)
        for distance in self.targets:
            inside |= np.asarray(distance(points)) <= 0.0
        return material, inside

    def moved(self, frame, pivot):
        """(cell materials, target mask) for the common motion `frame` about `pivot`."""
        query = np.asarray(frame_map(jnp.asarray(frame), jnp.asarray(pivot))(
            jnp.asarray(self.centroids)))
        material, inside = self.classify(query)
        region = np.where(material != self.base[0], material, self.region)
        target = np.where(inside != self.base[1], inside, self.target)
        return region, target


def config_needles(layout) -> Needles:
    """The needles (`Needles`) of a config's electrode layout (`translate.electrode_layout`)."""
    hole = layout.needles
    return make_needles(tuple(h.name for h in hole), [h.tip for h in hole],
                        [h.entry for h in hole], [h.radius for h in hole],
                        [h.active_length for h in hole])


def _needles_and_motion(cfg: ResolvedConfig, mesh: TetMesh, layout):
    """The config's needles (`Needles`) and the node motion of its mesh."""
    hole = layout.needles
    names = tuple(h.name for h in hole)
    needles = config_needles(layout)
    rigid = cfg.scene.mesh.electrode_size or min(h.radius for h in hole)
    motion = build_motion(mesh, scene_spec(cfg, layout).domain, names, np.asarray(needles.tip),
                          np.asarray(needles.axis), [h.radius for h in hole],
                          [h.active_length for h in hole], rigid=rigid, halo=HALO,
                          limit_fraction=LIMIT_FRACTION)
    return needles, motion
