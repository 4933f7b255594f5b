"""Per-cell P1 quantities laid out for the solver's inner loops: one array per component.

The Newton loop evaluates fields, element matrices and residuals many times on a fixed mesh.
Stored component-major (an (n_cells,) array per corner and component of the gradients,
(4, n_cells) corners), every gather of a nodal vector is a 1-D gather per corner and every
product a contiguous pass; the (n_cells, 4, 3) layout of `epsim.mesh.cell_geometry` needs 2-D
gathers and strided reads, 2-4x slower on CPU.
The products of the basis gradients, vol g_a . g_b, depend on the geometry only and are kept.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.fem.sparse import materialise
from epsim.mesh.tetmesh import corner_gradient_parts

# Local edges (a, b) of a tetrahedron, in the order of `epsim.fem.assembly.LOCAL_EDGES`.
EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


class Elements(eqx.Module):
    """Geometry of every cell, component-major.

    Attributes:
        corners: (4, n_cells) node indices.
        grads: 1/m, gradient of each corner's basis function, grads[corner][component] an
            (n_cells,) array: separate arrays let XLA compute the whole geometry in one pass
            over the cells (stacked into one (4, 3, n_cells) array, each stack was a pass of
            its own: the one-off kernels of a 2M-cell Newton solve took 965 ms of 4.19 s, now
            566 of 3.98 s; `benchmarks/profile_newton.py --size 2M --trace`).
        volumes: (n_cells,) m^3, signed.
        couplings: (6, n_cells) m, vol g_a . g_b for the local edges (a, b): the element
            stiffness of a unit conductivity, off-diagonal entries.
        n_nodes: number of mesh nodes (static).
    """

    corners: jax.Array
    grads: tuple
    volumes: jax.Array
    couplings: jax.Array
    n_nodes: int = eqx.field(static=True)

    def gradient(self, phi: jax.Array) -> jax.Array:
        """grad(phi) per cell, (3, n_cells) V/m, of a nodal potential (n_nodes,) V."""
        at = [jnp.take(phi, self.corners[a], mode="clip") for a in range(4)]
        g = self.grads
        return materialise(jnp.stack([sum(g[a][j] * at[a] for a in range(4)) for j in range(3)]))

    def _project(self, v: jax.Array) -> list[jax.Array]:
        """g_a . v per corner for a per-cell vector v (3, n_cells)."""
        g = self.grads
        return [g[a][0] * v[0] + g[a][1] * v[1] + g[a][2] * v[2] for a in range(4)]

    def edge_values(self, sigma, weight=None, grad=None) -> jax.Array:
        """Off-diagonal element entries vol g_a^T D g_b, (6, n_cells) S, edge-major (row k for
        the local edge EDGES[k]; `epsim.fem.assembly.assemble` sums them per mesh edge), for
        D = sigma I (+ weight grad grad^T). Edge-major because a (n_cells, 6) result built from
        per-edge columns ran 7x slower on CPU (strided writes).

        sigma: (n_cells,) S/m; weight: (n_cells,) S/m / (V/m)^2 (the Newton tangent has
        sigma'(|E|) / |E|) and grad: (3, n_cells) V/m, or both None.
        """
        values = sigma * self.couplings
        if weight is None:
            return values
        q = self._project(grad)
        w = self.volumes * weight
        return values + jnp.stack([w * q[a] * q[b] for a, b in EDGES])

    def force(self, sigma, grad) -> jax.Array:
        """Nodal vector K(sigma) phi, (n_nodes,) A, from grad = grad(phi) (3, n_cells) V/m and
        sigma (n_cells,) S/m: the cells' contributions vol sigma g_a . grad summed onto nodes."""
        local = jnp.stack(self._project(self.volumes * sigma * grad))
        return jax.ops.segment_sum(local.ravel(), self.corners.ravel(), self.n_nodes)


def elements(points: jax.Array, corners: jax.Array) -> Elements:
    """Element geometry of the cells `corners` (4, n_cells) on nodes `points` (n_nodes, 3) m."""
    g, det = corner_gradient_parts(points, corners)
    volumes = det / 6.0
    couplings = volumes * jnp.stack(
        [g[a][0] * g[b][0] + g[a][1] * g[b][1] + g[a][2] * g[b][2] for a, b in EDGES]
    )
    grads = tuple(tuple(row) for row in g)
    return Elements(corners, grads, volumes, couplings, int(jnp.shape(points)[0]))
