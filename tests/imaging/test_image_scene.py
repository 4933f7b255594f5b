"""Image scenes end to end: the same anatomy as a label map and as analytic shapes gives the
same coverage and currents; results come back on the image grid; bad input exits 2.

Kept light for the suite: both scenes are meshed and solved as `run_config` does, without the
per-cell outcomes (the runs' time is mostly compilation, once per mesh), coverage summed here;
linear conductivity and the Jacobi preconditioner. `epsim run` on an image scene, NIfTI outputs
included, runs in tests/optimise/test_image_scene.py."""

import math
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.config import load_config
from epsim.translate import material_mesh, scene_mesh
from epsim.config.loader import load_config_text, resolved_to_yaml
from epsim.imaging.labelmap import LabelImage
from epsim.imaging.nifti import write_nifti
from epsim.imaging.outputs import image_output_paths, write_cell_images
from epsim.imaging.resample import CellLocator
from epsim.runner import solve_config
from epsim.outcomes import cell_volumes
from tests.helpers.label_maps import oblique_affine

TUMOUR_MM = 6.0  # radius, at the origin
UNITS = {"length": "mm", "voltage": "V", "field": "V/cm", "conductivity": "S/m", "time": "us"}
NEEDLES = [
    {"name": "a", "type": "needle", "tip": [-5, 0, -10], "entry": [-5, 0, 20], "diameter": 1.2,
     "active_length": 20},
    {"name": "b", "type": "needle", "tip": [5, 0, -10], "entry": [5, 0, 20], "diameter": 1.2,
     "active_length": 20},
]
MESH = {"size": 8, "target_size": 1.5, "electrode_size": 0.8}


def labels_file(folder, angles=(10.0, -6.0, 14.0)):
    """Liver (1) everywhere with a tumour ball (2) at the origin, 1 mm voxels, oblique."""
    n = 64
    affine = oblique_affine(n, 1.0, (0.0, 0.0, 0.0), angles)
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    labels = np.where(np.linalg.norm(world, axis=-1) < TUMOUR_MM, 2, 1).astype(np.uint8)
    path = folder / "labels.nii.gz"
    write_nifti(path, labels, LabelImage(labels, affine, xform_codes=(1, 1)))
    return path


