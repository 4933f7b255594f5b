"""Dimensional values at the config edge: strings with units or bare numbers in declared units.

A config value of a dimensional quantity is either a string with its unit ("1.2 mm", "400 V/cm",
"100 us", "5 kHz", "20 A", "0.2 S/m", "1.2 %/degC") or a bare number, which is read in the unit
that the file's `units:` block declares for that kind of quantity (`units: {length: mm}`). A bare
number whose kind has no declared unit is an error: nothing is silently taken as SI. Everything
is converted to SI floats here, once; the rest of epsim never sees a unit.

Only the Python API (models built in code, with no units context) takes bare numbers as SI.

pint is used only in this module. Its registry is built on first use, not at import.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from typing import Mapping

import pint

from epsim.config.excerpt import excerpt

# Kind of quantity -> the SI unit epsim uses inside. These are the keys of a config's `units:`
# block, and the resolved config declares exactly these units.
SI_UNITS: dict[str, str] = {
    "length": "m",
    "voltage": "V",
    "field": "V/m",
    "conductivity": "S/m",
    "time": "s",
    "frequency": "Hz",
    "current": "A",
    "temperature": "K",
    "angle": "rad",
    "thermal_conductivity": "W/m/K",
    "density": "kg/m^3",
    "specific_heat": "J/kg/K",
    "temperature_coefficient": "1/K",
    "perfusion": "1/s",
    "power_density": "W/m^3",
}

# An example per kind, for error messages.
_EXAMPLES: dict[str, str] = {
    "length": "1.2 mm",
    "voltage": "1000 V",
    "field": "400 V/cm",
    "conductivity": "0.2 S/m",
    "time": "100 us",
    "frequency": "5 kHz",
    "current": "20 A",
    "temperature": "37 degC",
    "angle": "30 deg",
    "thermal_conductivity": "0.512 W/m/K",
    "density": "1050 kg/m^3",
    "specific_heat": "3600 J/kg/K",
    "temperature_coefficient": "1.5 %/K",
    "perfusion": "0.0044 1/s",
    "power_density": "420 W/m^3",
}

# A leading decimal number, then the unit (possibly empty). Commas, expressions and units
# without a number are rejected instead of being guessed at.
_NUMBER_AND_UNIT = re.compile(
    r"^\s*(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>.*?)\s*$"
)


class UnitError(ValueError):
    """A value whose unit is missing, unknown or of the wrong kind.

    `key` names the offending kind in a `units:` block, when there is one.
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


