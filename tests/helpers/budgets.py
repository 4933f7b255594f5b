"""Config edits that make oversized work out of the small CLI config (tests.helpers.cli_configs):
many needles, many pairs, a long row of needles, for the budget tests and the catalogue."""

from __future__ import annotations

import math


def needle_grid(n: int, pairs=None):
    """An edit: n needles 13 mm apart or more in a 200 x 200 x 60 mm box, firing `pairs` (a
    generator name such as "all_pairs", or the first two needles at 1000 V)."""
    def edit(d):
        side = math.ceil(math.sqrt(n))
        d["scene"]["domain"]["size"] = [200, 200, 60]
        d["electrodes"] = [
            {"name": f"n{i}", "type": "needle", "diameter": 1.0, "active_length": 15,
             "tip": [-90 + 180 * (i % side) / side, -90 + 180 * (i // side) / side, -10],
             "entry": [-90 + 180 * (i % side) / side, -90 + 180 * (i // side) / side, 30]}
            for i in range(n)]
        d["protocol"]["pairs"] = pairs or [{"anode": "n0", "cathode": "n1", "voltage": 1000}]
        d["protocol"]["voltage_to_distance"] = 1000
        d["device"] = {"max_voltage": 1e6}
    return edit


def all_pairs_of_200(d) -> None:
    """200 needles firing every pair (19,900 pairs) on a coarse mesh: the pairs dominate."""
    needle_grid(200, "all_pairs")(d)
    d["scene"]["mesh"].update(size=20, target_size=5, electrode_size=3)


def needle_row(count: int):
    """An edit: a `needle_row` of `count` needles 0.9 mm apart in a box long enough for them,
    one pair firing."""
    def edit(d):
        d["scene"]["domain"]["size"] = [count * 0.9 + 20, 30, 24]
        d["electrodes"] = [{"name": "r", "type": "needle_row", "tip": [-count * 0.45, 0, -6],
                            "direction": [1, 0, 0], "axis": [0, 0, 1], "count": count,
                            "spacing": 0.9, "diameter": 0.5, "active_length": 7}]
        d["protocol"]["pairs"] = [{"anode": "r_0", "cathode": "r_1", "voltage": 500}]
    return edit


def mesh_sizes(**values):
    """An edit: scene.mesh sizes (mm)."""
    return lambda d: d["scene"]["mesh"].update(values)
