"""Bad sweeps are reported before any work starts: exit 2, one line naming the point and the
key, nothing written (no sweep folder, no mesh)."""

from __future__ import annotations

import pytest

from epsim.cli import main

from tests.helpers.sweep_cases import coarse_case, write_case


def run_bad(tmp_path, capsys, monkeypatch, args, data=None):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EPSIM_CACHE", str(cache))
    config = write_case(tmp_path, data)
    out = tmp_path / "sweep"
    code = main(["sweep", str(config), "-o", str(out), "--workers", "0", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and err.startswith("epsim: error:"), err
    assert not out.exists() and not cache.exists()  # nothing meshed, nothing written
    return err


def test_field_that_does_not_exist(tmp_path, capsys, monkeypatch):
    err = run_bad(tmp_path, capsys, monkeypatch, ["--axis", "materials.tumour.sigma_0=[0.1, 0.2]"])
    assert "materials.tumour.sigma_0" in err and "did you mean 'sigma0'" in err
    assert "sweep point 0" in err


def test_value_that_fails_validation_in_one_point(tmp_path, capsys, monkeypatch):
    err = run_bad(tmp_path, capsys, monkeypatch,
                  ["--axis", "protocol.pairs[0].voltage=[600, 700, 800, -5]"])
    # 4 voltages x 2 samples: the last voltage is negative, points 6 and 7 fail; 6 is named
    assert "sweep point 6" in err and "protocol.pairs[0].voltage" in err and "> 0" in err
    assert "2 of 8 points fail" in err


def test_bad_axis_in_the_file(tmp_path, capsys, monkeypatch):
    data = coarse_case()
    data["sweep"]["axes"]["materials.tumour.e_rev"] = {"kind": "normal", "mean": 400, "sd": 40}
    err = run_bad(tmp_path, capsys, monkeypatch, [], data)
    assert "sweep.axes.materials.tumour.e_rev" in err and "did you mean 'std'" in err


def test_sample_outside_the_valid_range(tmp_path, capsys, monkeypatch):
    # sigma1 drawn below sigma0 for some samples: the normal cross-check names the point
    err = run_bad(tmp_path, capsys, monkeypatch,
                  ["--axis", "materials.tumour.sigma1=uniform(0.05, 0.3)", "--samples", "8"])
    assert "sweep point" in err and "sigma1" in err and "below sigma0" in err


@pytest.mark.parametrize("args, words", [
    (["--axis", "voltage"], "PATH=SPEC"),
    (["--chunk-size", "0"], "chunk_size"),
])
def test_bad_options(tmp_path, capsys, monkeypatch, args, words):
    assert words in run_bad(tmp_path, capsys, monkeypatch, args)
