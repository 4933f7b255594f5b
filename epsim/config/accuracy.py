"""Accurate mesh defaults and refinement regions of a config (docs/accuracy.md).

    data["scene"]["mesh"] = accurate_mesh(config, needles, pairs)   # at resolve time
    regions = refinement(cfg, holes, materials_at)            # MeshSizes.refine of the scene
    sizes = MeshSizes(..., refine=regions, **gradings(cfg))

A config that leaves out `scene.mesh.electrode_size`, or gives `scene.mesh.accuracy`, is meshed
by the rule of `epsim.mesh.sizing`: sizes it left out are filled in at resolve time (so the
resolved config, and every results file, states them), and the volume between each firing pair
of needles or plates, the rims of the needles' active parts, where a material interface meets
them and the edges of the plates' faces become refinement regions. Sizes the config gives are
used as given.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from epsim.config.image import labels_at
from epsim.config.schema.electrodes import Plates
from epsim.mesh.scene import Needle, PlateHole, bounds, signed_distances
from epsim.mesh.sizing import (
    REFERENCE_ACCURACY,
    RefineBox,
    RefineCylinder,
    RefineSphere,
    interface_crossings,
    needle_cell_size,
    needle_edges,
    pair_refinement,
    pair_spacing,
    plate_cell_size,
    plate_edges,
    plate_refinement,
    rule_gradings,
    zone_cell_size,
)


def uses_rule(mesh) -> bool:
    """Whether a `scene.mesh` section asks for the accurate defaults: an `accuracy`, or no
    `electrode_size` (a generated mesh only)."""
    return mesh.file is None and (mesh.accuracy is not None or mesh.electrode_size is None)


def firing_pairs(pairs, holes: Sequence, kind: type = Needle) -> list[tuple]:
    """(anode, cathode, highest voltage) of every pair of `kind` (`Needle` or `PlateHole`) that
    fires, each unordered pair once, in protocol order."""
    by_name = {n.name: n for n in holes if isinstance(n, kind)}
    found: dict[frozenset, list] = {}
    for p in pairs:
        if p.anode in by_name and p.cathode in by_name and p.anode != p.cathode:
            key = frozenset((p.anode, p.cathode))
            entry = found.setdefault(key, [by_name[p.anode], by_name[p.cathode], 0.0])
            entry[2] = max(entry[2], abs(float(p.voltage)))
    return [tuple(entry) for entry in found.values()]


def accurate_mesh(config, needles: Sequence, pairs) -> dict:
    """The config's `scene.mesh` section (a dict, SI) with the sizes it left out filled in by the
    rule, and `accuracy` set, when it asks for the rule (`uses_rule`); else as it is.

    Args:
        config: the validated Config.
        needles: `needle_axes(config)` (every individual needle).
        pairs: the protocol's explicit pairs (anode, cathode, voltage).
    """
    m = config.scene.mesh
    data = m.model_dump()
    if not uses_rule(m):
        return data
    accuracy = m.accuracy or REFERENCE_ACCURACY
    data["accuracy"] = accuracy
    radii = [n.radius for n in needles]
    gaps = [e.gap for e in config.electrodes if isinstance(e, Plates)]
    on_electrodes = ([needle_cell_size(r, accuracy) for r in radii]
                     + [plate_cell_size(g, accuracy) for g in gaps])
    if data["electrode_size"] is None and on_electrodes:
        data["electrode_size"] = min(min(on_electrodes), m.size)
    spacings = [pair_spacing(a, b) for a, b, _ in firing_pairs(pairs, needles)] + gaps
    if data["target_size"] is None and spacings:
        data["target_size"] = min(zone_cell_size(min(spacings), accuracy), m.size)
    return data


def user_regions(mesh) -> tuple:
    """`scene.mesh.refine` as mesh-layer regions (SI)."""
    regions = []
    for r in mesh.refine:
        if r.shape == "box":
            regions.append(RefineBox(r.center, r.edges, r.size))
        elif r.shape == "sphere":
            regions.append(RefineSphere(r.center, r.radius, r.size))
        else:
            regions.append(RefineCylinder(r.center, r.axis, r.radius, r.height, r.size))
    return tuple(regions)


def gradings(cfg) -> dict:
    """The `MeshSizes` gradings of a resolved config's scene: with an `accuracy`, the rule's
    (`epsim.mesh.sizing.rule_gradings`: the size grows more slowly away from the needles and
    the refinement regions, and gradings scale with the sizes); else none (the meshes'
    defaults)."""
    m = cfg.scene.mesh
    if m.accuracy is None:
        return {}
    return rule_gradings(m.size, m.electrode_size, m.accuracy)


def scene_materials(domain, inclusions: Sequence, image=None) -> Callable:
    """A function from points (n, 3) m to their material names (n,): of the last inclusion
    holding each point (a later one wins, as in the mesh), else the domain's; or of an image
    scene's (`ImageScene`) label there, else its background."""
    if image is not None:
        table = {label.value: label.material for label in image.labels}

        def from_image(points):
            values = labels_at(image.image, points)
            found = np.full(len(values), image.crop.material, dtype=object)
            for value, material in table.items():
                found[values == value] = material
            return found
        return from_image

    def from_shapes(points):
        found = np.full(len(points), domain.material, dtype=object)
        for inclusion in inclusions:  # distances within its bounds only (STL: point by point)
            lo, hi = bounds(inclusion)
            near = np.nonzero(np.all((points >= lo) & (points <= hi), axis=1))[0]
            inside = signed_distances(inclusion, points[near]) <= 0.0
            found[near[inside]] = inclusion.material
        return found
    return from_shapes


def refinement(cfg, holes: Sequence, materials_at: Callable) -> tuple:
    """The refinement regions of a resolved config's scene: its `scene.mesh.refine`, and with
    an `accuracy` the zone between each firing pair of needles (`pair_refinement`, reaching past
    the lowest E_rev of its materials) or plates (`plate_refinement`), balls around the rims of
    the firing needles' active parts (`needle_edges`), cylinders where a material interface
    meets them (`interface_crossings`, with `materials_at` from `scene_materials`) and along the
    edges of the firing plates' faces (`plate_edges`)."""
    regions = user_regions(cfg.scene.mesh)
    accuracy = cfg.scene.mesh.accuracy
    thresholds = [getattr(m, "e_rev", None) for m in cfg.materials.values()]
    thresholds = [e for e in thresholds if e]
    if accuracy is None or not thresholds:
        return regions
    e_rev = min(thresholds)
    firing = firing_pairs(cfg.protocol.pairs, holes)
    zones = tuple(pair_refinement(a, b, voltage, e_rev, accuracy) for a, b, voltage in firing)
    plates = firing_pairs(cfg.protocol.pairs, holes, PlateHole)
    zones += tuple(plate_refinement(a, b, voltage, e_rev, accuracy) for a, b, voltage in plates)
    electrode = cfg.scene.mesh.electrode_size
    fired = {n.name: n for a, b, _ in firing for n in (a, b)}
    if not electrode:
        return regions + zones
    edges = tuple(s for n in fired.values() for s in needle_edges(n, electrode))
    edges += tuple(c for a, b, _ in plates for p in (a, b)
                   for c in plate_edges(p, electrode, accuracy))
    crossings = tuple(c for n in fired.values()
                      for c in interface_crossings(n, materials_at, electrode))
    return regions + zones + edges + crossings
