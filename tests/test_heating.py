"""Joule heating along pulse trains: adiabatic slabs, current rise, energy balance, convergence in
time and space, gradients, and the errors bad input must raise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from epsim.errors import InputError, MaterialError
from epsim.heating import (
    CostModel,
    HeatSolver,
    PulseTrain,
    build_heat_preconditioner,
    check_budget,
    estimate_cost,
    measure_cost,
    simulate_heating,
)
from epsim.mesh.structured import structured_box_mesh
from epsim.physics import Constant, RegionConductivity, SmoothStep
from epsim.physics.thermal import (
    Arrhenius,
    TemperatureConductivity,
    ThermalTissue,
)
from epsim.simulate import Pairs, make_pairs, prepare
from epsim.solve import Jacobi, Newton
from tests.helpers.meshes import inclusion_box

SOLVER = Newton(rtol=1e-12)
TIGHT = HeatSolver(rtol=1e-12)
RHO_C = 1050.0 * 3600.0  # J/m^3/K, OpenEP defaults
T0 = 310.15
ADIABATIC = dict(w_b=0.0, q_m=0.0)


def plates(size, n, sigma0):
    mesh = structured_box_mesh(size, n)
    problem = prepare(mesh, ["xmin", "xmax"], np.full(mesh.n_cells, sigma0), preconditioner=Jacobi())
    return mesh, problem


def heat(mesh, problem, model, voltage, thermal, train, **kw):
    """simulate_heating, jitted (an eager call would retrace its scans at every call)."""
    pairs = make_pairs(problem, [("xmin", "xmax", voltage)])
    run = jax.jit(lambda points: simulate_heating(problem, points, model, pairs, thermal, train,
                                                  solver=SOLVER, heat_solver=TIGHT, **kw))
    return run(jnp.asarray(mesh.points))


def test_adiabatic_slab_heats_by_sigma_e2_t_and_omega_integrates_arrhenius():
    """Uniform field E = V/L, insulated, no perfusion: dT = sigma E^2 (count tau) / (rho c), and
    Omega = integral of A exp(-Ea / (R T(t))) dt along the known piecewise-linear T(t)."""
    L, sigma, count, width, rate = 0.01, 0.2, 8, 1e-4, 1.0
    mesh, problem = plates((L, L, L), 2, sigma)
    voltage = 8700.0
    r = heat(mesh, problem, Constant(sigma), voltage, ThermalTissue(alpha=0.0, **ADIABATIC),
             PulseTrain(count, width, rate, substeps=4, pause_steps=2))
    per_pulse = sigma * (voltage / L) ** 2 * width / RHO_C
    assert float(jnp.max(jnp.abs(r.temperature - (T0 + count * per_pulse)))) < 1e-6 * per_pulse
    np.testing.assert_allclose(r.temperature_max, T0 + count * per_pulse, rtol=1e-12)
    np.testing.assert_allclose(r.current, sigma * voltage / L * L * L, rtol=1e-10)
    assert float(r.stored_energy) == pytest.approx(float(r.joule_energy), rel=1e-9)
    assert float(r.joule_energy) == pytest.approx(sigma * (voltage / L) ** 2 * L**3 * count * width,
                                                  rel=1e-10)

    def temperature(t):
        j, s = divmod(t, 1.0 / rate)
        return T0 + per_pulse * (j + min(s / width, 1.0))

    a, ea = Arrhenius().a, Arrhenius().ea
    rate_fn = lambda t: np.exp(np.log(a) - ea / (8.314462618 * temperature(t)))  # noqa: E731
    breaks = [j / rate + d for j in range(count) for d in (0.0, width)]
    exact = sum(quad(rate_fn, a, b)[0] for a, b in zip(breaks, breaks[1:] + [count / rate]))
    assert float(jnp.min(r.omega)) == pytest.approx(exact, rel=1e-2)
    assert float(jnp.max(r.omega)) == pytest.approx(exact, rel=1e-2)


def test_current_rises_by_the_temperature_coefficient():
    """alpha > 0: dT/dt = s (1 + alpha dT), s = sigma0 E^2 / (rho c), so after t of pulsing
    dT = (exp(alpha s t) - 1) / alpha, and every pulse's current is I_0 (1 + alpha dT)."""
    L, sigma, alpha, count, width = 0.01, 0.2, 0.015, 8, 1e-4
    mesh, problem = plates((L, L, L), 2, sigma)
    voltage = 2000.0
    r = heat(mesh, problem, Constant(sigma), voltage, ThermalTissue(alpha=alpha, **ADIABATIC),
             PulseTrain(count, width, 1.0, substeps=2, pause_steps=1))
    s = sigma * (voltage / L) ** 2 / RHO_C
    on_time = width * np.arange(count)
    d_t = np.expm1(alpha * s * on_time) / alpha
    i0 = sigma * voltage / L * L * L
    rise = np.asarray(r.current[0]) / i0 - 1.0
    assert rise[-1] > 0.02
    np.testing.assert_allclose(rise, alpha * d_t, rtol=1e-2, atol=1e-12)
    final = np.expm1(alpha * s * width * count) / alpha
    assert float(jnp.max(r.temperature_max)) - T0 == pytest.approx(final, rel=1e-2)


