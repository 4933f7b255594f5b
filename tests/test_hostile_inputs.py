"""The hostile-input catalogue: inputs a colleague, a cluster job or a download might hand epsim.

Every case runs the command line in-process and must end with its exit code, one line on stderr
(under 300 characters, `epsim: ...`, no traceback), nothing left behind in its folder (no file,
no folder, no mesh cache), and, where the guard belongs before meshing or solving (`early`),
neither gmsh, nor the mesh cache, nor the solver reached: tripwires on their entry points fail
the test if they are called.

Add a case: a row in CASES, `Case(name, make, code, words)`, where `make(folder)` writes what
the case needs into `folder` and returns the command line's arguments, and `words` is a fragment
the message must contain.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable, NamedTuple

import h5py
import numpy as np
import pytest
import yaml

from epsim.cli import main
from epsim.io import write_results
from epsim.mesh import make_mesh, write_mesh
from epsim.mesh.structured import structured_box_mesh
from tests.helpers.budgets import all_pairs_of_200, mesh_sizes, needle_grid, needle_row
from tests.helpers.cli_configs import SMALL
from tests.helpers.plans import tiny_plan_config
from tests.helpers.sweep_cases import coarse_case, write_case
from tests.helpers.synthetic_results import make_results

MAX_LINE = 300


class Case(NamedTuple):
    name: str
    make: Callable[[Path], list[str]]  # writes the case's files, returns the arguments
    code: int
    words: str  # a fragment of the one-line message
    early: bool = True  # refused before gmsh, the mesh cache and the solver


class Tripwire(BaseException):
    """Raised by the patched entry points; a BaseException, so that no handler swallows it."""


# ------------------------------------------------------------------ makers of configs and files

def small(edit=None) -> dict:
    data = yaml.safe_load(SMALL)
    if edit:
        edit(data)
    return data


def write(folder: Path, data_or_text, name: str = "case.yaml") -> Path:
    path = folder / name
    text = data_or_text if isinstance(data_or_text, str) else yaml.safe_dump(data_or_text)
    path.write_text(text)
    return path


def command(cmd: str, edit=None, *extra: str, text: str | None = None):
    """A maker for `epsim <cmd> case.yaml [extra]` with SMALL edited (or the given text)."""
    def make(folder):
        return [cmd, str(write(folder, text if text is not None else small(edit))), *extra]
    return make


def both(name: str, edit, code: int, words: str, text: str | None = None) -> list[Case]:
    """The same config refused by `check` and by `run`."""
    return [Case(f"{name} (check)", command("check", edit, text=text), code, words),
            Case(f"{name} (run)", command("run", edit, text=text), code, words)]


def replace_units(block: str) -> str:
    return SMALL.replace(
        "units: {length: mm, voltage: V, field: V/cm, conductivity: S/m, time: us}", block)


def alias_bomb(levels: int) -> str:
    lines = ["units:", "  length: mm", "  l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    lines.append(f"  voltage: [*l{levels - 1}, *l{levels - 1}]")
    return replace_units("\n".join(lines))


def set_voltage(value):
    return lambda d: d["protocol"]["pairs"][0].update(voltage=value)


def material(name: str):
    def edit(d):
        d["materials"] = {name: {"base": "liver"}}
        d["scene"]["domain"]["material"] = name
    return edit


def output_file(value: str):
    return lambda d: d["output"].update(file=value)


def raw(text: str, cmd: str = "run", name: str = "case.yaml"):
    def make(folder):
        return [cmd, str(write(folder, text, name))]
    return make


def raw_bytes(data: bytes, cmd: str = "check"):
    def make(folder):
        path = folder / "case.yaml"
        path.write_bytes(data)
        return [cmd, str(path)]
    return make


def with_file(relative: str, content: bytes | str, *extra: str, cmd: str = "run", edit=None):
    """`epsim <cmd> case.yaml extra` with a file of someone else's at `relative`."""
    def make(folder):
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
        return [cmd, str(write(folder, small(edit))), *[e.format(folder=folder) for e in extra]]
    return make


def results_file(damage=None, name: str = "run.h5"):
    """A results file (synthetic, written by epsim), damaged by `damage(path)`."""
    def make(folder):
        path = write_results(folder / name, make_results())
        if damage:
            damage(path)
        return ["render", str(path)]
    return make


def zero_bytes(start: int, stop: int):
    def damage(path):
        data = bytearray(path.read_bytes())
        data[start:stop] = bytes(stop - start)
        path.write_bytes(bytes(data))
    return damage


