"""Reproducible and resumable plans: a planning process started with an empty mesh cache,
killed part-way and resumed in this process, ends with the same plan and the same audit, bit
for bit, as an uninterrupted run (so one seed gives one plan across processes and
cache states, and a resumed run loses nothing). Meshing faults: test_recovery_faults.py."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from epsim.cli import main
from epsim.optimise.checkpoint import Checkpoint
from epsim.optimise.planner import run_planning
from tests.helpers.plans import tiny_plan_config

pytestmark = pytest.mark.slow

CONFIG = tiny_plan_config()


def _epsim(*args):
    return [sys.executable, "-m", "epsim.cli", *args]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def reference(config):
    """An uninterrupted run without faults."""
    out = config.parent / "reference"
    report = run_planning(config, out, render=False)
    assert not (out / "checkpoint").exists()  # removed once the plan is written
    return out, report


def _checkpoint_step(out):
    try:
        state = Checkpoint(out, "").path
        with np.load(state, allow_pickle=False) as data:
            text = data["state_json"].tobytes().decode()
    except (OSError, ValueError, KeyError):
        return None
    import json

    doc = json.loads(text)["state"]["dict"]
    return doc["stage"], doc["step"]


def test_a_killed_run_resumes_to_the_same_plan(config, reference, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "EPSIM_CACHE": str(tmp_path / "cold-cache")}  # an empty mesh cache
    proc = subprocess.Popen(_epsim("optimise", str(config), "-o", str(out), "--no-render"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if _checkpoint_step(out) in (("linear", 2), ("linear", 3)):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stage, step = _checkpoint_step(out)
    assert stage == "linear" and 2 <= step <= 3
    assert not (out / "plan.yaml").exists()
    assert main(["optimise", str(config), "-o", str(out), "--no-render"]) == 2  # not without --resume
    assert main(["optimise", str(config), "-o", str(out), "--no-render", "--resume"]) == 0
    ref, _ = reference
    assert (out / "plan.yaml").read_text() == (ref / "plan.yaml").read_text()
    with h5py.File(out / "audit.h5") as a, h5py.File(ref / "audit.h5") as b:
        for key in ("objective", "shift", "voltage", "current", "coverage"):
            assert np.array_equal(a["candidates"][key][()], b["candidates"][key][()]), key
