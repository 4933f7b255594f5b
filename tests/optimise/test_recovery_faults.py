"""Plans that always finish: meshing failures injected at a chosen remesh and at the
verification are recovered from and reported; an error after solving began is never "bad
input" (exit 4, the best plan so far kept)."""

from contextlib import redirect_stderr as capture_stderr_to
from io import StringIO

import h5py
import pytest

from epsim.cli import main
from epsim.errors import InputError
from epsim.optimise import planner
from epsim.optimise.planner import run_planning
from epsim.optimise.recovery import ATTEMPTS, MeshFaults
from tests.helpers.plans import tiny_plan_config

pytestmark = pytest.mark.slow


def _events(path):
    with h5py.File(path) as f:
        return [(s.decode(), w.decode(), d.decode()) for s, w, d in
                zip(f["events/stage"][()], f["events/what"][()], f["events/detail"][()])]


class capture_stderr:
    """stderr into a StringIO (capsys is function-scoped; the stopped run is module-scoped)."""

    def __enter__(self):
        self.buffer = StringIO()
        self._redirect = capture_stderr_to(self.buffer)
        self._redirect.__enter__()
        return self.buffer

    def __exit__(self, *exc):
        return self._redirect.__exit__(*exc)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.yaml"
    path.write_text(tiny_plan_config())
    return path


@pytest.fixture(scope="module")
def stopped(config):
    """A plan through the command line whose first mesh fails once (recovered) and whose every
    fresh verification mesh fails: it stops after solving began."""
    out = config.parent / "stopped"
    faults = MeshFaults(remesh=frozenset({0}), verify=frozenset(range(10**6)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planner, "MeshFaults", lambda: faults)
        with capture_stderr() as err:
            code = main(["optimise", str(config), "-o", str(out), "--no-render"])
    return out, code, err.getvalue()


def test_an_error_after_solving_began_is_not_bad_input(stopped):
    # no fresh mesh can be made at the verification: exit 4 with the best plan so far kept
    out, code, err = stopped
    assert code == 4 and code != InputError.exit_code
    assert "planning stopped during verification" in err and "--resume" in err
    assert (out / "plan.yaml").read_text().startswith("# NOT VERIFIED")
    assert "PLANNING STOPPED during verification" in (out / "report.txt").read_text()
    whats = [w for _, w, _ in _events(out / "audit.h5")]
    assert "mesh 0 (adam) failed" in whats and "mesh 0 (adam) recovered" in whats
    assert (out / "checkpoint" / "state.npz").is_file()  # kept for --resume
    assert not (out / "verification.h5").exists()


def test_meshing_failures_are_recovered_and_reported(stopped):
    # resumed: every attempt at a fresh mesh of the chosen plan fails, so the verification
    # falls back to the next plan in line
    out, _, _ = stopped
    faults = MeshFaults(verify=frozenset(range(len(ATTEMPTS))))
    report = run_planning(out.parent / "tiny.yaml", out, render=False, resume=True,
                          faults=faults)
    assert (out / "plan.yaml").is_file() and (out / "verification.h5").is_file()
    assert not (out / "checkpoint").exists()
    events = _events(out / "audit.h5")
    whats = [w for _, w, _ in events]
    assert "mesh 0 (adam) failed" in whats and "mesh 0 (adam) recovered" in whats
    # the resumed run's attempts (the checkpoint holds the events up to the end of planning)
    assert sum(w == "the chosen plan: fresh mesh failed" for w in whats) == len(ATTEMPTS)
    assert any(w.startswith("runner-up 1 of the nonlinear stage: verified") for w in whats)
    assert all("injected fault" in d for _, w, d in events if w.startswith("the chosen plan"))
    text = (out / "report.txt").read_text()
    assert "events (recovered" in text and "mesh 0 (adam) failed" in text
    assert "candidate 2 in line" in text
    assert not text.startswith("PLANNING STOPPED")
    # the plan written is the one verified, and it is a config `epsim run` accepts
    assert (out / "plan.yaml").read_text().startswith("# treatment plan")
    assert main(["check", str(out / "plan.yaml")]) == 0
    assert report.verification.current.shape == (1,)
