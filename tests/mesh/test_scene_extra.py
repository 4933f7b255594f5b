"""Scene builder extras: layers, box/tube/STL inclusions, per-inclusion sizes, plate electrodes,
keep-out structures, the geometry the config layer shares (exit distances, segment distances,
errors naming the holes). Volumes and areas against analytic values, tags, errors."""

import math

import numpy as np
import pytest

from epsim.errors import ElectrodeError, MeshError
from epsim.mesh import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    MeshSizes,
    Needle,
    PlateHole,
    Sphere,
    SphereHole,
    SphereInclusion,
    StlInclusion,
    TubeInclusion,
    boundary_facets,
    build_mesh,
    check_scene,
    layer_inclusions,
    plate_pair,
    read_stl,
    signed_volumes,
)
from epsim.mesh.scene import (
    HoleError,
    exit_point,
    needle_path,
    plate_axes,
    point_line_distance,
    segment_distance,
)

MM = 1e-3
BOX = Box(center=(0.0, 0.0, 0.0), size=(20 * MM, 20 * MM, 20 * MM), material="muscle")
BOX_TAGS = {"xmin", "xmax", "ymin", "ymax", "zmin", "zmax"}


def tri_areas(mesh, tag):
    x = np.asarray(mesh.points)[mesh.facets[tag]]
    return 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1)


def region_volume(mesh, name):
    volumes = signed_volumes(mesh.points, mesh.cells)
    return volumes[mesh.cell_region == mesh.region_id(name)].sum()


def mean_cell_volume(mesh, name):
    volumes = signed_volumes(mesh.points, mesh.cells)
    return volumes[mesh.cell_region == mesh.region_id(name)].mean()


