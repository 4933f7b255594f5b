"""What a run reports, from its solved fields: per-cell outcomes, region metrics, `Results`.

Per-cell outcomes come first (permeabilisation and survival, and with heating the peak
temperature and Arrhenius damage), then every region metric in one pass over the cell volumes,
then `Results` once. Biology and thresholds per cell come from `epsim.translate`.

Regions here are the scene's named parts (`epsim.translate.scene_regions`: the domain, layers,
structures and vessels by name, so two vessels of one material are reported apart), each with
its material's thresholds; the physics ran on the same cells merged by material.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.config import resolved_to_yaml
from epsim.config.schema import ResolvedConfig
from epsim.errors import SolverError
from epsim.io.results import RegionMetrics, Results
from epsim.fem.host import corner_gradients
from epsim.mesh.tetmesh import TetMesh
from epsim.metrics import fraction_above, region_field_stats, region_volumes
from epsim.physics.cell_death import permeabilisation, survival_sequence
from epsim.simulate import Fields
from epsim.translate import cell_death, scene_regions


def check_converged(fields: Fields, cfg: ResolvedConfig) -> None:
    """Raise SolverError naming the pairs that did not converge (nothing is written then)."""
    bad = [
        f"{p.anode}->{p.cathode} (residual {float(r):.2e} after {int(k)} iterations)"
        for p, ok, r, k in zip(cfg.protocol.pairs, fields.converged, fields.residual, fields.iterations)
        if not bool(ok) or not np.all(np.isfinite(np.asarray(fields.e_mag)))
    ]
    if bad:
        raise SolverError("the field solve did not converge for pair(s): " + "; ".join(bad)
                          + precision_hint())


def precision_hint() -> str:
    """What to add to a solve's failure when JAX runs in float32 (a script that imported epsim
    without switching float64 on): the residual stalls near 1e-6 of its start there (liver_ire:
    8e-7 to 3e-6), above the solver's default tolerance of 1e-8. Empty in float64."""
    if jax.config.jax_enable_x64:
        return ""
    return (". JAX runs in float32 in this process, where the residual stalls near 1e-6 of its "
            "start: switch float64 on before solving "
            "(jax.config.update(\"jax_enable_x64\", True)), as the epsim command does")


def cell_volumes(mesh: TetMesh) -> np.ndarray:
    """(n_cells,) m^3, the volumes every region metric of a run is weighted by (numpy: the
    eager JAX geometry cost ~0.1 s a mesh, a quarter of a sweep point's solve)."""
    return corner_gradients(np.asarray(mesh.points), np.asarray(mesh.cells))[1]


def cell_outcomes(cfg: ResolvedConfig, mesh: TetMesh, e_mag) -> dict[str, np.ndarray]:
    """Permeabilisation probability (from the max field) and Peleg-Fermi survival after every
    pair's pulses (docs/physics.md, section 3), per cell; e_mag (n_pairs, n_cells) V/m."""
    death = cell_death(cfg, mesh)
    perm, survival = _cell_outcomes(jnp.asarray(e_mag), death.e_rev, death.width, death.params,
                                    death.rule, death.count)
    return {"permeabilisation": np.asarray(perm), "survival": np.asarray(survival)}


@eqx.filter_jit
def _cell_outcomes(e_mag, e_rev, width, params, rule, count: int):
    """(permeabilisation, survival) per cell as one compiled program: run eagerly, its ~35
    operations were each compiled on their own, 0.9-1.1 s of a cold `epsim run`."""
    perm = permeabilisation(jnp.max(e_mag, axis=0), e_rev, width)
    pulses = jnp.full(e_mag.shape[0], float(count))
    return perm, survival_sequence(e_mag, pulses, params, rule)


