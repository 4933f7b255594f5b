"""epsim.interrupts in-process: SIGTERM as an exception, an interrupt lost in a `__del__` or a
garbage-collector callback delivered again, and what the cleanup removes (and never removes).
The end-to-end behaviour (exit codes, stages) is in tests/test_signals.py."""

import os
import signal
import subprocess
import sys
import textwrap
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


SECOND_INTERRUPT = textwrap.dedent("""
    import _thread, os, signal, sys
    from epsim import cli, interrupts

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it

    def stopped(args):
        raise KeyboardInterrupt()

    def cleanup_interrupted_again(guard, original=interrupts.Guard.cleanup):
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while cleaning up
        _thread.interrupt_main(signal.SIGINT)  # and an interrupt redelivered late
        original(guard)

    cli.cmd_info = stopped
    interrupts.Guard.cleanup = cleanup_interrupted_again
    sys.exit(cli.main(["info"]))
""")


def test_a_second_interrupt_while_stopping_keeps_the_exit_code():
    """Ctrl-C pressed again (or an interrupt redelivered) while the command is being stopped does
    not end the process by the signal (exit -2) after the one line was printed."""
    done = subprocess.run([sys.executable, "-c", SECOND_INTERRUPT], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == EXIT_SIGINT, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("epsim: interrupted"), done.stderr
    assert "Traceback" not in done.stderr
