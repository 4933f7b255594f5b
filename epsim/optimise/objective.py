"""The planning objective: smooth coverage minus penalties (docs/design.md, section 4).

    J = -coverage + w_goal * goal + w_spare * spare + w_healthy * healthy + w_current * current
        + w_spacing * spacing + w_keep_out * keep_out + w_entry * entry + w_domain * domain

- coverage: volume fraction of target plus margin (membership from the structures' signed
  distances at the moved cell centroids, a logistic over `membership_width`) whose field, a
  log-sum-exp smooth maximum over pairs, exceeds (1 + threshold_margin) x the therapy threshold
  (a logistic of relative width `field_width`);
- goal: (shortfall / 1 point)^2, the shortfall of the target's smooth coverage at the threshold
  itself (cells inside the target plus margin, the same logistic) below the coverage goal plus
  `goal_aim`; zero once the goal is reached. The coverage term alone trades coverage one for
  one against healthy tissue and spared structures, and that trade can settle below the goal
  (the phantom image plan at 96.4 % verified with every limit far off); this term makes the
  goal the first thing the optimiser pays for;
- spare: per spared structure, the smooth volume fraction above spare_fraction x its E_irr;
- healthy: healthy tissue volume above its material's E_irr, over the target volume;
- current: sum over pairs of relu(|I| / (current_fraction I_max) - 1)^2;
- spacing: relu(1 - s / s_min)^2 for every needle pair, relu(s / s_max - 1)^2 for firing pairs,
  s the needle spacing (mean distance of each active centre to the other axis);
- keep_out: relu((keep_out - clearance) / 1 mm)^2 per needle and spared structure, the
  clearance sampled along the active part;
- entry: relu((|entry - centre| - radius) / 1 mm)^2, entry the axis' exit point from the domain;
  (these three start `limit_margin` (3 %, and 0.3 mm for the keep-out) inside their limits, so
  that the penalised optimum lands on the right side of the hard limit);
- domain: relu((sd(tip) + 1 mm) / 1 mm)^2, tips at least 1 mm inside the tissue;
- sparsity (weight `optimise.pair_sparsity`, default 0): a smoothed L1 norm of the pair
  voltages over V_max that lets pairs that add nothing drop (`epsim.optimise.pairs`).

Voltages are kept in [min_voltage, max_voltage] by projection, not by a penalty. Pure JAX;
lengths in m, fields in V/m, currents in A.
"""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from epsim.fem.fields import safe_norm
from epsim.optimise.geometry import membership
from epsim.optimise.model import MeshData, Response
from epsim.optimise.plan import Needles, Plan, active_centres, axes, tips

MM = 1e-3
POINT = 0.01  # one percentage point of coverage


class Weights(eqx.Module):
    spare: float = eqx.field(static=True, default=50.0)
    healthy: float = eqx.field(static=True, default=0.2)
    current: float = eqx.field(static=True, default=10.0)
    spacing: float = eqx.field(static=True, default=100.0)
    keep_out: float = eqx.field(static=True, default=100.0)
    entry: float = eqx.field(static=True, default=100.0)
    domain: float = eqx.field(static=True, default=100.0)
    sparsity: float = eqx.field(static=True, default=0.0)  # optimise.pair_sparsity
    # 3 points short: 0.18 against coverage's 0.03, and 12x coverage's pull on the field
    goal: float = eqx.field(static=True, default=0.02)


class Structure(eqx.Module):
    """A scene structure for the objective: its signed distance, a JAX function of points
    (..., 3) -> (...), or a row of `MeshData.fixed_distance` (host-computed, STL)."""

    name: str = eqx.field(static=True)
    distance: Callable | None = eqx.field(static=True)
    fixed_row: int = eqx.field(static=True, default=-1)
    e_irr: float = eqx.field(static=True, default=0.0)

    def at_cells(self, data: MeshData, centroids: jax.Array) -> jax.Array:
        if self.distance is None:
            return data.fixed_distance[self.fixed_row]
        return self.distance(centroids)


