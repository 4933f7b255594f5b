"""Evaluate a chunk of sweep points that share a mesh: one `prepare`, then `jax.vmap`.

`point_metrics` is written for one point (docs/design.md, section 1, rule 9): solve every pair,
reduce the fields to coverage, per-region fractions and currents. `evaluate_chunk` stacks the points' conductivity
models, pairs and thresholds into pytrees with a leading batch axis, pads the batch to a multiple
of the device count, shards it over the local devices on that axis (`jax.sharding.NamedSharding`
over a 1-D device mesh) and runs the vmapped, jitted map once.

The preconditioner of a chunk is built for the low-field conductivity of a reference point (the
first point of the plan with the same batch key), so points with another sigma0 converge to the
solver tolerance with a slightly different (still valid) preconditioner than a one-off run would
use: results agree with `epsim.runner` to the solver's rtol, and to rounding for points with the
reference's sigma0.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict
from functools import lru_cache, partial
from typing import NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.config.schema import ResolvedConfig
from epsim.mesh.tetmesh import TetMesh
from epsim.metrics import fraction_above
from epsim.outcomes import cell_volumes
from epsim.padding import Padded, padded, unpadded
from epsim.physics import RegionConductivity
from epsim.simulate import Pairs, Problem, make_pairs, prepare, simulate
from epsim.translate import (
    check_materials,
    electrode_names,
    material_model,
    region_roles,
    solver_settings,
)

log = logging.getLogger(__name__)


class PointMetrics(eqx.Module):
    """Metrics of one point (shapes for one point; batched results carry a leading axis).

    Attributes:
        coverage_rev, coverage_irr: () volume fraction of the target regions with e_max at or
            above their E_rev / E_irr (NaN when the scene has no target).
        fraction_rev, fraction_irr: (n_regions,) the same per region.
        current: (n_pairs,) A, into the anode of each pair.
        converged: (n_pairs,) bool.
        residual: (n_pairs,) final relative residual.
        iterations, linear_iterations: (n_pairs,) Newton (or Picard) and summed PCG iterations.
        finite: () bool, every field value finite.
    """

    coverage_rev: jax.Array
    coverage_irr: jax.Array
    fraction_rev: jax.Array
    fraction_irr: jax.Array
    current: jax.Array
    converged: jax.Array
    residual: jax.Array
    iterations: jax.Array
    linear_iterations: jax.Array
    finite: jax.Array


def _target_fraction(weight: jax.Array, fraction: jax.Array) -> jax.Array:
    """Volume-weighted mean of per-region fractions over the target regions (NaN if none)."""
    total = jnp.sum(weight)
    return jnp.where(total > 0, jnp.sum(weight * fraction) / jnp.where(total > 0, total, 1.0), jnp.nan)


def point_metrics(
    problem: Problem,
    points: jax.Array,
    volumes: jax.Array,
    cell_region: jax.Array,
    target: jax.Array,
    models: tuple,
    pairs: Pairs,
    e_rev: jax.Array,
    e_irr: jax.Array,
    solver,
    *,
    memory: bool,
) -> PointMetrics:
    """Solve one point and reduce it to metrics.

    Args:
        problem: from `prepare` (shared by the chunk).
        points: (n_nodes, 3) m.
        volumes: (n_cells,) m^3.
        cell_region: (n_cells,) int.
        target: (n_regions,) bool, regions whose role is target.
        models: one conductivity model per region (this point's parameters).
        pairs: this point's pairs (voltages in V).
        e_rev, e_irr: (n_regions,) V/m, this point's thresholds.
        solver: Newton or Picard settings.
        memory: max-field memory across pairs (static).
    """
    model = RegionConductivity(models, cell_region)
    fields = simulate(problem, points, model, pairs, solver=solver, memory=memory)
    frac_rev = fraction_above(fields.e_max, volumes, cell_region, e_rev)
    frac_irr = fraction_above(fields.e_max, volumes, cell_region, e_irr)
    region_volume = jax.ops.segment_sum(volumes, cell_region, e_rev.shape[0])
    weight = jnp.where(target, region_volume, 0.0)
    covered = partial(_target_fraction, weight)
    finite = jnp.all(jnp.isfinite(fields.e_mag)) & jnp.all(jnp.isfinite(fields.current))
    return PointMetrics(
        coverage_rev=covered(frac_rev),
        coverage_irr=covered(frac_irr),
        fraction_rev=frac_rev,
        fraction_irr=frac_irr,
        current=fields.current,
        converged=fields.converged,
        residual=fields.residual,
        iterations=fields.iterations,
        linear_iterations=fields.linear_iterations,
        finite=finite,
    )


_SHARED = (None,) * 5  # problem, points, volumes, cell_region, target
_BATCHED = (0,) * 4  # models, pairs, e_rev, e_irr


def _vmapped(problem, points, volumes, cell_region, target, models, pairs, e_rev, e_irr, solver,
             *, memory: bool) -> PointMetrics:
    one = partial(point_metrics, memory=memory)
    return jax.vmap(one, in_axes=_SHARED + _BATCHED + (None,))(
        problem, points, volumes, cell_region, target, models, pairs, e_rev, e_irr, solver
    )


@partial(jax.jit, static_argnames=("memory",))
def batched_metrics(problem, points, volumes, cell_region, target, models, pairs, e_rev, e_irr,
                    solver, *, memory: bool) -> PointMetrics:
    """`point_metrics` vmapped over stacked models, pairs and thresholds (leading batch axis
    of size B); the problem, mesh arrays and solver are shared."""
    return _vmapped(problem, points, volumes, cell_region, target, models, pairs, e_rev, e_irr,
                    solver, memory=memory)


@lru_cache(maxsize=8)
def sharded_metrics(devices: tuple, memory: bool):
    """`batched_metrics` with the batch axis split over `devices` (a 1-D device mesh): each
    device runs the vmapped solve on its own slice (`jax.shard_map`), so no device waits for
    another's iterations and nothing is communicated but the inputs and outputs."""
    mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))
    spec = jax.sharding.PartitionSpec
    shared, split = spec(), spec("batch")
    mapped = jax.shard_map(
        partial(_vmapped, memory=memory), mesh=mesh,
        in_specs=(shared,) * 5 + (split,) * 4 + (shared,), out_specs=split, check_vma=False,
    )
    return jax.jit(mapped)


