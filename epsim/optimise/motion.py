"""Conforming meshes whose nodes move with the needles (docs/design.md, section 4).

A mesh is generated (gmsh) at a reference layout. A pose change of needle k is a rigid motion
T_k(x) = tip_k + R_k (x - tip0_k), R_k the smallest rotation taking the reference axis to the
new one. Every node moves by

    d(x) = sum_k w_k(x) D_k(x) / max(1, sum_k w_k(x)),   D_k(x) = T_k(x) - x,

with a halo weight w_k of the distance r from the reference needle axis: 1 for r <= r_in
(the needle surface and one layer of electrode-sized cells, which therefore move rigidly),
falling linearly to 0 at r_out (the ramp with the smallest largest slope, so a needle that moves
by s squeezes the cells in its halo by at most s / (r_out - r_in); the node positions are still
linear in the needle translations and smooth in their rotations). r_out is below the gap to
every other needle's rigid zone, so each needle's surface moves exactly rigidly and halos may
overlap in between. The
component of D_k along the axis is tapered to zero over the insulated shaft before it leaves
the domain (a cylinder slid along itself is the same cylinder, so the geometry stays exact),
and nodes on the domain boundary keep only the tangential part of their motion. Points are
therefore a smooth (linear in translation, smooth in rotation) function of the pose, and
gradients with respect to the pose never vanish, even for moves far below one cell.

When a needle has moved further than `LIMIT_FRACTION` of its halo width (or a cell has shrunk
below `MIN_VOLUME_RATIO` of its reference volume), the planner remeshes at the current layout.
Host-side set-up is numpy; `moved_points` is JAX.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from epsim.mesh.scene import needle_path, segment_distance
from epsim.mesh.scene import Needle as NeedleHole
from epsim.mesh.tetmesh import TetMesh

LIMIT_FRACTION = 0.4
"""A needle may move this fraction of its halo width (r_out - r_in) before a remesh."""

MIN_VOLUME_RATIO = 0.2
"""Remesh when a cell's volume falls below this fraction of its reference volume."""


class MeshMotion(eqx.Module):
    """Node motion of one reference mesh as a function of the needle poses.

    Attributes:
        ref_points: (n_nodes, 3) m, the nodes as meshed.
        tip0, axis0: (k, 3) reference tips (m) and unit axes of the needles.
        weight: (k, n_nodes) halo weights in [0, 1].
        taper: (k, n_nodes) factor on the axial part of each needle's motion, in [0, 1].
        boundary_nodes: (m,) int, nodes on the domain boundary.
        boundary_projector: (m, 3, 3) projectors onto the directions they may move in.
        probes: (k, 3) axial positions (m, from tip0): tip, end of the rigid axial zone, exit.
        probe_taper: (k, 3) taper at the probes.
        limit: (k,) m, the allowed shift of each needle before a remesh.
        r_in, r_out: (k,) m, halo radii.
    """

    ref_points: jax.Array
    tip0: jax.Array
    axis0: jax.Array
    weight: jax.Array
    taper: jax.Array
    boundary_nodes: jax.Array
    boundary_projector: jax.Array
    probes: jax.Array
    probe_taper: jax.Array
    limit: jax.Array
    r_in: jax.Array
    r_out: jax.Array


