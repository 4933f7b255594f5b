"""How accurate a run is, from its own solution: the a posteriori error estimate of every run.

    results = with_error_estimate(results)   # adds the estimates; nothing else changes

From the Zienkiewicz-Zhu indicator of each pair's potential (`epsim.fem.estimator`):

- per pair, `pair_fields["current_error"]` (1): the estimated relative error of the pair
  current, eta^2 / (V I). The computed current is the higher one (a P1 solution is too stiff).
  On the coaxial case the estimate is 1.04-1.08 times the true error (linear; 1.03-1.32 with
  the liver ramp sigma(E)); on two needles in liver, currents corrected by it agree within
  0.2 % across five meshes of 47k-371k cells where the computed currents spread over 4 %
  (docs/physics.md, section 7);
- per region, `fraction_rev_error` and `fraction_irr_error` (1): how far the region's coverage
  at E_rev / E_irr may be too high, the coverage lost when each cell's largest field is taken
  down by the current error of the pair that gives it. A P1 solution is too stiff where the
  field is steepest (at the needles), so the pair's resistance comes out low and the rest of the
  tissue sees a field too high by about the current's error: on two needles in liver (four
  accuracy levels, 81k-1.54M cells) the figure was 1.5-2.2 times the tumour's remaining error at
  E_irr, 2-7 times the liver's, and fell at the same rate (docs/physics.md, section 7).

`corrected_currents(results)` divides each pair current by 1 + its estimated error: the current
a fine mesh would give (the summary's `fine mesh` column).

A report calls the mesh too coarse above `ACCEPTABLE_CURRENT_ERROR` or
`ACCEPTABLE_COVERAGE_ERROR`, levels set from those measurements.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from epsim.fem.elements import elements
from epsim.fem.estimator import current_error, recovery_groups, zz_indicator
from epsim.io.results import Results
from epsim.mesh.sizing import REFERENCE_ACCURACY
from epsim.metrics import fraction_above
from epsim.padding import ANCHORS, bucket, pad_points

# Estimates above these call a mesh too coarse: the current accuracy the accurate-default
# rule aims at (the estimate is close to the error), and a coverage estimate that was about
# twice the coverage's own remaining error, so 5 points flags about 2-3 points and more.
ACCEPTABLE_CURRENT_ERROR = REFERENCE_ACCURACY
ACCEPTABLE_COVERAGE_ERROR = 0.05


class Estimate(NamedTuple):
    """The estimates of a run.

    Attributes:
        current_error: (n_pairs,) 1, relative error of each pair current.
        coverage_error: (2, n_regions) 1, how far the coverage at E_rev (row 0) and E_irr
            (row 1) of each region of `Results.region_names` may be too high.
    """

    current_error: np.ndarray
    coverage_error: np.ndarray


@partial(jax.jit, static_argnums=(3,))
def _estimate(points, corners, groups, n_groups, potential, sigma, e_mag, e_max, voltage,
              current, region, thresholds):
    """`Estimate` in one program (one compilation per mesh); thresholds (2, n_regions) V/m."""
    geometry = elements(points, corners)

    def eta_sq(pair):
        return jnp.sum(zz_indicator(geometry, groups, n_groups, *pair).eta_sq)

    errors = current_error(jax.lax.map(eta_sq, (potential, sigma)), voltage, current)
    strongest = jnp.argmax(e_mag, axis=0)  # the pair that gives each cell its e_max
    lowered = e_max / (1.0 + errors[strongest])
    volumes = jnp.abs(geometry.volumes)
    excess = jax.vmap(lambda t: fraction_above(e_max, volumes, region, t)
                      - fraction_above(lowered, volumes, region, t))(thresholds)
    return errors, excess


def cell_materials(results: Results) -> np.ndarray:
    """(n_cells,) int, a material index per cell (parts of one material share it)."""
    materials = [results.material_of(k) for k in range(len(results.region_names))]
    index = np.array([materials.index(m) for m in materials])
    return index[np.asarray(results.cell_region)]


def error_estimate(results: Results) -> Estimate:
    """The estimates of a run's solution (thresholds of regions without metrics: 0).

    The arrays are padded to size buckets (`epsim.padding.bucket`) so that meshes of similar
    size share one compiled program: padded cells sit on the four anchor nodes of
    `epsim.padding.pad_points` at 0 V (no flux, no error) in a region past the last (left out
    of every region sum)."""
    n_nodes, n_cells = len(results.points), len(results.cells)
    groups, n_groups = recovery_groups(results.cells, cell_materials(results))
    nodes, cells, slots = bucket(n_nodes + ANCHORS), bucket(n_cells), bucket(n_groups + ANCHORS)
    extra = cells - n_cells
    corners = np.concatenate([np.asarray(results.cells).T, np.repeat(
        np.arange(n_nodes, n_nodes + ANCHORS)[:, None], extra, axis=1)], axis=1)
    groups = np.concatenate([groups, np.repeat(
        np.arange(n_groups, n_groups + ANCHORS)[:, None], extra, axis=1)], axis=1)

    def per_cell(x, value):  # (..., n_cells) -> (..., cells)
        x = np.asarray(x)
        return np.concatenate([x, np.full(x.shape[:-1] + (extra,), value, x.dtype)], axis=-1)

    potential = np.asarray(results.potential)
    potential = np.concatenate([potential, np.zeros((len(potential), nodes - n_nodes))], axis=1)
    by_name = {m.name: m for m in results.metrics}
    thresholds = [[getattr(by_name[n], key) if n in by_name else 0.0
                   for n in results.region_names] for key in ("e_rev", "e_irr")]
    out = _estimate(
        jnp.asarray(pad_points(results.points, nodes)), jnp.asarray(corners),
        jnp.asarray(groups), slots, jnp.asarray(potential),
        jnp.asarray(per_cell(results.sigma, 1.0)), jnp.asarray(per_cell(results.e_mag, 0.0)),
        jnp.asarray(per_cell(results.e_max, 0.0)), jnp.asarray(results.voltage),
        jnp.asarray(results.current),
        jnp.asarray(per_cell(results.cell_region, len(results.region_names))),
        jnp.asarray(thresholds))
    return Estimate(*(np.asarray(a) for a in jax.device_get(out)))


def corrected_currents(results: Results) -> np.ndarray | None:
    """(n_pairs,) A, each pair current corrected by its estimated error, I / (1 + error): an
    estimate of the current a fine mesh would give (None for results without estimates).

    In the accuracy study (benchmarks/ACCURACY_RESULTS.md, ninth run) the first pair's
    corrected current came within 0.3 % of the extrapolated current on the accurate-default
    meshes of every needle case, and within 0.6-1.0 % on two-needle meshes of about 80k cells
    whose computed currents were 4.4-5.0 % high; from below on needles, from above on plates
    (whose faces' edges are singular), where it was 0.5 % high."""
    errors = results.pair_fields.get("current_error")
    if errors is None:
        return None
    return np.asarray(results.current) / (1.0 + np.asarray(errors))


def with_error_estimate(results: Results) -> Results:
    """`results` with the estimated current error per pair and coverage error per region."""
    estimate = error_estimate(results)
    names = list(results.region_names)
    metrics = tuple(dataclasses.replace(
        m, fraction_rev_error=float(estimate.coverage_error[0, names.index(m.name)]),
        fraction_irr_error=float(estimate.coverage_error[1, names.index(m.name)]),
    ) for m in results.metrics)
    return dataclasses.replace(results, metrics=metrics, pair_fields={
        **results.pair_fields, "current_error": estimate.current_error})


__all__ = ["ACCEPTABLE_COVERAGE_ERROR", "ACCEPTABLE_CURRENT_ERROR", "Estimate",
           "cell_materials", "corrected_currents", "error_estimate", "with_error_estimate"]