def config(folder, scene, name="image", **changes):
    data = {
        "name": name, "units": UNITS, "scene": scene, "electrodes": NEEDLES,
        "protocol": {"pulses": {"count": 8, "width": 100, "rate": "1 Hz"},
                     "pairs": [{"anode": "a", "cathode": "b", "voltage": 550}]},
        "physics": {"conductivity": "linear"}, "solver": {"preconditioner": "jacobi"},
        "output": {"file": f"{name}.h5"},
    }
    data.update(changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def image_scene(**image):
    section = {"file": "labels.nii.gz",
               "labels": {1: "liver", 2: {"name": "tumour", "material": "tumour",
                                          "role": "target"}},
               "background": "liver", "crop": {"center": [0, 0, 0], "size": [40, 40, 40]}}
    section.update(image)
    return {"image": section, "mesh": MESH}


ANALYTIC = {
    "domain": {"shape": "box", "size": [40, 40, 40], "material": "liver"},
    "structures": [{"name": "tumour", "shape": "sphere", "center": [0, 0, 0],
                    "radius": TUMOUR_MM, "material": "tumour", "role": "target"}],
    "mesh": MESH,
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("image_scene")
    labels_file(folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("EPSIM_CACHE", str(folder / "cache"))
    try:
        cfg = load_config(config(folder, image_scene()))
        image = solved_coverage(cfg)
        analytic = solved_coverage(load_config(config(folder, ANALYTIC, name="analytic")))
    finally:
        mp.undo()
    return folder, cfg, image, analytic


@dataclass
class Solved:
    """A config meshed and solved as `run_config` does (without the per-cell outcomes)."""

    mesh: object  # one region per named part
    e_max: np.ndarray  # (n_cells,) V/m
    current: np.ndarray  # (n_pairs,) A
    tumour_volume: float  # m^3
    coverage: float  # tumour volume fraction at or above E_rev


def solved_coverage(cfg) -> Solved:
    parts = scene_mesh(cfg)
    fields, _ = solve_config(cfg, material_mesh(cfg, parts))
    inside = parts.cell_region == parts.region_id("tumour")
    volumes, e_max = cell_volumes(parts), np.asarray(fields.e_max)
    covered = e_max[inside] >= cfg.materials["tumour"].e_rev
    return Solved(parts, e_max, np.asarray(fields.current), volumes[inside].sum(),
                  volumes[inside][covered].sum() / volumes[inside].sum())


@pytest.mark.slow
def test_image_scene_matches_the_analytic_scene(runs):
    _, _, image, analytic = runs
    assert 0.3 < analytic.coverage < 0.97  # a coverage that can tell meshes apart
    assert abs(image.coverage - analytic.coverage) < 0.02
    np.testing.assert_allclose(image.current, analytic.current, rtol=0.03)
    volume = 4 / 3 * math.pi * (TUMOUR_MM * 1e-3) ** 3
    assert image.tumour_volume == pytest.approx(volume, rel=0.05)  # the needles miss the ball
    assert analytic.tumour_volume == pytest.approx(volume, rel=0.05)


@pytest.mark.slow
def test_results_on_the_image_grid(runs, tmp_path):
    folder, cfg, image, _ = runs
    full = nib.load(folder / "labels.nii.gz")
    coarse = full.affine @ np.diag([4.0, 4.0, 4.0, 1.0])  # every fourth voxel: a cheaper grid
    grid = LabelImage(np.zeros((16, 16, 16), np.uint8), coarse)
    paths = image_output_paths(tmp_path / "run", heated=False)
    points, cells = np.asarray(image.mesh.points), image.mesh.cells
    write_cell_images({"e_max": paths["e_max"]}, points, cells, {"e_max": image.e_max}, grid)
    out = nib.load(paths["e_max"])
    np.testing.assert_array_equal(out.affine, coarse)
    values = np.asarray(out.dataobj)
    rng = np.random.default_rng(0)
    ijk = rng.integers(0, 16, size=(200, 3))
    cell = CellLocator(points, cells).locate(grid.world_mm(ijk) * 1e-3)
    inside = cell >= 0
    assert inside.sum() > 20 and (~inside).sum() > 20  # the grid reaches beyond the crop box
    np.testing.assert_allclose(values[tuple(ijk[inside].T)],
                               image.e_max[cell[inside]] * 1e-2, rtol=1e-6)  # V/cm
    assert np.all(values[tuple(ijk[~inside].T)] == 0)


def check_fails(path, capsys, *words):
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def test_bad_image_scenes_exit_2(tmp_path, capsys):
    labels_file(tmp_path)
    absent = image_scene(labels={1: "liver", 3: {"material": "tumour", "role": "target"}})
    check_fails(config(tmp_path, absent, name="absent"), capsys, "absent.yaml", "label 3")
    empty = image_scene(crop={"center": [0, 0, -12], "size": [20, 20, 8]})  # below the ball
    check_fails(config(tmp_path, empty, name="empty"), capsys, "empty.yaml", "no voxels")
    outside = [dict(NEEDLES[0], tip=[-5, 0, 50], entry=[-5, 0, 80]), NEEDLES[1]]
    scene = image_scene(crop={"center": [0, 0, 10], "size": [40, 40, 100]})
    check_fails(config(tmp_path, scene, name="outside", electrodes=outside), capsys,
                "outside.yaml", "outside the labelled tissue")
    missing = image_scene(file="nowhere.nii.gz")
    check_fails(config(tmp_path, missing, name="missing"), capsys, "missing.yaml",
                "nowhere.nii.gz")
    both = dict(image_scene(), domain=ANALYTIC["domain"])
    check_fails(config(tmp_path, both, name="both"), capsys, "both.yaml", "either domain")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".h5") == []


def test_resolved_image_scene_round_trips(tmp_path):
    labels_file(tmp_path)
    scene = image_scene()
    del scene["image"]["crop"]  # the labelled extent: the whole rotated grid
    cfg = load_config(config(tmp_path, scene))
    crop = cfg.scene.image.crop
    assert np.all(np.asarray(crop.size) > 0.064) and np.allclose(crop.center, 0, atol=1e-6)
    assert cfg.scene.image.file.is_absolute()
    text = resolved_to_yaml(cfg)  # the crop box and the absolute path written out
    assert resolved_to_yaml(load_config_text(text, base_dir=tmp_path / "elsewhere")) == text


@pytest.mark.slow
def test_sweep_moves_a_needle_in_an_image_scene(runs, tmp_path, capsys):
    """A geometry axis remeshes the image scene per point: the point at the config's own tip is
    the image run above, the needle moved 1 mm out covers less."""
    labels_file(tmp_path)
    path = config(tmp_path, image_scene(), name="sweep",
                  sweep={"axes": {"electrodes[0].tip[0]": [-6, -5]}})
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--workers", "1"]) == 0
    rows = capsys.readouterr().out
    farther, planned = [line for line in rows.splitlines() if "tip[0] = " in line]
    cover = [float(line.split()[-3]) for line in (farther, planned)]
    assert math.isclose(cover[1], 100 * runs[2].coverage, abs_tol=0.01), rows
    assert cover[0] < cover[1] - 5, rows