def _segment_distances(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((points - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _ramp(s: np.ndarray) -> np.ndarray:
    """1 at s <= 0, 0 at s >= 1, linear between."""
    return 1.0 - np.clip(s, 0.0, 1.0)


def _boundary_projectors(mesh: TetMesh, tags) -> tuple[np.ndarray, np.ndarray]:
    """Boundary nodes and, per node, the projector that removes the motion along the normals
    of its boundary faces (one normal on a face, two on an edge, three at a corner)."""
    points = np.asarray(mesh.points)
    tri = [np.asarray(mesh.facets[t]) for t in tags if t in mesh.facets and len(mesh.facets[t])]
    if not tri:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3, 3))
    tri = np.concatenate(tri)
    x = points[tri]
    normals = np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    nodes = np.repeat(tri.ravel(), 1)
    owner = np.repeat(np.arange(len(tri)), 3)
    order = np.argsort(nodes, kind="stable")
    nodes, owner = nodes[order], owner[order]
    unique, starts = np.unique(nodes, return_index=True)
    bounds = np.append(starts, len(nodes))
    projectors = np.empty((len(unique), 3, 3))
    for i in range(len(unique)):
        n = normals[owner[bounds[i] : bounds[i + 1]]]
        _, s, vt = np.linalg.svd(n, full_matrices=False)
        keep = vt[s > 0.3 * s[0]]
        projectors[i] = np.eye(3) - keep.T @ keep
    return unique, projectors


def build_motion(
    mesh: TetMesh,
    domain,
    names,
    tips,
    axes,
    radii,
    active_lengths,
    *,
    rigid: float,
    halo: float,
    limit_fraction: float = LIMIT_FRACTION,
) -> MeshMotion:
    """Halo weights and boundary projectors of a mesh made at the given needle layout.

    Args:
        mesh: the conforming mesh; domain: its domain spec (for the exit points and the
            boundary tags).
        names: needle names; tips, axes: (k, 3) reference tips (m) and unit axes;
        radii, active_lengths: (k,) m.
        rigid: thickness (m) of the layer around each needle surface that moves rigidly
            (about one electrode-sized cell).
        halo: largest halo radius r_out (m), measured from the axis.
        limit_fraction: allowed shift as a fraction of the halo width.
    """
    points = np.asarray(mesh.points)
    tips, axes = np.asarray(tips, dtype=float), np.asarray(axes, dtype=float)
    radii, active = np.asarray(radii, dtype=float), np.asarray(active_lengths, dtype=float)
    k = len(names)
    exits = np.array([
        needle_path(NeedleHole(n, t, t + a, r, la), domain).exit
        for n, t, a, r, la in zip(names, tips, axes, radii, active)
    ])
    r_in = radii + rigid
    r_out = np.full(k, float(halo))
    for i in range(k):
        for j in range(k):
            if i != j:
                gap = segment_distance(tips[i], exits[i], tips[j], exits[j]) - r_in[j]
                r_out[i] = min(r_out[i], 0.95 * gap)
    r_out = np.maximum(r_out, r_in * (1 + 1e-6))
    weight = np.empty((k, len(points)))
    taper = np.empty((k, len(points)))
    probes = np.empty((k, 3))
    probe_taper = np.empty((k, 3))
    for i in range(k):
        r = _segment_distances(points, tips[i], exits[i])
        weight[i] = _ramp((r - r_in[i]) / (r_out[i] - r_in[i]))
        t_exit = float((exits[i] - tips[i]) @ axes[i])
        t2 = t_exit - 0.5 * r_out[i]
        t1 = min(active[i] + r_out[i], 0.5 * (active[i] + t2))
        t = (points - tips[i]) @ axes[i]
        taper[i] = 1.0 if t2 <= t1 else _ramp((t - t1) / (t2 - t1))
        probes[i] = (0.0, t1, t_exit)
        probe_taper[i] = (1.0, 1.0, 0.0 if t2 > t1 else 1.0)
    nodes, projectors = _boundary_projectors(mesh, domain.boundary_tags)
    return MeshMotion(
        ref_points=jnp.asarray(points), tip0=jnp.asarray(tips), axis0=jnp.asarray(axes),
        weight=jnp.asarray(weight), taper=jnp.asarray(taper),
        boundary_nodes=jnp.asarray(nodes), boundary_projector=jnp.asarray(projectors),
        probes=jnp.asarray(probes), probe_taper=jnp.asarray(probe_taper),
        limit=jnp.asarray(limit_fraction * (r_out - r_in)),
        r_in=jnp.asarray(r_in), r_out=jnp.asarray(r_out),
    )


def rotation_between(a: jax.Array, b: jax.Array) -> jax.Array:
    """(3, 3) smallest rotation taking unit vector a to unit vector b (Rodrigues; smooth for
    b near a, undefined only for b = -a)."""
    v = jnp.cross(a, b)
    c = jnp.dot(a, b)
    vx = jnp.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return jnp.eye(3) + vx + vx @ vx / (1.0 + c)


def _rigid_displacements(motion: MeshMotion, tips, axes, x, taper):
    """D_k at points x (k, m, 3), with the axial part scaled by taper (k, m)."""
    rot = jax.vmap(rotation_between)(motion.axis0, axes)  # (k, 3, 3)
    rel = x - motion.tip0[:, None, :]
    d = (tips - motion.tip0)[:, None, :] + jnp.einsum("kij,kmj->kmi", rot, rel) - rel
    along = jnp.sum(d * motion.axis0[:, None, :], axis=-1)
    return d - ((1.0 - taper) * along)[..., None] * motion.axis0[:, None, :]


def moved_points(motion: MeshMotion, tips: jax.Array, axes: jax.Array) -> jax.Array:
    """Node coordinates (n_nodes, 3) m for needle tips (k, 3) m and unit axes (k, 3)."""
    x = motion.ref_points
    d = _rigid_displacements(motion, tips, axes, x[None, :, :], motion.taper)
    total = jnp.maximum(jnp.sum(motion.weight, axis=0), 1.0)
    disp = jnp.einsum("km,kmi->mi", motion.weight, d) / total[:, None]
    b = motion.boundary_nodes
    disp = disp.at[b].set(jnp.einsum("mij,mj->mi", motion.boundary_projector, disp[b]))
    return x + disp


def shift_ratio(motion: MeshMotion, tips: jax.Array, axes: jax.Array) -> jax.Array:
    """(k,) largest rigid shift of each needle (at its tip, the end of its rigid axial zone and
    its exit point) over the allowed shift; above 1 means remesh."""
    probes = motion.tip0[:, None, :] + motion.probes[..., None] * motion.axis0[:, None, :]
    k = motion.tip0.shape[0]
    d = jax.vmap(
        lambda i: _rigid_displacements(
            motion, tips, axes, probes[i][None], motion.probe_taper[i][None]
        )[i]
    )(jnp.arange(k))
    return jnp.max(jnp.linalg.norm(d, axis=-1), axis=1) / motion.limit
