"""The AMG hierarchy is a function of the matrix alone (plans built on it are reproducible)."""

import numpy as np
import pyamg

from epsim.solve.amg import build_amg


def _hierarchy(a, global_seed):
    np.random.seed(global_seed)
    return build_amg(a)


def test_hierarchy_does_not_depend_on_numpy_global_random_state():
    # pyamg draws the start vector of its spectral-radius estimates from NumPy's global
    # random state; unseeded, two builds of this matrix differ (even in level sizes).
    a = pyamg.gallery.poisson((24, 24, 12), format="csr")
    first, second = _hierarchy(a, 1), _hierarchy(a, 2)
    assert first.n_levels == second.n_levels > 1
    for one, other in zip(first.levels, second.levels):
        np.testing.assert_array_equal(np.asarray(one.prolong.ell_vals),
                                      np.asarray(other.prolong.ell_vals))
        assert float(one.lmax) == float(other.lmax)
    np.testing.assert_array_equal(first.coarse_inverse, second.coarse_inverse)


def test_building_a_hierarchy_leaves_the_callers_random_state_alone():
    a = pyamg.gallery.poisson((10, 10, 10), format="csr")
    np.random.seed(7)
    expected = np.random.rand(3)
    np.random.seed(7)
    build_amg(a)
    np.testing.assert_array_equal(np.random.rand(3), expected)
