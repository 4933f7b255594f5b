"""`make test`: the suite on two workers, and a second chance for tests whose worker died.

    python scripts/run_tests.py [PYTEST ARGS...]

Runs `pytest tests -n 2 --dist loadfile --max-worker-restart=0 --durations=15 ARGS`: two
workers, one test file each at a time (module fixtures are built once per file). A worker that
dies fails the run at once (xdist's replacement worker under loadfile can wait forever), and
the tests it had not finished never ran. A worker dying of a signal is not a test failing:
the one seen here was a segmentation fault inside libgcc's exception unwinder, in a worker whose
compiled programs had filled the kernel's limit on memory mappings (docs/design.md, section 7;
the suite now drops them in time, and this stays as a second line). So when every failure
of the run is a dead worker, its Python stacks are printed (tests/helpers/outcomes.py) and the
tests that did not finish run once more, in fresh processes; that run decides the exit code.
A test that fails is never run again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.outcomes import finished  # noqa: E402

PYTEST = ["-m", "pytest", "tests", "-p", "tests.helpers.outcomes", "-n", "2",
          "--dist", "loadfile", "--max-worker-restart=0", "--durations=15"]
TESTS_FAILED = 1  # pytest's exit code when tests failed (a dead worker's test included)


def run_pytest(args: list[str], outcomes: Path, done: Path | None, root: Path) -> int:
    faults = faults_folder(outcomes)
    faults.mkdir()
    env = dict(os.environ, EPSIM_TEST_OUTCOMES=str(outcomes), EPSIM_TEST_FAULTS=str(faults))
    if done is not None:
        env["EPSIM_TEST_DONE"] = str(done)
    return subprocess.call([sys.executable, *PYTEST, *args], cwd=root, env=env)


def faults_folder(outcomes: Path) -> Path:
    """Where each process of the run with these outcomes leaves its Python stacks if a signal
    kills it (tests/helpers/outcomes.py)."""
    return outcomes.with_suffix(".faults")


def fault_stacks(outcomes: Path) -> str:
    """What the processes of a run that died of a signal wrote."""
    logs = sorted(faults_folder(outcomes).glob("*.log"))
    return "\n".join(f"{log.name}:\n{log.read_text(errors='replace')}" for log in logs
                     if log.stat().st_size)


def read_outcomes(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def main(args: list[str], root: Path = ROOT) -> int:
    """Run the suite of the project at `root` (its `tests` folder); returns pytest's exit code."""
    with tempfile.TemporaryDirectory(prefix="epsim-tests-") as folder:
        outcomes = Path(folder, "outcomes.jsonl")
        code = run_pytest(args, outcomes, None, root)
        if code != TESTS_FAILED:
            return code
        records = read_outcomes(outcomes)
        crashed = sorted({r["nodeid"] for r in records if r["crashed"]})
        failed = {r["nodeid"] for r in records if r["outcome"] == "failed" and not r["crashed"]}
        if failed or not crashed:
            return code
        done = Path(folder, "done.txt")
        done.write_text("\n".join(sorted({r["nodeid"] for r in records if finished(r)})) + "\n",
                        encoding="utf-8")
        print(f"\nrun_tests: a test worker died while running {', '.join(crashed)}; its Python "
              f"stack:\n{fault_stacks(outcomes)}\nrun_tests: the tests that did not finish run "
              "again in fresh processes\n", file=sys.stderr, flush=True)
        return run_pytest(args, Path(folder, "outcomes-again.jsonl"), done, root)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
