"""Run a sweep plan: chunks on Dask workers (or in this process), one file per finished chunk.

    report = run_sweep(plan, "out/", workers=2)          # embedded LocalCluster, 2 processes
    report = run_sweep(plan, "out/", scheduler="tcp://host:8786")   # an existing cluster
    report = run_sweep(plan, "out/", workers=0)          # in this process, no Dask

One Dask task per chunk, plus one task per distinct mesh that the chunks of that mesh depend on
(so each mesh is built once and shipped to the workers that need it). The client writes every
finished chunk atomically as it arrives; a killed worker's task is retried by Dask, a killed
sweep loses only the chunks not yet written, and a rerun evaluates only the missing points.
Workers run JAX at the client's precision (float64 when it is on): an embedded cluster's workers
get JAX_ENABLE_X64 in their environment, and a worker of an existing cluster that runs at another
precision fails its tasks with a message saying how to start it. The scheduler address is never
written to any file.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from epsim.config.schema import ResolvedConfig
from epsim.errors import EpsimError, InputError
from epsim.io.atomic import (
    atomic_output,
    check_folder_writable,
    check_writable,
    make_folders,
    remove_empty,
)
from epsim.io.ownership import written_by_epsim
from epsim.mesh.tetmesh import TetMesh
from epsim.translate import mesh_of
from epsim.sweep.batch import evaluate_chunk
from epsim.sweep.plan import Chunk, Plan, make_chunks, references
from epsim.sweep.store import (
    CHUNK_DIR,
    TABLE,
    assemble,
    failed_result,
    finished_points,
    write_chunk,
    write_table,
)
from epsim.sweep.export import CSV_NAME, write_csv
from epsim.sweep.plot import plot_coverage
from epsim.sweep.summary import format_summary


class SweepError(EpsimError):
    """Chunks that could not be evaluated (not bad input): the finished ones are kept."""


@dataclass
class SweepReport:
    """What a run did.

    Attributes:
        out_dir: the sweep folder.
        n_points: points in the plan.
        n_reused: points found in earlier chunk files (not evaluated again).
        chunks_run: chunks evaluated by this run.
        failed_chunks: (chunk key, error) of chunks that raised; their points are missing.
        table: the table file (sweep.h5), when every point is done.
        csv: the same table as CSV (sweep.csv), when every point is done.
        plot: coverage.png, when written.
        summary: the text summary, when every point is done.
        seconds: wall time of the run.
    """

    out_dir: Path
    n_points: int
    n_reused: int
    chunks_run: list[str] = field(default_factory=list)
    failed_chunks: list[tuple[str, str]] = field(default_factory=list)
    table: Path | None = None
    csv: Path | None = None
    plot: Path | None = None
    summary: str = ""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.table is not None


def mesh_for(cfg: ResolvedConfig, use_cache: bool = True) -> TetMesh:
    """The mesh of a point's scene (the gmsh mesh cache) or its imported mesh file."""
    return mesh_of(cfg, use_cache=use_cache)


def run_chunk(
    mesh: TetMesh, configs: Sequence[ResolvedConfig], reference: ResolvedConfig, mesh_id: str,
    x64: bool, pad: bool = True,
) -> dict:
    """The Dask task of one chunk (any process): check the precision, evaluate (`pad`: the
    sweep has several meshes, see `evaluate_chunk`)."""
    import jax

    if bool(jax.config.jax_enable_x64) != x64:
        want, have = ("float64", "float32") if x64 else ("float32", "float64")
        raise SweepError(
            f"this worker runs JAX in {have} but the sweep needs {want}: start the workers "
            f"with JAX_ENABLE_X64={int(x64)} in their environment"
        )
    return evaluate_chunk(mesh, configs, reference=reference, mesh_id=mesh_id, pad=pad)


def _x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


# ---------------------------------------------------------------- executors
# Each yields (chunk, result dict or exception) as chunks finish.


