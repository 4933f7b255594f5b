"""Several outputs of one run published together: all of them or none.

    publication = Publication([h5, vtu, png], overwrite=False)   # checked before any work
    ...                                                          # solve
    with publication:
        write_results(publication.staged(h5), results)           # written in a hidden folder
        write_paraview(publication.staged(vtu), results)
    # here every staged file has been renamed to its target, or none has

Every file is first written into a hidden staging folder beside its target (`.epsim-stage-*`,
the same file system, so publishing is a rename); when every writer has finished, the files are
renamed to their targets one after the other. If a write fails (a full disk) nothing is
published; if a rename fails, the files this run already published are removed again. Either
way the staging folders and any folder created for the outputs are removed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from epsim.io.atomic import (
    check_writable,
    fsync_dir,
    make_folders,
    publish,
    remove_empty,
    write_error,
)
from epsim.io.errors import OutputExistsError, OutputWriteError

STAGE_PREFIX = ".epsim-stage-"


class Publication:
    """The outputs of one run, checked now (`check_writable`), published together later."""

    def __init__(self, paths: Iterable, *, overwrite: bool = False):
        self.targets = [check_writable(p, overwrite=overwrite) for p in paths]
        if len(set(self.targets)) != len(self.targets):
            raise OutputExistsError("two outputs of this run have the same name: "
                                    + ", ".join(str(p) for p in self.targets))
        self.overwrite = overwrite
        self.stages: dict[Path, Path] = {}
        self.created: list[Path] = []
        self.published: list[Path] = []

    def staged(self, path) -> Path:
        """Where to write the output `path` (one of the targets) until it is published."""
        target = Path(path).expanduser().absolute()
        if target not in self.targets:
            raise ValueError(f"{target} is not an output of this publication")
        folder = target.parent
        if folder not in self.stages:
            self.created += make_folders(folder)
            self.stages[folder] = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=folder))
        return self.stages[folder] / target.name

    def __enter__(self) -> "Publication":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self._publish_all()
            elif isinstance(exc, OSError):
                raise self._write_error(exc) from None
            elif isinstance(exc, OutputWriteError):
                raise OutputWriteError(self._unstaged(str(exc))) from None
        finally:
            for stage in self.stages.values():
                shutil.rmtree(stage, ignore_errors=True)
            if not self.published:
                remove_empty(self.created)

    def _publish_all(self) -> None:
        pending = [(self.stages[t.parent] / t.name, t) for t in self.targets
                   if t.parent in self.stages and (self.stages[t.parent] / t.name).exists()]
        try:
            for staged, target in pending:
                publish(staged, target, self.overwrite)
                self.published.append(target)
        except (OSError, OutputExistsError) as exc:
            for target in self.published:  # all or none
                with contextlib.suppress(OSError):
                    target.unlink()
            self.published = []
            if isinstance(exc, OSError):
                raise self._write_error(exc) from None
            raise
        for folder in self.stages:
            fsync_dir(folder)

    def _write_error(self, exc: OSError) -> OutputWriteError:
        name = Path(getattr(exc, "filename", None) or self.targets[0])
        target = next((t for t in self.targets if t.name == name.name), self.targets[0])
        return write_error(target, exc)

    def _unstaged(self, message: str) -> str:
        """A message with staged paths replaced by their targets."""
        for folder, stage in self.stages.items():
            message = message.replace(str(stage), str(folder))
        return message


__all__ = ["Publication", "STAGE_PREFIX"]
