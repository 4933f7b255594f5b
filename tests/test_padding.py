"""Padded problems: buckets, exact equality with the unpadded solve (potential, fields,
currents, gradients), and a second, different mesh served by the same compiled program."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

from epsim import padding
from epsim.fem.assembly import stiffness
from epsim.fem.host import stiffness_host
from epsim.fem.sparse import hyb_to_scipy
from epsim.mesh import make_mesh
from epsim.mesh.structured import structured_box_mesh
from epsim.padding import (
    Compilations, bucket, capacity_for, choose_capacity, demand, fits, pad_hyb,
)
from epsim.physics import RegionConductivity, SmoothStep
from epsim.simulate import make_pairs, prepare, simulate
from epsim.solve import Amg, Jacobi, Newton

# tight enough that the two programs' different reduction lengths (XLA sums in another order)
# stay far below 1e-12; at rtol 1e-11 they differ at the solver tolerance (1e-13..1e-12)
SOLVER = Newton(rtol=1e-13, adjoint_rtol=1e-14)
AMG = Amg(max_coarse=60)  # two levels on these small meshes: the hierarchy is padded too


def box(n, seed):
    """A jittered box with a central 'tumour' and a patch electrode on the y = max face."""
    size = 0.01
    mesh = structured_box_mesh((size, size, size), n)
    points = np.asarray(mesh.points)
    region = (np.max(np.abs(points[mesh.cells].mean(axis=1)), axis=1) < 0.3 * size).astype(int)
    boundary = np.any(np.isclose(np.abs(points), size / 2), axis=1)
    jitter = np.random.default_rng(seed).uniform(-0.08, 0.08, points.shape) * size / max(n)
    points = points + np.where(boundary[:, None], 0.0, jitter)
    tri = mesh.facets["ymax"]
    patch = tri[np.all(np.abs(points[tri][:, :, 0]) < 0.0031, axis=1)]
    facets = dict(mesh.facets, patch=patch)
    return make_mesh(points, mesh.cells, region, ("liver", "tumour"), facets)


def problem_of(mesh, preconditioner=Jacobi()):
    """Jacobi for the solves (half the compilation of AMG's; the V-cycle is checked apart)."""
    problem = prepare(mesh, ["xmin", "xmax", "patch"], np.full(mesh.n_cells, 0.1),
                      preconditioner=preconditioner)
    model = RegionConductivity(
        (SmoothStep(0.08, 0.32, 350e2, 700e2), SmoothStep(0.2, 0.7, 400e2, 800e2)),
        jnp.asarray(mesh.cell_region),
    )
    pairs = make_pairs(problem, [("xmin", "xmax", 600.0), ("patch", "xmax", 400.0)])
    return problem, model, pairs


TRACES = []


@jax.jit
def solve(problem, points, model, pairs, cells):
    """Fields of every pair (the patch floats in the first) and the gradient of a current plus
    a field sum over the real `cells` (a mask) with respect to points, voltage and sigma1."""
    TRACES.append(1)  # runs once per trace: a jit cache miss

    def objective(points, voltage, sigma1):
        m = eqx.tree_at(lambda m: m.models[1].sigma1, model, sigma1)
        p = eqx.tree_at(lambda p: p.voltage, pairs, pairs.voltage.at[0].set(voltage))
        fields = simulate(problem, points, m, p, solver=SOLVER)
        return fields.current[1] + 1e-6 * jnp.sum(jnp.where(cells, fields.e_max, 0.0)), fields

    grad = jax.grad(objective, argnums=(0, 1, 2), has_aux=True)
    gradients, fields = grad(points, pairs.voltage[0], model.models[1].sigma1)
    return fields, gradients


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    mesh = box((6, 6, 5), seed=0)
    problem, model, pairs = problem_of(mesh)
    path = tmp_path_factory.mktemp("capacities") / "capacities.json"
    pad = padding.padded(problem, path)
    plain = jax.device_get(solve(problem, mesh.points, model, pairs, np.ones(mesh.n_cells, bool)))
    cells = np.arange(pad.capacity.cells) < mesh.n_cells
    fields, grads = jax.device_get(solve(pad.problem, pad.points(mesh.points), pad.model(model),
                                         pairs, cells))
    padded = pad.fields(fields), (grads[0][: mesh.n_nodes], *grads[1:])
    return mesh, problem, pad, plain, padded, path


def test_bucket_invariants():
    sizes = np.unique(np.geomspace(1, 3e6, 3000).astype(int))
    buckets = np.array([bucket(int(n)) for n in sizes])
    assert np.all(buckets >= sizes)
    assert np.all(np.diff(buckets) >= 0)  # monotone
    assert all(bucket(int(b)) == b for b in buckets)  # idempotent: a bucket is its own bucket
    big = sizes > padding.FLOOR
    assert np.all(buckets[big] <= padding.RATIO * sizes[big] + 8)
    assert len(np.unique(buckets)) < 80  # few distinct programs from 1 to 3 million


@pytest.fixture(scope="module")
def amg_case(case):
    mesh = case[0]
    problem = problem_of(mesh, AMG)[0]
    return problem, padding.padded(problem, case[-1])


def test_capacity_covers_its_problem(case, amg_case):
    for problem, pad in (case[1:3], amg_case):
        need = demand(problem)
        assert fits(need, pad.capacity) and fits(need, capacity_for(need))
        assert demand(pad.problem) == pad.capacity  # every padded array has the capacity's size
        assert pad.capacity.nodes >= need.nodes + padding.ANCHORS
        assert not fits(need._replace(nodes=pad.capacity.nodes), pad.capacity)
    assert len(demand(amg_case[0]).levels) == 1  # the AMG hierarchy is padded, not only the mesh


def test_padded_vcycle_equals_unpadded(amg_case):
    """The AMG V-cycle (float32) on a residual: the real nodes' values to float32 rounding (the
    dense coarse product sums longer rows, in another order), zeros on the padded nodes."""
    problem, pad = amg_case
    n = problem.pattern.n_nodes
    r = np.random.default_rng(1).standard_normal(n)
    apply = jax.jit(lambda amg, r: amg(r))
    plain = np.asarray(apply(problem.precondition, r))
    padded = np.asarray(apply(pad.problem.precondition, np.concatenate(
        [r, np.zeros(pad.capacity.nodes - n)])))
    assert np.max(np.abs(padded[:n] - plain)) <= 1e-5 * np.max(np.abs(plain))
    assert not np.any(padded[n:])


def test_padded_equals_unpadded(case):
    """Potential, fields, currents and the gradients (points, voltage, sigma1) to 1e-12."""
    *_, (plain, plain_grads), (padded, padded_grads), _ = case
    assert np.all(plain.converged) and np.all(padded.converged)
    for name in ("potential", "e_mag", "sigma", "current", "cathode_current", "e_max"):
        a, b = np.asarray(getattr(plain, name)), np.asarray(getattr(padded, name))
        assert a.shape == b.shape
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(a)), name
    np.testing.assert_array_equal(plain.iterations, padded.iterations)
    for a, b in zip(plain_grads, padded_grads):
        assert np.shape(a) == np.shape(b) and np.max(np.abs(a)) > 0
        assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(a))


