"""The accuracy study's field reader (benchmarks/bench_mesh_accuracy.py): the threshold extents
of docs/accuracy.md are read from a field recovered at the nodes per material, and that
recovery must be exact for a field linear in each material, at the material interfaces too."""

import importlib.util
from pathlib import Path

import numpy as np

from epsim.mesh.structured import structured_box_mesh
from epsim.mesh.tetmesh import make_mesh
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

    recovered = study.region_node_fields(mesh, e_cell)[0]  # one field
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


def test_the_largest_of_two_pairs_is_taken_after_recovery_not_before():
    """Two pairs' fields, linear, equal on a plane 0.875 mm before the line leaves the zone:
    the largest of the recovered fields ends where the exact one does, while recovering the
    largest (a kinked field) reads it long (0.08 mm on these 1.25 mm cells; 1.7 mm on the
    pelvic array's 8 % mesh)."""
    study = load_study()
    mesh = structured_box_mesh((0.01, 0.01, 0.01), 8)
    points = np.asarray(mesh.points)
    inner = ~np.any(np.isclose(np.abs(points), 0.005), axis=1)
    jitter = np.random.default_rng(1).uniform(-0.08, 0.08, points.shape) * 0.01 / 8
    mesh = make_mesh(points + np.where(inner[:, None], jitter, 0.0), mesh.cells,
                     mesh.cell_region, mesh.region_names, mesh.facets)
    x = np.asarray(mesh.points)[np.asarray(mesh.cells)].mean(axis=1)[:, 0]
    pairs = np.stack([1e5 * (1 - 100 * x), 1e5 * (0.95 - 20 * x)])  # V/m, equal at 0.625 mm
    line = (np.array([0.0, 3e-4, 2e-4]), np.array([1.0, 0.0, 0.0]))
    threshold = np.array([0.92e5])  # the second pair's field falls to it at x = 1.5 mm

    def read(fields):
        return study.extent(mesh, fields, study.cell_balls(mesh), *line, threshold, 6e-3)

    exact = 6.5  # mm, from the box's face at -5 mm to 1.5 mm
    assert abs(read(study.region_node_fields(mesh, pairs)) - exact) < 0.02  # the sample step
    assert read(study.region_node_fields(mesh, pairs.max(axis=0))) - exact > 0.05


def test_rows_extrapolate_a_known_sequence_and_leave_a_grazing_zone_out():
    study = load_study()
    h = np.sqrt(np.array([8.0, 4.0, 2.0, 1.0]) / study.DEFAULT)
    current = 7.5 * (1 + 0.02 * h**1.5)  # converges at order 1.5 to 7.5 A, 2 % high at h = 1
    row = study.quantity_row("case", "I1 (A)", list(current), h, 2, as_shipped=8.0)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[6:] == ["7.5", "1.50", "+2.00 %", "+6.67 %"]
    extent = 30.0 + 0.4 * h**2  # mm, order 2
    cells = [c.strip() for c in study.quantity_row("case", "irr_along (mm)", list(extent), h,
                                                   2).strip("|").split("|")]
    assert cells[6:] == ["30", "2.00", "+0.40 mm", ""]
    grazing = study.quantity_row("case", "rev_along (mm)", [0.0, 0.0, 0.0, 3.98], h, 2)
    assert study.APPEARS in grazing and "+" not in grazing
    assert study.quantity_row("case", "irr_across (mm)", [0.0] * 4, h, 2).endswith(
        "| 0 | 2.00 | +0.00 mm |  |")


def test_levels_written_to_a_few_digits_still_give_the_fitted_order():
    study = load_study()
    h = np.sqrt(np.array([2.8284271, 2.0, 1.4142136]) / study.DEFAULT)  # 2^(1/4) apart
    q0, p = study.extrapolate(h, 25.3 * (1 + 0.015 * h**1.6))
    assert abs(p - 1.6) < 1e-4 and abs(q0 - 25.3) < 1e-5


def test_replicas_mesh_with_other_seeds_and_report_means_and_spreads(monkeypatch):
    study = load_study()
    assert [study.replica_seed(k) for k in range(4)] == [0, 2, 3, 4]  # 1 meshes as 0 does
    data, folder = study.case_data("breast_plates")  # plates and layers: any scene replicates
    seen = []

    def measured(cfg, seed):  # what the mesher was given, and an answer that depends on it
        seen.append((cfg.scene.mesh.accuracy, seed))
        return {"cells": 1000 + seed, "current": np.array([8.0 + seed / 100]),
                "corrected": 7.9 + seed / 50, "extents": {"rev_along": 20.0 + seed / 10},
                "seconds": 1.0}

    monkeypatch.setattr(study, "measure", measured)
    level = study.measure_level(data, folder, 2.0, replicas=3)
    assert seen == [(0.02, 0), (0.02, 2), (0.02, 3)]
    assert level["cells"] == 1002 and level["seconds"] == 3.0
    assert np.isclose(level["current"][0], 24.05 / 3)
    assert np.isclose(level["extents"]["rev_along"], 60.5 / 3)
    assert np.isclose(level["spread"]["I1"], 0.03) and np.isclose(level["spread"]["rev_along"], 0.3)
    assert np.isclose(level["corrected"], 7.9 + 5 / 150) and np.isclose(
        level["spread"]["corrected"], 0.06)
    h = np.sqrt(np.array([4.0, 2.0]) / study.DEFAULT)
    row = study.quantity_row("case", "rev_along (mm)", [20.4, 20.0], h, 1, spread=0.2)
    assert "| 19.6 | 2.00 | +0.40 mm (spread 0.20 mm) |" in row
    row = study.quantity_row("case", "I1 (A)", [8.4, 8.0], h, 1, spread=0.08)
    assert "| 7.6 | 2.00 | +5.26 % (spread 1.05 %) |" in row
