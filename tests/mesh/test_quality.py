import numpy as np
import pytest

from epsim.mesh import make_mesh
from epsim.mesh.quality import quality_report, radius_ratio
from epsim.mesh.structured import structured_box_mesh


def test_regular_tetrahedron_has_ratio_one():
    p = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    assert radius_ratio(p, np.array([[0, 1, 2, 3]]))[0] == pytest.approx(1.0)


def test_ratio_invariant_under_scaling_and_falls_for_slivers():
    p = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.3, 0.3, 1.0]])
    cells = np.array([[0, 1, 2, 3]])
    assert radius_ratio(p * 1e-3, cells)[0] == pytest.approx(radius_ratio(p, cells)[0])
    flat = p.copy()
    flat[3, 2] = 1e-3
    assert radius_ratio(flat, cells)[0] < 0.01


def test_report_on_structured_mesh():
    mesh = structured_box_mesh((0.01, 0.01, 0.01), 3)
    report = quality_report(mesh)
    assert report.n_cells == 6 * 27 and report.slivers == 0
    assert report.min_edge == pytest.approx(0.01 / 3)
    assert "cells" in str(report)
    moved = make_mesh(np.asarray(mesh.points) * 2, mesh.cells, mesh.cell_region, mesh.region_names, mesh.facets)
    assert quality_report(moved).min_ratio == pytest.approx(report.min_ratio)
