"""Results as HDF5 at the stable paths of docs/design.md, section 6.

Layout (every dataset carries a `units` attribute: "m", "V", "V/m", "S/m", "A", "m^3", "K" or
"1" for dimensionless numbers, indices and flags):

    /mesh/points (n_nodes, 3) m, /mesh/cells (n_cells, 4), /mesh/cell_region (n_cells,)
        with attributes `names` (region names, index = id: the scene's named parts, the
        domain, layers, structures and vessels) and `materials` (each region's material;
        format version 2, absent in version 1 files, whose regions are materials)
    /fields/potential (n_pairs, n_nodes) V, /fields/e_mag (n_pairs, n_cells) V/m,
    /fields/sigma (n_pairs, n_cells) S/m, /fields/e_max (n_cells,) V/m,
    /fields/<extra> (n_cells,) for `Results.extra_fields` (permeabilisation, survival: 1;
        temperature_max: K)
    /pairs/anode, /pairs/cathode (utf-8 strings), /pairs/voltage V, /pairs/current A,
    /pairs/converged, /pairs/iterations, /pairs/linear_iterations, /pairs/<extra> for
        `Results.pair_fields` (pulse_current A; current_error 1: estimated relative error)
    /electrodes/<name> (n, 3) node triples; group attribute `names` keeps their order
    /metrics/<region>/{volume m^3, e_rev, e_irr, e_max_mean, e_max_max V/m,
        fraction_rev, fraction_irr 1; their estimated mesh errors fraction_rev_error,
        fraction_irr_error 1} as scalar datasets, attributes name, material, role;
        group attribute `names` keeps their order (one group per named part; version 1
        files: per material)
    root attributes: format ("epsim-results"), format_version, epsim_version, config (the
        resolved YAML text), created (ISO-8601 UTC), name

Files are written atomically (temporary file, fsync, rename) and never contain NaN or results of
a pair that did not converge.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from epsim.errors import EpsimError, InputError, SolverError
from epsim.io.atomic import atomic_output
from epsim.io.ownership import HDF5_SIGNATURE
from epsim.io.results import RegionMetrics, Results

FORMAT = "epsim-results"
FORMAT_VERSION = 2  # 2: regions per named part, with /mesh/cell_region attribute `materials`

CORE_FIELDS = {"potential": "V", "e_mag": "V/m", "sigma": "S/m", "e_max": "V/m"}
# Units of the extra per-cell fields epsim knows; others default to "1" unless given.
EXTRA_FIELD_UNITS = {"permeabilisation": "1", "survival": "1", "temperature_max": "K"}
PAIR_FIELD_UNITS = {"pulse_current": "A", "current_error": "1"}
PAIR_CORE = ("anode", "cathode", "voltage", "current", "converged", "iterations",
             "linear_iterations")
METRIC_UNITS = {
    "volume": "m^3",
    "e_rev": "V/m",
    "e_irr": "V/m",
    "fraction_rev": "1",
    "fraction_irr": "1",
    "e_max_mean": "V/m",
    "e_max_max": "V/m",
}
OPTIONAL_METRIC_UNITS = {
    "permeabilised_fraction": "1",
    "killed_fraction": "1",
    "temperature_max": "K",
    "damaged_fraction": "1",
    "fraction_rev_error": "1",
    "fraction_irr_error": "1",
}
_COMPRESS_MIN_SIZE = 4096  # arrays at least this big are gzip-compressed (portable filter)


def _pair_label(results: Results, k: int) -> str:
    return f"pair {k} ({results.anode[k]} -> {results.cathode[k]})"


def _check_name(name: str, what: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise InputError(f"{what} name {name!r} cannot be an HDF5 group name (no '/', not empty)")


def check_results(results: Results) -> None:
    """Raise unless `results` is consistent and fit to be written.

    Raises:
        SolverError: a pair did not converge, or a field or metric is not finite (names them).
        ValueError: arrays whose shapes do not agree (a bug in the caller).
        InputError: a region or electrode name that cannot be a group name.
    """
    n_nodes = results.points.shape[0]
    n_cells = results.cells.shape[0]
    n_pairs = len(results.anode)
    expected = {
        "points": (results.points, (n_nodes, 3)),
        "cells": (results.cells, (n_cells, 4)),
        "cell_region": (results.cell_region, (n_cells,)),
        "potential": (results.potential, (n_pairs, n_nodes)),
        "e_mag": (results.e_mag, (n_pairs, n_cells)),
        "sigma": (results.sigma, (n_pairs, n_cells)),
        "e_max": (results.e_max, (n_cells,)),
        "voltage": (results.voltage, (n_pairs,)),
        "current": (results.current, (n_pairs,)),
        "converged": (results.converged, (n_pairs,)),
        "iterations": (results.iterations, (n_pairs,)),
        "linear_iterations": (results.linear_iterations, (n_pairs,)),
    }
    expected.update({k: (v, (n_cells,)) for k, v in results.extra_fields.items()})
    for key, (value, shape) in expected.items():
        if np.shape(value) != shape:
            raise ValueError(f"results.{key} has shape {np.shape(value)}, expected {shape}")
    if len(results.cathode) != n_pairs:
        raise ValueError(f"{len(results.cathode)} cathodes for {n_pairs} anodes")
    if n_cells and not (0 <= np.min(results.cell_region) <= np.max(results.cell_region)
                        < len(results.region_names)):
        raise ValueError("cell_region holds ids outside region_names")
    if results.region_materials and len(results.region_materials) != len(results.region_names):
        raise ValueError("region_materials must name one material per region")
    for name in results.region_names:
        _check_name(name, "region")
    for m in results.metrics:
        _check_name(m.name, "metrics region")
    for name in results.electrode_facets:
        _check_name(name, "electrode")
    if len(set(m.name for m in results.metrics)) != len(results.metrics):
        raise ValueError("two metrics entries share a region name")
    for key, value in results.pair_fields.items():
        if key in PAIR_CORE or np.shape(value)[:1] != (n_pairs,):
            raise ValueError(f"results.pair_fields[{key!r}]: reserved name or not one row per pair")
    if len(set(results.extra_fields) & set(CORE_FIELDS)):
        raise ValueError(f"extra_fields may not reuse the names {sorted(CORE_FIELDS)}")

    failed = [_pair_label(results, k) for k in np.flatnonzero(~np.asarray(results.converged))]
    if failed:
        raise SolverError(
            f"run {results.name!r}: not written, the solve did not converge for "
            + ", ".join(failed)
        )
    bad = []
    per_pair = {"potential": results.potential, "e_mag": results.e_mag, "sigma": results.sigma}
    for key, value in per_pair.items():
        rows = np.flatnonzero(~np.all(np.isfinite(value), axis=1))
        bad += [f"{key} of {_pair_label(results, k)}" for k in rows]
    for key in ("voltage", "current"):
        rows = np.flatnonzero(~np.isfinite(getattr(results, key)))
        bad += [f"{key} of {_pair_label(results, k)}" for k in rows]
    others = {"points": results.points, "e_max": results.e_max, **results.extra_fields,
              **results.pair_fields}
    bad += [key for key, value in others.items() if not np.all(np.isfinite(value))]
    for m in results.metrics:
        bad += [f"metrics {m.name}.{key}" for key in (*METRIC_UNITS, *OPTIONAL_METRIC_UNITS)
                if getattr(m, key) is not None and not np.isfinite(getattr(m, key))]
    if bad:
        raise SolverError(
            f"run {results.name!r}: not written, non-finite values in " + ", ".join(bad)
        )


def _dataset(group, key: str, data, units: str, **attrs):
    data = np.asarray(data)
    options = {}
    if data.size >= _COMPRESS_MIN_SIZE:
        options = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    dset = group.create_dataset(key, data=data, **options)
    dset.attrs["units"] = units
    for k, v in attrs.items():
        dset.attrs[k] = v
    return dset


def _write_file(f, results: Results, extra_units: Mapping[str, str]) -> None:
    import h5py

    from epsim import __version__

    strings = h5py.string_dtype("utf-8")
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["epsim_version"] = __version__
    f.attrs["config"] = results.config_yaml
    f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    f.attrs["name"] = results.name

    mesh = f.create_group("mesh")
    _dataset(mesh, "points", np.asarray(results.points, dtype=np.float64), "m")
    _dataset(mesh, "cells", np.asarray(results.cells, dtype=np.int64), "1")
    region = _dataset(mesh, "cell_region", np.asarray(results.cell_region, dtype=np.int32), "1")
    region.attrs.create("names", list(results.region_names), dtype=strings)
    materials = [results.material_of(k) for k in range(len(results.region_names))]
    region.attrs.create("materials", materials, dtype=strings)

    fields = f.create_group("fields", track_order=True)
    for key, units in CORE_FIELDS.items():
        _dataset(fields, key, np.asarray(getattr(results, key), dtype=np.float64), units)
    for key, value in results.extra_fields.items():
        units = extra_units.get(key, EXTRA_FIELD_UNITS.get(key, "1"))
        _dataset(fields, key, np.asarray(value, dtype=np.float64), units)

    pairs = f.create_group("pairs")
    for key in ("anode", "cathode"):
        dset = pairs.create_dataset(key, data=list(getattr(results, key)), dtype=strings)
        dset.attrs["units"] = "1"
    _dataset(pairs, "voltage", np.asarray(results.voltage, dtype=np.float64), "V")
    _dataset(pairs, "current", np.asarray(results.current, dtype=np.float64), "A")
    _dataset(pairs, "converged", np.asarray(results.converged, dtype=bool), "1")
    _dataset(pairs, "iterations", np.asarray(results.iterations, dtype=np.int64), "1")
    _dataset(pairs, "linear_iterations",
             np.asarray(results.linear_iterations, dtype=np.int64), "1")
    for key, value in results.pair_fields.items():
        _dataset(pairs, key, np.asarray(value, dtype=np.float64), PAIR_FIELD_UNITS.get(key, "1"))

    electrodes = f.create_group("electrodes")
    electrodes.attrs.create("names", list(results.electrode_facets), dtype=strings)
    for key, facets in results.electrode_facets.items():
        _dataset(electrodes, key, np.asarray(facets, dtype=np.int64).reshape(-1, 3), "1")

    metrics = f.create_group("metrics")
    metrics.attrs.create("names", [m.name for m in results.metrics], dtype=strings)
    for m in results.metrics:
        group = metrics.create_group(m.name)
        group.attrs["name"] = m.name
        group.attrs["material"] = m.material
        group.attrs["role"] = m.role
        for key, units in METRIC_UNITS.items():
            _dataset(group, key, np.float64(getattr(m, key)), units)
        for key, units in OPTIONAL_METRIC_UNITS.items():
            if getattr(m, key) is not None:
                _dataset(group, key, np.float64(getattr(m, key)), units)


def write_results(
    path, results: Results, *, overwrite: bool = False,
    extra_units: Mapping[str, str] | None = None,
) -> Path:
    """Write `results` to an HDF5 file, atomically.

    Args:
        path: output file (parent directories are created).
        results: what a run produced, SI units.
        overwrite: replace an existing file.
        extra_units: units of extra fields not in `EXTRA_FIELD_UNITS` (default "1").
    Returns:
        The absolute path written.
    Raises:
        OutputExistsError: the file exists and `overwrite` is false (nothing is touched).
        SolverError: a pair did not converge or a value is not finite (nothing is written).
    """
    check_results(results)
    units = dict(extra_units or {})
    return write_hdf5(path, lambda f: _write_file(f, results, units), overwrite=overwrite)


def write_hdf5(path, fill: Callable, *, overwrite: bool = False) -> Path:
    """Write an HDF5 file atomically, built in memory by `fill(h5py.File)` first: the HDF5
    library then never writes to the disk itself. (On a full disk it printed hundreds of lines
    of errors and crashed the process at exit; a plain write fails cleanly and
    `atomic_output` turns that into one line.) Returns the absolute path written."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        fill(f)
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "wb") as out:
        out.write(buffer.getbuffer())
    return Path(path).expanduser().absolute()


