"""Sweep files: one atomic file per finished chunk, and the table assembled from them.

    DIR/chunks/chunk_<key>.npz   one per finished chunk (the source of truth), named by a hash of
                                 its points; each row is keyed by its point's hash
    DIR/sweep.h5                 every point's parameters and metrics, the base config, the axes

A rerun looks up every point's hash in the chunk files and evaluates only the points that are
missing, so a killed worker or a killed sweep loses only unfinished chunks. The table is
rebuilt from the chunk files each time. Neither file holds a scheduler address or credentials.

sweep.h5 layout:
    /points/index (n,), /points/key (n,) str, /points/chunk (n,) str (chunk file name)
    /points/design (n,) the design point (1, 2, ...: one per combination of grid values)
    /parameters/<key path> (n,) or (n, k): the swept field's value in SI (resolved config);
        attributes `units` (SI), `role` ("design": a grid axis or explicit point;
        "uncertainty": a random or Latin axis) and `config_units` (the unit the config writes
        it in, which summary.txt and coverage.png use)
    /written/<key path> (n,) str: the values as written in the file's units, as YAML
    /metrics/coverage_rev, coverage_irr (n,)   fraction of the target volume, 0..1
    /metrics/max_current (n,) A; current, residual, iterations, linear_iterations (n, n_pairs)
    /metrics/converged (n,) bool; /metrics/status (n,) str ("ok" or why not)
    /metrics/regions/<region>/fraction_rev, fraction_irr (n,)
    /axes: the sweep block after merging the command line's axes (YAML text)
    root attributes: epsim_version, base_config (resolved YAML), created, source, n_points,
        n_failed
Metrics of points that did not converge (or whose chunk could not be evaluated) are NaN, and their
status says why. Arrays over pairs or regions that a point does not have are NaN as well.
DIR/sweep.csv holds the same table, one row per point (`epsim.sweep.export`).
"""

from __future__ import annotations

import datetime
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from epsim import __version__
from epsim.config import resolved_to_yaml
from epsim.errors import InputError
from epsim.io.atomic import atomic_output
from epsim.sweep.design import DesignPoint, design_index, design_points
from epsim.sweep.plan import Plan, parameter_value, si_unit

CHUNK_DIR = "chunks"
TABLE = "sweep.h5"


def chunk_path(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / CHUNK_DIR / f"chunk_{key}.npz"


def write_chunk(out_dir: Path, key: str, point_keys, result: dict[str, np.ndarray]) -> Path:
    """Write one chunk's results atomically (a reader never sees half a file)."""
    path = chunk_path(out_dir, key)
    with atomic_output(path, overwrite=True) as tmp:
        np.savez(tmp, point_key=np.array(point_keys, dtype=str), **result)
    return path


def failed_result(n: int, message: str) -> dict[str, np.ndarray]:
    """The chunk result of points whose evaluation failed with a deterministic input error
    (a scene that cannot be meshed, say): status says why, metrics are NaN."""
    nan = np.full(n, np.nan)
    return {
        "status": np.array([f"failed: {message}"] * n, dtype=str),
        "converged": np.zeros(n, dtype=bool),
        "coverage_rev": nan, "coverage_irr": nan, "max_current": nan,
        "region_names": np.array([], dtype=str),
    }


def _read_chunk(path: Path, keys=None) -> dict[str, np.ndarray] | None:
    """The chunk file's arrays (only those in `keys` if given: each array costs a header parse)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files if keys is None or k in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None  # unreadable: its points count as not done and are evaluated again


def finished_points(out_dir: Path) -> dict[str, tuple[Path, int]]:
    """point key -> (chunk file, row) for every point some chunk file holds."""
    found: dict[str, tuple[Path, int]] = {}
    folder = Path(out_dir) / CHUNK_DIR
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("chunk_*.npz")):
        data = _read_chunk(path, ("point_key",))
        if data is None or "point_key" not in data:
            continue
        for row, key in enumerate(data["point_key"]):
            found.setdefault(str(key), (path, row))
    return found


@dataclass
class SweepTable:
    """Every point's parameters and metrics (see the module docstring for meanings and units)."""

    index: np.ndarray
    key: np.ndarray
    chunk: np.ndarray
    parameters: dict[str, np.ndarray]
    status: np.ndarray
    converged: np.ndarray
    coverage_rev: np.ndarray
    coverage_irr: np.ndarray
    max_current: np.ndarray
    current: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    linear_iterations: np.ndarray
    fraction_rev: dict[str, np.ndarray]
    fraction_irr: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    config_units: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    def designs(self) -> tuple[DesignPoint, ...]:
        """The design points (combinations of grid values) and their rows."""
        return design_points(self.parameters, self.roles, self.config_units)

    def design(self) -> np.ndarray:
        """(n,) the design point number of every row."""
        return design_index(self.designs(), len(self))


def _parameter_column(values: list) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float)
    if all(isinstance(v, tuple) for v in values) and len({len(v) for v in values}) == 1:
        return np.asarray(values, dtype=float)
    return np.array([str(v) for v in values], dtype=str)


