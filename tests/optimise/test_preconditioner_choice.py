"""Which preconditioner the planner solves with: Jacobi for small meshes (its programs compile
fast), AMG for configs whose mesh is estimated at AMG_MIN_CELLS or more."""

from pathlib import Path

from epsim.budget import mesh_size
from epsim.config import load_config
from epsim.optimise.setup import AMG_MIN_CELLS, planning_preconditioner, read_request
from epsim.solve import Amg, Jacobi
from tests.helpers.plans import tiny_plan_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_a_small_scene_keeps_jacobi(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_plan_config())
    cfg, _, _ = read_request(path)
    assert mesh_size(cfg)[0] < AMG_MIN_CELLS
    assert planning_preconditioner(cfg) == Jacobi()


def test_a_large_scene_of_shapes_gets_amg():
    cfg = load_config(CONFIGS / "pelvic_deep_seated_plan.yaml")
    assert mesh_size(cfg)[0] >= AMG_MIN_CELLS
    assert planning_preconditioner(cfg) == Amg()


def test_a_large_image_scene_gets_amg():
    cfg = load_config(CONFIGS / "phantom_liver_image.yaml")
    assert mesh_size(cfg)[0] >= AMG_MIN_CELLS
    assert planning_preconditioner(cfg) == Amg()
