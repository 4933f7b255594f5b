"""From a resolved config to results: scene, mesh, materials, pairs, solve, metrics.

This is an edge module: it translates the config's pydantic models into the numerical layers'
types (mesh specs, conductivity models, pairs) and collects `Results` for the writers.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from epsim import mesh as meshlib
from epsim.config import needle_axes, resolved_to_yaml
from epsim.config.schema import ResolvedConfig
from epsim.errors import MaterialError, MeshError, SolverError
from epsim.io.results import RegionMetrics, Results
from epsim.mesh.tetmesh import TetMesh, cell_geometry
from epsim.heating import PulseTrain, check_budget, simulate_heating
from epsim.metrics import fraction_above, region_field_stats, region_volumes
from epsim.physics import Constant, Logistic, Ramp, RegionConductivity, SmoothStep
from epsim.physics.cell_death import (
    EquivalentPulses,
    IndependentPairs,
    PelegFermi,
    permeabilisation,
    survival_sequence,
)
from epsim.physics.thermal import ThermalTissue
from epsim.simulate import Fields, make_pairs, prepare, simulate
from epsim.solve import Amg, Jacobi, Newton, Picard

Progress = Callable[[str], None]

# Permeabilisation probability: a symmetric sigmoid (Dermol & Miklavcic 2014) with P = 0.5 at the
# material's E_rev and a width of 10 % of E_rev: an engineering assumption of epsim, not a fit.
PERMEABILISATION_WIDTH_FRACTION = 0.1

# Logistic sigma(E) from thresholds: centred between them, a quarter of the gap wide per e-fold
# (10 % to 90 % of the rise between E_rev and E_irr); an engineering choice of epsim.
LOGISTIC_WIDTH_FRACTION = 0.25 / np.log(9.0)


@dataclass(frozen=True)
class SceneSpec:
    """The mesh-level description of a config's scene."""

    domain: object
    inclusions: tuple
    holes: tuple
    sizes: meshlib.MeshSizes
    electrodes: tuple[str, ...]


def _domain(cfg: ResolvedConfig):
    d = cfg.scene.domain
    if d.shape == "box":
        return meshlib.Box(center=d.center, size=d.size, material=d.material)
    if d.shape == "cylinder":
        base = np.asarray(d.center) - np.array([0.0, 0.0, 0.5 * d.height])
        return meshlib.Cylinder(base, (0.0, 0.0, 1.0), d.radius, d.height, material=d.material)
    return meshlib.Sphere(center=d.center, radius=d.radius, material=d.material)


def _structure(s, mesh_size):
    opts = {"mesh_size": mesh_size if s.role == "target" else None, "keep_out": s.role == "spare"}
    if s.shape == "sphere":
        return meshlib.SphereInclusion(s.name, s.center, s.radius, s.material, **opts)
    if s.shape == "ellipsoid":
        return meshlib.EllipsoidInclusion(s.name, s.center, s.radii, s.material, **opts)
    if s.shape == "cylinder":
        base = np.asarray(s.center) - 0.5 * s.height * np.asarray(s.axis)
        return meshlib.CylinderInclusion(s.name, base, s.axis, s.radius, s.height, s.material, **opts)
    if s.shape == "box":
        return meshlib.BoxInclusion(s.name, s.center, s.size, s.material, **opts)
    scale = meshlib.LENGTH_UNITS[s.length_unit]
    return meshlib.StlInclusion(s.name, s.file, s.material, scale, **opts)


def _holes(cfg: ResolvedConfig) -> tuple[tuple, tuple[str, ...]]:
    """Needles and plates as holes in the tissue, and the names of their conducting surfaces."""
    needles = needle_axes(cfg)
    holes = [meshlib.Needle(n.name, n.tip, n.entry, n.radius, n.active_length) for n in needles]
    names = [n.name for n in needles]
    for e in cfg.electrodes:
        if e.type == "plates":
            pair = meshlib.plate_pair(e.name, e.center, e.normal, e.gap, e.size, up=e.up)
            holes += pair
            names += [p.name for p in pair]
    return tuple(holes), tuple(names)