def _in_process(chunks: Sequence[Chunk], use_cache: bool,
                pad: bool) -> Iterator[tuple[Chunk, object]]:
    meshes: dict[str, TetMesh | Exception] = {}
    x64 = _x64()
    for chunk in chunks:
        if chunk.mesh_key not in meshes:
            try:
                meshes[chunk.mesh_key] = mesh_for(chunk.points[0].config, use_cache)
            except InputError as exc:
                meshes[chunk.mesh_key] = exc
        mesh = meshes[chunk.mesh_key]
        if isinstance(mesh, Exception):
            yield chunk, mesh
            continue
        configs = [p.config for p in chunk.points]
        try:
            result = run_chunk(mesh, configs, chunk.reference.config, chunk.mesh_key, x64, pad)
        except (EpsimError, ArithmeticError, ValueError, RuntimeError) as exc:
            result = exc  # reported with the chunk; the other chunks go on
        yield chunk, result


def _worker_env(x64: bool) -> dict[str, str]:
    env = {"JAX_ENABLE_X64": "1" if x64 else "0", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    for name in ("EPSIM_CACHE", "XLA_FLAGS", "JAX_PLATFORMS", "JAX_COMPILATION_CACHE_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _dask(
    chunks: Sequence[Chunk], use_cache: bool, scheduler: str | None, workers: int, pad: bool
) -> Iterator[tuple[Chunk, object]]:
    from dask.distributed import Client, LocalCluster, as_completed

    x64 = _x64()
    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler, set_as_default=False))
        else:
            before = set(multiprocessing.active_children())
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR, env=_worker_env(x64),
                )
            )
            stack.push(lambda kind, *_: kind and _stop_workers(before))  # before it closes
            client = stack.enter_context(Client(cluster, set_as_default=False))
        meshes = {}
        chunk_of = {}
        futures = []
        for chunk in chunks:
            if chunk.mesh_key not in meshes:
                meshes[chunk.mesh_key] = client.submit(
                    mesh_for, chunk.points[0].config, use_cache, key=f"epsim-mesh-{chunk.mesh_key}"
                )
            future = client.submit(
                run_chunk, meshes[chunk.mesh_key], [p.config for p in chunk.points],
                chunk.reference.config, chunk.mesh_key, x64, pad, key=f"epsim-chunk-{chunk.key}",
            )
            chunk_of[future.key] = chunk
            futures.append(future)
        for future in as_completed(futures, loop=client.loop):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - reported per chunk, the others go on
                result = exc
            yield chunk_of[future.key], result
            future.release()


def _stop_workers(before: set) -> None:
    """On the way out after Ctrl-C, SIGTERM or an error: terminate the embedded cluster's worker
    processes (the children started since `before`) before it closes. A graceful close waits
    for their running tasks (about 4 s here); terminated first, the cluster closes in under a
    second, without tracebacks."""
    for process in set(multiprocessing.active_children()) - before:
        process.terminate()


# ---------------------------------------------------------------- progress


class _Progress:
    """A rich progress bar with time left on a terminal; nothing in a pipe. It advances by a
    chunk's points when the chunk is written: per point with one point per chunk (the default on
    a CPU); the points of one vmap batch finish together."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.bar = None
        if not enabled or total == 0:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            console=Console(file=sys.stderr), transient=False,
        )
        self.task = self.bar.add_task("sweep", total=total, completed=done)

    def __enter__(self):
        if self.bar:
            self.bar.start()
        return self

    def advance(self, n: int) -> None:
        if self.bar:
            self.bar.advance(self.task, n)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()


# ---------------------------------------------------------------- the run


def run_sweep(
    plan: Plan,
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    workers: int = 1,
    use_cache: bool = True,
    progress: bool = False,
    plot: bool = True,
    on_chunk: Callable[[Chunk, Path], None] | None = None,
    overwrite: bool = False,
) -> SweepReport:
    """Evaluate every point of `plan` not yet in `out_dir`, then write the table.

    Args:
        plan: from `load_plan` / `make_plan` (every point already validated).
        out_dir: the sweep folder (created); holds chunks/, sweep.h5, sweep.csv, summary.txt,
            coverage.png.
        scheduler: address of an existing Dask scheduler (never written anywhere).
        workers: processes of the embedded LocalCluster; 0 evaluates in this process.
        use_cache: reuse meshes from the mesh cache (epsim.meshcache).
        progress: show a progress bar on stderr.
        plot: write coverage.png.
        on_chunk: called after each chunk file is written.
        overwrite: start afresh: the folder's earlier chunk files are removed and every point
            is evaluated (without it they are reused). Files epsim did not write are never
            replaced (`prepare_folder`).
    Returns:
        SweepReport; `complete` is False when some chunks raised (run again to retry them).
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if scheduler:
        check_scheduler(scheduler)
    created = prepare_folder(out_dir, overwrite=overwrite)
    try:
        return _run(plan, out_dir, scheduler, workers, use_cache, progress, plot, on_chunk,
                    start)
    finally:
        remove_empty([*created, out_dir / CHUNK_DIR])  # nothing written: no empty folders left


