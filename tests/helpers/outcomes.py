"""A pytest plugin for scripts/run_tests.py: records each test's outcome, and deselects the tests
an earlier run finished.

    EPSIM_TEST_OUTCOMES=FILE   append one JSON line per test report (the controlling process
                               only, so that xdist's workers do not write twice)
    EPSIM_TEST_DONE=FILE       deselect the node ids listed in FILE (one per line)
    EPSIM_TEST_FAULTS=FOLDER   each process (workers included) that dies of a signal leaves its
                               Python stacks in FOLDER/NAME-PID.log: xdist does not show a dead
                               worker's stderr

A report of a worker that died names the test it was running and says "crashed while running"
(pytest-xdist's words): that test counts as not finished.
"""

from __future__ import annotations

import faulthandler
import json
import os
from pathlib import Path

import pytest

CRASHED = "crashed while running"
FAULT_LOG: list = []  # this process's fault log, once opened


def finished(record: dict) -> bool:
    """Whether a report ends its test: the call's, or a setup that did not pass."""
    if record["crashed"]:
        return False
    return record["when"] == "call" or (record["when"] == "setup" and record["outcome"] != "passed")


@pytest.hookimpl(trylast=True)  # after pytest's own faulthandler set-up, which this replaces
def pytest_configure(config) -> None:
    outcomes, faults = os.environ.get("EPSIM_TEST_OUTCOMES"), os.environ.get("EPSIM_TEST_FAULTS")
    if outcomes and not hasattr(config, "workerinput"):  # xdist's workers have `workerinput`
        config.pluginmanager.register(Recorder(Path(outcomes)), "epsim-test-outcomes")
    if faults:
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")
        FAULT_LOG.append(open(Path(faults) / f"{name}-{os.getpid()}.log", "w"))  # until the exit
        arm_faulthandler()


def arm_faulthandler() -> None:
    """Point Python's faulthandler at this process's log: again at every test, because
    `gmsh.initialize()` resets the SIGSEGV handler to the default (measured)."""
    if FAULT_LOG:
        faulthandler.disable()  # enable() alone does nothing while faulthandler thinks it is on
        faulthandler.enable(FAULT_LOG[0], all_threads=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    arm_faulthandler()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item) -> None:
    arm_faulthandler()


class Recorder:
    """Appends one JSON line per test report to `path`."""

    def __init__(self, path: Path):
        self.path = path

    def pytest_runtest_logreport(self, report) -> None:
        record = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                  "crashed": CRASHED in str(report.longrepr or "")}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def pytest_collection_modifyitems(config, items) -> None:
    path = os.environ.get("EPSIM_TEST_DONE")
    if not path:
        return
    done = set(Path(path).read_text(encoding="utf-8").split("\n")) - {""}
    keep = [item for item in items if item.nodeid not in done]
    dropped = [item for item in items if item.nodeid in done]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
