"""A posteriori error indicator of a P1 potential: Zienkiewicz-Zhu flux recovery.

The current density of a P1 solution, J_h = sigma grad(phi_h), is constant per cell. Averaging
it onto the nodes (volume-weighted, separately per material, because the tangential current
jumps where the conductivity does) and interpolating linearly gives a recovered J*, closer to
the true current density than J_h where the solution is smooth (Zienkiewicz & Zhu 1987,
Int J Numer Meth Eng 24:337). The indicator of a cell is the energy of the difference,

    eta_K^2 = integral over K of |J* - J_h|^2 / sigma_K   (W),

exact for the linear J* - J_h: with d_a = J*(corner a) - J_h, the P1 mass matrix gives
vol / 20 (sum_a |d_a|^2 + |sum_a d_a|^2). Its sum over the cells estimates the squared energy
error, and for a P1 Galerkin solution with the potentials fixed on the electrodes that is also
V (I_h - I) (docs/physics.md, section 6): the computed current is too high by about
eta^2 / V. The same difference gives a field error per cell, the root mean square of
|J* - J_h| / sigma_K over the cell.

Conductivity here is the secant conductivity of the solved field (sigma(|E|) per cell), so the
same formulas serve the nonlinear problem to leading order.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from epsim.fem.elements import Elements


def recovery_groups(cells, cell_material) -> tuple[np.ndarray, int]:
    """The recovery patch of each cell corner: one per (node, material) pair.

    Args:
        cells: (n_cells, 4) node indices; cell_material: (n_cells,) int, cells of one material
            share a conductivity law (recovery does not average across materials).

    Returns:
        ((4, n_cells) int32 patch id per corner, number of patches). Host-side, once per mesh.
    """
    cells = np.asarray(cells, dtype=np.int64)
    material = np.asarray(cell_material, dtype=np.int64)
    key = cells.T * (int(material.max(initial=0)) + 1) + material[None, :]
    _, inverse = np.unique(key.ravel(), return_inverse=True)
    return inverse.reshape(4, -1).astype(np.int32), int(inverse.max(initial=-1)) + 1


class Indicator(NamedTuple):
    """The indicator of one solution.

    Attributes:
        eta_sq: (n_cells,) W, eta_K^2 per cell.
        field_error: (n_cells,) V/m, root mean square of |J* - J_h| / sigma over each cell.
    """

    eta_sq: jax.Array
    field_error: jax.Array


def recovered_corners(geometry: Elements, groups: jax.Array, n_groups: int,
                      flux: jax.Array) -> jax.Array:
    """The recovered per-cell vector at each cell corner, (4, 3, n_cells).

    flux: (3, n_cells), any per-cell vector field; groups: (4, n_cells) from `recovery_groups`.
    Each patch value is the volume-weighted mean of the flux over the patch's cells.
    """
    w = jnp.abs(geometry.volumes)
    ids = groups.ravel()
    weight = jax.ops.segment_sum(jnp.tile(w, 4), ids, n_groups)
    per = [jax.ops.segment_sum(jnp.tile(w * flux[j], 4), ids, n_groups) / weight for j in range(3)]
    return jnp.stack([jnp.take(p, groups) for p in per], axis=1)


def zz_indicator(geometry: Elements, groups: jax.Array, n_groups: int, phi: jax.Array,
                 sigma: jax.Array) -> Indicator:
    """Zienkiewicz-Zhu indicator of a nodal potential.

    Args:
        geometry: `epsim.fem.elements` of the mesh.
        groups, n_groups: from `recovery_groups(cells, cell_material)` (n_groups static).
        phi: (n_nodes,) V; sigma: (n_cells,) S/m, the (secant) conductivity of each cell.
    """
    flux = sigma * geometry.gradient(phi)  # (3, n_cells) A/m^2
    d = recovered_corners(geometry, groups, n_groups, flux) - flux[None]  # (4, 3, n_cells)
    squares = jnp.sum(d * d, axis=(0, 1)) + jnp.sum(jnp.sum(d, axis=0) ** 2, axis=0)
    mean_sq = squares / 20.0  # (A/m^2)^2, mean of |J* - J_h|^2 over the cell
    resistivity = jnp.where(sigma > 0, 1.0 / jnp.where(sigma > 0, sigma, 1.0), 0.0)
    return Indicator(
        eta_sq=jnp.abs(geometry.volumes) * mean_sq * resistivity,
        field_error=jnp.sqrt(mean_sq) * resistivity,
    )


def current_error(eta_sq_total: jax.Array, voltage: jax.Array, current: jax.Array) -> jax.Array:
    """Estimated relative error of a pair current, eta^2 / (V I) (1; the computed current is
    the higher one). eta_sq_total: () W, voltage: () V, current: () A."""
    energy = jnp.abs(voltage * current)
    return jnp.where(energy > 0, eta_sq_total / jnp.where(energy > 0, energy, 1.0), 0.0)
