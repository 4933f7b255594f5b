"""The error estimate of a run (epsim.accuracy) on a synthetic `Results`: the coverage error
recomputed independently, the estimates in the results file with units, nothing
else changed, the padded program equal to the bare indicator and shared by similar meshes."""

import dataclasses

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.accuracy import cell_materials, with_error_estimate
from epsim.fem.elements import elements
from epsim.fem.estimator import current_error, recovery_groups, zz_indicator
from epsim.padding import Compilations, bucket
from epsim.report import accuracy_lines
from epsim.io import read_results, write_results
from epsim.io.results import material_metrics
from tests.helpers.synthetic_results import make_results


@pytest.fixture(scope="module")
def estimated():
    results = make_results()
    return results, with_error_estimate(results)


def test_coverage_error_matches_independent_count(estimated):
    """fraction_*_error: volume share of the region whose e_max reaches the threshold but would
    not if lowered by the current error of the pair giving that e_max, counted here in numpy."""
    results, out = estimated
    errors = out.pair_fields["current_error"]
    strongest = np.argmax(results.e_mag, axis=0)
    lowered = results.e_max / (1 + errors[strongest])
    x = results.points[results.cells]
    volumes = np.abs(np.linalg.det(x[:, 1:] - x[:, :1])) / 6.0
    for k, m in enumerate(out.metrics):
        inside = results.cell_region == k
        for key in ("rev", "irr"):
            t = getattr(m, f"e_{key}")
            lost = (results.e_max >= t) & (lowered < t)
            expected = volumes[inside & lost].sum() / volumes[inside].sum()
            assert getattr(m, f"fraction_{key}_error") == pytest.approx(expected, abs=1e-12)
    assert any(m.fraction_irr_error > 0 for m in out.metrics)  # the case is not trivial


def test_only_the_estimates_are_added(estimated):
    results, out = estimated
    errors = out.pair_fields["current_error"]
    assert errors.shape == (2,) and np.all((errors > 0) & (errors < 1))
    plain = [dataclasses.replace(m, fraction_rev_error=None, fraction_irr_error=None)
             for m in out.metrics]
    assert tuple(plain) == results.metrics
    assert np.array_equal(out.e_max, results.e_max) and np.array_equal(out.current, results.current)


def test_written_with_units_and_read_back(estimated, tmp_path):
    _, out = estimated
    path = write_results(tmp_path / "run.h5", out)
    with h5py.File(path) as f:
        assert f["pairs/current_error"].attrs["units"] == "1"
        assert f["metrics/tumour/fraction_irr_error"].attrs["units"] == "1"
    back = read_results(path)
    assert back.metrics == out.metrics
    assert np.array_equal(back.pair_fields["current_error"], out.pair_fields["current_error"])


def test_material_metrics_weigh_the_uncertainty_by_volume(estimated):
    _, out = estimated
    halves = [dataclasses.replace(m, name=f"{m.name}_{k}", volume=m.volume / 2,
                                  fraction_irr_error=float(k))
              for m in out.metrics if m.material == "tumour" for k in (0, 1)]
    assert material_metrics(halves, "tumour").fraction_irr_error == pytest.approx(0.5)


def test_padded_program_equals_unpadded_and_is_shared(estimated):
    """The padded estimate equals the indicator on the bare mesh to 1e-12, and a second mesh of
    another size in the same bucket runs without tracing or compiling anything."""
    results, out = estimated
    groups, n_groups = recovery_groups(results.cells, cell_materials(results))
    geometry = elements(jnp.asarray(results.points), jnp.asarray(results.cells.T))
    bare_indicator = jax.jit(zz_indicator, static_argnums=(2,))
    for k in range(len(results.anode)):
        ind = bare_indicator(geometry, jnp.asarray(groups), n_groups,
                             jnp.asarray(results.potential[k]), jnp.asarray(results.sigma[k]))
        bare = current_error(jnp.sum(ind.eta_sq), results.voltage[k], results.current[k])
        assert out.pair_fields["current_error"][k] == pytest.approx(float(bare), rel=1e-12)
    fewer = dataclasses.replace(results, cells=results.cells[:-6], cell_region=
                                results.cell_region[:-6], e_mag=results.e_mag[:, :-6],
                                sigma=results.sigma[:, :-6], e_max=results.e_max[:-6])
    assert bucket(len(fewer.cells)) == bucket(len(results.cells))
    with Compilations() as seen:
        with_error_estimate(fewer)
    assert seen.traced == 0 and seen.compiled == 0


@pytest.mark.parametrize("current, coverage, coarse", [
    (0.01, 0.04, False), (0.06, 0.04, True), (0.01, 0.08, True)])
def test_summary_line_flags_a_coarse_mesh(estimated, current, coverage, coarse):
    _, out = estimated
    metrics = tuple(dataclasses.replace(m, fraction_rev_error=coverage / 2,
                                        fraction_irr_error=coverage) for m in out.metrics)
    results = dataclasses.replace(out, metrics=metrics, pair_fields={
        "current_error": np.array([current / 2, current])})
    (line,) = accuracy_lines(results)
    assert line.startswith("WARNING: the mesh is too coarse") == coarse
    assert f"currents up to {100 * current:.1f} % high (pair 2)" in line
    assert f"target coverage up to {100 * coverage:.1f} points high (tumour, >= E_irr)" in line
