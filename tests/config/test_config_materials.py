"""The materials library (docs/physics.md, sections 2-4) and config overrides."""

from __future__ import annotations

import pytest

from epsim.config import MATERIAL_PARAMETERS, ConfigError, load_config_text, material_library

CONFIG = """\
name: m
units: {length: mm, voltage: V, field: V/cm, conductivity: S/m}
scene:
  domain: {shape: box, size: [60, 60, 50], material: liver}
  structures:
    - {name: t, shape: sphere, center: [0, 0, 0], radius: 5, material: tumour, role: target}
  mesh: {size: 6}
materials:
{materials}
electrodes:
  - {name: a, type: needle, tip: [-5, 0, -10], entry: [-5, 0, 25], diameter: 1.2, active_length: 20}
  - {name: b, type: needle, tip: [5, 0, -10], entry: [5, 0, 25], diameter: 1.2, active_length: 20}
protocol:
  pulses: {count: 8, width: "100 us", rate: "1 Hz"}
  pairs: [{anode: a, cathode: b, voltage: 1000}]
"""


def load(materials: str):
    return load_config_text(CONFIG.replace("{materials}", materials), source="m.yaml")


def test_library_values_follow_physics_md():
    lib = material_library()
    assert set(lib) == {"tumour", "liver", "muscle", "fat", "skin", "blood", "background"}
    electrical = {  # S/m, S/m, V/m, V/m
        "liver": (0.08, 0.32, 3.5e4, 7e4),
        "tumour": (0.2, 0.7, 4e4, 8e4),
        "background": (0.02, 0.08, 1e4, 4e4),
    }
    for name, values in electrical.items():
        m = lib[name]
        assert (m.sigma0, m.sigma1, m.e_rev, m.e_irr) == pytest.approx(values)
    assert {n: lib[n].sigma0 for n in ("blood", "muscle", "fat", "skin")} == {
        "blood": 0.67, "muscle": 0.16, "fat": 0.025, "skin": 0.43}
    for m in lib.values():
        assert (m.ec0, m.a0, m.k1, m.k2) == (399600.0, 144100.0, 0.03, 0.06)
        assert m.sigma1 >= m.sigma0 and m.e_irr > m.e_rev
    liver = lib["liver"]
    assert (liver.k, liver.rho, liver.c, liver.alpha) == (0.512, 1050.0, 3600.0, 0.015)
    assert (liver.w_b, liver.q_m) == (0.0044, 420.0)


def test_library_provenance_marks_defaults_and_assumptions():
    lib = material_library()
    for name, m in lib.items():
        for group in ("electrical", "thermal", "survival"):
            assert len(getattr(m.provenance, group)) > 20, (name, group)
        assert "not based on human in vivo data" in m.provenance.survival
    for name in ("muscle", "fat", "skin"):
        assert "engineering assumption" in lib[name].provenance.electrical
    for name in ("liver", "tumour", "background", "blood"):
        assert "engineering default" in lib[name].provenance.electrical
    assert "[unverified]" in lib["tumour"].provenance.electrical
    assert "engineering assumption" in lib["blood"].provenance.thermal


def test_every_used_material_is_listed_in_full():
    cfg = load("  {}")
    assert list(cfg.materials) == ["liver", "tumour"]
    for m in cfg.materials.values():
        assert set(m.model_dump()) == set(MATERIAL_PARAMETERS) | {"provenance"}


def test_partial_override_keeps_the_rest_and_notes_the_change():
    lib = material_library()
    cfg = load("  tumour: {sigma0: 0.3, e_irr: 900}")
    t = cfg.materials["tumour"]
    assert (t.sigma0, t.e_irr) == (0.3, 9e4)
    assert (t.sigma1, t.e_rev, t.k) == (lib["tumour"].sigma1, lib["tumour"].e_rev, lib["tumour"].k)
    assert t.provenance.electrical.startswith("sigma0, e_irr set in the config")
    assert t.provenance.thermal == lib["tumour"].provenance.thermal
    # setting the library's own values changes nothing, provenance included
    same = load("  tumour: {sigma0: 0.2, sigma1: 0.7, e_rev: 400, e_irr: 800}")
    assert same.materials["tumour"] == lib["tumour"]


def test_new_material_needs_a_base_or_every_parameter():
    with pytest.raises(ConfigError, match="m.yaml:9: materials.gel: 'gel' is not a library"):
        load("  gel: {sigma0: 1.0}")
    cfg = load("  gel: {base: fat, sigma0: 1.0, sigma1: 2.0}")
    assert cfg.materials["gel"].k == material_library()["fat"].k
    with pytest.raises(ConfigError, match="materials.gel.base: unknown library material 'fatt'"):
        load("  gel: {base: fatt}")
    full = (
        "  gel: {sigma0: 1, sigma1: 2, e_rev: 300, e_irr: 600, k: '0.6 W/m/K', "
        "rho: '1000 kg/m^3', c: '4000 J/kg/K', alpha: '2 %/K', w_b: '0 1/s', q_m: '0 W/m^3', "
        "ec0: '3 kV/cm', a0: '1 kV/cm', k1: 0, k2: 0, provenance: {electrical: e, thermal: t, "
        "survival: s}}"
    )
    gel = load(full).materials["gel"]
    assert (gel.sigma1, gel.e_irr, gel.alpha, gel.ec0) == (2.0, 6e4, 0.02, 3e5)
    assert gel.provenance.survival == "s"
    unnoted = load(full.replace(", provenance: {electrical: e, thermal: t, survival: s}", ""))
    note = unnoted.materials["gel"].provenance.thermal
    assert note.startswith("k, rho, c, alpha, w_b, q_m set in the config without a provenance")


def test_override_must_stay_physical():
    with pytest.raises(ConfigError, match="materials.tumour: sigma1 .* is below sigma0"):
        load("  tumour: {sigma0: 0.9}")
    with pytest.raises(ConfigError, match="materials.liver: e_irr .* must be above e_rev"):
        load("  liver: {e_rev: 800}")
    with pytest.raises(ConfigError, match="materials.liver.rho: must be > 0"):
        load("  liver: {rho: '-1 kg/m^3'}")
    with pytest.raises(ConfigError, match="materials.liver.rho: missing unit"):
        load("  liver: {rho: 1000}")
    with pytest.raises(ConfigError, match="materials.liver.sigma: unknown key 'sigma'"):
        load("  liver: {sigma: 1}")