def test_similar_mesh_reuses_the_program(case):
    """A smaller mesh with other nodes, cells, hierarchy sizes: same capacity, no new trace and
    no backend compilation; it converges."""
    *_, pad, _, _, path = case
    mesh = box((5, 6, 5), seed=1)
    problem, model, pairs = problem_of(mesh)
    assert demand(problem) != demand(case[1])
    other = padding.padded(problem, path)
    assert other.capacity == pad.capacity
    before = len(TRACES)
    cells = np.arange(other.capacity.cells) < mesh.n_cells
    with Compilations() as seen:
        fields, _ = jax.device_get(
            solve(other.problem, other.points(mesh.points), other.model(model), pairs, cells))
    assert len(TRACES) == before and seen.traced == 0 and seen.compiled == 0
    fields = other.fields(fields)
    assert fields.potential.shape == (2, mesh.n_nodes) and np.all(fields.converged)


def test_capacities_are_shared_through_the_file(case, monkeypatch):
    """Another process (no capacities of its own) picks the one on file."""
    *_, pad, _, _, path = case
    assert pad.capacity in [padding.Capacity(*row[:2], tuple(row[2]), *row[3:5],
                                             tuple(map(tuple, row[5])), row[6])
                            for row in json.loads(path.read_text())]
    monkeypatch.setattr(padding, "_KNOWN", [])
    assert choose_capacity(case[1], path) == pad.capacity


def test_host_stiffness_equals_the_jax_one(case):
    """prepare's numpy stiffness (no compilation per mesh) against the jitted JAX assembly."""
    mesh, problem, *_ = case
    sigma = np.random.default_rng(0).uniform(0.1, 0.7, mesh.n_cells)
    host = hyb_to_scipy(stiffness_host(problem.pattern, mesh.points, sigma))
    device = hyb_to_scipy(stiffness(problem.pattern, jnp.asarray(mesh.points), jnp.asarray(sigma)))
    assert abs(host - device).max() <= 1e-12 * abs(device).max()


def test_narrower_width_moves_entries_to_the_overflow(amg_case):
    """A matrix padded to fewer ELL slots than its rows need is the same matrix."""
    restrict = amg_case[0].precondition.levels[0].restrict
    width, n = np.shape(restrict.ell_cols)
    narrow = pad_hyb(restrict, n + 5, restrict.n_cols + 3, width - 2, 10 ** 5, identity=False)
    assert np.shape(narrow.ell_cols)[0] == width - 2
    expected = sp.block_diag([hyb_to_scipy(restrict), sp.csr_matrix((5, 3))]).tocsr()
    assert abs(hyb_to_scipy(narrow) - expected).max() == 0.0
