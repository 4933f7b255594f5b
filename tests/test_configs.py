"""Every shipped config and the test examples validate; the smallest runs end to end."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from epsim.cli import main
from epsim.config import load_config, needle_axes
from epsim.translate import scene_parts, scene_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "config"  # configs kept beside the config tests
CONFIGS = sorted((ROOT / "configs").glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.parent.name + "/" + p.name)
def test_config_validates_and_translates(path, capsys):
    assert main(["check", str(path)]) == 0
    assert "materials" in capsys.readouterr().out
    cfg = load_config(path)
    spec = scene_spec(cfg)
    assert spec.electrodes, "no electrodes"
    names = set(spec.electrodes)
    assert all(p.anode in names and p.cathode in names for p in cfg.protocol.pairs)
    target_materials = {material for _, material, role in scene_parts(cfg) if role == "target"}
    assert target_materials, "every shipped config has a target"


def test_required_configs_present():
    names = {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    assert {"breast_hexagonal", "breast_plates", "pelvic_deep_seated", "liver_ire", "calcium_skin"} <= names


def test_pelvic_config_matches_the_clinical_series():
    cfg = load_config(ROOT / "configs" / "pelvic_deep_seated.yaml")
    needles = needle_axes(cfg)
    assert len(needles) == 6
    assert all(n.radius == pytest.approx(0.6e-3) and n.active_length == pytest.approx(0.03) for n in needles)
    assert cfg.protocol.voltage_to_distance == pytest.approx(1e5)  # 1000 V/cm
    tumour = next(s for s in cfg.scene.structures if s.role == "target")
    assert 2 * max(tumour.radii) == pytest.approx(0.0475)


@pytest.mark.slow
def test_smallest_shipped_config_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "two_needles.h5"
    assert main(["run", str(ROOT / "configs" / "two_needles_liver.yaml"), "-o", str(out)]) == 0
    with h5py.File(out) as f:
        assert f["fields/e_max"].shape == f["mesh/cell_region"].shape
        assert np.all(np.isfinite(f["fields/potential"][()]))
        assert float(f["metrics/tumour/fraction_rev"][()]) > 0.9
    assert out.with_suffix(".vtu").is_file()
