"""The plan sheet: plan.json's tables against hand-computed geometry and the run's own numbers,
the HTML page self-contained and holding the same tables (html.parser), and the page in a real
headless Chromium: no console errors, a 3-D view that draws, the same tables in the DOM."""

import hashlib
import html.parser
import json
import math
import re
import shutil

import numpy as np
import pytest
import yaml

from epsim.config import load_config_text
from epsim.config.schema import OptimiseBlock
from epsim.mesh.scene import Box, Needle
from epsim.optimise.insertion import insertion
from epsim.optimise.sheet import SCHEMA, margin_coverage, write_plan_sheet
from epsim.runner import run_config
from epsim.viz.common import cell_volumes
from epsim.viz.histogram import fraction_above
from tests.helpers.plans import tiny_plan_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    """One tiny run written as a plan sheet: needle a of model VGD-12 (its diameter given),
    a 1 mm margin and a 99 % goal."""
    raw = yaml.safe_load(tiny_plan_config())
    raw["electrodes"][0]["model"] = "VGD-12"
    text = yaml.safe_dump(raw, sort_keys=False)
    run = dict(raw)
    run.pop("optimise")
    cfg = load_config_text(yaml.safe_dump(run))
    results = run_config(cfg)
    block = OptimiseBlock(target_margin=1e-3, coverage_goal=0.99)
    out = tmp_path_factory.mktemp("sheet")
    paths = write_plan_sheet(out, cfg, results, block=block, raw=raw, config_text=text)
    document = json.loads((out / "plan.json").read_text())
    return {"cfg": cfg, "results": results, "out": out, "paths": paths, "doc": document,
            "text": text, "html": (out / "plan.html").read_text()}


def rows(document, key):
    return document["tables"][key]["rows"]


def test_insertion_of_a_tilted_needle_by_hand():
    """A needle at 45 degrees in the x-z plane leaves a 26 mm box through its top edge:
    depth 13 sqrt(2) mm, angles 135, 90, 135 degrees to x, y, z."""
    box = Box(center=(0.0, 0.0, 0.0), size=(0.026,) * 3, material="liver")
    needle = Needle("t", (0.0, 0.0, 0.0), (0.01, 0.0, 0.01), 5e-4, 0.01)
    n = insertion(box, needle)
    assert n.depth == pytest.approx(0.013 * math.sqrt(2))
    assert np.allclose(n.skin, [0.013, 0.0, 0.013])
    assert np.allclose(np.degrees(n.angles), [135.0, 90.0, 135.0])
    assert n.conducting == pytest.approx((0.013 * math.sqrt(2) - 0.01, 0.013 * math.sqrt(2)))


def test_needle_table_by_hand(sheet):
    """Needles a, b: tips (-+3, 0, -7) mm, going straight down from the top face z = 13 mm."""
    a, b = rows(sheet["doc"], "needles")
    assert (a["name"], a["model"], b["model"]) == ("a", "VGD-12", None)
    assert a["diameter"] == 1.0  # the config's diameter wins over the model's 1.2 mm
    assert a["skin"] == [-3.0, 0.0, 13.0] and b["skin"] == [3.0, 0.0, 13.0]
    assert a["tip"] == [-3.0, 0.0, -7.0] and a["depth"] == 20.0
    assert (a["angle_x"], a["angle_y"], a["angle_z"]) == (90.0, 90.0, 180.0)
    assert a["conducting"] == [10.0, 20.0] and a["active_length"] == 10.0


def test_pulse_coverage_and_spared_tables_are_the_runs_numbers(sheet):
    results, document = sheet["results"], sheet["doc"]
    (pulse,) = rows(document, "pulses")
    assert pulse["pair"] == "a -> b" and pulse["distance"] == 6.0 and pulse["voltage"] == 300
    assert pulse["u_over_d"] == 500 and pulse["pulses"] == 8 and pulse["limit"] == 50.0
    assert pulse["current"] == round(abs(float(results.current[0])), 2)
    target = next(m for m in results.metrics if m.role == "target")
    cover, margin = rows(document, "coverage")
    assert cover["coverage"] == round(100 * target.fraction_rev, 2) and cover["goal"] == 99.0
    assert cover["threshold"] == 400 and margin["region"] == "tumour + 1 mm margin"
    spare = next(m for m in results.metrics if m.role == "spare")
    (row,) = rows(document, "spared")
    assert row["ratio"] == round(spare.e_max_max / spare.e_irr, 3) and row["status"] == "ok"
    assert document["summary"]["pulses_total"] == 8


