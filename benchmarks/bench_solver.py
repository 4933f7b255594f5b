"""Solver benchmark: epsim's JAX solvers against numpy + scipy + pyamg, on one CPU core.

    .venv/bin/python benchmarks/bench_solver.py [--sizes 100k,500k,2M] [--repeats 5]

Opt-in (not part of the test suite). For each mesh size it builds (or loads from
benchmarks/.cache/) a gmsh mesh of an 8 x 8 x 6 cm liver block with a 1 cm spherical tumour and
four needles (radius 0.6 mm, 2 cm active), fires one adjacent pair at 2000 V and compares, in one
process with the contestants interleaved (A B A B ...):

  (a) the linear sigma0 solve: JAX AMG-PCG (jitted, matrices passed as arguments) against pyamg's
      own smoothed-aggregation CG (`ml.solve(b, tol, accel="cg")`), same relative tolerance;
  (b) the nonlinear Newton solve: `epsim.solve.solve_potential` against the same algorithm in
      numpy/scipy/pyamg (`reference_numpy.py`), same forcing, line search and tolerance;
  (c) the gradient of the anode current with respect to the voltage and the eight conductivity
      parameters (implicit adjoint), against the forward solve.

Answers are checked before anything is timed. Times are CPU seconds (`time.process_time`) of
this process, pinned to one core: XLA's CPU backend still splits loops over the machine's cores
despite the thread flags below, so without the pin the CPU time would count two threads.
Compile time (first call) is reported separately. Results go to stdout and benchmarks/RESULTS.md,
with a roofline estimate of the same solves on an H100 and an H200 from the bytes that each PCG
iteration must move.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pyamg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_numpy as ref  # noqa: E402
from report_file import write_keeping_notes  # noqa: E402

from epsim.fem.assembly import apply_dirichlet, build_pattern, stiffness  # noqa: E402
from epsim.fem.elements import elements  # noqa: E402
from epsim.fem.fields import component_norm  # noqa: E402
from epsim.fem.sparse import HybMatrix, hyb_to_scipy, matvec  # noqa: E402
from epsim.mesh import (  # noqa: E402
    Box, MeshSizes, Needle, SphereInclusion, build_mesh, make_mesh, renumbered,
)
from epsim.physics import RegionConductivity, SmoothStep  # noqa: E402
from epsim.solve import Amg, Newton, build_amg, pcg, solve_potential  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
# Mesh-size factor per label, tuned to land near the named cell count.
SIZES = {"100k": 1.15, "500k": 0.47, "2M": 0.27}
# sigma0, sigma1 (S/m), e_rev, e_irr (V/m): library defaults, docs/physics.md, section 2
LIVER = (0.08, 0.32, 350e2, 700e2)
TUMOUR = (0.2, 0.7, 400e2, 800e2)
VOLTAGE = 2000.0  # V across 2 cm: 1000 V/cm
ANODE, CATHODE = "n1", "n2"
LINEAR_RTOL = 1e-8
NEWTON = Newton()  # rtol 1e-9, forcing_max 0.03
AMG = Amg()  # hierarchy settings, shared with the pyamg reference
H100_BW, H200_BW = 3.35e12, 4.8e12  # bytes/s, HBM3 / HBM3e peak


# ----------------------------------------------------------------------------------------------
# Mesh


def scene_mesh(label: str):
    """The benchmark scene at size `label`; (mesh, seconds gmsh took, loaded from cache?)."""
    f = SIZES[label]
    path = CACHE / f"liver_4needles_{label}_f{f}.npz"
    if path.exists():
        d = np.load(path, allow_pickle=False)
        names = [str(n) for n in d["facet_names"]]
        facets = {n: d[f"facet_{n}"] for n in names}
        mesh = make_mesh(d["points"], d["cells"], d["cell_region"], list(d["region_names"]), facets)
        # as build_mesh numbers them (a no-op on meshes cached since it does)
        return renumbered(mesh), float(d["mesh_seconds"]), True
    xy = [(0.01, 0.01), (-0.01, 0.01), (-0.01, -0.01), (0.01, -0.01)]
    needles = [
        Needle(f"n{i}", tip=(x, y, -0.012), entry=(x, y, 0.05), radius=0.6e-3, active_length=0.02)
        for i, (x, y) in enumerate(xy, 1)
    ]
    start = time.perf_counter()
    mesh = build_mesh(
        Box((0.0, 0.0, 0.0), (0.08, 0.08, 0.06), material="liver"),
        [SphereInclusion("tumour", (0.0, 0.0, 0.0), 0.01, material="tumour")],
        needles,
        MeshSizes(
            size=4e-3 * f, inclusion_size=1.5e-3 * f, electrode_size=0.3e-3, grading_distance=6e-3
        ),
    )
    seconds = time.perf_counter() - start
    CACHE.mkdir(exist_ok=True)
    np.savez(
        path,
        points=np.asarray(mesh.points),
        cells=mesh.cells,
        cell_region=mesh.cell_region,
        region_names=np.array(mesh.region_names),
        facet_names=np.array(sorted(mesh.facets)),
        mesh_seconds=seconds,
        **{f"facet_{n}": t for n, t in mesh.facets.items()},
    )
    return mesh, seconds, False


# ----------------------------------------------------------------------------------------------
# Timing helpers


def cpu_time(fn, *args):
    """(CPU seconds, result) of fn(*args), waiting for JAX results."""
    start = time.process_time()
    out = jax.block_until_ready(fn(*args))
    return time.process_time() - start, out


def interleaved(contestants: dict, repeats: int) -> dict:
    """Run the zero-argument callables A B A B ...; CPU seconds per contestant (list)."""
    times = {k: [] for k in contestants}
    for _ in range(repeats):
        for name, fn in contestants.items():
            times[name].append(cpu_time(fn)[0])
    return times


def med(values):
    return statistics.median(values)


# ----------------------------------------------------------------------------------------------
# JAX side


@jax.jit
def jax_linear(a: HybMatrix, amg, b):
    return pcg(
        lambda x: matvec(a, x), b, amg, atol=LINEAR_RTOL * jnp.linalg.norm(b), max_iterations=1000
    )


@eqx.filter_jit
def jax_newton(pattern, points, model, g, free, amg):
    return solve_potential(pattern, points, model, g, free, amg, solver=NEWTON)


def anode_current(params, pattern, points, region, anode, free, amg):
    """Current (A) into the anode; params = (voltage V, (liver, tumour) SmoothStep models)."""
    voltage, models = params
    model = RegionConductivity(models, region)
    g = jnp.where(anode, voltage, 0.0)
    sol = solve_potential(pattern, points, model, g, free, amg, solver=NEWTON)
    geometry = elements(points, pattern.corners)
    grad = geometry.gradient(sol.phi)
    force = geometry.force(model(component_norm(grad)), grad)
    return jnp.sum(jnp.where(anode, force, 0.0))


jax_current = eqx.filter_jit(anode_current)
jax_current_and_grad = eqx.filter_jit(jax.value_and_grad(anode_current))


def smooth_steps(voltage):
    models = tuple(SmoothStep(*map(jnp.asarray, p)) for p in (LIVER, TUMOUR))
    return (jnp.asarray(voltage), models)


def reference_newton(problem, g, ml):
    return ref.newton_solve(
        problem, g, ml, rtol=NEWTON.rtol, max_iterations=NEWTON.max_iterations,
        forcing_max=NEWTON.forcing_max, line_search_steps=NEWTON.line_search_steps,
        linear_max_iterations=NEWTON.linear_max_iterations,
    )


# ----------------------------------------------------------------------------------------------
# Roofline


def hyb_bytes(m: HybMatrix) -> int:
    """Bytes one product streams: the matrix, the input vector once, the output once."""
    item = np.dtype(m.ell_vals.dtype).itemsize
    arrays = (m.ell_cols, m.ell_vals, m.ovf_rows, m.ovf_cols, m.ovf_vals)
    return int(sum(np.asarray(a).nbytes for a in arrays) + (m.n_cols + m.n_rows) * item)


def iteration_bytes(amg, tangent: HybMatrix) -> tuple[int, int]:
    """Bytes per PCG iteration (V-cycle + CG step) and per V-cycle alone.

    V-cycle per level: Chebyshev(2) pre-smoothing 1 product with A, the residual 1, restriction,
    prolongation, post-smoothing 2; plus about 14 vector passes (smoother updates, residual,
    correction). CG step: one product with the tangent and 12 vector passes (two dot products,
    a norm, three axpys, the free-node mask). Each array counted once per use: a lower bound.
    """
    vcycle = 0
    for level in amg.levels:
        n = level.a.n_rows
        item = np.dtype(level.a.ell_vals.dtype).itemsize
        vcycle += 4 * hyb_bytes(level.a) + hyb_bytes(level.prolong) + hyb_bytes(level.restrict)
        vcycle += 14 * n * item
    vcycle += np.asarray(amg.coarse_inverse).nbytes
    n = tangent.n_rows
    cg = hyb_bytes(tangent) + 12 * n * 8
    return vcycle + cg, vcycle


def newton_step_bytes(pattern, n_cells: int) -> int:
    """Bytes per Newton step outside PCG: tangent assembly plus two residual evaluations
    (the full step and one line-search trial), each array counted once per use.

    Per cell: node ids 16 B, geometry (gradients 96 B, volume 8 B) read for the field, the
    element values and each residual; 6 edge values written and read back (96 B); potentials
    gathered 4 x 8 B per field evaluation. Per edge: the gather map and its values; per row: the
    ELL slots (column, edge id, value) of the tangent.
    """
    field = n_cells * (16 + 96 + 32)  # -grad(phi) per cell
    values = n_cells * (96 + 8 + 16 + 96)  # element edge values written, read back
    edges = sum(np.asarray(slot).size for slot in pattern.edge_slots) * (4 + 8)
    slots = np.asarray(pattern.ell_edge).size * (4 + 8) + np.asarray(pattern.ell_cols).size * 4
    residual = field + n_cells * (96 + 8 + 8 + 32) + pattern.n_nodes * 8 * 3
    return int(field + values + edges + slots + 2 * residual)


# ----------------------------------------------------------------------------------------------
# One size


def boundary(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(anode mask, free mask, lifted potential V) of the pair ANODE -> CATHODE on a benchmark
    mesh; the idle needles are insulating holes (as in simulate)."""
    anode = np.zeros(mesh.n_nodes, bool)
    anode[mesh.facet_nodes(ANODE)] = True
    cathode = np.zeros(mesh.n_nodes, bool)
    cathode[mesh.facet_nodes(CATHODE)] = True
    return anode, ~(anode | cathode), np.where(anode, VOLTAGE, 0.0)


