"""Scene checks: is a scene (domain, inclusions, holes) one that can be meshed and solved?

`check_scene` validates names and tags, needle tips and sphere-hole centres inside the domain,
plates touching it, holes apart (needles as capsules around their axes from the tip to where
they leave the domain, plates as boxes) and needles' active parts clear of keep-out inclusions.
Pure numpy: the config layer validates a config with it before anything is meshed
(`epsim.config.geometry`), and the gmsh builder calls it again before it builds.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from epsim.errors import MeshError
from epsim.mesh.scene.batch import bounds
from epsim.mesh.scene.electrodes import (
    HoleError,
    Needle,
    PlateHole,
    SphereHole,
    hole_tags,
    needle_paths,
)
from epsim.mesh.scene.geometry import min_on_segment, segment_distance
from epsim.mesh.scene.shapes import Domain
from epsim.mesh.scene.spatial import BoxIndex
from epsim.mesh.scene.stl import StlInclusion


def _plates_gap(p: PlateHole, q: PlateHole) -> float:
    """Largest separation (m) of two plate boxes along the separating axes of the two frames:
    positive iff they are disjoint (and then at most their distance)."""
    pa, qa = p.axes, q.axes
    axes = [*pa, *qa] + [np.cross(u, v) for u in pa for v in qa]
    t = q.box_center - p.box_center
    gap = -math.inf
    for axis in axes:
        norm = np.linalg.norm(axis)
        if norm < 1e-9:
            continue
        axis = axis / norm
        reach = p.half_extents @ np.abs(pa @ axis) + q.half_extents @ np.abs(qa @ axis)
        gap = max(gap, abs(float(t @ axis)) - float(reach))
    return gap


def _hole_gap(x, y) -> float:
    """Clearance (m) between two hole shapes: ("capsule", start, end, radius) or ("plate", hole),
    positive when apart."""
    if x[0] == "plate" and y[0] == "plate":
        return _plates_gap(x[1], y[1])
    if x[0] == "plate":
        x, y = y, x
    if y[0] == "plate":
        return min_on_segment(y[1].signed_distance, x[1], x[2]) - x[3]
    return segment_distance(x[1], x[2], y[1], y[2]) - x[3] - y[3]


# Plural of each hole kind, for "needles 'a' and 'b' overlap"; mixed kinds are "holes".
_KINDS = {Needle: "needles", PlateHole: "plates", SphereHole: "holes"}


def check_scene(domain: Domain, inclusions: Sequence, holes: Sequence) -> dict:
    """Validate names, tips, overlaps and keep-out structures. Returns needle name -> NeedlePath.

    Args:
        domain: the tissue (a convex `Box`, `Cylinder` or `Sphere`).
        inclusions: the scene's inclusions (`epsim.mesh.scene.Inclusion`).
        holes: the scene's holes (`Needle`, `SphereHole`, `PlateHole`), in scene order.
    Raises:
        HoleError (an ElectrodeError naming the holes): a needle tip outside the domain or on its
            surface with the needle pointing out, a sphere-hole centre outside the domain, a plate
            that does not touch the domain, holes that overlap inside the domain, hole tags that
            clash with each other or the boundary tags, a needle's active part that touches an
            inclusion with `keep_out` set (needles checked as capsules around their axes).
        MeshError: duplicate inclusion names, an unknown hole type, an unreadable STL file.
    """
    _check_names(domain, inclusions, holes)
    paths, shapes = _hole_shapes(domain, holes)
    _check_overlaps(shapes)
    _check_keep_out(inclusions, holes, paths)
    return paths


def _check_names(domain: Domain, inclusions: Sequence, holes: Sequence) -> None:
    """Unique inclusion names, readable STL surfaces, known hole types, no clashing tags."""
    names = [inc.name for inc in inclusions]
    if len(set(names)) != len(names):
        raise MeshError(f"inclusion names must be unique, got {names}")
    for inc in inclusions:
        if isinstance(inc, StlInclusion):
            inc.surface()  # readable and closed
    for hole in holes:
        if not isinstance(hole, (Needle, SphereHole, PlateHole)):
            raise MeshError(f"unknown hole type {type(hole).__name__}")
    tags = list(domain.boundary_tags) + [t for hole in holes for t in hole_tags(hole)]
    duplicated = sorted(t for t, n in Counter(tags).items() if n > 1)
    if duplicated:
        raise HoleError(
            f"hole tags clash with each other or with the boundary tags {domain.boundary_tags}: "
            f"{duplicated}",
            tuple(h.name for h in holes if set(hole_tags(h)) & set(duplicated)),
        )


def _hole_shapes(domain: Domain, holes: Sequence) -> tuple[dict, list]:
    """Needle paths (name -> NeedlePath) and each hole's shape for the overlap test:
    (hole, ("capsule", start, end, radius) | ("plate", hole)), needles from the tip (or behind a
    tip on the surface) to where they leave the domain."""
    _, domain_radius = domain.bounding_sphere()
    try:  # all needles at once; a needle that does not fit is reported in scene order below
        paths, bad = needle_paths([h for h in holes if isinstance(h, Needle)], domain), None
    except HoleError as exc:
        paths, bad = {}, exc
    shapes = []
    for hole in holes:
        if isinstance(hole, Needle):
            if bad is not None:
                if hole.name in bad.holes:
                    raise bad
                continue
            path = paths[hole.name]
            shapes.append((hole, ("capsule", path.start, path.exit, hole.radius)))
        elif isinstance(hole, SphereHole):
            if domain.signed_distance(hole.center) > 0.0:
                raise HoleError(
                    f"hole {hole.name!r}: centre {hole.center} m lies outside the domain",
                    (hole.name,),
                )
            c = np.asarray(hole.center)
            shapes.append((hole, ("capsule", c, c, hole.radius)))
        else:
            gap = min(domain.signed_distance(p) for p in hole.face_points())
            if gap > 1e-9 * domain_radius:
                raise HoleError(
                    f"plate {hole.name!r}: its electrode face does not touch the domain "
                    f"(by {gap:.3g} m)",
                    (hole.name,),
                )
            shapes.append((hole, ("plate", hole)))
    return paths, shapes


def _shape_bounds(x) -> np.ndarray:
    """Axis-aligned bounds (2, 3) of a hole shape, m."""
    if x[0] == "plate":
        plate = x[1]
        reach = np.abs(plate.axes).T @ plate.half_extents
        return np.stack([plate.box_center - reach, plate.box_center + reach])
    ends = np.stack([x[1], x[2]])
    return np.stack([ends.min(axis=0) - x[3], ends.max(axis=0) + x[3]])


def _check_overlaps(shapes: list) -> None:
    """Raise HoleError for the first hole (in scene order) that touches an earlier one, naming
    the earliest of those. A spatial index keeps this linear in the number of holes: only holes
    whose bounding boxes meet are measured."""
    index = BoxIndex(np.array([_shape_bounds(x) for _, x in shapes]).reshape(-1, 2, 3))
    for j, (second, y) in enumerate(shapes):
        for i in index.near(j):
            first, x = shapes[i]
            gap = _hole_gap(x, y)
            if gap <= 0.0:
                kinds = {_KINDS[type(first)], _KINDS[type(second)]}
                kind = kinds.pop() if len(kinds) == 1 else "holes"
                raise HoleError(
                    f"{kind} {first.name!r} and {second.name!r} overlap inside the domain (gap "
                    f"{gap:.3g} m; needles are checked as capsules around their axes)",
                    (first.name, second.name),
                )
        index.add(j)


def _check_keep_out(inclusions: Sequence, holes: Sequence, paths: dict) -> None:
    """Raise HoleError when a needle's active part (a capsule) touches a keep-out inclusion.
    Only needles whose active part's bounding box meets the inclusion's are measured, so many
    needles cost little."""
    keep_out = [inc for inc in inclusions if inc.keep_out]
    needles = [hole for hole in holes if isinstance(hole, Needle)]
    if not keep_out or not needles:
        return
    ends = [paths[n.name].exit if paths[n.name].junction is None else paths[n.name].junction
            for n in needles]
    active = np.array([_shape_bounds(("capsule", n.tip, end, n.radius))
                       for n, end in zip(needles, ends)])
    near = np.zeros((len(needles), len(keep_out)), dtype=bool)
    for k, inc in enumerate(keep_out):
        box = bounds(inc)
        box = box + np.array([[-1.0], [1.0]]) * 0.01 * np.linalg.norm(box[1] - box[0])
        near[:, k] = np.all((active[:, 0] <= box[1]) & (active[:, 1] >= box[0]), axis=1)
    for i, k in zip(*np.nonzero(near)):  # needle by needle, as the scene lists them
        needle, inc = needles[i], keep_out[k]
        gap = min_on_segment(inc.signed_distance, needle.tip, ends[i]) - needle.radius
        if gap < 0.0:
            raise HoleError(
                f"needle {needle.name!r}: its active part pierces {inc.name!r} "
                f"({inc.material}), a structure to keep out of (by {-gap:.3g} m)",
                (needle.name,),
            )