def _str(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _strings(values) -> tuple[str, ...]:
    return tuple(_str(v) for v in values)


def checked_hdf5_path(path, what: str) -> Path:
    """`path` expanded, or InputError when it is not a file or lacks the HDF5 signature."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such {what}")
    with open(path, "rb") as f:
        if f.read(8) != HDF5_SIGNATURE:
            raise InputError(f"{path}: not an HDF5 file")
    return path


def read_results(path) -> Results:
    """Read a file written by `write_results`, checked as a file from anyone: HDF5, the
    epsim layout, sizes in proportion to the file, shapes that agree, cell indices within the
    nodes, finite values.

    Raises:
        InputError: the file is missing, not HDF5, not an epsim results file or damaged (names
            the path and what is wrong, in one line).
    """
    import h5py

    path = checked_hdf5_path(path, "results file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 file ({_short(err)})") from None
    with f:
        try:
            fmt = f.attrs.get("format")
            if fmt is not None and _str(fmt) != FORMAT:
                raise InputError(f"{path}: not an epsim results file (format {_short(fmt)})")
            _check_declared_size(f, path.stat().st_size)
            results = _read_file(f)
        except KeyError as err:
            raise InputError(f"{path}: not an epsim results file or damaged, missing "
                             f"{_short(err)}") from None
        except (OSError, ValueError, TypeError, AttributeError, IndexError, RuntimeError) as err:
            raise InputError(f"{path}: damaged results file ({_short(err)})") from None
    try:
        check_results(results)
        check_cells(results)
    except (ValueError, EpsimError) as err:
        raise InputError(f"{path}: damaged results file ({_short(err)})") from None
    return results


MAX_EXPANSION = 1000  # declared data per byte of file: gzip of real fields gives below 10


def _short(value) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _check_declared_size(f, file_bytes: int) -> None:
    """Refuse a file whose datasets declare far more data than its size could compress (a
    few kilobytes that would unpack to gigabytes)."""
    import h5py

    total = []
    f.visititems(lambda _, obj: total.append(obj.size * obj.dtype.itemsize)
                 if isinstance(obj, h5py.Dataset) else None)
    limit = MAX_EXPANSION * file_bytes + (64 << 20)
    if sum(total) > limit:
        raise ValueError(f"its datasets declare {sum(total) / 2**20:.0f} MiB in a file of "
                         f"{file_bytes / 2**20:.1f} MiB")


def check_cells(results: Results) -> None:
    """Raise ValueError unless every cell indexes existing nodes."""
    cells = np.asarray(results.cells)
    if cells.size and (cells.min() < 0 or cells.max() >= len(results.points)):
        raise ValueError(f"cells index nodes {cells.min()}..{cells.max()} of "
                         f"{len(results.points)}")


def _read_file(f) -> Results:
    fields = f["fields"]
    pairs = f["pairs"]
    electrodes = f["electrodes"]
    electrode_names = _strings(electrodes.attrs.get("names", sorted(electrodes)))
    metrics_group = f["metrics"]
    metrics = []
    for name in _strings(metrics_group.attrs.get("names", sorted(metrics_group))):
        g = metrics_group[name]
        metrics.append(RegionMetrics(
            name=_str(g.attrs.get("name", name)),
            material=_str(g.attrs["material"]),
            role=_str(g.attrs["role"]),
            **{key: float(g[key][()]) for key in METRIC_UNITS},
            **{key: float(g[key][()]) for key in OPTIONAL_METRIC_UNITS if key in g},
        ))
    return Results(
        points=f["mesh/points"][()],
        cells=f["mesh/cells"][()],
        cell_region=f["mesh/cell_region"][()],
        region_names=_strings(f["mesh/cell_region"].attrs["names"]),
        region_materials=_strings(f["mesh/cell_region"].attrs.get("materials", ())),
        potential=fields["potential"][()],
        e_mag=fields["e_mag"][()],
        sigma=fields["sigma"][()],
        e_max=fields["e_max"][()],
        anode=_strings(pairs["anode"][()]),
        cathode=_strings(pairs["cathode"][()]),
        voltage=pairs["voltage"][()],
        current=pairs["current"][()],
        converged=pairs["converged"][()].astype(bool),
        iterations=pairs["iterations"][()],
        linear_iterations=pairs["linear_iterations"][()],
        metrics=tuple(metrics),
        electrode_facets={name: electrodes[name][()] for name in electrode_names},
        config_yaml=_str(f.attrs["config"]),
        name=_str(f.attrs.get("name", "")),
        extra_fields={key: fields[key][()] for key in fields if key not in CORE_FIELDS},
        pair_fields={key: pairs[key][()] for key in pairs if key not in PAIR_CORE},
    )
