"""Preconditioning floating electrodes: a Schur-complement correction around the AMG V-cycle.

A floating electrode is one unknown potential coupled to every tissue node around it. The AMG
hierarchy is built with the electrodes cut out of the tissue (each one's nodes decoupled), so on
its own it sees a floating electrode as grounded and its lumped unknown as a single node: PCG
then needs ~25 iterations per Newton step instead of ~8 (hexagonal arrays, six idle needles).

With t the tissue unknowns, f the floating electrodes, M ~ A_tt^-1 the V-cycle, C_f the
electrodes' couplings to the tissue and D_f their own block, this module applies the exact
inverse of [[M^-1, C_f^T], [C_f, D_f]]:

    y = M r_t;  s = S_f^-1 (r_f - W_f r_t);  z_t = y - W_f^T s;  z_f = s

with W = C M (one V-cycle per electrode, once per mesh; M is symmetric, so W r_t = C M r_t) and
the Schur complement S = D - C M C^T, set up with the sigma0 operator. It is symmetric positive
definite whenever M is, costs two passes over W per application, and its inverse for every
(anode, cathode) choice is tabulated on the host (no LAPACK call inside JAX).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp


class LumpedCoupling(eqx.Module):
    """Electrode couplings of one mesh under sigma0, for every choice of firing pair.

    Attributes:
        tissue: (n_nodes,) bool, nodes on no electrode.
        rep: (n_electrodes,) int, representative node of each electrode (holds its potential).
        response: (n_electrodes, n_nodes) W = M C, zero off the tissue.
        schur_inverse: (n_e, n_e, n_e, n_e) [anode, cathode] -> S_f^-1, the other electrodes
            floating (zero rows and columns for the anode and the cathode).
    """

    tissue: jax.Array
    rep: jax.Array
    response: jax.Array
    schur_inverse: jax.Array


def lumped_coupling(k0: sp.spmatrix, masks: np.ndarray, rep: np.ndarray, precondition
                    ) -> LumpedCoupling:
    """Set up the correction (host side) from the sigma0 stiffness `k0` (n, n) without Dirichlet
    elimination, electrode node `masks` (n_electrodes, n) and representatives `rep`, and the
    tissue preconditioner M (`precondition`, built with the electrodes cut out)."""
    k0 = sp.csr_matrix(k0)
    tissue = ~masks.any(axis=0)
    indicator = sp.csr_matrix(masks.T.astype(np.float64))  # (n, n_e)
    coupling = np.asarray((k0 @ indicator).todense()).T * tissue  # C: (n_e, n)
    block = np.asarray((indicator.T @ k0 @ indicator).todense())  # D: electrode block sums
    response = np.asarray(_apply_each(precondition, jnp.asarray(coupling))) * tissue
    schur = block - coupling @ response.T.astype(np.float64)
    schur = 0.5 * (schur + schur.T)
    n = len(masks)
    table = np.zeros((n, n, n, n))
    for anode in range(n):
        for cathode in range(n):
            floats = np.flatnonzero((np.arange(n) != anode) & (np.arange(n) != cathode))
            if anode != cathode and len(floats):
                table[anode, cathode][np.ix_(floats, floats)] = np.linalg.inv(
                    schur[np.ix_(floats, floats)]
                )
    return LumpedCoupling(
        tissue=jnp.asarray(tissue),
        rep=jnp.asarray(rep),
        response=jnp.asarray(response.astype(np.float32)),
        schur_inverse=jnp.asarray(table),
    )


@eqx.filter_jit
def _apply_each(precondition, vectors):
    return jax.vmap(precondition)(vectors)


class LumpedPreconditioner(eqx.Module):
    """The V-cycle with the Schur correction for one firing pair (see the module doc).

    Acts on reduced vectors: tissue entries, each floating electrode's potential at its
    representative node, zeros elsewhere.
    """

    base: eqx.Module
    coupling: LumpedCoupling
    anode: jax.Array
    cathode: jax.Array

    def __call__(self, r: jax.Array) -> jax.Array:
        c = self.coupling
        r_t = jnp.where(c.tissue, r, 0.0)
        y = jnp.where(c.tissue, self.base(r_t), 0.0)
        w = c.response.astype(r.dtype)
        s = c.schur_inverse[self.anode, self.cathode] @ (r[c.rep] - w @ r_t)
        return (y - s @ w).at[c.rep].add(s)
