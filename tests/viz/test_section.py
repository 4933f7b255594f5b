"""Plane sections: exact areas and outlines on a box, linear interpolation, electrode cuts."""

import numpy as np
import pytest

from epsim.viz.histogram import fraction_above
from epsim.viz.section import nodal_average, plane_section, surface_section
from epsim.viz.common import cell_volumes

SIZE = 0.02


def triangle_area(uv, triangles):
    p = uv[triangles]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum()


# z = 0 runs through a layer of nodes (the degenerate case); the others cut cells generically.
@pytest.mark.parametrize("axis, offset", [(2, 0.0), (2, 1.3e-3), (0, -4.1e-3), (1, 9.9e-3)])
def test_section_of_box(results, axis, offset):
    section = plane_section(results.points, results.cells, axis, offset)
    assert triangle_area(section.uv, section.triangles) == pytest.approx(SIZE**2, rel=1e-12)
    # Vertices interpolate linear nodal fields exactly.
    in_plane = [k for k in range(3) if k != axis]
    for column, k in enumerate(in_plane):
        np.testing.assert_allclose(section.interpolate(results.points[:, k]),
                                   section.uv[:, column], atol=1e-15)
    # Outlines: the box's square and, where the plane cuts it, the tumour's square.
    boundary = section.outline(np.ones(len(results.cells), dtype=bool))
    length = np.linalg.norm(boundary[:, 1] - boundary[:, 0], axis=1).sum()
    assert length == pytest.approx(4 * SIZE, rel=1e-12)
    tumour = section.outline(results.cell_region == 1)
    side = SIZE / 3  # two of the six hexahedra along each axis
    expected = 4 * side if abs(offset) < side / 2 else 0.0
    assert np.linalg.norm(tumour[:, 1] - tumour[:, 0], axis=1).sum() == pytest.approx(expected)


def test_electrode_cut(results):
    segments = surface_section(results.points, results.electrode_facets["xmin"], 2, 1.3e-3)
    np.testing.assert_allclose(segments[..., 0], -SIZE / 2)
    length = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1).sum()
    assert length == pytest.approx(SIZE)
    assert len(surface_section(results.points, results.electrode_facets["xmin"], 2, 0.5)) == 0


def test_nodal_average_and_fraction_above(results):
    constant = nodal_average(results.points, results.cells, np.full(len(results.cells), 3.0))
    np.testing.assert_allclose(constant, 3.0)
    volumes = cell_volumes(results.points, results.cells)
    for m, k in zip(results.metrics, range(2)):
        mask = results.cell_region == k
        got = fraction_above(results.e_max[mask], volumes[mask], [0.0, m.e_rev, m.e_irr, 1e9])
        np.testing.assert_allclose(got, [1.0, m.fraction_rev, m.fraction_irr, 0.0], atol=1e-12)
