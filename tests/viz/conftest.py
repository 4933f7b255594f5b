import pytest

from tests.helpers.synthetic_results import make_results


@pytest.fixture(scope="module")
def results():
    return make_results()
