import pytest
from tests.helpers.synthetic_results import make_results


@pytest.fixture
def results():
    return make_results()
