"""Tetrahedral meshes: the immutable TetMesh, its geometry, validation, generation and file I/O.

gmsh and meshio are imported lazily (only when a mesh is built, read or written).
"""

from epsim.mesh.gmsh import build_mesh
from epsim.mesh.meshio_io import LENGTH_UNITS, read_mesh, write_mesh
from epsim.mesh.scene import (
    Box,
    BoxInclusion,
    Cylinder,
    CylinderInclusion,
    EllipsoidInclusion,
    MeshSizes,
    Needle,
    PlateHole,
    Sphere,
    SphereHole,
    SphereInclusion,
    StlInclusion,
    TubeInclusion,
    check_scene,
    layer_inclusions,
    plate_pair,
    read_stl,
)
from epsim.mesh.ordering import locality_order, renumbered
from epsim.mesh.structured import structured_box_mesh
from epsim.mesh.tetmesh import TetMesh, boundary_facets, cell_geometry, make_mesh, signed_volumes

__all__ = [
    "Box",
    "BoxInclusion",
    "Cylinder",
    "CylinderInclusion",
    "EllipsoidInclusion",
    "LENGTH_UNITS",
    "MeshSizes",
    "Needle",
    "PlateHole",
    "Sphere",
    "SphereHole",
    "SphereInclusion",
    "StlInclusion",
    "TetMesh",
    "TubeInclusion",
    "boundary_facets",
    "build_mesh",
    "cell_geometry",
    "check_scene",
    "layer_inclusions",
    "locality_order",
    "make_mesh",
    "plate_pair",
    "read_mesh",
    "read_stl",
    "renumbered",
    "signed_volumes",
    "structured_box_mesh",
    "write_mesh",
]
