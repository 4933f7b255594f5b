"""HDF5 results: round trip, stable paths and units, atomic and refusing writes."""

import dataclasses
import datetime
import os

import h5py
import numpy as np
import pytest

import epsim
from epsim.errors import InputError, SolverError
from epsim.io import OutputExistsError, read_results, write_results
from epsim.io import hdf5 as hdf5_module
from tests.helpers.outputs import listing

UNITS = {"m", "V", "V/m", "S/m", "A", "m^3", "K", "1"}


def assert_same(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
            assert x.dtype.kind == np.asarray(y).dtype.kind, f.name
        elif isinstance(x, dict):
            assert list(x) == list(y), f.name
            for key in x:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{f.name}[{key}]")
        else:
            assert x == y, f.name


def test_round_trip(results, tmp_path):
    path = write_results(tmp_path / "run.h5", results)
    assert path == (tmp_path / "run.h5").absolute()
    back = read_results(path)
    assert_same(results, back)
    assert back.config_yaml == results.config_yaml  # utf-8 text (µs) survives
    assert back.metrics == results.metrics


def test_stable_paths_root_attributes_and_units(results, tmp_path):
    path = write_results(tmp_path / "run.h5", results)
    n_pairs, n_nodes, n_cells = 2, len(results.points), len(results.cells)
    shapes = {
        "mesh/points": (n_nodes, 3), "mesh/cells": (n_cells, 4), "mesh/cell_region": (n_cells,),
        "fields/potential": (n_pairs, n_nodes), "fields/e_mag": (n_pairs, n_cells),
        "fields/sigma": (n_pairs, n_cells), "fields/e_max": (n_cells,),
        "fields/permeabilisation": (n_cells,), "fields/survival": (n_cells,),
        "pairs/anode": (n_pairs,), "pairs/voltage": (n_pairs,), "pairs/current": (n_pairs,),
        "pairs/converged": (n_pairs,), "pairs/linear_iterations": (n_pairs,),
        "electrodes/xmin": results.electrode_facets["xmin"].shape, "metrics/tumour/e_rev": (),
    }
    expected_units = {
        "mesh/points": "m", "fields/potential": "V", "fields/e_mag": "V/m", "fields/sigma": "S/m",
        "fields/e_max": "V/m", "pairs/voltage": "V", "pairs/current": "A",
        "metrics/liver/volume": "m^3", "metrics/tumour/fraction_rev": "1",
        "fields/survival": "1",
    }
    with h5py.File(path, "r") as f:
        for key, shape in shapes.items():
            assert f[key].shape == shape, key
        for key, units in expected_units.items():
            assert f[key].attrs["units"] == units, key
        datasets = []
        f.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset)
                     else None)
        assert len(datasets) > 20
        for dset in datasets:
            assert dset.attrs["units"] in UNITS, dset.name
        assert f["mesh/points"].dtype == np.float64
        assert list(f["mesh/cell_region"].attrs["names"]) == ["liver", "tumour"]
        assert [s.decode() for s in f["pairs/anode"][()]] == ["xmax", "xmin"]
        assert f["metrics/tumour"].attrs["role"] == "target"
        assert f.attrs["epsim_version"] == epsim.__version__
        assert f.attrs["config"] == results.config_yaml
        assert f.attrs["name"] == results.name
        created = datetime.datetime.fromisoformat(f.attrs["created"])
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 600


def test_extra_field_units(results, tmp_path):
    extra = dict(results.extra_fields, temperature_max=np.full(len(results.cells), 310.0),
                 dose=np.ones(len(results.cells)))
    path = write_results(tmp_path / "run.h5", dataclasses.replace(results, extra_fields=extra),
                         extra_units={"dose": "J/kg"})
    with h5py.File(path, "r") as f:
        assert f["fields/temperature_max"].attrs["units"] == "K"
        assert f["fields/dose"].attrs["units"] == "J/kg"
    assert set(read_results(path).extra_fields) == set(extra)


