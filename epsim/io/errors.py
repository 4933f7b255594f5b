"""Errors raised when writing output files."""

from epsim.errors import InputError


class OutputExistsError(InputError):
    """An output file exists already and overwriting was not asked for (`--overwrite`)."""
