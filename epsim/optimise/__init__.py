"""Differentiable treatment planning: move needles and set voltages for the best coverage.

    from epsim.optimise import run_planning
    report = run_planning("configs/pelvic_deep_seated_plan.yaml", "plan_dir")

The numerical pieces, lowest first: `plan` (the Plan pytree of needle shifts, tilts and pair
voltages), `motion` (mesh nodes that move with the needles), `model` (superposition and
nonlinear forward models), `objective`, `evaluate` (the pure objective of a plan, jitted),
`session` (meshes, remeshing, audit), `adam` and `cmaes` (the optimisers), `driver` (the
schedule); then the config edge `setup`, `feasibility` and `planner`. Heavy modules are
imported lazily.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Plan": "epsim.optimise.plan",
    "Needles": "epsim.optimise.plan",
    "make_needles": "epsim.optimise.plan",
    "initial_plan": "epsim.optimise.plan",
    "MeshMotion": "epsim.optimise.motion",
    "build_motion": "epsim.optimise.motion",
    "moved_points": "epsim.optimise.motion",
    "MeshData": "epsim.optimise.model",
    "linear_response": "epsim.optimise.model",
    "nonlinear_response": "epsim.optimise.model",
    "Goals": "epsim.optimise.objective",
    "Structure": "epsim.optimise.objective",
    "Weights": "epsim.optimise.objective",
    "planning_objective": "epsim.optimise.evaluate",
    "PlanningScene": "epsim.optimise.scene",
    "Session": "epsim.optimise.session",
    "Progress": "epsim.optimise.session",
    "Settings": "epsim.optimise.driver",
    "Outcome": "epsim.optimise.driver",
    "plan_treatment": "epsim.optimise.driver",
    "Rates": "epsim.optimise.adam",
    "cma_es": "epsim.optimise.cmaes",
    "InfeasibleError": "epsim.optimise.feasibility",
    "check_feasible": "epsim.optimise.feasibility",
    "planning_setup": "epsim.optimise.setup",
    "read_request": "epsim.optimise.setup",
    "run_planning": "epsim.optimise.planner",
    "PlanReport": "epsim.optimise.planner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'epsim.optimise' has no attribute {name!r}")