def scene_spec(cfg: ResolvedConfig) -> SceneSpec:
    """Translate the config's scene and electrodes into mesh specs (SI).

    Inclusions are listed layers first, then structures, then vessels: a later inclusion wins
    where two overlap, so a tumour in the fat layer stays tumour. Targets are meshed at
    `mesh.target_size`; `spare` structures are kept out of the needles' active parts.
    """
    domain = _domain(cfg)
    m = cfg.scene.mesh
    layers = [(layer.material, layer.thickness) for layer in cfg.scene.layers]
    inclusions = list(meshlib.layer_inclusions(domain, layers, mesh_size=m.size)) if layers else []
    inclusions += [_structure(s, m.target_size) for s in cfg.scene.structures]
    inclusions += [
        meshlib.TubeInclusion(v.name, v.points, v.radius, v.material, keep_out=v.role == "spare")
        for v in cfg.scene.vessels
    ]
    holes, electrodes = _holes(cfg)
    sizes = meshlib.MeshSizes(size=m.size, electrode_size=m.electrode_size)
    return SceneSpec(domain, tuple(inclusions), holes, sizes, electrodes)


def cache_root() -> Path:
    """epsim's cache directory: $EPSIM_CACHE, else $XDG_CACHE_HOME/epsim or ~/.cache/epsim.
    Meshes go under meshes/, compiled XLA programs (set up by the CLI) under xla/."""
    return Path(os.environ.get("EPSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "epsim"
    ))


def _cache_dir() -> Path:
    return cache_root() / "meshes"


def scene_hash(spec: SceneSpec) -> str:
    """A hash of the scene (geometry, sizes and the bytes of any STL file) keying the mesh cache."""
    # v2: meshes in locality order (epsim.mesh.ordering); v1 entries are not reused
    digest = hashlib.sha256((repr(spec) + "gmsh-builder-v2").encode())
    for inclusion in spec.inclusions:
        if isinstance(inclusion, meshlib.StlInclusion):
            digest.update(Path(inclusion.file).read_bytes())
    return digest.hexdigest()[:20]


def _save_mesh(path: Path, mesh: TetMesh) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    facets = {f"facet:{k}": np.asarray(v) for k, v in mesh.facets.items()}
    np.savez(tmp, points=np.asarray(mesh.points), cells=mesh.cells, cell_region=mesh.cell_region,
             region_names=np.array(mesh.region_names), **facets)
    os.replace(tmp, path)


def _load_mesh(path: Path) -> TetMesh:
    with np.load(path, allow_pickle=False) as data:
        facets = {k[6:]: data[k] for k in data.files if k.startswith("facet:")}
        return meshlib.make_mesh(data["points"], data["cells"], data["cell_region"],
                                 tuple(str(n) for n in data["region_names"]), facets)


def build_mesh(spec: SceneSpec, *, use_cache: bool = True, progress: Progress | None = None) -> TetMesh:
    """Mesh a scene with gmsh, reusing a cached mesh of the same scene when there is one."""
    path = _cache_dir() / f"{scene_hash(spec)}.npz"
    if use_cache and path.exists():
        try:
            return _load_mesh(path)
        except (OSError, ValueError, KeyError, MeshError):
            path.unlink(missing_ok=True)  # a broken cache entry is rebuilt
    if progress:
        progress("meshing the scene with gmsh")
    mesh = meshlib.build_mesh(spec.domain, spec.inclusions, spec.holes, spec.sizes)
    if use_cache:
        _save_mesh(path, mesh)
    return mesh


def import_mesh(cfg: ResolvedConfig) -> TetMesh:
    """Read `scene.mesh.file` and name its regions by material (`scene.mesh.regions`)."""
    m = cfg.scene.mesh
    mesh = meshlib.read_mesh(m.file, length_unit=m.length_unit)
    names = [m.regions.get(str(r), r) for r in mesh.region_names]
    materials = list(dict.fromkeys(names))  # regions mapped to one material merge
    region = np.array([materials.index(names[r]) for r in mesh.cell_region])
    # renumbered for memory locality like a generated mesh; results files hold this numbering
    return meshlib.renumbered(meshlib.make_mesh(mesh.points, mesh.cells, region, materials, mesh.facets))


