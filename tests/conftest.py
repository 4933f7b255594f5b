"""Test set-up: float64 on, as the CLI does (the library never changes JAX config at import),
and compiled programs cached in a directory of this session (the CLI would otherwise put them
under the user's ~/.cache/epsim/xla)."""

import os
import shutil
import signal
import tempfile
import warnings

import jax
import pytest

from epsim.jax_setup import DETERMINISTIC_XLA
from epsim.memory_maps import relieve

# the XLA CPU kernels `epsim optimise` uses, so that plans made here and by the command agree;
# and the cheapest compilation: the suite's meshes are small, so compiling mostly dominates
# (skipping LLVM's optimisation passes took tests/solve/test_gradients.py + test_simulate.py from
# 349 s to 193 s wall, but test_twin.py + test_accuracy.py from 90 s to 98 s CPU, on a shared
# 2-core machine; the programs do the same operations, less optimised); XLA's older loop emitter
# instead of its MLIR fusion emitters (which build an MLIR pipeline per fused kernel) took
# tests/solve/test_gradients.py + test_simulate.py from 86 s to 42 s on one core. Subprocesses
# inherit it.
FAST_COMPILE_XLA = ("--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
                    " --xla_cpu_use_fusion_emitters=false")
os.environ["XLA_FLAGS"] = " ".join(
    filter(None, (os.environ.get("XLA_FLAGS"), DETERMINISTIC_XLA, FAST_COMPILE_XLA))
)
jax.config.update("jax_enable_x64", True)
_XLA_CACHE = tempfile.mkdtemp(prefix="epsim-test-xla-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
jax.config.update("jax_compilation_cache_dir", _XLA_CACHE)


def pytest_unconfigure(config):
    shutil.rmtree(_XLA_CACHE, ignore_errors=True)


def sigint_masked() -> bool:
    """Whether this process ignores or blocks SIGINT at the OS level (a C library can do that
    behind Python's back; children inherit both, and Ctrl-C no longer stops them)."""
    bit = 1 << (signal.SIGINT - 1)
    with open("/proc/self/status") as status:
        return any(line.startswith(("SigIgn:", "SigBlk:")) and int(line.split()[1], 16) & bit
                   for line in status)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Each test ends with Python's own SIGINT handler in place: a test that left SIGINT
    ignored, blocked or replaced would make the interrupt tests that follow it in the same
    worker fail for no fault of theirs. Checked after the teardown, which includes the module's
    fixtures when the next test is in another file; the culprit is named in a warning.
    And after the last test of a file, a worker that has compiled many programs drops them
    (`epsim.memory_maps`): one worker of a full run reached 64,660 of the kernel's 65,530
    mappings, and past the limit it dies. Once a file, not once a test: counting the mappings
    reads /proc/self/maps (34 ms at 30,000), and within a file `prepare` checks at every mesh."""
    yield
    if nextitem is None or nextitem.fspath != item.fspath:
        relieve()
    if not os.path.exists("/proc/self/status"):
        return
    handler = signal.getsignal(signal.SIGINT)
    if sigint_masked() or handler is not signal.default_int_handler:
        found = f"handler {handler!r}, masked at the OS level: {sigint_masked()}"
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.default_int_handler)
        where = item.nodeid if nextitem is None or nextitem.fspath == item.fspath else \
            f"{item.nodeid} (or the teardown of {item.fspath.basename}'s fixtures)"
        warnings.warn(f"{where} left SIGINT changed ({found}); restored")
