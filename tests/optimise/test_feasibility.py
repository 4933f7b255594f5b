"""Constraints that cannot hold are reported before any solve (exit code 2), naming the binding
constraint; the constraint table marks active and violated constraints."""

import pytest
import yaml

from epsim.cli import main
from epsim.optimise.feasibility import InfeasibleError, Request, Row, binding, check_feasible

MM = 1e-3
BASE = dict(n_needles=6, active_lengths=(0.03,) * 6, threshold=4e4, max_voltage=3000.0,
            target_volume=3.7e-5)


def test_a_reasonable_request_passes():
    check_feasible(Request(**BASE, min_spacing=6 * MM, max_spacing=32 * MM))
    # six needles on a hexagon of radius 12 mm are 12 mm apart: just possible
    check_feasible(Request(**BASE, min_spacing=12 * MM, entry_radius=12 * MM))


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(min_spacing=30 * MM, max_spacing=20 * MM), "min_spacing 30 mm > max_spacing 20 mm"),
        (dict(min_voltage=500.0, max_voltage=400.0), "voltage box"),
        (dict(min_spacing=10 * MM, entry_radius=5 * MM), "spacing in the entry region"),
        (dict(n_needles=2, active_lengths=(0.03,) * 2, min_spacing=12 * MM, entry_radius=3 * MM),
         "at most 6 mm apart for 2 needles"),
        (dict(min_spacing=12.1 * MM, entry_radius=12 * MM), "at most 12 mm apart for 6 needles"),
        (dict(max_voltage=100.0), "max_voltage, at 100 V no layout can cover"),
        (dict(n_needles=1, active_lengths=(0.03,)), "at least two needles"),
    ],
)
def test_impossible_requests_name_the_binding_constraint(change, words):
    with pytest.raises(InfeasibleError) as info:
        check_feasible(Request(**{**BASE, **change}))
    assert words in str(info.value)


def test_rows_report_status():
    rows = [Row("coverage", 99.5, 95.0, "min"), Row("current", 49.5, 50.0, "max"),
            Row("voltage", 3100.0, 3000.0, "max")]
    assert [r.status for r in rows] == ["ok", "active", "VIOLATED"]
    assert [r.constraint for r in binding(rows)] == ["current", "voltage"]


CONFIG = """
name: impossible plan
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [30, 30, 30], material: liver}
  structures:
    - {name: tumour, shape: sphere, center: [0, 0, 0], radius: 6, material: tumour, role: target}
  mesh: {size: 5, target_size: 2.5, electrode_size: 1}
electrodes:
  - {name: a, type: needle, tip: [-5, 0, -8], entry: [-5, 0, 15], diameter: 1, active_length: 12}
  - {name: b, type: needle, tip: [5, 0, -8], entry: [5, 0, 15], diameter: 1, active_length: 12}
  - {name: c, type: needle, tip: [0, 5, -8], entry: [0, 5, 15], diameter: 1, active_length: 12}
protocol:
  pulses: {count: 8, width: 100, rate: "1 Hz"}
  pairs: [{anode: a, cathode: b, voltage: 800}]
device: {max_voltage: 3000, max_current: "50 A"}
optimise: {min_spacing: 12, entry_region: {center: [0, 0, 15], radius: 3}}
"""


def test_cli_exits_2_and_names_the_constraint(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text(CONFIG)
    code = main(["optimise", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "binding constraint: spacing in the entry region" in err
    assert not (tmp_path / "out").exists()


def test_cli_rejects_unknown_optimise_keys(tmp_path, capsys):
    data = yaml.safe_load(CONFIG)
    data["optimise"] = {"min_spacng": 5}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["optimise", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "min_spacing" in capsys.readouterr().err
