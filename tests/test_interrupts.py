"""epsim.interrupts in-process: SIGTERM as an exception, an interrupt lost in a `__del__` or a
garbage-collector callback delivered again, and what the cleanup removes (and never removes).
The end-to-end behaviour (exit codes, stages) is in tests/test_signals.py."""

import os
import signal
import time

import pytest

from epsim.interrupts import EXIT_SIGINT, EXIT_SIGTERM, Guard, Terminated, exit_code, message


def wait_for_interrupt(seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)
    raise AssertionError("no interrupt arrived")


def test_sigterm_raises_terminated_inside_the_guard():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        with Guard():
            os.kill(os.getpid(), signal.SIGTERM)
            wait_for_interrupt()
    assert exit_code(caught.value) == EXIT_SIGTERM and "SIGTERM" in message(caught.value)
    assert exit_code(KeyboardInterrupt()) == EXIT_SIGINT
    assert signal.getsignal(signal.SIGTERM) is previous  # restored


class Swallower:
    """Raises the interrupt where Python swallows exceptions."""

    def __del__(self):
        raise KeyboardInterrupt()


def test_an_interrupt_swallowed_by_del_comes_again(capsys):
    with pytest.raises(KeyboardInterrupt):
        with Guard():
            Swallower()  # collected at once: 'Exception ignored in __del__' without the guard
            wait_for_interrupt()
    assert "Exception ignored" not in capsys.readouterr().err


def test_cleanup_removes_only_what_the_command_made(tmp_path):
    old = tmp_path / ".case.abc.tmp.h5"
    old.write_text("someone else's")
    new_folder = tmp_path / "new" / "deeper"
    guard = Guard()
    guard.watch(tmp_path / "case.h5")
    guard.watch(new_folder / "result.h5")
    guard.watch_folder(tmp_path / "sweep")
    ours = tmp_path / ".case.xyz.tmp.h5"
    ours.write_text("half written")
    stage = tmp_path / ".epsim-stage-123"
    stage.mkdir()
    (stage / "case.h5").write_text("staged")
    (tmp_path / "sweep" / "chunks").mkdir(parents=True)  # a sweep that finished nothing
    new_folder.mkdir(parents=True)
    kept = tmp_path / "new" / "mine.txt"
    kept.write_text("a file in a folder the command made is kept")
    guard.cleanup()
    assert old.exists() and not ours.exists() and not stage.exists()
    assert not (tmp_path / "sweep").exists() and not new_folder.exists()
    assert kept.exists()