def run_size(label: str, repeats: int, log) -> dict:
    out = {"label": label}
    mesh, mesh_seconds, cached = scene_mesh(label)
    out.update(n_cells=mesh.n_cells, n_nodes=mesh.n_nodes, mesh_s=mesh_seconds, cached=cached)
    log(f"\n## {label}: {mesh.n_cells} cells, {mesh.n_nodes} nodes "
        f"(gmsh {mesh_seconds:.1f} s{', cached' if cached else ''})")

    anode_np, free_np, g_np = boundary(mesh)
    region = np.asarray(mesh.cell_region)
    tumour_id = mesh.region_id("tumour")
    sigma0 = np.where(region == tumour_id, TUMOUR[0], LIVER[0])
    params = [LIVER if name != "tumour" else TUMOUR for name in mesh.region_names]

    # Set-up (host): pattern, sigma0 operator, hierarchies.
    t = time.process_time()
    pattern = build_pattern(mesh.cells, mesh.n_nodes)
    points = jnp.asarray(mesh.points)
    free, anode, g = jnp.asarray(free_np), jnp.asarray(anode_np), jnp.asarray(g_np)
    k0 = stiffness(pattern, points, jnp.asarray(sigma0))
    a0 = apply_dirichlet(k0, free)
    b = -jnp.where(free, k0 @ g, 0.0)
    a0_scipy = hyb_to_scipy(a0)
    out["pattern_s"] = time.process_time() - t
    t = time.process_time()
    amg = build_amg(a0_scipy, max_coarse=AMG.max_coarse, strength_theta=AMG.strength_theta)
    out["amg_setup_s"] = time.process_time() - t
    t = time.process_time()
    # the same hierarchy as epsim's (strength of connection; dense coarsest level up to
    # max_coarse unknowns)
    ml = pyamg.smoothed_aggregation_solver(
        a0_scipy, symmetry="symmetric", max_coarse=AMG.max_coarse,
        strength=("symmetric", {"theta": AMG.strength_theta}),
    )
    out["pyamg_setup_s"] = time.process_time() - t
    t = time.process_time()
    problem = ref.NumpyProblem(mesh.points, mesh.cells, region, params, free_np)
    out["numpy_setup_s"] = time.process_time() - t
    out["levels"] = amg.n_levels
    out["level_sizes"] = [lvl.a.n_rows for lvl in amg.levels] + [amg.coarse_inverse.shape[0]]
    log(f"AMG levels {amg.n_levels} {out['level_sizes']}; set-up CPU s: pattern "
        f"{out['pattern_s']:.2f}, epsim AMG {out['amg_setup_s']:.2f}, pyamg "
        f"{out['pyamg_setup_s']:.2f}, numpy reference {out['numpy_setup_s']:.2f}")

    # (a) linear solve ---------------------------------------------------------------------
    b_np = np.asarray(b)
    out["linear_compile_s"], lin = cpu_time(jax_linear, a0, amg, b)
    residuals = []
    x_ref = ml.solve(b_np, tol=LINEAR_RTOL, accel="cg", maxiter=1000, residuals=residuals)
    relres_jax = np.linalg.norm(b_np - a0_scipy @ np.asarray(lin.x)) / np.linalg.norm(b_np)
    relres_ref = np.linalg.norm(b_np - a0_scipy @ x_ref) / np.linalg.norm(b_np)
    diff = np.linalg.norm(np.asarray(lin.x) - x_ref) / np.linalg.norm(x_ref)
    out.update(linear_its=int(lin.iterations), pyamg_its=len(residuals) - 1)
    log(f"(a) linear: JAX {int(lin.iterations)} its, |r|/|b| {relres_jax:.1e}; pyamg "
        f"{len(residuals) - 1} its, {relres_ref:.1e}; |x_jax - x_pyamg|/|x| {diff:.1e}")
    assert relres_jax <= 2 * LINEAR_RTOL and relres_ref <= 2 * LINEAR_RTOL
    times = interleaved(
        {
            "jax": lambda: jax_linear(a0, amg, b),
            "pyamg": lambda: ml.solve(b_np, tol=LINEAR_RTOL, accel="cg", maxiter=1000),
        },
        repeats,
    )
    out["linear_jax_s"], out["linear_ref_s"] = med(times["jax"]), med(times["pyamg"])
    out["linear_compile_s"] -= out["linear_jax_s"]
    log(f"    CPU s (median of {repeats}): JAX {out['linear_jax_s']:.3f}, pyamg "
        f"{out['linear_ref_s']:.3f}, ratio {out['linear_ref_s'] / out['linear_jax_s']:.2f}; "
        f"compile {out['linear_compile_s']:.2f}")

    # (b) Newton ---------------------------------------------------------------------------
    model = RegionConductivity(smooth_steps(VOLTAGE)[1], jnp.asarray(region))
    out["newton_compile_s"], sol = cpu_time(jax_newton, pattern, points, model, g, free, amg)
    res = reference_newton(problem, g_np, ml)
    phi_jax = np.asarray(sol.phi)
    dphi = np.linalg.norm(phi_jax - res.phi) / np.linalg.norm(res.phi)
    i_jax, i_ref = problem.force_on(phi_jax, anode_np), problem.force_on(res.phi, anode_np)
    e_mag = np.linalg.norm(problem.e_field(phi_jax), axis=1)
    e_rev = np.where(region == tumour_id, TUMOUR[2], LIVER[2])
    frac = float(problem.volumes[e_mag >= e_rev].sum() / problem.volumes.sum())
    frac_t = float(
        problem.volumes[(e_mag >= e_rev) & (region == tumour_id)].sum()
        / problem.volumes[region == tumour_id].sum()
    )
    out.update(
        newton_its=int(sol.iterations), newton_lin_its=int(sol.linear_iterations),
        ref_newton_its=res.iterations, ref_lin_its=res.linear_iterations,
        current=i_jax, frac_rev=frac, frac_rev_tumour=frac_t,
    )
    log(f"(b) Newton: JAX {int(sol.iterations)} its / {int(sol.linear_iterations)} PCG its, "
        f"converged {bool(sol.converged)}, residual {float(sol.residual):.1e}; numpy "
        f"{res.iterations} its / {res.linear_iterations} PCG its, converged {res.converged}")
    log(f"    |phi_jax - phi_np|/|phi| {dphi:.1e}; anode current JAX {i_jax:.6g} A, numpy "
        f"{i_ref:.6g} A (rel diff {abs(i_jax - i_ref) / abs(i_ref):.1e}); volume above E_rev: "
        f"{100 * frac:.1f} % of tissue, {100 * frac_t:.1f} % of tumour")
    assert bool(sol.converged) and res.converged and dphi < 1e-6
    assert abs(i_jax - i_ref) <= 1e-6 * abs(i_ref)
    times = interleaved(
        {
            "jax": lambda: jax_newton(pattern, points, model, g, free, amg),
            "numpy": lambda: reference_newton(problem, g_np, ml),
            "numpy geometry": lambda: problem.place(problem.points),
        },
        repeats,
    )
    out["newton_jax_s"], out["newton_ref_s"] = med(times["jax"]), med(times["numpy"])
    out["ref_geometry_s"] = med(times["numpy geometry"])
    out["newton_compile_s"] -= out["newton_jax_s"]
    log(f"    CPU s: JAX {out['newton_jax_s']:.3f}, numpy/scipy/pyamg {out['newton_ref_s']:.3f}, "
        f"ratio {out['newton_ref_s'] / out['newton_jax_s']:.2f}; compile "
        f"{out['newton_compile_s']:.2f}; numpy's element geometry {out['ref_geometry_s']:.3f}")

    # (c) gradient -------------------------------------------------------------------------
    args = (pattern, points, jnp.asarray(region), anode, free, amg)
    p0 = smooth_steps(VOLTAGE)
    fwd_compile, current = cpu_time(jax_current, p0, *args)
    grad_compile, (_, grad) = cpu_time(jax_current_and_grad, p0, *args)
    h = 1.0
    fd = (float(jax_current(smooth_steps(VOLTAGE + h), *args))
          - float(jax_current(smooth_steps(VOLTAGE - h), *args))) / (2 * h)
    dv = float(grad[0])
    log(f"(c) gradient: dI/dV implicit {dv:.8g} S, central FD {fd:.8g} S "
        f"(rel diff {abs(dv - fd) / abs(fd):.1e}); dI/d sigma1(liver) "
        f"{float(grad[1][0].sigma1):.6g} A m/S")
    assert abs(dv - fd) <= 1e-4 * abs(fd)
    times = interleaved(
        {
            "forward": lambda: jax_current(p0, *args),
            "value_and_grad": lambda: jax_current_and_grad(p0, *args),
        },
        repeats,
    )
    out["fwd_s"], out["grad_s"] = med(times["forward"]), med(times["value_and_grad"])
    out["grad_compile_s"] = grad_compile - out["grad_s"]
    log(f"    CPU s: forward {out['fwd_s']:.3f}, value_and_grad {out['grad_s']:.3f} "
        f"(ratio {out['grad_s'] / out['fwd_s']:.2f}); compile {out['grad_compile_s']:.2f}")

    # Roofline ------------------------------------------------------------------------------
    tangent_like = k0  # the tangent has the stiffness pattern's layout and dtype
    per_it, per_vcycle = iteration_bytes(amg, tangent_like)
    per_step = newton_step_bytes(pattern, mesh.n_cells)
    newton_bytes = per_it * out["newton_lin_its"] + per_step * (out["newton_its"] + 1)
    out.update(
        bytes_per_it=per_it, bytes_per_vcycle=per_vcycle, bytes_per_newton_step=per_step,
        bytes_linear=per_it * out["linear_its"], bytes_newton=newton_bytes,
    )
    log(f"roofline: {per_it / 1e6:.1f} MB per PCG iteration ({per_it / mesh.n_nodes:.0f} B/node, "
        f"V-cycle {per_vcycle / 1e6:.1f} MB), {per_step / 1e6:.1f} MB per Newton step outside "
        f"PCG; H100 bound {1e3 * per_it / H100_BW:.3f} ms/it, "
        f"{1e3 * out['bytes_linear'] / H100_BW:.2f} ms/linear solve, "
        f"{1e3 * newton_bytes / H100_BW:.2f} ms/Newton solve")
    return out


