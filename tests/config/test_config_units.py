"""Units at the config edge: strings with units, bare numbers in declared units, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from epsim.config.units import SI_UNITS, UnitError, check_units_block, to_si

DECLARED = {"length": "mm", "time": "us", "field": "V/cm", "temperature": "degC",
            "frequency": "kHz", "voltage": "kV"}


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        ("1.2 mm", "length", 0.0012),
        ("400 V/cm", "field", 4e4),
        ("1 kV/cm", "field", 1e5),
        ("100 us", "time", 1e-4),
        ("100 µs", "time", 1e-4),
        ("0.1 ms", "time", 1e-4),
        ("5 kHz", "frequency", 5e3),
        ("20 A", "current", 20.0),
        ("0.2 S/m", "conductivity", 0.2),
        ("2 mS/cm", "conductivity", 0.2),
        ("37 degC", "temperature", 310.15),
        ("1.2 %/degC", "temperature_coefficient", 0.012),
        ("0.512 W/m/K", "thermal_conductivity", 0.512),
        ("1050 kg/m^3", "density", 1050.0),
        ("3600 J/kg/K", "specific_heat", 3600.0),
        ("30 deg", "angle", 0.5235987755982988),
        ("-2.5e1 mm", "length", -0.025),
        # bare numbers in the declared units
        (1.2, "length", 0.0012),
        (100, "time", 1e-4),
        (1000, "field", 1e5),
        (37, "temperature", 310.15),
        (5, "frequency", 5e3),
        ("1e3", "field", 1e5),  # YAML reads 1e3 as a string
        (3, "voltage", 3000.0),
    ],
)
def test_to_si(value, kind, expected):
    assert to_si(value, kind, DECLARED) == pytest.approx(expected, rel=1e-14)


def test_decimal_scaling_is_exactly_rounded():
    # divide by 1000 rather than multiply by 0.001: the SI values print as written
    assert to_si("1.2 mm", "length", None) == 0.0012
    assert to_si("100 us", "time", None) == 0.0001
    assert to_si(0.35, "length", {"length": "mm"}) == 0.00035


def test_si_units_are_exact():
    for value in (0.1, 1e-7, 123.456789, 3.0e5):
        for kind, unit in SI_UNITS.items():
            assert to_si(value, kind, SI_UNITS) == value
            if kind != "temperature":
                assert to_si(f"{value!r} {unit}", kind, None) == value


def test_python_api_takes_bare_numbers_as_si():
    assert to_si(0.0012, "length", None) == 0.0012


def test_missing_unit():
    with pytest.raises(UnitError, match="missing unit.*'current'.*'20 A'"):
        to_si(20, "current", DECLARED)


@pytest.mark.parametrize(
    "value, kind, pattern",
    [
        ("400 V", "field", "expected a field.*got '400 V', which is a voltage"),
        ("5 mm", "time", "expected a time.*which is a length"),
        ("1 kg", "length", r"dimension \[mass\]"),
        ("5 foo", "length", "unknown unit 'foo'"),
        ("mm", "length", "write a number and a unit"),
        ("1,2 mm", "length", "decimal point"),
        ("2*3 mm", "length", "unknown unit|scaling factor"),
        (True, "length", "expected a length"),
        ([1, 2], "length", "expected a length"),
        ("inf mm", "length", "write a number"),
    ],
)
def test_bad_values(value, kind, pattern):
    with pytest.raises(UnitError, match=pattern):
        to_si(value, kind, DECLARED)


def test_units_block():
    assert check_units_block({"length": "mm", "field": "V/cm"}) == {"length": "mm", "field": "V/cm"}
    assert check_units_block(None) == {}
    with pytest.raises(UnitError, match="did you mean 'length'") as info:
        check_units_block({"lenght": "mm"})
    assert info.value.key == "lenght"
    with pytest.raises(UnitError, match="wrong dimension") as info:
        check_units_block({"time": "mm"})
    assert info.value.key == "time"
    with pytest.raises(UnitError, match="mapping"):
        check_units_block(["mm"])


def test_registry_is_built_lazily():
    code = (
        "import epsim.config, epsim.config.units as u; "
        "assert u.registry.cache_info().currsize == 0; "
        "u.to_si('1 mm', 'length', None); assert u.registry.cache_info().currsize == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
