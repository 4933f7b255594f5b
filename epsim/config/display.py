"""SI values back in the units a config was written in, for reports and messages.

    units = report_units(cfg)            # the config's output.units (its own `units:` block)
    units.text(0.0012, "length")         # '1.2 mm'
    units.value(4e4, "field")            # 400.0 (V/cm)

Kinds the config declares no unit for are shown in the units clinicians read (mm, V/cm, us,
degC). Conversions go through `to_si` of one unit (pint stays in `epsim.config.units`);
temperatures in degC or degF are affine, which `value` handles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping

from epsim.config.units import SI_UNITS, to_si

# What a kind is shown in when the config declares no unit for it.
DEFAULT_UNITS = {
    **SI_UNITS, "length": "mm", "field": "V/cm", "time": "us", "temperature": "degC",
}


@functools.lru_cache(maxsize=None)
def _scale_offset(unit: str, kind: str) -> tuple[float, float]:
    """(SI value of one unit minus that of zero, SI value of zero units)."""
    zero = to_si(f"0 {unit}", kind, None)
    return to_si(f"1 {unit}", kind, None) - zero, zero


@dataclass(frozen=True)
class DisplayUnits:
    """Units to show values in: kind -> unit text (a `units:` block), others by DEFAULT_UNITS."""

    units: Mapping[str, str] = field(default_factory=dict)

    def unit(self, kind: str) -> str:
        """The unit text of a kind ("volume": the length unit cubed)."""
        if kind == "volume":
            return f"{self.unit('length')}^3"
        return self.units.get(kind) or DEFAULT_UNITS[kind]

    def value(self, si: float, kind: str) -> float:
        """An SI value in this kind's unit."""
        if kind == "volume":
            scale, _ = _scale_offset(self.unit("length"), "length")
            return float(si) / scale**3
        scale, offset = _scale_offset(self.unit(kind), kind)
        return (float(si) - offset) / scale

    def text(self, si: float, kind: str, digits: int = 4) -> str:
        """'<value> <unit>' with `digits` significant digits."""
        return f"{self.value(si, kind):.{digits}g} {self.unit(kind)}"


def report_units(cfg) -> DisplayUnits:
    """The units a run of `cfg` reports in: `output.units` (which resolving fills with the
    config's own `units:` block)."""
    return DisplayUnits(dict(cfg.output.units))


__all__ = ["DEFAULT_UNITS", "DisplayUnits", "report_units"]
