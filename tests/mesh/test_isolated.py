"""Meshing in a child process: results and errors come back, an interrupt stops the child at
once, a child that dies is reported, and nothing is left running."""

import math
import multiprocessing
import os
import signal
import threading
import time

import pytest

from epsim.errors import ElectrodeError, MeshError
from epsim.mesh.isolated import run_isolated


class Stubborn(Exception):
    """An exception pickling cannot rebuild (its __init__ takes two arguments)."""

    def __init__(self, message, extra):
        super().__init__(message)
        self.extra = extra


def raise_stubborn():
    raise Stubborn("cannot travel", 1)


def raise_electrode_error():
    raise ElectrodeError("plate 'p': its electrode face touches no tissue")


def test_result_comes_back():
    assert run_isolated(math.hypot, 3.0, 4.0) == 5.0


def test_errors_come_back_with_their_type():
    with pytest.raises(ElectrodeError, match="touches no tissue"):
        run_isolated(raise_electrode_error)
    with pytest.raises(MeshError, match="Stubborn: cannot travel"):
        run_isolated(raise_stubborn)


def test_a_child_that_dies_is_reported():
    with pytest.raises(MeshError, match="ended without a result .exit code 3"):
        run_isolated(os._exit, 3)


def test_interrupt_stops_the_child_at_once():
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_isolated(time.sleep, 60)
    assert time.monotonic() - start < 10
    assert multiprocessing.active_children() == []