def _stack(trees: Sequence) -> object:
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def _pad(tree, size: int):
    """Repeat the last point so the batch has `size` entries (padding is dropped afterwards)."""
    def pad(x):
        extra = size - x.shape[0]
        return x if extra == 0 else np.concatenate([x, np.repeat(x[-1:], extra, axis=0)])
    return jax.tree.map(pad, tree)


def _one_by_one(shared, batched, solver, memory):
    """The points of a batch in turn, each a batch of one: on a CPU a vmapped chunk ran slower
    than its points one by one (0.57x at 16 points, benchmarks/SWEEP_RESULTS.md: a vmapped while
    loop waits for its slowest point), so a CPU sweep keeps its chunks (files, tasks) but solves
    their points one at a time."""
    size = jax.tree.leaves(batched)[0].shape[0]
    if size > 1 and not _said:
        log.warning("on a CPU the points of a chunk are solved one by one (vmap batching is slower "
                 "there); chunk_size only groups them into files and tasks")
        _said.append(True)
    outs = [batched_metrics(*shared, *jax.tree.map(lambda x: x[i:i + 1], batched), solver,
                            memory=memory) for i in range(size)]
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *outs)


_said: list = []


def _run(shared, batched, solver, devices, memory):
    """Evaluate on one device, or split over several (NamedSharding on the batch axis)."""
    if len(devices) == 1:
        shared = jax.device_put(shared, devices[0])  # no copy when already there
        if devices[0].platform == "cpu":
            return _one_by_one(shared, batched, solver, memory)
        return batched_metrics(*shared, *jax.device_put(batched, devices[0]), solver,
                               memory=memory)
    mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))
    spec = jax.sharding.PartitionSpec
    shared = jax.device_put(shared, jax.sharding.NamedSharding(mesh, spec()))
    batched = jax.device_put(batched, jax.sharding.NamedSharding(mesh, spec("batch")))
    return sharded_metrics(tuple(devices), memory)(*shared, *batched, solver)


_PROBLEMS: OrderedDict = OrderedDict()
_PROBLEM_CACHE_SIZE = 4


class _MeshData(NamedTuple):
    """What the chunks of one mesh share: the (padded or not) problem and mesh arrays, on the
    device (put there once: per chunk it cost a quarter of a point's solve), and the volumes."""

    pad: Padded
    shared: tuple  # problem, points, volumes, cell_region (on the default device)
    volumes: np.ndarray


def _prepared(mesh: TetMesh, mesh_id: str, cfg: ResolvedConfig, model, electrodes,
              pad_to_capacity: bool) -> _MeshData:
    """`prepare` for this mesh and the sigma0 of `cfg`, padded to a capacity when the sweep has
    several meshes (geometry sweeps: meshes of similar size share the compiled program; on one
    mesh the padding only costs, 16 % of the solve on the sweep config), reused across chunks
    of one process."""
    sigma0 = np.asarray(model(jnp.zeros(mesh.n_cells)))
    _, preconditioner = solver_settings(cfg)
    floating = cfg.physics.idle_electrodes == "floating"
    key = (mesh_id, hashlib.sha256(sigma0.tobytes()).hexdigest(), repr(preconditioner), floating,
           tuple(electrodes), pad_to_capacity)
    if key in _PROBLEMS:
        _PROBLEMS.move_to_end(key)
        return _PROBLEMS[key]
    problem = prepare(mesh, electrodes, sigma0, preconditioner=preconditioner,
                      floating_idle=floating)
    pad = padded(problem) if pad_to_capacity else unpadded(problem)
    volumes = cell_volumes(mesh)
    shared = jax.device_put((pad.problem, pad.points(mesh.points), pad.cell_values(volumes, 0.0),
                             pad.cell_values(mesh.cell_region, 0)))
    _PROBLEMS[key] = data = _MeshData(pad, shared, volumes)
    while len(_PROBLEMS) > _PROBLEM_CACHE_SIZE:
        _PROBLEMS.popitem(last=False)
    return data


