"""Results in the user's terms: rows per named structure (two vessels of one material apart),
spared structures above E_irr flagged in every run, the summary as JSON and CSV, the config's
units in messages."""

import csv
import dataclasses
import json

import h5py
import pytest

from epsim.accuracy import corrected_currents, with_error_estimate
from epsim.cli import main
from epsim.config import dump_resolved, load_config, load_config_text
from epsim.config.display import DisplayUnits
from epsim.io import read_results
from epsim.io.results import RegionMetrics, material_metrics
from epsim.report import region_csv, summary_data, summary_text
from tests.helpers.cli_configs import SMALL, write_config
from tests.helpers.synthetic_results import make_results


def two_vessels(data):
    """The small pair with a fat layer and two blood vessels: one between the needles (it
    reaches E_irr), one far away (it does not)."""
    data["scene"]["layers"] = [{"material": "fat", "thickness": 2}]
    data["scene"]["vessels"] = [
        {"name": "artery", "points": [[-15, 3, -2], [15, 3, -2]], "radius": 1.0,
         "material": "blood", "role": "spare"},
        {"name": "vein", "points": [[-15, -11, -4], [15, -11, -4]], "radius": 1.0,
         "material": "blood", "role": "spare"},
    ]
    data["scene"]["mesh"] = {"size": 6, "target_size": 2, "electrode_size": 0.8}
    data["protocol"]["pairs"][0]["voltage"] = 1200


@pytest.fixture(scope="module")
def vessel_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vessels")
    config = write_config(tmp, edit=two_vessels)
    code = main(["run", str(config), "--no-cache", "--no-paraview", "-o", str(tmp / "run.h5")])
    return code, tmp


def test_two_vessels_of_one_material_are_reported_apart(vessel_run, capsys):
    code, tmp = vessel_run
    assert code == 0
    with h5py.File(tmp / "run.h5") as f:
        region = f["mesh/cell_region"]
        names = list(region.attrs["names"])
        assert names == ["liver", "fat", "tumour", "artery", "vein"]
        assert list(region.attrs["materials"]) == ["liver", "fat", "tumour", "blood", "blood"]
        for name, role in (("artery", "spare"), ("vein", "spare"), ("tumour", "target")):
            assert f[f"metrics/{name}"].attrs["role"] == role
        assert f["metrics/artery"].attrs["material"] == f["metrics/vein"].attrs["material"]
        artery_max = float(f["metrics/artery/e_max_max"][()])
        vein_max = float(f["metrics/vein/e_max_max"][()])
        e_irr = float(f["metrics/artery/e_irr"][()])
    assert artery_max >= e_irr > vein_max  # the set-up the test relies on

    data = json.loads((tmp / "run.summary.json").read_text())
    spared = {r["name"]: r for r in data["spared"]}
    assert set(spared) == {"artery", "vein"}
    assert spared["artery"]["above_e_irr"] and not spared["vein"]["above_e_irr"]
    assert spared["artery"]["e_max_max"] == pytest.approx(artery_max / 100)  # V/cm
    assert spared["artery"]["fraction_irr"] > 0 == spared["vein"]["fraction_irr"]
    assert data["units"]["volume"] == "mm^3" and data["units"]["field"] == "V/cm"
    assert any("artery" in w for w in data["warnings"])
    assert not any("vein" in w for w in data["warnings"])

    with open(tmp / "run.regions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["liver", "fat", "tumour", "artery", "vein"]
    for row, record in zip(rows, data["regions"]):
        assert float(row["volume [mm^3]"]) == pytest.approx(record["volume"], rel=1e-11)
        assert float(row["e_max_max [V/cm]"]) == pytest.approx(record["e_max_max"], rel=1e-11)


def test_summary_flags_spared_structures(vessel_run):
    _, tmp = vessel_run
    text = summary_text(read_results(tmp / "run.h5"), load_config(tmp / "case.yaml"))
    rows = {line.split()[0]: line for line in text.splitlines()}
    assert rows["artery"].split()[1:3] == ["blood", "spare"]
    assert rows["artery"].endswith("<- reaches E_irr")
    assert not rows["vein"].endswith("<- reaches E_irr")
    assert "WARNING: spared artery (blood) reaches E_irr" in text
    assert "spared vein (blood) stays below E_irr" in text


def test_summary_text_in_the_configs_units():
    results = make_results()
    spare = dataclasses.replace(results.metrics[0], name="portal vein", material="blood",
                                role="spare", e_max_max=results.metrics[0].e_irr * 1.01)
    results = dataclasses.replace(results, metrics=results.metrics + (spare,))
    cfg = load_config_text(SMALL)
    text = summary_text(results, cfg)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("portal vein"))
    assert "blood" in row and "spare" in row and "reaches E_irr" in row
    warning = "WARNING: spared portal vein (blood) reaches E_irr"
    assert any(line.startswith(warning) for line in lines)
    assert "volume mm^3" in text and "max |E| V/cm" in text
    assert "liver" in text and "stays below" not in text.split("WARNING")[0]
    assert "8 pulse(s) per pair" in text  # what `killed` means

    other = cfg.model_copy(update={"output": cfg.output.model_copy(
        update={"units": {"length": "cm", "field": "kV/cm", "current": "mA"}})})
    data = summary_data(results, other)
    assert data["units"]["volume"] == "cm^3" and data["units"]["field"] == "kV/cm"
    tumour = next(r for r in data["regions"] if r["name"] == "tumour")
    metric = next(m for m in results.metrics if m.name == "tumour")
    assert tumour["volume"] == pytest.approx(metric.volume * 1e6)
    assert tumour["e_max_max"] == pytest.approx(metric.e_max_max / 1e5)
    assert data["pairs"][0]["current"] == pytest.approx(results.current[0] * 1e3)
    assert region_csv(data).splitlines()[0].startswith("name,material,role,volume [cm^3]")


