"""The gmsh scene builder: volumes, tags and areas against analytic values, errors, hygiene."""

import math

import numpy as np
import pytest

from epsim.errors import ElectrodeError, MeshError
from epsim.mesh import (
    Box,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    MeshSizes,
    Needle,
    Sphere,
    SphereHole,
    SphereInclusion,
    boundary_facets,
    build_mesh,
    signed_volumes,
)
from epsim.mesh import gmsh as gmsh_module
from epsim.mesh.ordering import morton_codes
from epsim.mesh.scene import segment_distance

MM = 1e-3
BOX = Box(center=(0.0, 0.0, 0.0), size=(20 * MM, 20 * MM, 20 * MM))
TUMOUR_R = 4 * MM
NEEDLE_R, ACTIVE, TIP_Z = 0.5 * MM, 6 * MM, -2 * MM
NEEDLE = Needle("n1", tip=(0.0, 0.0, TIP_Z), entry=(0.0, 0.0, 30 * MM), radius=NEEDLE_R,
                active_length=ACTIVE)


def tri_areas(mesh, tag):
    x = np.asarray(mesh.points)[mesh.facets[tag]]
    return 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1)


def region_volume(mesh, name):
    volumes = signed_volumes(mesh.points, mesh.cells)
    return volumes[mesh.cell_region == mesh.region_id(name)].sum()


def assert_tags_cover_boundary(mesh):
    """Every boundary triangle of the tets is in exactly one tag, and every tag is boundary."""
    outer = {tuple(sorted(t)) for t in boundary_facets(mesh.cells)}
    tagged = [tuple(sorted(t)) for tri in mesh.facets.values() for t in tri]
    assert len(tagged) == len(set(tagged))
    assert set(tagged) == outer


@pytest.fixture(scope="module")
def needle_in_tumour():
    """A 2 cm box, a 4 mm tumour, and a needle through it (tip 2 mm below the centre)."""
    return build_mesh(
        BOX,
        inclusions=[SphereInclusion("tumour", (0.0, 0.0, 0.0), TUMOUR_R, material="tumour")],
        holes=[NEEDLE],
        sizes=MeshSizes(size=3 * MM, inclusion_size=0.8 * MM, electrode_size=0.25 * MM),
    )


def test_regions_and_volumes(needle_in_tumour):
    mesh = needle_in_tumour
    assert mesh.region_names == ("tissue", "tumour")
    volumes = signed_volumes(mesh.points, mesh.cells)
    assert np.all(volumes > 0)
    box = 20 * MM**3 * 400
    hole = math.pi * NEEDLE_R**2 * (10 * MM - TIP_Z)
    assert abs(volumes.sum() - (box - hole)) < 1e-4 * box
    # the tumour minus the part of the needle inside it (tip to the top of the sphere)
    chord_top = math.sqrt(TUMOUR_R**2 - NEEDLE_R**2)
    tumour = 4 / 3 * math.pi * TUMOUR_R**3 - math.pi * NEEDLE_R**2 * (chord_top - TIP_Z)
    assert region_volume(mesh, "tumour") == pytest.approx(tumour, rel=0.03)


def test_needle_tags_and_areas(needle_in_tumour):
    mesh = needle_in_tumour
    expected = {"xmin", "xmax", "ymin", "ymax", "zmin", "zmax", "n1", "n1_insulated"}
    assert set(mesh.facets) == expected
    assert_tags_cover_boundary(mesh)
    active = 2 * math.pi * NEEDLE_R * ACTIVE + math.pi * NEEDLE_R**2
    assert tri_areas(mesh, "n1").sum() == pytest.approx(active, rel=0.03)
    insulated = 2 * math.pi * NEEDLE_R * (10 * MM - TIP_Z - ACTIVE)
    assert tri_areas(mesh, "n1_insulated").sum() == pytest.approx(insulated, rel=0.03)
    # the top face lost the needle's cross-section, the others are whole
    assert tri_areas(mesh, "zmax").sum() == pytest.approx(4e-4 - math.pi * NEEDLE_R**2, rel=1e-3)
    assert tri_areas(mesh, "xmin").sum() == pytest.approx(4e-4, rel=1e-12)