def test_energy_balance_non_uniform():
    """Joule + metabolic heat = stored + perfusion + sink losses (nonlinear sigma(E, T) in an
    inclusion, electrodes as heat sinks, perfusion on)."""
    mesh = inclusion_box(n=4)
    region = jnp.asarray(mesh.cell_region)
    problem = prepare(mesh, ["xmin", "xmax"], np.where(mesh.cell_region == 1, 0.2, 0.08))
    model = RegionConductivity(
        (SmoothStep(0.08, 0.32, 350e2, 700e2), SmoothStep(0.2, 0.7, 400e2, 800e2)), region
    )
    r = heat(mesh, problem, model, 1500.0, ThermalTissue(), PulseTrain(4, 1e-4, 2.0, 2, 3),
             heat_sink=True)
    assert bool(jnp.all(r.converged)) and bool(r.heat_converged)
    losses = float(r.stored_energy + r.perfusion_energy + r.sink_energy)
    gains = float(r.joule_energy + r.metabolic_energy)
    assert losses == pytest.approx(gains, rel=1e-8)
    assert float(r.sink_energy) > 0.05 * gains and float(r.perfusion_energy) > 0
    assert float(r.stored_energy) > 0.5 * gains
    assert float(jnp.std(r.temperature_max)) > 0.1  # genuinely non-uniform
    on_sink = np.asarray(problem.electrode_masks.any(axis=0))
    np.testing.assert_allclose(np.asarray(r.temperature)[on_sink], T0, atol=1e-12)


# A 1-D problem in a 3-D mesh: 2 mm slab between heat-sink plates, so that heat diffuses over the
# whole gap during the train (diffusion length sqrt(k t / (rho c)) ~ 1 mm after 8 s).
SLAB = 0.002


def slab_peak(slab, substeps, pause_steps, **kw):
    mesh, problem = slab
    r = heat(mesh, problem, Constant(0.2), 1000.0, ThermalTissue(),
             PulseTrain(8, 1e-4, 1.0, substeps, pause_steps), heat_sink=True, **kw)
    return float(jnp.max(r.temperature_max))


def slab(nx):
    return plates((SLAB, SLAB / 4, SLAB / 4), (nx, 1, 1), 0.2)


@pytest.mark.slow
def test_peak_temperature_converges_first_order_in_time():
    mesh = slab(8)
    peaks = [slab_peak(mesh, s, 2 * s) for s in (1, 2, 4)]
    diffs = np.abs(np.diff(peaks))
    assert diffs[1] < diffs[0]
    assert 1.6 < diffs[0] / diffs[1] < 2.5  # backward Euler
    # a host-built AMG preconditioner for the heat steps gives the same answer
    pcs = build_heat_preconditioner(mesh[1], mesh[0].points, ThermalTissue(),
                                    PulseTrain(8, 1e-4, 1.0, 1, 2), heat_sink=True)
    assert slab_peak(mesh, 1, 2, heat_precondition=pcs) == pytest.approx(peaks[0], rel=1e-12)


