"""The 1-D references themselves reproduce the numbers tabulated in docs/physics.md, section 6."""

import math

import pytest

from tests.helpers.analytic import (
    coax_linear,
    coax_nonlinear,
    logistic,
    ramp,
    spheres_nonlinear,
    two_cylinders_midpoint_field,
)

LIVER_RAMP = ramp(0.08, 0.32, 350e2, 700e2)


@pytest.mark.parametrize(
    "sigma, voltage, current, e_a",
    [
        (LIVER_RAMP, 300.0, 77.84300, 774.32e2),
        (logistic(0.08, 0.32, 525e2, 50e2), 300.0, 77.27049, 772.68e2),
        (ramp(0.08, 0.08 + 1e-12, 1e30, 2e30), 300.0, 50.33709, 2002.85e2),
        (LIVER_RAMP, 500.0, 207.36133, 2062.66e2),
    ],
)
def test_coax_table(sigma, voltage, current, e_a):
    i, e = coax_nonlinear(sigma, 0.5e-3, 10e-3, voltage)
    assert i == pytest.approx(current, rel=2e-7)
    assert e(0.5e-3) == pytest.approx(e_a, rel=1e-5)


def test_coax_radius_of_threshold():
    _, e = coax_nonlinear(LIVER_RAMP, 0.5e-3, 10e-3, 300.0)
    assert e(4.42468e-3) == pytest.approx(350e2, rel=1e-5)


def test_coax_linear_matches_nonlinear_reference():
    i_lin, _ = coax_linear(0.08, 0.5e-3, 10e-3, 300.0)
    assert i_lin == pytest.approx(50.33709, rel=1e-6)


def test_spheres_table():
    i, e = spheres_nonlinear(ramp(0.08, 0.32, 350e2, 700e2), 1e-3, 20e-3, 300.0)
    assert i == pytest.approx(0.643509, rel=1e-6)
    assert e(1e-3) == pytest.approx(1600.28e2, rel=1e-5)


def test_two_cylinders_example():
    assert two_cylinders_midpoint_field(0.5e-3, 10e-3, 1000.0) == pytest.approx(671.5e2, rel=1e-4)
    assert math.isfinite(two_cylinders_midpoint_field(0.5e-3, 10e-3, 1000.0))
