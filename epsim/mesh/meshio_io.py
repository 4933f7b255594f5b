"""Read and write tetrahedral meshes with region and facet tags through meshio.

Formats: gmsh .msh (read: 2.2 and 4.1; write: 2.2), VTK .vtu and XDMF .xdmf (+ .h5); reading
also accepts anything else meshio reads that carries the tags below.

Tags in files:
- .msh: the physical group of each tetrahedron is its region, of each triangle its facet tag
  (cell data "gmsh:physical"); names come from $PhysicalNames (meshio `field_data`,
  name -> [id, dim]). Triangles with physical id 0 carry no tag.
- .vtu/.xdmf: integer cell data "region" (on tetrahedra) and "facet_tag" (on triangles), ids from
  1, with 0 as filler on the other block. A triangle in several facet sets is written once per
  set. meshio writes no `field_data` to these formats, so `write_mesh` adds the names itself in
  the places meshio's readers look: a VTK <FieldData> block (one Int64 array [id, dim] per
  name) in the .vtu, and an <Information> element (meshio's `<main><map key=NAME dim=DIM>ID
  </map>...</main>`) in the .xdmf grid. Files without names get "region_<id>" / "facet_<id>"
  unless `region_names` says otherwise.
A name must not be both a region and a facet tag when writing (the name maps are keyed by name).
Points are stored in metres; `read_mesh(..., length_unit="mm")` converts a file in millimetres.
"""

from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from epsim.errors import MeshError, MeshReadError, MissingTagError
from epsim.mesh.tetmesh import TetMesh, make_mesh

LENGTH_UNITS = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6}
REGION_KEY, FACET_KEY = "region", "facet_tag"
_REGION_KEYS = (REGION_KEY, "gmsh:physical", "medit:ref")
_FACET_KEYS = (FACET_KEY, "gmsh:physical", "medit:ref")
_TETRA_TYPES = ("tetra", "tetra10")  # tetra10: the corner nodes are kept


def _blocks(raw, types: Sequence[str], keys: Sequence[str]):
    """Corner-node arrays of the blocks of `types`, with their tags under the first known key."""
    key = next((k for k in keys if k in raw.cell_data), None)
    cells, tags = [], []
    for i, block in enumerate(raw.cells):
        if block.type in types:
            n = 4 if block.type.startswith("tetra") else 3
            cells.append(np.asarray(block.data)[:, :n])
            tags.append(None if key is None else np.asarray(raw.cell_data[key][i]).reshape(-1))
    return cells, tags, key


def _names(raw, dim: int) -> dict[int, str]:
    """id -> name for tags of dimension `dim` from meshio field_data (name -> [id, dim])."""
    names = {}
    for name, value in raw.field_data.items():
        value = np.asarray(value).reshape(-1)
        if value.size == 2 and int(value[1]) == dim:
            names[int(value[0])] = str(name)
    return names


def _region_table(ids: np.ndarray, file_names: dict, region_names) -> tuple[str, ...]:
    """Region names for the sorted file ids: given names, else the file's, else region_<id>."""
    if region_names is not None and not isinstance(region_names, Mapping):
        names = tuple(str(n) for n in region_names)
        if len(names) != len(ids):
            raise MissingTagError(
                f"{len(names)} region names given for {len(ids)} region ids {ids.tolist()}"
            )
    else:
        table = {**file_names, **{int(k): str(v) for k, v in (region_names or {}).items()}}
        names = tuple(table.get(int(i), f"region_{int(i)}") for i in ids)
    if len(set(names)) != len(names):
        raise MeshReadError(f"region names must be unique, got {names}")
    return names


