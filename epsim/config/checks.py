"""The checks after validation that need more than one section: electrodes and scene geometry.

`check_needles(cfg, needles)` refuses clashing conductor names and needles whose active part is
longer than the needle as written; `check_geometry(cfg, needles)` hands the scene to the mesh
layer's `check_scene` (tips inside the domain, needles and plates apart, active parts clear of
`spare` structures and vessels, layers that fit, closed STL surfaces). The mesh builder runs the
same `check_scene`, so `epsim check` refuses exactly the scenes `epsim run` would. Every problem
is a `ConfigIssue` at the config key at fault (`electrodes[2]`, `scene.layers`,
`scene.structures[0].file`).
"""

from __future__ import annotations

from typing import Sequence

from epsim.config.geometry import electrode_holes, mesh_domain, mesh_inclusions
from epsim.config.issues import ConfigIssue, Loc
from epsim.config.needles import conductor_names
from epsim.config.schema import Config, StlStructure
from epsim.errors import MeshError
from epsim.mesh.meshio_io import LENGTH_UNITS
from epsim.mesh.scene import HoleError, Needle, check_scene, read_stl

_TOL = 1e-9  # relative tolerance of the active length against the needle length


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
    holes = electrode_holes(cfg, needles)
    try:
        check_scene(domain, inclusions, holes)
    except HoleError as exc:
        raise ConfigIssue(electrode_loc(cfg, exc.holes), str(exc)) from None
    except MeshError as exc:  # inclusion names: a layer's generated name taken by a structure
        raise ConfigIssue(("scene",), str(exc)) from None


def electrode_loc(cfg: Config, holes: Sequence[str]) -> Loc:
    """Key path of the electrode to blame for a problem between `holes` (conductor names): the
    latest of them in config order, as the earlier ones were fine without it."""
    index = conductor_names(cfg)
    found = [index[name] for name in holes if name in index]
    return ("electrodes", max(found)) if found else ("electrodes",)
