"""The a posteriori error estimate (`epsim.fem.estimator`, `epsim.accuracy`) against true and
extrapolated errors: the table of docs/physics.md, section 7 ("The mesh's own error estimate").

    python benchmarks/bench_error_estimate.py coax              # analytic, about a minute
    python benchmarks/bench_error_estimate.py needles [CONFIG]  # levels x1, x0.7, x0.49 of a
                                                                # config (two_needles_liver)
    python benchmarks/bench_error_estimate.py coverage [CASE] [LEVEL ...]   # accuracy levels
                                      # (%) of a bench_mesh_accuracy.py case: two_needles_liver
                                      # at 8 4 2 1

coax: the quarter coaxial sector of tests/fem/test_estimator.py (a = 0.5 mm, b = 10 mm, 300 V),
linear 0.08 S/m and the liver ramp, uniformly refined; the true current from the 1-D reduction
(docs/physics.md, section 6). needles: `epsim.converge.refined` levels of a config, each run
through `epsim.runner.run_config`; I_inf extrapolated from the three levels with the fitted rate
in the cell count and with N^-2/3 (h^2). coverage: the case meshed by the accurate-default rule
at each level (`bench_mesh_accuracy.level_config`), each run through `run_config`; every
region's coverage at E_rev and E_irr against its Richardson extrapolation through the three
finest levels (`bench_mesh_accuracy.extrapolate`), beside the estimate the run reports
(`fraction_*_error`, how far the coverage may be too high). Opt-in (not collected by pytest);
run from the repository root.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

from epsim.config import load_config  # noqa: E402
from epsim.converge import FACTOR, refined  # noqa: E402
from epsim.fem.elements import elements  # noqa: E402
from epsim.fem.estimator import current_error, recovery_groups, zz_indicator  # noqa: E402
from epsim.physics import Constant, Ramp  # noqa: E402
from epsim.runner import run_config  # noqa: E402
from epsim.simulate import make_pairs, prepare, simulate  # noqa: E402
from epsim.solve import Newton  # noqa: E402
from tests.helpers.analytic import coax_linear, coax_nonlinear, ramp  # noqa: E402
from tests.helpers.meshes import annulus_sector  # noqa: E402

A, B, H, VOLTAGE = 0.5e-3, 10e-3, 1e-3, 300.0


def coax() -> None:
    print("| model | n_r | cells | estimated | true | eta / energy error |")
    print("|---|---|---|---|---|---|")
    cases = (("linear 0.08 S/m", Constant(0.08), coax_linear(0.08, A, B, VOLTAGE)[0]),
             ("ramp", Ramp(0.08, 0.32, 350e2, 700e2),
              coax_nonlinear(ramp(0.08, 0.32, 350e2, 700e2), A, B, VOLTAGE)[0]))
    for label, model, per_length in cases:
        exact = per_length * H / 4  # the sector is a quarter
        for n in (8, 16, 32, 64):
            mesh = annulus_sector(A, B, H, n_r=n, n_theta=3 * n // 4)
            problem = prepare(mesh, ["inner", "outer"], np.full(mesh.n_cells, 0.08))
            pairs = make_pairs(problem, [("inner", "outer", VOLTAGE)])
            f = simulate(problem, jnp.asarray(mesh.points), model, pairs,
                         solver=Newton(rtol=1e-12))
            geometry = elements(jnp.asarray(mesh.points), problem.pattern.corners)
            groups, n_groups = recovery_groups(mesh.cells, mesh.cell_region)
            ind = zz_indicator(geometry, jnp.asarray(groups), n_groups, f.potential[0],
                               f.sigma[0])
            eta_sq, current = float(jnp.sum(ind.eta_sq)), float(f.current[0])
            estimate = float(current_error(eta_sq, VOLTAGE, current))
            true_sq = VOLTAGE * (current - exact)
            print(f"| {label} | {n} | {mesh.n_cells} | {100 * estimate:.4g} % | "
                  f"{100 * (current / exact - 1):.4g} % | {np.sqrt(eta_sq / true_sq):.3f} |")


def extrapolated(cells, currents, q):
    """I_inf from the last two levels with I - I_inf ~ N^-q."""
    n, i = np.asarray(cells, float), np.asarray(currents, float)
    c = (i[-2] - i[-1]) / (n[-2] ** -q - n[-1] ** -q)
    return i[-1] - c * n[-1] ** -q


def needles(path: str) -> None:
    cfg = load_config(path)
    rows = []
    for k in range(3):
        level = cfg if k == 0 else refined(cfg, FACTOR**k)
        start = time.perf_counter()
        r = run_config(level)
        targets = {m.name: (m.fraction_irr, m.fraction_irr_error) for m in r.metrics
                   if m.role == "target"}
        rows.append((len(r.cells), float(r.current[0]), float(r.pair_fields["current_error"][0]),
                     targets, time.perf_counter() - start))
    cells, currents = [r[0] for r in rows], [r[1] for r in rows]
    ratio = (currents[0] - currents[1]) / (currents[1] - currents[2])
    q = brentq(lambda q: (cells[0] ** -q - cells[1] ** -q) / (cells[1] ** -q - cells[2] ** -q)
               - ratio, 0.05, 3.0)
    limits = [extrapolated(cells, currents, q), extrapolated(cells, currents, 2 / 3)]
    print(f"{path}: fitted rate N^-{q:.3g}; I_inf {limits[0]:.5g} A (fitted), "
          f"{limits[1]:.5g} A (N^-2/3)")
    print("| level | cells | current A | estimated | extrapolated | target >= E_irr, est. error |")
    print("|---|---|---|---|---|---|")
    for k, (n, i, est, targets, seconds) in enumerate(rows):
        true = sorted(100 * (i / lim - 1) for lim in limits)
        cover = "; ".join(f"{name} {100 * c:.1f} % (up to {100 * b:.1f} high)"
                          for name, (c, b) in targets.items())
        print(f"| x{FACTOR ** k:.3g} | {n} | {i:.5g} | {100 * est:.2f} % | "
              f"{true[0]:.2f}-{true[1]:.2f} % | {cover} |")


def coverage(case: str, levels) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_mesh_accuracy as bma

    data, folder = bma.case_data(case)
    runs = []
    for level in levels:
        r = run_config(bma.level_config(data, folder, level))
        found = {(m.name, k): (getattr(m, f"fraction_{k}"), getattr(m, f"fraction_{k}_error"))
                 for m in r.metrics for k in ("rev", "irr")}
        runs.append((level, len(r.cells), float(np.max(r.pair_fields["current_error"])), found))
        print(f"{case} at {level:g} %: {runs[-1][1]} cells", flush=True)
    h = np.sqrt(np.asarray(levels, dtype=float) / bma.DEFAULT)
    print("| region | threshold | level | cells | current error (est.) | coverage % | "
          "extrapolated % | error (points) | estimate (points) | estimate / error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in runs[0][3]:
        values = np.array([run[3][key][0] for run in runs])
        if np.ptp(values) == 0:
            continue  # all or nothing at every level
        limit, _ = bma.extrapolate(h, values)
        for (level, cells, current, found), value in zip(runs, values):
            error, estimate = 100 * (value - limit), 100 * found[key][1]
            ratio = f"{estimate / error:.2f}" if abs(error) > 1e-3 else "-"
            print(f"| {key[0]} | E_{key[1]} | {level:g} % | {cells} | {100 * current:.2f} % | "
                  f"{100 * value:.3f} | {100 * limit:.3f} | {error:+.3f} | {estimate:.3f} | "
                  f"{ratio} |")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "coax"
    if what == "coax":
        coax()
    elif what == "coverage":
        coverage(sys.argv[2] if len(sys.argv) > 2 else "two_needles_liver",
                 [float(a) for a in sys.argv[3:]] or [8.0, 4.0, 2.0, 1.0])
    else:
        needles(sys.argv[2] if len(sys.argv) > 2 else str(ROOT / "configs/two_needles_liver.yaml"))
