"""The `epsim calibrate` command line: its arguments (the command itself is `epsim.cli`'s)."""

from __future__ import annotations

import argparse

from epsim.budget import add_limit_options


def fraction(text: str) -> float:
    """'2%' or '0.02' as 0.02 (argparse type; errors are usage errors, exit 2)."""
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction: {text[:40]!r}") from None


def add_calibrate_parser(sub, handler) -> None:
    """`epsim calibrate CONFIG --measurements FILE.csv -o DIR` on the subparsers `sub`."""
    calibrate = sub.add_parser(
        "calibrate", help="fit tissue conductivity to measured pulse currents",
        description="Maximum a posteriori fit (log-normal priors at the config's values) of "
                    "tissue parameters to the currents in a CSV file "
                    "(anode,cathode,voltage_V,current_A[,pulse][,time_s]); writes "
                    "DIR/materials.yaml, DIR/posterior.h5 and DIR/report.txt.")
    calibrate.add_argument("config")
    calibrate.add_argument("--measurements", required=True, metavar="FILE.csv")
    calibrate.add_argument("-o", "--output", required=True, metavar="DIR")
    calibrate.add_argument("--fit", action="append", metavar="MATERIAL.KIND[:CV]",
                           help="a parameter to fit (KIND: sigma0, ratio, e_rev), with its prior "
                                "cv; default: sigma0 and ratio of the materials touching the "
                                "electrodes")
    calibrate.add_argument("--noise", type=fraction, default=0.02,
                           help="relative noise of a measured current (default 2%%)")
    calibrate.add_argument("--samples", type=int, default=1000,
                           help="posterior samples in posterior.h5 (default 1000)")
    calibrate.add_argument("--seed", type=int, default=0, help="seed of the samples")
    calibrate.add_argument("--overwrite", action="store_true")
    calibrate.add_argument("--no-cache", action="store_true", help="mesh afresh")
    add_limit_options(calibrate)
    calibrate.set_defaults(handler=handler)
