"""`epsim check` and `epsim run` accept and refuse the same geometries.

Both go through one validation: the config layer hands its scene to the mesh layer's
`check_scene`, the check the mesh builder runs. Every bad geometry of the catalogue is refused by
both commands with exit code 2 and one message at the config key at fault; the good ones pass
`check` and run end to end on a tiny mesh.
"""

import copy

import pytest
import yaml

from epsim.cli import main

BASE = yaml.safe_load("""
name: agree
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}
scene:
  domain: {shape: box, size: [30, 30, 24], material: liver}
  structures:
    - {name: tumour, shape: sphere, center: [0, 0, 0], radius: 3, material: tumour, role: target}
  vessels:
    - {name: vein, points: [[-15, 8, 4], [15, 8, 4]], radius: 1.2}
  mesh: {size: 8, target_size: 3, electrode_size: 0.8}
electrodes:
  - {name: a, type: needle, tip: [-4, 0, -6], entry: [-4, 0, 20], diameter: 1.2, active_length: 12}
  - {name: b, type: needle, tip: [4, 0, -6], entry: [4, 0, 20], diameter: 1.2, active_length: 12}
protocol:
  pulses: {count: 8, width: 100, rate: "5 kHz"}
  pairs:
    - {anode: a, cathode: b, voltage: 800}
physics: {conductivity: linear}
solver: {preconditioner: jacobi}
output: {file: out/agree.h5, paraview: false}
""")


def needle(name, tip, entry, active_length=12):
    return {"name": name, "type": "needle", "tip": tip, "entry": entry, "diameter": 1.2,
            "active_length": active_length}


def plates(name, center, normal=(1, 0, 0), gap=10, **extra):
    return {"name": name, "type": "plates", "center": list(center), "normal": list(normal),
            "gap": gap, "size": [8, 8], **extra}


def with_electrodes(*electrodes, pairs=(("a", "b"),)):
    def edit(cfg):
        cfg["electrodes"] = list(electrodes)
        cfg["protocol"]["pairs"] = [{"anode": a, "cathode": c, "voltage": 800} for a, c in pairs]
    return edit


def with_b(**fields):
    def edit(cfg):
        cfg["electrodes"][1].update(fields)
    return edit


def with_scene(key, value):
    def edit(cfg):
        cfg["scene"][key] = value
    return edit


A = needle("a", [-4, 0, -6], [-4, 0, 20])
B = needle("b", [4, 0, -6], [4, 0, 20])
PLATES = plates("p", (0, 0, 0))

# case -> (edit of BASE, key path in the message, name in the message)
BAD = {
    "needle through a spared vessel": (with_b(tip=[4, 8, -6], entry=[4, 8, 20]),
                                       "electrodes[1]", "'b'"),
    "needle through a spared structure": (
        with_scene("structures", BASE["scene"]["structures"] + [
            {"name": "nerve", "shape": "sphere", "center": [-4, 0, 2], "radius": 1,
             "material": "fat", "role": "spare"}]),
        "electrodes[0]", "'a'"),
    "overlapping needles": (with_b(tip=[-3.5, 0, -6], entry=[-3.5, 0, 20]), "electrodes[1]", "'b'"),
    "crossing needles": (with_b(entry=[-12, 0, 20]), "electrodes[1]", "'b'"),
    "needle outside the tissue": (with_electrodes(needle("a", [-4, 0, -30], [-4, 0, 20]), B),
                                  "electrodes[0]", "'a'"),
    "needle tip on the surface pointing out": (
        with_electrodes(needle("a", [-4, 0, -12], [-4, 0, -30]), B), "electrodes[0]", "'a'"),
    "tip and entry the same point": (with_b(entry=[4, 0, -6]), "electrodes[1]", "'b'"),
    "needle named like a boundary face": (
        with_electrodes(needle("xmin", [-4, 0, -6], [-4, 0, 20]), B, pairs=(("xmin", "b"),)),
        "electrodes[0]", "'xmin'"),
    "needle row with touching needles": (
        with_electrodes(A, {"name": "r", "type": "needle_row", "tip": [4, 0, -6],
                            "direction": [0, 1, 0], "count": 2, "spacing": 1, "diameter": 1.2,
                            "active_length": 12}, pairs=(("a", "r_0"),)),
        "electrodes[1]", "'r_1'"),
    "hexagonal array leaving the tissue": (
        with_electrodes({"name": "h", "type": "hexagonal_array", "center_tip": [0, 0, -6],
                         "circumradius": 20, "diameter": 0.7, "active_length": 10},
                        pairs=(("h_0", "h_1"),)),
        "electrodes[0]", "'h_1'"),
    "plates overlapping": (
        with_electrodes(PLATES, plates("q", (0.3, 0, 0)), pairs=(("p_a", "p_b"),)),
        "electrodes[1]", "'q_a'"),
    "plate through a needle": (
        with_electrodes(A, B, plates("p", (0, 0, 0), gap=8)), "electrodes[2]", "'p_a'"),
    "plates away from the tissue": (
        with_electrodes(A, B, plates("p", (0, 0, 40))), "electrodes[2]", "'p_a'"),
    "plates whose up is the normal": (
        with_electrodes(A, B, plates("p", (0, 0, 0), up=[1, 0, 0])), "electrodes[2]", "'p'"),
    "layers thicker than the tissue": (
        with_scene("layers", [{"material": "fat", "thickness": 30}]), "scene.layers", "thick"),
    "layers on a sphere": (
        lambda cfg: cfg["scene"].update(domain={"shape": "sphere", "radius": 16,
                                                "material": "liver"},
                                        layers=[{"material": "fat", "thickness": 2}]),
        "scene.layers", "flat top"),
}

GOOD = {
    "two needles beside a spared vessel": lambda cfg: None,
    "insulated shaft through the vessel": with_b(tip=[4, 8, -10], entry=[4, 8, 20],
                                                 active_length=6),
    "a pair of plates": with_electrodes(PLATES, pairs=(("p_a", "p_b"),)),
}


@pytest.fixture(autouse=True)
def mesh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))


def write(tmp_path, edit):
    data = copy.deepcopy(BASE)
    edit(data)
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_and_run_refuse_alike(tmp_path, capsys, case):
    edit, key, name = BAD[case]
    path = write(tmp_path, edit)
    messages = []
    for command in ("check", "run"):
        assert main([command, str(path)]) == 2, command
        out = capsys.readouterr()
        err = out.err.strip()
        assert err.count("\n") == 0 and err.startswith("epsim: error:"), err
        assert f": {key}" in err and name in err, err
        messages.append(err)
    assert messages[0] == messages[1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(GOOD))
def test_check_and_run_accept_alike(tmp_path, capsys, case):
    path = write(tmp_path, GOOD[case])
    assert main(["check", str(path)]) == 0
    assert main(["run", str(path), "--no-cache"]) == 0
    assert (tmp_path / "out" / "agree.h5").is_file()
    capsys.readouterr()
