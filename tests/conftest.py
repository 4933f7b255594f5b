"""Test set-up: float64 on, as the CLI does (the library never changes JAX config at import)."""

import jax

jax.config.update("jax_enable_x64", True)
