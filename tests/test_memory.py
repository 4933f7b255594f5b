"""Max-field memory across a pair sequence (docs/physics.md, section 1, Go-Smart NumaIRE convention)."""

import jax.numpy as jnp
import numpy as np
import pytest

from epsim.physics import RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Newton
from tests.helpers.meshes import inclusion_box, with_face_patches

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


def test_memory_pushes_field_into_the_intact_layer_of_a_series_slab():
    """Two layers in series between plates. The first pair opens layer a (low thresholds); with
    memory, layer a stays conductive during the second, weaker pair, so more of its voltage
    drops across the intact layer b: b's field and coverage rise, exactly as the 1-D series
    reduction with sigma_a(max(E_a1, E)) predicts."""
    from tests.helpers.analytic import layered_plates, smooth_step
    from epsim.mesh import make_mesh
    from epsim.mesh.structured import structured_box_mesh

    gap = 0.01
    box = structured_box_mesh((gap, gap, gap), 4)
    region = (np.asarray(box.points)[box.cells].mean(axis=1)[:, 0] > 0).astype(int)
    mesh = make_mesh(box.points, box.cells, region, ("a", "b"), box.facets)
    a, b = (0.1, 0.4, 200e2, 400e2), (0.1, 0.4, 900e2, 1200e2)  # pair 1 leaves b intact
    model = RegionConductivity((SmoothStep(*a), SmoothStep(*b)), jnp.asarray(region))
    problem = prepare(mesh, ["xmin", "xmax"], np.full(mesh.n_cells, 0.1))
    sequence = [("xmin", "xmax", 500.0), ("xmin", "xmax", 300.0)]
    mem = simulate(problem, jnp.asarray(mesh.points), model, make_pairs(problem, sequence),
                   solver=SOLVER, memory=True)
    ind = simulate(problem, jnp.asarray(mesh.points), model, make_pairs(problem, sequence),
                   solver=SOLVER, memory=False)
    in_b = region == 1
    e_b_mem, e_b_ind = float(mem.e_mag[1][in_b].mean()), float(ind.e_mag[1][in_b].mean())
    assert e_b_mem > e_b_ind
    # the 1-D reductions of both conventions
    _, (e_a1, _) = layered_plates([smooth_step(*a), smooth_step(*b)], [gap / 2] * 2, 500.0)
    remembered = lambda e: smooth_step(*a)(max(e_a1, e))  # noqa: E731
    _, (_, e_b2_mem) = layered_plates([remembered, smooth_step(*b)], [gap / 2] * 2, 300.0)
    _, (_, e_b2_ind) = layered_plates([smooth_step(*a), smooth_step(*b)], [gap / 2] * 2, 300.0)
    assert e_b_mem == pytest.approx(e_b2_mem, rel=1e-8)
    assert e_b_ind == pytest.approx(e_b2_ind, rel=1e-8)
    # coverage of the intact layer at a level between the two predictions moves up
    level = 0.5 * (e_b2_mem + e_b2_ind)
    assert np.all(np.asarray(mem.e_mag[1])[in_b] >= level) and np.all(np.asarray(ind.e_mag[1])[in_b] < level)
