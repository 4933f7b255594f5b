"""The plan sheet's content: the tables a clinician follows, as data (`plan.json`).

    document = plan_document(plan_cfg, results, request_cfg=cfg, block=block, raw=raw)
    paths = write_plan_sheet(out, plan_cfg, results, ...)    # DIR/plan.json and DIR/plan.html

`plan.json` has a versioned schema (`"schema": "epsim.plan/1"`): `tables` (needles, pulses,
coverage, spared), each with `columns` (key, label, unit, decimals) and `rows` (one mapping per
row, numbers rounded to the column's decimals, in the units clinicians use: mm, V, V/cm, A,
degrees, %), a `summary`, the `provenance` (config hash, epsim version, material and electrode
sources) and the `request` (the `optimise:` block and `units:` the plan was made with, for
`epsim verify --actual`). `plan.html` (`epsim.viz.plansheet`) shows the same tables, the
pictures and a 3-D view. The numbers come from the fresh-mesh verification of the plan
(`results`), never from the planning model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import epsim
from epsim.config import needle_axes, resolved_to_yaml, spacing
from epsim.config.needles import electrode_models
from epsim.config.catalogue import electrode_catalogue
from epsim.io.atomic import atomic_output
from epsim.optimise.geometry import signed_distance_function
from epsim.optimise.insertion import insertions
from epsim.translate import scene_spec
from epsim.viz.common import cell_volumes

SCHEMA = "epsim.plan/1"
V_PER_CM = 100.0
MM = 1e3


def column(key: str, label: str, unit: str | None = None, decimals: int | None = None) -> dict:
    """A table column: `decimals` None for text, else the digits after the point (0: whole)."""
    return {"key": key, "label": label, "unit": unit, "decimals": decimals}


def rounded(value, decimals: int | None):
    """A cell value as stored: text unchanged, numbers rounded (vectors element by element),
    whole numbers as int, None (not available) kept."""
    if value is None or decimals is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [rounded(v, decimals) for v in value]
    if decimals == 0:
        return int(round(float(value)))
    return round(float(value), decimals) + 0.0  # + 0.0: no "-0.0"


def table(title: str, columns: list[dict], rows: list[dict]) -> dict:
    """A table of plan.json: every row's values rounded as its column says."""
    return {"title": title, "columns": columns,
            "rows": [{c["key"]: rounded(row.get(c["key"]), c["decimals"]) for c in columns}
                     for row in rows]}


def needle_table(plan_cfg, models: dict[str, str]) -> dict:
    """Name, model, diameter, entry on the skin, tip, depth from the skin, angles to the
    patient axes, the conducting part (depths from the skin of its ends)."""
    rows = []
    for n in insertions(plan_cfg):
        rows.append({
            "name": n.name, "model": models.get(n.name), "diameter": 2 * n.radius * MM,
            "skin": None if n.skin is None else n.skin * MM, "tip": n.tip * MM,
            "depth": None if n.depth is None else n.depth * MM,
            "angle_x": np.degrees(n.angles[0]), "angle_y": np.degrees(n.angles[1]),
            "angle_z": np.degrees(n.angles[2]),
            "conducting": None if n.conducting is None else np.asarray(n.conducting) * MM,
            "active_length": n.active_length * MM,
        })
    columns = [
        column("name", "needle"), column("model", "model"),
        column("diameter", "diameter", "mm", 2),
        column("skin", "entry on the skin (x, y, z)", "mm", 1),
        column("tip", "tip (x, y, z)", "mm", 1),
        column("depth", "depth from the skin to the tip", "mm", 1),
        column("angle_x", "angle to x", "deg", 1), column("angle_y", "angle to y", "deg", 1),
        column("angle_z", "angle to z", "deg", 1),
        column("conducting", "conducting part, depths from the skin (from, to)", "mm", 1),
        column("active_length", "conducting length", "mm", 1),
    ]
    return table("Needles", columns, rows)


