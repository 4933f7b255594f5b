"""What a run reports, in its config's units: the summary text, `<out>.summary.json` and the
region table `<out>.regions.csv`.

    text = summary_text(results, cfg)               # what `epsim run` prints
    data = summary_data(results, cfg)               # the same as plain data (JSON)
    write_summary(path_json, path_csv, results, cfg, overwrite=False)

One row per region: a named part of the scene (the domain, a layer, a structure or a vessel) with
its material and role, so two vessels of one material are reported apart. Every spared
structure's fraction at or above its E_irr and its largest field are reported in every run, and
flagged when the field reaches E_irr. Values are shown in the config's units
(`epsim.config.display`); fractions are fractions (the text shows per cent).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

import numpy as np

from epsim.accuracy import (ACCEPTABLE_COVERAGE_ERROR, ACCEPTABLE_CURRENT_ERROR,
                             corrected_currents)
from epsim.config.display import DisplayUnits, report_units
from epsim.config.schema import ResolvedConfig
from epsim.io.atomic import atomic_output
from epsim.io.results import RegionMetrics, Results

SUMMARY_FORMAT = "epsim-summary"
SUMMARY_VERSION = 1
KILL_SURVIVAL = 0.5  # a cell counts as killed below this Peleg-Fermi survival

# Region columns: key, kind of quantity ("fraction": 0..1), header of the text table.
REGION_COLUMNS = (
    ("volume", "volume", "volume"), ("e_rev", "field", None), ("e_irr", "field", None),
    ("fraction_rev", "fraction", ">= E_rev"), ("fraction_irr", "fraction", ">= E_irr"),
    ("e_max_mean", "field", None), ("e_max_max", "field", "max |E|"),
    ("permeabilised_fraction", "fraction", "permeab."), ("killed_fraction", "fraction", "killed"),
    ("temperature_max", "temperature", "T max"), ("damaged_fraction", "fraction", "Arrhen."),
    ("fraction_rev_error", "fraction", None), ("fraction_irr_error", "fraction", None),
)


def above_e_irr(m: RegionMetrics) -> bool:
    """Whether any cell of the region reaches its material's E_irr."""
    return m.e_max_max >= m.e_irr


def spared_lines(results: Results, units: DisplayUnits) -> list[str]:
    """One line per spared structure: its fraction at or above E_irr and its largest field,
    starting WARNING when the field reaches E_irr."""
    lines = []
    for m in results.metrics:
        if m.role != "spare":
            continue
        field = (f"{100 * m.fraction_irr:.1f} % of its volume at or above E_irr "
                 f"{units.text(m.e_irr, 'field')}, "
                 f"largest field {units.text(m.e_max_max, 'field')}")
        if above_e_irr(m):
            lines.append(f"WARNING: spared {m.name} ({m.material}) reaches E_irr: {field}")
        else:
            lines.append(f"spared {m.name} ({m.material}) stays below E_irr: {field}")
    return lines


def current_lines(results: Results, cfg: ResolvedConfig, units: DisplayUnits) -> list[str]:
    """The device's current limit: a warning naming the pairs above it, or that all are within."""
    limit = cfg.device.max_current
    if limit is None:
        return []
    over = [f"{results.pair_label(k)}: {units.text(abs(i), 'current')} > "
            f"{units.text(limit, 'current')}" for k, i in enumerate(results.current)
            if abs(i) > limit]
    if over:
        return ["WARNING: current above device.max_current: " + "; ".join(over)]
    return [f"currents within device.max_current ({units.text(limit, 'current')})"]


def accuracy_lines(results: Results) -> list[str]:
    """The mesh's estimated error (`epsim.accuracy`): the largest pair current error and target
    coverage error, a WARNING when either is above its acceptable level."""
    errors = results.pair_fields.get("current_error")
    if errors is None:
        return []
    worst = int(np.argmax(errors))
    text = (f"estimated mesh error: currents up to {100 * errors[worst]:.1f} % high "
            f"(pair {worst + 1})")
    cover = [(getattr(m, f"fraction_{k}_error"), m.name, k) for m in results.metrics
             for k in ("rev", "irr") if m.role == "target"
             and getattr(m, f"fraction_{k}_error") is not None]
    if cover:
        value, name, k = max(cover)
        text += f", target coverage up to {100 * value:.1f} points high ({name}, >= E_{k})"
    coarse = (errors[worst] > ACCEPTABLE_CURRENT_ERROR
              or any(c[0] > ACCEPTABLE_COVERAGE_ERROR for c in cover))
    if coarse:
        return [f"WARNING: the mesh is too coarse: {text}; use smaller scene.mesh sizes or "
                "epsim run --converge 1 %"]
    return [text]


