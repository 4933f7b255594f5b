"""Linear and nonlinear solvers: PCG, AMG and Jacobi preconditioners, Newton and Picard."""

from epsim.solve.amg import AmgPreconditioner, JacobiPreconditioner, build_amg, build_jacobi
from epsim.solve.nonlinear import Solution, solve_potential
from epsim.solve.pcg import PcgResult, pcg
from epsim.solve.settings import Amg, Jacobi, Newton, Picard

__all__ = [
    "Amg",
    "AmgPreconditioner",
    "Jacobi",
    "JacobiPreconditioner",
    "Newton",
    "PcgResult",
    "Picard",
    "Solution",
    "build_amg",
    "build_jacobi",
    "pcg",
    "solve_potential",
]
