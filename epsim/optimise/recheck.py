"""`epsim verify DIR --actual actual.yaml`: the plan again, with the needles where they went in.

    report = recheck("plan_dir", "actual.yaml")

`actual.yaml` gives every needle of DIR/plan.yaml as placed (read off the post-insertion CT,
say), in the units of its own `units:` block (default mm):

    units: {length: mm}
    needles:
      n1: {tip: [12.1, -3.0, -40.2], entry: [14.0, -2.2, 30.0]}

The re-check first runs the plan's voltages with the needles as placed on a fresh mesh (the
coverage deficit: DIR/recheck/placed.h5). It then writes DIR/recheck/actual.yaml (the needles
as placed, each pair started at the plan's U/d times its actual spacing, and the `optimise:`
block the plan was made with, from DIR/plan.json, with every position frozen: `depth`,
`lateral` and `tilt` off, voltages free down to 0 V) and plans it with the planner
(`run_planning`): the voltages (and pairs: a pair may go to 0 V and be dropped,
`drop_voltage`) re-optimised for the needles where they are (DIR/recheck/plan.yaml, plan.html,
report.txt; its initial.h5 is the U/d start). Started from the plan's own voltages instead, a
layout whose coverage fell to nothing gives the optimiser no coverage gradient to climb, and the
spared-tissue terms walked the voltage down (two needles 3 mm out each: 550 V -> 56 V, 0 %).
The positions being frozen, the planner skips its linear stage (`linear_steps: 0`: the
nonlinear stage starts from the U/d start). That stage's model (sigma0 on every cell) is what
disagreed with the fresh mesh: with the two needles 15 mm apart across a 3 mm tumour it gave 0 %
at 917 V where the nonlinear model on the same planning mesh gave 100 % (and 91 % at 767 V, the
fresh mesh 92 %): sigma rising near the needles (the current doubles, 1.06 -> 2.26 A) moves
voltage drop into the gap, so the superposition model sees no coverage gradient and the
healthy-tissue term walks the voltage down. The mesh, the structures and the materials agreed
(positions are frozen: the planning mesh is made at the placed layout). recheck.txt and
recheck.json compare planned, as placed, the U/d start and the re-optimised voltages, all
verified on fresh meshes, and recommend the better of the last two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import yaml
from pydantic import ValidationError

from epsim.config import load_config, load_config_data, needle_axes, spacing
from epsim.config.issues import ConfigIssue, issue_from_validation, located
from epsim.config.schema import Name, OptimiseBlock, Section, Vec3
from epsim.config.units import UnitError, check_units_block, unknown_name_message
from epsim.config.yamlio import parse_yaml, read_config_text
from epsim.errors import InputError
from epsim.io import write_results
from epsim.io.atomic import atomic_output, check_writable
from epsim.optimise.feasibility import binding
from epsim.optimise.planner import run_planning
from epsim.optimise.sheet import SCHEMA
from epsim.runner import run_config

FROZEN = {"depth": False, "lateral": False, "tilt": False, "starts": 1, "baseline": False,
          "min_voltage": "0 V", "linear_steps": 0}
SEARCH_KEYS = ("needles",)  # the count search: the needles are already in
OUTPUTS = ("actual.yaml", "placed.h5", "recheck.txt", "recheck.json")
NAMES = {"replanned": "re-optimised", "same_field": "planned U/d at the actual spacing"}


class PlacedNeedle(Section):
    tip: Vec3
    entry: Vec3


class Actual(Section):
    """What actual.yaml says (SI after validation)."""

    units: Optional[dict] = None
    needles: dict[Name, PlacedNeedle]


def read_actual(path, names: list[str]) -> dict[str, PlacedNeedle]:
    """The needles as placed, SI, one for each name of the plan.

    Raises:
        ConfigError: a malformed file, an unknown or missing needle (file, line, key).
    """
    text = read_config_text(path)
    data = parse_yaml(text, str(path))
    try:
        if not isinstance(data, dict):
            raise ConfigIssue((), "expected a mapping with `needles:` (and `units:`)")
        try:
            units = check_units_block(data.get("units") or {"length": "mm"})
        except UnitError as exc:
            raise ConfigIssue(("units",), str(exc)) from None
        try:
            actual = Actual.model_validate(data, context={"units": units})
        except ValidationError as exc:
            raise issue_from_validation(exc, data) from None
        for name in actual.needles:
            if name not in names:
                raise ConfigIssue(("needles", name),
                                  unknown_name_message("needle", name, names) + " (the plan's)")
        missing = [n for n in names if n not in actual.needles]
        if missing:
            raise ConfigIssue(("needles",), f"no position for {', '.join(missing)}: give every "
                              "needle of the plan as placed")
    except ConfigIssue as issue:
        raise located(issue, str(path), text) from None
    return actual.needles


def _mm(value: float) -> str:
    return f"{value * 1e3:.4f} mm"


def placed_data(plan_data: dict, placed: dict[str, PlacedNeedle]) -> dict:
    """The plan (plan.yaml's data) with every needle moved to where it was placed."""
    data = dict(plan_data)
    data["electrodes"] = [
        {**e, "tip": [_mm(x) for x in placed[e["name"]].tip],
         "entry": [_mm(x) for x in placed[e["name"]].entry]}
        for e in plan_data["electrodes"]
    ]
    return data


def same_field_start(plan_cfg, placed_cfg, max_voltage: float | None) -> list[float]:
    """Each pair's voltage (V) at the plan's U/d over its spacing as placed, within the
    generator's limit: where the re-optimisation starts."""
    planned = {n.name: n for n in needle_axes(plan_cfg)}
    actual = {n.name: n for n in needle_axes(placed_cfg)}
    out = []
    for pair in placed_cfg.protocol.pairs:
        before = spacing(plan_cfg, planned, pair.anode, pair.cathode)
        after = spacing(placed_cfg, actual, pair.anode, pair.cathode)
        volts = pair.voltage * (after / before if before and after else 1.0)
        out.append(min(volts, max_voltage) if max_voltage else volts)
    return out


def actual_config(data: dict, plan: dict, start: list[float]) -> dict:
    """The re-check's config data: the needles as placed (`placed_data`), the pairs at `start`
    (V) and the plan's `optimise:` block (from plan.json) with every position frozen."""
    data = dict(data)
    protocol = dict(data["protocol"])
    protocol["pairs"] = [{**p, "voltage": f"{v:.2f} V"} for p, v in zip(protocol["pairs"], start)]
    data["protocol"] = protocol
    block = dict(plan["request"].get("optimise") or {})
    for key in SEARCH_KEYS:
        block.pop(key, None)
    data["optimise"] = {**block, **FROZEN}
    return data


@dataclass
class Recheck:
    """The three verified states and what was written."""

    planned: float
    placed: float
    same_field: float | None
    replanned: float
    recommended: str
    voltages: dict
    goal: float
    text: str
    written: list
    plan_report: object


def _coverage(results, therapy: str) -> float:
    key = "fraction_irr" if therapy == "ire" else "fraction_rev"
    return min(getattr(m, key) for m in results.metrics if m.role == "target")


def _moves(plan_cfg, placed) -> list[tuple[str, float, float]]:
    """(needle, tip moved, entry moved), m."""
    return [(n.name, float(np.linalg.norm(np.asarray(placed[n.name].tip) - n.tip)),
             float(np.linalg.norm(np.asarray(placed[n.name].entry) - n.entry)))
            for n in needle_axes(plan_cfg)]


def _volts(cfg) -> dict[str, float]:
    return {f"{p.anode} -> {p.cathode}": p.voltage for p in cfg.protocol.pairs}


def _text(moves, volts: dict, numbers: dict, recommended: str, rows) -> str:
    """recheck.txt: how far each needle is off, coverage planned / as placed / re-optimised,
    the voltages, and what is recommended."""
    lines = ["re-check at the actual needle positions (positions frozen, voltages re-optimised)"]
    lines += [f"  {name}: tip moved {tip * 1e3:.2f} mm, entry moved {entry * 1e3:.2f} mm"
              for name, tip, entry in moves]
    goal, placed = numbers["goal"], numbers["placed"]
    lines.append(f"target coverage (fresh meshes), goal {goal:g} %:")
    lines.append(f"  planned:                                  {numbers['planned']:.2f} %")
    lines.append(f"  as placed, planned voltages:              {placed:.2f} % (deficit "
                 f"{numbers['planned'] - placed:.2f} pp against the plan, "
                 f"{max(goal - placed, 0.0):.2f} pp against the goal)")
    if numbers["same_field"] is not None:
        lines.append(f"  as placed, planned U/d at actual spacing: {numbers['same_field']:.2f} %")
    lines.append(f"  as placed, re-optimised voltages:         {numbers['replanned']:.2f} %")
    lines.append("pair voltages (V): planned / planned U/d at actual spacing / re-optimised:")
    for label in volts["planned"]:
        row = [volts[k].get(label) for k in ("planned", "same_field", "replanned")]
        lines.append(f"  {label}: " + " / ".join("dropped" if v is None else f"{v:.0f}"
                                                   for v in row))
    best = numbers[recommended]
    lines.append(f"recommended: the {NAMES[recommended]} voltages, {best:.2f} % "
                 + ("(goal met)" if best >= goal else "(GOAL NOT MET)"))
    if recommended != "replanned":
        lines.append("  (the optimiser's own plan covers less than its start on the fresh mesh; "
                     "its plan.yaml is kept for reference)")
    if best < goal:
        held = [f"{r.constraint} ({r.status})" for r in binding(rows)
                if not r.constraint.startswith("target coverage")]
        lines.append("why not: " + ("; ".join(held) if held else "no limit binds: the needles "
                                    "as placed do not cover the target at these voltages"))
    return "\n".join(lines)


def recheck(folder, actual_path, *, overwrite: bool = False, render: bool = True,
            progress=None, **overrides) -> Recheck:
    """Re-check a plan folder at the needles' actual positions (see the module doc).

    Args:
        folder: a folder `epsim optimise` wrote (plan.yaml and plan.json).
        actual_path: actual.yaml.
        overrides: replace fields of the re-check's `optimise:` block (as `run_planning`).
    Raises:
        InputError: no plan in the folder, a plan.json of another schema, a bad actual.yaml.
    """
    folder = Path(folder)
    out = folder / "recheck"
    if not (folder / "plan.yaml").is_file() or not (folder / "plan.json").is_file():
        raise InputError(f"{folder}: no plan.yaml and plan.json here; plan with epsim optimise "
                         "first (it writes both)")
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    if plan.get("schema") != SCHEMA:
        raise InputError(f"{folder / 'plan.json'}: schema {plan.get('schema')!r}, expected "
                         f"{SCHEMA!r}")
    plan_cfg = load_config(folder / "plan.yaml")
    placed = read_actual(actual_path, [n.name for n in needle_axes(plan_cfg)])
    for name in OUTPUTS:
        check_writable(out / name, overwrite=overwrite)
    moved = placed_data(parse_yaml(read_config_text(folder / "plan.yaml"),
                                   str(folder / "plan.yaml")), placed)
    placed_cfg = load_config_data(moved, source="the plan as placed", base_dir=folder)
    as_placed = run_config(placed_cfg)  # the deficit: the planned voltages, needles as placed
    written = [write_results(out / "placed.h5", as_placed, overwrite=overwrite)]
    block = OptimiseBlock.model_validate(plan["request"].get("optimise") or {},
                                         context={"units": check_units_block(
                                             plan["request"].get("units"))})
    limits = [v for v in (block.max_voltage, placed_cfg.device.max_voltage) if v]
    start = same_field_start(plan_cfg, placed_cfg, min(limits) if limits else None)
    data = actual_config(moved, plan, start)
    with atomic_output(out / "actual.yaml", overwrite=overwrite) as tmp:
        tmp.write_text("# the plan with its needles as placed (epsim verify --actual)\n"
                       + yaml.safe_dump(data, sort_keys=False, default_flow_style=None),
                       encoding="utf-8")
    report = run_planning(out / "actual.yaml", out, overwrite=overwrite, render=render,
                          progress=progress, **overrides)
    therapy = plan.get("therapy", "ect")
    goal = 100 * report.setup.block.coverage_goal
    planned = next((r["coverage"] for r in plan["tables"]["coverage"]["rows"]
                    if r["coverage"] is not None), float("nan"))
    numbers = {"planned": planned, "goal": goal, "placed": 100 * _coverage(as_placed, therapy),
               "same_field": None if report.initial is None
               else 100 * _coverage(report.initial, therapy),
               "replanned": 100 * _coverage(report.verification, therapy)}
    labels = [f"{p.anode} -> {p.cathode}" for p in placed_cfg.protocol.pairs]
    volts = {"planned": _volts(plan_cfg), "same_field": dict(zip(labels, start)),
             "replanned": _volts(load_config(out / "plan.yaml"))}
    recommended = "replanned"
    if numbers["same_field"] is not None and numbers["same_field"] > numbers["replanned"]:
        recommended = "same_field"
    moves = _moves(plan_cfg, placed)
    text = _text(moves, volts, numbers, recommended, report.rows)
    with atomic_output(out / "recheck.txt", overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    summary = {"schema": "epsim.recheck/1", "coverage_percent": numbers,
               "moves_mm": {n: {"tip": t * 1e3, "entry": e * 1e3} for n, t, e in moves},
               "voltages_V": volts, "recommended": recommended}
    with atomic_output(out / "recheck.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    written += [(out / n).resolve() for n in OUTPUTS if n != "placed.h5"] + list(report.written)
    return Recheck(planned, numbers["placed"], numbers["same_field"], numbers["replanned"],
                   recommended, volts[recommended], goal, text, written, report)


__all__ = ["Actual", "PlacedNeedle", "Recheck", "actual_config", "read_actual", "recheck"]
