"""Typed errors. Each carries the process exit code the command line maps it to.

Exit codes (docs/design.md, section 6): 2 bad input (config, mesh, geometry), found before any
solving; 3 the solver did not converge; 4 a run stopped after solving began, with what it had
computed kept (`IncompleteRunError`); 1 anything else.
"""


class EpsimError(Exception):
    """Base class of every error epsim raises on purpose."""

    exit_code = 1


class InputError(EpsimError):
    """Bad input: a config, a mesh or a geometry that cannot be used."""

    exit_code = 2


class ConfigError(InputError):
    """A config file that does not validate."""


class MeshError(InputError):
    """A mesh that cannot be solved on."""


class DegenerateCellError(MeshError):
    """Cells with (near) zero volume."""


class InvertedCellError(MeshError):
    """Cells with negative orientation when orientation fixing is off."""


class UnusedNodeError(MeshError):
    """Nodes that no cell references."""


class MissingTagError(MeshError):
    """A mesh without region tags, or without a tag that is asked for."""


class MeshReadError(MeshError):
    """A mesh file that cannot be read."""


class MaterialError(InputError):
    """Non-physical material parameters (for example non-positive conductivity)."""


class ElectrodeError(InputError):
    """An electrode that cannot be used (no nodes, outside the tissue, overlapping)."""


class SolverError(EpsimError):
    """A solve that did not converge, or gave non-finite values (raised by the runner after
    checking the solution's status; the solvers themselves return a status, they never raise)."""

    exit_code = 3


class IncompleteRunError(EpsimError):
    """A run that stopped after solving began, for whatever reason; what it had computed is
    written (a planner keeps its best plan so far, audit, report and checkpoint). Never "bad
    input": the input was good enough to start."""

    exit_code = 4
