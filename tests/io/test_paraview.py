"""ParaView output (VTU and inline XDMF through meshio): read back in mm and V/cm, atomic,
refusing."""

import dataclasses

import meshio
import numpy as np
import pytest

from epsim.errors import InputError, SolverError
from epsim.io import OutputExistsError, write_paraview
from tests.helpers.outputs import listing


@pytest.mark.parametrize("name", ["run.vtu", "run.xdmf"])
def test_opens_in_meshio_with_the_fields(results, tmp_path, name):
    path = write_paraview(tmp_path / name, results)
    assert listing(tmp_path) == [name]  # one file: no HDF5 side file, no temporary
    mesh = meshio.read(path)
    np.testing.assert_allclose(mesh.points, results.points * 1e3)  # mm
    assert [block.type for block in mesh.cells] == ["tetra"]
    np.testing.assert_array_equal(mesh.cells[0].data, results.cells)
    expected = {  # V/cm
        "region": results.cell_region, "material": results.cell_region,
        "E_max [V/cm]": results.e_max / 100,
        "|E| xmax-xmin [V/cm]": results.e_mag[0] / 100,
        "|E| xmin-xmax [V/cm]": results.e_mag[1] / 100,
        "sigma xmax-xmin [S/m]": results.sigma[0], "sigma xmin-xmax [S/m]": results.sigma[1],
        **results.extra_fields,
    }
    assert set(mesh.cell_data) == set(expected) | {"E xmax-xmin [V/cm]", "E xmin-xmax [V/cm]"}
    for key, value in expected.items():
        np.testing.assert_allclose(mesh.cell_data[key][0], value, rtol=1e-12, err_msg=key)
    assert set(mesh.point_data) == {"potential xmax-xmin [V]", "potential xmin-xmax [V]"}
    np.testing.assert_allclose(mesh.point_data["potential xmin-xmax [V]"], results.potential[1],
                               rtol=1e-12)


def test_refuses_overwrite_bad_extension_and_bad_results(results, tmp_path):
    path = write_paraview(tmp_path / "run.vtu", results)
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_paraview(path, results)
    assert path.read_bytes() == before
    write_paraview(path, dataclasses.replace(results, e_max=results.e_max * 2), overwrite=True)
    np.testing.assert_allclose(meshio.read(path).cell_data["E_max [V/cm]"][0],
                               2 * results.e_max / 100)

    with pytest.raises(InputError, match=".vtk"):
        write_paraview(tmp_path / "run.vtk", results)
    e_mag = results.e_mag.copy()
    e_mag[0, 0] = np.nan
    with pytest.raises(SolverError, match="e_mag"):
        write_paraview(tmp_path / "bad.vtu", dataclasses.replace(results, e_mag=e_mag))
    assert listing(tmp_path) == ["run.vtu"]
