"""Atomic file writes for the imaging package (epsim.io.atomic is a higher layer): the file is
written beside its destination under a temporary name and moved over it with `os.replace`, so a
reader never sees half a file and a failed write leaves nothing behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call `write(temporary)` and move the temporary file to `path`; return `path`.

    Args:
        suffix: ending the temporary name must keep (a writer may choose its format by it,
            as nibabel does with .nii.gz).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial{suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