def prepare_folder(out_dir: Path, *, overwrite: bool) -> list[Path]:
    """Check the sweep folder before any work and create it; returns the folders created.

    A rerun rebuilds epsim's own table, CSV, summary and plot from the chunk files (a sweep
    resumes); a file of those names that epsim did not write is refused, with or without
    `overwrite`. With `overwrite` the folder's earlier chunk files are removed.

    Raises:
        InputError: not a folder, a foreign file in the way, a folder that cannot be written.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} exists and is not a folder")
    for name in SWEEP_FILES:
        check_writable(out_dir / name, overwrite=True)
    check_folder_writable(out_dir)
    if overwrite:
        for path in (out_dir / CHUNK_DIR).glob("chunk_*.npz"):
            if written_by_epsim(path):
                path.unlink()
    return make_folders(out_dir)


SWEEP_FILES = (TABLE, CSV_NAME, "summary.txt", "coverage.png")


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Reach a Dask scheduler's TCP address before any work (a Client that cannot connect
    waits for its timeout and then prints a traceback while it is collected).

    Raises:
        InputError: not a scheduler address.
        SweepError: nothing answers there.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location) if protocol == "tcp" else (None, None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"--scheduler {address!r}: not a scheduler address ({exc})") from None
    if host is None:
        return  # another protocol: the Client finds out
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SweepError(f"cannot reach the Dask scheduler at {address} ({reason})") from None


def _run(plan, out_dir, scheduler, workers, use_cache, progress, plot, on_chunk, start):
    """run_sweep's work in a checked folder."""
    done = finished_points(out_dir)
    todo = [p for p in plan.points if p.key not in done]
    chunks = make_chunks(todo, plan.chunk_size, references(plan.points))
    report = SweepReport(out_dir, len(plan.points), len(plan.points) - len(todo))

    # padded only when the plan has several meshes (decided on the whole plan, so a rerun's
    # points are solved as the first run's were)
    pad = len({p.mesh_key for p in plan.points}) > 1
    if scheduler is None and workers <= 0:
        results = _in_process(chunks, use_cache, pad)
    else:
        results = (_dask(chunks, use_cache, scheduler, max(workers, 1), pad) if chunks
                   else iter(()))
    with _Progress(len(plan.points), report.n_reused, progress) as bar:
        for chunk, result in results:
            keys = [p.key for p in chunk.points]
            if isinstance(result, InputError):
                result = failed_result(len(keys), str(result))
            if isinstance(result, BaseException):
                report.failed_chunks.append((chunk.key, f"{type(result).__name__}: {result}"))
            else:
                path = write_chunk(out_dir, chunk.key, keys, result)
                report.chunks_run.append(chunk.key)
                if on_chunk:
                    on_chunk(chunk, path)
            bar.advance(len(keys))

    if not report.failed_chunks:
        table = assemble(plan, out_dir)
        report.table = write_table(out_dir / TABLE, table, plan)
        report.csv = write_csv(out_dir / CSV_NAME, table)
        report.summary = format_summary(table)
        _write_text(out_dir / "summary.txt", report.summary + "\n")
        if plot:
            report.plot = plot_coverage(table, out_dir / "coverage.png")
    report.seconds = time.perf_counter() - start
    return report


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


__all__ = ["SweepError", "SweepReport", "mesh_for", "run_chunk", "run_sweep"]
