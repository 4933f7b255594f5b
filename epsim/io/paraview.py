"""Results for ParaView, in the units of the pictures: millimetres and V/cm.

A run writes three files (`paraview_outputs`), each atomically:

    <out>.vtu             the tissue: tetrahedra, coordinates in mm
    <out>_electrodes.vtu  the conducting electrode surfaces (triangles, mm)
    <out>.vtm             a multiblock naming both ("tissue", "electrodes"): open this one

Tissue cell data (one value per tetrahedron; pair a->b, anode a and cathode b, is named "a-b",
names reduced to letters, digits and `_.+-`, " #2", " #3" for a pair fired again):

    region                    id of the cell's region; field data arrays `region <name>` hold
                              each region's id (the domain, layers, structures and vessels by
                              name) and `material <name>` each material's id
    material                  id of the cell's material
    E_max [V/cm]              largest |E| over the pairs
    |E| a-b [V/cm]            the field strength of pair a->b
    E a-b [V/cm]              the field vector of pair a->b (3 components, -grad potential)
    sigma a-b [S/m]           the conductivity during pair a->b
    permeabilisation, survival, thermal_damage   (1), temperature_max [degC]   when computed

Tissue point data: `potential a-b [V]`. Electrode cell data: `electrode` (id; field data
`electrode <name>`), point data `potential a-b [V]` on the surfaces.

Why not "a->b": VTK's reader loses its place in inline binary data after an attribute holding
an XML entity (`&gt;`), so an array named "a->b" reads back empty (measured with VTK 9.7);
names therefore hold no `&<>"'`.

The HDF5 results file stays in SI; these files are for looking at. `.xdmf` (one file, data
inline in the XML) holds the tissue arrays only: meshio would name an HDF5 side file `<stem>.h5`,
clobbering the results file, and a pair of files cannot be replaced atomically.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Mapping
from xml.sax.saxutils import quoteattr

import numpy as np

from epsim.errors import InputError
from epsim.io.atomic import atomic_output
from epsim.io.hdf5 import check_results
from epsim.io.results import Results

FORMATS = {".vtu": "vtu", ".xdmf": "xdmf", ".xmf": "xdmf"}
MM_PER_M = 1e3
V_PER_CM = 100.0  # V/m in one V/cm
KELVIN_AT_0C = 273.15

# Extra per-cell fields: the array name and how to show them (scale, offset).
EXTRA_ARRAYS = {
    "temperature_max": ("temperature_max [degC]", 1.0, -KELVIN_AT_0C),
}


def vtk_name(name: str) -> str:
    """A name reduced to letters, digits and `_.+-` (others become `_`)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "_"


def pair_names(results: Results) -> list[str]:
    """"anode-cathode" per pair, VTK-safe, a repeated pair numbered " #2", " #3"."""
    names, seen = [], {}
    for a, c in zip(results.anode, results.cathode):
        label = f"{vtk_name(a)}-{vtk_name(c)}"
        seen[label] = seen.get(label, 0) + 1
        names.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return names


def paraview_outputs(path) -> dict[str, Path]:
    """The files of a ParaView set for the tissue file `path` (.vtu): keys "paraview" (the
    tissue), "electrodes" and "multiblock" (the .vtm to open)."""
    path = Path(path)
    stem = path.with_suffix("")
    return {"paraview": path, "electrodes": Path(f"{stem}_electrodes.vtu"),
            "multiblock": stem.with_suffix(".vtm")}


def field_vectors(points: np.ndarray, cells: np.ndarray, potential: np.ndarray) -> np.ndarray:
    """(n_cells, 3) E = -grad(potential) of a P1 nodal potential (V/m for m and V)."""
    x = points[cells]
    edges = x[:, 1:] - x[:, :1]  # (n, 3, 3): rows are edge vectors
    rise = potential[cells][:, 1:] - potential[cells][:, :1]
    return -np.linalg.solve(edges, rise[..., None])[..., 0]


def _region_ids(results: Results) -> tuple[np.ndarray, dict[str, int], dict[str, int]]:
    """Per-cell material ids, and the ids of region and material names."""
    regions = {name: k for k, name in enumerate(results.region_names)}
    materials = list(dict.fromkeys(results.material_of(k) for k in range(len(regions))))
    of_region = np.array([materials.index(results.material_of(k)) for k in range(len(regions))],
                         dtype=np.int32)
    cell_material = of_region[np.asarray(results.cell_region)]
    return cell_material, regions, {m: k for k, m in enumerate(materials)}


def results_mesh(results: Results):
    """The tissue as a `meshio.Mesh` (mm, V/cm) with the arrays in the module docstring."""
    import meshio

    points = np.asarray(results.points, dtype=np.float64)
    cells = np.asarray(results.cells, dtype=np.int64)
    cell_material, _, _ = _region_ids(results)
    cell_data = {
        "region": np.asarray(results.cell_region, dtype=np.int32),
        "material": cell_material,
        "E_max [V/cm]": np.asarray(results.e_max, dtype=np.float64) / V_PER_CM,
    }
    point_data = {}
    for k, label in enumerate(pair_names(results)):
        cell_data[f"|E| {label} [V/cm]"] = np.asarray(results.e_mag[k], np.float64) / V_PER_CM
        potential = np.asarray(results.potential[k], dtype=np.float64)
        cell_data[f"E {label} [V/cm]"] = field_vectors(points, cells, potential) / V_PER_CM
        cell_data[f"sigma {label} [S/m]"] = np.asarray(results.sigma[k], dtype=np.float64)
        point_data[f"potential {label} [V]"] = potential
    for key, value in results.extra_fields.items():
        name, scale, offset = EXTRA_ARRAYS.get(key, (key, 1.0, 0.0))
        cell_data[name] = np.asarray(value, dtype=np.float64) * scale + offset
    return meshio.Mesh(points * MM_PER_M, [("tetra", cells)], point_data=point_data,
                       cell_data={key: [value] for key, value in cell_data.items()})


