"""Issue 4 end to end: outcomes in every run, heating when asked, budget and bad parameters."""

import h5py
import numpy as np
import pytest

from epsim.cli import main
from tests.helpers.cli_configs import write_config


def heated(data, budget="10 min"):
    data["protocol"]["pulses"] = {"count": 4, "width": 100, "rate": "1 Hz"}
    data["heating"] = {"substeps": 2, "pause_steps": 2, "budget": budget}


@pytest.fixture(autouse=True)
def mesh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))


def test_heated_run_reports_temperature_and_pulse_currents(tmp_path, capsys):
    config = write_config(tmp_path, edit=heated)
    assert main(["run", str(config), "--no-paraview"]) == 0
    out = capsys.readouterr().out
    assert "T max degC" in out and "last pulse A" in out  # the config's units (degC by default)
    with h5py.File(tmp_path / "out" / "small.h5") as f:
        t_max = f["fields/temperature_max"][()]
        pulses = f["pairs/pulse_current"][()]
        assert f["fields/temperature_max"].attrs["units"] == "K"
        assert f["pairs/pulse_current"].attrs["units"] == "A"
        survival = f["fields/survival"][()]
        perm = f["fields/permeabilisation"][()]
        tumour_t = float(f["metrics/tumour/temperature_max"][()])
    assert pulses.shape == (1, 4)
    assert np.all(np.diff(pulses[0]) > 0)  # tissue warms, current rises pulse after pulse
    assert t_max.min() >= 310.15 - 1e-9 and t_max.max() > 310.2
    assert 310.15 - 1e-9 <= tumour_t <= t_max.max()
    assert 0 <= survival.min() and survival.max() <= 1 and 0 <= perm.min() and perm.max() <= 1


def test_unheated_run_has_survival_but_no_temperature(tmp_path):
    config = write_config(tmp_path)
    assert main(["run", str(config), "--no-paraview"]) == 0
    with h5py.File(tmp_path / "out" / "small.h5") as f:
        assert "survival" in f["fields"] and "permeabilisation" in f["fields"]
        assert "temperature_max" not in f["fields"]
        assert "killed_fraction" in f["metrics/tumour"]


def test_train_over_budget_is_refused(tmp_path, capsys):
    config = write_config(tmp_path, edit=lambda d: heated(d, budget="0.01 s"))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "budget" in err and "pulses" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("override", [{"k": -0.5}, {"rho": 0}, {"c": -3600}])
def test_non_physical_thermal_parameters(tmp_path, capsys, override):
    def edit(data):
        heated(data)
        data["materials"] = {"liver": {key: f"{value} {unit}" for key, value in override.items()
                                       for unit in [{"k": "W/m/K", "rho": "kg/m^3", "c": "J/kg/K"}[key]]}}
    assert main(["run", str(write_config(tmp_path, edit=edit))]) == 2
    assert "liver" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