def pulse_table(plan_cfg, results) -> dict:
    """The firing sequence: pair, distance, voltage, U/d, pulses, verified current against
    the device limit."""
    by_name = {n.name: n for n in needle_axes(plan_cfg)}
    limit = plan_cfg.device.max_current
    count = plan_cfg.protocol.pulses.count
    rows = []
    for k, pair in enumerate(plan_cfg.protocol.pairs):
        d = spacing(plan_cfg, by_name, pair.anode, pair.cathode)
        current = float(abs(results.current[k]))
        rows.append({
            "order": k + 1, "pair": f"{pair.anode} -> {pair.cathode}",
            "distance": None if d is None else d * MM, "voltage": pair.voltage,
            "u_over_d": None if not d else pair.voltage / d / V_PER_CM, "pulses": count,
            "current": current, "limit": limit,
            "of_limit": None if not limit else 100 * current / limit,
        })
    columns = [
        column("order", "#", None, 0), column("pair", "pair (anode -> cathode)"),
        column("distance", "distance", "mm", 1), column("voltage", "voltage", "V", 0),
        column("u_over_d", "U/d", "V/cm", 0), column("pulses", "pulses", None, 0),
        column("current", "predicted current", "A", 2),
        column("limit", "device limit", "A", 1), column("of_limit", "of the limit", "%", 0),
    ]
    return table("Pulse sequence", columns, rows)


def margin_coverage(plan_cfg, results, structure: str, margin: float,
                    threshold: float) -> float | None:
    """Volume fraction of the target plus the tissue within `margin` (m) of it whose field
    reaches `threshold` (V/m); None when the target has no analytic shape (a file)."""
    shape = next((s for s in scene_spec(plan_cfg).inclusions if s.name == structure), None)
    distance = None if shape is None else signed_distance_function(shape)
    if distance is None:
        return None
    points, cells = np.asarray(results.points), np.asarray(results.cells)
    centroids = points[cells].mean(axis=1)
    volumes = cell_volumes(points, cells)
    region = results.region_names.index(structure)
    inside = (np.asarray(results.cell_region) == region) | \
        (np.asarray(distance(centroids)) <= margin)
    covered = inside & (np.asarray(results.e_max) >= threshold)
    return float(volumes[covered].sum() / volumes[inside].sum())


def coverage_table(plan_cfg, results, therapy: str, margin: float, goal: float | None) -> dict:
    """Each target structure's coverage at its threshold, and with the planning margin."""
    key = "e_irr" if therapy == "ire" else "e_rev"
    rows = []
    for m in results.metrics:
        if m.role != "target":
            continue
        threshold = getattr(m, key)
        fraction = m.fraction_irr if key == "e_irr" else m.fraction_rev
        rows.append({"region": m.name, "material": m.material,
                     "level": "E_irr" if key == "e_irr" else "E_rev",
                     "threshold": threshold / V_PER_CM, "volume": m.volume * 1e6,
                     "coverage": 100 * fraction, "goal": None if goal is None else 100 * goal})
        if margin > 0:
            extra = margin_coverage(plan_cfg, results, m.name, margin, threshold)
            rows.append({"region": f"{m.name} + {margin * MM:g} mm margin",
                         "material": m.material, "level": rows[-1]["level"],
                         "threshold": threshold / V_PER_CM, "volume": None,
                         "coverage": None if extra is None else 100 * extra, "goal": None})
    columns = [
        column("region", "region"), column("material", "material"), column("level", "level"),
        column("threshold", "threshold", "V/cm", 0), column("volume", "volume", "cm3", 2),
        column("coverage", "coverage", "%", 2), column("goal", "goal", "%", 1),
    ]
    return table("Target coverage", columns, rows)