def replace_dataset(key: str, change):
    def damage(path):
        with h5py.File(path, "r+") as f:
            value = change(f[key][()])
            del f[key]
            f[key] = value
    return damage


def huge_declared_dataset(path):
    with h5py.File(path, "r+") as f:
        f.create_dataset("fields/bomb", shape=(2**32,), dtype="f8", chunks=(2**20,),
                         compression="gzip")


def imported_mesh(unit: str, edit=None, tags=()):
    """A 30 x 30 x 24 mm box mesh written in metres (facet tags xmin .. zmax, and `tags` as
    copies of xmin), imported with `length_unit: unit`."""
    def make(folder):
        mesh = structured_box_mesh((0.03, 0.03, 0.024), 2, material="liver")
        facets = {**mesh.facets, **{tag: mesh.facets["xmin"] for tag in tags}}
        write_mesh(folder / "box.vtu", make_mesh(mesh.points, mesh.cells, mesh.cell_region,
                                                 mesh.region_names, facets))
        def set_mesh(d):
            d["scene"]["mesh"] = {"file": "box.vtu", "length_unit": unit}
            d["scene"]["structures"] = []
            if edit:
                edit(d)
        return ["run", str(write(folder, small(set_mesh)))]
    return make


def sweep(*extra: str, files: dict | None = None, data=None):
    """`epsim sweep case.yaml -o out --workers 0 extra` with `files` already in out/."""
    def make(folder):
        config = write_case(folder, data or coarse_case())
        out = folder / "out"
        for name, content in (files or {}).items():
            out.mkdir(exist_ok=True)
            (out / name).write_text(content)
        return ["sweep", str(config), "-o", str(out), "--workers", "0", *extra]
    return make


def render_over_foreign_picture(folder):
    (folder / "run.png").write_text("my picture\n")
    return [*results_file()(folder), "--overwrite"]


def sweep_into_a_file(folder):
    (folder / "afile").write_text("x")
    return ["sweep", str(write_case(folder, coarse_case())), "-o", str(folder / "afile"),
            "--workers", "0"]


def plan_into_foreign_folder(folder):
    config = write(folder, tiny_plan_config(), "plan.yaml")
    (folder / "out").mkdir()
    (folder / "out" / "plan.yaml").write_text("my own notes\n")
    return ["optimise", str(config), "-o", str(folder / "out"), "--overwrite"]


def symlinked_output(folder):
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    (folder / "cfg").mkdir()
    (folder / "cfg" / "results").symlink_to(elsewhere)
    return ["run", str(write(folder / "cfg", small(output_file("results/run.h5"))))]


def needle_on_surface(d):  # tip on the top face (z = 12 mm), the needle pointing out
    d["electrodes"][0].update(tip=[-4, 0, 12], entry=[-4, 0, 40])


def spare_structure_through_needle(d):
    d["scene"]["structures"].append({"name": "nerve", "shape": "sphere", "center": [-4, 0, 0],
                                     "radius": 2, "material": "muscle", "role": "spare"})


# ------------------------------------------------------------------ the catalogue

