"""Files that cannot be lost: the output policy of docs/design.md, section 6.

A config names outputs only in its own folder; `--overwrite` replaces only files epsim wrote;
sweeps never touch foreign files; an output folder that cannot be written is reported before any
work; a full disk or an I/O error ends in one line with exit code 1, leaving neither temporary
files nor half of a run's outputs.

The runs here solve nothing: `run_config` is replaced by a synthetic result (the policy is about
files), except where the tripwire says it must not be reached at all.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from epsim.cli import main
from epsim.io import ownership
from epsim.io.atomic import atomic_output
from epsim.sweep.executor import prepare_folder
from epsim.sweep.store import write_chunk
from tests.helpers.cli_configs import SMALL
from tests.helpers.outputs import listing
from tests.helpers.synthetic_results import make_results


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A home and a cache of the test's own: a regression must not write into the real ones."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EPSIM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake_solve(monkeypatch):
    """run_config returns a synthetic result at once; counts its calls."""
    import epsim.runner

    calls = []

    def run_config(cfg, **kwargs):
        calls.append(cfg)
        return make_results(name=cfg.name)

    monkeypatch.setattr(epsim.runner, "run_config", run_config)
    return calls


@pytest.fixture
def no_solve(monkeypatch):
    import epsim.runner

    def run_config(cfg, **kwargs):
        raise AssertionError("solving started: the check should have come first")

    monkeypatch.setattr(epsim.runner, "run_config", run_config)


def config(folder, output: str | None = "out/small.h5", name="case.yaml", **output_keys):
    data = yaml.safe_load(SMALL)
    data["output"] = {**({"file": output} if output else {}), **output_keys}
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 300 and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------ outputs named by a config

@pytest.mark.parametrize("output", ["~/x.h5", "/tmp/epsim-output-safety.h5", "../x.h5"])
@pytest.mark.parametrize("command", ["check", "run"])
def test_config_may_not_name_outputs_outside_its_folder(tmp_path, capsys, no_solve, output,
                                                        command):
    folder = tmp_path / "cfg"
    folder.mkdir()
    assert main([command, str(config(folder, output))]) == 2
    assert "output.file" in one_line(capsys)
    assert not (tmp_path / "home" / "x.h5").exists() and not (tmp_path / "x.h5").exists()
    assert not os.path.exists("/tmp/epsim-output-safety.h5")


def test_config_output_in_a_folder_below_it(tmp_path, capsys, fake_solve):
    path = config(tmp_path, "results/deeper/run.h5", paraview=False)
    assert main(["run", str(path)]) == 0
    assert (tmp_path / "results" / "deeper" / "run.h5").is_file()


# ------------------------------------------------------------------ --overwrite and foreign files

def test_overwrite_replaces_epsims_files_never_foreign_ones(tmp_path, capsys, fake_solve,
                                                            monkeypatch):
    import epsim.viz

    def overview(results, path, **kwargs):  # the 3-D picture is slow and not the point here
        path.write_bytes(b"\x89PNG overview")
        return path

    monkeypatch.setattr(epsim.viz, "render_overview", overview)
    path = config(tmp_path, render=True)
    assert main(["run", str(path)]) == 0
    out = tmp_path / "out"
    written = listing(out)
    assert "small.h5" in written and "small.vtu" in written and "small_slice.png" in written
    assert main(["run", str(path), "--overwrite"]) == 0  # epsim's own: replaced
    capsys.readouterr()

    (out / "small_slice.png").write_bytes(b"my own picture")  # now it is the user's
    before = {name: (out / name).read_bytes() for name in listing(out)}
    assert main(["run", str(path), "--overwrite"]) == 2
    err = one_line(capsys)
    assert "small_slice.png" in err and "not written by epsim" in err
    assert {name: (out / name).read_bytes() for name in listing(out)} == before
    assert len(fake_solve) == 2  # refused before solving


def test_overwrite_refuses_a_foreign_file_named_like_the_results(tmp_path, capsys, no_solve):
    (tmp_path / "notes.h5").write_text("my thesis")
    path = config(tmp_path)
    assert main(["run", str(path), "-o", "notes.h5", "--overwrite"]) == 2
    assert "not written by epsim" in one_line(capsys)
    assert (tmp_path / "notes.h5").read_text() == "my thesis"
    assert not (tmp_path / "notes.vtu").exists()


def test_without_overwrite_the_message_names_the_flag(tmp_path, capsys, fake_solve):
    path = config(tmp_path)
    assert main(["run", str(path)]) == 0
    capsys.readouterr()
    assert main(["run", str(path)]) == 2
    err = one_line(capsys)
    assert "pass --overwrite" in err and "overwrite=True" not in err


def test_hdf5_results_are_recognised_without_the_manifest(tmp_path):
    from epsim.io import write_results

    path = write_results(tmp_path / "run.h5", make_results())
    (tmp_path / ownership.MANIFEST).unlink()  # copied elsewhere without it
    assert ownership.written_by_epsim(path)
    (tmp_path / "other.txt").write_text("x")
    assert not ownership.written_by_epsim(tmp_path / "other.txt")


# ------------------------------------------------------------------ sweeps

def test_sweeps_refuse_foreign_files(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "summary.txt").write_text("my summary")
    for overwrite in (False, True):
        with pytest.raises(ownership.ForeignFileError, match="summary.txt"):
            prepare_folder(out, overwrite=overwrite)
    assert (out / "summary.txt").read_text() == "my summary"


def test_sweep_overwrite_drops_only_epsims_chunk_files(tmp_path):
    out = tmp_path / "sweep"
    import numpy as np

    ours = write_chunk(out, "abc", ["p"], {"coverage_rev": np.zeros(1)})
    theirs = out / "chunks" / "chunk_mine.npz"
    theirs.write_bytes(b"not ours")
    prepare_folder(out, overwrite=False)
    assert ours.exists()
    prepare_folder(out, overwrite=True)
    assert not ours.exists() and theirs.read_bytes() == b"not ours"


# ------------------------------------------------------------------ folders that cannot be written

def test_unwritable_folder_is_reported_before_solving(tmp_path, capsys, no_solve, monkeypatch):
    """Injected: the probe file cannot be created (what a read-only folder gives, also for
    root, whom file modes do not stop)."""
    import epsim.io.atomic as atomic

    real = atomic.tempfile.mkstemp

    def mkstemp(*args, prefix="", **kwargs):
        if prefix.startswith(".epsim-probe-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real(*args, prefix=prefix, **kwargs)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    assert main(["run", str(config(tmp_path))]) == 2
    assert "cannot write there (Permission denied)" in one_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_reported_before_solving(tmp_path, capsys, no_solve):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        assert main(["run", str(config(tmp_path)), "-o", str(tmp_path / "ro" / "x.h5")]) == 2
        assert "cannot write there" in one_line(capsys)
    finally:
        os.chmod(tmp_path / "ro", 0o755)


# ------------------------------------------------------------------ full disks and I/O errors

def test_disk_full_during_a_later_output_publishes_nothing(tmp_path, capsys, fake_solve,
                                                           monkeypatch):
    """The .vtu fails after the .h5 was written: neither is published, no temporary file or
    staging folder stays, the folder this run created is gone, and the message names the
    output, not a temporary file."""
    import meshio

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(meshio.vtu, "write", full)
    assert main(["run", str(config(tmp_path))]) == 1
    err = one_line(capsys)
    assert "No space left on device" in err and ".tmp" not in err and "stage" not in err
    assert ".vtu" in err
    assert not (tmp_path / "out").exists()
    assert listing(tmp_path) == ["case.yaml", "home"]


def test_a_failed_publication_takes_back_what_it_published(tmp_path, capsys, fake_solve,
                                                          monkeypatch):
    import epsim.io.publish as publish_module

    real, count = publish_module.publish, []

    def publish(staged, target, overwrite):
        count.append(target)
        if len(count) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(staged))
        real(staged, target, overwrite)

    monkeypatch.setattr(publish_module, "publish", publish)
    assert main(["run", str(config(tmp_path))]) == 1
    err = one_line(capsys)
    assert "Input/output error" in err and "stage" not in err
    assert not (tmp_path / "out").exists() or listing(tmp_path / "out") == []


def test_write_error_removes_the_temporary_file(tmp_path):
    from epsim.io.errors import OutputWriteError

    with pytest.raises(OutputWriteError, match="b.txt: cannot write .No space left"):
        with atomic_output(tmp_path / "out" / "a" / "b.txt") as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert not (tmp_path / "out").exists()  # no temporary file, no folder made for it


FULL_DISK = textwrap.dedent("""
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    from epsim.io import write_results
    from epsim.io.errors import OutputWriteError
    from tests.helpers.synthetic_results import make_results
    try:
        write_results(sys.argv[1] + "/run.h5", make_results(n=10))
    except OutputWriteError as exc:
        print("refused:", exc)
    from epsim.cli import main
    sys.exit(main(["render", sys.argv[2], "-o", sys.argv[1] + "/pics.png"]))
""")


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root and unshare for a private tmpfs")
def test_real_full_disk(tmp_path):
    """A 64 kB tmpfs in a private mount namespace: the HDF5 write and the pictures fail with
    one line each; the process ends normally (HDF5 crashed it at exit) and the disk is empty."""
    from epsim.io import write_results

    source = write_results(tmp_path / "source.h5", make_results())
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    shell = (f"mount -t tmpfs -o size=64k tmpfs {disk} && {sys.executable} {script} {disk} "
             f"{source}; code=$?; ls -A {disk}; exit $code")
    done = subprocess.run(["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True,
                          timeout=300, cwd=os.getcwd(),
                          env={**os.environ, "PYTHONPATH": str(_repository())})
    if "mount" in done.stderr and "permission" in done.stderr.lower():
        pytest.skip("no tmpfs here")
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert lines[0].startswith("refused:") and "No space left on device" in lines[0], lines
    assert lines[1:] == []  # `ls -A` of the disk: nothing left
    assert done.stderr.count("\n") == 1 and "No space left" in done.stderr, done.stderr


def _repository():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]
