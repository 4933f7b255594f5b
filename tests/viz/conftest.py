import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from synthetic_results import make_results  # noqa: E402


@pytest.fixture(scope="module")
def results():
    return make_results()
