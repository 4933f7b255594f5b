"""Compile options for programs a process runs once.

A Newton solve's program takes longer to compile than to run: on the 100k-cell cold-start mesh
(one pair) XLA's defaults compile it in about 3.8 s and run it in 0.3 s. A program that runs once
(the solve of `epsim run`, a plan's verification) is therefore compiled for the least total
time, by the size of the work it does (cells times pairs):
- up to SMALL_WORK, at LLVM optimisation level 0 without XLA's CPU fusion emitters: 0.6 s of
  compilation instead of 3.8 s, runs 2.4x slower than with the defaults;
- above, at level 1 without the fusion emitters: 1.6 s of compilation, runs about 10 % slower.
Measured on mesh A of benchmarks/bench_cold_start.py (`--options`, one core): level 1 saves
1 s of compilation against level 0 and level 0 costs 0.4-0.45 s more run time per 100k cells
and pair, so level 0 wins below about 230k cell-pairs. Programs run many times (the planner's
evaluators, sweep chunks, calibration, bench_solver.py) keep XLA's defaults.

A program called ONE_OFF_CALLS times with arguments of the same shapes (a script looping over
configs on one mesh with `run_config`) is evidently not run once: from then on it gets XLA's
defaults, one more compilation for the fast solve. Eight calls, because the level-0 program
costs about 0.45 s more per 100k cells and pair on each call and the defaults' compilation
about 3 s more than level 0's: promoting sooner would cost more than it saves (at level 1 the
difference per call is smaller still). A plan's verification with its voltage top-ups (at most
four solves of one mesh) and `epsim run --converge` (a new mesh per level) stay short-compiled.
Only on the CPU (other backends compile as they always do), and options that the user sets in
XLA_FLAGS win.
"""

from __future__ import annotations

import collections
import functools
import os
from typing import Callable

import jax
import numpy as np

SMALL_WORK = 200_000  # cells x pairs: at most this, the level-0 program (see above)
ONE_OFF_CALLS = 8  # calls of one program (same shapes) after which it gets XLA's defaults
SMALL = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
LARGE = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}


def one_off_options(work: int, calls_before: int = 0) -> dict:
    """SMALL or LARGE by `work` (cells x pairs) on the CPU, less the options named in XLA_FLAGS;
    {} (XLA's defaults) on other backends and once the program has had ONE_OFF_CALLS calls."""
    if jax.default_backend() != "cpu" or calls_before >= ONE_OFF_CALLS:
        return {}
    flags = os.environ.get("XLA_FLAGS", "")
    chosen = SMALL if work <= SMALL_WORK else LARGE
    return {k: v for k, v in chosen.items() if f"--{k}" not in flags}


def signature(args) -> tuple:
    """What tells compiled programs apart: the pytree structure, and the shape and dtype of each
    array leaf (the value of any other leaf)."""
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((np.shape(x), str(x.dtype)) if hasattr(x, "dtype") else x
                       for x in leaves)


def one_off_jit(fun: Callable, **jit_kwargs) -> Callable:
    """`jax.jit(fun, **jit_kwargs)` compiled with `one_off_options(work)` for the first
    ONE_OFF_CALLS calls with arguments of the same shapes, with XLA's defaults after: call it
    as `f(*args, work=cells * pairs)`. The options are chosen at the call (the backend is known
    then, not at import)."""
    calls: collections.Counter = collections.Counter()

    @functools.cache
    def jitted(options: tuple):
        return jax.jit(fun, compiler_options=dict(options) or None, **jit_kwargs)

    @functools.wraps(fun)
    def call(*args, work: int):
        key = signature(args)
        options = one_off_options(work, calls[key])
        calls[key] += 1
        return jitted(tuple(sorted(options.items())))(*args)

    return call


__all__ = ["LARGE", "ONE_OFF_CALLS", "SMALL", "SMALL_WORK", "one_off_jit", "one_off_options",
           "signature"]