class Goals(eqx.Module):
    """What a plan must achieve and respect (all static).

    Attributes:
        threshold: V/m, the coverage threshold (E_rev of the target material; E_irr for IRE).
        targets, spares: structures; a spare's `e_irr` is its material's.
        domain_distance: JAX signed distance of the tissue domain.
        exit_point: JAX function (tips, axes) -> (n, 3) entry points on the domain surface.
        min_voltage, max_voltage: V; max_current: A or None.
        min_spacing, max_spacing: m or None; keep_out: m; entry_centre (3,) m or None;
        entry_radius: m.
        firing: (i, j) needle index pairs that fire together (for max_spacing).
    """

    threshold: float = eqx.field(static=True)
    targets: tuple[Structure, ...] = eqx.field(static=True)
    spares: tuple[Structure, ...] = eqx.field(static=True)
    domain_distance: Callable = eqx.field(static=True)
    exit_point: Callable = eqx.field(static=True)
    min_voltage: float = eqx.field(static=True, default=0.0)
    max_voltage: float = eqx.field(static=True, default=3000.0)
    max_current: float | None = eqx.field(static=True, default=None)
    min_spacing: float | None = eqx.field(static=True, default=None)
    max_spacing: float | None = eqx.field(static=True, default=None)
    keep_out: float = eqx.field(static=True, default=0.0)
    entry_centre: tuple | None = eqx.field(static=True, default=None)
    entry_radius: float = eqx.field(static=True, default=0.0)
    firing: tuple[tuple[int, int], ...] = eqx.field(static=True, default=())
    target_margin: float = eqx.field(static=True, default=0.0)
    membership_width: float = eqx.field(static=True, default=0.5 * MM)
    threshold_margin: float = eqx.field(static=True, default=0.05)
    field_width: float = eqx.field(static=True, default=0.03)
    max_width: float = eqx.field(static=True, default=0.01)
    spare_fraction: float = eqx.field(static=True, default=0.9)
    current_fraction: float = eqx.field(static=True, default=0.95)
    limit_margin: float = eqx.field(static=True, default=0.03)
    coverage_goal: float = eqx.field(static=True, default=0.0)  # fraction; 0: no goal term
    goal_aim: float = eqx.field(static=True, default=0.003)  # aim above it (fresh-mesh slack)
    weights: Weights = eqx.field(static=True, default=Weights())


def smooth_max(e_mag: jax.Array, width: float) -> jax.Array:
    """Log-sum-exp over pairs (axis 0) with temperature `width` (V/m): at most max + width ln n."""
    return width * jax.nn.logsumexp(e_mag / width, axis=0)


def _distance_to_lines(points, bases, directions):
    """(n, n) distance of point i to the line through bases[j] along unit directions[j]."""
    d = points[:, None, :] - bases[None, :, :]
    along = jnp.sum(d * directions[None, :, :], axis=-1)
    return safe_norm(d - along[..., None] * directions[None, :, :])


def spacing_matrix(needles: Needles, plan: Plan) -> jax.Array:
    """(n, n) m, needle spacing: mean distance of each active centre to the other's axis line
    (the convention of `epsim.config.spacing`); the diagonal is zero."""
    centres = active_centres(needles, plan)
    lines = _distance_to_lines(centres, tips(needles, plan), axes(needles, plan))
    return 0.5 * (lines + lines.T)


def geometry_terms(goals: Goals, needles: Needles, plan: Plan) -> dict[str, jax.Array]:
    """Penalties that need no field: spacing, keep-out, entry region, tips in the tissue."""
    n = needles.count
    s = spacing_matrix(needles, plan)
    upper = jnp.triu(jnp.ones((n, n), dtype=bool), 1)
    m = goals.limit_margin  # penalties start this fraction inside the limits
    spacing = jnp.asarray(0.0)
    if goals.min_spacing:
        low = (1.0 + m) * goals.min_spacing
        spacing += jnp.sum(jnp.where(upper, jax.nn.relu(1.0 - s / low) ** 2, 0.0))
    if goals.max_spacing and goals.firing:
        i, j = (jnp.asarray(x) for x in zip(*goals.firing))
        spacing += jnp.sum(jax.nn.relu(s[i, j] / ((1.0 - m) * goals.max_spacing) - 1.0) ** 2)
    tip, axis = tips(needles, plan), axes(needles, plan)
    keep_out = jnp.asarray(0.0)
    if goals.spares:
        t = jnp.linspace(0.0, 1.0, 9)[None, :, None] * needles.active_length[:, None, None]
        samples = tip[:, None, :] + t * axis[:, None, :]  # (n, 9, 3)
        for spare in goals.spares:
            if spare.distance is None:
                continue
            clearance = jnp.min(spare.distance(samples), axis=1) - needles.radius
            keep_out += jnp.sum(jax.nn.relu((goals.keep_out + m * MM * 10 - clearance) / MM) ** 2)
    entry = jnp.asarray(0.0)
    if goals.entry_centre is not None:
        miss = safe_norm(goals.exit_point(tip, axis) - jnp.asarray(goals.entry_centre))
        entry = jnp.sum(jax.nn.relu((miss - (1.0 - m) * goals.entry_radius) / MM) ** 2)
    domain = jnp.sum(jax.nn.relu((goals.domain_distance(tip) + MM) / MM) ** 2)
    return {"spacing": spacing, "keep_out": keep_out, "entry": entry, "domain": domain}


