"""The accuracy study's field reader (benchmarks/bench_mesh_accuracy.py): the threshold extents
of docs/accuracy.md are read from a field recovered at the nodes per material, and that
recovery must be exact for a field linear in each material, at the material interfaces too."""

import importlib.util
from pathlib import Path

import numpy as np

from epsim.outcomes import cell_volumes
from tests.helpers.meshes import inclusion_box

STUDY = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_mesh_accuracy.py"


def load_study():
    spec = importlib.util.spec_from_file_location("bench_mesh_accuracy", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def linear_fields(points):
    """A different linear field (V/m) in each region: 0 liver, 1 tumour."""
    x, y, z = points.T
    return np.stack([4e4 + 3e6 * x - 1e6 * z, 9e4 - 2e6 * y + 5e6 * x])


def test_recovery_is_exact_for_a_linear_field_in_each_material():
    study = load_study()
    mesh = inclusion_box(size=0.01, n=8, seed=3)
    points, cells = np.asarray(mesh.points), np.asarray(mesh.cells)
    regions = np.asarray(mesh.cell_region)
    centroids = points[cells].mean(axis=1)
    e_cell = linear_fields(centroids)[regions, np.arange(len(cells))]  # exact cell means

    recovered = study.region_node_fields(mesh, e_cell)
    exact = linear_fields(points)

    both = np.zeros((2, mesh.n_nodes), bool)  # nodes on the liver-tumour interface
    count = np.zeros((2, mesh.n_nodes), int)
    for r in (0, 1):
        np.add.at(count[r], cells[regions == r].ravel(), 1)
        both[r] = count[r] > 0
    interface = both[0] & both[1]
    fitted = interface & (count.min(axis=0) >= study.MIN_PATCH)
    assert fitted.sum() >= 40  # of 242 interface nodes (a gmsh mesh has more cells per node)
    for r in (0, 1):
        np.testing.assert_allclose(recovered[r, fitted], exact[r, fitted], rtol=1e-9)
        assert np.all(np.isnan(recovered[r, ~both[r]]))
        # The plain volume-weighted mean of one side's cells is off at the interface: the
        # bias the fit removes.
        total = np.zeros(mesh.n_nodes)
        weight = np.zeros(mesh.n_nodes)
        own = regions == r
        volume = np.asarray(cell_volumes(mesh))[own]
        for k in range(4):
            np.add.at(total, cells[own, k], volume * e_cell[own])
            np.add.at(weight, cells[own, k], volume)
        mean = total[fitted] / weight[fitted]
        assert np.max(np.abs(mean / exact[r, fitted] - 1)) > 1e-2
