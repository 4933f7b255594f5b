"""Coverage and field metrics per region, hard (for reports; the planner's smooth coverage lives
in `epsim.optimise.objective`).

All inputs are per-cell arrays: volumes (n_cells,) m^3, e_max (n_cells,) V/m, cell_region
(n_cells,) int. Thresholds are per region (n_regions,) V/m.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def region_volumes(volumes: jax.Array, cell_region: jax.Array, n_regions: int) -> jax.Array:
    """Volume of each region, (n_regions,) m^3."""
    return jax.ops.segment_sum(volumes, cell_region, n_regions)


def fraction_above(
    e_max: jax.Array, volumes: jax.Array, cell_region: jax.Array, thresholds: jax.Array
) -> jax.Array:
    """Volume fraction of each region whose e_max reaches that region's threshold, (n_regions,).

    A cell counts when e_max >= threshold (hard; for reports, not for gradients).
    """
    n_regions = thresholds.shape[0]
    covered = (e_max >= thresholds[cell_region]).astype(volumes.dtype)
    total = region_volumes(volumes, cell_region, n_regions)
    above = jax.ops.segment_sum(volumes * covered, cell_region, n_regions)
    return above / jnp.where(total > 0, total, 1.0)


def region_field_stats(
    e_max: jax.Array, volumes: jax.Array, cell_region: jax.Array, n_regions: int
) -> tuple[jax.Array, jax.Array]:
    """Volume-weighted mean and maximum of e_max per region, each (n_regions,) V/m."""
    total = region_volumes(volumes, cell_region, n_regions)
    mean = jax.ops.segment_sum(volumes * e_max, cell_region, n_regions) / jnp.where(
        total > 0, total, 1.0
    )
    peak = jax.ops.segment_max(e_max, cell_region, n_regions)
    return mean, jnp.where(total > 0, peak, 0.0)