def _number(value: float) -> str:
    """One decimal from 100 up (no exponents for large volumes), else 4 significant digits."""
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _region_table(results: Results, units: DisplayUnits) -> list[str]:
    heated = any(m.temperature_max is not None for m in results.metrics)
    width = max([len(m.name) for m in results.metrics] + [6]) + 2
    mwidth = max([len(m.material) for m in results.metrics] + [8]) + 2
    columns = [(k, kind, head) for k, kind, head in REGION_COLUMNS if head
               and (heated or k not in ("temperature_max", "damaged_fraction"))]

    def head(key, kind, text):
        if kind in ("volume", "field", "temperature"):
            text = f"{text} {units.unit(kind)}"
        return f"{text:>{max(len(text), 8) + 2}}"

    def cell(m, key, kind, text):
        value, size = getattr(m, key), len(head(key, kind, text))
        if value is None:
            return f"{'-':>{size}}"
        if kind == "fraction":
            return f"{100 * value:>{size - 2}.1f} %"
        return f"{_number(units.value(value, kind)):>{size}}"

    lines = [f"{'region':<{width}}{'material':<{mwidth}}{'role':<8}"
             + "".join(head(*c) for c in columns)]
    for m in results.metrics:
        flag = "  <- reaches E_irr" if m.role == "spare" and above_e_irr(m) else ""
        lines.append(f"{m.name:<{width}}{m.material:<{mwidth}}{m.role:<8}"
                     + "".join(cell(m, *c) for c in columns) + flag)
    return lines


def _pair_table(results: Results, units: DisplayUnits) -> list[str]:
    pulses = results.pair_fields.get("pulse_current")
    v, a = units.unit("voltage"), units.unit("current")
    errors = results.pair_fields.get("current_error")
    corrected = corrected_currents(results)
    lines = [f"{'pair':<22}{'voltage ' + v:>12}{'current ' + a:>12}{'Newton':>8}"
             + (f"{'last pulse ' + a:>16}" if pulses is not None else "")
             + (f"{'est. error':>12}{'fine mesh ' + a:>14}" if errors is not None else "")]
    for k in range(len(results.anode)):
        row = (f"{f'{k + 1}. {results.anode[k]} -> {results.cathode[k]}':<22}"
               f"{units.value(results.voltage[k], 'voltage'):>12.1f}"
               f"{units.value(results.current[k], 'current'):>12.3f}"
               f"{int(results.iterations[k]):>8}")
        if pulses is not None:
            row += f"{units.value(pulses[k, -1], 'current'):>16.3f}"
        if errors is not None:
            row += (f"{100 * errors[k]:>10.1f} %"
                    f"{units.value(corrected[k], 'current'):>14.3f}")
        lines.append(row)
    return lines


def _legend(results: Results, cfg: ResolvedConfig) -> list[str]:
    pulses = cfg.protocol.pulses.count
    rule = cfg.physics.survival_rule.replace("_", " ")
    text = (
        ">= E_rev, >= E_irr: volume fraction whose largest field over the pairs reaches its "
        "material's reversible / irreversible threshold (static thresholds, whatever the pulse "
        "count). max |E|: the largest field in the region. permeab.: mean permeabilisation "
        "probability. killed: volume fraction whose Peleg-Fermi survival after "
        f"{pulses} pulse(s) per pair ({rule}) is below {KILL_SURVIVAL:g}; the survival model "
        "counts pulses, so with few pulses it can stay well below >= E_irr."
    )
    if any(m.temperature_max is not None for m in results.metrics):
        text += (" T max: peak temperature. Arrhen.: volume fraction with an Arrhenius damage "
                 "integral of at least 1.")
    if "current_error" in results.pair_fields:
        text += (" est. error: the pair current's relative error estimated from the mesh (a "
                 "posteriori; the computed current is the higher). fine mesh: the current "
                 "corrected by it, an estimate of what a fine mesh gives. Coverage up to ... "
                 "points high: the coverage lost if each cell's field were lower by its pair's "
                 "current error.")
    return textwrap.wrap(text, width=100)