def _status(cfg: ResolvedConfig, converged, residual, iterations, finite) -> str:
    if bool(finite) and bool(np.all(converged)):
        return "ok"
    bad = [
        f"{p.anode}->{p.cathode} (residual {float(r):.2e} after {int(k)} iterations)"
        for p, ok, r, k in zip(cfg.protocol.pairs, converged, residual, iterations)
        if not bool(ok)
    ]
    return "not converged: " + ("; ".join(bad) if bad else "non-finite field")


def evaluate_chunk(
    mesh: TetMesh,
    configs: Sequence[ResolvedConfig],
    *,
    reference: ResolvedConfig | None = None,
    mesh_id: str = "",
    devices: Sequence | None = None,
    pad: bool = True,
) -> dict[str, np.ndarray]:
    """Metrics of points that share `mesh` (same scene, physics, solver and pair count).

    Args:
        mesh: the points' mesh.
        configs: the points' resolved configs.
        reference: a config of the same batch key whose sigma0 the preconditioner is built for
            (default: the first of `configs`).
        mesh_id: a key of the mesh (reuses `prepare` across calls in one process).
        devices: devices to shard the batch over (default: every local device).
        pad: pad the problem to a capacity (epsim.padding), so that other meshes of similar
            size reuse the compiled program; False for a sweep on one mesh.
    Returns:
        Host arrays: status (B,) str, converged (B,) bool, coverage_rev, coverage_irr,
        max_current (B,), current, residual, iterations, linear_iterations (B, n_pairs),
        fraction_rev, fraction_irr (B, n_regions), region_names, region_volume (n_regions,),
        n_cells, n_devices, pid (of the evaluating process), seconds. Metrics of points that did
        not converge are NaN; their status says why.
    Raises:
        MaterialError: a mesh region without a material; InputError from `prepare`.
    """
    start = time.perf_counter()
    devices = list(devices) if devices is not None else jax.local_devices()
    cfg0 = configs[0]
    names = mesh.region_names
    check_materials(cfg0, mesh)
    cell_region = np.asarray(mesh.cell_region)
    electrodes = electrode_names(cfg0)
    models = [tuple(material_model(cfg, r) for r in names) for cfg in configs]
    ref = reference or cfg0
    ref_model = RegionConductivity(tuple(material_model(ref, r) for r in names), cell_region)
    data = _prepared(mesh, mesh_id, ref, ref_model, electrodes, pad)
    pairs = [make_pairs(data.pad.problem,
                        [(p.anode, p.cathode, p.voltage) for p in cfg.protocol.pairs])
             for cfg in configs]
    e_rev = np.array([[cfg.materials[r].e_rev for r in names] for cfg in configs])
    e_irr = np.array([[cfg.materials[r].e_irr for r in names] for cfg in configs])
    target = np.array([role == "target" for role in region_roles(cfg0, names)])
    volumes = data.volumes
    solver, _ = solver_settings(cfg0)

    n = len(configs)
    size = -(-n // len(devices)) * len(devices)
    batched = _pad((_stack(models), _stack(pairs), e_rev, e_irr), size)
    shared = (*data.shared, target)
    out = _run(shared, batched, solver, devices, cfg0.physics.pair_mode == "max_field_memory")
    out = jax.tree.map(lambda x: np.asarray(x)[:n], jax.device_get(out))

    status = [_status(cfg, out.converged[i], out.residual[i], out.iterations[i], out.finite[i])
              for i, cfg in enumerate(configs)]
    ok = np.array([s == "ok" for s in status])

    def masked(x):
        x = np.asarray(x, dtype=float)
        return np.where(ok.reshape((-1,) + (1,) * (x.ndim - 1)), x, np.nan)

    current = masked(out.current)
    return {
        "status": np.array(status, dtype=str),
        "converged": ok,
        "coverage_rev": masked(out.coverage_rev),
        "coverage_irr": masked(out.coverage_irr),
        "fraction_rev": masked(out.fraction_rev),
        "fraction_irr": masked(out.fraction_irr),
        "current": current,
        "max_current": np.where(ok, np.max(np.abs(np.where(ok[:, None], current, 0.0)), axis=1), np.nan),
        "residual": np.asarray(out.residual, dtype=float),
        "iterations": np.asarray(out.iterations, dtype=np.int64),
        "linear_iterations": np.asarray(out.linear_iterations, dtype=np.int64),
        "region_names": np.array(names, dtype=str),
        "region_volume": np.bincount(mesh.cell_region, volumes, minlength=len(names)),
        "n_cells": np.asarray(mesh.n_cells),
        "n_devices": np.asarray(len(devices)),
        "pid": np.asarray(os.getpid()),
        "seconds": np.asarray(time.perf_counter() - start),
    }


__all__ = [
    "PointMetrics", "batched_metrics", "evaluate_chunk", "point_metrics", "sharded_metrics",
]
