"""Ctrl-C and SIGTERM stop a command at any stage within a second or two: temporary files are
removed, one line is printed, and the exit code is 130 (SIGINT) or 143 (SIGTERM).

    try:
        with Guard() as guard:
            guard.watch(output_path)     # its temporary files go if the command is stopped
            ...                          # the command
    except KeyboardInterrupt as exc:     # SIGTERM too
        ignore_further_signals()
        guard.cleanup()
        print(message(exc)); return exit_code(exc)

- SIGTERM raises `Terminated`, a KeyboardInterrupt, in the main thread, as SIGINT raises
  KeyboardInterrupt: every `finally` and context manager on the way runs (the atomic writer and
  the publication of a run's outputs remove their temporary files, the meshing child process is
  terminated, a sweep's Dask cluster is closed).
- An interrupt that lands in a garbage-collector callback (JAX has one) is swallowed there
  ("Exception ignored"); the guard's `sys.unraisablehook` delivers it again to the main thread.
- Python runs signal handlers only between bytecodes of the main thread, and a long C call (an
  XLA computation or compilation, a large HDF5 write) would delay them for minutes. A watchdog
  thread wakes on every signal (`signal.set_wakeup_fd`); if the command has not ended (its
  `finally` blocks run, the guard left) within GRACE_SECONDS, the watchdog cleans up itself
  (`Guard.cleanup`: the temporary files of the watched outputs, the empty folders made for
  them), terminates the child processes, prints the line and ends the process (`os._exit`).
- Once a stop is being handled, further SIGINT and SIGTERM are ignored (`ignore_further_signals`):
  a second Ctrl-C, or an interrupt redelivered late, would otherwise cut the cleanup short or end
  the process by the signal (exit -2 instead of 130) after the line was printed.
"""

from __future__ import annotations

import _thread
import multiprocessing
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

EXIT_SIGINT, EXIT_SIGTERM = 130, 143  # 128 + the signal's number, as shells report it
GRACE_SECONDS = 2.0
REDELIVER_SECONDS = 0.01  # an interrupt lost in a garbage-collector callback comes again
STAGE_PREFIX = ".epsim-stage-"  # the publication's staging folders (epsim.io.publish)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that cleanup runs as for Ctrl-C."""


def exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def message(exc: BaseException) -> str:
    """The one line printed when a command is stopped."""
    if isinstance(exc, Terminated):
        return "epsim: terminated (SIGTERM); temporary files removed"
    return "epsim: interrupted (SIGINT); temporary files removed"


def ignore_further_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def _raise_terminated(signum, frame):
    raise Terminated()


def temporary_files(path: Path) -> list[Path]:
    """Temporary files and staging folders beside an output `path`: the atomic writer's
    `.NAME.*.tmp.EXT` and the publication's `.epsim-stage-*`."""
    folder = path.parent
    if not folder.is_dir():
        return []
    found = list(folder.glob(f".{path.stem}.*.tmp{path.suffix}"))
    return found + [p for p in folder.glob(f"{STAGE_PREFIX}*") if p.is_dir()]


class Guard:
    """Signal handling around one command (a context manager; main thread only)."""

    def __init__(self, grace: float = GRACE_SECONDS):
        self.grace = grace
        self.outputs: dict[Path, set[Path]] = {}  # output -> temporaries there before us
        self.folders: list[Path] = []  # folders that did not exist when watched
        self._finished = threading.Event()
        self._saved: dict = {}
        self._pipe: tuple[int, int] | None = None
        self._wakeup = -1
        self._redeliveries: list[threading.Timer] = []

    def watch(self, path) -> None:
        """Remove `path`'s temporary files if the command is stopped (not those that were there
        before), and the folders made for it if they are left empty."""
        path = Path(path).expanduser().absolute()
        self.outputs[path] = set(temporary_files(path))
        self.watch_folder(path.parent)

    def watch_folder(self, folder) -> None:
        """Remove `folder` and the folders above it that do not exist yet, if the command is
        stopped and leaves them empty (empty folders inside them go too)."""
        folder = Path(folder).expanduser().absolute()
        while not folder.exists() and folder != folder.parent and folder not in self.folders:
            self.folders.append(folder)
            folder = folder.parent

    def cleanup(self) -> None:
        """Remove the temporaries that appeared beside watched outputs, and the new folders
        that hold nothing but empty folders."""
        for path, before in self.outputs.items():
            for temporary in set(temporary_files(path)) - before:
                if temporary.is_dir():
                    shutil.rmtree(temporary, ignore_errors=True)
                else:
                    temporary.unlink(missing_ok=True)
        for folder in sorted(self.folders, key=lambda f: len(f.parts), reverse=True):
            _remove_empty_tree(folder)

    def __enter__(self) -> "Guard":
        if threading.current_thread() is not threading.main_thread():
            return self
        self._saved = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated)}
        read, write = os.pipe()
        os.set_blocking(write, False)
        self._pipe = (read, write)
        self._wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._saved_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        threading.Thread(target=self._watchdog, name="epsim-interrupts", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._finished.set()
        for timer in self._redeliveries:  # the command has ended: nothing left to interrupt
            timer.cancel()
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        if self._pipe is not None:
            signal.set_wakeup_fd(self._wakeup)
            sys.unraisablehook = self._saved_hook
            os.close(self._pipe[1])  # ends the watchdog's read
            self._pipe = None

    def _unraisable(self, unraisable) -> None:
        """An interrupt raised where Python swallows exceptions (a garbage-collector callback,
        a `__del__`) would print 'Exception ignored' and be lost: deliver it again, from
        another thread, so that it lands in ordinary code."""
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            self._saved_hook(unraisable)
            return
        signum = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        timer = threading.Timer(REDELIVER_SECONDS, _thread.interrupt_main, (signum,))
        timer.daemon = True  # never holds up the exit
        self._redeliveries.append(timer)
        timer.start()

    def _watchdog(self) -> None:
        read = self._pipe[0]
        try:
            while True:
                data = os.read(read, 64)
                if not data or self._finished.is_set():
                    return
                signums = [b for b in data if b in (signal.SIGINT, signal.SIGTERM)]
                if signums and not self._finished.wait(self.grace):
                    self._stop_now(signums[0])
        finally:
            os.close(read)

    def _stop_now(self, signum: int) -> None:
        """The main thread is stuck in C: clean up from here and end the process."""
        stopped = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.cleanup()
        for child in multiprocessing.active_children():
            child.terminate()
        print(message(stopped), file=sys.stderr, flush=True)
        os._exit(exit_code(stopped))


def _remove_empty_tree(folder: Path) -> None:
    """Remove `folder` if it holds nothing but (nested) empty folders; never a file."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for inner in folder.iterdir():
        if inner.is_dir() and not inner.is_symlink():
            _remove_empty_tree(inner)
    try:
        folder.rmdir()
    except OSError:  # not empty: something worth keeping is in it
        pass


__all__ = [
    "EXIT_SIGINT", "EXIT_SIGTERM", "GRACE_SECONDS", "Guard", "Terminated", "exit_code",
    "ignore_further_signals", "message", "temporary_files",
]
