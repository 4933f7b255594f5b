"""Analytic and 1-D reference solutions of docs/physics.md, section 6, computed independently of epsim.

All SI: metres, volts, S/m, V/m. The nonlinear references invert the monotone current density
J(E) = sigma(E) E with a bracketing root finder and integrate E(r) dr = V with adaptive
quadrature, to about 1e-10 relative.
"""

import math

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq


def ramp(sigma0, sigma1, e_rev, e_irr):
    def sigma(e):
        t = min(max((e - e_rev) / (e_irr - e_rev), 0.0), 1.0)
        return sigma0 + (sigma1 - sigma0) * t

    return sigma


def logistic(sigma0, sigma1, e_mid, width):
    return lambda e: sigma0 + (sigma1 - sigma0) / (1.0 + math.exp(-(e - e_mid) / width))


def smooth_step(sigma0, sigma1, e_rev, e_irr):
    def sigma(e):
        r = min(max((e - 0.5 * (e_rev + e_irr)) / (0.5 * (e_irr - e_rev)), -1.0), 1.0)
        return sigma0 + (sigma1 - sigma0) * (0.5 + 15 / 16 * r - 5 / 8 * r**3 + 3 / 16 * r**5)

    return sigma


def invert_current_density(sigma, j):
    """E >= 0 with sigma(E) E = j (monotone)."""
    if j == 0:
        return 0.0
    hi = j / sigma(0.0)  # sigma non-decreasing: E <= j / sigma0
    return brentq(lambda e: sigma(e) * e - j, 0.0, hi * 1.0000001, xtol=1e-14, rtol=1e-15)


def _field_integral(sigma, current, a, b, area, breakpoints):
    f = lambda r: invert_current_density(sigma, current / area(r))  # noqa: E731
    return quad(f, a, b, epsabs=0, epsrel=1e-12, limit=500, points=breakpoints)[0]


def _solve_current(sigma, a, b, voltage, area, breakpoints=None):
    hi = voltage * sigma(1e12) * area(a) / (b - a) * 10 + 1.0
    lo = 0.0
    return brentq(
        lambda i: _field_integral(sigma, i, a, b, area, breakpoints) - voltage,
        lo, hi, xtol=1e-14, rtol=1e-14,
    )


def coax_nonlinear(sigma, a, b, voltage):
    """Coaxial cylinders (inner radius a at `voltage`, outer b at 0): current per length A/m,
    and the field function E(r) V/m."""
    area = lambda r: 2 * math.pi * r  # noqa: E731
    current = _solve_current(sigma, a, b, voltage, area)
    return current, lambda r: invert_current_density(sigma, current / area(r))


def spheres_nonlinear(sigma, a, b, voltage):
    """Concentric spheres: total current A and E(r)."""
    area = lambda r: 4 * math.pi * r * r  # noqa: E731
    current = _solve_current(sigma, a, b, voltage, area)
    return current, lambda r: invert_current_density(sigma, current / area(r))


def coax_linear(sigma, a, b, voltage):
    """Current per length and potential phi(r) of linear coaxial cylinders."""
    current = 2 * math.pi * sigma * voltage / math.log(b / a)
    return current, lambda r: voltage * np.log(b / np.asarray(r)) / math.log(b / a)


def layered_plates(sigma_list, thickness_list, voltage):
    """Nonlinear layers in series: common current density J and the field in each layer."""
    def total(j):
        return sum(invert_current_density(s, j) * d for s, d in zip(sigma_list, thickness_list))

    hi = voltage * max(s(1e12) for s in sigma_list) / min(thickness_list) * 10
    j = brentq(lambda j: total(j) - voltage, 0.0, hi, xtol=1e-16, rtol=1e-15)
    return j, [invert_current_density(s, j) for s in sigma_list]


def two_cylinders_midpoint_field(a, centre_distance, voltage):
    """Field at the midpoint between two parallel infinite cylinders (radius a, centres
    centre_distance apart, potentials +-V/2): V / (c s), c = sqrt(h^2 - a^2), s = arccosh(h/a)."""
    h = 0.5 * centre_distance
    c = math.sqrt(h * h - a * a)
    return voltage / (c * math.acosh(h / a))


def two_cylinders_potential(a, centre_distance, voltage, x, y):
    """Potential of the two-cylinder problem (anode centred at -h at +V/2, cathode +h at -V/2)."""
    h = 0.5 * centre_distance
    c = math.sqrt(h * h - a * a)
    s = math.acosh(h / a)
    r1 = np.hypot(x + c, y)
    r2 = np.hypot(x - c, y)
    return voltage / (2 * s) * np.log(r2 / r1)


def sphere_in_uniform_field(sigma_in, sigma_out, radius, e0):
    """Inside field magnitude and the exact outside potential phi(x) for a sphere at the origin
    in the uniform field e0 along +x (potential -e0 x far away)."""
    e_in = 3 * sigma_out / (2 * sigma_out + sigma_in) * e0
    k = (sigma_in - sigma_out) / (sigma_in + 2 * sigma_out)

    def phi_out(points):
        r = np.linalg.norm(points, axis=1)
        cos = points[:, 0] / r
        return -e0 * r * cos + e0 * radius**3 * k * cos / r**2

    return e_in, phi_out