def material_model(cfg: ResolvedConfig, name: str):
    """sigma(|E|) of one material as configured (physics.conductivity and physics.model)."""
    m = cfg.materials[name]
    if cfg.physics.conductivity == "linear":
        return Constant(m.sigma0)
    if cfg.physics.model == "ramp":
        return Ramp(m.sigma0, m.sigma1, m.e_rev, m.e_irr)
    if cfg.physics.model == "logistic":
        width = LOGISTIC_WIDTH_FRACTION * (m.e_irr - m.e_rev)
        return Logistic(m.sigma0, m.sigma1, 0.5 * (m.e_rev + m.e_irr), width)
    return SmoothStep(m.sigma0, m.sigma1, m.e_rev, m.e_irr)


def region_roles(cfg: ResolvedConfig, region_names) -> tuple[str, ...]:
    """Role of each region (material): target if a target structure is made of it, then spare."""
    roles = {}
    for s in (*cfg.scene.structures, *cfg.scene.vessels):
        current = roles.get(s.material, "tissue")
        rank = {"tissue": 0, "spare": 1, "target": 2}
        roles[s.material] = max(current, s.role, key=rank.__getitem__)
    return tuple(roles.get(name, "tissue") for name in region_names)


def solver_settings(cfg: ResolvedConfig):
    s = cfg.solver
    preconditioner = Jacobi() if s.preconditioner == "jacobi" else Amg()
    if s.kind == "picard":
        return Picard(rtol=s.rtol, max_iterations=s.max_iterations, damping=s.damping), preconditioner
    return Newton(rtol=s.rtol, max_iterations=s.max_iterations), preconditioner


@partial(jax.jit, static_argnums=(5,))
def _simulate(problem, points, model, pairs, solver, memory):
    return simulate(problem, points, model, pairs, solver=solver, memory=memory)


def _problem(cfg: ResolvedConfig, mesh: TetMesh):
    """Problem, conductivity model, pairs and solver settings of a config on a mesh."""
    electrodes = _holes(cfg)[1]
    model = RegionConductivity(
        tuple(material_model(cfg, r) for r in mesh.region_names), jnp.asarray(mesh.cell_region)
    )
    sigma0 = np.asarray(model(jnp.zeros(mesh.n_cells)))
    solver, preconditioner = solver_settings(cfg)
    problem = prepare(
        mesh, electrodes, sigma0, preconditioner=preconditioner,
        floating_idle=cfg.physics.idle_electrodes == "floating",
    )
    pairs = make_pairs(problem, [(p.anode, p.cathode, p.voltage) for p in cfg.protocol.pairs])
    return problem, model, pairs, solver


def solve_config(cfg: ResolvedConfig, mesh: TetMesh, *, progress: Progress | None = None):
    """Solve every pair of the protocol on `mesh`. Returns (Fields, electrode names)."""
    if progress:
        progress(f"preparing {mesh.n_cells} cells")
    problem, model, pairs, solver = _problem(cfg, mesh)
    if progress:
        progress(f"solving {len(cfg.protocol.pairs)} pair(s)")
    memory = cfg.physics.pair_mode == "max_field_memory"
    fields = _simulate(problem, jnp.asarray(mesh.points), model, pairs, solver, memory)
    return jax.device_get(fields), problem.electrode_names


def check_converged(fields: Fields, cfg: ResolvedConfig) -> None:
    """Raise SolverError naming the pairs that did not converge (nothing is written then)."""
    bad = [
        f"{p.anode}->{p.cathode} (residual {float(r):.2e} after {int(k)} iterations)"
        for p, ok, r, k in zip(cfg.protocol.pairs, fields.converged, fields.residual, fields.iterations)
        if not bool(ok) or not np.all(np.isfinite(np.asarray(fields.e_mag)))
    ]
    if bad:
        raise SolverError("the field solve did not converge for pair(s): " + "; ".join(bad))


