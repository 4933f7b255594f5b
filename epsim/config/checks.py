"""The checks after validation that need more than one section: electrodes and scene geometry.

`check_needles(cfg, needles)` refuses clashing conductor names and needles whose active part is
longer than the needle as written; `check_geometry(cfg, needles)` hands the scene to the mesh
layer's `check_scene` (tips inside the domain, needles and plates apart, active parts clear of
`spare` structures and vessels, layers that fit, closed STL surfaces), and refuses structures
and vessels wholly outside the domain and an implausible imported mesh
(`epsim.config.imported`). The mesh builder runs the same `check_scene`, so `epsim check` refuses exactly the scenes `epsim run` would. Every problem
is a `ConfigIssue` at the config key at fault (`electrodes[2]`, `scene.layers`,
`scene.structures[0].file`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from epsim.config.geometry import electrode_holes, mesh_domain, mesh_inclusions
from epsim.config.image import check_image
from epsim.config.imported import check_imported_mesh
from epsim.config.issues import ConfigIssue, Loc
from epsim.config.needles import conductor_names
from epsim.config.schema import Config, StlStructure
from epsim.errors import MeshError
from epsim.mesh.meshio_io import LENGTH_UNITS
from epsim.mesh.scene import (
    HoleError,
    Needle,
    SphereInclusion,
    bounds,
    check_scene,
    min_on_segment,
    read_stl,
)

_TOL = 1e-9  # relative tolerance of the active length against the needle length
MIN_NEEDLE_DIAMETER = 50e-6  # m: thinner than any needle made (gmsh fails on such holes)


def check_needles(cfg: Config, needles: Sequence[Needle]) -> None:
    """Refuse conductor names used twice and an active part longer than the needle from its tip
    to its entry (the entry is a point on the shaft as the config writes it).

    Args:
        cfg: a Config or ResolvedConfig.
        needles: `needle_axes(cfg)`.
    Raises:
        ConfigIssue: located at the electrode concerned.
    """
    index = conductor_names(cfg)
    for needle in needles:
        if 2 * needle.radius < MIN_NEEDLE_DIAMETER:
            raise ConfigIssue(
                ("electrodes", index[needle.name], "diameter"),
                f"needle {needle.name!r}: diameter {2e3 * needle.radius:.3g} mm is below "
                f"{MIN_NEEDLE_DIAMETER * 1e3:g} mm, thinner than any needle")
        if needle.active_length > needle.length * (1 + _TOL):
            raise ConfigIssue(
                ("electrodes", index[needle.name], "active_length"),
                f"needle {needle.name!r}: active length {needle.active_length * 1e3:.6g} mm is "
                f"longer than the needle from tip to entry ({needle.length * 1e3:.6g} mm)",
            )


def check_geometry(cfg: Config, needles: Sequence[Needle]) -> None:
    """Validate the config's scene with the mesh layer's `check_scene`.

    STL paths must be absolute (a resolved config) or relative to the working directory.

    Args:
        cfg: a Config or ResolvedConfig.
        needles: `needle_axes(cfg)`.
    Raises:
        ConfigIssue: located at the electrode, the layer list or the STL file at fault.
    """
    for i, s in enumerate(cfg.scene.structures):
        if isinstance(s, StlStructure):
            try:
                read_stl(s.file, LENGTH_UNITS[s.length_unit])  # cached for check_scene
            except MeshError as exc:
                raise ConfigIssue(("scene", "structures", i, "file"), str(exc)) from None
    domain = mesh_domain(cfg)
    inclusions = mesh_inclusions(cfg, domain)
    check_inside(cfg, domain, inclusions[len(cfg.scene.layers):])
    holes = electrode_holes(cfg, needles)
    try:
        check_scene(domain, inclusions, holes)
    except HoleError as exc:
        raise ConfigIssue(electrode_loc(cfg, exc.holes), str(exc)) from None
    except MeshError as exc:  # inclusion names: a layer's generated name taken by a structure
        raise ConfigIssue(("scene",), str(exc)) from None
    check_imported_mesh(cfg, needles, domain)
    if cfg.scene.image is not None:
        check_image(cfg, needles, conductor_names(cfg))


def check_inside(cfg: Config, domain, inclusions: Sequence) -> None:
    """Refuse a structure or vessel that lies wholly outside the domain (gmsh would stop on it
    after the config was accepted). `inclusions`: the structures', then the vessels' shapes.

    Raises:
        ConfigIssue: at `scene.structures[i]` or `scene.vessels[i]`.
    """
    outer = bounds(domain)
    n = len(cfg.scene.structures)
    for i, inclusion in enumerate(inclusions):
        key = ("scene", "structures", i) if i < n else ("scene", "vessels", i - n)
        box = bounds(inclusion)
        if getattr(inclusion, "points", None) is not None:  # a vessel: every segment outside
            gap = min(min_on_segment(domain.signed_distance, a, b)
                      for a, b in zip(inclusion.points[:-1], inclusion.points[1:]))
            outside = gap > inclusion.radius
        else:  # a ball around it (the sphere itself for a sphere) clear of the domain
            centre, radius = box.mean(axis=0), 0.5 * float(np.linalg.norm(box[1] - box[0]))
            if isinstance(inclusion, SphereInclusion):
                radius = inclusion.radius
            outside = domain.signed_distance(centre) > radius
        if outside or np.any(box[0] > outer[1]) or np.any(box[1] < outer[0]):
            raise ConfigIssue(key, f"{inclusion.name!r} lies wholly outside the domain "
                              "(scene.domain)")


def electrode_loc(cfg: Config, holes: Sequence[str]) -> Loc:
    """Key path of the electrode to blame for a problem between `holes` (conductor names): the
    latest of them in config order, as the earlier ones were fine without it."""
    index = conductor_names(cfg)
    found = [index[name] for name in holes if name in index]
    return ("electrodes", max(found)) if found else ("electrodes",)
