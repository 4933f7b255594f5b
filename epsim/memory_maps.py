"""Keep a long run below the kernel's limit on a process's memory mappings.

Every program XLA compiles for the CPU is mapped into the process (about three mappings each:
600 small programs took a process from 425 to 2324), and JAX keeps its compiled programs until
its caches are cleared. Linux allows a process `vm.max_map_count` mappings (65530 by default);
at the limit LLVM cannot map the next program ("LLVM compilation error: Cannot allocate
memory") and jaxlib's error path ends in a segmentation fault in libgcc's unwinder. A run that
makes many meshes of different sizes (a fresh mesh per scenario, geometry sweeps, long plans)
compiles new programs for each, so `prepare` calls `relieve()` before every new mesh: past
half the limit, JAX's in-memory caches are dropped, and the programs still needed compile
again (or load from the persistent compilation cache). Where the counts cannot be read (not
Linux), nothing is done.

    relieve()          # True when the caches were dropped
"""

from __future__ import annotations

import gc

import jax

SHARE = 0.5
"""Drop the compiled programs when the process holds this share of the mapping limit."""

_LIMIT_FILE = "/proc/sys/vm/max_map_count"
_MAPS_FILE = "/proc/self/maps"


def map_count() -> int | None:
    """The number of memory mappings this process holds, or None where it cannot be read."""
    try:
        with open(_MAPS_FILE, "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def map_limit() -> int | None:
    """The kernel's limit on a process's memory mappings, or None where it cannot be read."""
    try:
        with open(_LIMIT_FILE, encoding="ascii") as limit:
            return int(limit.read().strip())
    except (OSError, ValueError):
        return None


def crowded(count: int | None, limit: int | None, share: float) -> bool:
    """Whether `count` mappings reach `share` of `limit` (False when either is unknown)."""
    return count is not None and limit is not None and count >= share * limit


def relieve(share: float | None = None) -> bool:
    """Drop JAX's compiled programs if this process holds `share` (default `SHARE`) of its
    mapping limit. Returns True when they were dropped."""
    if not crowded(map_count(), map_limit(), SHARE if share is None else share):
        return False
    jax.clear_caches()
    gc.collect()  # the executables go with their last Python references
    return True


__all__ = ["SHARE", "crowded", "map_count", "map_limit", "relieve"]
