"""Parallel plates and layered slabs: P1 is exact for these, so the solver must be too."""

import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.analytic import layered_plates, ramp, smooth_step
from epsim.mesh import make_mesh
from epsim.mesh.structured import structured_box_mesh
from epsim.physics import Constant, Ramp, RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Newton

L = 0.01  # m, plate gap (x); the cross-section is L x L


def two_layer_box(n=6):
    """Box [-L/2, L/2]^3 split at x = 0 into regions 'a' (x < 0) and 'b' (x > 0)."""
    mesh = structured_box_mesh((L, L, L), n)
    centroid_x = np.asarray(mesh.points)[mesh.cells].mean(axis=1)[:, 0]
    region = (centroid_x > 0).astype(int)
    return make_mesh(mesh.points, mesh.cells, region, ("a", "b"), mesh.facets)


def run(mesh, model, voltage, sigma0):
    problem = prepare(mesh, ["xmin", "xmax"], sigma0)
    pairs = make_pairs(problem, [("xmin", "xmax", voltage)])
    return simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=Newton(rtol=1e-13))


def test_linear_layers_exact():
    mesh = two_layer_box()
    s_a, s_b, voltage = 0.2, 0.05, 100.0
    model = RegionConductivity((Constant(s_a), Constant(s_b)), jnp.asarray(mesh.cell_region))
    fields = run(mesh, model, voltage, np.where(mesh.cell_region == 0, s_a, s_b))
    j = voltage / (0.5 * L / s_a + 0.5 * L / s_b)
    x = np.asarray(mesh.points)[:, 0]
    exact = np.where(x < 0, voltage - j / s_a * (x + L / 2), j / s_b * (L / 2 - x))
    assert bool(fields.converged[0])
    assert np.max(np.abs(fields.potential[0] - exact)) <= 1e-10 * voltage
    assert float(fields.current[0]) == pytest.approx(j * L * L, rel=1e-10)
    e_expected = np.where(mesh.cell_region == 0, j / s_a, j / s_b)
    np.testing.assert_allclose(fields.e_mag[0], e_expected, rtol=1e-9)


@pytest.mark.parametrize("voltage", [300.0, 700.0, 1500.0])
def test_nonlinear_layers_match_scalar_root(voltage):
    mesh = two_layer_box()
    tumour = SmoothStep(0.2, 0.7, 400e2, 800e2)
    liver = Ramp(0.08, 0.32, 350e2, 700e2)
    model = RegionConductivity((tumour, liver), jnp.asarray(mesh.cell_region))
    fields = run(mesh, model, voltage, np.where(mesh.cell_region == 0, 0.2, 0.08))
    j, (e_a, e_b) = layered_plates(
        [smooth_step(0.2, 0.7, 400e2, 800e2), ramp(0.08, 0.32, 350e2, 700e2)],
        [L / 2, L / 2], voltage,
    )
    assert bool(fields.converged[0])
    assert int(fields.iterations[0]) <= 12
    np.testing.assert_allclose(
        fields.e_mag[0], np.where(mesh.cell_region == 0, e_a, e_b), rtol=1e-8
    )
    assert float(fields.current[0]) == pytest.approx(j * L * L, rel=1e-8)
    assert float(fields.cathode_current[0]) == pytest.approx(-j * L * L, rel=1e-8)
