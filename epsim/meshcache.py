"""Meshes of scenes kept on disk: the cache root, the scene hash that keys it, save and load;
and a watch that heals JAX's compiled-program cache under the same root.

    spec = scene_spec(cfg)                 # epsim.translate
    mesh = build_mesh(spec)                # gmsh once, then read back from the cache

An entry is `cache_root()/meshes/<scene hash>.npz`. The hash covers the scene's geometry, mesh
sizes, the bytes of every STL file and an image scene's voxels and affine (its digest), plus
`SCENE_VERSION`: bump it when the same scene would mesh differently (a new gmsh set-up, another
node order), so that old entries are not reused.

Caches heal: an entry that cannot be read (truncated by a killed process or a full disk,
damaged) is removed and built again, with one warning line on the "epsim" logger (the command
line prints it as `epsim: ...`). Writing an entry is best effort: a cache that cannot be written
costs time, never the run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from epsim import mesh as meshlib
from epsim.imaging.mesher import mesh_image
from epsim.mesh.tetmesh import TetMesh

Progress = Callable[[str], None]
log = logging.getLogger("epsim")

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
        image: an image scene (`epsim.imaging.mesher.ImageScene`, whose repr carries the
            digest of its voxels) meshed instead of the inclusions; None for shapes.
        seed: gmsh's random seed. Another seed meshes the same scene into another mesh of the
            same fineness (seeds 0 and 1 give the same mesh): how much a result moves between
            such meshes is the scatter of one fineness (benchmarks/bench_mesh_accuracy.py).
    """

    domain: object
    inclusions: tuple
    holes: tuple
    sizes: meshlib.MeshSizes
    electrodes: tuple[str, ...]
    image: object = None
    seed: int = field(default=0, repr=False)  # keyed by `scene_hash` only when not 0


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
    seeded = f" seed={spec.seed}" if spec.seed else ""  # seed 0 keys meshes as before seeds
    digest = hashlib.sha256((repr(spec) + seeded + SCENE_VERSION).encode())
    for inclusion in spec.inclusions:
        if isinstance(inclusion, meshlib.StlInclusion):
            digest.update(Path(inclusion.file).read_bytes())
    return digest.hexdigest()[:20]


def save_mesh(path: Path, mesh: TetMesh) -> None:
    """Write a mesh atomically (a reader never sees half a file; a failed write leaves no
    temporary file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    facets = {f"facet:{k}": np.asarray(v) for k, v in mesh.facets.items()}
    try:
        np.savez(tmp, points=np.asarray(mesh.points), cells=mesh.cells,
                 cell_region=mesh.cell_region, region_names=np.array(mesh.region_names), **facets)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, it is rebuilt
            path.unlink(missing_ok=True)
            log.warning("mesh cache entry %s could not be read (%s); removed, meshing afresh",
                        path, type(exc).__name__)
    if progress:
        progress("meshing the scene with gmsh")
    if spec.image is not None:
        mesh = mesh_image(spec.image, spec.holes, spec.sizes, seed=spec.seed)
    else:
        mesh = meshlib.build_mesh(spec.domain, spec.inclusions, spec.holes, spec.sizes,
                                  seed=spec.seed, regions="name")
    if use_cache:
        try:
            save_mesh(path, mesh)
        except OSError as exc:
            log.warning("mesh cache entry %s not saved (%s)", path, exc.strerror or exc)
    return mesh


XLA_READ_ERROR = "Error reading persistent compilation cache entry"
XLA_WRITE_ERROR = "Error writing persistent compilation cache entry"


def heal_compilation_cache(directory) -> None:
    """Watch JAX's persistent compilation cache in `directory` and remove an entry it cannot
    read. JAX warns and compiles afresh in that case, but never replaces the entry (its cache
    skips keys that exist), so a truncated entry would be read and warned about in every later
    run. The watch turns the warning into one line saying the entry was removed; the fresh
    compilation then writes it again. Entries without an access time are dated first
    (`date_unstamped_entries`). Installed by the command line, not at import."""
    shown = warnings.showwarning
    if getattr(shown, "epsim_heal", None) == str(directory):
        return  # installed, and the entries dated, already
    date_unstamped_entries(Path(directory))

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if XLA_WRITE_ERROR in str(message) and "-atime" in str(message):
            # another writer left entries without access times: date them; this program is
            # compiled again in a later run, nothing else is lost
            date_unstamped_entries(Path(directory))
            return None
        if XLA_READ_ERROR not in str(message):
            return shown(message, category, filename, lineno, file, line)
        removed = remove_unreadable_entries(Path(directory))
        log.warning("compiled-program cache entry %s could not be read; removed, compiling "
                    "afresh", ", ".join(p.name for p in removed) or "(not found)")

    showwarning.epsim_heal = str(directory)
    warnings.showwarning = showwarning


def date_unstamped_entries(directory: Path) -> int:
    """Give every compilation-cache entry without an access-time file one dated 0 (the first to
    be dropped), and return how many were dated. Entries written without a size limit (by an
    older epsim, or by JAX on its own) have none, and JAX's eviction then fails on them: every
    later write warned "Error writing persistent compilation cache entry ... -atime"."""
    dated = 0
    try:
        entries = list(Path(directory).glob("*-cache"))
    except OSError:
        return 0
    for entry in entries:
        atime = entry.with_name(entry.name[: -len("-cache")] + "-atime")
        if not atime.exists():
            try:
                atime.write_bytes((0).to_bytes(8, "little"))
                dated += 1
            except OSError:
                pass  # a read-only cache: JAX does not write to it either
    return dated


def remove_unreadable_entries(directory: Path) -> list[Path]:
    """Remove the compilation-cache entries that do not decompress, trying the one JAX read
    last first (its access-time file is the newest); when every entry decompresses, the one
    read last is removed (it decompressed but could not be loaded). Returns what was removed."""
    entries = sorted(directory.glob("*-cache"), key=_last_read, reverse=True)
    bad = [p for p in entries[:1] if not _decompresses(p)]
    bad = bad or [p for p in entries[1:] if not _decompresses(p)]
    bad = bad or [p for p in entries[:1] if _last_read(p) > 0]
    for path in bad:
        path.unlink(missing_ok=True)
        path.with_name(path.name[: -len("-cache")] + "-atime").unlink(missing_ok=True)
    return bad


def _last_read(entry: Path) -> int:
    """When JAX last read `entry` (ns; its "-atime" file, written with an eviction limit)."""
    try:
        return entry.with_name(entry.name[: -len("-cache")] + "-atime").stat().st_mtime_ns
    except OSError:
        return 0


def _decompresses(entry: Path) -> bool:
    """JAX compresses entries with zstandard when it is installed, else zlib."""
    try:
        data = entry.read_bytes()
        try:
            import zstandard
        except ImportError:
            zlib.decompress(data)
        else:
            zstandard.ZstdDecompressor().decompress(data)
        return True
    except Exception:  # noqa: BLE001 - unreadable in any way
        return False


__all__ = [
    "SCENE_VERSION", "SceneSpec", "build_mesh", "cache_root", "date_unstamped_entries",
    "heal_compilation_cache", "load_mesh", "mesh_path", "remove_unreadable_entries",
    "save_mesh", "scene_hash",
]