def collect_results(cfg: ResolvedConfig, mesh: TetMesh, fields: Fields, electrodes) -> Results:
    """Fields, currents and per-region metrics as host arrays."""
    _, volumes = cell_geometry(mesh.points, mesh.cells)
    volumes = np.asarray(volumes)
    names = mesh.region_names
    n = len(names)
    mats = [cfg.materials[r] for r in names]
    e_rev = jnp.asarray([m.e_rev for m in mats])
    e_irr = jnp.asarray([m.e_irr for m in mats])
    region = jnp.asarray(mesh.cell_region)
    e_max = jnp.asarray(fields.e_max)
    vol = np.asarray(region_volumes(jnp.asarray(volumes), region, n))
    frac_rev = np.asarray(fraction_above(e_max, jnp.asarray(volumes), region, e_rev))
    frac_irr = np.asarray(fraction_above(e_max, jnp.asarray(volumes), region, e_irr))
    mean, peak = (np.asarray(a) for a in region_field_stats(e_max, jnp.asarray(volumes), region, n))
    roles = region_roles(cfg, names)
    metrics = tuple(
        RegionMetrics(
            name=names[i], material=names[i], role=roles[i], volume=float(vol[i]),
            e_rev=float(e_rev[i]), e_irr=float(e_irr[i]), fraction_rev=float(frac_rev[i]),
            fraction_irr=float(frac_irr[i]), e_max_mean=float(mean[i]), e_max_max=float(peak[i]),
        )
        for i in range(n)
    )
    return Results(
        points=np.asarray(mesh.points), cells=np.asarray(mesh.cells),
        cell_region=np.asarray(mesh.cell_region), region_names=tuple(names),
        potential=np.asarray(fields.potential), e_mag=np.asarray(fields.e_mag),
        sigma=np.asarray(fields.sigma), e_max=np.asarray(fields.e_max),
        anode=tuple(p.anode for p in cfg.protocol.pairs),
        cathode=tuple(p.cathode for p in cfg.protocol.pairs),
        voltage=np.array([p.voltage for p in cfg.protocol.pairs]),
        current=np.asarray(fields.current), converged=np.asarray(fields.converged),
        iterations=np.asarray(fields.iterations),
        linear_iterations=np.asarray(fields.linear_iterations), metrics=metrics,
        electrode_facets={e: np.asarray(mesh.facets[e]) for e in electrodes},
        config_yaml=resolved_to_yaml(cfg), name=cfg.name,
    )


def current_limit_violations(cfg: ResolvedConfig, results: Results) -> list[str]:
    """Pairs whose solved current exceeds device.max_current."""
    limit = cfg.device.max_current
    if limit is None:
        return []
    return [
        f"{a}->{c}: {abs(i):.3g} A > device.max_current {limit:.3g} A"
        for a, c, i in zip(results.anode, results.cathode, results.current)
        if abs(i) > limit
    ]


def _per_cell(cfg: ResolvedConfig, mesh: TetMesh, key: str) -> jax.Array:
    """A material parameter spread over the cells, (n_cells,)."""
    values = jnp.asarray([getattr(cfg.materials[r], key) for r in mesh.region_names])
    return values[jnp.asarray(mesh.cell_region)]


def cell_outcomes(cfg: ResolvedConfig, mesh: TetMesh, e_mag) -> dict[str, np.ndarray]:
    """Permeabilisation probability (from the max field) and Peleg-Fermi survival after every
    pair's pulses (PHYSICS.md section 3), per cell."""
    e_mag = jnp.asarray(e_mag)
    e_rev = _per_cell(cfg, mesh, "e_rev")
    perm = permeabilisation(jnp.max(e_mag, axis=0), e_rev, PERMEABILISATION_WIDTH_FRACTION * e_rev)
    params = PelegFermi(*(_per_cell(cfg, mesh, k) for k in ("ec0", "a0", "k1", "k2")))
    rule = EquivalentPulses() if cfg.physics.survival_rule == "equivalent_pulses" else IndependentPairs()
    count = jnp.full(e_mag.shape[0], float(cfg.protocol.pulses.count))
    survival = survival_sequence(e_mag, count, params, rule)
    return {"permeabilisation": np.asarray(perm), "survival": np.asarray(survival)}


def thermal_tissue(cfg: ResolvedConfig, mesh: TetMesh) -> ThermalTissue:
    """Per-cell Pennes parameters from the materials (blood and body temperature: defaults)."""
    keys = ("k", "rho", "c", "alpha", "w_b", "q_m")
    return ThermalTissue(**{k: _per_cell(cfg, mesh, k) for k in keys})


