"""The audit trail: every evaluated candidate, kept in memory and written to HDF5 at the end.

Layout of `audit.h5` (one row per evaluated candidate, in evaluation order):

    /candidates/index            (n,) int, evaluation number
    /candidates/optimiser        (n,) str, adam | cmaes | check (nonlinear current check)
    /candidates/stage            (n,) str, linear | nonlinear
    /candidates/phase            (n,) str, the optimiser running (adam, cmaes, nonlinear);
    /candidates/phase_forward_solves (n,) its forward evaluations so far
    /candidates/start, step      (n,) int, start (track) and step or generation
    /candidates/forward_solves   (n,) int, forward evaluations of that optimiser so far
    /candidates/mesh             (n,) int, reference mesh id; /candidates/n_cells (n,)
    /candidates/shift            (n, n_needles, 3) m; tilt (n, n_needles, 2); voltage (n, n_pairs) V
    /candidates/tip, axis        (n, n_needles, 3) m and unit vectors
    /candidates/objective        (n,); /candidates/terms/<name> (n,) each objective term
    /candidates/coverage         (n,) hard coverage of the target plus margin (planning model)
    /candidates/spare_fraction_irr (n, n_spares); /candidates/current (n, n_pairs) A
    /candidates/min_volume_ratio, converged, gradient (n,) bool: evaluated with a gradient
    /candidates/time             (n,) s since the start
    attributes: needle names, pair labels, spare names, units
    /events/stage, what, detail  (m,) str, what went wrong and how it was handled (meshing
                                 retries, skipped candidates, projected steps, verification
                                 fallbacks), in order
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from epsim.io.hdf5 import write_hdf5


@dataclass
class Audit:
    """Collects candidate records (plain numpy) and writes them to HDF5."""

    needle_names: tuple[str, ...]
    pair_labels: tuple[str, ...]
    spare_names: tuple[str, ...]
    rows: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def record(self, **row) -> None:
        row.setdefault("index", len(self.rows))
        row.setdefault("time", time.perf_counter() - self.started)
        self.rows.append(row)

    def column(self, key: str, *, optimiser: str | None = None) -> np.ndarray:
        rows = [r for r in self.rows if optimiser is None or r["optimiser"] == optimiser]
        return np.asarray([r[key] for r in rows])

    def write(self, path, *, overwrite: bool = False, events=()) -> Path:
        """Write /candidates and /events (see the module doc) atomically; `events` are
        (stage, what, detail) rows. Built in memory first (`epsim.io.hdf5.write_hdf5`), so a
        full disk fails cleanly."""
        import h5py

        def fill(f):
            log = f.create_group("events")
            for k, key in enumerate(("stage", "what", "detail")):
                log[key] = np.asarray([str(e[k]) for e in events], dtype=h5py.string_dtype())
            group = f.create_group("candidates")
            group.attrs["needles"] = list(self.needle_names)
            group.attrs["pairs"] = list(self.pair_labels)
            group.attrs["spares"] = list(self.spare_names)
            group.attrs["units"] = "SI: m, V, A, s"
            for key in self.rows[0] if self.rows else ():
                if key == "terms":
                    terms = group.create_group("terms")
                    for name in self.rows[0]["terms"]:
                        terms[name] = np.asarray([r["terms"][name] for r in self.rows], dtype=float)
                    continue
                values = [r[key] for r in self.rows]
                if isinstance(values[0], str):
                    group[key] = np.asarray(values, dtype=h5py.string_dtype())
                else:
                    group[key] = np.asarray(values)

        return write_hdf5(path, fill, overwrite=overwrite)
