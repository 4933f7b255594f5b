"""An imported mesh (`scene.mesh.file`) checked against the config that names it, at load time:
readable, its extent plausible for the declared `length_unit` and the config's domain, every
needle tip inside it, every conductor a facet tag of it.

A mesh in metres declared as millimetres is a thousand times too small; it ran to "100 %
coverage" without a word. The extents are compared with the domain the config declares: more
than a factor EXTENT_FACTOR apart, the unit is taken to be wrong and the unit that would fit is
named. The file is read once per modification (cached), so sweeps that resolve many points
read it once.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from epsim.config.issues import ConfigIssue
from epsim.config.needles import conductor_names
from epsim.config.schema import Config
from epsim.errors import MeshError
from epsim.mesh import read_mesh
from epsim.mesh.meshio_io import LENGTH_UNITS
from epsim.mesh.scene import Needle, bounds

EXTENT_FACTOR = 10.0  # mesh and domain sizes further apart than this: the unit is wrong


@functools.lru_cache(maxsize=4)
def _outline(path: str, stamp: tuple[int, int]) -> tuple[np.ndarray, frozenset[str]]:
    """Bounds (2, 3) in the file's own units and facet tag names of a mesh file."""
    mesh = read_mesh(path, length_unit="m")
    points = np.asarray(mesh.points)
    return np.stack([points.min(axis=0), points.max(axis=0)]), frozenset(mesh.facets)


def mesh_outline(path: Path) -> tuple[np.ndarray, frozenset[str]]:
    """(bounds (2, 3) in file units, facet tag names) of the mesh file `path`.

    Raises:
        ConfigIssue: at scene.mesh.file, a file that cannot be read as a mesh.
    """
    try:
        st = Path(path).stat()
        return _outline(str(path), (st.st_mtime_ns, st.st_size))
    except (OSError, MeshError) as exc:
        raise ConfigIssue(("scene", "mesh", "file"), str(exc)) from None


def _size_text(extent: np.ndarray, unit: str) -> str:
    return " x ".join(f"{x:.3g}" for x in extent) + f" {unit}"


def check_imported_mesh(cfg: Config, needles: Sequence[Needle], domain) -> None:
    """Refuse an imported mesh that cannot be what the config means (see the module doc).

    Args:
        cfg: a Config or ResolvedConfig whose scene.mesh.file is a path that exists.
        needles: `needle_axes(cfg)`.
        domain: the config's domain as a mesh-layer shape.
    Raises:
        ConfigIssue: at scene.mesh.length_unit, electrodes[i] or electrodes[i].name.
    """
    m = cfg.scene.mesh
    if m.file is None:
        return
    raw, facets = mesh_outline(m.file)
    scale = LENGTH_UNITS[m.length_unit]
    lo, hi = raw[0] * scale, raw[1] * scale
    size, wanted = float(np.max(hi - lo)), float(np.max(np.diff(bounds(domain), axis=0)))
    if size <= 0 or not EXTENT_FACTOR ** -1 <= size / wanted <= EXTENT_FACTOR:
        fit = min(LENGTH_UNITS, key=lambda u: abs(math.log(max(
            float(np.max(raw[1] - raw[0])) * LENGTH_UNITS[u], 1e-300) / wanted)))
        raise ConfigIssue(
            ("scene", "mesh", "length_unit"),
            f"{Path(m.file).name} spans {_size_text((hi - lo) * 1e3, 'mm')} read in "
            f"{m.length_unit}, but scene.domain spans {wanted * 1e3:.3g} mm: is length_unit "
            f"right? ({fit} would fit)")
    index = conductor_names(cfg)
    slack = 1e-3 * size
    for needle in needles:
        tip = np.asarray(needle.tip)
        if np.any(tip < lo - slack) or np.any(tip > hi + slack):
            raise ConfigIssue(("electrodes", index[needle.name]),
                              f"needle {needle.name!r}: tip {_size_text(tip * 1e3, 'mm')} lies "
                              f"outside the imported mesh {Path(m.file).name}")
    for name, i in index.items():
        if name not in facets:
            tags = ", ".join(sorted(facets)[:8]) or "none"
            raise ConfigIssue(("electrodes", i, "name"),
                              f"{name!r} is not a facet tag of {Path(m.file).name} "
                              f"(tags: {tags})")


__all__ = ["EXTENT_FACTOR", "check_imported_mesh", "mesh_outline"]