def test_tagged_nodes_lie_on_their_surfaces(needle_in_tumour):
    mesh = needle_in_tumour
    p = np.asarray(mesh.points)
    for axis, name in enumerate("xyz"):
        np.testing.assert_allclose(p[mesh.facet_nodes(name + "min"), axis], -10 * MM, atol=1e-12)
        np.testing.assert_allclose(p[mesh.facet_nodes(name + "max"), axis], 10 * MM, atol=1e-12)
    active = p[mesh.facet_nodes("n1")]
    radius = np.hypot(active[:, 0], active[:, 1])
    on_tip = np.abs(active[:, 2] - TIP_Z) < 1e-9
    np.testing.assert_allclose(radius[~on_tip], NEEDLE_R, rtol=1e-6)
    assert np.all(radius[on_tip] <= NEEDLE_R * (1 + 1e-6))
    assert active[:, 2].min() == pytest.approx(TIP_Z) and active[:, 2].max() == pytest.approx(
        TIP_Z + ACTIVE
    )
    insulated = p[mesh.facet_nodes("n1_insulated")]
    np.testing.assert_allclose(np.hypot(insulated[:, 0], insulated[:, 1]), NEEDLE_R, rtol=1e-6)
    assert insulated[:, 2].min() == pytest.approx(TIP_Z + ACTIVE)


def test_cells_are_refined_near_the_needle(needle_in_tumour):
    mesh = needle_in_tumour
    p = np.asarray(mesh.points)
    volumes = signed_volumes(p, mesh.cells)
    touches_needle = np.isin(mesh.cells, mesh.facet_nodes("n1")).any(axis=1)
    centroid = p[mesh.cells].mean(axis=1)
    far = np.hypot(centroid[:, 0], centroid[:, 1]) > 7 * MM
    assert volumes[touches_needle].mean() < volumes[far].mean() / 50


def test_nodes_and_cells_come_in_locality_order(needle_in_tumour):
    mesh = needle_in_tumour
    codes = morton_codes(np.asarray(mesh.points))
    assert np.all(codes[1:] >= codes[:-1])
    assert np.all(np.diff(mesh.cells.min(axis=1)) >= 0)
    span = mesh.cells.max(axis=1) - mesh.cells.min(axis=1)
    assert np.median(span) < 0.05 * mesh.n_nodes


def test_coaxial_cylinder():
    r_in, r_out, height = 1 * MM, 8 * MM, 4 * MM
    domain = Cylinder(base_center=(0, 0, 0), axis=(0, 0, 1), radius=r_out, height=height)
    needle = Needle("inner", tip=(0, 0, 0), entry=(0, 0, height), radius=r_in,
                    active_length=height)
    mesh = build_mesh(domain, holes=[needle], sizes=MeshSizes(2 * MM, electrode_size=0.4 * MM))
    assert set(mesh.facets) == {"outer", "bottom", "top", "inner", "inner_insulated"}
    assert len(mesh.facets["inner_insulated"]) == 0
    assert_tags_cover_boundary(mesh)
    p = np.asarray(mesh.points)
    np.testing.assert_allclose(np.hypot(*p[mesh.facet_nodes("inner"), :2].T), r_in, rtol=1e-6)
    np.testing.assert_allclose(np.hypot(*p[mesh.facet_nodes("outer"), :2].T), r_out, rtol=1e-6)
    np.testing.assert_allclose(p[mesh.facet_nodes("bottom"), 2], 0.0, atol=1e-12)
    np.testing.assert_allclose(p[mesh.facet_nodes("top"), 2], height, atol=1e-12)
    assert tri_areas(mesh, "inner").sum() == pytest.approx(2 * math.pi * r_in * height, rel=0.03)
    annulus = math.pi * (r_out**2 - r_in**2)
    assert tri_areas(mesh, "top").sum() == pytest.approx(annulus, rel=0.03)


