"""Plans that always finish: meshing failures injected at a chosen remesh and at the
verification, errors after solving began (never "bad input"), the same plan from the same seed
in another process with cold caches, and a killed planning process resumed to the same plan."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from epsim.cli import main
from epsim.errors import InputError
from epsim.optimise import planner
from epsim.optimise.checkpoint import Checkpoint
from epsim.optimise.planner import run_planning
from epsim.optimise.recovery import ATTEMPTS, MeshFaults
from tests.helpers.plans import tiny_plan_config

pytestmark = pytest.mark.slow

CONFIG = tiny_plan_config()


def _events(path):
    with h5py.File(path) as f:
        return [(s.decode(), w.decode(), d.decode()) for s, w, d in
                zip(f["events/stage"][()], f["events/what"][()], f["events/detail"][()])]


def _epsim(*args, env=None):
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


def test_meshing_failures_are_recovered_and_reported(config, reference):
    # the first mesh of the optimisation fails once; every attempt at a fresh mesh of the chosen
    # plan fails, so the verification falls back to the next plan in line
    faults = MeshFaults(remesh=frozenset({0}), verify=frozenset(range(len(ATTEMPTS))))
    out = config.parent / "faults"
    report = run_planning(config, out, render=False, faults=faults)
    assert (out / "plan.yaml").is_file() and (out / "verification.h5").is_file()
    events = _events(out / "audit.h5")
    whats = [w for _, w, _ in events]
    assert "mesh 0 (adam) failed" in whats and "mesh 0 (adam) recovered" in whats
    assert sum("the chosen plan: fresh mesh failed" == w for w in whats) == len(ATTEMPTS)
    assert any(w.startswith("runner-up 1 of the nonlinear stage: verified") for w in whats)
    assert all("injected fault" in d for _, w, d in events if w.startswith("the chosen plan"))
    text = (out / "report.txt").read_text()
    assert "events (recovered" in text and "mesh 0 (adam) failed" in text
    assert "candidate 2 in line" in text
    # the plan written is the one verified, and it is a config `epsim run` accepts
    assert main(["check", str(out / "plan.yaml")]) == 0
    assert report.verification.current.shape == (1,)


def test_an_error_after_solving_began_is_not_bad_input(config, monkeypatch, capsys):
    # no fresh mesh can be made at the verification: exit 4 with the best plan so far kept
    monkeypatch.setattr(planner, "MeshFaults", lambda: MeshFaults(verify=frozenset(range(10**6))))
    out = config.parent / "stopped"
    code = main(["optimise", str(config), "-o", str(out), "--no-render"])
    err = capsys.readouterr().err
    assert code == 4 and code != InputError.exit_code
    assert "planning stopped during verification" in err and "--resume" in err
    assert (out / "plan.yaml").read_text().startswith("# NOT VERIFIED")
    assert "PLANNING STOPPED during verification" in (out / "report.txt").read_text()
    assert len(_events(out / "audit.h5")) > len(ATTEMPTS)
    assert (out / "checkpoint" / "state.npz").is_file()  # kept for --resume
    assert not (out / "verification.h5").exists()


def test_same_seed_same_plan_in_a_fresh_process(config, reference, tmp_path):
    out = tmp_path / "again"
    env = {**os.environ, "EPSIM_CACHE": str(tmp_path / "cold-cache")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run(_epsim("optimise", str(config), "-o", str(out), "--no-render"),
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    ref, _ = reference
    assert (out / "plan.yaml").read_text() == (ref / "plan.yaml").read_text()
    with h5py.File(out / "audit.h5") as a, h5py.File(ref / "audit.h5") as b:
        for key in ("objective", "shift", "voltage", "current", "coverage"):
            assert np.array_equal(a["candidates"][key][()], b["candidates"][key][()]), key


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
    env = {**os.environ, "EPSIM_CACHE": str(tmp_path / "cache")}
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
        assert np.array_equal(a["candidates/objective"][()], b["candidates/objective"][()])
