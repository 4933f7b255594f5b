"""Config loading: the examples, errors with file/line/key path, round trips, safety."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from epsim.config import (
    ConfigError,
    ResolvedConfig,
    dump_resolved,
    load_config,
    load_config_text,
    material_library,
    needle_axes,
    resolve,
    resolved_to_yaml,
)
from epsim.config.loader import rounded

HERE = Path(__file__).resolve().parent
# The smallest shipped config, and a hexagonal-array example kept beside these tests.
EXAMPLES = {
    "two_needles_liver.yaml": HERE.parents[1] / "configs" / "two_needles_liver.yaml",
    "hexagonal_nodule.yaml": HERE / "hexagonal_nodule.yaml",
}

BASE = """\
name: two needles
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [60, 60, 50], material: liver}
  structures:
    - {name: tumour, shape: sphere, center: [0, 0, 0], radius: 5, material: tumour, role: target}
  mesh: {size: 6, target_size: 1.0, electrode_size: 0.4}
materials:
  tumour: {sigma0: 0.2, sigma1: 0.7, e_rev: 400, e_irr: 800}
electrodes:
  - {name: a, type: needle, tip: [-5, 0, -10], entry: [-5, 0, 25], diameter: 1.2, active_length: 20}
  - {name: b, type: needle, tip: [5, 0, -10], entry: [5, 0, 25], diameter: 1.2, active_length: 20}
protocol:
  pulses: {count: 8, width: 100, rate: "5 kHz"}
  pairs:
    - {anode: a, cathode: b, voltage: 1000}