def test_tilted_cylinder_with_inclusions():
    axis = np.array([1.0, 1.0, 1.0]) / math.sqrt(3)
    radius, height = 10 * MM, 20 * MM
    centre = axis * height / 2
    domain = Cylinder(base_center=(0, 0, 0), axis=axis, radius=radius, height=height)
    radii = (4 * MM, 3 * MM, 2 * MM)
    inclusions = [
        EllipsoidInclusion("lesion", centre, radii, material="tumour"),
        SphereInclusion("satellite", centre + 6 * MM * np.array([1, -1, 0]) / math.sqrt(2),
                        1.5 * MM, material="tumour"),
        CylinderInclusion("vessel", centre - 30 * MM * axis, axis, 1 * MM, 60 * MM, "blood"),
    ]
    mesh = build_mesh(domain, inclusions, sizes=MeshSizes(3 * MM, inclusion_size=0.6 * MM))
    assert mesh.region_names == ("tissue", "tumour", "blood")  # shared material, one region
    assert set(mesh.facets) == {"outer", "bottom", "top"}
    assert_tags_cover_boundary(mesh)
    # the vessel runs along the axis through the ellipsoid: it wins where they overlap
    chord = 2 / math.sqrt(np.sum(axis**2 / np.square(radii)))  # the vessel axis in the lesion
    ellipsoid = 4 / 3 * math.pi * np.prod(radii) - math.pi * MM**2 * chord
    satellite = 4 / 3 * math.pi * (1.5 * MM) ** 3
    # a 1 mm vessel at 0.6 mm cells has ~10 facets around: the inscribed polygon loses ~4 %
    assert region_volume(mesh, "blood") == pytest.approx(math.pi * MM**2 * height, rel=0.06)
    assert region_volume(mesh, "tumour") == pytest.approx(ellipsoid + satellite, rel=0.03)
    total = signed_volumes(mesh.points, mesh.cells).sum()
    assert total == pytest.approx(math.pi * radius**2 * height, rel=0.02)
    assert tri_areas(mesh, "outer").sum() == pytest.approx(2 * math.pi * radius * height, rel=0.02)
    for cap in ("bottom", "top"):
        assert tri_areas(mesh, cap).sum() == pytest.approx(math.pi * radius**2, rel=0.02)


def test_concentric_spheres():
    mesh = build_mesh(
        Sphere((0, 0, 0), 10 * MM),
        holes=[SphereHole("inner", (0, 0, 0), 3 * MM)],
        sizes=MeshSizes(2.5 * MM, electrode_size=1 * MM),
    )
    assert set(mesh.facets) == {"outer", "inner"}
    assert_tags_cover_boundary(mesh)
    p = np.asarray(mesh.points)
    np.testing.assert_allclose(np.linalg.norm(p[mesh.facet_nodes("inner")], axis=1), 3 * MM)
    np.testing.assert_allclose(np.linalg.norm(p[mesh.facet_nodes("outer")], axis=1), 10 * MM)


def small_scene():
    return dict(
        domain=Box((0, 0, 0), (10 * MM, 10 * MM, 10 * MM)),
        holes=[Needle("a", (-2 * MM, 0, 0), (-2 * MM, 0, 1), 0.4 * MM, 3 * MM),
               Needle("b", (2 * MM, 0, 0), (2 * MM, 0, 1), 0.4 * MM, 3 * MM)],
        sizes=MeshSizes(2.5 * MM, electrode_size=0.4 * MM),
    )


def test_meshing_is_deterministic():
    first, second = build_mesh(**small_scene()), build_mesh(**small_scene())
    np.testing.assert_array_equal(first.points, second.points)
    np.testing.assert_array_equal(first.cells, second.cells)
    assert first.facets.keys() == second.facets.keys()
    for tag in first.facets:
        np.testing.assert_array_equal(first.facets[tag], second.facets[tag])


def test_gmsh_is_left_as_found():
    import gmsh

    assert not gmsh.isInitialized()
    build_mesh(BOX)  # default sizes
    assert not gmsh.isInitialized()
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("mine")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 123.0)
        mesh = build_mesh(**small_scene())
        assert gmsh.isInitialized() and gmsh.model.getCurrent() == "mine"
        assert gmsh.option.getNumber("Mesh.MeshSizeMax") == 123.0
        assert mesh.n_cells > 0
    finally:
        gmsh.finalize()


def test_needle_tip_outside_the_domain_raises():
    outside = Needle("stray", (0, 0, 15 * MM), (0, 0, 30 * MM), 0.5 * MM, 5 * MM)
    with pytest.raises(ElectrodeError, match="'stray'.*outside"):
        build_mesh(BOX, holes=[outside])


def test_overlapping_holes_raise():
    a = Needle("a", (0, 0, 0), (0, 0, 1), 0.5 * MM, 3 * MM)
    b = Needle("b", (0.8 * MM, 0, -3 * MM), (0.8 * MM, 0, 1), 0.5 * MM, 3 * MM)
    with pytest.raises(ElectrodeError, match="'a' and 'b' overlap"):
        build_mesh(BOX, holes=[a, b])
    with pytest.raises(ElectrodeError, match="overlap"):
        build_mesh(BOX, holes=[a, SphereHole("s", (2 * MM, 0, 2 * MM), 1.8 * MM)])


