"""One solve per electrode and the conductance matrix give every pair, idle needles floating."""

import jax.numpy as jnp
import numpy as np

from epsim.optimise.model import linear_response
from epsim.physics import Constant
from epsim.simulate import Pairs, simulate
from epsim.solve import Newton
from tests.helpers.scenes import layout, small_case

SOLVER = Newton(rtol=1e-11)


def test_superposition_equals_solving_each_pair():
    scene, _, needles, plan = small_case(3)
    tip, axis = layout(needles, plan)
    mesh = scene.mesh(tip, axis, np.asarray(needles.length))
    data = scene.mesh_data(mesh, tip, axis)
    points = jnp.asarray(mesh.points)
    voltage = jnp.array([700.0, 1100.0, 400.0])
    lin = linear_response(data, points, voltage, solver=SOLVER)
    pairs = Pairs(data.anode, data.cathode, voltage)
    sigma0 = data.materials.labels @ data.materials.sigma0
    ref = simulate(data.problem, points, Constant(sigma0), pairs, solver=SOLVER)
    scale = float(np.max(ref.e_mag))
    np.testing.assert_allclose(lin.e_mag, ref.e_mag, rtol=0, atol=1e-7 * scale)
    np.testing.assert_allclose(lin.current, ref.current, rtol=1e-7)
