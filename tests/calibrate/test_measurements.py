"""The measurements CSV, read strictly (issue 14, must-show 5): bad input is exit code 2, one
line naming the file, the line and the column, and nothing written."""

import math

import numpy as np
import pytest

from epsim.calibrate.measurements import MeasurementError, parse_measurements
from epsim.cli import main
from tests.helpers.calibration import write_twin_config
from tests.helpers.outputs import listing

ELECTRODES = ("a", "b", "c", "d")
GOOD = "anode,cathode,voltage_V,current_A\na,b,500,1.2\na,b,1000,3.5\nc,d,500,1.1\na,b,500,1.25\n"


def test_rows_columns_and_distinct_solves():
    m = parse_measurements(GOOD, "m.csv", ELECTRODES, max_voltage=3000.0)
    assert len(m) == 4
    assert m.anode == ("a", "a", "c", "a") and m.cathode == ("b", "b", "d", "b")
    np.testing.assert_array_equal(m.voltage, [500, 1000, 500, 500])
    np.testing.assert_array_equal(m.pulse, [0, 0, 0, 0])
    assert np.all(np.isnan(m.time))
    solves, rows = m.solves()
    assert solves == [("a", "b", 500.0), ("a", "b", 1000.0), ("c", "d", 500.0)]
    np.testing.assert_array_equal(rows, [0, 1, 2, 0])  # a repeated pulse shares its solve


def test_optional_columns_any_order_bom_and_blank_lines():
    text = "\ufeff\ntime_s, current_A ,pulse,voltage_V,cathode,anode\n\n0.5,2.0,3,800,b,a\n"
    m = parse_measurements(text, "m.csv", ELECTRODES)
    assert (m.anode, m.cathode, m.pulse.tolist(), m.time.tolist()) == (("a",), ("b",), [3], [0.5])
    assert m.current.tolist() == [2.0] and m.voltage.tolist() == [800.0]


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("anode,cathode,voltage_V\n", "missing column(s) current_A"),
    ("anode,cathode,voltage_V,current_A\n", "no measurements"),
    ("anode,cathode,voltage_V,current_A,extra\n", "unknown column 'extra'"),
    ("anode,anode,voltage_V,current_A\n", "named twice"),
    ("anode,cathode,voltage_V,current_A\na,z,500,1\n", "line 2: cathode 'z' is not an electrode"),
    ("anode,cathode,voltage_V,current_A\na,a,500,1\n", "same electrode"),
    ("anode,cathode,voltage_V,current_A\na,b,500,-1\n", "line 2: current_A must be positive"),
    ("anode,cathode,voltage_V,current_A\na,b,500,0\n", "current_A must be positive"),
    ("anode,cathode,voltage_V,current_A\na,b,500,nan\n", "current_A is 'nan', not a finite"),
    ("anode,cathode,voltage_V,current_A\na,b,500,1 A\n", "current_A '1 A' is not a number"),
    ("anode,cathode,voltage_V,current_A\na,b,3500,1\n", "over the device limit"),
    ("anode,cathode,voltage_V,current_A\na,b,-5,1\n", "voltage_V must be positive"),
    ("anode,cathode,voltage_V,current_A\na,b,500\n", "3 values for 4 columns"),
    ("anode,cathode,voltage_V,current_A,pulse\na,b,500,1,1.5\n", "pulse must be a whole"),
])
def test_bad_files(text, words):
    with pytest.raises(MeasurementError, match="m.csv") as info:
        parse_measurements(text, "m.csv", ELECTRODES, max_voltage=3000.0)
    assert words in str(info.value)


BAD_CLI = {
    "missing electrode": "anode,cathode,voltage_V,current_A\na,b,500,1.0\na,e,500,1.0\n",
    "negative current": "anode,cathode,voltage_V,current_A\na,b,500,-1.0\n",
    "NaN current": "anode,cathode,voltage_V,current_A\na,b,500,NaN\n",
    "over the device limit": "anode,cathode,voltage_V,current_A\na,b,3001,1.0\n",
    "empty file": "",
    "missing column": "anode,cathode,current_A\na,b,1.0\n",
}


@pytest.mark.parametrize("case", list(BAD_CLI))
def test_calibrate_refuses_bad_measurements(case, tmp_path, capsys):
    """`epsim calibrate` on each bad file: exit 2, one stderr line, nothing written."""
    config = write_twin_config(tmp_path)
    csv = tmp_path / "m.csv"
    csv.write_text(BAD_CLI[case])
    before = listing(tmp_path)
    code = main(["calibrate", str(config), "--measurements", str(csv), "-o",
                 str(tmp_path / "fit"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("epsim: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "m.csv" in err
    assert listing(tmp_path) == before


@pytest.mark.parametrize("option, words", [
    (["--fit", "bone.sigma0"], "no material 'bone'"),
    (["--fit", "liver.width"], "unknown parameter 'width'"),
    (["--fit", "liver.sigma0:-1"], "prior cv"),
    (["--noise", "150%"], "--noise"),
])
def test_calibrate_refuses_bad_options(option, words, tmp_path, capsys):
    config = write_twin_config(tmp_path)
    csv = tmp_path / "m.csv"
    csv.write_text(GOOD)
    before = listing(tmp_path)
    code = main(["calibrate", str(config), "--measurements", str(csv), "-o",
                 str(tmp_path / "fit"), *option])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1
    assert listing(tmp_path) == before


def test_math_of_noise_option():
    from epsim.calibrate.command import fraction

    assert math.isclose(fraction("2%"), 0.02) and fraction("0.05") == 0.05
