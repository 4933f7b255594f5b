"""Label map -> tagged tetrahedral mesh: volumes against the analytic anatomy the labels were
rasterised from (1 mm voxels, oblique affine), tags, conformity, needles, quality, sizes."""

import dataclasses

import numpy as np
import pytest

from epsim.imaging import LabelImage
from epsim.imaging.levelset import label_field, labelled_extent
from epsim.imaging.mesher import (
    ImageLabel,
    ImageScene,
    box_mesh,
    image_digest,
    label_sizes,
    tag_regions,
)
from epsim.mesh.quality import quality_report
from epsim.mesh.scene import Box, MeshSizes, Needle
from epsim.mesh.tetmesh import signed_volumes
from tests.helpers.label_maps import LIVER, TUMOUR, VESSEL, sphere_tube_labels

CROP_MM = 50.0


@pytest.fixture(scope="module")
def case():
    """One gmsh run, tagged with snapping (the `mesh_image` mesh) and without."""
    image, shapes = sphere_tube_labels(n=60)  # covers the 50 mm crop box (and its margin)
    c = shapes.centre * 1e-3
    crop = Box(center=tuple(c), size=(CROP_MM * 1e-3,) * 3, material="fat")
    table = (ImageLabel(LIVER, "liver", "liver"),
             ImageLabel(TUMOUR, "tumour", "tumour", mesh_size=1e-3),
             ImageLabel(VESSEL, "portal_vein", "blood", keep_out=True))
    scene = ImageScene(image, table, crop)
    t = shapes.tumour_centre * 1e-3
    needle = Needle("n1", tip=tuple(t + [0, 5e-3, -8e-3]), entry=tuple(t + [0, 5e-3, 0.03]),
                    radius=5e-4, active_length=0.015)
    box, field = box_mesh(scene, [needle], MeshSizes(size=4e-3, electrode_size=4e-4))
    mesh = tag_regions(box, field, scene)
    return scene, shapes, needle, mesh, tag_regions(box, field, scene, snap=False)


def region_volume(mesh, name):
    volumes = signed_volumes(np.asarray(mesh.points), mesh.cells)
    return float(volumes[mesh.cell_region == mesh.region_id(name)].sum()) * 1e9  # mm^3


def test_volumes_match_the_analytic_anatomy(case):
    _, shapes, needle, mesh, _ = case
    # the needle's hole takes its share of the tumour: pi r^2 times its length inside the ball
    assert region_volume(mesh, "tumour") == pytest.approx(shapes.tumour_volume, rel=0.03)
    # the vessel crosses the whole crop box along world y
    assert region_volume(mesh, "portal_vein") == pytest.approx(
        shapes.vessel_volume(CROP_MM), rel=0.05)
    total = sum(region_volume(mesh, r) for r in mesh.region_names)
    hole = np.pi * (needle.radius * 1e3) ** 2 * 0.5 * CROP_MM + 30.0  # about, with the tip
    assert total == pytest.approx(CROP_MM**3, abs=hole)


def test_every_cell_tagged_and_faces_shared(case):
    scene, _, needle, mesh, _ = case
    assert mesh.region_names == ("fat", "liver", "tumour", "portal_vein")
    region = np.asarray(mesh.cell_region)
    assert region.min() >= 0 and region.max() < len(mesh.region_names)
    assert all(np.any(region == k) for k in range(len(mesh.region_names)))
    faces = np.sort(mesh.cells[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3), 1)
    _, counts = np.unique(faces, axis=0, return_counts=True)
    assert counts.max() == 2  # no face in three cells
    boundary = {tuple(f) for f, k in zip(*np.unique(faces, axis=0, return_counts=True)) if k == 1}
    tagged = {tuple(f) for tri in mesh.facets.values() for f in np.sort(tri, axis=1)}
    assert boundary == tagged  # one-cell faces are exactly the box's and the needle's facets
    assert np.all(signed_volumes(np.asarray(mesh.points), mesh.cells) > 0)


