"""scene.mesh.accuracy and scene.mesh.refine (epsim.config.accuracy): validation at the key,
the rule's sizes filled in at resolve time, explicit sizes kept, the regions a scene gets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from epsim.config import ConfigError, load_config, load_config_text, resolved_to_yaml
from epsim.errors import InputError
from epsim.mesh.sizing import (
    GRADATION,
    NEEDLE_GRADATION,
    RefineBox,
    RefineCylinder,
    RefineSphere,
    needle_cell_size,
    plate_cell_size,
    zone_cell_size,
)
from epsim.translate import scene_spec

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "configs" / "two_needles_liver.yaml"


def config_with(mesh: dict, pairs=None):
    data = yaml.safe_load(SHIPPED.read_text())
    data.pop("output")
    data["scene"]["mesh"] = mesh
    if pairs is not None:
        data["protocol"]["pairs"] = pairs
    return load_config_text(yaml.safe_dump(data), source="t.yaml", base_dir=ROOT)


def test_a_shipped_config_keeps_its_sizes_and_gets_no_regions():
    cfg = load_config(SHIPPED)
    m = cfg.scene.mesh
    assert (m.size, m.target_size, m.electrode_size) == pytest.approx((6e-3, 1e-3, 4e-4))
    assert m.accuracy is None and m.refine == ()
    sizes = scene_spec(cfg).sizes
    assert sizes.refine == ()
    assert sizes.grading_distance is None and sizes.gradation is None  # the meshes' defaults


def test_left_out_sizes_come_from_the_rule():
    cfg = config_with({"size": 6})
    m = cfg.scene.mesh
    assert m.accuracy == 0.02
    assert m.electrode_size == pytest.approx(needle_cell_size(6e-4))  # 1.2 mm needles
    assert m.target_size < m.size
    regions = scene_spec(cfg).sizes.refine
    zones = [r for r in regions if isinstance(r, RefineBox)]
    assert len(zones) == 1 and zones[0].cell_size == pytest.approx(m.target_size)
    assert sum(isinstance(r, RefineSphere) for r in regions) == 4  # two rims per needle
    # the 5 mm tumour's surface meets both needles (5 mm from its centre): one crossing each
    crossings = [r for r in regions if isinstance(r, RefineCylinder)]
    assert [c.center[0] for c in crossings] == pytest.approx([-5e-3, 5e-3])
    assert all(c.cell_size == pytest.approx(m.electrode_size / 2) for c in crossings)
    again = load_config_text(resolved_to_yaml(cfg))  # the resolved config states the sizes
    assert again.scene.mesh.electrode_size == pytest.approx(m.electrode_size)
    for r, q in zip(regions, scene_spec(again).sizes.refine, strict=True):
        assert type(r) is type(q) and r.center == pytest.approx(q.center, abs=1e-12)
        assert r.cell_size == pytest.approx(q.cell_size)


@pytest.mark.parametrize("accuracy, scale", [("2 %", 1.0), ("8 %", 2.0), ("0.5 %", 0.5)])
def test_the_rule_grades_sizes_slowly_and_scales_the_gradings_with_them(accuracy, scale):
    cfg = config_with({"size": 6, "accuracy": accuracy})
    m, sizes = cfg.scene.mesh, scene_spec(cfg).sizes
    # the size grows from electrode_size on the needles to the background at the slope
    slope = (m.size - m.electrode_size) / sizes.grading_distance
    assert slope == pytest.approx(NEEDLE_GRADATION * scale)
    assert sizes.gradation == pytest.approx(GRADATION * scale)
    assert m.electrode_size == pytest.approx(needle_cell_size(6e-4) * scale)


def test_a_tighter_accuracy_gives_smaller_cells_and_given_sizes_win():
    fine, coarse = (config_with({"size": 6, "accuracy": a}) for a in ("1 %", "4 %"))
    for key in ("electrode_size", "target_size"):
        assert getattr(fine.scene.mesh, key) < getattr(coarse.scene.mesh, key)
    given = config_with({"size": 6, "electrode_size": 0.4, "accuracy": "1 %"})
    assert given.scene.mesh.electrode_size == pytest.approx(4e-4)
    assert any(isinstance(r, RefineBox) for r in scene_spec(given).sizes.refine)


def test_plates_get_face_and_zone_sizes_from_their_gap():
    data = yaml.safe_load((ROOT / "configs" / "breast_plates.yaml").read_text())
    data.pop("output")
    sizes = {}
    for accuracy in ("2 %", "8 %"):
        data["scene"]["mesh"] = {"size": 4, "accuracy": accuracy}
        cfg = load_config_text(yaml.safe_dump(data), source="t.yaml", base_dir=ROOT)
        m, regions = cfg.scene.mesh, scene_spec(cfg).sizes.refine
        assert m.electrode_size == pytest.approx(plate_cell_size(0.012, m.accuracy))
        assert m.target_size == pytest.approx(zone_cell_size(0.012, m.accuracy))
        # the zone between the plates, and the four edges of each plate's face
        assert [type(r) for r in regions] == [RefineBox] + [RefineCylinder] * 8
        assert regions[0].cell_size == pytest.approx(m.target_size)
        sizes[accuracy] = m.electrode_size
    assert sizes["8 %"] == pytest.approx(2 * sizes["2 %"])


def test_idle_needles_get_no_zone():
    pairs = [{"anode": "a", "cathode": "b", "voltage": 1000}]
    data = yaml.safe_load(SHIPPED.read_text())
    data.pop("output")
    data["scene"]["mesh"] = {"size": 6}
    data["electrodes"].append({"name": "c", "type": "needle", "tip": [0, 12, -10],
                               "entry": [0, 12, 25], "diameter": 1.2, "active_length": 20})
    data["protocol"]["pairs"] = pairs * 2  # the same pair twice: one zone
    cfg = load_config_text(yaml.safe_dump(data), source="t.yaml", base_dir=ROOT)
    regions = scene_spec(cfg).sizes.refine
    assert sum(isinstance(r, RefineBox) for r in regions) == 1
    assert sum(isinstance(r, RefineSphere) for r in regions) == 4  # not around c


def test_refine_regions_in_the_config_units():
    cfg = config_with({"size": 6, "electrode_size": 0.4, "refine": [
        {"shape": "box", "center": [0, 0, 0], "edges": [10, 8, 6], "size": 1},
        {"shape": "sphere", "center": [0, 0, 0], "radius": "0.5 cm", "size": "800 um"},
        {"shape": "cylinder", "center": [1, 2, 3], "radius": 2, "height": 4, "axis": [0, 2, 0],
         "size": 0.5}]})
    box, sphere, cylinder = scene_spec(cfg).sizes.refine
    assert isinstance(box, RefineBox) and box.size == pytest.approx((0.01, 0.008, 0.006))
    assert box.cell_size == pytest.approx(1e-3)
    assert sphere.radius == pytest.approx(5e-3) and sphere.cell_size == pytest.approx(8e-4)
    assert isinstance(cylinder, RefineCylinder) and cylinder.axis == pytest.approx((0, 1, 0))
    assert cylinder.center == pytest.approx((1e-3, 2e-3, 3e-3))


@pytest.mark.parametrize("mesh, key, message", [
    ({"size": 6, "accuracy": "two"}, "scene.mesh.accuracy", "percentage"),
    ({"size": 6, "accuracy": "80 %"}, "scene.mesh.accuracy", "at most 50 %"),
    ({"size": 6, "refine": [{"shape": "cone", "size": 1}]}, "scene.mesh.refine[0].shape",
     "unknown shape"),
    ({"size": 6, "refine": [{"shape": "sphere", "center": [0, 0, 0], "radius": 2}]},
     "scene.mesh.refine[0].size", "missing"),
    ({"size": 6, "refine": [{"shape": "box", "center": [0, 0, 0], "size": [2, 2, 2]}]},
     "scene.mesh.refine[0].size", "edges"),
    ({"size": 6, "refine": [{"shape": "sphere", "center": [0, 0, 0], "radius": 2, "size": 1,
                             "material": "liver"}]}, "scene.mesh.refine[0]", "material"),
])
def test_bad_refine_and_accuracy_name_the_key(mesh, key, message):
    with pytest.raises(ConfigError) as info:
        config_with(mesh)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    text = str(info.value)
    assert key in text and message in text and "\n" not in text
