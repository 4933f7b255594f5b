"""Tissue properties of moved cells: from where a cell is now, not from its mesh label.

When the nodes around a needle move, the cells there keep their mesh labels, so a material
interface near the needle (a tumour boundary, a vessel wall) would be dragged along with it and
the needle would carry its own surroundings around. Instead each cell's material weights are

    W = labels + B(centroid now) - B(centroid as meshed),

B the smooth membership of the scene's inclusions in mesh order (the domain material, then each
inclusion overriding it inside, a logistic of its signed distance of width `width`, averaged
over the cell's vertices and centroid so that an interface through a cell gives a partial
weight). Rows sum
to one; unmoved cells keep their labels exactly; a cell that moves across an interface changes
material smoothly. (Not clipped, to stay smooth: where a faceted cell's label disagrees a little
with its centroid's membership a weight can leave [0, 1] by that little, and the mixed
conductivity stays positive.) Conductivity is the weighted mixture of the materials'
sigma(|E|) (`Mixture`), E_irr the weighted mean. When a scene has an inclusion without an
analytic distance (STL), labels are used as they are.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.padding import bucket
from epsim.physics.conductivity import Conductivity


class Mixture(Conductivity):
    """sigma(|E|) = sum_r weights[:, r] sigma_r(|E|) per cell.

    Attributes:
        models: one conductivity per material (scalar parameters).
        weights: (n_cells, n_materials), rows summing to one.
    """

    models: tuple[Conductivity, ...]
    weights: jax.Array

    def __call__(self, e_mag):
        return sum(self.weights[:, r] * m(e_mag) for r, m in enumerate(self.models))

    @property
    def is_linear(self) -> bool:
        return all(m.is_linear for m in self.models)


class MaterialField(eqx.Module):
    """Material weights of the cells of one mesh as a function of their centroids.

    Attributes:
        models: sigma(|E|) per material; sigma0, e_irr: (n_materials,) S/m, V/m.
        labels: (n_cells, n_materials) one-hot mesh labels.
        reference: (n_cells, n_materials) B at the centroids as meshed.
        shapes: (signed distance function, material index) per inclusion in mesh order; empty:
            use the labels.
        width: m, logistic width of the memberships.
    """

    models: tuple[Conductivity, ...]
    sigma0: jax.Array
    e_irr: jax.Array
    labels: jax.Array
    reference: jax.Array
    shapes: tuple[tuple[Callable, int], ...] = eqx.field(static=True)
    width: float = eqx.field(static=True)

    def blend(self, points: jax.Array, cells) -> jax.Array:
        """(n_cells, n_materials) B: each inclusion's membership averaged over a cell's four
        vertices and its centroid (a cheap volume fraction), overriding in mesh order."""
        return blend(self.shapes, self.width, self.labels.shape[1], points, cells)

    def weights(self, points: jax.Array, cells) -> jax.Array:
        """(n_cells, n_materials) weights of the cells with nodes at `points` (n_nodes, 3) m."""
        if not self.shapes:
            return self.labels
        return self.labels + self.blend(points, cells) - self.reference

    def conductivity(self, weights: jax.Array) -> Mixture:
        return Mixture(self.models, weights)


@partial(jax.jit, static_argnums=(0, 1, 2))
def blend(shapes, width: float, n: int, points: jax.Array, cells) -> jax.Array:
    """`MaterialField.blend` of `shapes` ((distance, material index) pairs), logistic width
    `width` (m), `n` materials, at nodes (n_nodes, 3) m and cells (n_cells, 4)."""
    centroids = jnp.mean(points[cells], axis=1)
    b = jnp.zeros((cells.shape[0], n), points.dtype).at[:, 0].set(1.0)
    for distance, index in shapes:
        at_nodes = jax.nn.sigmoid(-distance(points) / width)
        at_centre = jax.nn.sigmoid(-distance(centroids) / width)
        m = ((jnp.sum(at_nodes[cells], axis=1) + at_centre) / 5.0)[:, None]
        b = (1.0 - m) * b + m * jax.nn.one_hot(index, n, dtype=points.dtype)
    return b


def reference_blend(shapes, width: float, n: int, points, cells) -> np.ndarray:
    """`blend` at a mesh as made, on the host: one compiled program on rows padded to size
    buckets, so meshes of similar size share it (op by op, each new mesh compiled some thirty
    small programs: 25 s of a 230 s plan)."""
    points, cells = np.asarray(points), np.asarray(cells)
    p = np.zeros((bucket(len(points)), 3), points.dtype)
    p[: len(points)] = points
    c = np.zeros((bucket(len(cells)), 4), cells.dtype)
    c[: len(cells)] = cells
    return np.asarray(blend(tuple(shapes), float(width), int(n), p, c))[: len(cells)]


def material_field(
    models, sigma0, e_irr, cell_region, shapes, width, points, cells
) -> MaterialField:
    """Build the field of a mesh: per-material models and values, the cells' labels (n_cells,)
    ints, the inclusions' (distance, material index) in mesh order (empty for labels only) and
    the mesh as made, nodes (n_nodes, 3) m and cells (n_cells, 4)."""
    n = len(models)
    labels = jax.nn.one_hot(jnp.asarray(cell_region), n, dtype=jnp.asarray(points).dtype)
    field = MaterialField(
        tuple(models), jnp.asarray(sigma0), jnp.asarray(e_irr), labels, labels,
        tuple(shapes), float(width),
    )
    if shapes:
        reference = reference_blend(field.shapes, field.width, n, points, cells)
        field = eqx.tree_at(lambda f: f.reference, field, jnp.asarray(reference))
    return field
