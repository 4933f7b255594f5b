"""Run a function in a child process that the caller can stop at any moment.

    result = run_isolated(mesh_arrays, domain, inclusions, holes, sizes, ...)

gmsh ignores Ctrl-C while it meshes, and a runaway scene keeps it busy in C++ for many
minutes. `epsim.mesh.gmsh.build_mesh` therefore meshes in a child process: the parent waits on
a pipe, which an interrupt breaks at once (KeyboardInterrupt, or the CLI's SIGTERM exception,
`epsim.interrupts`), and the child is terminated on the way out. The child returns plain numpy
arrays, so the mesh is the one an in-process build makes.

Children come from a fork server that has imported gmsh and epsim's mesh layer once (cheap
forks, no JAX runtime in them); where there is none, from `spawn`. The child ignores SIGINT
(the parent decides, and no traceback comes from the child) and exits as soon as its parent is
gone, even if the parent was killed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import types
from typing import Any, Callable

from epsim.errors import MeshError

PRELOAD = ["epsim.mesh.gmsh", "gmsh"]  # imported once by the fork server
STOP_SECONDS = 2.0  # how long a terminated child may take before it is killed


def can_isolate() -> bool:
    """Whether this process may start children (daemonic ones, e.g. Dask workers, may not)."""
    return not multiprocessing.current_process().daemon


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)  # no effect once the server runs
        return context
    return multiprocessing.get_context("spawn")


def run_isolated(function: Callable, *args) -> Any:
    """`function(*args)` in a child process; its result or its exception (as MeshError when the
    exception cannot travel between processes).

    Raises:
        MeshError: the child died without an answer (killed, out of memory).
        KeyboardInterrupt: the caller was interrupted; the child is stopped first.
    """
    context = _context()
    here, there = context.Pipe()
    child = context.Process(target=_child, args=(there, function, args), daemon=True,
                            name="epsim-isolated")
    with _main_hidden():
        child.start()
    there.close()
    try:
        try:
            ok, value = here.recv()
        except EOFError:
            child.join(STOP_SECONDS)
            raise MeshError(
                f"the meshing process ended without a result (exit code {child.exitcode}); "
                "was it out of memory?"
            ) from None
    finally:
        here.close()
        _stop(child)
    if ok:
        return value
    raise value


@contextlib.contextmanager
def _main_hidden():
    """Start children without the caller's main module: multiprocessing would run the main
    script again in every child (a script without `if __name__ == "__main__":` would then mesh
    recursively), and the child needs nothing from it (its function lives in epsim)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _stop(child) -> None:
    """Terminate the child if it still runs, kill it if it does not stop, and reap it."""
    if child.is_alive():
        child.terminate()
        child.join(STOP_SECONDS)
        if child.is_alive():
            child.kill()
    child.join()


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a MeshError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # e.g. a custom __init__ that pickling cannot call again
        return MeshError(f"{type(exc).__name__}: {exc}")


def _watch_parent(connection) -> None:
    """Exit when the parent's end of the pipe closes (the parent is gone, or gave up on us)."""
    try:
        connection.poll(None)
    except OSError:
        pass
    os._exit(0)


def _child(connection, function: Callable, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(connection,), daemon=True).start()
    try:
        answer = (True, function(*args))
    except BaseException as exc:  # everything goes back to the parent
        answer = (False, _portable(exc))
    try:
        connection.send(answer)
    except OSError:
        pass


__all__ = ["PRELOAD", "can_isolate", "run_isolated"]