def test_needles_may_cross_outside_the_domain():
    # shafts cross 2 mm above the top face; inside the box they stay about 1 mm apart
    a = Needle("a", (-3 * MM, 0, 0), (3 * MM, 0, 24 * MM), 0.3 * MM, 4 * MM)
    b = Needle("b", (3 * MM, 0, 0), (-3 * MM, 0, 24 * MM), 0.3 * MM, 4 * MM)
    sizes = MeshSizes(4 * MM, electrode_size=0.15 * MM, grading_distance=3 * MM)
    mesh = build_mesh(BOX, holes=[a, b], sizes=sizes)
    assert_tags_cover_boundary(mesh)
    active = 2 * math.pi * 0.3 * MM * 4 * MM + math.pi * (0.3 * MM) ** 2
    for name in ("a", "b"):
        assert tri_areas(mesh, name).sum() == pytest.approx(active, rel=0.03)


def test_bad_scenes_raise():
    a = Needle("a", (0, 0, 0), (0, 0, 1), 0.5 * MM, 3 * MM)
    with pytest.raises(ElectrodeError, match="clash"):
        build_mesh(BOX, holes=[a, SphereHole("a_insulated", (5 * MM, 5 * MM, 5 * MM), MM)])
    with pytest.raises(ElectrodeError, match="outside"):
        build_mesh(BOX, holes=[SphereHole("s", (0, 0, 0.5), MM)])
    with pytest.raises(ElectrodeError, match="same point"):
        Needle("z", (0, 0, 0), (0, 0, 0), 0.5 * MM, 3 * MM)
    with pytest.raises(ElectrodeError, match="radius"):
        Needle("z", (0, 0, 0), (0, 0, 1), -0.5 * MM, 3 * MM)
    with pytest.raises(MeshError, match="does not intersect"):
        build_mesh(BOX, [SphereInclusion("far", (1.0, 0, 0), MM, "tumour")])


def test_gmsh_failures_become_mesh_errors(monkeypatch):
    import gmsh

    def broken(*args, **kwargs):
        raise Exception("simulated gmsh failure")

    monkeypatch.setattr(gmsh_module, "_build_geometry", broken)
    with pytest.raises(MeshError, match="simulated gmsh failure"):
        build_mesh(BOX, isolate=False)  # the patch lives in this process
    assert not gmsh.isInitialized()


def test_isolated_and_in_process_meshes_are_identical():
    holes = [Needle("a", (-5 * MM, 0, -5 * MM), (-5 * MM, 0, 20 * MM), 0.5 * MM, 8 * MM)]
    sizes = MeshSizes(size=6 * MM, electrode_size=MM)
    inclusions = [SphereInclusion("t", (0, 0, 0), 4 * MM, "tumour", mesh_size=2 * MM)]
    a = build_mesh(BOX, inclusions, holes, sizes)
    b = build_mesh(BOX, inclusions, holes, sizes, isolate=False)
    np.testing.assert_array_equal(np.asarray(a.points), np.asarray(b.points))
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_array_equal(a.cell_region, b.cell_region)
    assert a.region_names == b.region_names
    assert {k: v.tolist() for k, v in a.facets.items()} == {k: v.tolist() for k, v in b.facets.items()}


@pytest.mark.parametrize(
    "a0, a1, b0, b1, expected",
    [
        ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), 1.0),  # parallel
        ((0, 0, 0), (1, 0, 0), (0.5, -1, 2), (0.5, 1, 2), 2.0),  # skew, crossing in plan
        ((0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 0), 1.0),  # collinear, apart
        ((0, 0, 0), (1, 0, 0), (2, 1, 0), (2, 2, 0), math.sqrt(2)),  # endpoint to endpoint
        ((0, 0, 0), (0, 0, 0), (1, -1, 0), (1, 1, 0), 1.0),  # a point
    ],
)
def test_segment_distance(a0, a1, b0, b1, expected):
    assert segment_distance(a0, a1, b0, b1) == pytest.approx(expected)
    assert segment_distance(b0, b1, a0, a1) == pytest.approx(expected)
