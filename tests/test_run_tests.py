"""scripts/run_tests.py (`make test`): a worker that dies gives its unfinished tests one more run
in fresh processes; a test that fails is never run again. Runs the script on a small project of
its own, whose first test kills its worker with SIGSEGV once."""

import importlib.util
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DIES_ONCE = '''
import os, signal
from pathlib import Path

import gmsh

def test_gmsh_first():  # gmsh.initialize() resets the SIGSEGV handler: the stack must come anyway
    gmsh.initialize()
    gmsh.finalize()

def test_dies_once():
    marker = Path(__file__).with_name("died")
    if not marker.exists():
        marker.write_text("once")
        os.kill(os.getpid(), signal.SIGSEGV)

def test_after_the_death():
    pass
'''

OTHERS = '''
import os

def test_one():
    pass

def test_may_fail():
    assert not os.environ.get("EPSIM_TEST_FAIL_ONE")
'''


def load_runner():
    spec = importlib.util.spec_from_file_location("run_tests", ROOT / "scripts" / "run_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_project(root: Path) -> Path:
    (root / "tests" / "helpers").mkdir(parents=True)
    for package in (root / "tests", root / "tests" / "helpers"):
        (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "tests" / "helpers" / "outcomes.py", root / "tests" / "helpers")
    (root / "tests" / "test_dies.py").write_text(DIES_ONCE)
    for name in ("test_b.py", "test_c.py", "test_d.py"):
        (root / "tests" / name).write_text(OTHERS)
    return root


@pytest.mark.parametrize("fail_one, expected", [(False, 0), (True, 1)])
def test_a_dead_worker_gets_a_second_run_a_failure_does_not(tmp_path, monkeypatch, capfd,
                                                            fail_one, expected):
    root = small_project(tmp_path)
    monkeypatch.delenv("EPSIM_TEST_FAIL_ONE", raising=False)
    if fail_one:
        monkeypatch.setenv("EPSIM_TEST_FAIL_ONE", "1")
    code = load_runner().main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly"], root)
    out, err = capfd.readouterr()
    assert (root / "tests" / "died").exists()  # the worker did die
    assert code == expected, out + err
    if fail_one:
        assert "run again" not in err and "test_may_fail" in out
    else:
        assert "died while running tests/test_dies.py::test_dies_once" in err
        assert 'File "' in err and "in test_dies_once" in err  # its Python stack, from the log
        again = out[out.rindex("bringing up nodes"):]  # the second run: the unfinished only
        summary = re.search(r"(\d+) passed in [\d.]+s", again)
        assert summary and "failed" not in again, again
        assert 2 <= int(summary.group(1)) < 9, again  # test_dies.py's last two, not all nine
