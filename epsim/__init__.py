"""epsim: a differentiable electroporation tissue simulator and treatment planner on JAX.

Importing epsim has no side effects: it neither prints nor changes JAX's configuration. The
command line and the tests switch on float64 (`jax.config.update("jax_enable_x64", True)`).
"""

__version__ = "0.1.0"