def electrodes_mesh(results: Results):
    """The conducting electrode surfaces as a `meshio.Mesh` of triangles (mm), with the cell
    data `electrode` (id) and the point data `potential a-b [V]`."""
    import meshio

    names = list(results.electrode_facets)
    facets = [np.asarray(results.electrode_facets[n], dtype=np.int64).reshape(-1, 3)
              for n in names]
    triangles = np.concatenate(facets) if facets else np.zeros((0, 3), dtype=np.int64)
    used, local = np.unique(triangles, return_inverse=True)
    ids = np.concatenate([np.full(len(f), k, dtype=np.int32) for k, f in enumerate(facets)]
                         or [np.zeros(0, dtype=np.int32)])
    points = np.asarray(results.points, dtype=np.float64)[used] * MM_PER_M
    point_data = {f"potential {label} [V]": np.asarray(results.potential[k])[used]
                  for k, label in enumerate(pair_names(results))}
    return meshio.Mesh(points, [("triangle", local.reshape(-1, 3))], point_data=point_data,
                       cell_data={"electrode": [ids]})


def _field_data_xml(arrays: Mapping[str, int]) -> str:
    """VTK XML FieldData with one Int32 value per name (readable by VTK and meshio)."""
    rows = "".join(
        f'<DataArray type="Int32" Name={quoteattr(name)} NumberOfTuples="1" '
        f'format="ascii">{value}</DataArray>\n' for name, value in arrays.items()
    )
    return f"<FieldData>\n{rows}</FieldData>\n"


def _write_vtu(path: Path, mesh, field_data: Mapping[str, int]) -> None:
    """meshio's binary, zlib-compressed VTU, with `field_data` inserted (meshio writes none):
    the head of the file is patched and the rest copied as it is."""
    import meshio

    raw = path.with_name(path.name + ".raw.vtu")
    try:
        meshio.vtu.write(raw, mesh, binary=True, compression="zlib")
        with open(raw, "rb") as src, open(path, "wb") as out:
            head = src.read(4096)
            tag = b"<UnstructuredGrid>"
            at = head.index(tag) + len(tag)
            out.write(head[:at] + b"\n" + _field_data_xml(field_data).encode() + head[at:])
            shutil.copyfileobj(src, out)
    finally:
        raw.unlink(missing_ok=True)


def _check_format(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown ParaView format {suffix!r}; use one of {sorted(FORMATS)}")
    return FORMATS[suffix]


def write_paraview(path, results: Results, *, overwrite: bool = False) -> Path:
    """Write the tissue for ParaView (mm, V/cm; arrays in the module docstring); the format
    follows the extension (.vtu, or .xdmf/.xmf without field data).

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

    kind = _check_format(path)
    check_results(results)
    mesh = results_mesh(results)
    _, regions, materials = _region_ids(results)
    names = {**{f"region {vtk_name(n)}": k for n, k in regions.items()},
             **{f"material {vtk_name(n)}": k for n, k in materials.items()}}
    with atomic_output(path, overwrite=overwrite) as tmp:
        if kind == "vtu":
            _write_vtu(tmp, mesh, names)
        else:
            meshio.xdmf.write(tmp, mesh, data_format="XML")
    return Path(path).expanduser().absolute()


def write_electrodes(path, results: Results, *, overwrite: bool = False) -> Path:
    """Write the conducting electrode surfaces as a .vtu (mm), one id per electrode."""
    if _check_format(path) != "vtu":
        raise InputError(f"{path}: electrode surfaces are written as .vtu")
    check_results(results)
    names = {f"electrode {vtk_name(n)}": k for k, n in enumerate(results.electrode_facets)}
    with atomic_output(path, overwrite=overwrite) as tmp:
        _write_vtu(tmp, electrodes_mesh(results), names)
    return Path(path).expanduser().absolute()


def write_multiblock(path, blocks: Mapping[str, Path], *, overwrite: bool = False) -> Path:
    """Write a .vtm naming `blocks` (block name -> file, referred to relative to the .vtm)."""
    if Path(path).suffix.lower() != ".vtm":
        raise InputError(f"{path}: a multiblock file ends in .vtm")
    folder = Path(path).expanduser().absolute().parent
    rows = "".join(
        f"    <DataSet index=\"{k}\" name={quoteattr(name)} "
        f"file={quoteattr(os.path.relpath(Path(file).expanduser().absolute(), folder))}/>\n"
        for k, (name, file) in enumerate(blocks.items())
    )
    text = ('<?xml version="1.0"?>\n<VTKFile type="vtkMultiBlockDataSet" version="1.0" '
            'byte_order="LittleEndian">\n  <vtkMultiBlockDataSet>\n'
            f"{rows}  </vtkMultiBlockDataSet>\n</VTKFile>\n")
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path).expanduser().absolute()


def write_paraview_set(path, results: Results, *, overwrite: bool = False) -> list[Path]:
    """Write the tissue `path` (.vtu), its electrodes and the .vtm naming both, the three
    files of `paraview_outputs(path)`, in one folder."""
    paths = paraview_outputs(path)
    written = [write_paraview(paths["paraview"], results, overwrite=overwrite),
               write_electrodes(paths["electrodes"], results, overwrite=overwrite)]
    blocks = {"tissue": written[0], "electrodes": written[1]}
    written.append(write_multiblock(paths["multiblock"], blocks, overwrite=overwrite))
    return written
