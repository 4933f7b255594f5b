"""How the `epsim` command sets JAX up before any work: float64, the persistent compilation cache
under epsim's cache folder (and which programs it keeps), and thread-count-independent XLA
kernels for reproducible plans."""

from __future__ import annotations

import os


XLA_CACHE_BYTES = 2 * 2**30  # least recently used programs are dropped beyond this
XLA_CACHE_MIN_COMPILE_S = 0.25
"""Programs that took at least this long to compile are kept on disk. JAX's default, 1 s, left
out the short-compile solve of `epsim run` (0.5 s on a 100k-cell mesh, epsim.solve.compile), so
the next run compiled it again; reading one back takes milliseconds. A threshold the user set
(other than JAX's default) wins."""
JAX_DEFAULT_MIN_COMPILE_S = 1.0


def configure_jax(use_cache: bool) -> None:
    """float64 on; compiled programs kept on disk (`cache_root()/xla`, or the user's own
    JAX_COMPILATION_CACHE_DIR), so that a second run on a mesh of a similar size skips
    compilation (benchmarks/RESULTS.md). Sweep workers inherit it through the environment."""
    import jax

    jax.config.update("jax_enable_x64", True)
    if not use_cache:
        return
    from epsim.meshcache import cache_root, heal_compilation_cache

    if jax.config.jax_compilation_cache_dir is None:
        path = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_root() / "xla"))
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_compilation_cache_max_size", XLA_CACHE_BYTES)
    if jax.config.jax_persistent_cache_min_compile_time_secs == JAX_DEFAULT_MIN_COMPILE_S:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", XLA_CACHE_MIN_COMPILE_S)
    heal_compilation_cache(jax.config.jax_compilation_cache_dir)  # unreadable entries rebuilt


DETERMINISTIC_XLA = "--xla_cpu_multi_thread_eigen=false"
"""XLA CPU flag for reproducible plans: Eigen's multi-threaded kernels split their reductions by
thread count, so the same plan on one core and on two differed in the last bit of currents and
objective values (measured), and a long optimisation can amplify such bits."""


def deterministic_xla() -> None:
    """Ask XLA for thread-count-independent CPU kernels (before the backend starts)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if DETERMINISTIC_XLA not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DETERMINISTIC_XLA}".strip()


__all__ = [
    "DETERMINISTIC_XLA", "JAX_DEFAULT_MIN_COMPILE_S", "XLA_CACHE_BYTES", "XLA_CACHE_MIN_COMPILE_S",
    "configure_jax", "deterministic_xla",
]