def summary_text(results: Results, cfg: ResolvedConfig) -> str:
    """What `epsim run` prints: regions, pairs, device limits, spared structures, a legend."""
    units = report_units(cfg)
    lines = [f"{results.name}: {len(results.cells)} cells, {len(results.anode)} pair(s)"]
    lines += _region_table(results, units)
    lines += _pair_table(results, units)
    lines += current_lines(results, cfg, units)
    lines += accuracy_lines(results)
    lines += spared_lines(results, units)
    lines += _legend(results, cfg)
    return "\n".join(lines)


def region_record(m: RegionMetrics, units: DisplayUnits) -> dict:
    """One region as plain data in the report's units (fractions as fractions)."""
    record = {"name": m.name, "material": m.material, "role": m.role}
    for key, kind, _ in REGION_COLUMNS:
        value = getattr(m, key)
        if value is not None and kind != "fraction":
            value = units.value(value, kind)
        record[key] = value
    record["above_e_irr"] = above_e_irr(m)
    return {k: v for k, v in record.items() if v is not None}  # no heating: no temperatures


def summary_data(results: Results, cfg: ResolvedConfig) -> dict:
    """The summary as plain data: regions, pairs, device limits, spared structures, warnings,
    with the units of every kind of value."""
    units = report_units(cfg)
    pulses = results.pair_fields.get("pulse_current")
    corrected = corrected_currents(results)
    pairs = []
    for k in range(len(results.anode)):
        pair = {"index": k + 1, "anode": results.anode[k], "cathode": results.cathode[k],
                "voltage": units.value(results.voltage[k], "voltage"),
                "current": units.value(results.current[k], "current"),
                "converged": bool(results.converged[k]),
                "iterations": int(results.iterations[k])}
        if pulses is not None:
            pair["last_pulse_current"] = units.value(pulses[k, -1], "current")
        if "current_error" in results.pair_fields:  # a fraction, like the coverages
            pair["current_error"] = float(results.pair_fields["current_error"][k])
            pair["current_fine_mesh"] = units.value(corrected[k], "current")
        pairs.append(pair)
    limit = cfg.device.max_current
    notes = (current_lines(results, cfg, units) + accuracy_lines(results)
             + spared_lines(results, units))
    return {
        "format": SUMMARY_FORMAT, "version": SUMMARY_VERSION, "name": results.name,
        "cells": int(len(results.cells)), "pulses_per_pair": cfg.protocol.pulses.count,
        "units": {kind: units.unit(kind) for kind in
                  ("volume", "field", "voltage", "current", "temperature")},
        "regions": [region_record(m, units) for m in results.metrics],
        "spared": [region_record(m, units) for m in results.metrics if m.role == "spare"],
        "pairs": pairs,
        "device": {
            "max_voltage": None if cfg.device.max_voltage is None
            else units.value(cfg.device.max_voltage, "voltage"),
            "max_current": None if limit is None else units.value(limit, "current"),
        },
        "warnings": [line for line in notes if line.startswith("WARNING")],
    }


def region_csv(data: dict) -> str:
    """The region table of `summary_data` as CSV, units in the headers."""
    units = data["units"]
    kinds = {key: kind for key, kind, _ in REGION_COLUMNS}
    keys = list(dict.fromkeys(k for row in data["regions"] for k in row))
    header = [f"{k} [{units[kinds[k]]}]" if kinds.get(k) in units else k for k in keys]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in data["regions"]:
        writer.writerow([f"{row[k]:.12g}" if isinstance(row.get(k), float) else row.get(k, "")
                         for k in keys])
    return out.getvalue()


def write_summary(json_path, csv_path, results: Results, cfg: ResolvedConfig, *,
                  overwrite: bool = False) -> list[Path]:
    """Write `<out>.summary.json` and `<out>.regions.csv` atomically; returns both paths."""
    data = summary_data(results, cfg)
    written = []
    texts = ((json_path, json.dumps(data, indent=1) + "\n"), (csv_path, region_csv(data)))
    for path, text in texts:
        with atomic_output(path, overwrite=overwrite) as tmp:
            tmp.write_text(text, encoding="utf-8")
        written.append(Path(path).expanduser().absolute())
    return written


__all__ = [
    "KILL_SURVIVAL", "REGION_COLUMNS", "SUMMARY_FORMAT", "above_e_irr", "accuracy_lines",
    "current_lines",
    "region_csv", "region_record", "spared_lines", "summary_data", "summary_text",
    "write_summary",
]
