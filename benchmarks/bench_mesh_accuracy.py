"""Mesh accuracy study: the accurate-default rule (`epsim.mesh.sizing`, docs/accuracy.md)
against Richardson-extrapolated values, for two needles in liver and every shipped config.

    python benchmarks/bench_mesh_accuracy.py                 # all cases, markdown on stdout
    python benchmarks/bench_mesh_accuracy.py --cases liver_15mm_2250V two_needles_liver
    python benchmarks/bench_mesh_accuracy.py --levels 8 4 2 1   # accuracies in %, coarse first
    python benchmarks/bench_mesh_accuracy.py --cases two_needles_liver --probe NEEDLE_GRADATION=0.1
    python benchmarks/bench_mesh_accuracy.py --cases liver_15mm_2250V --linear   # sigma0 only
    python benchmarks/bench_mesh_accuracy.py --cases pelvic_deep_seated --replicas 3

Every case is meshed at a sequence of levels: the config with its electrode and target sizes left
out and `scene.mesh.accuracy` set to each level, the background size scaled like the rule's sizes
and growth rates (sqrt(accuracy / 2 %)), so that a level is the default mesh with every size times
h; the default is 2 %. Per level: cells, the pair currents (A) and the extents (mm) of the
reversible and the irreversible zone (where the field, max over pairs, is above each material's own
E_rev or E_irr, as coverage counts it), along the first pair's axis and across it, through the
pair's midpoint at mid active depth, over the whole domain. Each pair's field is recovered at the
nodes per material (a linear fit of each material's own cells, so that it keeps its jump at a
tissue interface) and evaluated in the cell that holds each point of the line; the largest over the
pairs is taken there (`extent`). "I1 corrected" is the first pair's current corrected by the run's
own error estimate (`corrected_current`), a value from each mesh alone. The extrapolated value fits
q(h) = q0 + C h^p to the three finest levels (p from them when it lies in [0.5, 4], else p = 2
through the two finest; with only two levels under --max-cells, p = 2 through them: a rough value);
the default's error is q(1) - q0. An extent that is 0 (the zone misses the line) at some levels
only is not extrapolated. "shipped" adds the config as shipped (its own sizes) against the same q0.

--replicas N meshes every level N times, each time with another gmsh seed (`replica_seed`: the
same scene, sizes and problem, another mesh of the same fineness; any scene, images too), and
extrapolates the means: meshes of one fineness scatter, and where an extent ends in a weak field
the scatter is as large as the error sought. The default error's cell then gives the spread
(max - min) of the N values at the default level; the cells are the mean, the seconds those of
all N. (The seventh run in benchmarks/ACCURACY_RESULTS.md made its replicas by growing the box
domain 0.4 mm per replica instead, which changes the problem a little and cannot be done for
plates or layers on the box's faces.)

Only the field solve runs (no heating, no planner). Run from the repository root; opt-in: the
two-needle cases take about ten minutes on two cores, the needle arrays far longer.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (8.0, 4.0, 2.0)  # accuracy levels in %, coarse first; 2 % is the default
DEFAULT = 2.0
MIN_PATCH = 8  # cells around a node for a linear fit of the field (4 unknowns)
# An extent that is 0 at some levels and not at others: the zone's tip grazes the line, and a
# fraction of a per cent of field makes or removes millimetres; not a converging length.
APPEARS = "reaches the line at some levels only"


def liver_pair(spacing_mm: float, voltage: float) -> dict:
    """Two 1.2 mm needles (20 mm active) in liver, `spacing_mm` apart at `voltage`, 70 pulses."""
    half = spacing_mm / 2
    return {
        "name": f"liver {spacing_mm:g} mm {voltage:g} V",
        "units": {"length": "mm", "voltage": "V", "field": "V/cm", "conductivity": "S/m",
                  "time": "us"},
        "scene": {"domain": {"shape": "box", "size": [80, 80, 70], "material": "liver"},
                  "mesh": {"size": 8}},
        "electrodes": [
            {"name": "a", "type": "needle", "tip": [-half, 0, -10], "entry": [-half, 0, 35],
             "diameter": 1.2, "active_length": 20},
            {"name": "b", "type": "needle", "tip": [half, 0, -10], "entry": [half, 0, 35],
             "diameter": 1.2, "active_length": 20},
        ],
        "protocol": {"pulses": {"count": 70, "width": 100, "rate": "1 Hz"},
                     "pairs": [{"anode": "a", "cathode": "b", "voltage": voltage}]},
        "physics": {"conductivity": "nonlinear"},
    }


SYNTHETIC = {"liver_15mm_2250V": (15.0, 2250.0), "liver_20mm_3000V": (20.0, 3000.0)}


def case_data(name: str, linear: bool = False) -> tuple[dict, Path]:
    """(config data, its folder) of a case: a synthetic liver pair or a shipped config; with
    `linear`, its conductivity constant (each material's sigma0)."""
    if name in SYNTHETIC:
        data, folder = liver_pair(*SYNTHETIC[name]), ROOT / "configs"
    else:
        path = ROOT / "configs" / f"{name}.yaml"
        data, folder = yaml.safe_load(path.read_text()), path.parent
        for key in ("output", "heating", "sweep", "optimise"):
            if key != "optimise" or "electrodes" in data:  # a count search fires its placeholders
                data.pop(key, None)
    if linear:
        data.setdefault("physics", {})["conductivity"] = "linear"
    return data, folder


def replica_seed(k: int) -> int:
    """gmsh's seed for replica `k` (0, 2, 3, ...): the first replica is the mesh the rule makes
    (seed 0); seed 1 gives the same mesh as 0, so it is skipped."""
    return k + 1 if k else 0


def level_config(data: dict, folder: Path, accuracy: float | None):
    """The case resolved at one level (accuracy in %), or as shipped (None)."""
    from epsim.config import load_config_data

    data = yaml.safe_load(yaml.safe_dump(data))
    mesh = data["scene"]["mesh"]
    if accuracy is not None:
        scale = np.sqrt(accuracy / DEFAULT)
        data["scene"]["mesh"] = {"size": float(mesh["size"]) * scale,
                                 "accuracy": f"{accuracy:g} %"}
    data.setdefault("output", {})["file"] = "/tmp/unused.h5"
    return load_config_data(data, source=str(folder / "bench.yaml"), base_dir=folder)


def region_node_fields(mesh, e_cells: np.ndarray) -> np.ndarray:
    """(n_fields, n_regions, n_nodes) V/m: each field of `e_cells` (n_fields, n_cells), per
    region, recovered at every node from the region's own cells around it (NaN at nodes the
    region does not touch). Recovery per region keeps the field's jump at a material interface.
    The value is a linear least-squares fit of the cells' fields at their centroids
    (volume-weighted) evaluated at the node: at an interface a node's cells of one region all
    lie on one side of it, and their plain mean is biased by the field's slope times the offset
    of their centroids, a fraction of a cell (liver_ire's E_irr extent across, which lies on the
    tumour's surface, read 1 mm short at 2 %). Nodes with fewer than `MIN_PATCH` cells, or
    cells nearly in a plane, keep the mean. The fit's matrix is one per node and region, shared
    by every field."""
    from epsim.outcomes import cell_volumes

    e_cells = np.atleast_2d(e_cells)
    w = np.asarray(cell_volumes(mesh))
    points = np.asarray(mesh.points)
    cells = np.asarray(mesh.cells)
    centroids = points[cells].mean(axis=1)
    regions = np.asarray(mesh.cell_region)
    n, k_fields = mesh.n_nodes, len(e_cells)
    out = np.full((k_fields, int(regions.max()) + 1, n), np.nan)
    for r in np.unique(regions):
        own = np.flatnonzero(regions == r)
        mine, node = np.repeat(own, 4), cells[own].ravel()  # (cell, node) incidences
        weight = w[mine]
        count = np.bincount(node, minlength=n)
        length = np.cbrt(np.bincount(node, weight, minlength=n) / np.maximum(count, 1))
        offset = (centroids[mine] - points[node]) / length[node, None]  # in cell lengths
        basis = np.concatenate([np.ones((len(node), 1)), offset], axis=1)
        normal = np.zeros((n, 4, 4))
        rhs = np.zeros((k_fields, n, 4))
        for i in range(4):
            for f in range(k_fields):
                rhs[f, :, i] = np.bincount(node, weight * basis[:, i] * e_cells[f, mine],
                                           minlength=n)
            for k in range(i, 4):
                normal[:, i, k] = normal[:, k, i] = np.bincount(
                    node, weight * basis[:, i] * basis[:, k], minlength=n)
        touched = count > 0
        out[:, r, touched] = rhs[:, touched, 0] / normal[touched, 0, 0]  # volume-weighted mean
        fit = np.flatnonzero(count >= MIN_PATCH)
        scaled = normal[fit] / normal[fit, :1, :1]
        fit = fit[np.linalg.eigvalsh(scaled)[:, 0] > 1e-3]
        coefficients = np.linalg.solve(normal[fit], np.moveaxis(rhs[:, fit], 0, -1))
        out[:, r, fit] = coefficients[:, 0, :].T
    return out


def locate(points, cells, samples, near: int = 64):
    """(cell, barycentric) of each sample point in the mesh: cell -1 outside every cell (inside
    a needle, outside the domain). Candidates: the `near` cells with the nearest centroids, then
    eight times as many for the samples still unplaced."""
    from scipy.spatial import cKDTree

    corners = points[cells]  # (n_cells, 4, 3)
    tree = cKDTree(corners.mean(axis=1))
    found = np.full(len(samples), -1)
    bary = np.zeros((len(samples), 4))
    todo = np.arange(len(samples))
    for k in (near, 8 * near):
        if len(todo) == 0:
            break
        _, cand = tree.query(samples[todo], k=min(k, len(cells)))
        c = corners[cand]  # (n, k, 4, 3)
        t = np.transpose(c[:, :, 1:] - c[:, :, :1], (0, 1, 3, 2))  # (n, k, 3, 3)
        lam = np.linalg.solve(t, (samples[todo, None, :] - c[:, :, 0])[..., None])[..., 0]
        lam = np.concatenate([1 - lam.sum(axis=-1, keepdims=True), lam], axis=-1)
        inside = np.all(lam >= -1e-9, axis=-1)
        hit = np.argmax(inside, axis=1)
        ok = inside[np.arange(len(todo)), hit]
        rows = todo[ok]
        found[rows] = cand[ok, hit[ok]]
        bary[rows] = lam[ok, hit[ok]]
        todo = todo[~ok]
    return found, bary


def cell_balls(mesh) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (n_cells, 3) m, radii (n_cells,) m): a ball around each cell, computed once
    per mesh for every line `extent` reads."""
    corners = np.asarray(mesh.points)[np.asarray(mesh.cells)]
    centroids = corners.mean(axis=1)
    return centroids, np.max(np.linalg.norm(corners - centroids[:, None], axis=2), axis=1)


def extent(mesh, fields, balls, origin, direction, thresholds, reach, step=2e-5) -> float:
    """Length (mm) of the span of the line origin + t direction (|t| <= reach) where the field
    exceeds the threshold of the material it is in (`thresholds`, V/m per region; outermost
    crossings). The field is the largest of `fields` (`region_node_fields` of each pair's),
    each evaluated in the cell that holds the sample (linear in the cell, from its region's
    node values; 0 outside every cell, so that a span reaching the domain's boundary ends
    there). `balls`: `cell_balls(mesh)`.

    The largest is taken after the recovery, not before: the largest of several pairs' fields
    has a kink where two of them are equal, and a linear fit over a patch of cells around a
    kink reads the convex maximum high, by a fraction of the cells' size times the jump of the
    slope. On the pelvic array (six needles, nine pairs) recovering the largest read the
    reversible zone along the first pair 1.7 mm long at 8 % and converged at first order
    (slopes of 1.0 mm per unit h from 4 to 1.41 %), from above; each pair recovered, then the
    largest, read 43.20, 43.43, 43.26 and 43.29 mm at 8, 4, 2.83 and 2 %."""
    points = np.asarray(mesh.points)
    cells = np.asarray(mesh.cells)
    t = np.arange(-reach, reach + step, step)
    line = origin + t[:, None] * direction
    centroids, radius = balls
    subset = np.flatnonzero(  # the cells the line can meet
        np.linalg.norm(np.cross(centroids - origin, direction), axis=1) <= radius)
    inside_box = np.all((line >= points.min(axis=0)) & (line <= points.max(axis=0)), axis=1)
    cell = np.full(len(t), -1)
    bary = np.zeros((len(t), 4))
    cell[inside_box], bary[inside_box] = locate(points, cells[subset], line[inside_box])
    f = np.zeros(len(t))
    inside = cell >= 0
    c = subset[cell[inside]]
    region = np.asarray(mesh.cell_region)[c]
    f[inside] = np.max(np.sum(bary[inside] * fields[:, region[:, None], cells[c]], axis=2),
                       axis=0)
    f[inside] /= thresholds[region]  # 1 on the material's own threshold
    return _outer_span(t, f, 1.0)


def _outer_span(t, f, threshold) -> float:
    """Length (mm) between the outermost crossings of `threshold` by samples f at t (m)."""
    above = np.nonzero(f > threshold)[0]
    if len(above) == 0:
        return 0.0

    def crossing(i, j):  # between samples i (above) and j (below)
        if j < 0 or j >= len(t):
            return t[i]
        return t[j] + (threshold - f[j]) / (f[i] - f[j]) * (t[i] - t[j])

    return 1e3 * (crossing(above[-1], above[-1] + 1) - crossing(above[0], above[0] - 1))


def pair_frame(cfg, holes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Midpoint (m), pair axis and across direction of the config's first pair."""
    by_name = {h.name: h for h in holes}
    pair = cfg.protocol.pairs[0]
    a, b = by_name[pair.anode], by_name[pair.cathode]
    ca = getattr(a, "active_center", None)
    ca = np.asarray(a.center if ca is None else ca, dtype=float)
    cb = getattr(b, "active_center", None)
    cb = np.asarray(b.center if cb is None else cb, dtype=float)
    axis = (cb - ca) / np.linalg.norm(cb - ca)
    depth = np.asarray(getattr(a, "direction", (0.0, 0.0, 1.0)), dtype=float)
    across = np.cross(axis, depth)
    if np.linalg.norm(across) < 1e-9:
        across = np.cross(axis, (0.0, 1.0, 0.0))
    return 0.5 * (ca + cb), axis, across / np.linalg.norm(across)


def corrected_current(mesh, fields, voltage: float) -> float:
    """The first pair's current (A) corrected by its Zienkiewicz-Zhu estimate, as a run reports
    it (`epsim.accuracy`): I / (1 + eta^2 / (V I)). An estimate of the converged current from
    one mesh, independent of the levels and their extrapolation. `mesh`: the material mesh
    (`epsim.translate.material_mesh`, one region per material, the recovery's groups)."""
    import jax.numpy as jnp

    from epsim.fem.elements import elements
    from epsim.fem.estimator import current_error, recovery_groups, zz_indicator

    groups, n_groups = recovery_groups(mesh.cells, mesh.cell_region)
    geometry = elements(jnp.asarray(mesh.points), jnp.asarray(np.asarray(mesh.cells).T))
    eta_sq = zz_indicator(geometry, jnp.asarray(groups), n_groups,
                          jnp.asarray(fields.potential[0]), jnp.asarray(fields.sigma[0])).eta_sq
    current = abs(float(fields.current[0]))
    return current / (1.0 + float(current_error(jnp.sum(eta_sq), voltage, current)))


def measure(cfg, seed: int = 0) -> dict:
    """Mesh (with gmsh's `seed`) and solve one level: cells, currents (A), extents (mm),
    seconds."""
    from epsim.runner import setup_config, solve_config
    from epsim.translate import electrode_layout, material_mesh, scene_mesh

    start = time.perf_counter()
    layout = electrode_layout(cfg)
    parts = scene_mesh(cfg, layout, seed=seed)
    mesh = material_mesh(cfg, parts)
    setup = setup_config(cfg, mesh, layout.names)
    fields, _ = solve_config(cfg, mesh, setup=setup)
    if not np.all(np.asarray(fields.converged)):
        raise RuntimeError("a pair did not converge")
    regional = region_node_fields(mesh, np.asarray(fields.e_mag))  # per pair
    points = np.asarray(mesh.points)
    origin, axis, across = pair_frame(cfg, layout.holes)
    corners = np.array(np.meshgrid(*zip(points.min(axis=0), points.max(axis=0)))).reshape(3, -1)
    reach = float(np.max(np.linalg.norm(corners.T - origin, axis=1)))  # to the farthest corner
    materials = [cfg.materials[name] for name in mesh.region_names]
    thresholds = {key: np.array([getattr(m, f"e_{key}", None) or np.inf for m in materials])
                  for key in ("rev", "irr")}  # per region; none: never above
    balls = cell_balls(mesh)
    extents = {f"{name}_{way}": extent(mesh, regional, balls, origin, d, thr, reach)
               for name, thr in thresholds.items()
               for way, d in (("along", axis), ("across", across))}
    corrected = corrected_current(mesh, fields, float(setup.pairs.voltage[0]))
    return {"cells": mesh.n_cells, "current": np.abs(np.asarray(fields.current)),
            "corrected": corrected, "extents": extents, "seconds": time.perf_counter() - start}


def measure_level(data: dict, folder: Path, accuracy: float | None, replicas: int = 1) -> dict:
    """`measure` at one level, averaged over `replicas` meshes (gmsh seeds `replica_seed`);
    "spread": max - min of each current ("I1", A) and extent (mm) over them."""
    cfg = level_config(data, folder, accuracy)
    runs = [measure(cfg, replica_seed(k)) for k in range(replicas)]
    currents = np.array([r["current"] for r in runs])
    extents = {key: np.array([r["extents"][key] for r in runs]) for key in runs[0]["extents"]}
    spread = {f"I{k + 1}": float(np.ptp(c)) for k, c in enumerate(currents.T)}
    spread.update({key: float(np.ptp(v)) for key, v in extents.items()})
    spread["corrected"] = float(np.ptp([r["corrected"] for r in runs]))
    return {"cells": round(np.mean([r["cells"] for r in runs])), "current": currents.mean(axis=0),
            "corrected": float(np.mean([r["corrected"] for r in runs])),
            "extents": {key: float(v.mean()) for key, v in extents.items()}, "spread": spread,
            "seconds": sum(r["seconds"] for r in runs)}


def extrapolate(h: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """(q0, p) of q = q0 + C h^p through the three finest levels (h descending order given).
    When the order those give lies outside [0.5, 4] (or the changes alternate in sign), p = 2
    through the two finest levels, as the grid convergence index does with its formal order:
    the finest levels are the nearest to the asymptotic range (a least-squares fit through all
    three let a pre-asymptotic coarse level pull q0 away). With two levels, p = 2 too."""
    if len(q) >= 3:
        (h1, h2, h3), (q1, q2, q3) = h[-3:], q[-3:]
        r = h1 / h2
        if abs(h2 / h3 / r - 1) < 1e-6 and (q1 - q2) * (q2 - q3) > 0 and q2 != q3:
            p = np.log(abs((q1 - q2) / (q2 - q3))) / np.log(r)
            if 0.5 <= p <= 4.0:
                return float(q3 - (q2 - q3) / (r**p - 1)), float(p)
    (h2, h3), (q2, q3) = h[-2:], q[-2:]
    return float(q3 - (q2 - q3) / ((h2 / h3) ** 2 - 1)), 2.0


def quantity_row(case: str, qname: str, values, h, default: int | None, as_shipped=None,
                 columns: int | None = None, spread: float | None = None) -> str:
    """The markdown row of one quantity ("I1 (A)", "irr_along (mm)") measured at levels of
    relative sizes `h` (coarse first): its values, the extrapolated value and order, the error
    of the level at index `default` (with `spread`, the replicas' max - min there) and of the
    shipped config's value `as_shipped`."""
    missing = (columns or len(values)) - len(values)  # levels over --max-cells
    cells = " | ".join([f"{v:.4g}" for v in values] + ["-"] * missing)
    if min(values) == 0 < max(values):  # a zone that reaches the line at some levels only
        return f"| {case} | {qname} | {cells} | - | - | {APPEARS} | |"
    q0, p = extrapolate(np.asarray(h, dtype=float), np.asarray(values, dtype=float))

    def error(v, sign="+"):
        if qname.startswith("I"):
            return f"{100 * (v - q0) / q0:{sign}.2f} %"
        return f"{v - q0:{sign}.2f} mm"

    err = "" if default is None else error(values[default])
    if spread is not None and err:
        err += f" (spread {error(q0 + spread, '')})"
    shipped = "" if as_shipped is None else error(as_shipped)
    return f"| {case} | {qname} | {cells} | {q0:.4g} | {p:.2f} | {err} | {shipped} |"


def quantity_keys(run: dict) -> list[tuple[str, str]]:
    """(row name, key) of every quantity of a `measure` result: "I1 (A)", "I1" per pair; the
    first pair's ZZ-corrected current; "rev_along (mm)", "rev_along" per extent."""
    keys = [(f"I{k + 1} (A)", f"I{k + 1}") for k in range(len(run["current"]))]
    keys.append(("I1 corrected (A)", "corrected"))
    return keys + [(f"{key} (mm)", key) for key in run["extents"]]


def quantity(run: dict, key: str) -> float:
    """The value of `key` (`quantity_keys`) in a `measure` result."""
    if key == "corrected":
        return run["corrected"]
    if key.startswith("I"):
        return run["current"][int(key[1:]) - 1]
    return run["extents"][key]


def study(name: str, levels, shipped: bool, max_cells: int, linear: bool = False,
          replicas: int = 1) -> list[str]:
    """The markdown rows of one case (each level on `replicas` meshes, `measure_level`)."""
    all_levels = list(levels)
    data, folder = case_data(name, linear)
    runs = []
    for a in levels:  # coarse to fine; a level predicted above max_cells is left out
        previous = runs[-1][1]["cells"] * (runs[-1][0] / a) ** 1.5 if runs else 0
        if previous > max_cells:
            break
        runs.append((a, measure_level(data, folder, a, replicas)))
    if len(runs) < 2:
        cells = ", ".join(f"{a:g} %: {r['cells']} cells" for a, r in runs)
        raise RuntimeError(f"fewer than two levels under {max_cells} cells ({cells})")
    levels = [a for a, _ in runs]
    runs = [(f"{a:g} %", r) for a, r in runs]
    if shipped and name not in SYNTHETIC:
        runs.append(("shipped", measure(level_config(data, folder, None))))
    graded = [r for label, r in runs if label != "shipped"]
    h = np.sqrt(np.asarray(levels) / DEFAULT)
    default = levels.index(DEFAULT) if DEFAULT in levels else None
    last = runs[-1][1] if runs[-1][0] == "shipped" else None
    rows = []
    for qname, key in quantity_keys(graded[0]):
        values = [quantity(r, key) for r in graded]
        as_shipped = None if last is None else quantity(last, key)
        spread = None if replicas == 1 or default is None else graded[default]["spread"][key]
        rows.append(quantity_row(name, qname, values, h, default, as_shipped, len(all_levels),
                                 spread))
    sizes = " / ".join(f"{r['cells']}" for _, r in runs)
    secs = " / ".join(f"{r['seconds']:.0f}" for _, r in runs)
    rows.append(f"| {name} | cells (s) | {sizes} ({secs} s) |" + " |" * (len(all_levels) + 3))
    return rows


def probe(cases, settings, replicas: int = 1) -> None:
    """One row per case at the default level with the rule's constants overridden: how much a
    constant moves the answers, and what it costs in cells (against the study's extrapolated
    values). Constants read at resolve time only (the mesher's child process keeps its own)."""
    import epsim.mesh.sizing as sizing

    for setting in settings:
        name, _, value = setting.partition("=")
        if not name.isupper() or not hasattr(sizing, name):
            raise SystemExit(f"--probe: epsim.mesh.sizing has no constant {name!r}")
        setattr(sizing, name, float(value))
    print(f"probe {' '.join(settings)}: case | cells | currents (A) | extents (mm) | s")
    for name in cases:
        data, folder = case_data(name)
        r = measure_level(data, folder, DEFAULT, replicas)
        currents = " ".join(f"{c:.4f}" for c in r["current"])
        extents = " ".join(f"{k} {v:.2f}" + (f" (spread {r['spread'][k]:.2f})" if replicas > 1
                                             else "") for k, v in r["extents"].items())
        print(f"{name} | {r['cells']} | {currents} | {extents} | {r['seconds']:.0f}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped_names = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    parser.add_argument("--cases", nargs="+", default=[*SYNTHETIC, *shipped_names])
    parser.add_argument("--levels", nargs="+", type=float, default=list(LEVELS))
    parser.add_argument("--max-cells", type=int, default=700_000,
                        help="leave out finer levels predicted above this many cells")
    parser.add_argument("--linear", action="store_true",
                        help="constant conductivity (each material's sigma0): how much of the "
                        "convergence the field-dependent conductivity costs")
    parser.add_argument("--no-shipped", action="store_true",
                        help="skip the run of each shipped config with its own sizes")
    parser.add_argument("--probe", nargs="+", metavar="CONSTANT=VALUE",
                        help="instead of the study: mesh and solve each case once at the "
                        "default level with constants of epsim.mesh.sizing set to these values "
                        "(e.g. NEEDLE_GRADATION=0.12), one row per case")
    parser.add_argument("--replicas", type=int, default=1,
                        help="mesh every level this many times (another gmsh seed each time) and "
                        "extrapolate the means")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be 1 or more")
    if DEFAULT not in args.levels:
        parser.error(f"--levels must include the default, {DEFAULT:g}")
    import jax

    jax.config.update("jax_enable_x64", True)
    if args.probe:
        probe(args.cases, args.probe, args.replicas)
        return
    levels = " | ".join(f"{a:g} %" for a in args.levels)
    print(f"# mesh accuracy, {datetime.date.today()}, {platform.processor() or platform.machine()}")
    print(f"\n`python benchmarks/bench_mesh_accuracy.py {' '.join(sys.argv[1:])}`\n")
    print(f"| case | quantity | {levels} | extrapolated | p | default error | shipped error |")
    print("|---|---|" + "---|" * len(args.levels) + "---|---|---|---|")
    for name in args.cases:
        try:
            rows = study(name, args.levels, not args.no_shipped, args.max_cells, args.linear,
                         args.replicas)
        except Exception as exc:  # noqa: BLE001 - one failing case must not end the table
            rows = [f"| {name} | failed: {type(exc).__name__}: {exc} | |"]
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
