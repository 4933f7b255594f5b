"""The Schur-complement preconditioner for floating electrodes: symmetric positive definite,
the exact inverse of the reduced operator when its tissue block is solved exactly, and fewer
PCG iterations than the V-cycle alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.fem.assembly import apply_dirichlet, stiffness
from epsim.fem.sparse import hyb_to_scipy
from epsim.physics import Constant
from epsim.simulate import floating_conductors, prepare
from epsim.solve.lumped import LumpedPreconditioner, lumped_coupling
from epsim.solve.nonlinear import operators
from epsim.solve.pcg import pcg
from tests.helpers.meshes import inclusion_box, with_face_patches

FACES = ("xmin", "xmax", "ymin", "ymax", "zmax")


@pytest.fixture(scope="module")
def case():
    mesh = with_face_patches(inclusion_box(n=7), FACES, 0.0025)
    names = [f"{face}_patch" for face in FACES]
    sigma0 = np.where(np.asarray(mesh.cell_region) == 1, 0.3, 0.1)
    problem = prepare(mesh, names, sigma0)
    return mesh, problem, sigma0


def reduced_operator(mesh, problem, sigma0, anode, cathode):
    """Dense reduced sigma0 operator of one pair (floating electrodes lumped) and the unknowns."""
    masks = np.asarray(problem.electrode_masks)
    free = jnp.asarray(~(masks[anode] | masks[cathode]))
    floating = floating_conductors(problem, anode, cathode)
    ops = operators(problem.pattern, jnp.asarray(mesh.points), Constant(jnp.asarray(sigma0)),
                     free, floating)
    matrix, _ = ops.sigma0_system(jnp.zeros(mesh.n_nodes))
    unknown = np.flatnonzero(np.asarray(ops.unknown))
    return dense_columns(ops.reduced(matrix), unknown, mesh.n_nodes), unknown, ops


def dense_columns(apply, unknown, n):
    """Rows and columns `unknown` of the linear map `apply` on (n,) vectors, as a dense matrix."""
    eye = jnp.asarray(np.eye(n)[unknown])
    return np.asarray(jax.jit(jax.vmap(apply))(eye))[:, unknown].T



def test_symmetric_positive_definite(case):
    mesh, problem, sigma0 = case
    _, unknown, _ = reduced_operator(mesh, problem, sigma0, 0, 1)
    p = LumpedPreconditioner(problem.precondition, problem.lumped, 0, 1)
    dense = dense_columns(p, unknown, mesh.n_nodes)
    assert np.max(np.abs(dense - dense.T)) <= 1e-5 * np.max(np.abs(dense))
    assert np.linalg.eigvalsh(0.5 * (dense + dense.T)).min() > 0


def test_exact_inverse_with_exact_tissue_solve(case):
    """With M = A_tt^-1 the block formula inverts the reduced operator: P A = I."""
    mesh, problem, sigma0 = case
    masks = np.asarray(problem.electrode_masks)
    k0 = stiffness(problem.pattern, jnp.asarray(mesh.points), jnp.asarray(sigma0))
    tissue = ~masks.any(axis=0)
    a_tt = hyb_to_scipy(apply_dirichlet(k0, jnp.asarray(tissue))).toarray()
    inverse = np.linalg.inv(a_tt)

    def exact(r):
        return jnp.where(jnp.asarray(tissue), jnp.asarray(inverse) @ r, 0.0)

    rep = np.asarray(problem.electrode_rep)
    coupling = lumped_coupling(hyb_to_scipy(k0), masks, rep, exact)
    for anode, cathode in [(0, 1), (2, 4), (3, 0)]:
        a, unknown, _ = reduced_operator(mesh, problem, sigma0, anode, cathode)
        p = dense_columns(LumpedPreconditioner(exact, coupling, anode, cathode), unknown,
                                 mesh.n_nodes)
        # W is stored in float32, so the product is the identity to float32 accuracy
        np.testing.assert_allclose(p @ a, np.eye(len(unknown)), atol=2e-5)


def test_fewer_iterations_than_the_vcycle_alone(case):
    mesh, problem, sigma0 = case
    _, unknown, ops = reduced_operator(mesh, problem, sigma0, 0, 1)
    matrix, b = ops.sigma0_system(jnp.where(problem.electrode_masks[0], 1.0, 0.0))
    mask = ops.unknown
    its = {}
    for name, base in [("lumped", LumpedPreconditioner(problem.precondition, problem.lumped, 0, 1)),
                       ("vcycle", problem.precondition)]:
        res = pcg(ops.reduced(matrix), b, lambda r, base=base: jnp.where(mask, base(r), 0.0),
                  atol=1e-10 * float(jnp.linalg.norm(b)), max_iterations=500)
        assert bool(res.converged)
        its[name] = int(res.iterations)
    assert its["lumped"] < 0.7 * its["vcycle"], its
