"""A module fixture for tests whose time is mostly XLA compilation (each new mesh compiles the
solver and the planning objective afresh): XLA's optimisation passes switched off while the
module runs (the programs are small and run once or twice, so compiling them fully does not
pay; measured on the image-scene tests: 16 -> 10 s of CPU, the same results to the last digit).

    from tests.helpers.quick_compile import quick_compile  # noqa: F401  (autouse)
"""

import jax
import pytest


@pytest.fixture(scope="module", autouse=True)
def quick_compile():
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)
