"""Tetrahedral meshes: the immutable TetMesh, its geometry, validation and file I/O."""

from epsim.mesh.tetmesh import TetMesh, boundary_facets, cell_geometry, make_mesh, signed_volumes

__all__ = ["TetMesh", "boundary_facets", "cell_geometry", "make_mesh", "signed_volumes"]
