"""Programs run once are compiled with short-compile options (epsim.solve.compile): the options
follow the work and the user's XLA_FLAGS, and the answers equal those of XLA's defaults."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.mesh.structured import structured_box_mesh
from epsim.padding import Compilations
from epsim.physics import RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Amg, Newton
from epsim.solve.compile import (
    LARGE, ONE_OFF_CALLS, SMALL, SMALL_WORK, one_off_jit, one_off_options,
)

SOLVER = Newton(rtol=1e-13, adjoint_rtol=1e-14)
pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu",
                                reason="the options are the CPU's; other backends keep XLA's")


def test_options_follow_the_work_and_the_users_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")
    assert one_off_options(SMALL_WORK) == SMALL
    assert one_off_options(SMALL_WORK + 1) == LARGE
    assert SMALL["xla_backend_optimization_level"] == 0
    assert LARGE["xla_backend_optimization_level"] == 1
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    assert one_off_options(10) == {"xla_backend_optimization_level": 0}


def test_a_program_called_again_and_again_gets_xlas_defaults(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")
    assert one_off_options(10, calls_before=ONE_OFF_CALLS - 1) == SMALL
    assert one_off_options(10, calls_before=ONE_OFF_CALLS) == {}  # a loop over configs
    f = one_off_jit(lambda x: jnp.sin(x) * 2.0 + x)
    small, other = jnp.arange(5.0), jnp.arange(7.0)
    with Compilations() as seen:
        for _ in range(ONE_OFF_CALLS):
            f(small, work=10)
            f(other, work=10)  # another shape: counted apart
    assert seen.compiled == 2
    with Compilations() as seen:
        f(small, work=10)
        f(small, work=10)
    assert seen.compiled == 1  # the defaults' program, once


@pytest.fixture(scope="module")
def case():
    mesh = structured_box_mesh((0.01, 0.01, 0.01), (8, 8, 8))
    centre = np.asarray(mesh.points)[mesh.cells].mean(axis=1)
    region = (np.max(np.abs(centre), axis=1) < 0.003).astype(int)
    problem = prepare(mesh, ["xmin", "xmax"], np.full(mesh.n_cells, 0.1),
                      preconditioner=Amg(max_coarse=60))
    model = RegionConductivity(
        (SmoothStep(0.08, 0.32, 350e2, 700e2), SmoothStep(0.2, 0.7, 400e2, 800e2)),
        jnp.asarray(region))
    pairs = make_pairs(problem, [("xmin", "xmax", 600.0)])
    return problem, jnp.asarray(mesh.points), model, pairs


@pytest.mark.parametrize("work", [SMALL_WORK, SMALL_WORK + 1])
def test_one_off_programs_equal_the_default_program(case, work, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")  # the suite's own flags would leave no options to set
    problem, points, model, pairs = case

    def solve(*a):
        return simulate(*a, solver=SOLVER)

    reference = jax.jit(solve)(problem, points, model, pairs)
    once = one_off_jit(solve)(problem, points, model, pairs, work=work)  # its first call
    assert bool(np.all(once.converged))
    np.testing.assert_allclose(once.potential, reference.potential, rtol=0, atol=1e-12 * 600)
    np.testing.assert_allclose(once.current, reference.current, rtol=1e-12)