def test_refuses_to_overwrite_and_overwrites_when_asked(results, tmp_path):
    path = write_results(tmp_path / "run.h5", results)
    before = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="overwrite") as info:
        write_results(path, dataclasses.replace(results, name="other"))
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert str(path) in str(info.value)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert listing(tmp_path) == ["run.h5"]
    write_results(path, dataclasses.replace(results, name="other"), overwrite=True)
    assert read_results(path).name == "other"
    assert listing(tmp_path) == ["run.h5"]


def test_creates_parents_with_usual_permissions(results, tmp_path):
    path = write_results(tmp_path / "a" / "b" / "run.h5", results)
    assert path.is_file()
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("field", ["potential", "e_mag", "sigma", "e_max", "current", "survival"])
def test_non_finite_values_are_refused(results, tmp_path, field):
    if field in results.extra_fields:
        value = results.extra_fields[field].copy()
        value[3] = np.nan
        extra = dict(results.extra_fields, **{field: value})
        bad = dataclasses.replace(results, extra_fields=extra)
    else:
        value = getattr(results, field).copy()
        value.flat[-1] = np.inf if field == "current" else np.nan
        bad = dataclasses.replace(results, **{field: value})
    with pytest.raises(SolverError, match=field) as info:
        write_results(tmp_path / "run.h5", bad)
    assert info.value.exit_code == 3
    assert os.listdir(tmp_path) == []


def test_non_converged_pair_is_refused(results, tmp_path):
    bad = dataclasses.replace(results, converged=np.array([True, False]))
    with pytest.raises(SolverError, match=r"pair 1 \(xmin -> xmax\)"):
        write_results(tmp_path / "out" / "run.h5", bad)
    assert os.listdir(tmp_path) == []  # not even the parent directory


def test_exception_mid_write_leaves_nothing(results, tmp_path, monkeypatch):
    original = hdf5_module._write_file

    def failing(f, *args):
        original(f, *args)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hdf5_module, "_write_file", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_results(tmp_path / "run.h5", results)
    assert os.listdir(tmp_path) == []

    # An existing file survives a failed overwrite untouched.
    monkeypatch.setattr(hdf5_module, "_write_file", original)
    path = write_results(tmp_path / "run.h5", results)
    before = path.read_bytes()
    monkeypatch.setattr(hdf5_module, "_write_file", failing)
    with pytest.raises(RuntimeError):
        write_results(path, dataclasses.replace(results, name="other"), overwrite=True)
    assert path.read_bytes() == before
    assert listing(tmp_path) == ["run.h5"]


def test_bad_input_files(tmp_path, results):
    with pytest.raises(InputError, match="no such"):
        read_results(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(InputError, match="not an HDF5"):
        read_results(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=[1.0])
    with pytest.raises(InputError, match="missing"):
        read_results(tmp_path / "other.h5")


def test_names_that_cannot_be_groups(results, tmp_path):
    facets = {"a/b": results.electrode_facets["xmin"]}
    with pytest.raises(InputError, match="a/b"):
        write_results(tmp_path / "run.h5", dataclasses.replace(results, electrode_facets=facets))
    assert os.listdir(tmp_path) == []


def test_reads_format_version_1(results, tmp_path):
    """Files of version 1 (regions were materials, no `materials` attribute) still read."""
    path = write_results(tmp_path / "old.h5", results)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 1
        del f["mesh/cell_region"].attrs["materials"]
    back = read_results(path)
    assert back.region_materials == ()
    assert [back.material_of(k) for k in range(2)] == list(results.region_names)
    assert back.metrics == results.metrics


def test_regions_carry_their_materials(results, tmp_path):
    parts = dataclasses.replace(results, region_names=("background", "nodule"),
                                region_materials=("liver", "tumour"))
    with h5py.File(write_results(tmp_path / "run.h5", parts), "r") as f:
        assert f.attrs["format_version"] == 2
        region = f["mesh/cell_region"]
        assert list(region.attrs["names"]) == ["background", "nodule"]
        assert list(region.attrs["materials"]) == ["liver", "tumour"]
    with pytest.raises(ValueError, match="one material per region"):
        write_results(tmp_path / "bad.h5", dataclasses.replace(results, region_materials=("x",)))
