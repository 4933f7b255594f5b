"""The plan sheet as one self-contained HTML page (`DIR/plan.html`): opens offline, no external
scripts, styles, fonts or images (pictures are embedded PNGs, the 3-D view is inline
JavaScript, `epsim.viz.view3d`).

    write_plan_html(document, results, "plan_dir/plan.html")

`document` is plan.json's content (`epsim.optimise.sheet.plan_document`): every table of the page
is drawn from it, cell for cell (`cell_text`), so the page and plan.json cannot disagree.
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from pathlib import Path

import numpy as np

from epsim.io.atomic import atomic_output, check_writable
from epsim.io.results import Results
from epsim.viz.histogram import histogram
from epsim.viz.slice import render_slice
from epsim.viz.view3d import VIEW_HTML, VIEW_JS, view_data

STYLE = """body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;color:#111}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:right;white-space:nowrap}
th{background:#eef}td:first-child,th:first-child{text-align:left}
.warn{color:#a00;font-weight:bold}.note{color:#555;font-size:.85em}
figure{display:inline-block;margin:.4em;vertical-align:top}figure img{max-width:560px}
figcaption{font-size:.85em;color:#333}canvas{border:1px solid #ccc}
pre{white-space:pre-wrap;font-size:.8em;background:#f6f6f6;padding:.5em}"""


def cell_text(value, decimals) -> str:
    """How a plan.json value reads in the page: numbers with the column's decimals, vectors
    joined by ", ", missing values as "-"."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(cell_text(v, decimals) for v in value)
    if isinstance(value, str) or decimals is None:
        return str(value)
    return f"{value:.{decimals}f}" if decimals else str(int(value))


def header_text(column: dict) -> str:
    """A column heading: its label and, in brackets, its unit."""
    return column["label"] + (f" ({column['unit']})" if column["unit"] else "")


def table_html(key: str, table: dict) -> str:
    """One plan.json table as an HTML table with id `table-<key>`."""
    head = "".join(f'<th data-key="{html.escape(c["key"])}">{html.escape(header_text(c))}</th>'
                   for c in table["columns"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(row[c['key']], c['decimals']))}</td>"
                         for c in table["columns"]) + "</tr>"
        for row in table["rows"])
    if not table["rows"]:
        body = f'<tr><td colspan="{len(table["columns"])}">none</td></tr>'
    return (f'<table id="table-{html.escape(key)}" title="{html.escape(table["title"])}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _png(draw) -> str:
    """A picture drawn by `draw(path)` as a data URI."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "picture.png"
        draw(path)
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def pictures(results: Results) -> list[tuple[str, str]]:
    """(caption, data URI): |E| in each firing pair's plane, the maximum over pairs in three
    orthogonal planes through the target centre, and the field-volume histogram."""
    out = []
    for k in range(len(results.anode)):
        out.append((f"pair {k + 1} ({results.anode[k]} -> {results.cathode[k]}): |E| of this "
                    "pair in the plane of its needles",
                    _png(lambda p, k=k: render_slice(results, p, plane="pair", pair=k, dpi=90))))
    for axis in "xyz":
        out.append((f"max |E| over pairs, plane {axis} through the target centre",
                    _png(lambda p, a=axis: render_slice(results, p, plane=a, dpi=90))))
    out.append(("field-volume histogram of every region",
                _png(lambda p: histogram(results, p, dpi=80))))
    return out


def _warnings(document: dict) -> list[str]:
    tables, lines = document["tables"], []
    for row in tables["coverage"]["rows"]:
        if row["goal"] is not None and row["coverage"] is not None \
                and row["coverage"] < row["goal"]:
            lines.append(f"{row['region']}: coverage {row['coverage']} % is below the goal "
                         f"{row['goal']} %")
    lines += [f"{r['structure']}: largest field {r['largest']} V/cm is above its E_irr "
              f"{r['e_irr']} V/cm" for r in tables["spared"]["rows"] if r["ratio"] >= 1]
    lines += [f"pair {r['pair']}: {r['current']} A is above the device limit {r['limit']} A"
              for r in tables["pulses"]["rows"] if r["limit"] and r["current"] > r["limit"]]
    return lines


def _needles_for_view(document: dict) -> list[dict]:
    """The needle table back in metres, for the 3-D view."""
    out = []
    for row in document["tables"]["needles"]["rows"]:
        tip = np.asarray(row["tip"]) / 1e3
        skin = None if row["skin"] is None else np.asarray(row["skin"]) / 1e3
        cos = np.cos(np.radians([row["angle_x"], row["angle_y"], row["angle_z"]]))
        out.append({"name": row["name"], "tip": tip, "skin": skin,
                    "direction": cos / np.linalg.norm(cos),
                    "active_length": row["active_length"] / 1e3})
    return out


def _provenance_html(document: dict) -> str:
    p = document["provenance"]
    rows = [("epsim version", p["epsim_version"]), ("config SHA-256", p["config_sha256"] or "-"),
            ("plan (resolved) SHA-256", p["plan_sha256"])]
    text = "<table id='provenance'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    for name, groups in p["materials"].items():
        for group, source in groups.items():
            text += (f"<tr><th>material {html.escape(name)}, {html.escape(group)}</th>"
                     f"<td style='text-align:left'>{html.escape(source)}</td></tr>")
    for name, values in p["electrode_models"].items():
        for key, v in values.items():
            flag = "verified" if v["verified"] else "NOT verified"
            text += (f"<tr><th>electrode {html.escape(name)}, {html.escape(key)} "
                     f"{html.escape(str(v['value']))}</th><td style='text-align:left'>"
                     f"{html.escape(v['source'])} ({flag})</td></tr>")
    return text + "</table>"


def page_html(document: dict, figures: list[tuple[str, str]], view: dict) -> str:
    """The whole page as text."""
    s = document["summary"]
    title = html.escape(document["name"])
    warnings = _warnings(document)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<link rel='icon' href='data:,'>",  # no favicon request: the page needs nothing else
        f"<title>Plan sheet: {title}</title><style>{STYLE}</style></head><body>",
        f"<h1>Plan sheet: {title}</h1>",
        f"<p id='summary'>needles: {s['needles']}, firing pairs: {s['pairs']}, {s['pulses_total']} "
        f"pulses of {s['pulse_width_us']} us in all; largest predicted current "
        f"{s['max_current_A']} A (device limit {s['device_max_current_A'] or '-'} A). "
        f"Therapy: {html.escape(document['therapy'])}. Coordinates in mm, "
        f"{html.escape(document['frame'])}. Every number is from the plan on a fresh mesh "
        f"({s['cells']} cells), full nonlinear model.</p>",
    ]
    parts += [f"<p class='warn'>{html.escape(w)}</p>" for w in warnings]
    headings = {"needles": "Needles", "pulses": "Pulse sequence (fire in this order)",
                "coverage": "Target coverage", "spared": "Spared structures"}
    for key, heading in headings.items():
        parts.append(f"<h2>{heading}</h2>{table_html(key, document['tables'][key])}")
    data = json.dumps(view, separators=(",", ":")).replace("</", "<\\/")
    parts.append("<h2>3-D view</h2>" + VIEW_HTML +
                 f"<script type='application/json' id='view3d-data'>{data}</script>" + VIEW_JS)
    parts.append("<h2>Slices and field-volume histogram</h2>")
    parts += [f"<figure><img alt='{html.escape(c)}' src='{uri}'><figcaption>{html.escape(c)}"
              "</figcaption></figure>" for c, uri in figures]
    parts.append("<h2>Provenance</h2>" + _provenance_html(document))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_plan_html(document: dict, results: Results, path, *, overwrite: bool = False,
                    render: bool = True) -> Path:
    """Write the plan sheet page for plan.json's `document` and the verified `results`.

    Args:
        render: draw the slices and the histogram (False: tables and the 3-D view only).
    Returns:
        The absolute path written.
    Raises:
        OutputExistsError: the file exists and `overwrite` is false (or it is not epsim's).
    """
    check_writable(path, overwrite=overwrite)
    coverage = document["tables"]["coverage"]["rows"]
    threshold = coverage[0]["threshold"] * 100.0 if coverage else None
    view = view_data(results, _needles_for_view(document), threshold)
    text = page_html(document, pictures(results) if render else [], view)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path).resolve()


__all__ = ["cell_text", "header_text", "page_html", "pictures", "table_html",
           "write_plan_html"]
