"""Where a plan's time goes: every planner evaluation and remesh timed, then the usual report.

    python benchmarks/profile_plan.py configs/pelvic_deep_seated_plan.yaml -o DIR --no-render
    python benchmarks/profile_plan.py configs/phantom_liver_image.yaml -o DIR --no-render --jacobi

Runs `epsim optimise` with the given arguments in this process, printing one line per
`Session._run` (plans evaluated, linear or nonlinear, with or without the gradient, cells,
seconds; the first call of each kind includes its compilation) and per `Session.remesh`.
`--amg` or `--jacobi` solves the planner's evaluations with that preconditioner whatever the
config's size (the planner's own choice: `epsim.optimise.setup.planning_preconditioner`; the
experiments of benchmarks/RESULTS.md, "AMG for the planner's larger meshes"). Set EPSIM_CACHE and
JAX_COMPILATION_CACHE_DIR to empty folders for a cold run. This process imports epsim before
the command's JAX set-up, so its plan can differ in the last digits from the `epsim` command's.
"""

import sys
import time

from epsim.cli import main
from epsim.optimise import session, setup
from epsim.solve import Amg, Jacobi

START = time.perf_counter()


def timed(method, describe):
    def wrapper(self, *args):
        t = time.perf_counter()
        out = method(self, *args)
        now = time.perf_counter()
        print(f"[{now - START:7.1f} s] {describe(*args)}: {now - t:.2f} s", flush=True)
        return out
    return wrapper


def run_line(ref, plans, nonlinear, grad):
    return (f"{len(plans)} plan(s), {'nonlinear' if nonlinear else 'linear'}"
            f"{' + gradient' if grad else ''}, {ref.mesh.n_cells} cells")


if __name__ == "__main__":
    argv = sys.argv[1:]
    for flag, preconditioner in (("--amg", Amg()), ("--jacobi", Jacobi())):
        if flag in argv:
            argv.remove(flag)
            setup.planning_preconditioner = lambda cfg, chosen=preconditioner: chosen
    session.Session._run = timed(session.Session._run, run_line)
    session.Session.remesh = timed(session.Session.remesh,
                                   lambda plan, factor: f"remesh at factor {factor:g}")
    sys.exit(main(["optimise", *argv]))
