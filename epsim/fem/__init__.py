"""P1 finite elements: stiffness pattern and assembly, sparse formats, per-cell fields."""

from epsim.fem.assembly import (
    StiffnessPattern,
    apply_dirichlet,
    assemble,
    build_pattern,
    cell_edge_values,
    stiffness,
)
from epsim.fem.fields import gradient, internal_force, safe_norm, safe_unit
from epsim.fem.sparse import HybMatrix, hyb_from_scipy, hyb_to_scipy, matvec

__all__ = [
    "HybMatrix",
    "StiffnessPattern",
    "apply_dirichlet",
    "assemble",
    "build_pattern",
    "cell_edge_values",
    "gradient",
    "hyb_from_scipy",
    "hyb_to_scipy",
    "internal_force",
    "matvec",
    "safe_norm",
    "safe_unit",
    "stiffness",
]