def assert_tags_cover_boundary(mesh):
    outer = {tuple(sorted(t)) for t in boundary_facets(mesh.cells)}
    tagged = [tuple(sorted(t)) for tri in mesh.facets.values() for t in tri]
    assert len(tagged) == len(set(tagged))
    assert set(tagged) == outer


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere: vertices (n, 3), outward-oriented triangles (m, 3)."""
    t = (1 + math.sqrt(5)) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t),
         (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
         (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9),
         (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    v = [np.asarray(x, dtype=float) / np.linalg.norm(x) for x in v]
    for _ in range(subdivisions):
        middle, finer = {}, []

        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in middle:
                m = v[a] + v[b]
                v.append(m / np.linalg.norm(m))
                middle[key] = len(v) - 1
            return middle[key]

        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            finer += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        f = finer
    return np.asarray(v), np.asarray(f)


def write_ascii_stl(path, vertices, triangles):
    lines = ["solid test"]
    for tri in vertices[triangles]:
        n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
        lines += [f"facet normal {n[0]:.9e} {n[1]:.9e} {n[2]:.9e}", "outer loop"]
        lines += [f"vertex {x:.9e} {y:.9e} {z:.9e}" for x, y, z in tri]
        lines += ["endloop", "endfacet"]
    path.write_text("\n".join(lines + ["endsolid test"]) + "\n")


def write_binary_stl(path, vertices, triangles):
    record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(triangles), record)
    data["corners"] = vertices[triangles]
    path.write_bytes(b"solid binary".ljust(80) + np.uint32(len(triangles)).tobytes()
                     + data.tobytes())


def polyhedron_volume(vertices, triangles):
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


# ------------------------------------------------------------------------------------ layers


def test_layers_structures_and_a_vessel():
    """Skin and fat from the top, a tumour half in the fat, a bone plate, a bent vessel."""
    r, tube_r = 2.5 * MM, 1 * MM
    tube = np.array([(-15, 5, -3), (0, 5, -1), (5, 12, 2)]) * MM  # leaves through xmin and ymax
    inclusions = [
        *layer_inclusions(BOX, [("skin", 1 * MM), ("fat", 3 * MM)]),
        SphereInclusion("tumour", (0, 0, 6 * MM), r, "tumour", mesh_size=0.6 * MM),
        BoxInclusion("bone", (0, -4 * MM, -7 * MM), (30 * MM, 4 * MM, 2 * MM), "bone"),
        TubeInclusion("vessel", tube, tube_r, "blood", mesh_size=0.4 * MM, keep_out=True),
    ]
    assert [inc.name for inc in inclusions[:2]] == ["layer_0_skin", "layer_1_fat"]
    mesh = build_mesh(BOX, inclusions, sizes=MeshSizes(3 * MM))
    assert mesh.region_names == ("muscle", "skin", "fat", "tumour", "bone", "blood")
    assert set(mesh.facets) == BOX_TAGS
    assert_tags_cover_boundary(mesh)
    ball = 4 / 3 * math.pi * r**3
    assert region_volume(mesh, "skin") == pytest.approx(20 * 20 * 1 * MM**3, rel=1e-9)
    # the tumour is listed after the fat: it wins where they overlap (its upper half)
    assert region_volume(mesh, "fat") == pytest.approx(20 * 20 * 3 * MM**3 - ball / 2, rel=0.01)
    assert region_volume(mesh, "tumour") == pytest.approx(ball, rel=0.03)
    assert region_volume(mesh, "bone") == pytest.approx(20 * 4 * 2 * MM**3, rel=1e-9)  # clipped
    segments = np.linalg.norm(np.diff(tube, axis=0), axis=1)
    inside = segments[0] * 10 / 15 + segments[1] * 5 / 7  # clipped at x = -10 mm and y = 10 mm
    assert region_volume(mesh, "blood") == pytest.approx(math.pi * tube_r**2 * inside, rel=0.05)
    assert signed_volumes(mesh.points, mesh.cells).sum() == pytest.approx(8000 * MM**3, rel=1e-9)
    # per-inclusion sizes: tumour and vessel cells are much finer than the background
    assert mean_cell_volume(mesh, "tumour") < mean_cell_volume(mesh, "muscle") / 20
    assert mean_cell_volume(mesh, "blood") < mean_cell_volume(mesh, "muscle") / 20


def test_layers_on_a_cylinder():
    domain = Cylinder(base_center=(0, 0, -5 * MM), axis=(0, 0, 1), radius=8 * MM, height=10 * MM)
    layers = layer_inclusions(domain, [("skin", 1 * MM), ("fat", 2 * MM)])
    assert isinstance(layers[0], CylinderInclusion)
    assert layers[0].base_center[2] == pytest.approx(4 * MM)
    mesh = build_mesh(domain, layers, sizes=MeshSizes(2 * MM))
    assert mesh.region_names == ("tissue", "skin", "fat")
    assert set(mesh.facets) == {"outer", "bottom", "top"}
    disk = math.pi * (8 * MM) ** 2
    assert region_volume(mesh, "skin") == pytest.approx(disk * 1 * MM, rel=0.02)
    assert region_volume(mesh, "fat") == pytest.approx(disk * 2 * MM, rel=0.02)
    top = np.asarray(mesh.points)[mesh.facet_nodes("top")]
    np.testing.assert_allclose(top[:, 2], 5 * MM, atol=1e-12)


def test_layer_errors():
    with pytest.raises(MeshError, match="flat top"):
        layer_inclusions(Sphere((0, 0, 0), 5 * MM), [("skin", 1 * MM)])
    with pytest.raises(MeshError, match="not less than the domain height"):
        layer_inclusions(BOX, [("skin", 5 * MM), ("fat", 15 * MM)])
    with pytest.raises(MeshError, match="thickness"):
        layer_inclusions(BOX, [("skin", -1 * MM)])


def test_inclusion_size_applies_where_no_mesh_size_is_given():
    inclusions = [SphereInclusion("fine", (-5 * MM, 0, 0), 3 * MM, "a", mesh_size=0.6 * MM),
                  SphereInclusion("default", (5 * MM, 0, 0), 3 * MM, "b")]
    mesh = build_mesh(BOX, inclusions, sizes=MeshSizes(3 * MM, inclusion_size=1.2 * MM))
    ratio = mean_cell_volume(mesh, "b") / mean_cell_volume(mesh, "a")
    assert 4 < ratio < 16  # (1.2 / 0.6)^3 = 8
    assert mean_cell_volume(mesh, "muscle") > 3 * mean_cell_volume(mesh, "b")
    with pytest.raises(MeshError, match="mesh_size"):
        SphereInclusion("s", (0, 0, 0), MM, "a", mesh_size=0.0)


# ------------------------------------------------------------------------------------ STL


def test_stl_inclusion(tmp_path):
    vertices, triangles = icosphere(2)  # 320 triangles
    vertices = vertices * 4.0 + [1.0, 0.0, 0.0]  # millimetres in the file
    path = tmp_path / "lesion.stl"
    write_ascii_stl(path, vertices, triangles)
    lesion = StlInclusion("lesion", path, "tumour", scale=MM, keep_out=True)
    mesh = build_mesh(BOX, [lesion], sizes=MeshSizes(3 * MM))
    assert mesh.region_names == ("muscle", "tumour")
    assert_tags_cover_boundary(mesh)
    # planar faces: the mesh holds the polyhedron exactly
    expected = polyhedron_volume(vertices * MM, triangles)
    assert region_volume(mesh, "tumour") == pytest.approx(expected, rel=1e-6)
    # a needle whose active part reaches into it is refused
    needle = Needle("n", (1 * MM, 0, 2 * MM), (1 * MM, 0, 30 * MM), 0.4 * MM, 5 * MM)
    with pytest.raises(ElectrodeError, match="'n'.*'lesion'"):
        check_scene(BOX, [lesion], [needle])
    clear = Needle("n", (6 * MM, 0, 0), (6 * MM, 0, 30 * MM), 0.4 * MM, 5 * MM)
    check_scene(BOX, [lesion], [clear])


def test_read_stl_binary_and_signed_distance(tmp_path):
    vertices, triangles = icosphere(1)
    write_binary_stl(tmp_path / "b.stl", vertices, triangles)
    write_ascii_stl(tmp_path / "a.stl", vertices, triangles)
    vb, tb = read_stl(tmp_path / "b.stl", scale=2.0)
    va, ta = read_stl(tmp_path / "a.stl", scale=2.0)
    assert len(vb) == len(vertices) == len(va) and len(tb) == len(triangles)
    np.testing.assert_allclose(vb[tb], va[ta], rtol=1e-6)
    ball = StlInclusion("ball", tmp_path / "b.stl", "x", scale=2.0)
    inner = 2.0 * np.cos(np.radians(20))  # below the flat faces of the icosphere
    assert ball.signed_distance((0, 0, 0)) == pytest.approx(-inner, rel=0.1)
    assert ball.signed_distance((3.0, 0.0, 0.0)) == pytest.approx(1.0, rel=1e-6)
    assert ball.signed_distance((0.0, 0.5, 1.0)) < 0.0


def test_bad_stl_files(tmp_path):
    vertices, triangles = icosphere(0)
    write_ascii_stl(tmp_path / "open.stl", vertices, triangles[1:])
    with pytest.raises(MeshError, match="not closed"):
        read_stl(tmp_path / "open.stl")
    flipped = triangles.copy()
    flipped[0] = flipped[0, ::-1]
    write_ascii_stl(tmp_path / "flipped.stl", vertices, flipped)
    with pytest.raises(MeshError, match="consistently oriented"):
        read_stl(tmp_path / "flipped.stl")
    with pytest.raises(MeshError, match="cannot read"):
        read_stl(tmp_path / "missing.stl")
    (tmp_path / "junk.stl").write_text("solid nothing\nendsolid\n")
    with pytest.raises(MeshError, match="no triangles"):
        read_stl(tmp_path / "junk.stl")


# ------------------------------------------------------------------------------------ plates


def test_plate_pair_in_the_tissue():
    """Two 8 x 6 mm plates 10 mm apart along x inside the box: a uniform-field capacitor."""
    gap, (w, h), t = 10 * MM, (8 * MM, 6 * MM), 0.5 * MM
    a, b = plate_pair("p", (0, 0, 0), (1, 0, 0), gap, (w, h), thickness=t)
    assert (a.name, b.name) == ("p_a", "p_b")
    np.testing.assert_allclose(a.center, (-gap / 2, 0, 0))
    np.testing.assert_allclose(b.normal, (-1, 0, 0))
    mesh = build_mesh(BOX, holes=[a, b], sizes=MeshSizes(3 * MM, electrode_size=0.5 * MM))
    assert set(mesh.facets) == BOX_TAGS | {"p_a", "p_a_insulated", "p_b", "p_b_insulated"}
    assert_tags_cover_boundary(mesh)
    p = np.asarray(mesh.points)
    for plate, x in ((a, -gap / 2), (b, gap / 2)):
        assert tri_areas(mesh, plate.name).sum() == pytest.approx(w * h, rel=1e-9)
        back_and_sides = w * h + 2 * (w + h) * t
        insulated = tri_areas(mesh, plate.insulated_name).sum()
        assert insulated == pytest.approx(back_and_sides, rel=1e-9)
        face = p[mesh.facet_nodes(plate.name)]
        # the electrode faces are parallel planes `gap` apart: the field between them is uniform
        np.testing.assert_allclose(face[:, 0], x, atol=1e-12)
        assert np.abs(face[:, 1]).max() == pytest.approx(w / 2)  # width along y (up is z)
        assert np.abs(face[:, 2]).max() == pytest.approx(h / 2)
    volumes = signed_volumes(p, mesh.cells)
    assert volumes.sum() == pytest.approx(8000 * MM**3 - 2 * w * h * t, rel=1e-9)
    near = np.isin(mesh.cells, mesh.facet_nodes("p_a")).any(axis=1)
    assert volumes[near].mean() < volumes[~near].mean() / 10  # refined at the plates


def test_plates_pressed_onto_the_skin():
    """Plates centred on the top face: only the half of each face inside the tissue is tagged."""
    a, b = plate_pair("p", (0, 0, 10 * MM), (1, 0, 0), 10 * MM, (8 * MM, 6 * MM))
    mesh = build_mesh(BOX, holes=[a, b], sizes=MeshSizes(3 * MM))
    assert_tags_cover_boundary(mesh)
    for name in ("p_a", "p_b"):
        assert tri_areas(mesh, name).sum() == pytest.approx(8 * 3 * MM**2, rel=1e-9)
    assert tri_areas(mesh, "zmax").sum() == pytest.approx((400 - 2 * 8 * 0.5) * MM**2, rel=1e-9)


def test_plates_on_the_surface():
    """Plates lying on the domain: one larger than the bottom face, one small on the top."""
    top = PlateHole("top", (0, 0, 10 * MM), (0, 0, -1), (6 * MM, 4 * MM))
    bottom = PlateHole("bottom", (0, 0, -10 * MM), (0, 0, 1), (30 * MM, 30 * MM))
    mesh = build_mesh(BOX, holes=[top, bottom], sizes=MeshSizes(4 * MM))
    assert_tags_cover_boundary(mesh)
    assert tri_areas(mesh, "top").sum() == pytest.approx(24 * MM**2, rel=1e-9)
    assert tri_areas(mesh, "zmax").sum() == pytest.approx(376 * MM**2, rel=1e-9)
    assert tri_areas(mesh, "bottom").sum() == pytest.approx(400 * MM**2, rel=1e-9)
    assert len(mesh.facets["zmin"]) == len(mesh.facets["bottom_insulated"]) == 0
    assert signed_volumes(mesh.points, mesh.cells).sum() == pytest.approx(8000 * MM**3, rel=1e-9)


def test_tilted_plates():
    normal = np.array([1.0, 1.0, 0.0]) / math.sqrt(2)
    a, b = plate_pair("t", (0, 0, 0), normal, 8 * MM, (6 * MM, 5 * MM), up=(0, 0.2, 1))
    np.testing.assert_allclose(a.axes, b.axes * [[-1], [1], [-1]], atol=1e-15)  # same face frame
    mesh = build_mesh(BOX, holes=[a, b], sizes=MeshSizes(3 * MM, electrode_size=0.6 * MM))
    assert_tags_cover_boundary(mesh)
    p = np.asarray(mesh.points)
    for plate in (a, b):
        assert tri_areas(mesh, plate.name).sum() == pytest.approx(30 * MM**2, rel=1e-9)
        offsets = (p[mesh.facet_nodes(plate.name)] - plate.center) @ normal
        np.testing.assert_allclose(offsets, 0.0, atol=1e-12)


def test_plate_axes():
    w, h, n = plate_axes((1, 0, 0))
    np.testing.assert_allclose(h, (0, 0, 1))  # the projection of z
    np.testing.assert_allclose(np.cross(w, h), n)
    np.testing.assert_allclose(plate_axes((0, 0, -1))[1], (0, 1, 0))  # normal along z: y
    np.testing.assert_allclose(plate_axes((1, 0, 0), up=(0, 1, 1))[1], (0, 1 / math.sqrt(2),
                                                                         1 / math.sqrt(2)))
    with pytest.raises(ElectrodeError, match="up"):
        PlateHole("p", (0, 0, 0), (0, 1, 0), (MM, MM), up=(0, 2, 0))
    with pytest.raises(ElectrodeError, match="size"):
        PlateHole("p", (0, 0, 0), (0, 1, 0), (MM, MM, MM))


# ------------------------------------------------------------------------------------ checks


def test_hole_overlaps_involving_plates():
    a, b = plate_pair("p", (0, 0, 0), (1, 0, 0), 10 * MM, (8 * MM, 6 * MM))
    needle = Needle("n", (-5.4 * MM, 0, 0), (-5.4 * MM, 0, 1), 0.5 * MM, 3 * MM)
    with pytest.raises(ElectrodeError, match="'p_a' and 'n' overlap"):
        check_scene(BOX, [], [a, b, needle])
    beside = Needle("n", (-3 * MM, 0, 0), (-3 * MM, 0, 1), 0.5 * MM, 3 * MM)
    check_scene(BOX, [], [a, b, beside])
    crossing = PlateHole("c", (0, 0, 0), (0, 1, 0), (15 * MM, 4 * MM))
    with pytest.raises(ElectrodeError, match="overlap"):
        check_scene(BOX, [], [a, b, crossing])
    with pytest.raises(ElectrodeError, match="'p_b' and 's' overlap"):
        check_scene(BOX, [], [a, b, SphereHole("s", (5.5 * MM, 3.5 * MM, 0), 0.6 * MM)])
    away = PlateHole("away", (0, 0, 12 * MM), (0, 0, -1), (4 * MM, 4 * MM))
    with pytest.raises(ElectrodeError, match="'away'.*does not touch"):
        check_scene(BOX, [], [away])
    with pytest.raises(ElectrodeError, match="clash"):
        check_scene(BOX, [], [a, SphereHole("p_a_insulated", (5 * MM, 5 * MM, 5 * MM), MM)])


def test_keep_out_structures():
    vessel = TubeInclusion("vessel", [(-20 * MM, 3 * MM, 0), (20 * MM, 3 * MM, 0)], MM, "blood",
                           keep_out=True)
    tumour = SphereInclusion("tumour", (0, 0, 0), 4 * MM, "tumour")
    through = Needle("n1", (0, 3 * MM, -3 * MM), (0, 3 * MM, 30 * MM), 0.5 * MM, 6 * MM)
    with pytest.raises(ElectrodeError, match="needle 'n1'.*'vessel'"):
        check_scene(BOX, [tumour, vessel], [through])
    # grazing: the capsule of radius 0.5 mm reaches 0.3 mm into the vessel
    graze = Needle("n2", (0, 4.2 * MM, -3 * MM), (0, 4.2 * MM, 30 * MM), 0.5 * MM, 6 * MM)
    with pytest.raises(ElectrodeError, match="'n2'"):
        check_scene(BOX, [vessel], [graze])
    # only the active part counts: an insulated shaft through the vessel is accepted
    below = Needle("n3", (0, 3 * MM, -8 * MM), (0, 3 * MM, 30 * MM), 0.5 * MM, 5 * MM)
    check_scene(BOX, [vessel], [below])
    # without the flag the same needle is fine
    vessel_ok = TubeInclusion("vessel", vessel.points, MM, "blood")
    assert "n1" in check_scene(BOX, [vessel_ok], [through])
    # other shapes
    needle = Needle("n", (0, 0, 0), (0, 0, 1), 0.5 * MM, 4 * MM)
    for shape in (
        BoxInclusion("b", (0, 1.3 * MM, 3 * MM), (2 * MM, 2 * MM, 2 * MM), "x", keep_out=True),
        EllipsoidInclusion("e", (2 * MM, 0, 2 * MM), (1.7 * MM, MM, MM), "x", keep_out=True),
        CylinderInclusion("c", (-5 * MM, 0, 5 * MM), (1, 0, 0), 1.2 * MM, 10 * MM, "x",
                          keep_out=True),
        SphereInclusion("s", (0, 0, -MM), 1.2 * MM, "x", keep_out=True),
    ):
        with pytest.raises(ElectrodeError, match=f"'n'.*'{shape.name}'"):
            check_scene(BOX, [shape], [needle])
        moved = Needle("n", (0, 6 * MM, -6 * MM), (0, 6 * MM, 1), 0.5 * MM, 4 * MM)
        check_scene(BOX, [shape], [moved])
    with pytest.raises(MeshError, match="keep_out"):
        SphereInclusion("s", (0, 0, 0), MM, "x", keep_out="yes")


def test_tube_validation():
    with pytest.raises(MeshError, match="two points"):
        TubeInclusion("v", [(0, 0, 0)], MM, "blood")
    with pytest.raises(MeshError, match="consecutive"):
        TubeInclusion("v", [(0, 0, 0), (0, 0, 0), (1, 0, 0)], MM, "blood")


def test_thin_vessel_at_coarse_size_is_meshed_finer():
    """Cells much wider than a vessel make gmsh fail where it crosses a face: its size is capped."""
    r = 1.5 * MM
    vessel = TubeInclusion("v", [(-15 * MM, -2 * MM, 0), (15 * MM, -2 * MM, 3 * MM)], r, "blood")
    mesh = build_mesh(BOX, [vessel], sizes=MeshSizes(8 * MM))
    length = 20 * MM * math.hypot(30, 3) / 30
    assert region_volume(mesh, "blood") == pytest.approx(math.pi * r**2 * length, rel=0.06)


def test_plates_through_a_sphere_and_grazing_plates():
    """Plates larger than a ball cut it: the tagged faces are the disks of the cut."""
    a, b = plate_pair("p", (0, 0, 0), (0, 1, 0), 12 * MM, (30 * MM, 30 * MM))
    mesh = build_mesh(Sphere((0, 0, 0), 10 * MM), holes=[a, b], sizes=MeshSizes(3 * MM))
    assert set(mesh.facets) == {"outer", "p_a", "p_a_insulated", "p_b", "p_b_insulated"}
    disk = math.pi * ((10 * MM) ** 2 - (6 * MM) ** 2)
    for name in ("p_a", "p_b"):
        assert tri_areas(mesh, name).sum() == pytest.approx(disk, rel=0.02)
    # plates that only touch a cylinder along a line tag nothing: refused
    cylinder = Cylinder((0, 0, -10 * MM), (0, 0, 1), 10 * MM, 20 * MM)
    grazing = plate_pair("g", (0, 0, 0), (1, 0, 0), 20 * MM, (6 * MM, 6 * MM))
    with pytest.raises(ElectrodeError, match="'g_a'.*touches no tissue"):
        build_mesh(cylinder, holes=grazing, sizes=MeshSizes(4 * MM))


def test_segment_distance_against_sampling():
    rng = np.random.default_rng(7)
    s = np.linspace(0.0, 1.0, 801)
    for _ in range(40):
        p0, p1, q0, q1 = rng.normal(size=(4, 3))
        if rng.random() < 0.3:  # parallel segments
            q1 = q0 + (p1 - p0) * rng.uniform(-2, 2)
        a = p0 + s[:, None] * (p1 - p0)
        b = q0 + s[:, None] * (q1 - q0)
        sampled = np.min(np.linalg.norm(a[:, None] - b[None], axis=-1))
        exact = segment_distance(p0, p1, q0, q1)
        assert exact <= sampled + 1e-12
        assert exact == pytest.approx(sampled, abs=5e-3)
    assert segment_distance([0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0]) == 1.0


@pytest.mark.parametrize("domain", [
    BOX,
    Cylinder((1 * MM, -2 * MM, -10 * MM), (0.3, 0.2, 1.0), 8 * MM, 20 * MM),
    Sphere((0, 0, 0), 10 * MM),
], ids=["box", "cylinder", "sphere"])
def test_exit_distance_agrees_with_bisection(domain):
    """The analytic exit of a ray (the config's needle length) against `exit_point`."""
    rng = np.random.default_rng(3)
    center, radius = domain.bounding_sphere()
    checked = 0
    for _ in range(60):
        point = center + rng.uniform(-0.5, 0.5, 3) * radius
        if domain.signed_distance(point) >= 0.0:
            continue
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        t = domain.exit_distance(point, direction)
        far = exit_point(domain, point, point + 3 * radius * direction)
        assert t == pytest.approx(np.linalg.norm(far - point), rel=1e-9, abs=1e-12)
        checked += 1
    assert checked > 10
    outside = center + np.array([2 * radius, 0, 0])
    assert domain.exit_distance(outside, np.array([1.0, 0, 0])) is None


def test_needle_tip_on_the_surface_pointing_out_is_refused():
    top = (0, 0, 10 * MM)
    inward = Needle("in", top, (0, 0, 0), 0.5 * MM, 4 * MM)  # into the box: an open shaft
    assert needle_path(inward, BOX).junction is not None
    outward = Needle("out", top, (0, 0, 30 * MM), 0.5 * MM, 4 * MM)
    with pytest.raises(HoleError, match="'out'.*points out") as info:
        check_scene(BOX, [], [outward])
    assert info.value.holes == ("out",)


def test_hole_errors_name_the_holes():
    a = Needle("a", (0, 0, 0), (0, 0, 1), 0.5 * MM, 4 * MM)
    b = Needle("b", (0.6 * MM, 0, 0), (0.6 * MM, 0, 1), 0.5 * MM, 4 * MM)
    with pytest.raises(HoleError, match="needles 'a' and 'b' overlap") as info:
        check_scene(BOX, [], [a, b])
    assert info.value.holes == ("a", "b")
    stray = Needle("stray", (0, 0, 15 * MM), (0, 0, 1), 0.5 * MM, 4 * MM)
    with pytest.raises(HoleError, match="outside") as info:
        check_scene(BOX, [], [a, stray])
    assert info.value.holes == ("stray",)
    with pytest.raises(HoleError, match="clash") as info:
        check_scene(BOX, [], [Needle("xmin", (0, 0, 0), (0, 0, 1), 0.5 * MM, 4 * MM)])
    assert info.value.holes == ("xmin",)


def test_needle_lengths_and_line_distance():
    n = Needle("n", (0, 0, 0), (3 * MM, 4 * MM, 0), 0.5 * MM, 2 * MM)
    assert n.length == pytest.approx(5 * MM)
    np.testing.assert_allclose(n.active_center, [0.6 * MM, 0.8 * MM, 0])
    above, beside = np.array([0, 0, 7 * MM]), np.array([4 * MM, -3 * MM, 0])
    assert point_line_distance(above, n.tip, n.direction) == pytest.approx(7 * MM)
    assert point_line_distance(beside, n.tip, n.direction) == pytest.approx(5 * MM)