# ----------------------------------------------------------------------------------------------
# Report


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "pinned": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "pyamg": pyamg.__version__,
        "device": str(jax.devices()[0]),
    }


def pcg_share(r: dict) -> float:
    per_it = r["linear_jax_s"] / r["linear_its"]
    return min(1.0, per_it * r["newton_lin_its"] / r["newton_jax_s"])


def report(rows: list[dict], repeats: int, info: dict, command: str) -> str:
    spread = max(r["linear_its"] for r in rows) / min(r["linear_its"] for r in rows)
    lines = [
        "# Solver benchmark results",
        "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), run pinned to CPU {info['pinned']}; "
        f"device {info['device']}; Python {info['python']}, jax {info['jax']}, numpy "
        f"{info['numpy']}, pyamg {info['pyamg']}  ",
        "Precision: float64 everywhere except, on the JAX side, the V-cycle (float32 hierarchy "
        "inside the float64 CG) and the Newton tangent's values in the inner solves (float32; "
        "residuals float64). Times: CPU seconds (`time.process_time`) on one core, median of "
        f"{repeats} interleaved runs; compile = first call minus a warm call.",
        "",
        "Scene: 8 x 8 x 6 cm liver, 1 cm spherical tumour, 4 needles (r 0.6 mm, 2 cm active) at "
        f"the corners of a 2 cm square, pair {ANODE}->{CATHODE} at {VOLTAGE:.0f} V, smooth-step "
        "conductivity (liver 0.08->0.32 S/m at 350-700 V/cm, tumour 0.2->0.7 S/m at 400-800 V/cm), "
        "idle needles insulating. Linear: sigma0 operator, |r| <= 1e-8 |b|. Newton: rtol 1e-9, "
        f"forcing <= {NEWTON.forcing_max:g}, sigma0 hierarchy reused, the element geometry "
        "computed from the points inside the timed solve on both sides (epsim's solve does, to "
        "be differentiable in them); the same hierarchy settings "
        f"for both (strength of connection theta {AMG.strength_theta:g}, dense coarsest level "
        f"up to {AMG.max_coarse} unknowns). Meshes numbered for locality "
        "(`epsim.mesh.ordering`), the same mesh for both.",
        "",
        "| size | cells | nodes | gmsh s | AMG levels | PCG its JAX / pyamg | linear JAX s | "
        "linear pyamg s | ratio | Newton its | inner PCG its JAX / numpy | Newton JAX s | "
        "Newton numpy s | ratio | value+grad s | grad / fwd | compile s (lin / Newton / grad) |",
        "|" + "---|" * 17,
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['n_cells']} | {r['n_nodes']} | {r['mesh_s']:.1f} | "
            f"{r['levels']} | {r['linear_its']} / {r['pyamg_its']} | {r['linear_jax_s']:.3f} | "
            f"{r['linear_ref_s']:.3f} | {r['linear_ref_s'] / r['linear_jax_s']:.2f} | "
            f"{r['newton_its']} / {r['ref_newton_its']} | {r['newton_lin_its']} / "
            f"{r['ref_lin_its']} | {r['newton_jax_s']:.2f} | {r['newton_ref_s']:.2f} | "
            f"{r['newton_ref_s'] / r['newton_jax_s']:.2f} | {r['grad_s']:.2f} | "
            f"{r['grad_s'] / r['fwd_s']:.2f} | {r['linear_compile_s']:.1f} / "
            f"{r['newton_compile_s']:.1f} / {r['grad_compile_s']:.1f} |"
        )
    lines += [
        "",
        "Ratio = reference / JAX (above 1: JAX faster). grad / fwd = value_and_grad time over "
        "the forward solve time (the gradient includes the forward solve). Set-up per size (CPU "
        "s; pattern / epsim AMG / pyamg / numpy reference): "
        + "; ".join(
            f"{r['label']} {r['pattern_s']:.1f} / {r['amg_setup_s']:.1f} / "
            f"{r['pyamg_setup_s']:.1f} / {r['numpy_setup_s']:.1f}"
            for r in rows
        )
        + ". Of the numpy Newton time, its element geometry (CPU s): "
        + "; ".join(f"{r['label']} {r['ref_geometry_s']:.2f}" for r in rows)
        + ". Volume above E_rev: "
        + "; ".join(
            f"{r['label']} {100 * r['frac_rev']:.1f} % of tissue, "
            f"{100 * r['frac_rev_tumour']:.1f} % of tumour" for r in rows
        )
        + ".",
        "",
        "Where the JAX Newton time goes (estimate: inner PCG iterations times the linear solve's "
        "time per iteration; the rest is tangent assembly, residuals and line search): "
        + "; ".join(
            f"{r['label']} PCG {pcg_share(r):.0%}, "
            f"{1e3 * (r['newton_jax_s'] * (1 - pcg_share(r))) / r['newton_its']:.0f} ms per "
            "Newton step outside PCG"
            for r in rows
        )
        + ".",
        "",
        "Multigrid scaling: JAX AMG-PCG iterations "
        + ", ".join(f"{r['linear_its']} ({r['label']})" for r in rows)
        + f"; largest / smallest = {spread:.2f}.",
        "",
        "## Roofline (memory-bound lower bounds on a GPU)",
        "",
        "Bytes counted from the actual arrays: every HYB matrix of the hierarchy (4 products with "
        "A, one with P and one with R per level and V-cycle), the coarse inverse, the float64 "
        "tangent product of the CG step and the vector passes; each array streamed once per use "
        "(perfect caching of gathered vectors), so the times are lower bounds at peak HBM "
        "bandwidth (H100 3.35 TB/s, H200 4.8 TB/s). A Newton solve = its inner PCG "
        "iterations plus, per Newton step, the tangent assembly and two residual evaluations.",
        "",
        "| size | nodes | MB / PCG it | B / node / it | H100 ms / it | H100 ms / linear | "
        "H100 ms / Newton | H200 ms / it | H200 ms / linear | H200 ms / Newton | CPU ms / it "
        "(this run) |",
        "|" + "---|" * 11,
    ]
    for r in rows:
        it, lin, newt = r["bytes_per_it"], r["bytes_linear"], r["bytes_newton"]
        lines.append(
            f"| {r['label']} | {r['n_nodes']} | {it / 1e6:.1f} | {it / r['n_nodes']:.0f} | "
            f"{1e3 * it / H100_BW:.3f} | {1e3 * lin / H100_BW:.2f} | {1e3 * newt / H100_BW:.1f} | "
            f"{1e3 * it / H200_BW:.3f} | {1e3 * lin / H200_BW:.2f} | {1e3 * newt / H200_BW:.1f} | "
            f"{1e3 * r['linear_jax_s'] / r['linear_its']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,500k,2M", help="comma-separated: 100k,500k,2M")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args(argv)
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose from {list(SIZES)}")
    info = machine()
    print(f"# {info}", flush=True)
    rows = []
    for label in labels:
        rows.append(run_size(label, args.repeats, lambda s: print(s, flush=True)))
    command = "python benchmarks/bench_solver.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = report(rows, args.repeats, info, command.strip())
    print("\n" + text)
    write_keeping_notes(Path(args.output), text)
    CACHE.mkdir(exist_ok=True)
    (CACHE / "last_results.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
