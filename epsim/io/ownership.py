"""Which files epsim wrote: `--overwrite` replaces only those, never a user's own file.

A file counts as epsim's when
- it is listed in the manifest of its folder, `.epsim-outputs`, with the size and modification
  time it had when epsim published it (every output goes through `epsim.io.atomic`, which
  appends the line); a file changed since then counts as foreign; or
- it is an HDF5 file whose root attributes say epsim wrote it (`format` "epsim-results" or an
  `epsim_version` attribute: results files, sweep tables), so that results files stay
  recognisable when copied elsewhere.

The manifest is a small text file: a header line, then one JSON array per published file,
`[name, size, mtime_ns]`, appended (O_APPEND: no read-modify-write, concurrent writers do not
lose each other's lines) and compacted to the files still present when it grows.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from epsim.io.errors import OutputExistsError

MANIFEST = ".epsim-outputs"
HEADER = "# epsim outputs: files epsim wrote in this folder ([name, size, mtime_ns] per line)\n"
MAX_MANIFEST_BYTES = 4 << 20  # read no further (a hostile or runaway manifest)
COMPACT_BYTES = 256 << 10
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class ForeignFileError(OutputExistsError):
    """An output name taken by a file epsim did not write (or that was changed since)."""


def manifest_of(folder: Path) -> Path:
    return Path(folder) / MANIFEST


def _entries(folder: Path) -> dict[str, tuple[int, int]] | None:
    """name -> (size, mtime_ns) from the folder's manifest; None when the file there is not an
    epsim manifest (never touched then)."""
    path = manifest_of(folder)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    if not data.startswith(HEADER.encode()):
        return None
    entries = {}
    for line in data.decode("utf-8", "replace").splitlines()[1:]:
        with contextlib.suppress(ValueError, TypeError):
            name, size, mtime = json.loads(line)
            entries[str(name)] = (int(size), int(mtime))
    return entries


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def listed(path: Path) -> bool:
    """`path` is in its folder's manifest with its present size and modification time."""
    path = Path(path)
    entries = _entries(path.parent) or {}
    return path.name in entries and entries[path.name] == _signature(path)


def hdf5_by_epsim(path: Path) -> bool:
    """An HDF5 file whose root attributes say epsim wrote it."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != HDF5_SIGNATURE:
                return False
        import h5py

        with h5py.File(path, "r") as h5:
            fmt = h5.attrs.get("format", b"")
            fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
            return fmt.startswith("epsim") or "epsim_version" in h5.attrs
    except Exception:  # noqa: BLE001 - unreadable or odd: not recognisably epsim's
        return False


def written_by_epsim(path: Path) -> bool:
    """Whether `path` is a file epsim wrote (see the module doc)."""
    path = Path(path)
    return path.is_file() and (listed(path) or hdf5_by_epsim(path))


def check_replaceable(path: Path) -> None:
    """Raise ForeignFileError unless the existing file `path` is epsim's.

    Raises:
        ForeignFileError: names the file and says what to do.
    """
    if not written_by_epsim(path):
        raise ForeignFileError(
            f"{path} exists and was not written by epsim (or was changed since); epsim "
            "replaces only its own outputs, even with --overwrite: move the file away or "
            "choose another output name")


def record(path: Path) -> None:
    """Add the published file `path` to its folder's manifest (best effort: a manifest that
    cannot be written only means the file will count as foreign later)."""
    path = Path(path)
    signature = _signature(path)
    entries = _entries(path.parent)
    if signature is None or entries is None or path.name == MANIFEST:
        return
    line = json.dumps([path.name, *signature]) + "\n"
    manifest = manifest_of(path.parent)
    with contextlib.suppress(OSError):
        if manifest.exists() and manifest.stat().st_size > COMPACT_BYTES:
            _compact(path.parent, entries)
        fd = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size == 0:
                os.write(fd, HEADER.encode())
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def _compact(folder: Path, entries: dict[str, tuple[int, int]]) -> None:
    """Rewrite the manifest with the entries whose files are still as epsim left them."""
    kept = [json.dumps([name, *sig]) for name, sig in entries.items()
            if _signature(folder / name) == sig]
    tmp = folder / f"{MANIFEST}.{os.getpid()}.tmp"
    try:
        tmp.write_text(HEADER + "".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, manifest_of(folder))
    finally:
        tmp.unlink(missing_ok=True)


__all__ = [
    "ForeignFileError", "MANIFEST", "check_replaceable", "hdf5_by_epsim", "listed", "record",
    "written_by_epsim",
]
