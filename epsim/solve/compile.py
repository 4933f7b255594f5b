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

Only on the CPU (other backends compile as they always do), and options that the user sets in
XLA_FLAGS win.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import jax

SMALL_WORK = 200_000  # cells x pairs: at most this, the level-0 program (see above)
SMALL = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
LARGE = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}


def one_off_options(work: int) -> dict:
    """SMALL or LARGE by `work` (cells x pairs) on the CPU, less the options named in XLA_FLAGS;
    {} on other backends."""
    if jax.default_backend() != "cpu":
        return {}
    flags = os.environ.get("XLA_FLAGS", "")
    chosen = SMALL if work <= SMALL_WORK else LARGE
    return {k: v for k, v in chosen.items() if f"--{k}" not in flags}


def one_off_jit(fun: Callable, **jit_kwargs) -> Callable:
    """`jax.jit(fun, **jit_kwargs)` compiled with `one_off_options(work)`: call it as
    `f(*args, work=cells * pairs)`. The options are chosen at the call (the backend is known
    then, not at import)."""

    @functools.cache
    def jitted(options: tuple):
        return jax.jit(fun, compiler_options=dict(options) or None, **jit_kwargs)

    @functools.wraps(fun)
    def call(*args, work: int):
        return jitted(tuple(sorted(one_off_options(work).items())))(*args)

    return call


__all__ = ["LARGE", "SMALL", "SMALL_WORK", "one_off_jit", "one_off_options"]