def test_needle_cut_in_as_in_analytic_scenes(case):
    _, _, needle, mesh, _ = case
    points = np.asarray(mesh.points)
    tip, entry = np.asarray(needle.tip), np.asarray(needle.entry)
    axis = (entry - tip) / np.linalg.norm(entry - tip)
    for tag, (a, b) in ((needle.name, (0.0, needle.active_length)),
                        (needle.insulated_name, (needle.active_length, 0.02))):
        nodes = points[np.unique(mesh.facets[tag])]
        s = (nodes - tip) @ axis
        radial = np.linalg.norm(nodes - tip - s[:, None] * axis, axis=1)
        shaft = (s > a + 1e-6) & (s < b - 1e-6)
        assert shaft.sum() > 20
        np.testing.assert_allclose(radial[shaft], needle.radius, rtol=2e-3)
    edges = np.linalg.norm(points[mesh.cells[:, 0]] - points[mesh.cells[:, 1]], axis=1)
    near = np.isin(mesh.cells[:, 0], np.unique(mesh.facets[needle.name]))
    assert np.median(edges[near]) < 1.2e-3  # refined along the needle (size 4 mm far away)


def test_quality_and_sizes_per_label(case):
    scene, _, _, mesh, _ = case
    report = quality_report(mesh)
    assert report.min_ratio > 0.1 and report.slivers == 0
    points = np.asarray(mesh.points)
    edges = np.linalg.norm(points[mesh.cells[:, 0]] - points[mesh.cells[:, 1]], axis=1)
    median = {r: np.median(edges[mesh.cell_region == k]) for k, r in enumerate(mesh.region_names)}
    assert median["tumour"] < 1.5e-3 < median["liver"] < median["fat"]  # graded towards 4 mm
    # the vessel (3.5 mm radius) is capped at half its largest inscribed radius
    sizes = label_sizes(scene, 4e-3)
    assert sizes[0] == 4e-3 and sizes[1] == 1e-3 and 1.4e-3 < sizes[2] <= 1.75e-3


def test_snapping_keeps_boundaries_and_volumes(case):
    scene, shapes, needle, mesh, plain = case
    assert plain.n_cells == mesh.n_cells and np.array_equal(plain.cells, mesh.cells)
    moved = np.linalg.norm(np.asarray(plain.points) - np.asarray(mesh.points), axis=1) > 0
    assert moved.sum() > 100
    on_facets = np.unique(np.concatenate([f.ravel() for f in mesh.facets.values()]))
    assert not moved[on_facets].any()
    assert region_volume(plain, "tumour") == pytest.approx(shapes.tumour_volume, rel=0.03)


def test_region_at_voxel_centres_and_extent():
    image, shapes = sphere_tube_labels(n=40)
    lo, hi = labelled_extent(image)
    field = label_field(image, (LIVER, TUMOUR, VESSEL), lo, hi)
    ijk = np.argwhere(np.ones(image.labels.shape, bool))
    region = field.region_at(image.world_mm(ijk) * 1e-3)
    values = np.array([0, LIVER, TUMOUR, VESSEL])
    same = values[region] == image.labels.reshape(-1)
    assert same.mean() > 0.98  # smoothing changes only voxels at staircase corners
    labels = image.labels
    interior = np.ones(labels.shape, bool)  # voxels whose 26 neighbours share their label
    for shift in np.argwhere(np.ones((3, 3, 3))) - 1:
        interior &= labels == np.roll(labels, tuple(shift), axis=(0, 1, 2))
    assert same[interior.reshape(-1)].all()
    world = image.world_mm(np.argwhere(image.labels > 0)) * 1e-3
    assert np.all(world >= lo) and np.all(world <= hi)
    far = np.array([[1.0, 1.0, 1.0]])  # a metre away: outside the image, background
    assert field.region_at(far)[0] == 0


def test_digest_keys_the_voxels_and_the_affine():
    image, _ = sphere_tube_labels(n=20)
    changed = image.labels.copy()
    changed[3, 4, 5] += 1
    moved = image.affine.copy()
    moved[0, 3] += 1e-6
    digests = {image_digest(image), image_digest(LabelImage(changed, image.affine)),
               image_digest(LabelImage(image.labels, moved))}
    assert len(digests) == 3
    assert image_digest(LabelImage(image.labels.copy(), image.affine.copy())) in digests
    crop = Box(center=(0, 0, 0), size=(0.01,) * 3, material="fat")
    a = ImageScene(image, (ImageLabel(1, "liver", "liver"),), crop)
    assert a == dataclasses.replace(a) and "labels=array" not in repr(a)
