"""Tetrahedral meshes: the immutable TetMesh, its geometry, validation, generation and file I/O.

gmsh and meshio are imported lazily (only when a mesh is built, read or written).
"""

from epsim.mesh.gmsh import build_mesh
from epsim.mesh.meshio_io import LENGTH_UNITS, read_mesh, write_mesh
from epsim.mesh.scene import (
    Box,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    MeshSizes,
    Needle,
    Sphere,
    SphereHole,
    SphereInclusion,
)
from epsim.mesh.structured import structured_box_mesh
from epsim.mesh.tetmesh import TetMesh, boundary_facets, cell_geometry, make_mesh, signed_volumes

__all__ = [
    "Box",
    "Cylinder",
    "CylinderInclusion",
    "EllipsoidInclusion",
    "LENGTH_UNITS",
    "MeshSizes",
    "Needle",
    "Sphere",
    "SphereHole",
    "SphereInclusion",
    "TetMesh",
    "boundary_facets",
    "build_mesh",
    "cell_geometry",
    "make_mesh",
    "read_mesh",
    "signed_volumes",
    "structured_box_mesh",
    "write_mesh",
]