def assemble(plan: Plan, out_dir: Path) -> SweepTable:
    """The table of every plan point from the chunk files.

    Raises:
        KeyError: a point has no finished chunk (the sweep is incomplete).
    """
    done = finished_points(out_dir)
    missing = [p.index for p in plan.points if p.key not in done]
    if missing:
        raise KeyError(f"{len(missing)} point(s) have no finished chunk, e.g. {missing[:5]}")
    cache: dict[Path, dict] = {}
    rows = []
    for p in plan.points:
        path, row = done[p.key]
        if path not in cache:
            cache[path] = _read_chunk(path)
        rows.append((cache[path], row, path.name))

    n = len(plan.points)
    n_pairs = max(len(p.config.protocol.pairs) for p in plan.points)
    regions = list(dict.fromkeys(str(r) for data, _, _ in rows for r in data["region_names"]))

    def scalar(name):
        return np.array([float(d[name][r]) for d, r, _ in rows])

    def per_pair(name, dtype=float, fill=np.nan):
        out = np.full((n, n_pairs), fill, dtype=dtype)
        for i, (d, r, _) in enumerate(rows):
            if name in d:
                out[i, : d[name].shape[1]] = d[name][r]
        return out

    def per_region(name):
        cols = {reg: np.full(n, np.nan) for reg in regions}
        for i, (d, r, _) in enumerate(rows):
            if name in d:
                for j, reg in enumerate(d["region_names"]):
                    cols[str(reg)][i] = d[name][r, j]
        return cols

    status = np.array([str(d["status"][r]) for d, r, _ in rows], dtype=str)
    return SweepTable(
        index=np.array([p.index for p in plan.points]),
        key=np.array([p.key for p in plan.points], dtype=str),
        chunk=np.array([name for _, _, name in rows], dtype=str),
        parameters={
            path: _parameter_column([parameter_value(p, path) for p in plan.points])
            for path in plan.paths
        },
        status=status,
        converged=np.array([bool(d["converged"][r]) for d, r, _ in rows]),
        coverage_rev=scalar("coverage_rev"),
        coverage_irr=scalar("coverage_irr"),
        max_current=scalar("max_current"),
        current=per_pair("current"),
        residual=per_pair("residual"),
        iterations=per_pair("iterations", np.int64, -1),
        linear_iterations=per_pair("linear_iterations", np.int64, -1),
        fraction_rev=per_region("fraction_rev"),
        fraction_irr=per_region("fraction_irr"),
        attrs={
            "epsim_version": __version__,
            "base_config": resolved_to_yaml(plan.base),
            "axes": plan.axes_yaml(),
            "source": str(plan.source),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "n_points": n,
            "n_failed": int(np.sum(status != "ok")),
        },
        roles=plan.roles(),
        config_units=plan.config_units(),
    )


def _flow(value: Any) -> str:
    """A written value as one line of YAML ('' when the point does not set it)."""
    if value is None:
        return ""
    return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip().removesuffix("...").strip()


_METRIC_UNITS = {
    "coverage_rev": "1", "coverage_irr": "1", "max_current": "A", "current": "A",
    "residual": "1", "iterations": "1", "linear_iterations": "1",
}