def read_mesh(
    path, *, length_unit: str = "m", region_names: Mapping[int, str] | Sequence[str] | None = None
) -> TetMesh:
    """Read a tetrahedral mesh with region and facet tags.

    Args:
        path: a .msh, .vtu, .xdmf (or other meshio-readable) file.
        length_unit: unit of the file's coordinates: "m", "cm", "mm" or "um"; points are
            converted to metres.
        region_names: names of the regions when the file has none (or to override them): a
            mapping from the file's region id to a name, or a sequence of names in order of
            increasing id.
    Returns:
        TetMesh; regions are ordered by increasing file id, nodes renumbered to those that
        tetrahedra use.
    Raises:
        MeshReadError: missing or unreadable file, no tetrahedra, unknown unit.
        MissingTagError: no region tags.
        MeshError (and subclasses): the mesh fails TetMesh validation. Messages name the file.
    """
    path = Path(path)
    if length_unit not in LENGTH_UNITS:
        raise MeshReadError(
            f"{path}: unknown length unit {length_unit!r}; use one of {sorted(LENGTH_UNITS)}"
        )
    if not path.is_file():
        raise MeshReadError(f"{path}: no such mesh file")
    try:
        raw = _read_raw(path)
    except Exception as exc:  # meshio raises many kinds
        detail = str(exc) or type(exc).__name__
        raise MeshReadError(f"{path}: cannot read mesh file: {detail}") from exc
    try:
        return _to_tetmesh(raw, LENGTH_UNITS[length_unit], region_names)
    except MeshError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def _read_raw(path: Path):
    """meshio.Mesh from a file. The three formats epsim writes go straight to their readers;
    others through meshio.read, which prints and calls sys.exit when no reader succeeds."""
    import meshio  # lazy: only the file edge needs it

    readers = {".msh": meshio.gmsh.read, ".vtu": meshio.vtu.read, ".xdmf": meshio.xdmf.read}
    reader = readers.get(path.suffix.lower())
    if reader is not None:
        return reader(str(path))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return meshio.read(path)
        except SystemExit:
            raise MeshReadError("no meshio reader accepts this file") from None


def _to_tetmesh(raw, factor: float, region_names) -> TetMesh:
    tets, tet_tags, key = _blocks(raw, _TETRA_TYPES, _REGION_KEYS)
    if not tets or sum(len(t) for t in tets) == 0:
        raise MeshReadError("the file contains no tetrahedra")
    if key is None:
        raise MissingTagError(
            f"the tetrahedra carry no region tags (cell data {list(_REGION_KEYS)}); "
            "mark the volumes with physical groups"
        )
    cells = np.concatenate(tets)
    region_ids = np.concatenate(tet_tags)
    file_names = _names(raw, 3)
    ids = np.union1d(region_ids, np.fromiter(file_names, dtype=np.int64))  # empty regions too
    cell_region = np.searchsorted(ids, region_ids)
    names = _region_table(ids, file_names, region_names)

    used, cells = np.unique(cells, return_inverse=True)
    cells = cells.reshape(-1, 4)
    renumber = np.full(len(raw.points), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))

    facet_names = _names(raw, 2)
    facets = {name: np.zeros((0, 3), dtype=np.int64) for name in facet_names.values()}
    triangles, tri_tags, tri_key = _blocks(raw, ("triangle",), _FACET_KEYS)
    if triangles and tri_key is not None:
        tri = renumber[np.concatenate(triangles)]
        tri_ids = np.concatenate(tri_tags)
        for i in np.unique(tri_ids[tri_ids != 0]):
            rows = tri[tri_ids == i]
            name = facet_names.get(int(i), f"facet_{int(i)}")
            if rows.min() < 0:
                raise MeshReadError(f"facets tagged {name!r} use nodes of no tetrahedron")
            facets[name] = rows
    points = np.asarray(raw.points, dtype=np.float64)[used] * factor
    if points.shape[1] != 3:
        raise MeshReadError(f"points must be 3D, got shape {points.shape}")
    return make_mesh(points, cells, cell_region, names, facets)


