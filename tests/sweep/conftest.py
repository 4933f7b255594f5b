"""Fixtures of the sweep tests: a shared mesh cache and the coarse two-needle case
(`tests.helpers.sweep_cases`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.sweep_cases import write_case


@pytest.fixture(scope="session")
def mesh_cache(tmp_path_factory):
    """EPSIM_CACHE for this process and the workers and subprocesses it starts."""
    cache = tmp_path_factory.mktemp("mesh_cache")
    old = os.environ.get("EPSIM_CACHE")
    os.environ["EPSIM_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("EPSIM_CACHE", None)
    else:
        os.environ["EPSIM_CACHE"] = old


@pytest.fixture
def case(tmp_path, mesh_cache) -> Path:
    return write_case(tmp_path)
