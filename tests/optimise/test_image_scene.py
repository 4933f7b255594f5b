"""Planning on image scenes: label distances against the analytic shapes they were rasterised
from (values and gradients), and the planner end to end on a tiny image scene, its plan run by
`epsim run`."""

import jax
import jax.numpy as jnp
import nibabel as nib
import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.config import load_config
from epsim.imaging.labelmap import LabelImage
from epsim.imaging.nifti import write_nifti
from epsim.optimise import run_planning
from epsim.optimise.image_scene import crop_volume, label_distance
from tests.helpers.label_maps import oblique_affine
from tests.helpers.plans import tiny_plan_config

RADIUS_MM = 4.5  # the tumour ball, at the origin
VESSEL_Y, VESSEL_Z, VESSEL_MM = 9.0, -3.0, 1.5  # a tube along world x


def ball_and_tube(n=40, spacing=1.0) -> LabelImage:
    """Liver (1) with a tumour ball (2) and a vessel tube (3), oblique voxels of `spacing` mm."""
    affine = oblique_affine(n, spacing, (0.0, 0.0, 0.0), (10.0, -6.0, 14.0))
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    labels = np.ones((n, n, n), np.uint8)
    labels[np.linalg.norm(world, axis=-1) < RADIUS_MM] = 2
    labels[np.hypot(world[..., 1] - VESSEL_Y, world[..., 2] - VESSEL_Z) < VESSEL_MM] = 3
    return LabelImage(labels, affine, xform_codes=(1, 1))


def test_label_distance_is_the_signed_distance_to_the_ball():
    image = ball_and_tube()
    lo, hi = np.full(3, -0.013), np.full(3, 0.013)
    sd = label_distance(image, 2, lo, hi)
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(400, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = rng.uniform(2.0, 12.0, 400)  # mm, inside and outside the ball (not at its centre,
    points = direction * r[:, None] * 1e-3  # where a voxel-sampled depth is 0.5-0.7 mm short)
    exact = (r - RADIUS_MM) * 1e-3
    found = np.asarray(sd(jnp.asarray(points)))
    # voxel-sampled (1 mm): within half a voxel of the exact distance
    assert np.max(np.abs(found - exact)) < 0.55e-3
    assert np.mean(np.abs(found - exact)) < 0.25e-3
    # the gradient points along the radius
    shell = r < 10.0
    grad = np.asarray(jax.vmap(jax.grad(lambda p: sd(p)))(jnp.asarray(points[shell])))
    cosine = np.sum(grad * direction[shell], axis=1) / np.linalg.norm(grad, axis=1)
    assert np.median(cosine) > 0.97 and cosine.min() > 0.6
    # beyond the voxel block: the block's edge value plus the way out, never much below
    far = np.array([[0.06, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, -0.08, 0.05]])
    exact = np.linalg.norm(far, axis=1) - RADIUS_MM * 1e-3
    values = np.asarray(sd(jnp.asarray(far)))
    assert np.all(values > exact - 0.55e-3) and np.all(values < 1.1 * exact)


def test_crop_volume_counts_the_voxels_in_the_box():
    image = ball_and_tube()
    lo, hi = np.full(3, -0.013), np.full(3, 0.013)
    ball = crop_volume(image, 2, lo, hi)  # 4.5 voxels of radius: a few % short
    assert ball == pytest.approx(4 / 3 * np.pi * (RADIUS_MM * 1e-3) ** 3, rel=0.08)
    assert ball == pytest.approx(np.count_nonzero(image.labels == 2) * 1e-9)  # all in the box
    left = crop_volume(image, 2, lo, np.array([0.0, 0.013, 0.013]))
    right = crop_volume(image, 2, np.array([0.0, -0.013, -0.013]), hi)
    assert left + right == pytest.approx(ball) and 0.4 * ball < left < 0.6 * ball
    assert crop_volume(image, 2, np.full(3, 0.005), hi) == 0.0


def image_plan_config(folder) -> str:
    """`tiny_plan_config` with its anatomy from a label map (the same shapes, rasterised)."""
    image = ball_and_tube()
    write_nifti(folder / "labels.nii.gz", image.labels, image)
    data = yaml.safe_load(tiny_plan_config())
    data["name"] = "tiny image plan"
    data["scene"] = {
        "image": {"file": "labels.nii.gz",
                  "labels": {1: "liver",
                             2: {"name": "tumour", "material": "tumour", "role": "target"},
                             3: {"name": "vessel", "material": "blood", "role": "spare"}},
                  "background": "liver",
                  "crop": {"center": [0, 0, 0], "size": [26, 26, 26]}},
        "mesh": data["scene"]["mesh"],
    }
    data["optimise"].update(linear_steps=2, nonlinear_steps=0)  # the final plan: linear stage
    path = folder / "image_plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path


@pytest.mark.slow
def test_planner_on_an_image_scene_writes_a_plan_epsim_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "input"
    source.mkdir()
    config = image_plan_config(source)
    out = tmp_path / "plan"
    report = run_planning(config, out, render=False, verify_start=False)
    goals = report.setup.goals
    assert [s.name for s in goals.targets] == ["tumour"]
    assert [s.name for s in goals.spares] == ["vessel"]
    assert report.outcome.final is not None  # the optimiser stepped on image meshes
    assert "coverage, verification (fresh mesh)" in report.text
    # plan.yaml: the label map by its absolute path, a config that loads from its own folder
    plan = yaml.safe_load((out / "plan.yaml").read_text())
    assert plan["scene"]["image"]["file"] == str((source / "labels.nii.gz").resolve())
    assert load_config(out / "plan.yaml").scene.image is not None
    assert main(["run", str(out / "plan.yaml"), "--no-paraview"]) == 0
    results = sorted(p.name for p in out.glob("plan_*.nii.gz"))
    assert "plan_e_max.nii.gz" in results and "plan_survival.nii.gz" in results
    survival = nib.load(out / "plan_survival.nii.gz")
    np.testing.assert_array_equal(survival.affine, nib.load(source / "labels.nii.gz").affine)
    values = np.asarray(survival.dataobj)
    assert 0.0 <= values.min() and values.max() <= 1.0 and values.max() > 0.0