def spared_table(results) -> dict:
    """Each spared structure's largest field against its E_irr."""
    rows = []
    for m in results.metrics:
        if m.role != "spare":
            continue
        ratio = m.e_max_max / m.e_irr
        rows.append({"structure": m.name, "material": m.material, "e_irr": m.e_irr / V_PER_CM,
                     "largest": m.e_max_max / V_PER_CM, "ratio": ratio,
                     "status": "ok" if ratio < 1.0 else "ABOVE E_irr"})
    columns = [
        column("structure", "structure"), column("material", "material"),
        column("e_irr", "E_irr", "V/cm", 0), column("largest", "largest field", "V/cm", 0),
        column("ratio", "largest / E_irr", None, 3), column("status", "status"),
    ]
    return table("Spared structures", columns, rows)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def provenance(plan_cfg, models: dict[str, str], config_text: str | None) -> dict:
    """Config hashes, epsim version, where the materials' and electrodes' numbers come from."""
    catalogue = electrode_catalogue()
    used = sorted(set(models.values()))
    return {
        "epsim_version": epsim.__version__,
        "config_sha256": None if config_text is None else _sha256(config_text),
        "plan_sha256": _sha256(resolved_to_yaml(plan_cfg)),
        "materials": {name: m.provenance.model_dump() for name, m in plan_cfg.materials.items()},
        "electrode_models": {
            name: {key: {"value": v.text if not isinstance(v.text, tuple) else list(v.text),
                         "source": v.source, "verified": v.verified}
                   for key, v in catalogue[name].geometry.items()}
            for name in used if name in catalogue
        },
    }


def plan_document(plan_cfg, results, *, request_cfg=None, block=None, raw: dict | None = None,
                  config_text: str | None = None, title: str | None = None,
                  extra_tables: dict | None = None) -> dict:
    """plan.json's content (see the module doc).

    Args:
        plan_cfg: the plan as a resolved config (needles where they go, pairs that fire).
        results: its fresh-mesh verification (`epsim.io.Results`).
        request_cfg: the config the plan was made from (electrode models), default plan_cfg.
        block: the `optimise:` block (therapy, margin, goal), or None (ECT, no margin).
        raw: the raw config data the plan came from (its `optimise:` and `units:` are kept).
        config_text: that config's text (hashed).
        extra_tables: more tables by key (the coverage under uncertainty of a robust plan).
    """
    models = electrode_models(request_cfg or plan_cfg) | electrode_models(plan_cfg)
    therapy = getattr(block, "therapy", "ect")
    margin = getattr(block, "target_margin", 0.0)
    goal = getattr(block, "coverage_goal", None)
    pulses = pulse_table(plan_cfg, results)
    tables = {
        "needles": needle_table(plan_cfg, models), "pulses": pulses,
        "coverage": coverage_table(plan_cfg, results, therapy, margin, goal),
        "spared": spared_table(results), **(extra_tables or {}),
    }
    raw = raw or {}
    return {
        "schema": SCHEMA,
        "name": title or plan_cfg.name,
        "units": {"length": "mm", "voltage": "V", "field": "V/cm", "current": "A",
                  "angle": "deg", "volume": "cm3"},
        "frame": "the scene's coordinates (RAS+ for scenes made from images); the skin is the "
                 "scene's outer surface",
        "therapy": therapy,
        "tables": tables,
        "summary": {
            "needles": len(tables["needles"]["rows"]), "pairs": len(pulses["rows"]),
            "pulses_total": sum(r["pulses"] for r in pulses["rows"]),
            "pulse_width_us": rounded(plan_cfg.protocol.pulses.width * 1e6, 1),
            "max_current_A": max((r["current"] for r in pulses["rows"]), default=None),
            "device_max_current_A": plan_cfg.device.max_current,
            "device_max_voltage_V": plan_cfg.device.max_voltage,
            "cells": int(len(results.cells)),
        },
        "provenance": provenance(plan_cfg, models, config_text),
        "request": {"units": raw.get("units"), "optimise": raw.get("optimise")},
    }


def write_plan_sheet(out, plan_cfg, results, *, overwrite: bool = False, render: bool = True,
                     **document) -> list:
    """Write DIR/plan.json and DIR/plan.html (atomically; `document`: keywords of
    `plan_document`; `render`: draw the slices and the histogram). Returns the paths written."""
    from epsim.viz.plansheet import write_plan_html

    out = Path(out)
    doc = plan_document(plan_cfg, results, **document)
    text = json.dumps(doc, indent=1, default=str, allow_nan=False)
    with atomic_output(out / "plan.json", overwrite=overwrite) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    html = write_plan_html(doc, results, out / "plan.html", overwrite=overwrite, render=render)
    return [(out / "plan.json").resolve(), html]


__all__ = [
    "SCHEMA", "coverage_table", "margin_coverage", "needle_table",
    "plan_document", "provenance", "pulse_table", "rounded", "spared_table", "table",
    "write_plan_sheet",
]