physics: {conductivity: nonlinear}
device: {max_voltage: 3000, max_current: "50 A"}
output: {file: results/out.h5}
"""


def load(text: str, tmp_path: Path | None = None) -> ResolvedConfig:
    return load_config_text(text, source="test.yaml", base_dir=tmp_path)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(text)
    return str(info.value)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def example(name: str) -> Path:
    return EXAMPLES[name]


# ------------------------------------------------------------------ the examples


def test_two_needles_example_resolves_to_si():
    path = example("two_needles_liver.yaml")
    cfg = load_config(path)
    a, b = cfg.electrodes
    assert a.diameter == pytest.approx(0.0012, rel=1e-15)
    assert a.tip == pytest.approx((-0.005, 0.0, -0.01))
    assert a.active_length == pytest.approx(0.02)
    assert cfg.scene.domain.size == pytest.approx((0.06, 0.06, 0.05))
    assert cfg.scene.mesh.electrode_size == pytest.approx(4e-4)
    assert cfg.protocol.pulses.count == 8
    assert cfg.protocol.pulses.width == pytest.approx(1e-4, rel=1e-15)
    assert cfg.protocol.pulses.rate == 5000.0
    assert [(p.anode, p.cathode, p.voltage) for p in cfg.protocol.pairs] == [("a", "b", 1000.0)]
    assert cfg.device.max_voltage == 3000.0 and cfg.device.max_current == 50.0
    tumour = cfg.materials["tumour"]
    assert (tumour.sigma0, tumour.sigma1) == (0.2, 0.7)
    assert (tumour.e_rev, tumour.e_irr) == (4e4, 8e4)  # 400, 800 V/cm
    assert set(cfg.materials) == {"liver", "tumour"}
    assert cfg.materials["liver"].e_irr == 7e4
    assert cfg.physics.conductivity == "nonlinear"
    assert cfg.output.file == path.resolve().parent / "results" / "two_needles_liver.h5"


def test_hexagonal_example_resolves_to_si():
    cfg = load_config(example("hexagonal_nodule.yaml"))
    assert cfg.protocol.voltage_to_distance == 1e5  # 1000 V/cm
    assert cfg.protocol.pulses.rate == 5000.0
    assert cfg.device.max_current == 20.0
    assert [layer.thickness for layer in cfg.scene.layers] == pytest.approx([0.002, 0.004])
    assert set(cfg.materials) == {"muscle", "skin", "fat", "tumour"}
    needles = needle_axes(cfg)
    assert [n.name for n in needles] == [f"hex_{k}" for k in range(7)]
    assert all(n.radius == pytest.approx(0.00035) for n in needles)
    # 12 nearest-neighbour pairs, all one circumradius (3.65 mm) apart: 1000 V/cm -> 365 V
    assert len(cfg.protocol.pairs) == 12
    assert [p.voltage for p in cfg.protocol.pairs] == pytest.approx([365.0] * 12)
    # needles default to reaching the top surface (z = 12.5 mm) from their tips (z = 4.5 mm)
    assert needles[3].entry[2] == pytest.approx(0.0125)


def assert_same_to_12_digits(a, b):
    """Configs equal but for the 12-digit rounding of numbers in resolved YAML."""
    assert rounded(a.model_dump(mode="json")) == rounded(b.model_dump(mode="json"))


@pytest.mark.parametrize("name", ["two_needles_liver.yaml", "hexagonal_nodule.yaml"])
def test_examples_round_trip(name):
    cfg = load_config(example(name))
    text = resolved_to_yaml(cfg)
    again = load_config_text(text)
    assert_same_to_12_digits(again, cfg)
    assert resolved_to_yaml(again) == text  # a fixed point
    # what `epsim check` prints is itself a valid config
    assert load_config_text(dump_resolved(cfg)) == again
    # resolving again (Python API, e.g. after model_copy) changes nothing
    assert resolve(cfg) == cfg


# ------------------------------------------------------------------ error messages


def test_unknown_key_names_path_line_and_suggestion():
    text = edit("- {name: b, type: needle, tip: [5, 0, -10], entry: [5, 0, 25], diameter",
                "- {name: b, type: needle, tip: [5, 0, -10], entry: [5, 0, 25], diamter")
    message = error_of(text)
    assert message.startswith("test.yaml:12: electrodes[1].diamter: unknown key 'diamter'")
    assert "did you mean 'diameter'?" in message


def test_unknown_top_level_and_nested_keys():
    assert "phisics: unknown key 'phisics'; did you mean 'physics'?" in error_of(
        edit("physics:", "phisics:")
    )
    message = error_of(edit("pulses: {count: 8,", "pulses: {cuont: 8,"))
    assert "protocol.pulses.cuont" in message and "'count'" in message


def test_unknown_electrode_type_and_literal_are_suggested():
    message = error_of(edit("type: needle, tip: [5", "type: neddle, tip: [5"))
    assert "electrodes[1].type: unknown type 'neddle'; did you mean 'needle'?" in message
    message = error_of(edit("conductivity: nonlinear", "conductivity: nonlinar"))
    assert "physics.conductivity" in message and "did you mean 'nonlinear'?" in message


def test_missing_or_odd_values():
    message = error_of(edit("{name: a, type: needle,", "{name: a,"))
    assert "electrodes[0].type: missing required key (one of: needle, needle_row" in message
    assert "scene.domain.shape: missing required key" in error_of(edit("{shape: box, ", "{"))
    assert "protocol.pulses.count: input should be a valid integer" in error_of(
        edit("count: 8", "count: true"))
    assert "protocol.pairs: must not be empty" in error_of(
        edit("  pairs:\n    - {anode: a, cathode: b, voltage: 1000}", "  pairs: []"))
    assert "solver.damping: expected a number, got True" in error_of(
        BASE + "solver: {kind: picard, damping: true}\n")
    assert "output.file: expected a file path" in error_of(edit("file: results/out.h5", "file: 5"))


def test_missing_unit():
    message = error_of(edit("voltage: V, ", ""))
    assert "test.yaml:16: protocol.pairs[0].voltage: missing unit" in message


def test_missing_unit_for_undeclared_kind():
    message = error_of(edit("max_current: \"50 A\"", "max_current: 50"))
    assert "device.max_current: missing unit" in message and "'current'" in message


def test_wrong_dimension_names_expected_and_got():
    message = error_of(edit('rate: "5 kHz"', 'rate: "5 kV"'))
    assert "protocol.pulses.rate: wrong dimension" in message
    assert "expected a frequency" in message and "'5 kV', which is a voltage" in message


def test_bad_units_block():
    assert "units.lenght: unknown quantity kind 'lenght'; did you mean 'length'?" in error_of(
        edit("{length: mm,", "{lenght: mm,")
    )
    assert "units.length: wrong dimension" in error_of(edit("{length: mm,", "{length: s,"))


def test_yaml_syntax_error_has_line_number():
    message = error_of(edit("pulses: {count: 8,", "pulses: {count: 8,,]"))
    assert message.startswith("test.yaml:14: YAML error")


def test_duplicate_key_is_an_error():
    message = error_of(BASE + "physics: {conductivity: linear}\n")
    assert "duplicate key 'physics'" in message and message.startswith("test.yaml:20")


def test_not_a_mapping():
    assert "expected a mapping" in error_of("- just\n- a list\n")


def test_pair_with_unknown_electrode():
    message = error_of(edit("cathode: b", "cathode: c"))
    assert "protocol.pairs[0].cathode: unknown electrode 'c'" in message


def test_pair_anode_equals_cathode():
    message = error_of(edit("cathode: b", "cathode: a"))
    assert "protocol.pairs[0]" in message and "same electrode" in message


def test_voltage_above_device_limit_names_pair_and_numbers():
    message = error_of(edit("max_voltage: 3000", "max_voltage: 800"))
    assert "protocol.pairs[0]: pair a -> b: 1000 V is above device.max_voltage 800 V" in message


def test_generated_voltage_above_device_limit():
    text = edit("    - {anode: a, cathode: b, voltage: 1000}\n", "    adjacent\n")
    text = edit("  pairs:\n", "  voltage_to_distance: 1500\n  pairs:", text)
    message = error_of(edit("max_voltage: 3000", "max_voltage: 1000", text))
    assert "pair a -> b: 1500 V is above device.max_voltage 1000 V" in message


def test_overlapping_needles_are_named():
    message = error_of(edit("tip: [5, 0, -10], entry: [5, 0, 25]", "tip: [-4.5, 0, -10], "
                            "entry: [-4.5, 0, 25]"))
    assert "electrodes[1]" in message and "needles 'a' and 'b' overlap" in message


def test_crossing_needles_overlap():
    # b crosses a's shaft at z = 10 mm although the tips are 10 mm apart
    text = edit("tip: [5, 0, -10], entry: [5, 0, 25]", "tip: [5, 0, -10], entry: [-15, 0, 30]")
    assert "overlap" in error_of(text)


def test_active_length_longer_than_needle():
    text = edit("diameter: 1.2, active_length: 20}", "diameter: 1.2, active_length: 40}")
    assert "electrodes[0].active_length" in error_of(text)


def test_tip_outside_the_domain():
    assert "outside the domain" in error_of(edit("tip: [5, 0, -10]", "tip: [5, 0, -30]"))


def test_nonpositive_and_malformed_values():
    assert "electrodes[0].diameter: must be > 0" in error_of(edit("diameter: 1.2", "diameter: 0"))
    message = error_of(edit("tip: [-5, 0, -10]", "tip: [-5, 0]"))
    assert "electrodes[0].tip: too few values" in message
    assert "decimal point" in error_of(edit('rate: "5 kHz"', 'rate: "5,5 kHz"'))


def test_missing_section():
    assert "protocol: missing required key" in error_of(BASE.split("protocol:")[0])


def test_unknown_material_is_suggested():
    message = error_of(edit("material: liver}", "material: livr}"))
    assert "scene.domain.material: unknown material 'livr'; did you mean 'liver'?" in message


def test_missing_file_is_reported(tmp_path):
    text = edit("structures:\n", "structures:\n    - {name: s, shape: stl, file: no.stl, length_unit: mm, "
                "material: fat}\n")
    with pytest.raises(ConfigError, match=r"scene.structures\[0\].file: file not found"):
        load(text, tmp_path)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


# ------------------------------------------------------------------ safety and paths


def test_python_tags_are_rejected_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = BASE + f"x: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError, match="test.yaml:20: YAML error.*python"):
        load(text)
    assert not marker.exists()
    with pytest.raises(ConfigError, match="tag"):
        load(BASE + "y: !!python/object:pathlib.Path {}\n")


def tetrahedron_stl(corner, edge) -> str:
    """An ASCII STL of a closed, outward-oriented tetrahedron (file units)."""
    x, y, z = corner
    v = [(x, y, z), (x + edge, y, z), (x, y + edge, z), (x, y, z + edge)]
    faces = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
    lines = ["solid t"]
    for face in faces:
        lines += ["facet normal 0 0 0", "outer loop"]
        lines += [f"vertex {v[i][0]} {v[i][1]} {v[i][2]}" for i in face]
        lines += ["endloop", "endfacet"]
    return "\n".join(lines + ["endsolid t"]) + "\n"


def test_unreadable_stl_is_reported_at_its_key(tmp_path):
    (tmp_path / "open.stl").write_text("solid x\nendsolid x\n")
    text = edit("structures:\n", "structures:\n    - {name: organ, shape: stl, file: open.stl, "
                "length_unit: mm, material: fat}\n")
    with pytest.raises(ConfigError, match=r"scene.structures\[0\].file: .*no triangles"):
        load(text, tmp_path)


def test_paths_are_relative_to_the_config_file(tmp_path):
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "organ.stl").write_text(tetrahedron_stl(corner=(15, 15, -20), edge=5))
    text = edit("structures:\n", "structures:\n    - {name: organ, shape: stl, file: organ.stl, length_unit: mm, "
                "material: fat, role: spare}\n")
    path = folder / "plan.yaml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.output.file == folder / "results" / "out.h5"
    assert cfg.scene.structures[0].file == folder / "organ.stl"
    # the resolved YAML carries absolute paths, so it loads the same from anywhere
    assert_same_to_12_digits(load_config_text(resolved_to_yaml(cfg), base_dir=tmp_path), cfg)


# ------------------------------------------------------------------ round trips of richer configs

RICH = """\
name: rich
units: {length: cm, voltage: kV, field: kV/cm, conductivity: mS/cm, time: ms, frequency: Hz,
        angle: deg}
