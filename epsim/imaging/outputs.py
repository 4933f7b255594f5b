"""A run's per-cell outcomes on the input image's grid, as NIfTI files beside the HDF5.

    paths = image_output_paths(stem, heated=False)   # {"e_max": stem_e_max.nii.gz, ...}
    write_cell_images(paths, points, cells, fields, grid)

Each voxel centre takes the value of the mesh cell that holds it (`epsim.imaging.resample`,
one point location for every quantity); voxels outside the mesh (beyond the crop box, inside a
needle) are 0, so that viewers need no NaN handling. Files carry the input's affine exactly
(`epsim.imaging.nifti.write_nifti`), so 3D Slicer or ITK-SNAP overlay them on the CT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from epsim.imaging.labelmap import LabelImage
from epsim.imaging.nifti import write_nifti
from epsim.imaging.resample import MM, CellLocator

KELVIN_AT_0C = 273.15

# quantity -> (unit in the file, SI value -> file value)
IMAGE_QUANTITIES = {
    "e_max": ("V/cm", lambda v: v * 1e-2),
    "survival": ("1", lambda v: v),
    "permeabilisation": ("1", lambda v: v),
    "temperature_max": ("degC", lambda v: v - KELVIN_AT_0C),
}


def image_output_paths(stem, heated: bool) -> dict[str, Path]:
    """quantity -> `<stem>_<quantity>.nii.gz`: max field, survival, permeabilisation, and the
    peak temperature of a heated run."""
    names = ["e_max", "survival", "permeabilisation"] + (["temperature_max"] if heated else [])
    return {q: Path(f"{stem}_{q}.nii.gz") for q in names}


def write_cell_images(paths: Mapping[str, Path], points, cells,
                      fields: Mapping[str, np.ndarray], grid: LabelImage) -> None:
    """Write each quantity of `paths` on `grid`'s voxels (float32, units of `IMAGE_QUANTITIES`).

    Args:
        paths: quantity -> file (.nii.gz).
        points: (n_nodes, 3) m; cells: (n_cells, 4).
        fields: quantity -> (n_cells,) SI values.
        grid: the input label map (its shape and affine).
    """
    shape = grid.labels.shape
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    cell = CellLocator(np.asarray(points), np.asarray(cells)).locate(
        grid.world_mm(ijk.reshape(-1, 3)) * MM)
    inside = cell >= 0
    for quantity, path in paths.items():
        unit, convert = IMAGE_QUANTITIES[quantity]
        values = np.zeros(cell.shape, dtype=np.float32)
        values[inside] = convert(np.asarray(fields[quantity], dtype=float))[cell[inside]]
        write_nifti(path, values.reshape(shape), grid, description=f"epsim {quantity} ({unit})")


__all__ = ["IMAGE_QUANTITIES", "image_output_paths", "write_cell_images"]