def _tag_tables(mesh: TetMesh) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Triangles (m, 3), their facet ids (m,), region ids (n_cells,), name -> [id, dim]."""
    clash = set(mesh.region_names) & set(mesh.facets)
    if clash:
        raise MeshError(
            f"names {sorted(clash)} are both regions and facet tags; rename one to write the mesh"
        )
    field_data = {name: np.array([i + 1, 3]) for i, name in enumerate(mesh.region_names)}
    triangles, facet_ids = [np.zeros((0, 3), dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for i, (name, tri) in enumerate(mesh.facets.items()):
        field_data[name] = np.array([i + 1, 2])
        triangles.append(np.asarray(tri, dtype=np.int64).reshape(-1, 3))
        facet_ids.append(np.full(len(triangles[-1]), i + 1, dtype=np.int64))
    region_ids = np.asarray(mesh.cell_region, dtype=np.int64) + 1
    return np.concatenate(triangles), np.concatenate(facet_ids), region_ids, field_data


def write_mesh(path, mesh: TetMesh) -> None:
    """Write `mesh` (points in metres) with its region and facet tags.

    Args:
        path: file name ending in .msh (gmsh 2.2, binary), .vtu or .xdmf (with a sibling .h5).
    Raises:
        MeshError: unsupported extension, or a name that is both a region and a facet tag.
    """
    import meshio  # lazy: only the file edge needs it

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".msh", ".vtu", ".xdmf"):
        raise MeshError(f"{path}: cannot write meshes with extension {suffix!r}")
    triangles, facet_ids, region_ids, field_data = _tag_tables(mesh)
    points = np.asarray(mesh.points, dtype=np.float64)
    cells = [("tetra", np.asarray(mesh.cells, dtype=np.int64))]
    has_triangles = len(triangles) > 0
    if has_triangles:
        cells.append(("triangle", triangles))

    def per_block(tet_values, tri_values):
        return [tet_values, tri_values] if has_triangles else [tet_values]

    if suffix == ".msh":
        tags = per_block(region_ids.astype(np.int32), facet_ids.astype(np.int32))
        out = meshio.Mesh(
            points,
            cells,
            cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
            field_data=field_data,
        )
        meshio.write(path, out, file_format="gmsh22", binary=True)
        return
    zeros_tet, zeros_tri = np.zeros_like(region_ids), np.zeros_like(facet_ids)
    cell_data = {REGION_KEY: per_block(region_ids, zeros_tri)}
    if has_triangles:
        cell_data[FACET_KEY] = per_block(zeros_tet, facet_ids)
    meshio.write(path, meshio.Mesh(points, cells, cell_data=cell_data))
    if suffix == ".vtu":
        _add_vtu_field_data(path, field_data)
    else:
        _add_xdmf_information(path, field_data)


def _add_vtu_field_data(path: Path, field_data: dict) -> None:
    """Insert a VTK <FieldData> block (name -> Int64 [id, dim]) into a .vtu file."""
    tree = ET.parse(path)
    grid = tree.getroot().find("UnstructuredGrid")
    block = ET.Element("FieldData")
    for name, (tag, dim) in field_data.items():
        array = ET.SubElement(
            block,
            "DataArray",
            type="Int64",
            Name=name,
            NumberOfTuples="1",
            NumberOfComponents="2",
            format="ascii",
        )
        array.text = f"{int(tag)} {int(dim)}"
    grid.insert(0, block)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _add_xdmf_information(path: Path, field_data: dict) -> None:
    """Insert meshio's <Information> element with the name map into an .xdmf grid."""
    tree = ET.parse(path)
    grid = tree.getroot().find("Domain/Grid")
    main = ET.Element("main")
    for name, (tag, dim) in field_data.items():
        ET.SubElement(main, "map", key=name, dim=str(int(dim))).text = str(int(tag))
    info = ET.Element("Information", Name="Information", Value=str(len(field_data)))
    info.text = ET.tostring(main, encoding="unicode")
    grid.insert(0, info)
    tree.write(path, encoding="utf-8", xml_declaration=True)