def write_table(path: Path, table: SweepTable, plan: Plan) -> Path:
    """Write the table as HDF5, atomically, replacing an older table."""
    import h5py

    buffer = io.BytesIO()  # built in memory, written with plain I/O: see io.hdf5.write_hdf5
    with h5py.File(buffer, "w") as f:
        strings = h5py.string_dtype()
        for key, value in table.attrs.items():
            if key == "axes":  # may be long (explicit points): a dataset, not an attribute
                f.create_dataset("axes", data=value, dtype=strings)
            else:
                f.attrs[key] = value
        pts = f.create_group("points")
        pts["index"] = table.index
        pts.create_dataset("key", data=table.key.astype(object), dtype=strings)
        pts.create_dataset("chunk", data=table.chunk.astype(object), dtype=strings)
        pts["design"] = table.design()
        par = f.create_group("parameters", track_order=True)  # read back in the plan's order
        for name, column in table.parameters.items():
            if column.dtype.kind in "US":
                ds = par.create_dataset(name, data=column.astype(object), dtype=strings)
            else:
                ds = par.create_dataset(name, data=column)
                ds.attrs["units"] = si_unit(name)
            ds.attrs["role"] = table.roles.get(name, "uncertainty")
            ds.attrs["config_units"] = table.config_units.get(name, "")
            written = [_flow(p.overrides.get(name)) for p in plan.points]
            f.create_dataset(f"written/{name}", data=np.array(written, dtype=object), dtype=strings)
        met = f.create_group("metrics")
        met.create_group("regions", track_order=True)
        for name, unit in _METRIC_UNITS.items():
            met[name] = getattr(table, name)
            met[name].attrs["units"] = unit
        met["converged"] = table.converged
        met.create_dataset("status", data=table.status.astype(object), dtype=strings)
        for region in table.fraction_rev:
            g = met.create_group(f"regions/{region}")
            g["fraction_rev"] = table.fraction_rev[region]
            g["fraction_irr"] = table.fraction_irr[region]
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return Path(path)


def table_path(path: str | Path) -> Path:
    """The sweep.h5 of a sweep folder (or the file itself).

    Raises:
        InputError: no such folder or file, or a folder whose sweep has not finished.
    """
    path = Path(path)
    if path.is_dir():
        table = path / TABLE
        if table.is_file():
            return table
        n = len(list((path / CHUNK_DIR).glob("chunk_*.npz")))
        if n:
            raise InputError(
                f"{path} has no {TABLE}: the sweep has not finished ({n} chunk file(s) so far); "
                "run the same `epsim sweep` command again to finish it"
            )
        raise InputError(f"{path} holds no sweep: no {TABLE} in it (run `epsim sweep CONFIG -o {path}`)")
    if not path.exists():
        raise InputError(
            f"no sweep at {path}: no such folder or file (run `epsim sweep CONFIG -o FOLDER` "
            f"first, then read FOLDER or FOLDER/{TABLE})"
        )
    return path


def read_table(path: str | Path) -> SweepTable:
    """Read a sweep table back: a sweep folder or its sweep.h5.

    Raises:
        InputError: no sweep there, an unfinished sweep, or a file that is not a sweep table.
    """
    import h5py

    path = table_path(path)
    try:
        with h5py.File(path, "r") as f:
            return _table_from(f)
    except (OSError, KeyError) as exc:
        raise InputError(f"{path} is not a sweep table written by `epsim sweep` ({exc})") from None


def _table_from(f) -> SweepTable:
    def text(ds):
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]], dtype=str)

    def attr(ds, name, default):
        value = ds.attrs.get(name, default)
        return value.decode() if isinstance(value, bytes) else str(value)

    met = f["metrics"]
    params = {}
    for name, ds in f["parameters"].items():
        params[name] = text(ds) if ds.dtype.kind in "OS" else ds[()]
    regions = met["regions"] if "regions" in met else {}
    return SweepTable(
        index=f["points/index"][()],
        key=text(f["points/key"]),
        chunk=text(f["points/chunk"]),
        parameters=params,
        status=text(met["status"]),
        converged=met["converged"][()],
        coverage_rev=met["coverage_rev"][()],
        coverage_irr=met["coverage_irr"][()],
        max_current=met["max_current"][()],
        current=met["current"][()],
        residual=met["residual"][()],
        iterations=met["iterations"][()],
        linear_iterations=met["linear_iterations"][()],
        fraction_rev={r: regions[r]["fraction_rev"][()] for r in regions},
        fraction_irr={r: regions[r]["fraction_irr"][()] for r in regions},
        attrs={
            **{k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()},
            "axes": f["axes"].asstr()[()] if "axes" in f else "",
        },
        roles={n: attr(ds, "role", "uncertainty") for n, ds in f["parameters"].items()},
        config_units={n: attr(ds, "config_units", "") for n, ds in f["parameters"].items()},
    )


__all__ = [
    "SweepTable",
    "assemble",
    "chunk_path",
    "failed_result",
    "finished_points",
    "read_table",
    "table_path",
    "write_chunk",
    "write_table",
]
