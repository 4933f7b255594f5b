"""Meshes of scenes kept on disk: the cache root, the scene hash that keys it, save and load.

    spec = scene_spec(cfg)                 # epsim.translate
    mesh = build_mesh(spec)                # gmsh once, then read back from the cache

An entry is `cache_root()/meshes/<scene hash>.npz`. The hash covers the scene's geometry, mesh
sizes and the bytes of every STL file, plus `SCENE_VERSION`: bump it when the same scene would
mesh differently (a new gmsh set-up, another node order), so that old entries are not reused.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from epsim import mesh as meshlib
from epsim.errors import MeshError
from epsim.mesh.tetmesh import TetMesh

Progress = Callable[[str], None]

# v2: meshes in locality order (epsim.mesh.ordering); v3: one region per scene part (named
# structures apart, `regions="name"`); older entries are not reused
SCENE_VERSION = "gmsh-builder-v3"


@dataclass(frozen=True)
class SceneSpec:
    """The mesh-level description of a config's scene (SI).

    Attributes:
        domain: the outer shape (epsim.mesh Box, Cylinder or Sphere).
        inclusions: regions meshed inside it; a later one wins where two overlap.
        holes: needles and plates cut out of the tissue.
        sizes: target cell sizes.
        electrodes: names of the conducting surfaces (facet tags), in the holes' order.
    """

    domain: object
    inclusions: tuple
    holes: tuple
    sizes: meshlib.MeshSizes
    electrodes: tuple[str, ...]


def cache_root() -> Path:
    """epsim's cache directory: $EPSIM_CACHE, else $XDG_CACHE_HOME/epsim or ~/.cache/epsim.
    Meshes go under meshes/, compiled XLA programs (set up by the CLI) under xla/."""
    return Path(os.environ.get("EPSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "epsim"
    ))


def mesh_path(spec: SceneSpec) -> Path:
    """Where the cached mesh of a scene lives."""
    return cache_root() / "meshes" / f"{scene_hash(spec)}.npz"


def scene_hash(spec: SceneSpec) -> str:
    """A hash of the scene (geometry, sizes and the bytes of any STL file) keying the mesh cache."""
    digest = hashlib.sha256((repr(spec) + SCENE_VERSION).encode())
    for inclusion in spec.inclusions:
        if isinstance(inclusion, meshlib.StlInclusion):
            digest.update(Path(inclusion.file).read_bytes())
    return digest.hexdigest()[:20]


def save_mesh(path: Path, mesh: TetMesh) -> None:
    """Write a mesh atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    facets = {f"facet:{k}": np.asarray(v) for k, v in mesh.facets.items()}
    np.savez(tmp, points=np.asarray(mesh.points), cells=mesh.cells, cell_region=mesh.cell_region,
             region_names=np.array(mesh.region_names), **facets)
    os.replace(tmp, path)


def load_mesh(path: Path) -> TetMesh:
    """Read a mesh written by `save_mesh` (validated again by `make_mesh`)."""
    with np.load(path, allow_pickle=False) as data:
        facets = {k[6:]: data[k] for k in data.files if k.startswith("facet:")}
        return meshlib.make_mesh(data["points"], data["cells"], data["cell_region"],
                                 tuple(str(n) for n in data["region_names"]), facets)


def build_mesh(spec: SceneSpec, *, use_cache: bool = True, progress: Progress | None = None) -> TetMesh:
    """Mesh a scene with gmsh, reusing a cached mesh of the same scene when there is one.
    Regions are the scene's parts by name (`epsim.translate.material_mesh` merges them by
    material for the physics)."""
    path = mesh_path(spec)
    if use_cache and path.exists():
        try:
            return load_mesh(path)
        except (OSError, ValueError, KeyError, MeshError):
            path.unlink(missing_ok=True)  # a broken cache entry is rebuilt
    if progress:
        progress("meshing the scene with gmsh")
    mesh = meshlib.build_mesh(spec.domain, spec.inclusions, spec.holes, spec.sizes, regions="name")
    if use_cache:
        save_mesh(path, mesh)
    return mesh


__all__ = [
    "SCENE_VERSION", "SceneSpec", "build_mesh", "cache_root", "load_mesh", "mesh_path",
    "save_mesh", "scene_hash",
]