CASES: list[Case] = [
    # the YAML itself
    Case("alias bomb in units (1.5 kB)", raw(alias_bomb(6)), 2, "expands to more than"),
    Case("alias bomb one level deeper", raw(alias_bomb(7)), 2, "expands to more than"),
    Case("too many aliases", raw(replace_units(
        "units:\n  length: mm\n  a: &a 1\n  b: [" + ", ".join(["*a"] * 80) + "]")), 2,
        "more than 64 aliases"),
    Case("recursive alias", raw(SMALL + "extra: &r [*r]\n"), 2, "recursive alias"),
    Case("flow nesting 5000 deep", raw(SMALL + "extra: " + "[" * 5000 + "]" * 5000 + "\n"),
         2, "nested deeper than"),
    Case("block nesting 40 deep", raw(SMALL + "extra:\n" + "".join(
        "  " * i + "k:\n" for i in range(1, 40)) + "  " * 40 + "1\n"), 2, "nested deeper than"),
    Case("file over 1 MiB", raw(SMALL + "#" + "x" * (1 << 20) + "\n"), 2, "larger than"),
    Case("2 MB of numbers", raw(SMALL + "extra: [" + "1, " * 700_000 + "1]\n", "check"), 2,
         "larger than"),
    Case("/dev/zero as the config", lambda folder: ["check", "/dev/zero"], 2,
         "not a regular file"),
    Case("a folder as the config", lambda folder: ["run", str(folder)], 2, "cannot read"),
    Case("a config that does not exist", lambda folder: ["run", str(folder / "no.yaml")], 2,
         "No such file"),
    Case("not UTF-8", raw_bytes(b"name: \xff\xfe\n"), 2, "not UTF-8"),
    Case("empty file", raw(""), 2, "expected a mapping"),
    Case("a list, not a mapping", raw("- 1\n- 2\n"), 2, "expected a mapping"),
    Case("python tag", raw(SMALL + "extra: !!python/object/apply:os.system ['true']\n"), 2,
         "only plain YAML"),
    Case("custom tag 10 kB long", raw(SMALL + "extra: !" + "t" * 10_000 + " 1\n"), 2,
         "constructor for the tag"),
    Case("duplicate key", raw(SMALL + "name: again\n"), 2, "duplicate key 'name'"),
    Case("tab characters", raw("\t\tname: x\n"), 2, "YAML error"),
    # numbers and units
    Case("400-digit integer", command("run", set_voltage(int("9" * 400))), 2, "400 digits"),
    Case("5000-digit integer", raw(SMALL.replace("voltage: 800", "voltage: " + "9" * 5000)), 2,
         "5000 digits"),
    Case("huge hexadecimal integer", raw(SMALL.replace("count: 8", "count: 0x" + "f" * 40)), 2,
         "out of range"),
    Case("float overflow 1e400", raw(SMALL.replace("voltage: 800", "voltage: 1e400")), 2,
         "finite"),
    Case("1e400 V as a string", command("run", set_voltage("1e400 V")), 2, "finite"),
    Case("NaN voltage", raw(SMALL.replace("voltage: 800", "voltage: .nan")), 2, "finite"),
    Case("minus infinity", raw(SMALL.replace("voltage: 800", "voltage: -.inf")), 2, "finite"),
    Case("3000 nested parentheses in a unit",
         command("run", set_voltage("1 " + "(" * 3000 + "V" + ")" * 3000)), 2, "longer than"),
    Case("unit nested five deep", command("run", set_voltage("1 (((((V)))))")), 2,
         "nests parentheses"),
    Case("unit of the wrong kind", command("run", set_voltage("800 mm")), 2, "wrong dimension"),
    Case("unknown unit", command("run", set_voltage("800 zorks")), 2, "unknown unit"),
    Case("100 kB string as a voltage", command("run", set_voltage("x" * 100_000)), 2,
         "cannot read"),
    Case("100 kB key", command("run", lambda d: d["protocol"].update({"k" * 100_000: 1})), 2,
         "unknown key"),
    Case("100 kB material name", command("check", material("m" * 100_000)), 2, "at most 64"),
    # names
    *both("material named ..", material(".."), 2, "cannot be a name"),
    *both("material named a/b", material("a/b"), 2, "cannot be a name"),
    Case("electrode named x/y", command("check", lambda d: (
        d["electrodes"][0].update(name="x/y"), d["protocol"]["pairs"][0].update(anode="x/y"))),
        2, "cannot be a name"),
    Case("run name with a line break", command("check", lambda d: d.update(name="a\nb")), 2,
         "line breaks"),
    # outputs named by the config
    *both("output.file absolute", output_file("/tmp/epsim-hostile.h5"), 2, "output.file"),
    *both("output.file in the home folder", output_file("~/x.h5"), 2, "output.file"),
    *both("output.file ../ escape", output_file("../x.h5"), 2, "output.file"),
    Case("output.file deep ../ escape", command("run", output_file("a/../../../x.h5")), 2,
         "leaves the config's folder"),
    Case("output.file the folder itself", command("run", output_file(".")), 2,
         "names the config's folder"),
    Case("output.file through a symbolic link", symlinked_output, 2, "leaves the config's"),
    # outputs on the command line
    Case("-o over a foreign file, --overwrite", with_file(
        "mine.h5", "my thesis\n", "-o", "{folder}/mine.h5", "--overwrite"), 2,
        "not written by epsim"),
    Case("-o over an existing file", with_file(
        "mine.h5", "my thesis\n", "-o", "{folder}/mine.h5"), 2, "pass --overwrite"),
    Case("foreign .vtu beside the results, --overwrite", with_file(
        "out/small.vtu", "my mesh\n", "--overwrite"), 2, "not written by epsim"),
    Case("foreign picture beside the results", with_file(
        "out/small_slice.png", "my picture\n", "--render", "--overwrite"), 2,
        "not written by epsim"),
    Case("-o under a file", with_file("afile", "x", "-o", "{folder}/afile/run.h5"), 2,
         "is a file, not a folder"),
    Case("-o is a folder", with_file("adir/x", "x", "-o", "{folder}/adir"), 2,
         "is a directory"),
    Case("mesh -o over a foreign file, --overwrite", with_file(
        "scene.vtu", "mine\n", "-o", "{folder}/scene.vtu", "--overwrite", cmd="mesh"), 2,
        "not written by epsim"),
    Case("mesh -o under a file", with_file(
        "afile", "x", "-o", "{folder}/afile/scene.vtu", cmd="mesh"), 2, "not a folder"),
    # results files from elsewhere
    Case("render: a block of zeroed bytes", results_file(zero_bytes(2000, 6000)), 2,
         "run.h5"),
    Case("render: all bytes zero", results_file(lambda p: p.write_bytes(bytes(8192))), 2,
         "not an HDF5 file"),
    Case("render: a text file", results_file(lambda p: p.write_text("hello\n")), 2,
         "not an HDF5 file"),
    Case("render: HDF5 of something else", results_file(
        lambda p: h5py.File(p, "w").close()), 2, "not an epsim results file"),
    Case("render: cell index 1e9", results_file(replace_dataset(
        "mesh/cells", lambda c: np.where(np.arange(c.size).reshape(c.shape) == 0, 10**9, c))),
        2, "cells index nodes"),
    Case("render: negative cell index", results_file(replace_dataset(
        "mesh/cells", lambda c: -c)), 2, "cells index nodes"),
    Case("render: NaN in a field", results_file(replace_dataset(
        "fields/e_max", lambda e: np.full_like(e, np.nan))), 2, "non-finite"),
    Case("render: fields of the wrong shape", results_file(replace_dataset(
        "fields/e_max", lambda e: e[:-1])), 2, "shape"),
    Case("render: 32 GiB declared in a small file", results_file(huge_declared_dataset), 2,
         "declare"),
    Case("render: no such file", lambda folder: ["render", str(folder / "none.h5")], 2,
         "no such results file"),
    Case("render over a foreign picture, --overwrite", render_over_foreign_picture, 2,
         "not written by epsim"),
    # geometry that cannot be meant
    *both("needle 1e-6 mm thick", lambda d: d["electrodes"][0].update(diameter="1e-6 mm"), 2,
          "electrodes[0].diameter"),
    *both("structure wholly outside", lambda d: d["scene"]["structures"][0].update(
        center=[100, 0, 0]), 2, "scene.structures[0]"),
    Case("structure beyond a corner", command("run", lambda d: d["scene"]["structures"][0]
                                              .update(center=[18, 18, 14])), 2,
         "wholly outside"),
    Case("vessel wholly outside", command("run", lambda d: d["scene"].update(vessels=[
        {"name": "v", "points": [[-50, 50, 0], [50, 50, 0]], "radius": 1}])), 2,
        "scene.vessels[0]"),
    *both("needle through a spared structure", spare_structure_through_needle, 2,
          "keep out"),
    *both("tip on the surface pointing out", needle_on_surface, 2, "points out"),
    # imported meshes
    Case("imported mesh in metres declared as mm", imported_mesh("mm"), 2,
         "scene.mesh.length_unit"),
    Case("imported mesh in metres declared as um", imported_mesh("um"), 2, "m would fit"),
    Case("electrode not a facet tag of the mesh", imported_mesh("m"), 2,
         "not a facet tag"),
    Case("needle tip outside the imported mesh", imported_mesh("m", lambda d: (
        d["scene"]["domain"].update(size=[90, 90, 90]),
        d["electrodes"][0].update(tip=[-4, 0, -30])), tags=("a", "b")), 2,
        "outside the imported mesh"),
    Case("imported mesh that is not a mesh", with_file("box.vtu", "garbage", edit=lambda d: d[
        "scene"].update(mesh={"file": "box.vtu", "length_unit": "m"})), 2, "scene.mesh.file"),
    # sweeps
    Case("sweep over a foreign summary.txt", sweep(files={"summary.txt": "mine"}), 2,
         "not written by epsim"),
    Case("sweep over a foreign sweep.h5, --overwrite", sweep(
        "--overwrite", files={"sweep.h5": "mine"}), 2, "not written by epsim"),
    Case("sweep -o is a file", sweep_into_a_file, 2, "not a folder"),
    Case("sweep --scheduler that is no address", sweep("--scheduler", "bogus address"), 2,
         "not a scheduler address"),
    Case("sweep --scheduler nobody listens on", sweep("--scheduler", "tcp://127.0.0.1:9"), 1,
         "cannot reach the Dask scheduler"),
    Case("sweep --axis alias bomb", sweep("--axis", "protocol.pairs[0].voltage=[" + ", ".join(
        ["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + ["*a"] * 70) + "]"), 2, "aliases"),
    Case("sweep --axis value out of range: the option named, not a line of the file", sweep(
        "--axis", "protocol.pairs[0].voltage=linspace(1 V, 2 V, -3)"), 2,
        "case.yaml: --axis 'protocol.pairs[0].voltage=linspace(1 V, 2 V, -3)': sweep.axes"),
    Case("sweep --axis key that does not exist", sweep(
        "--axis", "materials.tumour.sigma_0=[0.1, 0.2]"), 2, "did you mean 'sigma0'"),
    # planning
    Case("optimise over a foreign plan.yaml, --overwrite", plan_into_foreign_folder, 2,
         "not written by epsim"),
    # budgets (epsim.budget): oversized work refused with its numbers before it starts
    *both("target_size 0.01 mm", mesh_sizes(target_size=0.01), 2, "--max-cells 5,000,000"),
    *both("every mesh size 1e-6 mm", mesh_sizes(size=1e-6, target_size=1e-6,
                                                electrode_size=1e-6), 2, "over budget"),
    Case("every mesh size 1e-6 mm (mesh)", command("mesh", mesh_sizes(
        size=1e-6, target_size=1e-6, electrode_size=1e-6)), 2, "--max-cells"),
    Case("200 needles over --max-cells", command("run", needle_grid(200), "--max-cells", "1e6"),
         2, "--max-cells 1,000,000"),
    Case("200 needles firing all_pairs: 19900 pairs", command(
        "run", all_pairs_of_200, "--max-memory", "64G"), 2, "19900 pairs"),
    Case("all_pairs of 500 needles: 124750 pairs refused before they are built", command(
        "check", lambda d: (needle_row(500)(d), d["protocol"].update(pairs="all_pairs"))), 2,
        "gives 124750 pairs"),
    Case("needle_row of 2000 needles (overlaps checked in linear time)", command(
        "check", needle_row(2000), "--max-cells", "1e5"), 2, "--max-cells 100,000"),
    Case("a run over --max-time", command("run", None, "--max-time", "1s"), 2,
         "--max-time 1 s"),
    Case("sweep --samples 100000000", sweep("--samples", "100000000"), 2, "200000000 points"),
    Case("sweep over a 1e8-point linspace", sweep(
        "--axis", "protocol.pairs[0].voltage=linspace(800, 1200, 100000000)"), 2,
        "200000000 points"),
    Case("optimise with 1e8 linear steps", lambda folder: [
        "optimise", str(write(folder, tiny_plan_config())), "-o", str(folder / "plan"),
        "--linear-steps", "100000000"], 2, "--max-time"),
]

TRIPWIRES = [  # (module, attribute): meshing (gmsh or the cache), preparing and solving
    ("epsim.mesh", "build_mesh"), ("epsim.meshcache", "build_mesh"),
    ("epsim.translate", "build_mesh"), ("epsim.runner", "prepare"),
    ("epsim.runner", "simulate"), ("epsim.simulate", "prepare"),
]


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def tripwires(monkeypatch):
    import importlib

    def trip(what):
        def reached(*args, **kwargs):
            raise Tripwire(f"{what} reached: the guard should have fired before it")
        return reached

    for module, name in TRIPWIRES:
        target = importlib.import_module(module)
        assert hasattr(target, name), f"{module}.{name} is gone: update TRIPWIRES"
        monkeypatch.setattr(target, name, trip(f"{module}.{name}"))


def test_the_catalogue_is_large_and_named_uniquely():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case, tmp_path, monkeypatch, capsys, request):
    folder = tmp_path / "case"
    folder.mkdir()
    work = tmp_path / "work"  # the working directory: default outputs would land here
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    argv = case.make(folder)
    before = tree(tmp_path)
    capsys.readouterr()
    if case.early:
        request.getfixturevalue("tripwires")
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == case.code, err
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line
    assert err.startswith("epsim: ") and len(err) < MAX_LINE, err
    assert "Traceback" not in err + out
    assert case.words in err, err
    assert tree(tmp_path) == before  # nothing left: no file, no folder, no cache entry


def test_check_into_a_closed_pipe(tmp_path):
    """`epsim check CONFIG | true`: the reader is gone before the output is written."""
    import subprocess
    import sys

    config = write(tmp_path, small())
    script = textwrap.dedent(f"""
        import os, sys
        r, w = os.pipe()
        os.close(r)                       # nobody reads
        os.dup2(w, 1)
        from epsim.cli import main
        sys.exit(main(["check", {str(config)!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "EPSIM_CACHE": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
