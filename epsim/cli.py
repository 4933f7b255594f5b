"""Command line: `epsim run | check | mesh | sweep | render | info` (docs/design.md, section 6).

`main(argv) -> int` never raises for expected problems: each prints one message on stderr and
returns its exit code (0 done, 2 bad input found before any solving, 3 solver did not converge,
4 stopped after solving began with what was computed kept, 1 anything else).
Progress goes to stderr on a terminal and stays quiet in a pipe.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from epsim import __version__, interrupts
from epsim.errors import EpsimError, IncompleteRunError, InputError
from epsim.jax_setup import configure_jax, deterministic_xla

EXIT_OK, EXIT_OTHER, EXIT_INPUT, EXIT_SOLVER, EXIT_INCOMPLETE = 0, 1, 2, 3, 4


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"epsim: {message} ...", file=sys.stderr, flush=True)


def _outputs(cfg, args) -> dict[str, Path]:
    """Every file a run will write, decided before any work starts (the config's output.file
    lies in the config's folder: `epsim.config.confined_output`; -o may name any place)."""
    from epsim.io import paraview_outputs
    from epsim.runner import image_outputs

    if args.output:
        h5 = Path(args.output)
    elif cfg.output.file:
        h5 = Path(cfg.output.file)
    else:
        h5 = Path(Path(args.config).stem + ".h5")
    stem = h5.with_suffix("")
    paths = {"hdf5": h5, "summary": Path(f"{stem}.summary.json"),
             "regions": Path(f"{stem}.regions.csv")}
    if cfg.output.paraview and not args.no_paraview:
        paths.update(paraview_outputs(Path(f"{stem}.vtu")))  # .vtu, _electrodes.vtu, .vtm
    if cfg.output.render or args.render:
        quantities = ["survival"] + (["temperature_max"] if cfg.heating is not None else [])
        paths.update(_picture_paths(stem, quantities))
    paths.update(image_outputs(cfg, stem))  # an image scene's results on its grid (NIfTI)
    return paths


def summary(results, cfg) -> str:
    """A short text report in the config's units (`epsim.report.summary_text`)."""
    from epsim.report import summary_text

    return summary_text(results, cfg)


def cmd_run(args) -> int:
    from epsim.config import load_config
    from epsim.io import write_paraview_set, write_results
    from epsim.report import write_summary
    from epsim.io.publish import Publication
    from epsim.runner import run_config, write_image_outputs

    cfg = load_config(args.config)
    _check_budget(args, "run", cfg)
    paths = _outputs(cfg, args)
    uncertainty = _uncertainty(cfg, args, paths)  # --scenarios: checked before any work
    publication = Publication(paths.values(), overwrite=args.overwrite)  # before any work
    _watch(args, *paths.values())
    if args.converge is not None:  # levels of refinement; the last one's results written
        from epsim.budget import limits_of
        from epsim.converge import converge

        levels = converge(cfg, args.converge, limits_of(args), progress=_progress,
                          use_cache=not args.no_cache)
        cfg, results = levels.cfg, levels.results
    else:
        results = run_config(cfg, progress=_progress, use_cache=not args.no_cache)
    scenarios = None
    if uncertainty is not None:
        from epsim.optimise.scenarios import run_scenarios

        scenarios = run_scenarios(cfg, args.scenarios, uncertainty,
                                  use_cache=not args.no_cache, progress=_progress)
        results = scenarios.with_probabilities(results)
    with publication:  # all of them or none
        staged = {key: publication.staged(path) for key, path in paths.items()}
        write_results(staged["hdf5"], results)
        write_summary(staged["summary"], staged["regions"], results, cfg)
        if "paraview" in staged:
            write_paraview_set(staged["paraview"], results)
        if "overview" in staged:
            _render(results, staged)
        if scenarios is not None:
            staged["scenarios"].write_text(scenarios.csv(), encoding="utf-8")
        write_image_outputs(staged, results, cfg)
    print(summary(results, cfg))
    if scenarios is not None:
        print(scenarios.text())
    for path in publication.published:
        print(f"wrote {path}")
    if args.converge is not None:
        print(levels.text())
        if not levels.converged:
            raise IncompleteRunError(f"--converge: not converged ({levels.reason})")
    return EXIT_OK


def _uncertainty(cfg, args, paths):
    """`epsim run --scenarios N`: the uncertainty model, checked, and <out>.scenarios.csv
    among the outputs (None without --scenarios)."""
    if args.scenarios is None:
        return None
    from epsim.optimise import scenarios as sc

    base = sc.config_uncertainty(args.config)  # the model of optimise.robust, if any
    uncertainty = sc.uncertainty_from_options(args.placement, args.cv, args.posterior,
                                              args.scenario_seed, base)
    sc.check_uncertainty(cfg, args.scenarios, uncertainty)
    paths["scenarios"] = paths["hdf5"].with_suffix(".scenarios.csv")
    return uncertainty


def _picture_paths(stem: Path, quantities) -> dict[str, Path]:
    """Overview, |E| slice, histogram, and one slice per outcome quantity."""
    paths = {
        "overview": stem.with_suffix(".png"),
        "slice": Path(f"{stem}_slice.png"),
        "histogram": Path(f"{stem}_histogram.png"),
    }
    paths.update({q: Path(f"{stem}_{q}.png") for q in quantities})
    return paths


def _render(results, paths) -> None:
    """The pictures of `results` into `paths` (staged by a `Publication`)."""
    from epsim.viz import histogram, render_overview, render_slice

    _progress("rendering pictures")
    render_overview(results, paths["overview"])
    render_slice(results, paths["slice"])
    histogram(results, paths["histogram"])
    for key, path in paths.items():
        if key in results.extra_fields:
            render_slice(results, path, quantity=key)


def _check_budget(args, command: str, cfg, **overrides):
    """Refuse work over the command line's limits before it starts (`epsim.budget`)."""
    from epsim import budget

    estimate = getattr(budget, f"estimate_{command}")(cfg, **overrides)
    return budget.check(estimate, budget.limits_of(args))


def _watch(args, *paths) -> None:
    """Outputs whose temporary files an interrupt removes (`epsim.interrupts`)."""
    for path in paths:
        args.guard.watch(path)


def cmd_check(args) -> int:
    from epsim.budget import describe
    from epsim.config import dump_resolved, load_config

    cfg = load_config(args.config)
    estimate = _check_budget(args, "run", cfg)
    print(dump_resolved(cfg))
    print(f"# budget of a run: {describe(estimate)}")
    return EXIT_OK


def cmd_mesh(args) -> int:
    from epsim.config import load_config
    from epsim.io.atomic import atomic_output, check_writable
    from epsim.mesh import write_mesh
    from epsim.mesh.quality import quality_report
    from epsim.meshcache import build_mesh
    from epsim.translate import scene_spec

    cfg = load_config(args.config)
    _check_budget(args, "mesh", cfg)
    out = Path(args.output or Path(args.config).stem + ".vtu")
    check_writable(out, overwrite=args.overwrite)  # before meshing
    _watch(args, out)
    mesh = build_mesh(scene_spec(cfg), use_cache=not args.no_cache, progress=_progress)
    with atomic_output(out, overwrite=args.overwrite) as tmp:
        write_mesh(tmp, mesh)
    print(f"regions {list(mesh.region_names)}; {quality_report(mesh)}")
    print(f"wrote {out}")
    return EXIT_OK


VIEW_OPTIONS = ("plane", "offset", "pair", "quantity", "crop")


def _view_options(args) -> dict | None:
    """The slice `epsim render` was asked for (offset in mm, pair numbered from 1 as the
    summary lists them, or named), or None for the standard set of pictures."""
    if all(getattr(args, key) is None for key in VIEW_OPTIONS):
        return None
    pair = args.pair
    if pair is not None and pair.isdigit():
        pair = int(pair) - 1
    offset = None if args.offset is None else args.offset * 1e-3
    return {"plane": args.plane or "pair", "offset": offset, "pair": pair,
            "quantity": args.quantity, "crop": args.crop or "target"}


def _render_view(results, args, view: dict) -> int:
    """One slice as asked: -o, else <result>_<quantity>_<plane>.png beside the results file."""
    stem = Path(args.result).with_suffix("")
    path = Path(args.output) if args.output else Path(
        f"{stem}_{view['quantity'] or 'e_max'}_{view['plane']}.png")
    from epsim.io.publish import Publication
    from epsim.viz import render_slice

    with Publication([path], overwrite=args.overwrite) as publication:
        render_slice(results, publication.staged(path), **view)
    for written in publication.published:
        print(f"wrote {written}")
    return EXIT_OK


def cmd_render(args) -> int:
    from epsim.io import read_results
    from epsim.io.publish import Publication

    results = read_results(args.result)
    view = _view_options(args)
    if view is not None:
        return _render_view(results, args, view)
    stem = Path(args.output).with_suffix("") if args.output else Path(args.result).with_suffix("")
    quantities = [q for q in ("survival", "temperature_max") if q in results.extra_fields]
    paths = _picture_paths(stem, quantities)
    with Publication(paths.values(), overwrite=args.overwrite) as publication:
        _render(results, {key: publication.staged(path) for key, path in paths.items()})
    for path in publication.published:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_sweep(args) -> int:
    from epsim.budget import limits_of
    from epsim.sweep import load_plan, run_sweep
    from epsim.sweep.budget import check_sweep_budget

    check_sweep_budget(args.config, axes=args.axis or (), samples=args.samples,
                       chunk_size=args.chunk_size, limits=limits_of(args))
    args.guard.watch_folder(Path(args.output or Path(args.config).stem))
    plan = load_plan(
        args.config, axes=args.axis or (), samples=args.samples, seed=args.seed,
        chunk_size=args.chunk_size,
    )
    out = Path(args.output or Path(args.config).stem)
    _progress(f"{len(plan.points)} point(s) validated; running the sweep into {out}")
    report = run_sweep(
        plan, out, scheduler=args.scheduler, workers=args.workers,
        use_cache=not args.no_cache, progress=sys.stderr.isatty(), plot=not args.no_plot,
        overwrite=args.overwrite,
    )
    print(
        f"{report.n_points} point(s): {report.n_reused} from earlier chunk files, "
        f"{len(report.chunks_run)} chunk(s) evaluated in {report.seconds:.1f} s"
    )
    if not report.complete:
        for key, error in report.failed_chunks:
            print(f"epsim: error: chunk {key}: {error}", file=sys.stderr)
        print(
            f"epsim: error: {len(report.failed_chunks)} chunk(s) failed; finished chunks are kept "
            "in the folder, run the same command again to retry the rest",
            file=sys.stderr,
        )
        return EXIT_OTHER
    print(report.summary)
    print(f"wrote {report.table}")
    print(f"wrote {report.csv}")
    if report.plot:
        print(f"wrote {report.plot}")
    return EXIT_OK


def cmd_optimise(args) -> int:
    from epsim.optimise import run_planning
    from epsim.optimise.setup import read_request

    out = Path(args.output or Path(args.config).stem + "_plan")
    overrides = {
        key: value
        for key, value in (
            ("starts", args.starts), ("linear_steps", args.linear_steps),
            ("nonlinear_steps", args.nonlinear_steps), ("seed", args.seed),
        )
        if value is not None
    }
    if args.no_baseline:
        overrides["baseline"] = False
    cfg, block, _ = read_request(args.config)
    _check_budget(args, "plan", cfg, block=block, **overrides)
    args.guard.watch_folder(out)
    report = run_planning(args.config, out, overwrite=args.overwrite, render=not args.no_render,
                          resume=args.resume, **overrides)
    print(report.text)
    for path in report.written:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_calibrate(args) -> int:
    from epsim.calibrate.run import OUTPUTS, run_calibration
    from epsim.config import load_config

    _check_budget(args, "run", load_config(args.config))
    out = Path(args.output)
    _watch(args, *(out / name for name in OUTPUTS))
    report = run_calibration(
        args.config, args.measurements, out, fit=args.fit or (), noise=args.noise,
        samples=args.samples, seed=args.seed, overwrite=args.overwrite,
        use_cache=not args.no_cache, progress=_progress)
    print(report.text, end="")
    for path in report.written:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from epsim.optimise.recheck import recheck

    args.guard.watch_folder(Path(args.folder) / "recheck")
    report = recheck(args.folder, args.actual, overwrite=args.overwrite,
                     render=not args.no_render)
    print(report.text)
    for path in report.written:
        print(f"wrote {path}")
    return EXIT_OK


def _add_verify(sub) -> None:
    verify = sub.add_parser(
        "verify", help="re-check a plan at the needles' actual positions",
        description="Re-simulate DIR's plan with the needles where actual.yaml places them "
                    "(fresh mesh), report the coverage deficit and re-optimise the voltages "
                    "and pairs for them; writes DIR/recheck/.")
    verify.add_argument("folder", metavar="DIR", help="a folder epsim optimise wrote")
    verify.add_argument("--actual", required=True, metavar="actual.yaml")
    verify.add_argument("--overwrite", action="store_true", help="replace an earlier re-check")
    verify.add_argument("--no-render", action="store_true", help="skip the pictures")
    verify.set_defaults(handler=cmd_verify)


def cmd_info(args) -> int:
    import jax

    print(f"epsim {__version__}")
    print(f"jax {jax.__version__}, backend {jax.default_backend()}")
    print("devices: " + ", ".join(str(d) for d in jax.devices()))
    print(f"precision: {'float64' if jax.config.jax_enable_x64 else 'float32'}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    from epsim.budget import add_limit_options
    from epsim.calibrate.command import add_calibrate_parser
    from epsim.converge import tolerance_argument

    p = argparse.ArgumentParser(prog="epsim", description="Electroporation simulator and planner.")
    p.add_argument("--version", action="version", version=f"epsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="simulate a config and report")
    run.add_argument("config")
    run.add_argument("-o", "--output", help="results file (.h5); default: the config's output.file")
    run.add_argument("--overwrite", action="store_true", help="replace existing result files")
    run.add_argument("--render", action="store_true", help="also write PNG pictures")
    run.add_argument("--no-paraview", action="store_true", help="skip the ParaView file")
    run.add_argument(
        "--no-cache", action="store_true",
        help="mesh afresh and compile afresh: ignore the mesh and compiled-program caches",
    )
    scenarios = run.add_argument_group(
        "uncertainty (--scenarios N: coverage quantiles P5/P50/P95 and per-cell probabilities "
        "p_rev, p_irr in the results file)")
    scenarios.add_argument("--scenarios", type=int, metavar="N",
                           help="evaluate the plan under N scenarios of the uncertainty model")
    scenarios.add_argument("--placement", metavar="LAT,DEPTH,ANGLE",
                           help="placement standard deviations in mm, mm, degrees (default: "
                                "the config's optimise.robust block, else 2,2,3)")
    scenarios.add_argument("--cv", type=float,
                           help="coefficient of variation of each material's conductivity "
                                "(default: optimise.robust's, else 0.25)")
    scenarios.add_argument("--posterior", metavar="posterior.h5",
                           help="conductivity from epsim calibrate's samples instead of --cv")
    scenarios.add_argument("--scenario-seed", type=int,
                           help="seed of the draws (default: optimise.robust's, else 0)")
    run.add_argument("--converge", metavar="TOL", type=tolerance_argument,
                     help="refine the mesh (sizes x0.7 per level) until currents and target "
                          "coverage change less than TOL, e.g. '1 %%'; prints the sequence")
    add_limit_options(run)
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser("check", help="validate a config and print what it resolves to")
    check.add_argument("config")
    add_limit_options(check)
    check.set_defaults(handler=cmd_check)

    mesh = sub.add_parser("mesh", help="mesh a config's scene only")
    mesh.add_argument("config")
    mesh.add_argument("-o", "--output", help="mesh file (.vtu, .msh, .xdmf)")
    mesh.add_argument("--overwrite", action="store_true")
    mesh.add_argument("--no-cache", action="store_true")
    add_limit_options(mesh)
    mesh.set_defaults(handler=cmd_mesh)

    render = sub.add_parser(
        "render", help="pictures of a results file",
        description="Without view options: the overview, the slice through the first pair's "
                    "electrodes, the histogram and outcome slices. With any of --plane, "
                    "--offset, --pair, --quantity, --crop: that one slice.")
    render.add_argument("result")
    render.add_argument("-o", "--output", help="PNG path of the overview (or of the one slice)")
    render.add_argument("--plane", choices=("pair", "x", "y", "z"),
                        help="pair: through the firing electrodes (default); x, y, z: normal "
                             "to that axis")
    render.add_argument("--offset", type=float, metavar="MM",
                        help="an x|y|z plane's position in mm (default: the target centre); "
                             "the pair plane moved along its normal")
    render.add_argument("--pair", metavar="N|NAME",
                        help="pair number as the summary lists it (from 1) or a->b: its "
                             "electrodes' plane and its field (default: plane of pair 1, "
                             "max field over pairs)")
    render.add_argument("--quantity",
                        choices=("e_max", "survival", "permeabilisation", "temperature"),
                        help="what colours the slice (default e_max)")
    render.add_argument("--crop", choices=("target", "all"),
                        help="target: the target and firing electrodes with a margin "
                             "(default); all: the whole section")
    render.add_argument("--overwrite", action="store_true")
    render.set_defaults(handler=cmd_render)

    sweep = sub.add_parser("sweep", help="evaluate a config over axes of parameters")
    sweep.add_argument("config")
    sweep.add_argument("-o", "--output", help="sweep folder (default: the config's stem)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="existing Dask scheduler")
    sweep.add_argument("--workers", type=int, default=1,
                       help="processes of the embedded Dask cluster (0: run in this process)")
    sweep.add_argument("--chunk-size", type=int, metavar="B", help="points per vmap batch")
    sweep.add_argument("--axis", action="append", metavar="PATH=SPEC",
                       help="an axis, e.g. 'protocol.pairs[0].voltage=linspace(800, 1200, 5)'")
    sweep.add_argument("--samples", type=int, help="samples of the random and latin axes")
    sweep.add_argument("--seed", type=int, help="seed of the random and latin axes")
    sweep.add_argument("--no-cache", action="store_true", help="mesh afresh")
    sweep.add_argument("--no-plot", action="store_true", help="skip coverage.png")
    sweep.add_argument("--overwrite", action="store_true",
                       help="start afresh: drop the folder's earlier chunk files")
    add_limit_options(sweep)
    sweep.set_defaults(handler=cmd_sweep)

    optimise = sub.add_parser(
        "optimise", aliases=["optimize"],
        help="plan needle positions and pair voltages (the config's `optimise:` block)",
    )
    optimise.add_argument("config")
    optimise.add_argument("-o", "--output", help="output directory (default: <config>_plan)")
    optimise.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    optimise.add_argument("--starts", type=int, help="number of starts (overrides the config)")
    optimise.add_argument("--linear-steps", type=int, help="steps of the superposition stage")
    optimise.add_argument("--nonlinear-steps", type=int, help="steps of the nonlinear stage")
    optimise.add_argument("--seed", type=int, help="random seed of the starts and the baseline")
    optimise.add_argument("--no-baseline", action="store_true", help="skip the CMA-ES baseline")
    optimise.add_argument("--no-render", action="store_true", help="skip the plan pictures")
    optimise.add_argument("--resume", action="store_true",
                          help="continue a stopped run in the output folder from its checkpoint")
    add_limit_options(optimise)
    optimise.set_defaults(handler=cmd_optimise)

    add_calibrate_parser(sub, cmd_calibrate)
    _add_verify(sub)

    info = sub.add_parser("info", help="version, devices, precision")
    info.set_defaults(handler=cmd_info)
    return p


MESSAGE_CHARS = 280  # one line on stderr, whatever a message quotes


def one_line(message: str) -> str:
    """`message` on one line of at most MESSAGE_CHARS characters: a long one keeps its start
    (file, line, key) and its end (the problem and what to do) around " ... "."""
    text = " ".join(str(message).split())
    if len(text) <= MESSAGE_CHARS:
        return text
    head = MESSAGE_CHARS // 3
    return text[:head] + " ... " + text[len(text) - (MESSAGE_CHARS - head - 5):]


def _error(exc: BaseException) -> str:
    from epsim.io import OutputExistsError

    text = exc.command_line() if isinstance(exc, OutputExistsError) else str(exc)
    return f"epsim: error: {one_line(text)}"


def _notices() -> None:
    """Notices of the library (a cache entry rebuilt, say) as one `epsim: ...` line each."""
    import logging

    logger = logging.getLogger("epsim")
    if not any(getattr(h, "epsim_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("epsim: %(message)s"))
        handler.epsim_cli = True
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _quiet_stdout() -> None:
    """Stdout's reader went away (`epsim check CONFIG | head -1`): drop the rest of the
    output instead of ending in a BrokenPipeError traceback at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("optimise", "optimize", "verify"):
        deterministic_xla()
    configure_jax(use_cache=not getattr(args, "no_cache", False))
    _notices()
    guard = args.guard = interrupts.Guard()
    try:
        with guard:  # Ctrl-C and SIGTERM stop any stage: epsim.interrupts
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except InputError as exc:
        print(_error(exc), file=sys.stderr)
        return EXIT_INPUT
    except EpsimError as exc:
        print(_error(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # also SIGTERM (interrupts.Terminated)
        interrupts.ignore_further_signals()  # a second one must not change the exit code
        guard.cleanup()
        print(interrupts.message(exc), file=sys.stderr, flush=True)
        return interrupts.exit_code(exc)
    except MemoryError:
        print("epsim: error: out of memory", file=sys.stderr)
        return EXIT_OTHER
    except Exception as exc:  # a bug of epsim's: one line for the user, the trace on request
        guard.cleanup()
        if os.environ.get("EPSIM_DEBUG"):
            raise
        print(f"epsim: internal error: {type(exc).__name__}: {one_line(str(exc))} (please "
              "report it; EPSIM_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_OTHER


if __name__ == "__main__":
    sys.exit(main())
