"""One forward run of a config: mesh, prepare, solve, heat, outcomes, `Results`.

    results = run_config(load_config("plan.yaml"))

The runner only orchestrates, one pass per run: the electrode layout is expanded once, the mesh
read or built once (one region per named part, merged by material for the physics) (`epsim.translate`, `epsim.meshcache`), `prepare` (pattern, preconditioner
hierarchy, floating-electrode tables) runs once and serves the field solve and the heated train,
per-cell outcomes are computed before any metric, and `Results` is built once (`epsim.outcomes`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from epsim.accuracy import with_error_estimate
from epsim.config.image import label_image
from epsim.config.schema import ResolvedConfig
from epsim.errors import SolverError
from epsim.heating import check_budget, simulate_heating
from epsim.imaging.outputs import image_output_paths, write_cell_images
from epsim.io.results import Results
from epsim.meshcache import Progress
from epsim.mesh.tetmesh import TetMesh
from epsim.padding import padded
from epsim.outcomes import (
    build_results,
    cell_outcomes,
    cell_volumes,
    check_converged,
    precision_hint,
    region_metrics,
)
from epsim.physics import RegionConductivity
from epsim.simulate import Fields, Pairs, Problem, make_pairs, prepare, simulate
from epsim.solve import Newton, Picard
from epsim.solve.compile import one_off_jit
from epsim.translate import (
    check_materials,
    conductivity,
    electrode_layout,
    electrode_names,
    material_mesh,
    pulse_train,
    scene_mesh,
    solver_settings,
    thermal_tissue,
)


class Setup(NamedTuple):
    """A config prepared on its mesh: everything the field solve and the heated train share."""

    problem: Problem
    model: RegionConductivity
    pairs: Pairs
    solver: Newton | Picard


def setup_config(cfg: ResolvedConfig, mesh: TetMesh, electrodes=None) -> Setup:
    """Conductivity, `prepare` (once per mesh) and pairs of a config; electrodes: the names of
    its conducting surfaces when the caller has them already."""
    electrodes = electrode_names(cfg) if electrodes is None else electrodes
    model = conductivity(cfg, mesh)
    sigma0 = np.asarray(model(jnp.zeros(mesh.n_cells)))
    solver, preconditioner = solver_settings(cfg)
    problem = prepare(
        mesh, electrodes, sigma0, preconditioner=preconditioner,
        floating_idle=cfg.physics.idle_electrodes == "floating",
    )
    pairs = make_pairs(problem, [(p.anode, p.cathode, p.voltage) for p in cfg.protocol.pairs])
    return Setup(problem, model, pairs, solver)


def _simulate_pairs(problem, points, model, pairs, solver, memory):
    return simulate(problem, points, model, pairs, solver=solver, memory=memory)


# run once per mesh and process: compiled for a short compilation (epsim.solve.compile)
simulate_once = one_off_jit(_simulate_pairs, static_argnums=(5,))


def solve_config(
    cfg: ResolvedConfig, mesh: TetMesh, *, setup: Setup | None = None,
    progress: Progress | None = None,
) -> tuple[Fields, tuple[str, ...]]:
    """Solve every pair of the protocol on `mesh`. Returns (Fields, electrode names)."""
    if setup is None:
        if progress:
            progress(f"preparing {mesh.n_cells} cells")
        setup = setup_config(cfg, mesh)
    if progress:
        progress(f"solving {len(cfg.protocol.pairs)} pair(s)")
    memory = cfg.physics.pair_mode == "max_field_memory"
    pad = padded(setup.problem)  # one compiled program for meshes of similar size
    fields = simulate_once(pad.problem, pad.points(mesh.points), pad.model(setup.model),
                           setup.pairs, setup.solver, memory,
                           work=pad.capacity.cells * len(cfg.protocol.pairs))
    return pad.fields(jax.device_get(fields)), setup.problem.electrode_names


@partial(jax.jit, static_argnums=(6, 7))
def _heat(problem, points, model, pairs, thermal, protocol, heat_sink, memory, solver):
    return simulate_heating(problem, points, model, pairs, thermal, protocol, solver=solver,
                            heat_sink=heat_sink, memory=memory)


def heating_outcomes(cfg: ResolvedConfig, mesh: TetMesh, setup: Setup, *,
                     progress: Progress | None = None):
    """Joule heating over the whole train on the prepared problem: (per-cell fields, per-pair
    fields). The caller checks the compute budget first (`check_budget`)."""
    protocol = pulse_train(cfg)
    if progress:
        progress(f"heating: {len(cfg.protocol.pairs) * protocol.count} pulses")
    result = jax.device_get(_heat(
        setup.problem, jnp.asarray(mesh.points), setup.model, setup.pairs,
        thermal_tissue(cfg, mesh), protocol, cfg.heating.heat_sink,
        cfg.physics.pair_mode == "max_field_memory", setup.solver,
    ))
    if not (np.all(result.converged) and bool(result.heat_converged)):
        raise SolverError("the heated pulse train did not converge (potential or heat solve)"
                          + precision_hint())
    cells = {"temperature_max": np.asarray(result.temperature_max),
             "thermal_damage": np.asarray(result.omega)}
    return cells, {"pulse_current": np.asarray(result.current)}


def run_config(cfg: ResolvedConfig, *, progress: Progress | None = None, use_cache: bool = True) -> Results:
    """Mesh, solve and collect: the whole forward run of one config."""
    layout = electrode_layout(cfg)
    parts = scene_mesh(cfg, layout, use_cache=use_cache, progress=progress)
    mesh = material_mesh(cfg, parts)  # the physics reads materials; results report parts
    check_materials(cfg, mesh)
    if cfg.heating is not None:  # refused before any solve
        check_budget(mesh.n_cells, len(cfg.protocol.pairs), pulse_train(cfg), cfg.heating.budget)
    if progress:
        progress(f"preparing {mesh.n_cells} cells")
    setup = setup_config(cfg, mesh, layout.names)
    fields, electrodes = solve_config(cfg, mesh, setup=setup, progress=progress)
    check_converged(fields, cfg)
    cells, per_pair = cell_outcomes(cfg, mesh, fields.e_mag), {}
    if cfg.heating is not None:
        heated, per_pair = heating_outcomes(cfg, mesh, setup, progress=progress)
        cells.update(heated)
    metrics = region_metrics(cfg, parts, cell_volumes(mesh), fields.e_max, cells)
    results = build_results(cfg, parts, fields, electrodes, metrics, cells, per_pair)
    return with_error_estimate(results)  # the mesh's accuracy, in every run


NIFTI = "nifti:"  # output keys of the image-grid files


def image_outputs(cfg: ResolvedConfig, stem) -> dict[str, Path]:
    """The NIfTI files of an image scene's run (`nifti:<quantity>` -> path beside the HDF5);
    none for other scenes."""
    if cfg.scene.image is None:
        return {}
    paths = image_output_paths(stem, heated=cfg.heating is not None)
    return {NIFTI + q: p for q, p in paths.items()}


def write_image_outputs(paths: Mapping[str, Path], results: Results, cfg: ResolvedConfig) -> None:
    """Write the run's outcomes on the input image's grid into the `nifti:` entries of `paths`
    (staged outputs; the keys of `image_outputs`)."""
    wanted = {k[len(NIFTI):]: p for k, p in paths.items() if k.startswith(NIFTI)}
    if wanted:
        fields = {"e_max": results.e_max, **results.extra_fields}
        write_cell_images(wanted, results.points, results.cells, fields, label_image(cfg))


__all__ = ["Setup", "heating_outcomes", "image_outputs", "run_config", "setup_config",
           "solve_config", "write_image_outputs"]
