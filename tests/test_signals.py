"""Ctrl-C and SIGTERM stop `epsim run` at any stage (docs/design.md, section 6, exit codes):
the command runs in a subprocess, the signal is sent during meshing, solving or writing, and the
test checks the exit code (130 for SIGINT, 143 for SIGTERM), one line after the progress lines,
no traceback, nothing left in the output folder and no process left running.

The stages are found without hooks: progress lines appear on a terminal (stderr is a pty here),
and the writing stage is the moment the publication's staging folder appears.
"""

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.helpers.cli_configs import SMALL, write_config

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 5.0  # from the signal to the exit; a second or two is the aim


class Run:
    """`python -m epsim.cli ARGS` with stderr on a pseudo-terminal (progress lines on)."""

    def __init__(self, tmp_path: Path, *args: str, new_group: bool = False):
        self.reader, writer = pty.openpty()
        env = dict(os.environ, EPSIM_CACHE=str(tmp_path / "cache"), COLUMNS="200")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "epsim.cli", *args], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=writer, stdin=subprocess.DEVNULL,
            start_new_session=new_group,  # a process group of its own, as in a terminal
        )
        os.close(writer)
        self.text = ""
        self.descendants: set[int] = set()

    def read(self, timeout: float) -> None:
        """Collect stderr for up to `timeout` seconds (returns early at EOF)."""
        import select

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.reader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.reader, 4096)
                except OSError:  # EIO: the other side closed
                    return
                if not chunk:
                    return
                self.text += chunk.decode(errors="replace")
            self.note_descendants()

    def note_descendants(self) -> None:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        self.descendants.update(child.pid for child in children)

    def wait_for(self, text: str, timeout: float = 300.0) -> None:
        end = time.monotonic() + timeout
        while text not in self.text:
            assert self.process.poll() is None, f"ended before {text!r}:\n{self.text}"
            assert time.monotonic() < end, f"no {text!r} within {timeout} s:\n{self.text}"
            self.read(0.2)

    def stop(self, signum: int, group: bool = False) -> tuple[int, float]:
        """Send `signum` (to the whole process group, as Ctrl-C in a terminal does, when
        `group`); returns (exit code, seconds until the exit)."""
        self.note_descendants()
        self.running_at_signal = len(psutil.Process(self.process.pid).children(recursive=True))
        start = time.monotonic()
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=60)
        seconds = time.monotonic() - start
        self.read(1.0)
        os.close(self.reader)
        return code, seconds

    def final_lines(self) -> list[str]:
        """stderr after the last progress line (progress lines end in '...')."""
        lines = [line.strip() for line in self.text.replace("\r", "\n").splitlines()]
        lines = [line for line in lines if line]
        last_progress = max((i for i, line in enumerate(lines) if line.endswith("...")),
                            default=-1)
        return lines[last_progress + 1:]

    def left_running(self, timeout: float = 10.0) -> list[str]:
        """Descendants still running `timeout` seconds after the exit (the fork server and
        the meshing child notice their parent is gone within a fraction of a second on a quiet
        machine; with two long studies beside the test suite on two cores, the fork server
        once took over 3 s)."""
        end = time.monotonic() + timeout
        while True:
            alive = []
            for pid in self.descendants:
                try:
                    process = psutil.Process(pid)
                    if process.status() != psutil.STATUS_ZOMBIE:
                        alive.append(f"{pid}: {' '.join(process.cmdline())[:120]}")
                except psutil.NoSuchProcess:
                    pass
            if not alive or time.monotonic() > end:
                return alive
            time.sleep(0.1)


def small_config(tmp_path: Path, size: float = 6.0, target: float = 1.5) -> Path:
    def edit(data):
        data["scene"]["mesh"].update(size=size, target_size=target)
        data["output"] = {"file": "out/small.h5"}

    return write_config(tmp_path, SMALL, edit)


