"""The config's geometry as the mesh layer's shapes (SI): the one translation from config to scene.

    domain = mesh_domain(cfg)                    # epsim.mesh.scene Box, Cylinder or Sphere
    inclusions = mesh_inclusions(cfg, domain)    # layers, then structures, then vessels
    holes = electrode_holes(cfg, needle_axes(cfg))

There is one geometry: shapes, distances and checks live in `epsim.mesh.scene`, and the config
layer only translates into them. `epsim.config.checks.check_geometry` validates the result with
the mesh layer's `check_scene`, and the runner meshes the same shapes.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Sequence

import numpy as np

from epsim.config.image import crop_box
from epsim.config.issues import ConfigIssue
from epsim.config.schema import Config, Plates
from epsim.errors import ElectrodeError, MeshError
from epsim.mesh.meshio_io import LENGTH_UNITS
from epsim.mesh.scene import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    Domain,
    EllipsoidInclusion,
    Hole,
    Inclusion,
    Needle,
    Sphere,
    SphereInclusion,
    StlInclusion,
    TubeInclusion,
    layer_inclusions,
    plate_pair,
)


def mesh_domain(cfg: Config) -> Domain:
    """The config's domain as a mesh-layer shape (SI); a cylinder stands along z; an image
    scene's crop box."""
    if cfg.scene.image is not None:
        return crop_box(cfg)
    d = cfg.scene.domain
    if d.shape == "box":
        return Box(center=d.center, size=d.size, material=d.material)
    if d.shape == "cylinder":
        base = np.asarray(d.center) - np.array([0.0, 0.0, 0.5 * d.height])
        return Cylinder(base, (0.0, 0.0, 1.0), d.radius, d.height, material=d.material)
    return Sphere(center=d.center, radius=d.radius, material=d.material)


def mesh_inclusions(cfg: Config, domain: Domain) -> tuple[Inclusion, ...]:
    """The config's layers, structures and vessels as mesh-layer inclusions, in that order (a
    later inclusion wins where two overlap, so a tumour in the fat layer stays tumour).

    Targets are meshed at `scene.mesh.target_size`, layers at `scene.mesh.size`; `spare`
    structures and vessels are kept out of the needles' active parts.

    Raises:
        ConfigIssue: at `scene.layers`, layers that do not fit the domain.
    """
    m = cfg.scene.mesh
    layers = [(layer.material, layer.thickness) for layer in cfg.scene.layers]
    try:
        inclusions = list(layer_inclusions(domain, layers, mesh_size=m.size)) if layers else []
    except MeshError as exc:
        raise ConfigIssue(("scene", "layers"), str(exc)) from None
    names = layer_names(cfg)
    inclusions = [dataclasses.replace(inc, name=name) for inc, name in zip(inclusions, names)]
    inclusions += [_structure(s, m.target_size) for s in cfg.scene.structures]
    inclusions += [
        TubeInclusion(v.name, v.points, v.radius, v.material, keep_out=v.role == "spare")
        for v in cfg.scene.vessels
    ]
    return tuple(inclusions)


def layer_names(cfg: Config) -> tuple[str, ...]:
    """The region name of each layer, as results report it: its material ("skin"), or
    `layer_<i>_<material>` where that name is taken (by another layer, a structure, a vessel or
    the domain's material)."""
    layers = cfg.scene.layers
    if not layers:
        return ()
    taken = {cfg.scene.domain.material, *(s.name for s in cfg.scene.structures),
             *(v.name for v in cfg.scene.vessels)}
    counts = Counter(layer.material for layer in layers)
    return tuple(
        layer.material if counts[layer.material] == 1 and layer.material not in taken
        else f"layer_{i}_{layer.material}"
        for i, layer in enumerate(layers)
    )


def _structure(s, mesh_size: float | None) -> Inclusion:
    """One `scene.structures` entry as an inclusion (mesh_size in m, for targets only)."""
    opts = {"mesh_size": mesh_size if s.role == "target" else None, "keep_out": s.role == "spare"}
    if s.shape == "sphere":
        return SphereInclusion(s.name, s.center, s.radius, s.material, **opts)
    if s.shape == "ellipsoid":
        return EllipsoidInclusion(s.name, s.center, s.radii, s.material, **opts)
    if s.shape == "cylinder":
        base = np.asarray(s.center) - 0.5 * s.height * np.asarray(s.axis)
        return CylinderInclusion(s.name, base, s.axis, s.radius, s.height, s.material, **opts)
    if s.shape == "box":
        return BoxInclusion(s.name, s.center, s.size, s.material, **opts)
    scale = LENGTH_UNITS[s.length_unit]
    return StlInclusion(s.name, s.file, s.material, scale, **opts)


def electrode_holes(cfg: Config, needles: Sequence[Needle]) -> tuple[Hole, ...]:
    """Needles, then the two plates of each `plates` electrode, as holes in the tissue (SI); the
    hole names are the conductor names pairs use.

    Args:
        cfg: a Config or ResolvedConfig.
        needles: `needle_axes(cfg)`.
    Raises:
        ConfigIssue: at the electrode, plates that cannot be (`up` along `normal`).
    """
    holes: list[Hole] = list(needles)
    for index, e in enumerate(cfg.electrodes):
        if isinstance(e, Plates):
            try:
                holes += plate_pair(e.name, e.center, e.normal, e.gap, e.size, up=e.up)
            except ElectrodeError as exc:
                raise ConfigIssue(("electrodes", index), str(exc)) from None
    return tuple(holes)
