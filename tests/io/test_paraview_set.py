"""The ParaView set a ParaView user reads at once: mm and V/cm, region names, arrays named by
pair, the field vector per pair, the electrode surfaces as a block of a .vtm; opened with meshio
and with pyvista (VTK's own readers, what ParaView uses)."""

import dataclasses
import os

import meshio
import numpy as np
import pytest

from epsim.errors import InputError
from epsim.io import OutputExistsError, paraview_outputs, write_paraview_set
from epsim.io.paraview import field_vectors, pair_names, write_multiblock

PAIRS = ("xmax-xmin", "xmin-xmax")  # anode-cathode


def parts(results):
    """The synthetic run with regions named by part, two of one material."""
    region = np.asarray(results.cell_region).copy()
    centroid = np.asarray(results.points)[np.asarray(results.cells)].mean(axis=1)
    region[(region == 0) & (centroid[:, 2] > 0.006)] = 2  # the top of the liver: "capsule"
    return dataclasses.replace(results, cell_region=region,
                               region_names=("parenchyma", "nodule", "capsule"),
                               region_materials=("liver", "tumour", "liver"))


@pytest.fixture
def written(results, tmp_path):
    run = parts(results)
    paths = write_paraview_set(tmp_path / "run.vtu", run)
    return run, paths


def test_three_files_and_nothing_else(written, tmp_path):
    _, paths = written
    assert [p.name for p in paths] == ["run.vtu", "run_electrodes.vtu", "run.vtm"]
    assert paraview_outputs(tmp_path / "run.vtu")["multiblock"] == tmp_path / "run.vtm"
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".epsim")) == [
        "run.vtm", "run.vtu", "run_electrodes.vtu"]


def test_meshio_reads_mm_v_per_cm_names_pairs_and_vectors(written):
    run, paths = written
    mesh = meshio.read(paths[0])
    np.testing.assert_allclose(mesh.points, run.points * 1e3)  # mm
    # region names: field data `region <name>` -> id, materials likewise
    ids = {k: int(v[0]) for k, v in mesh.field_data.items()}
    assert ids == {"region parenchyma": 0, "region nodule": 1, "region capsule": 2,
                   "material liver": 0, "material tumour": 1}
    np.testing.assert_array_equal(mesh.cell_data["region"][0], run.cell_region)
    names = [*mesh.cell_data, *mesh.point_data, *mesh.field_data]
    assert not [n for n in names if set(n) & set("&<>\"'")]  # VTK-safe (module docstring)
    np.testing.assert_array_equal(mesh.cell_data["material"][0],
                                  np.array([0, 1, 0])[run.cell_region])
    np.testing.assert_allclose(mesh.cell_data["E_max [V/cm]"][0], run.e_max / 100, rtol=1e-12)
    for k, pair in enumerate(PAIRS):
        magnitude = mesh.cell_data[f"|E| {pair} [V/cm]"][0]
        vector = mesh.cell_data[f"E {pair} [V/cm]"][0]
        assert vector.shape == (len(run.cells), 3)
        np.testing.assert_allclose(magnitude, run.e_mag[k] / 100, rtol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(vector, axis=1), magnitude, rtol=1e-9)
        np.testing.assert_allclose(mesh.point_data[f"potential {pair} [V]"], run.potential[k])
    # the field points from the anode (high potential) to the cathode: xmax -> xmin is -x
    assert np.mean(mesh.cell_data["E xmax-xmin [V/cm]"][0][:, 0]) < 0
    assert np.mean(mesh.cell_data["E xmin-xmax [V/cm]"][0][:, 0]) > 0

    surfaces = meshio.read(paths[1])
    assert [block.type for block in surfaces.cells] == ["triangle"]
    n_facets = sum(len(f) for f in run.electrode_facets.values())
    assert len(surfaces.cells[0].data) == n_facets
    assert {k: int(v[0]) for k, v in surfaces.field_data.items()} == {
        "electrode xmin": 0, "electrode xmax": 1}
    xmin = surfaces.points[:, 0]
    np.testing.assert_allclose(xmin.min(), -10.0)  # mm: the plates at x = -10 and 10 mm
    anode = surfaces.point_data["potential xmax-xmin [V]"]
    assert anode.max() == pytest.approx(750.0) and anode.min() == pytest.approx(0.0, abs=1e-9)


def test_pyvista_reads_the_multiblock(written):
    pv = pytest.importorskip("pyvista")
    run, paths = written
    blocks = pv.read(paths[2])
    assert isinstance(blocks, pv.MultiBlock)
    assert list(blocks.keys()) == ["tissue", "electrodes"]
    tissue, electrodes = blocks["tissue"], blocks["electrodes"]
    assert tissue.n_cells == len(run.cells) and electrodes.n_cells == sum(
        len(f) for f in run.electrode_facets.values())
    np.testing.assert_allclose(tissue.bounds, [-10, 10, -10, 10, -10, 10])  # mm
    assert int(tissue.field_data["region capsule"][0]) == 2
    vector = tissue.cell_data["E xmax-xmin [V/cm]"]
    assert vector.shape == (tissue.n_cells, 3)
    np.testing.assert_allclose(np.linalg.norm(vector, axis=1),
                               tissue.cell_data["|E| xmax-xmin [V/cm]"], rtol=1e-9)
    assert set(electrodes.cell_data["electrode"]) == {0, 1}


def test_pair_names_are_vtk_safe_and_unique(results):
    odd = dataclasses.replace(results, anode=("n/1", "n/1"), cathode=("tip 2", "tip 2"))
    assert pair_names(odd) == ["n_1-tip_2", "n_1-tip_2 #2"]
    assert pair_names(results) == list(PAIRS)


def test_field_vectors_of_a_linear_potential():
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    cells = np.array([[0, 1, 2, 3]])
    phi = points @ np.array([2.0, -3.0, 5.0])
    np.testing.assert_allclose(field_vectors(points, cells, phi), [[-2.0, 3.0, -5.0]])


def test_refusals(written, tmp_path):
    run, paths = written
    before = paths[2].read_bytes()
    with pytest.raises(OutputExistsError):
        write_paraview_set(tmp_path / "run.vtu", run)
    assert paths[2].read_bytes() == before
    with pytest.raises(InputError, match=".vtm"):
        write_multiblock(tmp_path / "run.xml", {"tissue": paths[0]})