scene:
  domain: {shape: cylinder, radius: 4, height: 5, center: [0, 0, 0], material: custom}
  layers: [{material: skin, thickness: 0.2}]
  structures:
    - {name: t, shape: ellipsoid, center: [0, 0, 0], radii: [1, 1, 0.5], material: tumour,
       role: target}
    - {name: bone, shape: box, center: [2, 2, -1.5], size: [1, 1, 1], material: hard}
    - {name: c, shape: cylinder, center: [-2, 2, -1], radius: 0.3, height: 1, axis: [1, 0, 0],
       material: fat}
  vessels:
    - {name: v, points: [[-3, -3, -1], [3, -3, -1], [3, -2, -2]], radius: 0.2}
  mesh: {size: 0.5}
materials:
  custom: {base: muscle, sigma0: 1.5, provenance: {electrical: measured in our lab}}
  hard:
    {sigma0: "0.02 S/m", sigma1: "0.03 S/m", e_rev: "500 V/cm", e_irr: "1500 V/cm",
     k: "0.3 W/m/K", rho: "1900 kg/m^3", c: "1300 J/kg/K", alpha: "1.2 %/degC", w_b: "0 1/s",
     q_m: "0 W/m^3", ec0: "400 kV/m", a0: "140 kV/m", k1: 0.03, k2: "6e-2"}
  unused: {base: liver}