def _min_distance(structures, data, centroids):
    return jnp.min(jnp.stack([s.at_cells(data, centroids) for s in structures]), axis=0)


def field_terms(goals: Goals, data: MeshData, response: Response) -> tuple[dict, dict]:
    """Smooth terms that need the field, and hard diagnostics (no gradients intended).

    Returns:
        (terms, metrics): terms coverage, spare, healthy, current (scalars); metrics
        coverage_hard (target plus margin, centroid membership), spare_hard (n_spares,)
        fractions above E_irr, current_ratio (n_pairs,) |I| / I_max (or 0).
    """
    thr = goals.threshold
    e = smooth_max(response.e_mag, goals.max_width * thr)
    e_hard = jnp.max(response.e_mag, axis=0)
    vol, c = response.volumes, response.centroids
    d_target = _min_distance(goals.targets, data, c)
    w_target = membership(d_target, goals.target_margin, goals.membership_width)
    aim = (1.0 + goals.threshold_margin) * thr
    covered = jax.nn.sigmoid((e - aim) / (goals.field_width * thr))
    coverage = jnp.sum(vol * w_target * covered) / jnp.sum(vol * w_target)
    in_target = (d_target <= goals.target_margin).astype(vol.dtype)
    at_threshold = jax.nn.sigmoid((e - thr) / (goals.field_width * thr))
    reached = jnp.sum(vol * in_target * at_threshold) / jnp.sum(vol * in_target)
    shortfall = (jax.nn.relu(goals.coverage_goal + goals.goal_aim - reached)
                 if goals.coverage_goal else jnp.asarray(0.0))
    coverage_hard = jnp.sum(vol * in_target * (e_hard >= thr)) / jnp.sum(vol * in_target)

    healthy_w = 1.0 - membership(d_target, 0.0, goals.membership_width)
    spare, spare_hard = jnp.asarray(0.0), []
    for s in goals.spares:
        d = s.at_cells(data, c)
        w = membership(d, 0.0, goals.membership_width)
        above = jax.nn.sigmoid((e - goals.spare_fraction * s.e_irr) / (goals.field_width * s.e_irr))
        spare += jnp.sum(vol * w * above) / jnp.sum(vol * w)
        inside = (d <= 0.0).astype(vol.dtype)
        above_irr = jnp.sum(vol * inside * (e_hard >= s.e_irr))
        spare_hard.append(above_irr / jnp.maximum(jnp.sum(vol * inside), 1e-30))
        healthy_w = healthy_w * (1.0 - w)
    ablated = jax.nn.sigmoid((e - response.e_irr) / (goals.field_width * response.e_irr))
    target_volume = jnp.sum(vol * membership(d_target, 0.0, goals.membership_width))
    healthy = jnp.sum(vol * healthy_w * ablated) / target_volume

    if goals.max_current:
        ratio = jnp.abs(response.current) / goals.max_current
        current = jnp.sum(jax.nn.relu(ratio / goals.current_fraction - 1.0) ** 2)
    else:
        ratio = jnp.zeros_like(response.current)
        current = jnp.asarray(0.0)
    terms = {"coverage": coverage, "goal": (shortfall / POINT) ** 2, "spare": spare,
             "healthy": healthy, "current": current}
    metrics = {
        "coverage_hard": coverage_hard,
        "spare_hard": jnp.stack(spare_hard) if spare_hard else jnp.zeros(0),
        "current_ratio": ratio,
    }
    return terms, metrics


def total(goals: Goals, terms: dict) -> jax.Array:
    """The scalar objective (to minimise)."""
    w = goals.weights
    return (
        -terms["coverage"] + w.goal * terms["goal"] + w.spare * terms["spare"]
        + w.healthy * terms["healthy"]
        + w.current * terms["current"] + w.spacing * terms["spacing"]
        + w.keep_out * terms["keep_out"] + w.entry * terms["entry"] + w.domain * terms["domain"]
        + w.sparsity * terms.get("sparsity", 0.0)
    )
