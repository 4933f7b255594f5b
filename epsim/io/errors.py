"""Errors raised when checking or writing output files."""

from epsim.errors import EpsimError, InputError

OVERWRITE_HINT = "pass overwrite=True to replace it"
COMMAND_LINE_HINT = "pass --overwrite to replace it"


class OutputExistsError(InputError):
    """An output file exists already and overwriting was not asked for (`--overwrite`), or it
    cannot be replaced (not epsim's own, a folder)."""

    def command_line(self) -> str:
        """The message as the command line says it: `--overwrite`, not `overwrite=True`."""
        return str(self).replace(OVERWRITE_HINT, COMMAND_LINE_HINT)


class OutputFolderError(InputError):
    """An output folder that cannot be created or written to (found before any work)."""


class OutputWriteError(EpsimError):
    """Writing an output failed (a full disk, an I/O error): nothing of it was published and
    its temporary files are removed. Exit code 1: the input was fine."""
