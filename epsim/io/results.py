"""The results of a run as plain host arrays: what is written to HDF5 and ParaView and drawn.

Paths in HDF5 (docs/design.md, section 6) follow the field names here one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RegionMetrics:
    """Per-region summary. Volumes in m^3, fields in V/m.

    name: the region (a named part of the scene: the domain, a layer, a structure or a vessel);
    material: what it is made of; role: "target", "spare" or "tissue".

    fraction_rev / fraction_irr: volume fraction of the region whose e_max reaches the region
    material's E_rev / E_irr (hard thresholds, for reports).
    permeabilised_fraction: volume-weighted mean permeabilisation probability.
    killed_fraction: volume fraction with Peleg-Fermi survival below 0.5.
    temperature_max (K) and damaged_fraction (Arrhenius omega >= 1): only with heating, else None.
    fraction_rev_error / fraction_irr_error: how far fraction_rev / fraction_irr may be too high
    from the mesh's error (`epsim.accuracy`), None where not estimated.
    """

    name: str
    material: str
    role: str  # "target", "spare" or "tissue"
    volume: float
    e_rev: float
    e_irr: float
    fraction_rev: float
    fraction_irr: float
    e_max_mean: float
    e_max_max: float
    permeabilised_fraction: float | None = None
    killed_fraction: float | None = None
    temperature_max: float | None = None
    damaged_fraction: float | None = None
    fraction_rev_error: float | None = None
    fraction_irr_error: float | None = None


@dataclass(frozen=True)
class Results:
    """Everything a run produced, in SI units.

    Attributes:
        points: (n_nodes, 3) m; cells: (n_cells, 4) int; cell_region: (n_cells,) int.
        region_names: names of the regions (index = id in cell_region): the scene's named
            parts (domain, layers, structures, vessels) or an imported mesh's regions.
        potential: (n_pairs, n_nodes) V; e_mag, sigma: (n_pairs, n_cells) V/m, S/m.
        e_max: (n_cells,) V/m, max over pairs.
        anode, cathode: pair electrode names; voltage, current: (n_pairs,) V, A.
        converged, iterations, linear_iterations: (n_pairs,) solver status per pair.
        metrics: per-region summaries.
        electrode_facets: electrode name -> (n, 3) node triples of its conducting surface.
        config_yaml: the resolved config as YAML text.
        name: the run's name.
        extra_fields: optional per-cell fields (n_cells,) such as permeabilisation or survival.
        pair_fields: optional per-pair arrays (n_pairs, ...) such as the current of every pulse.
        region_materials: the material of each region (empty: the regions are materials, as in
            files of format version 1).
    """

    points: np.ndarray
    cells: np.ndarray
    cell_region: np.ndarray
    region_names: tuple[str, ...]
    potential: np.ndarray
    e_mag: np.ndarray
    sigma: np.ndarray
    e_max: np.ndarray
    anode: tuple[str, ...]
    cathode: tuple[str, ...]
    voltage: np.ndarray
    current: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    linear_iterations: np.ndarray
    metrics: tuple[RegionMetrics, ...]
    electrode_facets: dict[str, np.ndarray]
    config_yaml: str
    name: str = ""
    extra_fields: dict[str, np.ndarray] = field(default_factory=dict)
    pair_fields: dict[str, np.ndarray] = field(default_factory=dict)
    region_materials: tuple[str, ...] = ()

    def material_of(self, k: int) -> str:
        """The material of region k."""
        return self.region_materials[k] if self.region_materials else self.region_names[k]

    def pair_label(self, k: int) -> str:
        """Pair k as "anode->cathode"."""
        return f"{self.anode[k]}->{self.cathode[k]}"


def material_metrics(metrics, material: str) -> RegionMetrics:
    """The regions of one material as one: volumes summed, fractions and mean fields weighted
    by volume, the peak field the largest (exact: every metric is a volume integral or a max);
    peak temperature the largest. Role: the strongest of its regions (target, spare, tissue).

    Raises:
        KeyError: no region of that material.
    """
    parts = [m for m in metrics if m.material == material]
    if not parts:
        raise KeyError(f"no region of material {material!r}")
    volume = sum(m.volume for m in parts)
    rank = {"tissue": 0, "spare": 1, "target": 2}

    def mean(key):
        values = [getattr(m, key) for m in parts]
        if any(v is None for v in values):
            return None
        return sum(v * m.volume for v, m in zip(values, parts)) / volume if volume else 0.0

    temperature = [m.temperature_max for m in parts]
    return RegionMetrics(
        name=material, material=material, role=max((m.role for m in parts), key=rank.get),
        volume=volume, e_rev=parts[0].e_rev, e_irr=parts[0].e_irr,
        fraction_rev=mean("fraction_rev"), fraction_irr=mean("fraction_irr"),
        e_max_mean=mean("e_max_mean"), e_max_max=max(m.e_max_max for m in parts),
        permeabilised_fraction=mean("permeabilised_fraction"),
        killed_fraction=mean("killed_fraction"),
        temperature_max=None if None in temperature else max(temperature),
        damaged_fraction=mean("damaged_fraction"),
        fraction_rev_error=mean("fraction_rev_error"),
        fraction_irr_error=mean("fraction_irr_error"),
    )
