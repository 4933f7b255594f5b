"""Coaxial cylinders, linear and nonlinear, against the 1-D reduction (docs/physics.md, section 6)."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from tests.helpers.analytic import coax_linear, coax_nonlinear, logistic, ramp
from epsim.physics import Constant, Logistic, Ramp
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Newton
from tests.helpers.meshes import annulus_sector

A, B, H = 0.5e-3, 10e-3, 1e-3  # m
QUARTER = 4.0  # the mesh is a quarter of the annulus


@pytest.fixture(scope="module")
def coax():
    mesh = annulus_sector(A, B, H, n_r=32, n_theta=24)
    problem = prepare(mesh, ["inner", "outer"], np.full(mesh.n_cells, 0.08))
    return mesh, problem


def current_per_length(coax, model, voltage):
    mesh, problem = coax
    pairs = make_pairs(problem, [("inner", "outer", voltage)])
    fields = simulate(problem, jnp.asarray(mesh.points), model, pairs, solver=Newton(rtol=1e-11))
    assert bool(fields.converged[0])
    assert int(fields.iterations[0]) <= 12
    return float(fields.current[0]) * QUARTER / H, fields


def test_linear(coax):
    current, fields = current_per_length(coax, Constant(0.08), 300.0)
    reference, phi = coax_linear(0.08, A, B, 300.0)
    assert current == pytest.approx(reference, rel=5e-3)
    mesh = coax[0]
    r = np.linalg.norm(np.asarray(mesh.points)[:, :2], axis=1)
    assert np.max(np.abs(fields.potential[0] - phi(r))) < 2e-3 * 300.0


@pytest.mark.parametrize(
    "model, reference, voltage",
    [
        (Ramp(0.08, 0.32, 350e2, 700e2), ramp(0.08, 0.32, 350e2, 700e2), 300.0),
        (Logistic(0.08, 0.32, 525e2, 50e2), logistic(0.08, 0.32, 525e2, 50e2), 300.0),
        (Ramp(0.08, 0.32, 350e2, 700e2), ramp(0.08, 0.32, 350e2, 700e2), 500.0),
    ],
)
def test_nonlinear(coax, model, reference, voltage):
    current, fields = current_per_length(coax, model, voltage)
    expected, e_of_r = coax_nonlinear(reference, A, B, voltage)
    assert current == pytest.approx(expected, rel=5e-3)
    # nodal potential against phi(r) = V - integral of E from a to r
    mesh = coax[0]
    r = np.linalg.norm(np.asarray(mesh.points)[:, :2], axis=1)
    sample = np.unique(np.round(r, 12))[::4]
    phi_ref = np.array([voltage - quad(e_of_r, A, x, epsrel=1e-10)[0] for x in sample])
    phi_mesh = np.interp(sample, r[np.argsort(r)], np.asarray(fields.potential[0])[np.argsort(r)])
    assert np.max(np.abs(phi_mesh - phi_ref)) < 2e-3 * voltage
