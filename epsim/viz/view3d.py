"""A small interactive 3-D view for a self-contained HTML page: the surfaces of the target and
spared structures, of the volume the field covers, and the needles, drawn on a 2-D canvas with
plain JavaScript (no library: plotly.js alone would add about 4.6 MB to every plan sheet).

    data = view_data(results, needles, threshold)   # JSON-able, coordinates in 0.1 mm units
    html = VIEW_HTML + f'<script type="application/json" id="view3d-data">...</script>' + VIEW_JS

Drag rotates, the wheel zooms, a double click resets; each surface can be switched off.
Triangles are sorted back to front (painter's algorithm) and shaded by the angle of their
normal to the viewer, so the picture is a sketch, not a rendering.
"""

from __future__ import annotations

import numpy as np

from epsim.io.results import Results
from epsim.viz.common import E_REV_COLOUR, ELECTRODE_COLOUR, region_colours, region_roles

MAX_TRIANGLES = 20000  # per surface: a larger one is thinned evenly (the page stays small)
UNIT = 1e-4  # m per stored coordinate unit (0.1 mm)


def boundary_faces(cells: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(m, 3) node triples of the faces of the masked cells (n, 4) that no other masked cell
    shares: the surface of the set."""
    chosen = np.asarray(cells)[mask]
    faces = np.concatenate([chosen[:, [1, 2, 3]], chosen[:, [0, 3, 2]], chosen[:, [0, 1, 3]],
                            chosen[:, [0, 2, 1]]])
    _, first, counts = np.unique(np.sort(faces, axis=1), axis=0, return_index=True,
                                 return_counts=True)
    return faces[np.sort(first[counts == 1])]


def _surface(name: str, colour: str, opacity: float, points: np.ndarray,
             faces: np.ndarray) -> dict | None:
    """A surface as compact lists: vertices in 0.1 mm integer units, triangles as indices."""
    if len(faces) == 0:
        return None
    if len(faces) > MAX_TRIANGLES:
        faces = faces[np.linspace(0, len(faces) - 1, MAX_TRIANGLES).astype(np.int64)]
    used, index = np.unique(faces, return_inverse=True)
    vertices = np.rint(np.asarray(points)[used] / UNIT).astype(np.int64)
    return {"name": name, "colour": colour, "opacity": opacity,
            "vertices": vertices.ravel().tolist(), "triangles": index.ravel().tolist()}


def view_data(results: Results, needles: list[dict], threshold: float | None) -> dict:
    """What the 3-D view draws.

    Args:
        results: the verified run (SI).
        needles: {"name", "skin" (3,) or None, "tip" (3,), "conducting" (from, to) or None,
            "direction" (3,) unit}, lengths in m: drawn from the skin (or the conducting part's
            upper end) to the tip, the conducting part thicker.
        threshold: V/m; the surface of the cells whose field reaches it is drawn (None: not).
    """
    points, cells = np.asarray(results.points), np.asarray(results.cells)
    regions = np.asarray(results.cell_region)
    roles, colours = region_roles(results), region_colours(results)
    surfaces = []
    for k, name in enumerate(results.region_names):
        role = roles[name]
        if role == "tissue":
            continue
        surfaces.append(_surface(f"{name} ({role})", colours[name],
                                 0.45 if role == "target" else 0.7, points,
                                 boundary_faces(cells, regions == k)))
    if threshold is not None:
        covered = np.asarray(results.e_max) >= threshold
        surfaces.append(_surface(f"field >= {threshold / 100:.0f} V/cm", E_REV_COLOUR, 0.22,
                                 points, boundary_faces(cells, covered)))
    lines = []
    for n in needles:
        tip, down = np.asarray(n["tip"]), np.asarray(n["direction"])
        top = n["skin"] if n["skin"] is not None else tip - down * n["active_length"] * 2
        lower = tip - down * n["active_length"]
        lines.append({"name": n["name"], "from": np.rint(np.asarray(top) / UNIT).tolist(),
                      "split": np.rint(lower / UNIT).tolist(),
                      "to": np.rint(tip / UNIT).tolist()})
    return {"unit_mm": UNIT * 1e3, "surfaces": [s for s in surfaces if s is not None],
            "needles": lines, "electrode_colour": ELECTRODE_COLOUR}


VIEW_HTML = """<div class="view3d"><canvas id="view3d" width="900" height="620"></canvas>
<div id="view3d-layers"></div>
<p class="note">Drag to turn, wheel to zoom, double click to reset. Needles: thin grey from the
skin, thick dark where they conduct. Axes: x red, y green, z blue.</p></div>"""

VIEW_JS = r"""<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("view3d-data").textContent);
  var canvas = document.getElementById("view3d"), ctx = canvas.getContext("2d");
  var shown = data.surfaces.map(function () { return true; });
  var lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  function grow(p) {
    for (var i = 0; i < 3; i++) { lo[i] = Math.min(lo[i], p[i]); hi[i] = Math.max(hi[i], p[i]); }
  }
  data.surfaces.forEach(function (s) {
    for (var i = 0; i < s.vertices.length; i += 3) grow(s.vertices.slice(i, i + 3));
  });
  data.needles.forEach(function (n) { grow(n.from); grow(n.to); });
  var centre = [0, 1, 2].map(function (i) { return 0.5 * (lo[i] + hi[i]); });
  var radius = Math.max(1, 0.5 * Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]));
  var view = {yaw: -0.6, pitch: 0.35, zoom: 1};
  function project(p) {  // z up; yaw about z, pitch about the screen's x axis
    var x = p[0] - centre[0], y = p[1] - centre[1], z = p[2] - centre[2];
    var cy = Math.cos(view.yaw), sy = Math.sin(view.yaw);
    var cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    var u = cy * x - sy * y, w = sy * x + cy * y;
    var s = view.zoom * 0.45 * Math.min(canvas.width, canvas.height) / radius;
    return [canvas.width / 2 + s * u, canvas.height / 2 - s * (cp * z - sp * w),
            s * (cp * w + sp * z)];
  }
  function shade(hex, f, alpha) {
    var c = parseInt(hex.slice(1), 16);
    var r = Math.round(((c >> 16) & 255) * f), g = Math.round(((c >> 8) & 255) * f);
    var b = Math.round((c & 255) * f);
    return "rgba(" + r + "," + g + "," + b + "," + alpha + ")";
  }
  function draw() {
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    var items = [];
    data.surfaces.forEach(function (s, k) {
      if (!shown[k]) return;
      var v = s.vertices, q = [];
      for (var i = 0; i < v.length; i += 3) q.push(project([v[i], v[i + 1], v[i + 2]]));
      var t = s.triangles;
      for (var j = 0; j < t.length; j += 3) {
        var a = q[t[j]], b = q[t[j + 1]], c = q[t[j + 2]];
        var nz = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        var area = Math.abs(nz) + 1e-9;
        var e1 = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        var e2 = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        var n = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], nz];
        var f = 0.45 + 0.55 * area / (Math.hypot(n[0], n[1], n[2]) + 1e-9);
        items.push({d: (a[2] + b[2] + c[2]) / 3, tri: [a, b, c],
                    style: shade(s.colour, f, s.opacity)});
      }
    });
    data.needles.forEach(function (n) {
      var parts = [[n.from, n.split, 2, "#9a9a9a"], [n.split, n.to, 5, "#333333"]];
      parts.forEach(function (part) {
        for (var i = 0; i < 12; i++) {
          var at = function (t) {
            return [0, 1, 2].map(function (k) {
              return part[0][k] + (part[1][k] - part[0][k]) * t;
            });
          };
          var p = at(i / 12), r = at((i + 1) / 12);
          var a = project(p), b = project(r);
          items.push({d: 0.5 * (a[2] + b[2]), line: [a, b], width: part[2], style: part[3]});
        }
      });
    });
    items.sort(function (x, y) { return y.d - x.d; });
    items.forEach(function (it) {
      ctx.beginPath();
      if (it.tri) {
        ctx.moveTo(it.tri[0][0], it.tri[0][1]); ctx.lineTo(it.tri[1][0], it.tri[1][1]);
        ctx.lineTo(it.tri[2][0], it.tri[2][1]); ctx.closePath();
        ctx.fillStyle = it.style; ctx.fill();
      } else {
        ctx.moveTo(it.line[0][0], it.line[0][1]); ctx.lineTo(it.line[1][0], it.line[1][1]);
        ctx.strokeStyle = it.style; ctx.lineWidth = it.width; ctx.lineCap = "round"; ctx.stroke();
      }
    });
    ctx.font = "12px sans-serif"; ctx.fillStyle = "#000000";
    data.needles.forEach(function (n) {
      var a = project(n.from); ctx.fillText(n.name, a[0] + 4, a[1] - 4);
    });
    var origin = [60, canvas.height - 60];
    [["x", "#d62728"], ["y", "#2ca02c"], ["z", "#1f77b4"]].forEach(function (axis, k) {
      var e = centre.slice(); e[k] += radius * 0.25;
      var a = project(centre), b = project(e);
      var dx = b[0] - a[0], dy = b[1] - a[1], l = Math.hypot(dx, dy) + 1e-9;
      ctx.beginPath(); ctx.moveTo(origin[0], origin[1]);
      var k40 = 40 * Math.min(1, l / 40) / l;
      ctx.lineTo(origin[0] + k40 * dx, origin[1] + k40 * dy);
      ctx.strokeStyle = axis[1]; ctx.lineWidth = 2; ctx.stroke();
      ctx.fillStyle = axis[1];
      ctx.fillText(axis[0], origin[0] + 46 * dx / l, origin[1] + 46 * dy / l);
    });
  }
  var layers = document.getElementById("view3d-layers");
  data.surfaces.forEach(function (s, k) {
    var label = document.createElement("label"), box = document.createElement("input");
    box.type = "checkbox"; box.checked = true;
    box.addEventListener("change", function () { shown[k] = box.checked; draw(); });
    label.appendChild(box); label.appendChild(document.createTextNode(" " + s.name + "  "));
    layers.appendChild(label);
  });
  var drag = null;
  canvas.addEventListener("mousedown", function (e) { drag = [e.clientX, e.clientY]; });
  window.addEventListener("mouseup", function () { drag = null; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    view.yaw += 0.01 * (e.clientX - drag[0]);
    view.pitch = Math.max(-1.55, Math.min(1.55, view.pitch + 0.01 * (e.clientY - drag[1])));
    drag = [e.clientX, e.clientY]; draw();
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault(); view.zoom *= Math.exp(-0.001 * e.deltaY); draw();
  }, {passive: false});
  canvas.addEventListener("dblclick", function () {
    view = {yaw: -0.6, pitch: 0.35, zoom: 1}; draw();
  });
  canvas.setAttribute("data-drawn", String(data.surfaces.length + data.needles.length));
  draw();
})();
</script>"""

__all__ = ["MAX_TRIANGLES", "VIEW_HTML", "VIEW_JS", "boundary_faces", "view_data"]
