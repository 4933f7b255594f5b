"""Results as a ParaView file (VTU or XDMF through meshio), written atomically.

Cell data: `region` (id into the region names), `e_max` (V/m), `e_mag_pair<k>` (V/m),
`sigma_pair<k>` (S/m) for pair k = 0, 1, ... (the row of /fields in the HDF5 results) and the
extra per-cell fields; point data: `potential_pair<k>` (V). Coordinates in metres.

Format choice: `.vtu` (binary, zlib-compressed, one file) is the recommended format. `.xdmf` is
written with its data inline in the XML (meshio's "XML" data format), not in an HDF5 side file:
meshio names the side file `<stem>.h5`, which would clobber the results file `<stem>.h5` written
next to it, and a pair of files cannot be replaced atomically. Inline XDMF is bigger and slower
to read, so prefer `.vtu` for large meshes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from epsim.errors import InputError
from epsim.io.atomic import atomic_output
from epsim.io.hdf5 import check_results
from epsim.io.results import Results

FORMATS = {".vtu": "vtu", ".xdmf": "xdmf", ".xmf": "xdmf"}


def results_mesh(results: Results):
    """The `meshio.Mesh` of `results` with the cell and point data described above."""
    import meshio

    n_pairs = len(results.anode)
    cell_data = {
        "region": np.asarray(results.cell_region, dtype=np.int32),
        "e_max": np.asarray(results.e_max, dtype=np.float64),
    }
    for k in range(n_pairs):
        cell_data[f"e_mag_pair{k}"] = np.asarray(results.e_mag[k], dtype=np.float64)
        cell_data[f"sigma_pair{k}"] = np.asarray(results.sigma[k], dtype=np.float64)
    for key, value in results.extra_fields.items():
        cell_data[key] = np.asarray(value, dtype=np.float64)
    point_data = {
        f"potential_pair{k}": np.asarray(results.potential[k], dtype=np.float64)
        for k in range(n_pairs)
    }
    return meshio.Mesh(
        np.asarray(results.points, dtype=np.float64),
        [("tetra", np.asarray(results.cells, dtype=np.int64))],
        point_data=point_data,
        cell_data={key: [value] for key, value in cell_data.items()},
    )


def write_paraview(path, results: Results, *, overwrite: bool = False) -> Path:
    """Write `results` for ParaView; the format follows the extension (.vtu or .xdmf/.xmf).

    Args:
        path: output file (parent directories are created).
        results: what a run produced, SI units.
        overwrite: replace an existing file.
    Returns:
        The absolute path written.
    Raises:
        InputError: an unknown extension.
        OutputExistsError: the file exists and `overwrite` is false (nothing is touched).
        SolverError: a pair did not converge or a value is not finite (nothing is written).
    """
    import meshio

    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown ParaView format {suffix!r}; use one of {sorted(FORMATS)}"
        )
    check_results(results)
    mesh = results_mesh(results)
    with atomic_output(path, overwrite=overwrite) as tmp:
        if FORMATS[suffix] == "vtu":
            meshio.vtu.write(tmp, mesh, binary=True, compression="zlib")
        else:
            meshio.xdmf.write(tmp, mesh, data_format="XML")
    return Path(path).expanduser().absolute()
