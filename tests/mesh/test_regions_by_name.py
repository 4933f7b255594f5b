"""Regions per named part: the same cells and nodes as regions per material, two inclusions of
one material apart, and the material mesh recovered exactly by merging."""

import numpy as np
import pytest

from epsim.mesh import Box, MeshSizes, SphereInclusion, build_mesh
from epsim.mesh.scene import region_materials, region_names

MM = 1e-3
DOMAIN = Box(center=(0, 0, 0), size=(20 * MM, 20 * MM, 20 * MM), material="liver")
INCLUSIONS = (
    SphereInclusion("tumour", (0, 0, 0), 3 * MM, material="tumour"),
    SphereInclusion("artery", (6 * MM, 0, 0), 1.5 * MM, material="blood"),
    SphereInclusion("vein", (-6 * MM, 0, 0), 1.5 * MM, material="blood"),
)
SIZES = MeshSizes(5 * MM, inclusion_size=1.5 * MM)


def test_names_and_materials_of_regions():
    assert region_names(DOMAIN, INCLUSIONS) == ("liver", "tumour", "blood")
    assert region_names(DOMAIN, INCLUSIONS, "name") == ("liver", "tumour", "artery", "vein")
    assert region_materials(DOMAIN, INCLUSIONS, "name") == ("liver", "tumour", "blood", "blood")
    named_liver = (SphereInclusion("liver", (0, 0, 0), 3 * MM, material="tumour"),)
    assert region_names(DOMAIN, named_liver, "name") == ("domain", "liver")
    with pytest.raises(ValueError, match="regions by"):
        region_names(DOMAIN, INCLUSIONS, "colour")


def test_parts_mesh_merges_to_the_material_mesh():
    by_material = build_mesh(DOMAIN, INCLUSIONS, sizes=SIZES)
    by_name = build_mesh(DOMAIN, INCLUSIONS, sizes=SIZES, regions="name")
    np.testing.assert_array_equal(by_name.points, by_material.points)
    np.testing.assert_array_equal(by_name.cells, by_material.cells)
    assert by_name.region_names == ("liver", "tumour", "artery", "vein")
    materials = region_materials(DOMAIN, INCLUSIONS, "name")
    merged = np.array([by_material.region_names.index(m) for m in materials])
    np.testing.assert_array_equal(merged[by_name.cell_region], by_material.cell_region)
    # the two vessels are apart, each about its ball's volume
    x = np.asarray(by_name.points)[by_name.cells]
    volume = np.abs(np.linalg.det(x[:, 1:] - x[:, :1])) / 6
    for k in (2, 3):
        assert volume[by_name.cell_region == k].sum() == pytest.approx(
            4 / 3 * np.pi * (1.5 * MM) ** 3, rel=0.15)
