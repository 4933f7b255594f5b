"""Atomic file output: write to a temporary file beside the target, fsync, then rename.

A reader never sees a half-written file, and a failed write leaves nothing behind (no partial
output, no temporary file, no folder created for it). Without `overwrite`, an existing file is
refused before any work and again at the final rename (a hard link, which fails if the name was
taken meanwhile); with it, only a file epsim wrote is replaced (`epsim.io.ownership`). Every
published file is recorded in its folder's manifest. A full disk or another I/O error becomes
`OutputWriteError` (exit code 1) naming the output, never the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from epsim.io.errors import (
    OVERWRITE_HINT,
    OutputExistsError,
    OutputFolderError,
    OutputWriteError,
)
from epsim.io.ownership import check_replaceable, record


def check_writable(path, *, overwrite: bool) -> Path:
    """The output path as an absolute `Path`, checked before any work: not a folder; if it
    exists, `overwrite` is asked for and the file is epsim's own; its folder is writable (or
    can be created).

    Raises:
        OutputExistsError: it exists (without `overwrite`), is a folder, or is not epsim's.
        OutputFolderError: the folder cannot be written to.
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory; give a file name")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExistsError(f"{path} exists already; {OVERWRITE_HINT}")
        check_replaceable(path)
    check_folder_writable(path.parent)
    return path


def check_folder_writable(folder) -> None:
    """Raise OutputFolderError unless files can be created in `folder` (or in the nearest
    existing folder above it, where it would be created). Tried by creating and removing a
    file, which also catches read-only file systems."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputFolderError(f"{folder}: {existing} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".epsim-probe-", dir=existing)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputFolderError(f"{folder}: cannot write there ({exc.strerror or exc})") from None


def make_folders(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns the ones created, deepest last."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created = []
    for f in reversed(missing):
        f.mkdir(exist_ok=True)
        created.append(f)
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed write created, deepest first, where they are still empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished temporary `tmp` to `path`; without `overwrite` never replace a file
    that appeared meanwhile. Records `path` in its folder's manifest."""
    if overwrite:
        if path.exists():
            check_replaceable(path)  # again: it may have been replaced meanwhile
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # fails atomically if `path` appeared while we were writing
        except FileExistsError:
            raise OutputExistsError(
                f"{path} was created by someone else while it was being written; "
                f"{OVERWRITE_HINT}") from None
        except OSError:  # no hard links on this file system: check, then rename
            if path.exists():
                raise OutputExistsError(f"{path} exists already; {OVERWRITE_HINT}") from None
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
    record(path)


def write_error(path: Path, exc: OSError) -> OutputWriteError:
    """The one-line error of a failed write of `path` (never the temporary file's name)."""
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    return OutputWriteError(f"{path}: cannot write ({reason}); nothing was written")


def temporary_beside(path: Path) -> Path:
    """A new empty temporary file in `path`'s folder, same suffix (writers that choose a
    format by extension still work), the usual permissions."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    return tmp


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's directory (same suffix); on normal exit it is
    fsynced and renamed to `path`, on an exception it is removed, with any folder created for
    it. Parent directories are created.

    Args:
        path: the final file name.
        overwrite: replace an existing file that epsim wrote.
    Raises:
        OutputExistsError: `path` exists and `overwrite` is false, or it is not epsim's.
        OutputFolderError: the folder cannot be written to.
        OutputWriteError: the write failed (disk full, I/O error); nothing is left behind.
    """
    path = check_writable(path, overwrite=overwrite)
    created: list[Path] = []
    tmp = None
    try:
        created = make_folders(path.parent)
        tmp = temporary_beside(path)
        yield tmp
        _fsync_file(tmp)
        publish(tmp, path, overwrite)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if not path.exists():
            remove_empty(created)
    fsync_dir(path.parent)
