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

A process that calls such a program more than ONE_OFF_CALLS times (a script that loops over
configs with `run_config`) is evidently not running it once: from then on it gets XLA's
defaults (one more compilation per shape, then the fast solve). Only on the CPU (other
backends compile as they always do), and options that the user sets in XLA_FLAGS win.
"""

from __future__ import annotations

import functools
import itertools
import os
from typing import Callable

import jax

SMALL_WORK = 200_000  # cells x pairs: at most this, the level-0 program (see above)
ONE_OFF_CALLS = 3  # calls in a process after which a "one-off" program gets XLA's defaults
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


def one_off_jit(fun: Callable, **jit_kwargs) -> Callable:
    """`jax.jit(fun, **jit_kwargs)` compiled with `one_off_options(work)` for its first
    ONE_OFF_CALLS calls in this process, with XLA's defaults after: call it as
    `f(*args, work=cells * pairs)`. The options are chosen at the call (the backend is known
    then, not at import)."""
    calls = itertools.count()

    @functools.cache
    def jitted(options: tuple):
        return jax.jit(fun, compiler_options=dict(options) or None, **jit_kwargs)

    @functools.wraps(fun)
    def call(*args, work: int):
        options = one_off_options(work, next(calls))
        return jitted(tuple(sorted(options.items())))(*args)

    return call


__all__ = ["LARGE", "ONE_OFF_CALLS", "SMALL", "SMALL_WORK", "one_off_jit", "one_off_options"]