def test_margin_coverage_limits(sheet):
    """A margin that takes in the whole scene covers what the whole mesh covers (an independent
    volume-weighted count); no margin is the target's own coverage within a cell layer."""
    cfg, results = sheet["cfg"], sheet["results"]
    e = np.asarray(results.e_max)
    volumes = cell_volumes(np.asarray(results.points), np.asarray(results.cells))
    everything = float(fraction_above(e, volumes, [4e4])[0])
    assert margin_coverage(cfg, results, "tumour", 1.0, 4e4) == pytest.approx(everything)
    target = next(m for m in results.metrics if m.role == "target")
    assert abs(margin_coverage(cfg, results, "tumour", 0.0, 4e4) - target.fraction_rev) < 0.05


def test_plan_json_schema_and_provenance(sheet):
    document = sheet["doc"]
    assert document["schema"] == SCHEMA == "epsim.plan/1"
    assert document["provenance"]["config_sha256"] == hashlib.sha256(
        sheet["text"].encode()).hexdigest()
    assert document["provenance"]["electrode_models"]["VGD-12"]["diameter"]["verified"] is False
    assert "liver" in document["provenance"]["materials"]
    assert document["request"]["optimise"]["max_voltage"] == 900


def test_page_is_self_contained_and_small(sheet):
    page = sheet["html"]
    for attribute in re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)""", page):
        assert attribute.startswith("data:"), attribute
    assert not re.search(r"<script[^>]*\ssrc=", page) and "@import" not in page
    assert "url(" not in page.replace("data:", "")
    assert len(page.encode()) < 2_000_000  # the tiny plan's page is about 0.6 MB


class Tables(html.parser.HTMLParser):
    """Every <table id="table-KEY">: its header cells and the text of its body cells."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.cell = {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id", "").startswith("table-"):
            self.current = {"head": [], "rows": []}
            self.tables[attrs["id"][6:]] = self.current
        elif self.current is not None and tag == "tr":
            self.current["rows"].append([])
        elif self.current is not None and tag in ("th", "td"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.cell is not None:
            target = self.current["head"] if tag == "th" else self.current["rows"][-1]
            target.append(self.cell)
            self.cell = None
        elif tag == "table":
            self.current = None


def parsed(text: str, decimals):
    """A cell's text read back: '-' is None, numbers are numbers, 'a, b, c' a list."""
    if text == "-":
        return None
    if decimals is None:
        return text
    values = [float(v) if decimals else int(v) for v in text.split(", ")]
    return values if len(values) > 1 else values[0]


def assert_tables_equal(tables, document):
    assert set(tables) == set(document["tables"])
    for key, table in document["tables"].items():
        columns = table["columns"]
        heads = [c["label"] + (f" ({c['unit']})" if c["unit"] else "") for c in columns]
        assert tables[key]["head"] == heads
        body = [r for r in tables[key]["rows"] if r]
        if not table["rows"]:
            assert body == [["none"]]
            continue
        assert len(body) == len(table["rows"])
        for cells, row in zip(body, table["rows"]):
            values = [parsed(t, c["decimals"]) for t, c in zip(cells, columns)]
            expected = [row[c["key"]] for c in columns]
            assert values == expected, key


def test_html_tables_equal_plan_json(sheet):
    reader = Tables()
    reader.feed(sheet["html"])
    assert_tables_equal(reader.tables, sheet["doc"])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install "
                    "chromium); .ci/run installs it")
def test_page_in_headless_chromium(sheet, tmp_path):
    from matplotlib.image import imread
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1250, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request {r.url}"))
            page.goto((sheet["out"] / "plan.html").as_uri())
            page.wait_for_load_state("load")
            page.locator("#view3d").screenshot(path=str(tmp_path / "view3d.png"))
            dom = page.content()
            drawn = page.locator("#view3d").get_attribute("data-drawn")
        finally:
            browser.close()
    assert problems == []
    assert int(drawn) >= 3  # tumour, vessel, field surface and two needles
    pixels = imread(tmp_path / "view3d.png")[..., :3]
    assert pixels.std() > 0.05  # not blank
    assert np.mean(np.any(pixels < 0.9, axis=-1)) > 0.02  # a few per cent of it is drawn
    reader = Tables()
    reader.feed(dom)
    assert_tables_equal(reader.tables, sheet["doc"])
