"""Joule heating along a pulse train: Pennes bioheat on the field mesh, coupled to sigma(E, T).

    train = PulseTrain(count=8, width=100e-6, rate=1.0)
    check_budget(mesh.n_cells, n_pairs, train, max_seconds=300)
    result = simulate_heating(problem, points, model, pairs, thermal, train)

`train`: the pulse train and `simulate_heating`; `operators`: the heat equation's lumped
quantities, stiffness and implicit steps; `budget`: the compute-time estimate that refuses a train
too long to run.
"""

from epsim.heating.budget import CostModel, check_budget, estimate_cost, measure_cost
from epsim.heating.operators import (
    HeatOperators,
    HeatSolver,
    HeatState,
    heat_operators,
    heat_steps,
    lump,
)
from epsim.heating.train import (
    HeatingResult,
    PulseTrain,
    build_heat_preconditioner,
    simulate_heating,
)

__all__ = [
    "CostModel",
    "HeatOperators",
    "HeatSolver",
    "HeatState",
    "HeatingResult",
    "PulseTrain",
    "build_heat_preconditioner",
    "check_budget",
    "estimate_cost",
    "heat_operators",
    "heat_steps",
    "lump",
    "measure_cost",
    "simulate_heating",
]
