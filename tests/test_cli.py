"""The command line run in-process: a small run end to end, and bad input with exit codes."""

import os

import h5py
import numpy as np
import pytest
import yaml

from epsim.cli import main
from tests.helpers.cli_configs import write_config


@pytest.fixture(autouse=True)
def mesh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    config = write_config(tmp)
    code = main(["run", str(config), "--no-cache"])
    return code, tmp


def test_run_writes_results(small_run):
    code, tmp = small_run
    assert code == 0
    assert (tmp / "out" / "small.h5").is_file()
    assert (tmp / "out" / "small.vtu").is_file()


def test_reported_coverage_matches_independent_recomputation(small_run):
    _, tmp = small_run
    with h5py.File(tmp / "out" / "small.h5") as f:
        points, cells = f["mesh/points"][()], f["mesh/cells"][()]
        region = f["mesh/cell_region"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["mesh/cell_region"].attrs["names"]]
        e_max = f["fields/e_max"][()]
        config = yaml.safe_load(f.attrs["config"])
        reported = float(f["metrics/tumour/fraction_rev"][()])
    x = points[cells]
    volume = np.abs(np.einsum("ij,ij->i", x[:, 1] - x[:, 0], np.cross(x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]))) / 6
    target = region == names.index("tumour")
    e_rev = float(config["materials"]["tumour"]["e_rev"])
    expected = volume[target & (e_max >= e_rev)].sum() / volume[target].sum()
    assert reported == pytest.approx(expected, rel=1e-12)
    assert 0 < expected <= 1


def test_refuses_to_overwrite(small_run, capsys):
    _, tmp = small_run
    h5 = tmp / "out" / "small.h5"
    before = h5.read_bytes()
    assert main(["run", str(tmp / "case.yaml")]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert h5.read_bytes() == before


def test_check_prints_resolved_config(tmp_path, capsys):
    assert main(["check", str(write_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "tumour" in out and "sigma0" in out


def test_info(capsys):
    assert main(["info"]) == 0
    assert "float64" in capsys.readouterr().out


def _set(path, value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


BAD = {
    "unknown key": (_set(["scene", "mesh", "sise"], 3), "did you mean 'size'"),
    "missing unit": (lambda d: d.pop("units"), "unit"),
    "wrong dimension": (_set(["electrodes", 0, "diameter"], "1.2 V"), "diameter"),
    "electrode outside": (_set(["electrodes", 0, "tip"], [-4, 0, -40]), "outside"),
    "overlapping": (_set(["electrodes", 1, "tip"], [-3.5, 0, -6]), "overlap"),
    "voltage over limit": (_set(["device", "max_voltage"], 500), "max_voltage"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_exit_2_and_no_results(tmp_path, capsys, case):
    edit, words = BAD[case]
    if case == "overlapping":
        edit = lambda d: (d["electrodes"][1].update(tip=[-3.5, 0, -6], entry=[-3.5, 0, 20]))  # noqa: E731
    config = write_config(tmp_path, edit=edit)
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one message
    assert err.startswith("epsim: error:") and words in err
    assert not (tmp_path / "out").exists()


def test_unreadable_mesh_file(tmp_path, capsys):
    (tmp_path / "broken.msh").write_text("this is not a mesh")
    config = write_config(tmp_path, edit=_set(["scene", "mesh"], {"file": "broken.msh", "length_unit": "mm"}))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "broken.msh" in err
    assert not (tmp_path / "out").exists()


def test_mesh_region_without_material(tmp_path, capsys):
    from epsim.mesh import read_mesh, write_mesh

    assert main(["mesh", str(write_config(tmp_path)), "-o", str(tmp_path / "scene.vtu")]) == 0
    mesh = read_mesh(tmp_path / "scene.vtu", length_unit="m")
    renamed = mesh.region_names[:-1] + ("mystery",)
    from epsim.mesh import make_mesh

    write_mesh(tmp_path / "renamed.vtu", make_mesh(mesh.points, mesh.cells, mesh.cell_region, renamed, mesh.facets))
    config = write_config(tmp_path, edit=_set(["scene", "mesh"], {"file": "renamed.vtu", "length_unit": "m"}))
    assert main(["run", str(config)]) == 2
    assert "mystery" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    # mapping the region to a material makes the same mesh run
    mapped = write_config(
        tmp_path, name="mapped.yaml",
        edit=_set(["scene", "mesh"], {"file": "renamed.vtu", "length_unit": "m", "regions": {"mystery": "tumour"}}),
    )
    assert main(["run", str(mapped), "--no-paraview"]) == 0
    assert (tmp_path / "out" / "small.h5").is_file()


def test_compiled_programs_cached_under_epsim_cache(tmp_path, monkeypatch):
    """The CLI keeps compiled programs in $EPSIM_CACHE/xla (and tells sweep workers through the
    environment), unless --no-cache or the user's own JAX_COMPILATION_CACHE_DIR."""
    import jax

    from epsim.jax_setup import JAX_DEFAULT_MIN_COMPILE_S, XLA_CACHE_MIN_COMPILE_S, configure_jax

    before = jax.config.jax_compilation_cache_dir
    threshold = jax.config.jax_persistent_cache_min_compile_time_secs
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", JAX_DEFAULT_MIN_COMPILE_S)
        configure_jax(use_cache=False)
        assert jax.config.jax_compilation_cache_dir is None
        configure_jax(use_cache=True)
        expected = str(tmp_path / "cache" / "xla")
        assert jax.config.jax_compilation_cache_dir == expected
        assert os.environ["JAX_COMPILATION_CACHE_DIR"] == expected
        # short compilations are kept too (epsim.solve.compile), unless the user chose otherwise
        assert jax.config.jax_persistent_cache_min_compile_time_secs == XLA_CACHE_MIN_COMPILE_S
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)
        jax.config.update("jax_compilation_cache_dir", "/elsewhere")
        configure_jax(use_cache=True)  # a directory chosen by the user stays
        assert jax.config.jax_compilation_cache_dir == "/elsewhere"
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 2.0
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", threshold)


def test_a_bug_is_one_line_not_a_traceback(monkeypatch, capsys):
    from epsim import cli

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_info", broken)
    monkeypatch.delenv("EPSIM_DEBUG", raising=False)
    assert cli.main(["info"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError" in err
