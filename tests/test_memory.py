"""Max-field memory across a pair sequence (PHYSICS.md section 1, Go-Smart NumaIRE convention)."""

import jax.numpy as jnp
import numpy as np
import pytest

from epsim.physics import RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Newton
from meshes import inclusion_box, with_face_patches

SOLVER = Newton(rtol=1e-11)


@pytest.fixture(scope="module")
def case():
    mesh = with_face_patches(inclusion_box(n=6), ["xmin", "xmax", "ymin", "ymax"], 0.0031)
    problem = prepare(mesh, ["xmin_patch", "xmax_patch", "ymin_patch", "ymax_patch"], np.full(mesh.n_cells, 0.1), floating_idle=False)
    model = RegionConductivity(
        (SmoothStep(0.08, 0.32, 350e2, 700e2), SmoothStep(0.2, 0.7, 400e2, 800e2)),
        jnp.asarray(mesh.cell_region),
    )
    return mesh, problem, model


def run(case, pairs, memory):
    mesh, problem, model = case
    return simulate(problem, jnp.asarray(mesh.points), model, make_pairs(problem, pairs),
                    solver=SOLVER, memory=memory)


def test_single_pair_equals_independent(case):
    pairs = [("xmin_patch", "xmax_patch", 700.0)]
    a, b = run(case, pairs, True), run(case, pairs, False)
    np.testing.assert_allclose(a.potential, b.potential, rtol=0, atol=1e-9 * 700)
    np.testing.assert_allclose(a.current, b.current, rtol=1e-10)


def test_conductivity_never_decreases_and_currents_rise(case):
    pairs = [("xmin_patch", "xmax_patch", 700.0), ("ymin_patch", "ymax_patch", 700.0),
             ("xmin_patch", "xmax_patch", 700.0)]
    mem, ind = run(case, pairs, True), run(case, pairs, False)
    assert np.all(np.asarray(mem.converged))
    sigma = np.asarray(mem.sigma)
    assert np.all(np.diff(sigma, axis=0) >= -1e-12)
    # the repeated first pair finds tissue the earlier pairs opened: more current than the first
    assert float(mem.current[2]) > float(mem.current[0])
    np.testing.assert_allclose(ind.current[2], ind.current[0], rtol=1e-10)
    # later pairs through tissue already permeabilised carry at least the independent current
    assert np.all(np.asarray(mem.current[1:]) >= np.asarray(ind.current[1:]) * (1 - 1e-9))
