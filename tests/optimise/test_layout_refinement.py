"""The planner's remeshes refine where the needles are now: the accurate-default rule's zone,
rims and interface cylinders follow a moved needle, and a coarse stage scales their cell sizes
with its factor (no gmsh here: the sizes the meshes would get)."""

import numpy as np
import pytest
import yaml

from epsim.mesh.sizing import RefineBox, RefineSphere
from epsim.optimise.setup import planning_setup, read_request
from tests.helpers.plans import tiny_plan_config


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    data = yaml.safe_load(tiny_plan_config())
    data["scene"]["mesh"] = {"size": 6, "accuracy": "8 %"}  # sizes from the rule
    path = tmp_path_factory.mktemp("layout") / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg, block, _ = read_request(path)
    return planning_setup(cfg, block).scene


def layout(scene, shift_b=0.0):
    tips = np.array([[-3e-3, 0, -7e-3], [3e-3 + shift_b, 0, -7e-3]])
    axes = np.array([[0, 0, 1.0], [0, 0, 1.0]])
    return scene.holes(tips, axes, np.full(2, 20e-3))


def test_the_rule_regions_follow_the_needles(scene):
    start = scene.layout_sizes(layout(scene))
    moved = scene.layout_sizes(layout(scene, shift_b=2e-3))
    zone, = [r for r in start.refine if isinstance(r, RefineBox)]
    zone_moved, = [r for r in moved.refine if isinstance(r, RefineBox)]
    assert zone_moved.center[0] - zone.center[0] == pytest.approx(1e-3)  # the midpoint moved
    rims = [r.center[0] for r in moved.refine if isinstance(r, RefineSphere)]
    assert sorted(set(np.round(rims, 6))) == pytest.approx([-3e-3, 5e-3])  # on the needles
    assert start.refine == scene.sizes.refine  # the config's own layout: as meshed by `run`


def test_a_coarse_stage_scales_the_regions(scene):
    holes = layout(scene)
    full, coarse = scene.layout_sizes(holes), scene.layout_sizes(holes, factor=2.0)
    assert coarse.size == pytest.approx(2 * full.size)
    assert [r.cell_size for r in coarse.refine] == pytest.approx(
        [2 * r.cell_size for r in full.refine])
