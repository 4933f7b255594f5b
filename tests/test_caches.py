"""Caches that heal: an unreadable mesh-cache or compiled-program-cache entry is removed and
built again, with one line saying so (and a cache that cannot be written costs only time)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import epsim.meshcache as meshcache
from epsim import mesh as meshlib
from epsim.mesh.structured import structured_box_mesh
from epsim.config import load_config
from epsim.outcomes import cell_volumes
from epsim.translate import scene_spec

SPEC = meshcache.SceneSpec(
    domain=meshlib.Box(center=(0, 0, 0), size=(0.02, 0.02, 0.02), material="liver"),
    inclusions=(), holes=(), sizes=meshlib.MeshSizes(size=0.01), electrodes=(),
)


@pytest.fixture
def builds(tmp_path, monkeypatch):
    """The mesh cache under tmp_path; gmsh replaced by a structured mesh, its calls counted."""
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    calls = []

    def build(*args, **kwargs):
        calls.append(args)
        return structured_box_mesh(0.02, 2, material="liver")

    monkeypatch.setattr(meshlib, "build_mesh", build)
    return calls


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "empty", "not a zip"])
def test_unreadable_mesh_cache_entry_is_rebuilt(builds, caplog, damage):
    first = meshcache.build_mesh(SPEC)
    entry = meshcache.mesh_path(SPEC)
    data = entry.read_bytes()
    entry.write_bytes({"truncated": data[: len(data) // 2], "zeroed": bytes(len(data)),
                       "empty": b"", "not a zip": b"hello"}[damage])
    with caplog.at_level(logging.WARNING, logger="epsim"):
        again = meshcache.build_mesh(SPEC)
    assert len(builds) == 2  # meshed afresh
    np.testing.assert_array_equal(again.cells, first.cells)
    (record,) = caplog.records
    assert "could not be read" in record.getMessage() and entry.name in record.getMessage()
    assert meshcache.load_mesh(entry).n_cells == first.n_cells  # the entry is whole again
    caplog.clear()
    meshcache.build_mesh(SPEC)
    assert len(builds) == 2 and not caplog.records  # read from the cache, silently


def test_a_cache_that_cannot_be_written_costs_only_time(builds, tmp_path, caplog):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="epsim"):
        mesh = meshcache.build_mesh(SPEC)
    assert mesh.n_cells > 0 and "not saved" in caplog.text


XLA_RUN = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp
    jax.config.update("jax_compilation_cache_dir", sys.argv[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", 2**30)
    from epsim.cli import main
    main(["info"])   # the command line's set-up: notices and the cache watch
    print(float(jax.jit(lambda x: jnp.sin(x) * 2 + x)(jnp.arange(5.0)).sum()))
""")


def test_unreadable_compilation_cache_entry_is_rebuilt(tmp_path):
    cache = tmp_path / "xla"
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache), "EPSIM_CACHE": str(tmp_path)}

    def run():
        done = subprocess.run([sys.executable, "-c", XLA_RUN, str(cache)], capture_output=True,
                              text=True, timeout=300, env=env, cwd=Path(__file__).parents[1])
        assert done.returncode == 0, done.stderr
        return done

    first = run()
    entries = sorted(cache.glob("jit__lambda*-cache"))
    assert len(entries) == 1, list(cache.iterdir())
    whole = entries[0].read_bytes()
    entries[0].write_bytes(whole[:100])  # a process killed while writing it
    second = run()
    assert second.stdout.splitlines()[-1] == first.stdout.splitlines()[-1]
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "could not be read; removed" in lines[0], second.stderr
    assert "Traceback" not in second.stderr
    data = entries[0].read_bytes()  # written afresh and whole: it decompresses
    try:
        import zstandard
    except ImportError:
        zlib.decompress(data)
    else:
        zstandard.ZstdDecompressor().decompress(data)


def test_entries_without_access_time_are_dated_first(tmp_path):
    # an older epsim (no size limit) wrote entries without "-atime" files: JAX's eviction then
    # failed on every later write ("Error writing persistent compilation cache entry")
    (tmp_path / "jit_old-abc-cache").write_bytes(b"x")
    (tmp_path / "jit_new-def-cache").write_bytes(b"y")
    stamp = (123456789).to_bytes(8, "little")
    (tmp_path / "jit_new-def-atime").write_bytes(stamp)
    assert meshcache.date_unstamped_entries(tmp_path) == 1
    assert int.from_bytes((tmp_path / "jit_old-abc-atime").read_bytes(), "little") == 0
    assert (tmp_path / "jit_new-def-atime").read_bytes() == stamp  # dated entries keep theirs
    assert meshcache.date_unstamped_entries(tmp_path) == 0


def test_a_seed_meshes_the_same_scene_into_another_mesh(tmp_path, monkeypatch):
    """gmsh's seed: seed 0 keys the cache as a spec without one did; another seed is another
    entry and another mesh of the same box and ball (volumes equal, nodes elsewhere)."""
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    ball = meshlib.SphereInclusion("ball", center=(0, 0, 0), radius=0.006, material="tumour")
    spec = meshcache.SceneSpec(
        domain=meshlib.Box(center=(0, 0, 0), size=(0.02, 0.02, 0.02), material="liver"),
        inclusions=(ball,), holes=(), sizes=meshlib.MeshSizes(size=0.003), electrodes=(),
    )
    seeded = dataclasses.replace(spec, seed=2)
    assert "seed" not in repr(spec)  # so that the key of seed 0 is the key from before seeds:
    before_seeds = hashlib.sha256((repr(spec) + meshcache.SCENE_VERSION).encode())
    assert meshcache.scene_hash(spec) == before_seeds.hexdigest()[:20]
    assert meshcache.scene_hash(seeded) != meshcache.scene_hash(spec)
    first, other = meshcache.build_mesh(spec), meshcache.build_mesh(seeded)
    assert meshcache.mesh_path(seeded).exists() and meshcache.mesh_path(spec).exists()
    assert first.n_nodes != other.n_nodes or not np.allclose(first.points, other.points)
    for region in range(2):  # the same regions: a 20 mm box and a faceted 6 mm ball in it
        volumes = [cell_volumes(m)[np.asarray(m.cell_region) == region].sum()
                   for m in (first, other)]
        assert volumes[0] == pytest.approx(volumes[1], rel=0.01)
    assert cell_volumes(other).sum() == pytest.approx(8e-6, rel=1e-9)
    np.testing.assert_array_equal(meshcache.build_mesh(seeded).cells, other.cells)  # cached


def test_a_configs_scene_takes_the_seed_to_gmsh():
    """`scene_spec` / `scene_mesh` pass the seed on (the accuracy study's replicas use them)."""
    cfg = load_config(Path(__file__).resolve().parent.parent / "configs" / "two_needles_liver.yaml")
    assert scene_spec(cfg).seed == 0 and scene_spec(cfg, seed=3).seed == 3
    assert meshcache.scene_hash(scene_spec(cfg, seed=3)) != meshcache.scene_hash(scene_spec(cfg))
