"""Parameter checks shared by the tissue models: values must be finite and obey a rule.

Checks run when a model is built from concrete numbers; traced values (inside jit, grad or vmap)
are skipped, so the same models serve validation and differentiation.
"""

from __future__ import annotations

import jax
import numpy as np

from epsim.errors import MaterialError


def concrete(value) -> np.ndarray | None:
    """The value as numpy, or None while it is traced (checks happen when values are concrete)."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value, dtype=np.float64)


def check_parameters(model: str, rule: str, ok, **values) -> None:
    """Raise MaterialError unless ok(array) holds (and values are finite) for every concrete one.

    model: the model's name and rule: what `ok` demands, both for the message."""
    for name, value in values.items():
        a = concrete(value)
        if a is None:
            continue
        if not (np.all(np.isfinite(a)) and np.all(ok(a))):
            raise MaterialError(f"{model}: {name} must be {rule} (got {a.tolist()})")


__all__ = ["check_parameters", "concrete"]