electrodes:
  - {name: row, type: needle_row, tip: [-1, -1, -1], direction: [1, 0, 0], count: 3, spacing: 0.5,
     diameter: 0.07, active_length: 1, length: 3}
  - {name: p, type: plates, center: [0, 1.5, 1], normal: [1, 0, 0], gap: 0.6, size: [1, 0.5]}
  - {name: h, type: hexagonal_array, center_tip: [0, 1.5, -1.5], axis: [0, 0.3, 1],
     circumradius: 0.3, diameter: 0.07, active_length: 0.8, rotation: 15}
protocol:
  pulses: {count: 8, width: 0.1, rate: 1}
  pairs:
    - {anode: row_0, cathode: row_2}
    - {anode: p_a, cathode: p_b}
    - {anode: h_0, cathode: h_4, voltage: "123.5 V"}
  voltage_to_distance: 1.2
physics: {conductivity: linear, model: logistic, pair_mode: max_field_memory,
          idle_electrodes: absent}
solver: {kind: picard, rtol: 1e-6, damping: 0.3, preconditioner: jacobi}
device: {max_voltage: "3 kV"}
output: {paraview: false, render: true}
"""


def test_rich_config_values():
    cfg = load(RICH)
    assert cfg.scene.domain.radius == pytest.approx(0.04)
    custom, hard = cfg.materials["custom"], cfg.materials["hard"]
    assert custom.sigma0 == pytest.approx(0.15)  # 1.5 mS/cm
    muscle = material_library()["muscle"]
    assert custom.sigma1 == muscle.sigma1 and custom.k == muscle.k  # the rest from the base
    assert custom.provenance.electrical == "measured in our lab"
    assert custom.provenance.thermal == muscle.provenance.thermal
    assert hard.alpha == pytest.approx(0.012) and hard.k2 == pytest.approx(0.06)
    assert "unused" in cfg.materials and cfg.materials["blood"].sigma0 == 0.67  # vessel default
    pairs = cfg.protocol.pairs
    assert pairs[0].voltage == pytest.approx(1.2e5 * 0.01)  # 1.2 kV/cm x 1 cm = 1200 V
    assert pairs[1].voltage == pytest.approx(1.2e5 * 0.006)  # plates: the gap
    assert pairs[2].voltage == 123.5  # explicit wins
    assert cfg.solver.kind == "picard" and cfg.solver.damping == 0.3 and cfg.solver.rtol == 1e-6
    assert cfg.electrodes[2].rotation == pytest.approx(math.radians(15))
    assert cfg.output.file is None and cfg.output.render


def test_rich_config_round_trip():
    cfg = load(RICH)
    text = resolved_to_yaml(cfg)
    assert_same_to_12_digits(load_config_text(text), cfg)
    assert yaml.safe_load(text)["units"]["length"] == "m"


def test_resolved_numbers_have_12_significant_digits():
    cfg = load_config(HERE.parents[1] / "configs" / "breast_hexagonal.yaml")
    assert 364.99999999999994 in [p.voltage for p in cfg.protocol.pairs]  # 1000 V/cm x 3.65 mm
    for text in (resolved_to_yaml(cfg), dump_resolved(cfg)):
        pairs = yaml.safe_load(text)["protocol"]["pairs"]
        assert [p["voltage"] for p in pairs] == [365.0] * 12
        assert "364.99999" not in text and "365.0000000" not in text
    assert rounded({"a": [1.0000000000001, 2], "b": 0.1 + 0.2}) == {"a": [1.0, 2], "b": 0.3}


def test_default_solver_is_newton():
    cfg = load(BASE)
    assert cfg.solver.kind == "newton" and cfg.solver.preconditioner == "amg"
    cfg = load(BASE + "solver: {rtol: 1e-6}\n")
    assert cfg.solver.kind == "newton" and cfg.solver.rtol == 1e-6
    assert "solver.kind: unknown kind 'newtn'" in error_of(BASE + "solver: {kind: newtn}\n")
    assert "solver.damping: unknown key" in error_of(BASE + "solver: {damping: 0.5}\n")
