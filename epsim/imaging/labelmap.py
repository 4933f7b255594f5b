"""`LabelImage`: an integer label map on a voxel grid with the affine that places it in the world.

Convention (the one used everywhere in epsim.imaging): `affine` maps voxel indices (i, j, k),
voxel centres at integer indices, to world coordinates in millimetres in the NIfTI RAS+ frame:
x increases towards the patient's Right, y towards Anterior, z towards Superior. DICOM uses LPS+
(x towards Left, y towards Posterior, z towards Superior): a DICOM point (x, y, z) is the RAS+
point (-x, -y, z), converted where DICOM is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelImage:
    """Integer labels on a voxel grid placed in the world.

    Attributes:
        labels: (ni, nj, nk) non-negative integer array; 0 is unlabelled.
        affine: (4, 4) voxel index (i, j, k, 1) -> world (x, y, z, 1) in mm, RAS+.
        source: where it came from (file path or description), for messages.
        qform: (4, 4) the qform affine of the NIfTI file it was read from, kept so that images
            written on this grid carry it back unchanged; None: the qform is `affine`.
        xform_codes: (sform_code, qform_code) written with images on this grid (NIfTI codes:
            1 scanner anatomical, 2 aligned anatomical, ...).
    """

    labels: np.ndarray
    affine: np.ndarray
    source: str = "<array>"
    qform: np.ndarray | None = None
    xform_codes: tuple[int, int] = (1, 1)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3 (|det| of the affine's linear part)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def spacing_mm(self) -> np.ndarray:
        """(3,) voxel edge lengths in mm (column norms of the affine's linear part)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def world_mm(self, ijk: np.ndarray) -> np.ndarray:
        """(..., 3) voxel indices (may be fractional) -> (..., 3) world mm."""
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def voxel_index(self, world_mm: np.ndarray) -> np.ndarray:
        """(..., 3) world mm -> (..., 3) fractional voxel indices."""
        inverse = np.linalg.inv(self.affine)
        world_mm = np.asarray(world_mm, dtype=float)
        return world_mm @ inverse[:3, :3].T + inverse[:3, 3]
