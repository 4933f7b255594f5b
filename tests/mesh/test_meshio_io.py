"""Mesh file round trips (.msh, .vtu, .xdmf) with region and facet tags, and read errors."""

import meshio
import numpy as np
import pytest

from epsim.errors import MeshError, MeshReadError, MissingTagError
from epsim.mesh import make_mesh, read_mesh, signed_volumes, structured_box_mesh, write_mesh

FORMATS = ["msh", "vtu", "xdmf"]


@pytest.fixture(scope="module")
def tagged_mesh():
    """A 2 x 3 x 1 cm box: two regions, the six faces, an electrode patch and an empty tag."""
    box = structured_box_mesh((0.02, 0.03, 0.01), (4, 3, 2))
    centroid = box.points[box.cells].mean(axis=1)
    cell_region = (centroid[:, 0] > 0).astype(int)
    facets = dict(box.facets)
    top = box.points[facets["zmax"]].mean(axis=1)
    facets["electrode"] = facets["zmax"][np.abs(top[:, 0]) < 0.006]  # also in "zmax"
    facets["unused"] = np.zeros((0, 3), dtype=int)
    return make_mesh(box.points, box.cells, cell_region, ("tissue", "tumour"), facets)


def assert_same_mesh(read, expected, scale=1.0):
    np.testing.assert_allclose(read.points, np.asarray(expected.points) * scale, rtol=1e-15)
    np.testing.assert_array_equal(read.cells, expected.cells)
    assert read.region_names == expected.region_names
    np.testing.assert_array_equal(read.cell_region, expected.cell_region)
    assert set(read.facets) == set(expected.facets)
    for tag, tri in expected.facets.items():
        np.testing.assert_array_equal(read.facets[tag], tri)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_points_cells_regions_and_tags(tagged_mesh, tmp_path, fmt):
    path = tmp_path / f"mesh.{fmt}"
    write_mesh(path, tagged_mesh)
    assert_same_mesh(read_mesh(path), tagged_mesh)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("unit, factor", [("mm", 1e-3), ("cm", 1e-2), ("um", 1e-6)])
def test_length_units_are_converted_to_metres(tagged_mesh, tmp_path, fmt, unit, factor):
    path = tmp_path / f"mesh_{unit}.{fmt}"
    write_mesh(path, tagged_mesh.scaled(1.0 / factor))  # coordinates written in `unit`
    assert_same_mesh(read_mesh(path, length_unit=unit), tagged_mesh.scaled(1.0 / factor), factor)


def gmsh_box_file(path, version):
    """A 1 cm box written by gmsh itself with physical groups 'tissue' (3D) and 'top' (2D)."""
    import gmsh

    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("box")
        volume = gmsh.model.occ.addBox(0, 0, 0, 10, 10, 10)  # millimetres
        gmsh.model.occ.synchronize()
        top = [s for _, s in gmsh.model.getBoundary([(3, volume)], oriented=False)
               if abs(gmsh.model.occ.getCenterOfMass(2, s)[2] - 10) < 1e-9]
        gmsh.model.addPhysicalGroup(3, [volume], 7, name="tissue")
        gmsh.model.addPhysicalGroup(2, top, 3, name="top")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 4.0)
        gmsh.model.mesh.generate(3)
        gmsh.option.setNumber("Mesh.MshFileVersion", version)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


@pytest.mark.parametrize("version", [4.1, 2.2])
def test_reads_files_written_by_gmsh(tmp_path, version):
    path = tmp_path / "box.msh"
    gmsh_box_file(path, version)
    mesh = read_mesh(path, length_unit="mm")
    assert mesh.region_names == ("tissue",)
    assert set(mesh.facets) == {"top"}
    assert signed_volumes(mesh.points, mesh.cells).sum() == pytest.approx(1e-6, rel=1e-12)
    np.testing.assert_allclose(mesh.points[mesh.facet_nodes("top"), 2], 0.01, atol=1e-15)
    assert mesh.n_nodes == len(np.unique(mesh.cells))


def test_region_names_for_files_without_names(tagged_mesh, tmp_path):
    path = tmp_path / "plain.vtu"
    cells = [("tetra", tagged_mesh.cells)]
    data = {"region": [tagged_mesh.cell_region + 5]}
    meshio.write(path, meshio.Mesh(tagged_mesh.points, cells, cell_data=data))
    assert read_mesh(path).region_names == ("region_5", "region_6")
    assert read_mesh(path, region_names={6: "tumour"}).region_names == ("region_5", "tumour")
    named = read_mesh(path, region_names=["tissue", "tumour"])
    assert named.region_names == ("tissue", "tumour")
    np.testing.assert_array_equal(named.cell_region, tagged_mesh.cell_region)
    with pytest.raises(MissingTagError, match="3 region names"):
        read_mesh(path, region_names=["a", "b", "c"])


def test_unused_nodes_in_files_are_dropped(tmp_path):
    box = structured_box_mesh(0.01, 1)
    points = np.vstack([[[9.0, 9.0, 9.0]], box.points])  # node 0 belongs to no cell
    path = tmp_path / "extra.vtu"
    cells = [("tetra", box.cells + 1)]
    meshio.write(path, meshio.Mesh(points, cells, cell_data={"region": [box.cell_region]}))
    mesh = read_mesh(path)
    np.testing.assert_array_equal(mesh.points, box.points)
    np.testing.assert_array_equal(mesh.cells, box.cells)


def test_garbage_and_missing_files_raise_naming_the_file(tmp_path):
    for suffix in (".msh", ".vtu", ".xdmf", ".vtk"):
        path = tmp_path / f"garbage{suffix}"
        path.write_text("this is not a mesh\n")
        with pytest.raises(MeshReadError, match=str(path)):
            read_mesh(path)
    missing = tmp_path / "missing.msh"
    with pytest.raises(MeshReadError, match="missing.msh"):
        read_mesh(missing)


def test_files_without_tets_or_tags_raise(tagged_mesh, tmp_path):
    surface = tmp_path / "surface.vtu"
    triangles = [("triangle", tagged_mesh.facets["xmin"])]
    meshio.write(surface, meshio.Mesh(tagged_mesh.points, triangles))
    with pytest.raises(MeshReadError, match="no tetrahedra"):
        read_mesh(surface)
    untagged = tmp_path / "untagged.vtu"
    meshio.write(untagged, meshio.Mesh(tagged_mesh.points, [("tetra", tagged_mesh.cells)]))
    with pytest.raises(MissingTagError, match="untagged.vtu.*region"):
        read_mesh(untagged)
    with pytest.raises(MeshReadError, match="length unit"):
        read_mesh(untagged, length_unit="inch")


def test_invalid_cells_in_a_file_name_the_file(tmp_path):
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]])  # all in one plane
    path = tmp_path / "flat.vtu"
    meshio.write(path, meshio.Mesh(points, [("tetra", [[0, 1, 2, 3]])],
                                   cell_data={"region": [[1]]}))
    with pytest.raises(MeshError, match="flat.vtu.*degenerate"):
        read_mesh(path)


def test_write_rejects_clashing_names_and_unknown_formats(tagged_mesh, tmp_path):
    clash = make_mesh(tagged_mesh.points, tagged_mesh.cells, tagged_mesh.cell_region,
                      tagged_mesh.region_names, {"tumour": tagged_mesh.facets["xmin"]})
    with pytest.raises(MeshError, match="tumour"):
        write_mesh(tmp_path / "clash.vtu", clash)
    with pytest.raises(MeshError, match="extension"):
        write_mesh(tmp_path / "mesh.stl", tagged_mesh)