@functools.lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The one unit registry, built on first use."""
    return pint.UnitRegistry()


MAX_UNIT_CHARS = 40  # "J/kg/K" is 6; pint's parser recurses into parentheses
MAX_UNIT_NESTING = 3


def _nesting(text: str) -> int:
    depth = deepest = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        deepest = max(deepest, depth)
    return deepest


@functools.lru_cache(maxsize=256)
def _unit(text: str) -> pint.Unit:
    """Parse a unit expression. Offset units (degC) inside a compound unit mean differences."""
    if len(text) > MAX_UNIT_CHARS:
        raise UnitError(f"unit {excerpt(text)} is longer than {MAX_UNIT_CHARS} characters")
    if _nesting(text) > MAX_UNIT_NESTING:
        raise UnitError(f"unit {excerpt(text)} nests parentheses more than "
                        f"{MAX_UNIT_NESTING} deep")
    try:
        return registry().parse_units(text, as_delta=True)
    except (pint.PintError, ValueError, AttributeError, TypeError, KeyError, SyntaxError,
            ArithmeticError, RecursionError) as exc:
        raise UnitError(f"unknown unit {excerpt(text)} ({excerpt(str(exc))[1:-1]})") from None


def _kind_of(unit: pint.Unit) -> str | None:
    """The kind whose SI unit has the dimensions of `unit`, if any (first match wins)."""
    for kind, si in SI_UNITS.items():
        if _unit(si).dimensionality == unit.dimensionality:
            return kind
    return None


def _check_kind(kind: str) -> None:
    if kind not in SI_UNITS:
        raise KeyError(f"unknown quantity kind {kind!r}")


def parse_unit(text: str, kind: str, shown: str | None = None) -> pint.Unit:
    """Parse a unit for a kind of quantity and check its dimensions.

    Args:
        text: a unit expression such as "mm", "V/cm", "us".
        kind: a key of SI_UNITS.
        shown: the value to quote in an error message (default: `text`).

    Raises:
        UnitError: unknown unit, or dimensions that do not match the kind.
    """
    _check_kind(kind)
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"expected a unit for {kind} such as {SI_UNITS[kind]!r}, got {excerpt(text)}")
    unit = _unit(text.strip())
    expected = _unit(SI_UNITS[kind])
    if unit.dimensionality != expected.dimensionality:
        got = _kind_of(unit)
        got_text = f"a {got.replace('_', ' ')}" if got else f"of dimension {unit.dimensionality}"
        raise UnitError(
            f"wrong dimension: expected a {kind.replace('_', ' ')} (e.g. {_EXAMPLES[kind]!r}), "
            f"got {excerpt(shown or text)}, which is {got_text}"
        )
    return unit


@functools.lru_cache(maxsize=256)
def _scale(unit_text: str, kind: str) -> tuple[str, float] | None:
    """How to scale a value in unit_text to SI: ("*", f) or ("/", n) with n a whole number, so
    that "100 us" becomes 100 / 1e6 = 1e-4 exactly rounded rather than 100 * 1e-6. None for
    units with an offset (degC), which go through pint."""
    unit, si = parse_unit(unit_text, kind), _unit(SI_UNITS[kind])
    quantity = registry().Quantity
    try:
        if float(quantity(0.0, unit).to(si).magnitude) != 0.0:
            return None
        factor = float(quantity(1.0, unit).to(si).magnitude)
    except (ArithmeticError, ValueError) as exc:
        raise UnitError(f"unit {excerpt(unit_text)} cannot be converted ({exc})") from None
    if not math.isfinite(factor) or factor == 0.0:
        raise UnitError(f"unit {excerpt(unit_text)} is {factor:g} {SI_UNITS[kind]}, "
                        "out of any sensible range")
    if _whole(factor):
        return ("*", float(round(factor)))
    if _whole(1.0 / factor):
        return ("/", float(round(1.0 / factor)))
    return ("*", factor)


def _whole(value: float) -> bool:
    return value >= 1.0 and abs(value - round(value)) <= 1e-12 * value


def _convert(magnitude: float, unit_text: str, kind: str) -> float:
    """magnitude in unit_text -> SI float. Exact when unit_text is the SI unit itself."""
    if unit_text == SI_UNITS[kind]:
        return float(magnitude)
    scale = _scale(unit_text, kind)
    if scale is None:
        unit, si = parse_unit(unit_text, kind), _unit(SI_UNITS[kind])
        try:
            return float(registry().Quantity(magnitude, unit).to(si).magnitude)
        except (ArithmeticError, ValueError) as exc:
            raise UnitError(f"cannot convert {magnitude:g} {excerpt(unit_text)} ({exc})") from None
    operation, number = scale
    return magnitude * number if operation == "*" else magnitude / number


def to_si(value: object, kind: str, units: Mapping[str, str] | None) -> float:
    """Convert one config value of a given kind to an SI float.

    Args:
        value: a number, or a string "<number> <unit>" (a string holding only a number counts as
            a bare number: YAML reads `1e3` as a string).
        kind: a key of SI_UNITS ("length", "field", ...).
        units: the file's declared units (kind -> unit text), or None for the Python API, where
            bare numbers are SI.

    Returns:
        The value in SI units (m, V, V/m, S/m, s, Hz, A, K, rad, ...).

    Raises:
        UnitError: missing unit, unknown unit, wrong dimension, not a number.
    """
    _check_kind(kind)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(
            f"expected a {kind.replace('_', ' ')} such as {_EXAMPLES[kind]!r}, got {excerpt(value)}"
        )
    if isinstance(value, str):
        match = _NUMBER_AND_UNIT.match(value)
        if match is None:
            raise UnitError(
                f"cannot read {excerpt(value)} as a {kind.replace('_', ' ')}: write a number and a unit "
                f"such as {_EXAMPLES[kind]!r}"
            )
        magnitude = float(match["number"])
        unit_text = match["unit"]
        if unit_text:
            if "," in unit_text:
                raise UnitError(f"cannot read {excerpt(value)}: use a decimal point, not a comma")
            parse_unit(unit_text, kind, shown=value)
            result = _convert(magnitude, unit_text, kind)
            return _finite(result, value)
        value = magnitude
    if units is None:
        return _finite(float(value), value)
    if kind not in units:
        raise UnitError(
            f"missing unit: {excerpt(value)} is a bare number and the units block declares no "
            f"{kind!r} unit; write it with a unit, e.g. {_EXAMPLES[kind]!r}, "
            f"or add `{kind}: ...` to `units:`"
        )
    return _finite(_convert(float(value), units[kind], kind), value)


def _finite(result: float, original: object) -> float:
    if not math.isfinite(result):
        raise UnitError(f"expected a finite number, got {excerpt(original)}")
    return result


def check_units_block(block: object) -> dict[str, str]:
    """Validate a `units:` block: known kinds, parseable units of the right dimension.

    Returns:
        kind -> unit text, as given.

    Raises:
        UnitError: with `.key` set to the offending kind (None when the block is not a mapping).
    """
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise UnitError(f"expected a mapping of quantity kind to unit, got {excerpt(block)}")
    result: dict[str, str] = {}
    for kind, text in block.items():
        try:
            if kind not in SI_UNITS:
                raise UnitError(unknown_name_message("quantity kind", str(kind), SI_UNITS))
            parse_unit(text, kind)
        except UnitError as error:
            raise UnitError(str(error), key=str(kind)) from None
        result[kind] = text.strip()
    return result


def unknown_name_message(what: str, name: str, valid) -> str:
    """"unknown <what> 'x'; did you mean 'y'?" with the closest valid name, or "unknown <what>
    'x' (valid: ...)" listing the valid names when none is close (one line stays short)."""
    valid = sorted(str(v) for v in valid)
    close = [] if len(str(name)) > 100 else difflib.get_close_matches(str(name), valid, n=1,
                                                                       cutoff=0.6)
    if close:
        return f"unknown {what} {excerpt(name)}; did you mean {close[0]!r}?"
    listing = ", ".join(valid) if len(valid) <= 16 else ", ".join(valid[:16]) + ", ..."
    return f"unknown {what} {excerpt(name)} (valid: {listing})"


def format_si(value: float, kind: str) -> str:
    """A short human string for an SI value, in the units clinicians read (mm, V/cm, us)."""
    display = {"length": ("mm", 1e3), "field": ("V/cm", 1e-2), "time": ("us", 1e6)}
    unit, scale = display.get(kind, (SI_UNITS[kind], 1.0))
    return f"{value * scale:.6g} {unit}"