def pulse_train(cfg: ResolvedConfig) -> PulseTrain:
    p, h = cfg.protocol.pulses, cfg.heating
    return PulseTrain(p.count, p.width, p.rate, substeps=h.substeps, pause_steps=h.pause_steps)


@partial(jax.jit, static_argnums=(6, 7))
def _heat(problem, points, model, pairs, thermal, protocol, heat_sink, memory, solver):
    return simulate_heating(problem, points, model, pairs, thermal, protocol, solver=solver,
                            heat_sink=heat_sink, memory=memory)


def heating_outcomes(cfg: ResolvedConfig, mesh: TetMesh, *, progress: Progress | None = None):
    """Joule heating over the whole train: (per-cell fields, per-pair fields). Refuses a train
    over the config's compute budget before it starts."""
    protocol = pulse_train(cfg)
    check_budget(mesh.n_cells, len(cfg.protocol.pairs), protocol, cfg.heating.budget)
    problem, model, pairs, solver = _problem(cfg, mesh)
    if progress:
        progress(f"heating: {len(cfg.protocol.pairs) * protocol.count} pulses")
    result = jax.device_get(_heat(
        problem, jnp.asarray(mesh.points), model, pairs, thermal_tissue(cfg, mesh), protocol,
        cfg.heating.heat_sink, cfg.physics.pair_mode == "max_field_memory", solver,
    ))
    if not (np.all(result.converged) and bool(result.heat_converged)):
        raise SolverError("the heated pulse train did not converge (potential or heat solve)")
    cells = {"temperature_max": np.asarray(result.temperature_max),
             "thermal_damage": np.asarray(result.omega)}
    return cells, {"pulse_current": np.asarray(result.current)}


def outcome_metrics(metrics, mesh: TetMesh, extra: dict[str, np.ndarray]):
    """Region metrics completed with permeabilisation, kill and (with heating) temperature."""
    volumes = np.abs(np.asarray(cell_geometry(mesh.points, mesh.cells)[1]))
    out = []
    for k, m in enumerate(metrics):
        cells = mesh.cell_region == k
        v = volumes[cells]
        mean = lambda x: float(np.sum(v * x[cells]) / np.sum(v))  # noqa: E731
        values = {
            "permeabilised_fraction": mean(extra["permeabilisation"]),
            "killed_fraction": mean((extra["survival"] < 0.5).astype(float)),
        }
        if "temperature_max" in extra:
            values["temperature_max"] = float(extra["temperature_max"][cells].max())
            values["damaged_fraction"] = mean((extra["thermal_damage"] >= 1.0).astype(float))
        out.append(replace(m, **values))
    return tuple(out)


def run_config(cfg: ResolvedConfig, *, progress: Progress | None = None, use_cache: bool = True) -> Results:
    """Mesh, solve and collect: the whole forward run of one config."""
    if cfg.scene.mesh.file is not None:
        mesh = import_mesh(cfg)
    else:
        mesh = build_mesh(scene_spec(cfg), use_cache=use_cache, progress=progress)
    missing = [r for r in mesh.region_names if r not in cfg.materials]
    if missing:
        raise MaterialError(
            f"mesh region(s) {missing} have no material: map them under scene.mesh.regions "
            "or define them under materials"
        )
    if cfg.heating is not None:
        check_budget(mesh.n_cells, len(cfg.protocol.pairs), pulse_train(cfg), cfg.heating.budget)
    fields, electrodes = solve_config(cfg, mesh, progress=progress)
    check_converged(fields, cfg)
    results = collect_results(cfg, mesh, fields, electrodes)
    extra, per_pair = cell_outcomes(cfg, mesh, fields.e_mag), {}
    if cfg.heating is not None:
        heated, per_pair = heating_outcomes(cfg, mesh, progress=progress)
        extra.update(heated)
    metrics = outcome_metrics(results.metrics, mesh, extra)
    return replace(results, extra_fields=extra, pair_fields=per_pair, metrics=metrics)


__all__ = [
    "SceneSpec",
    "build_mesh",
    "cache_root",
    "check_converged",
    "collect_results",
    "current_limit_violations",
    "material_model",
    "run_config",
    "scene_spec",
    "solve_config",
]