def assert_stopped(run: Run, code: int, seconds: float, expected: int, word: str,
                   tmp_path: Path) -> None:
    assert code == expected, run.text
    assert seconds < STOP_SECONDS, f"took {seconds:.1f} s to stop"
    final = run.final_lines()
    assert len(final) == 1 and final[0].startswith(f"epsim: {word}"), run.text
    assert len(final[0]) < 300
    assert "Traceback" not in run.text
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    assert not list(tmp_path.rglob("*.tmp*")) and not list(tmp_path.rglob(".epsim-stage-*"))
    assert run.left_running() == []


def test_sigint_while_gmsh_meshes(tmp_path):
    """gmsh ignores SIGINT; its child process is terminated."""
    config = small_config(tmp_path, size=1.0, target=0.4)  # about 15 s of gmsh
    run = Run(tmp_path, "run", str(config))
    run.wait_for("meshing the scene with gmsh")
    run.read(1.0)  # gmsh is inside its meshing loop
    code, seconds = run.stop(signal.SIGINT)
    assert run.running_at_signal >= 2, "no fork server and gmsh child: meshing had ended"
    assert_stopped(run, code, seconds, 130, "interrupted", tmp_path)


def test_sigint_while_solving(tmp_path):
    """The main thread is inside XLA's compilation or run: the watchdog cleans up."""
    config = small_config(tmp_path)
    run = Run(tmp_path, "run", str(config), "--no-cache")
    run.wait_for("solving 1 pair(s)")
    code, seconds = run.stop(signal.SIGINT)
    assert_stopped(run, code, seconds, 130, "interrupted", tmp_path)


def wait_for_staging(run: Run, folder: Path, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not list(folder.glob(".epsim-stage-*")):
        assert run.process.poll() is None, f"ended before writing:\n{run.text}"
        assert time.monotonic() < end, run.text
        time.sleep(0.002)


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"),
                                                (signal.SIGTERM, 143, "terminated")])
def test_signal_while_writing(tmp_path, signum, code, word):
    """The outputs are written into a staging folder (pictures take seconds): none of them
    is published, and the staging folder goes."""
    config = small_config(tmp_path)
    run = Run(tmp_path, "run", str(config), "--render")
    wait_for_staging(run, tmp_path / "out")
    exit_code, seconds = run.stop(signum)
    assert_stopped(run, exit_code, seconds, code, word, tmp_path)


def test_sigterm_is_reported_as_sigterm_during_meshing(tmp_path):
    config = small_config(tmp_path, size=1.0, target=0.4)
    run = Run(tmp_path, "mesh", str(config), "-o", "out/small.vtu")
    run.wait_for("meshing the scene with gmsh")
    run.read(1.0)
    code, seconds = run.stop(signal.SIGTERM)
    assert run.running_at_signal >= 2, "no fork server and gmsh child: meshing had ended"
    assert_stopped(run, code, seconds, 143, "terminated", tmp_path)
    assert yaml.safe_load(config.read_text())  # the config itself is untouched


def test_ctrl_c_stops_a_dask_sweep_cleanly(tmp_path):
    """Ctrl-C reaches the whole process group, Dask's worker processes too: no worker
    traceback, the workers stopped, and the sweep folder removed (nothing was finished)."""
    data = yaml.safe_load(SMALL)
    data.pop("output")
    data["sweep"] = {"axes": {"protocol.pairs[0].voltage": [600, 700, 800, 900]}}
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(data))
    run = Run(tmp_path, "sweep", "case.yaml", "-o", "out", "--workers", "1", new_group=True)
    run.wait_for("running the sweep")
    run.read(3.0)  # the cluster starts, the worker meshes
    exit_code, seconds = run.stop(signal.SIGINT, group=True)
    assert exit_code == 130, run.text
    assert seconds < STOP_SECONDS, f"took {seconds:.1f} s to stop"
    assert "Traceback" not in run.text and "Warning" not in run.text, run.text
    assert run.text.rstrip().endswith("epsim: interrupted (SIGINT); temporary files removed")
    assert not (tmp_path / "out").exists()
    assert run.left_running() == []
