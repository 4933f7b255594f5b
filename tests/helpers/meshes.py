"""Small meshes shared by the tests."""

import numpy as np

from epsim.mesh import make_mesh
from epsim.mesh.structured import structured_box_mesh


def inclusion_box(size=0.01, n=5, seed=0):
    """Box [-size/2, size/2]^3 with a central cubic 'tumour' region in 'liver' and jittered
    interior nodes (so fields are not uniform)."""
    mesh = structured_box_mesh((size, size, size), n)
    points = np.asarray(mesh.points)
    centroid = points[mesh.cells].mean(axis=1)
    region = (np.max(np.abs(centroid), axis=1) < 0.3 * size).astype(int)
    boundary = np.any(np.isclose(np.abs(points), size / 2), axis=1)
    jitter = np.random.default_rng(seed).uniform(-0.08, 0.08, points.shape) * size / n
    points = points + np.where(boundary[:, None], 0.0, jitter)
    return make_mesh(points, mesh.cells, region, ("liver", "tumour"), mesh.facets)


def annulus_sector(a, b, height, n_r, n_theta, angle=np.pi / 2):
    """Quarter (by default) of a coaxial annulus a < r < b, 0 < z < height, log-graded in r.

    Built by mapping a structured box; facet tags 'inner' (r = a) and 'outer' (r = b). The cut
    planes and the ends are insulating, which is exact for the axisymmetric coaxial problem.
    """
    mesh = structured_box_mesh((1.0, 1.0, 1.0), (n_r, n_theta, 1), center=(0.5, 0.5, 0.5))
    s, t, z = np.asarray(mesh.points).T
    r = a * (b / a) ** s
    theta = angle * t
    points = np.stack([r * np.cos(theta), r * np.sin(theta), z * height], axis=1)
    facets = {"inner": mesh.facets["xmin"], "outer": mesh.facets["xmax"]}
    return make_mesh(points, mesh.cells, mesh.cell_region, mesh.region_names, facets)


def with_face_patches(mesh, faces, half_width):
    """Add facet tags '<face>_patch': the part of each box face within half_width of its centre
    line, so that patches on neighbouring faces do not touch."""
    points = np.asarray(mesh.points)
    facets = dict(mesh.facets)
    for face in faces:
        tri = mesh.facets[face]
        other = [a for a in range(3) if a != "xyz".index(face[0])]
        centre = points.mean(axis=0)
        inside = np.all(np.abs(points[tri][:, :, other] - centre[other]) < half_width, axis=(1, 2))
        facets[f"{face}_patch"] = tri[inside]
    return make_mesh(points, mesh.cells, mesh.cell_region, mesh.region_names, facets)