def _field_metrics(cfg: ResolvedConfig, mesh: TetMesh, materials, volumes: np.ndarray,
                   e_max) -> dict:
    """Per region (n_regions,): volume, thresholds of its material (`materials`, one name per
    region), coverage above them, mean and peak e_max."""
    n = len(mesh.region_names)
    mats = [cfg.materials[m] for m in materials]
    e_rev = jnp.asarray([m.e_rev for m in mats])
    e_irr = jnp.asarray([m.e_irr for m in mats])
    region = jnp.asarray(mesh.cell_region)
    e_max, v = jnp.asarray(e_max), jnp.asarray(volumes)
    mean, peak = region_field_stats(e_max, v, region, n)
    out = {
        "volume": region_volumes(v, region, n), "e_rev": e_rev, "e_irr": e_irr,
        "fraction_rev": fraction_above(e_max, v, region, e_rev),
        "fraction_irr": fraction_above(e_max, v, region, e_irr),
        "e_max_mean": mean, "e_max_max": peak,
    }
    return {k: np.asarray(a) for k, a in out.items()}


def _outcome_metrics(mesh: TetMesh, volumes: np.ndarray, cells: dict, k: int) -> dict:
    """Region k's permeabilised and killed fractions, and with heating its peak temperature and
    thermally damaged fraction."""
    inside = mesh.cell_region == k
    v = np.abs(volumes)[inside]
    mean = lambda x: float(np.sum(v * x[inside]) / np.sum(v))  # noqa: E731
    values = {
        "permeabilised_fraction": mean(cells["permeabilisation"]),
        "killed_fraction": mean((cells["survival"] < 0.5).astype(float)),
    }
    if "temperature_max" in cells:
        values["temperature_max"] = float(cells["temperature_max"][inside].max())
        values["damaged_fraction"] = mean((cells["thermal_damage"] >= 1.0).astype(float))
    return values


def region_metrics(
    cfg: ResolvedConfig, mesh: TetMesh, volumes: np.ndarray, e_max, cells: dict[str, np.ndarray]
) -> tuple[RegionMetrics, ...]:
    """Every region's metrics from the max field and the per-cell outcomes `cells`; `mesh`
    has one region per named part (`epsim.translate.scene_mesh`). A part without cells (wholly
    covered by a later one) has no metrics."""
    regions = scene_regions(cfg, mesh.region_names)
    field = _field_metrics(cfg, mesh, [r.material for r in regions], volumes, e_max)
    return tuple(
        RegionMetrics(
            name=r.name, material=r.material, role=r.role,
            **{key: float(values[k]) for key, values in field.items()},
            **_outcome_metrics(mesh, volumes, cells, k),
        )
        for k, r in enumerate(regions) if np.any(mesh.cell_region == k)
    )


def build_results(
    cfg: ResolvedConfig, mesh: TetMesh, fields: Fields, electrodes, metrics,
    cells: dict[str, np.ndarray], per_pair: dict[str, np.ndarray],
) -> Results:
    """Fields, currents, outcomes and metrics as host arrays, for the writers; `mesh` has one
    region per named part, whose materials `Results.region_materials` keeps."""
    pairs = cfg.protocol.pairs
    return Results(
        points=np.asarray(mesh.points), cells=np.asarray(mesh.cells),
        cell_region=np.asarray(mesh.cell_region), region_names=tuple(mesh.region_names),
        region_materials=tuple(r.material for r in scene_regions(cfg, mesh.region_names)),
        potential=np.asarray(fields.potential), e_mag=np.asarray(fields.e_mag),
        sigma=np.asarray(fields.sigma), e_max=np.asarray(fields.e_max),
        anode=tuple(p.anode for p in pairs), cathode=tuple(p.cathode for p in pairs),
        voltage=np.array([p.voltage for p in pairs]),
        current=np.asarray(fields.current), converged=np.asarray(fields.converged),
        iterations=np.asarray(fields.iterations),
        linear_iterations=np.asarray(fields.linear_iterations), metrics=metrics,
        electrode_facets={e: np.asarray(mesh.facets[e]) for e in electrodes},
        config_yaml=resolved_to_yaml(cfg), name=cfg.name,
        extra_fields=cells, pair_fields=per_pair,
    )


__all__ = [
    "build_results", "cell_outcomes", "cell_volumes", "check_converged", "region_metrics",
]
