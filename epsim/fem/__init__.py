"""P1 finite elements: stiffness pattern and assembly, sparse formats, per-cell fields."""

from epsim.fem.assembly import (
    StiffnessPattern,
    apply_dirichlet,
    assemble,
    build_pattern,
    stiffness,
)
from epsim.fem.elements import Elements, elements
from epsim.fem.fields import gradient, safe_norm
from epsim.fem.sparse import HybMatrix, hyb_from_scipy, hyb_to_scipy, matvec

__all__ = [
    "Elements",
    "HybMatrix",
    "StiffnessPattern",
    "apply_dirichlet",
    "assemble",
    "build_pattern",
    "elements",
    "gradient",
    "hyb_from_scipy",
    "hyb_to_scipy",
    "matvec",
    "safe_norm",
    "stiffness",
]