def test_pairs_report_the_current_corrected_by_its_estimate():
    """The pair table's `fine mesh` column and the summary's current_fine_mesh: I / (1 + the
    pair's estimated error), in the report's units; absent without an estimate."""
    plain = make_results()
    results = with_error_estimate(plain)
    errors = results.pair_fields["current_error"]
    cfg = load_config_text(SMALL)
    assert corrected_currents(plain) is None and "fine mesh" not in summary_text(plain, cfg)
    other = cfg.model_copy(update={"output": cfg.output.model_copy(
        update={"units": {"current": "mA"}})})
    data = summary_data(results, other)
    for k, pair in enumerate(data["pairs"]):
        expected = results.current[k] / (1 + errors[k])
        assert pair["current_fine_mesh"] == pytest.approx(expected * 1e3, rel=1e-12)
        assert abs(pair["current_fine_mesh"]) < abs(pair["current"])
    lines = summary_text(results, other).splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("pair "))
    assert lines[head].endswith("fine mesh mA")
    row = lines[head + 1].split()
    assert float(row[-1]) == pytest.approx(data["pairs"][0]["current_fine_mesh"], abs=5e-4)


def test_config_units_are_kept_for_reports():
    cfg = load_config_text(SMALL)
    assert cfg.units["length"] == "m"  # the resolved config is SI
    assert cfg.output.units["length"] == "mm" and cfg.output.units["field"] == "V/cm"
    again = load_config_text(SMALL.replace("output: {", "output: {units: {length: cm}, "))
    assert again.output.units == {"length": "cm"}
    assert DisplayUnits({"temperature": "degC"}).value(310.15, "temperature") == pytest.approx(37)


def test_material_metrics_merge_exactly():
    a = RegionMetrics("artery", "blood", "spare", volume=1.0, e_rev=1.0, e_irr=2.0,
                      fraction_rev=0.5, fraction_irr=0.25, e_max_mean=1.0, e_max_max=3.0,
                      permeabilised_fraction=0.5, killed_fraction=0.0)
    b = dataclasses.replace(a, name="vein", volume=3.0, fraction_rev=0.1, fraction_irr=0.0,
                            e_max_mean=0.5, e_max_max=1.5)
    merged = material_metrics((a, b), "blood")
    assert merged.name == "blood" and merged.volume == 4.0 and merged.role == "spare"
    assert merged.fraction_rev == pytest.approx((0.5 + 0.3) / 4)
    assert merged.fraction_irr == pytest.approx(0.25 / 4)
    assert merged.e_max_max == 3.0 and merged.temperature_max is None
    with pytest.raises(KeyError):
        material_metrics((a, b), "bone")


def test_check_lists_spared_structures_in_the_configs_units(tmp_path):
    text = dump_resolved(load_config(write_config(tmp_path, edit=two_vessels)))
    lines = text.splitlines()
    assert "#   tumour: tumour, target" in lines
    artery = next(line for line in lines if line.startswith("#   artery:"))
    assert "blood, spare" in artery and "E_irr 450 V/cm" in artery
    assert "#   1. a -> b: 1200 V (spacing 8 mm, 1500 V/cm)" in lines
