"""Packaging metadata: the licence as an SPDX string (no setuptools deprecation banner on
`pip install -e .`), with a build backend new enough to read it."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_licence_is_an_spdx_string():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["license"] == "BSD-3-Clause"
    assert all((ROOT / name).is_file() for name in data["project"]["license-files"])
    # setuptools reads project.license as a string from version 77 on
    assert "setuptools>=77" in data["build-system"]["requires"]
