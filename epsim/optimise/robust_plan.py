"""`epsim optimise` with an `optimise: robust:` block: the planner minimises the robust objective
(`epsim.optimise.robust`) over fixed scenario draws, and the verified plan is re-evaluated under
the same scenarios on its fresh mesh (`epsim.optimise.scenarios`).

    robust = robust_planning(cfg, block, config_dir)   # None without a robust block
    session = Session(..., robust=robust)              # evaluations use the robust objective
    report = robust.verify(kept_config)                # coverage quantiles, per-cell P(E >= ...)

The draws (`scenarios.draw`, seed `robust.seed`) are made once. Each scenario's placement
error is split into the needle array's common rigid motion, carried by the anatomy (exact on
one mesh where every structure has an analytic shape: `scenarios.split_common`,
`robust.moved_anatomy`), and each needle's remainder; on each reference mesh the remainder is
scaled back to the mesh motion's limits (`within_limits`, as `epsim run --scenarios` does), so
every scenario is evaluated on the plan's one mesh, vmapped. Conductivity factors are drawn
per material of the config and applied to the mesh's materials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from epsim.config.schema import OptimiseBlock, ResolvedConfig
from epsim.errors import InputError
from epsim.optimise.robust import RobustWeights, robust_evaluate_batch, robust_evaluate_one
from epsim.optimise.sheet import column, table
from epsim.optimise.scenarios import (
    Draws,
    ScenarioReport,
    Uncertainty,
    block_uncertainty,
    check_uncertainty,
    common_allowed,
    draw,
    run_scenarios,
    split_common,
    within_limits,
)


@dataclass
class RobustPlanning:
    """Fixed scenario draws and the robust objective's weights for one planning run.

    Attributes:
        draws: placement and per-material conductivity factors (materials in `materials` order).
        uncertainty, n: the model and the number of scenarios.
        kept: mesh id -> share of each scenario's drawn perturbation kept on that mesh.
    """

    cfg: ResolvedConfig
    uncertainty: Uncertainty
    n: int
    weights: RobustWeights
    draws: Draws
    materials: tuple[str, ...]
    kept: dict = field(default_factory=dict)
    _per_mesh: dict = field(default_factory=dict)

    def scenarios(self, ref, needles) -> tuple:
        """(shifts, tilts, factors, frames, pivot) of the scenarios on the mesh `ref` (a
        `MeshRef`); frames and pivot None where the anatomy cannot move."""
        if ref.id not in self._per_mesh:
            data, mesh = ref.data, ref.mesh
            cells = data.problem.pattern.cells
            common = common_allowed(self.cfg) and bool(data.materials.shapes)
            # the remainders' limits are those of this mesh's own layout (a remesh moved it)
            at_mesh = eqx.tree_at(lambda n: (n.tip, n.axis), needles,
                                  (data.motion.tip0, data.motion.axis0))
            shifts, tilts, frames, kept = [], [], [], []
            pivot = None
            for s in range(self.n):
                shift, tilt = self.draws.shift[s], self.draws.tilt[s]
                if common:
                    frame, shift, tilt, pivot = split_common(needles, shift, tilt)
                    frames.append(frame)
                shift, tilt, share = within_limits(data.motion, at_mesh, cells, data.ref_volumes,
                                                   shift, tilt)
                shifts.append(shift)
                tilts.append(tilt)
                kept.append(share)
            rows = [self.materials.index(r) for r in mesh.region_names]
            factors = self.draws.factors[:, rows, :]
            self.kept[ref.id] = np.asarray(kept)
            self._per_mesh[ref.id] = (
                jnp.asarray(np.stack(shifts)), jnp.asarray(np.stack(tilts)), jnp.asarray(factors),
                jnp.asarray(np.stack(frames)) if common else None,
                jnp.asarray(pivot) if common else None)
        return self._per_mesh[ref.id]

    def evaluators(self, ref, needles):
        """(one, batch): `evaluate_one` and `evaluate_batch` of the robust objective on `ref`."""
        scenarios = self.scenarios(ref, needles)

        def one(plan, *args):
            return robust_evaluate_one(plan, *args, scenarios, self.weights)

        def batch(plans, *args):
            return robust_evaluate_batch(plans, *args, scenarios, self.weights)

        return one, batch

    def verify(self, cfg: ResolvedConfig, progress=None) -> ScenarioReport:
        """The verified plan (`cfg`, its config) under the same scenarios, full nonlinear model,
        on its fresh mesh."""
        return run_scenarios(cfg, self.n, self.uncertainty, progress=progress)

    def table(self, report: ScenarioReport) -> dict:
        """plan.json's table of the target coverage quantiles over the scenarios."""
        rev, irr = report.quantiles("rev"), report.quantiles("irr")
        rows = [{"quantile": f"P{q}", "rev": 100 * rev[q], "irr": 100 * irr[q]} for q in rev]
        return table(f"Target coverage under uncertainty ({self.n} scenarios)",
                     [column("quantile", "quantile"),
                      column("rev", "coverage at E_rev", "%", 1),
                      column("irr", "coverage at E_irr", "%", 1)], rows)

    def text(self, report: ScenarioReport) -> str:
        w = self.weights
        clipped = [float(np.median(k)) for k in self.kept.values() if np.any(k < 1.0)]
        return "\n".join([
            f"robust plan: {w.mean:g} x mean + {w.cvar:g} x CVaR_{w.alpha:g} of the objective "
            f"over {self.n} scenarios (seed {self.uncertainty.seed})"
            + (f"; on {len(clipped)} planning mesh(es) the needles' own perturbations (beyond "
               f"the array's common motion) were pulled back within the mesh motion's limits "
               f"(median share kept {min(clipped):.0%})"
               if clipped else ""),
            "verification under the same scenarios (fresh mesh, nonlinear model):",
            report.text()])


def robust_planning(cfg: ResolvedConfig, block: OptimiseBlock, config_dir,
                    n_needles: int) -> RobustPlanning | None:
    """The robust set-up of a planning request, or None without an `optimise: robust:` block.

    Raises:
        InputError: as `scenarios.check_uncertainty` (no target, imported mesh with placement
            uncertainty, a posterior that cannot be read or does not fit the config).
    """
    if block.robust is None:
        return None
    if block.needles is not None:
        raise InputError("optimise.robust: not available with optimise.needles (the count "
                         "search); plan the chosen count robustly from its plan.yaml")
    u = block_uncertainty(block.robust, config_dir)
    n = block.robust.scenarios
    check_uncertainty(cfg, n, u)
    materials = tuple(cfg.materials)
    weights = RobustWeights(block.robust.objective.mean, block.robust.objective.cvar,
                            block.robust.objective.alpha)
    return RobustPlanning(cfg, u, n, weights, draw(u, n, n_needles, cfg, materials), materials)