@pytest.mark.slow
def test_peak_temperature_converges_under_mesh_refinement():
    peaks = [slab_peak(slab(n), 2, 4) for n in (4, 8, 16)]
    diffs = np.abs(np.diff(peaks))
    assert diffs[1] < diffs[0]
    assert 3.0 < diffs[0] / diffs[1] < 5.0  # P1: second order at a smooth peak


def test_gradient_with_respect_to_voltage_and_thermal_parameters():
    """Reverse mode through pulses (implicit adjoints of the potential and heat solves) against
    central differences."""
    L = 0.01
    mesh, problem = plates((L, L, L), 2, 0.08)
    model = SmoothStep(0.08, 0.32, 350e2, 700e2)
    pairs = make_pairs(problem, [("xmin", "xmax", 600.0)])
    train = PulseTrain(2, 1e-4, 1.0, 1, 1)

    @jax.jit
    def objective(voltage, k, alpha):
        p = Pairs(pairs.anode, pairs.cathode, voltage)
        r = simulate_heating(problem, jnp.asarray(mesh.points), model, p,
                             ThermalTissue(k=k, alpha=alpha), train, solver=SOLVER,
                             heat_solver=TIGHT, heat_sink=True)
        return jnp.sum(r.temperature_max) + 10.0 * r.current[0, -1]

    x = (jnp.array([600.0]), 0.512, 0.015)
    grads = jax.jit(jax.grad(objective, argnums=(0, 1, 2)))(*x)
    for i, h in enumerate([1e-2, 1e-5, 1e-6]):
        up = list(x)
        down = list(x)
        up[i], down[i] = x[i] + h, x[i] - h
        fd = (objective(*up) - objective(*down)) / (2 * h)
        assert abs(float(fd)) > 0
        assert float(jnp.ravel(grads[i])[0]) == pytest.approx(float(fd), rel=1e-5)


@pytest.mark.parametrize(
    "bad",
    [dict(k=0.0), dict(k=-0.5), dict(rho=0.0), dict(c=-1.0), dict(rho_b=0.0), dict(c_b=0.0),
     dict(w_b=-0.001), dict(q_m=-1.0), dict(t0=37.0), dict(t_b=400.0), dict(alpha=-0.05),
     dict(k=float("nan")), dict(k=np.array([0.5, 0.0]))],
)
def test_non_physical_thermal_parameters(bad):
    with pytest.raises(MaterialError):
        ThermalTissue(**bad)


def test_other_non_physical_values():
    with pytest.raises(MaterialError):
        TemperatureConductivity(Constant(0.2), jnp.array([1.0, -0.1]))
    with pytest.raises(MaterialError):
        Arrhenius(a=0.0)
    for bad in [dict(count=0), dict(width=0.0), dict(rate=-1.0), dict(width=1e-3, rate=1000.0),
                dict(substeps=0)]:
        args = dict(count=8, width=1e-4, rate=1.0) | bad
        with pytest.raises(InputError):
            PulseTrain(**args)


def test_budget():
    train = PulseTrain(90, 1e-4, 1.0, substeps=4, pause_steps=4)
    cost = CostModel(potential_seconds_per_cell=1e-6, heat_step_seconds_per_cell=1e-7)
    seconds = estimate_cost(100_000, 9, 90, 4, 4, cost=cost)
    assert seconds == pytest.approx(9 * 90 * 100_000 * (1e-6 + 8e-7))
    assert check_budget(100_000, 9, train, 1000.0, cost=cost) == pytest.approx(seconds)
    with pytest.raises(InputError, match=r"810 pulses .* over the budget of 60 s"):
        check_budget(100_000, 9, train, 60.0, cost=cost)


def test_measured_cost_is_positive_and_usable():
    mesh, problem = plates((0.01, 0.01, 0.01), 2, 0.2)
    pairs = make_pairs(problem, [("xmin", "xmax", 500.0)])
    train = PulseTrain(4, 1e-4, 1.0)
    cost = measure_cost(problem, mesh.points, Constant(0.2), pairs, ThermalTissue(), train,
                        repeats=1)
    assert 0 < cost.potential_seconds_per_cell < 1.0
    assert 0 < cost.heat_step_seconds_per_cell < 1.0
    assert check_budget(mesh.n_cells, 1, train, 60.0, cost=cost) < 60.0
