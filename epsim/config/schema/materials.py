"""The `materials:` section: a tissue's parameters (`MATERIAL_PARAMETERS`), their provenance,
and the partial overrides a config may give (`MaterialOverride`).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from annotated_types import Ge, Gt
from pydantic import Field, create_model, model_validator

from epsim.config.schema.base import Name, Real, Section, Sign, problem, quantity


# parameter -> (quantity kind or None for dimensionless, provenance group, sign, meaning)
MATERIAL_PARAMETERS: dict[str, tuple[Optional[str], str, Sign, str]] = {
    "sigma0": ("conductivity", "electrical", "positive", "conductivity of intact tissue"),
    "sigma1": ("conductivity", "electrical", "positive", "conductivity fully permeabilised"),
    "e_rev": ("field", "electrical", "positive", "reversible electroporation threshold"),
    "e_irr": ("field", "electrical", "positive", "irreversible electroporation threshold"),
    "k": ("thermal_conductivity", "thermal", "positive", "thermal conductivity"),
    "rho": ("density", "thermal", "positive", "density"),
    "c": ("specific_heat", "thermal", "positive", "specific heat capacity"),
    "alpha": ("temperature_coefficient", "thermal", "nonnegative", "sigma temperature coefficient"),
    "w_b": ("perfusion", "thermal", "nonnegative", "blood perfusion rate (Pennes)"),
    "q_m": ("power_density", "thermal", "nonnegative", "metabolic heat"),
    "ec0": ("field", "survival", "positive", "Peleg-Fermi critical field Ec0"),
    "a0": ("field", "survival", "positive", "Peleg-Fermi width A0"),
    "k1": (None, "survival", "nonnegative", "Peleg-Fermi pulse-number decay of Ec"),
    "k2": (None, "survival", "nonnegative", "Peleg-Fermi pulse-number decay of A"),
}
PROVENANCE_GROUPS = ("electrical", "thermal", "survival")


class Provenance(Section):
    """Where each group of a material's parameters comes from."""

    electrical: str
    thermal: str
    survival: str


class ProvenanceOverride(Section):
    electrical: Optional[str] = None
    thermal: Optional[str] = None
    survival: Optional[str] = None


def _parameter_type(name: str) -> Any:
    kind, _, sign, _ = MATERIAL_PARAMETERS[name]
    if kind is not None:
        return quantity(kind, sign)
    return Annotated[Real, Gt(0) if sign == "positive" else Ge(0)]


class _MaterialChecks(Section):
    @model_validator(mode="after")
    def _ordered(self) -> Any:
        sigma0, sigma1 = getattr(self, "sigma0", None), getattr(self, "sigma1", None)
        e_rev, e_irr = getattr(self, "e_rev", None), getattr(self, "e_irr", None)
        if sigma0 is not None and sigma1 is not None and sigma1 < sigma0:
            raise problem(f"sigma1 ({sigma1:g} S/m) is below sigma0 ({sigma0:g} S/m)")
        if e_rev is not None and e_irr is not None and e_irr <= e_rev:
            raise problem(
                f"e_irr ({e_irr * 1e-2:g} V/cm) must be above e_rev ({e_rev * 1e-2:g} V/cm)"
            )
        return self


Material = create_model(
    "Material",
    __base__=_MaterialChecks,
    __doc__="A tissue's full parameter set, SI units (see MATERIAL_PARAMETERS).",
    **{
        name: (_parameter_type(name), Field(description=spec[3]))
        for name, spec in MATERIAL_PARAMETERS.items()
    },
    provenance=(Provenance, ...),
)

MaterialOverride = create_model(
    "MaterialOverride",
    __base__=_MaterialChecks,
    __doc__="A config's `materials:` entry: any parameters, on top of `base` or the library entry "
    "of the same name.",
    base=(Optional[Name], None),
    **{
        name: (Optional[_parameter_type(name)], Field(None, description=spec[3]))
        for name, spec in MATERIAL_PARAMETERS.items()
    },
    provenance=(Optional[ProvenanceOverride], None),
)
