"""Planner meshes padded to shared sizes, so that a remesh reuses the compiled programs.

Every remesh of a plan gives arrays of new shapes, and every jitted evaluator (the objective
and its gradient, linear and nonlinear, one plan or a batch) was compiled again for it: on
the pelvic plan compilation was more than half of the wall time. `pad_mesh_data` pads a
mesh's `MeshData` to a capacity of `epsim.padding` (the size buckets of the runner and the
sweeps), so meshes of similar size run the same programs. A session picks each mesh's capacity
from those of its own earlier meshes only, so the padding, and with it the order of every sum,
is a function of the run alone: a plan is the same bit for bit whatever ran before it (and the
same config run again finds its programs in the persistent compilation cache). Padded:

- the problem as `epsim.padding.pad_problem` pads it (padding nodes held at 0 V, padding cells
  on an anchor tetrahedron with exactly zero couplings);
- the motion: padding nodes at the anchors with zero halo weight (they never move); boundary
  nodes padded to a bucket of their own by repeating an anchor with a zero projector;
- per-cell data: mesh labels and membership references of the anchor cell, reference volumes of
  the anchor tetrahedron, host distances far outside every structure, and `cell_mask` 0, which
  gives padding cells zero volume in every integral and keeps them out of the remesh test.

The objective, its gradient and every diagnostic equal those of the unpadded mesh to rounding
(tests/optimise/test_padded.py).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.optimise.model import MeshData
from epsim.padding import (
    ANCHORS, MAX_WASTE, Capacity, bucket, pad_axis, pad_cells, pad_points, padded,
    pick_capacity,
)

HEADROOM = 1.25
"""A session's new capacity leaves this much room: its meshes grow as the needles spread (41k to
52k cells over the coarse stage of the pelvic plan, which took three capacities at 5 %)."""

ANCHOR_VOLUME = 1.0 / 6.0  # m^3, the unit right-angled tetrahedron of `epsim.padding`
OUTSIDE = 1.0  # m, host signed distance of padding cells: far outside every structure

_BOUNDARY: list[int] = []  # boundary-node capacities handed out in this process


def boundary_capacity(n: int) -> int:
    """The smallest known boundary-node capacity that holds `n` without wasting more than
    MAX_WASTE, else a new one (a bucket with HEADROOM): the domain's boundary gains nodes as the
    needles spread too (944 to 1,128 over the pelvic plan's coarse stage, which with 5 % room
    took a second capacity and compiled every evaluator again)."""
    near = [c for c in _BOUNDARY if n <= c <= MAX_WASTE * max(n, 1)]
    if near:
        return min(near)
    c = bucket(math.ceil(HEADROOM * n))
    _BOUNDARY.append(c)
    return c


def _pad_motion(motion, n_nodes: int, nodes: int):
    anchor = n_nodes  # the first anchor node: fixed, never moves
    b = np.asarray(motion.boundary_nodes)
    size = boundary_capacity(len(b))
    return eqx.tree_at(
        lambda m: (m.ref_points, m.weight, m.taper, m.boundary_nodes, m.boundary_projector),
        motion,
        (jnp.asarray(pad_points(np.asarray(motion.ref_points), nodes)),
         jnp.asarray(pad_axis(motion.weight, nodes, 0.0)),
         jnp.asarray(pad_axis(motion.taper, nodes, 0.0)),
         jnp.asarray(pad_axis(b, size, anchor)),
         jnp.asarray(pad_axis(motion.boundary_projector, size, 0.0, axis=0))),
    )


def _pad_materials(field, n_cells: int, cells: int):
    """Padding cells carry the materials of the anchor tetrahedron where it is: their labels
    repeat the last cell's, their reference memberships are computed at the anchors (so that
    labels + now - reference is the label, as for any unmoved cell)."""
    labels = pad_cells(np.asarray(field.labels), n_cells, cells)
    reference = np.asarray(field.reference)
    if field.shapes:
        anchors = jnp.asarray(pad_points(np.zeros((0, 3)), ANCHORS))
        at_anchor = np.asarray(field.blend(anchors, jnp.arange(ANCHORS)[None, :]))
        reference = np.concatenate([reference, np.repeat(at_anchor, cells - n_cells, axis=0)])
    else:  # the labels themselves
        reference = labels
    return eqx.tree_at(lambda f: (f.labels, f.reference), field,
                       (jnp.asarray(labels), jnp.asarray(reference)))


def pad_mesh_data(data: MeshData, capacity: Capacity | None = None) -> MeshData:
    """`data` padded to `capacity` (which it must fit), default a new capacity for it alone
    (`epsim.padding.pick_capacity`). A planning session picks the capacity from those of its
    own meshes (`Session.remesh`), never from another run's: a plan then depends only on its
    config, whatever other runs this process or the compilation cache have seen."""
    if data.cell_mask is not None:
        return data  # padded already
    if capacity is None:
        capacity = pick_capacity(data.problem, [], HEADROOM)
    pad = padded(data.problem, capacity=capacity)
    nodes, cells = pad.capacity.nodes, pad.capacity.cells
    n_nodes, n_cells = pad.n_nodes, pad.n_cells
    return MeshData(
        problem=jax.device_put(pad.problem),  # on the device once, not at every call
        motion=_pad_motion(data.motion, n_nodes, nodes),
        materials=_pad_materials(data.materials, n_cells, cells),
        ref_volumes=jnp.asarray(pad_axis(data.ref_volumes, cells, ANCHOR_VOLUME)),
        fixed_distance=jnp.asarray(pad_axis(data.fixed_distance, cells, OUTSIDE)),
        anode=data.anode, cathode=data.cathode,
        cell_mask=jnp.asarray(np.arange(cells) < n_cells, dtype=jnp.asarray(
            data.ref_volumes).dtype),
    )


__all__ = ["HEADROOM", "boundary_capacity", "pad_mesh_data"]
