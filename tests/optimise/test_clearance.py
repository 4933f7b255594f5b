"""Clearance checks and the projection of steps onto layouts gmsh can mesh; checkpoint data."""

import jax.numpy as jnp
import numpy as np
import pytest

from epsim.errors import InputError
from epsim.mesh.scene import Box, SphereInclusion
from epsim.optimise.checkpoint import Checkpoint, decode, encode
from epsim.optimise.clearance import Clearance, project_step
from epsim.optimise.geometry import box_exit, signed_distance_function
from epsim.optimise.plan import Plan, make_needles, tips

MM = 1e-3
DOMAIN = Box(center=(0, 0, 0), size=(0.04, 0.04, 0.04), material="liver")
SPHERE = SphereInclusion("tumour", (0, 0, 0), 8 * MM, material="tumour")
RADIUS, ACTIVE, GAP = 0.5 * MM, 10 * MM, 0.3 * MM


def clearance(n: int) -> Clearance:
    return Clearance(
        names=tuple(f"n{i}" for i in range(n)), radius=np.full(n, RADIUS),
        surfaces=(("tumour surface", signed_distance_function(SPHERE)),
                  ("tissue surface", signed_distance_function(DOMAIN))),
        exit_point=box_exit(DOMAIN.center, DOMAIN.size), gap=GAP,
    )


def vertical(x, y, z_tip):
    return np.array([[x, y, z_tip]]), np.array([[0.0, 0.0, 1.0]])


def kinds(c, tip, axis):
    return {v.kind for v in c.violations(tip, axis)}


def test_a_needle_crossing_the_surface_steeply_is_clear():
    # through the sphere at 3 mm off centre: crossings at a steep angle, ends away from surfaces
    assert kinds(clearance(1), *vertical(3 * MM, 0, -14 * MM)) == set()


def test_a_needle_grazing_the_surface_is_caught():
    # axis 8.5 mm from the centre: the 0.5 mm cylinder touches the 8 mm sphere tangentially
    c = clearance(1)
    assert kinds(c, *vertical(8.5 * MM, 0, -14 * MM)) == {"grazing"}
    assert c.excess(*vertical(8.5 * MM, 0, -14 * MM)) > 0
    # a gap of twice the clearance is clear
    assert kinds(c, *vertical(8.5 * MM + 2 * GAP, 0, -14 * MM)) == set()


def test_a_tip_at_the_tissue_surface_is_caught_an_end_on_a_structure_is_not():
    c = clearance(1)
    assert kinds(c, *vertical(3 * MM, 0, -19.9 * MM)) == {"tip"}  # 0.1 mm inside the tissue
    # ends on the sphere: left to the meshing retries (a needle passing the target's rim must
    # be able to move its ends across the surface)
    assert kinds(c, *vertical(0, 0, -8.1 * MM)) == set()
    assert kinds(c, *vertical(0, 0, 8.1 * MM - ACTIVE)) == set()


def test_needles_too_close_are_caught():
    c = clearance(2)
    tip = np.array([[3 * MM, 0, -14 * MM], [3 * MM + 2 * RADIUS + GAP, 0, -14 * MM]])
    axis = np.array([[0, 0, 1.0], [0, 0, 1.0]])
    found = c.violations(tip, axis)
    assert [v.kind for v in found] == ["spacing"] and "n1" in str(found[0])
    tip[1, 0] = 3 * MM + 2 * RADIUS + 2.2 * GAP
    assert c.violations(tip, axis) == []


def test_a_step_into_a_forbidden_band_is_moved_out_of_it():
    c = clearance(1)
    axis = np.array([[0, 0, 1.0]])
    needles = make_needles(["n0"], [[10 * MM, 0, -14 * MM]], [[10 * MM, 0, 20 * MM]], [RADIUS],
                           [ACTIVE])
    old = Plan(jnp.zeros((1, 3)), jnp.zeros((1, 2)), jnp.array([500.0]))
    # the step would leave the cylinder grazing the sphere (axis 0.6 mm from its surface)
    new = Plan(jnp.array([[-1.4 * MM, 0, 0]]), jnp.zeros((1, 2)), jnp.array([600.0]))
    assert kinds(c, tips(needles, new), axis) == {"grazing"}
    plan, fraction = project_step(c, needles, old, new)
    assert fraction == 0.75  # the nearest fraction of the step outside the band
    assert c.violations(tips(needles, plan), axis) == []
    assert float(plan.voltage[0]) == 600.0  # voltages are not the projection's business
    # a clear step is taken as it is
    clear = Plan(jnp.array([[-0.5 * MM, 0, 0]]), jnp.zeros((1, 2)), jnp.array([600.0]))
    assert project_step(c, needles, old, clear) == (clear, 1.0)


def test_a_clearance_broken_at_the_start_does_not_hold_the_steps_back():
    c = clearance(1)
    axis = np.array([[0, 0, 1.0]])
    needles = make_needles(["n0"], [[8.5 * MM, 0, -14 * MM]], [[8.5 * MM, 0, 20 * MM]],
                           [RADIUS], [ACTIVE])
    old = Plan(jnp.zeros((1, 3)), jnp.zeros((1, 2)), jnp.array([500.0]))
    assert kinds(c, tips(needles, old), axis) == {"grazing"}  # the user's start grazes
    # along the band: still grazing, but no clearance newly broken
    new = Plan(jnp.array([[0, 0.2 * MM, 0.5 * MM]]), jnp.zeros((1, 2)), jnp.array([500.0]))
    assert kinds(c, tips(needles, new), axis) == {"grazing"}
    assert project_step(c, needles, old, new) == (new, 1.0)


def test_checkpoint_data_round_trips_exactly(tmp_path):
    plan = Plan(jnp.array([[1e-3, -2e-3, 0.1]]), jnp.zeros((1, 2)), jnp.array([123.456789]))
    state = {"plan": plan, "rows": [{"a": np.arange(3.0), "s": "adam", "x": 0.1 + 0.2,
                                     "n": 7, "ok": True, "none": None}], "inf": float("inf")}
    store = Checkpoint(tmp_path, "abc")
    store.save(state)
    back = store.load()
    assert np.array_equal(back["plan"].voltage, plan.voltage)
    assert np.array_equal(back["plan"].shift, plan.shift)
    row = back["rows"][0]
    assert row["x"] == 0.1 + 0.2 and row["n"] == 7 and row["ok"] is True and row["none"] is None
    assert np.array_equal(row["a"], np.arange(3.0)) and back["inf"] == float("inf")
    assert decode(encode([1, "x"], {}), {}) == [1, "x"]


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    Checkpoint(tmp_path, "made-for-this").save({"step": 1})
    with pytest.raises(InputError, match="another config"):
        Checkpoint(tmp_path, "asked-for-that").load()
    with pytest.raises(InputError, match="nothing to resume"):
        Checkpoint(tmp_path / "elsewhere", "x").load()
