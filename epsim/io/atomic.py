"""Atomic file output: write to a temporary file beside the target, fsync, then rename.

A reader never sees a half-written file, and a failed write leaves nothing behind (no partial
output, no temporary file). Without `overwrite`, an existing file is refused before any work and
again at the final rename (a hard link, which fails if the name was taken meanwhile).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from epsim.io.errors import OutputExistsError


def check_writable(path, *, overwrite: bool) -> Path:
    """The output path as an absolute `Path`; raises `OutputExistsError` if it exists and
    `overwrite` is false."""
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} exists already; refusing to overwrite it (pass overwrite=True, or "
            "--overwrite on the command line)"
        )
    return path


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


def _fsync_dir(path: Path) -> None:
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


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails atomically if `path` appeared while we were writing
    except FileExistsError:
        raise OutputExistsError(
            f"{path} was created by someone else while it was being written; refusing to "
            "overwrite it (pass overwrite=True, or --overwrite on the command line)"
        ) from None
    except OSError:  # no hard links on this file system: check, then rename
        if path.exists():
            raise OutputExistsError(f"{path} exists already; refusing to overwrite it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's directory (same suffix, so writers that choose a
    format by extension still work); on normal exit it is fsynced and renamed to `path`, on an
    exception it is removed. Parent directories are created.

    Args:
        path: the final file name.
        overwrite: replace an existing file.
    Raises:
        OutputExistsError: `path` exists and `overwrite` is false.
    """
    path = check_writable(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp
        _fsync_file(tmp)
        _publish(tmp, path, overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)
