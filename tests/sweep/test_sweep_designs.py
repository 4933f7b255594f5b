"""Latin hypercube and random designs (scipy.stats.qmc since issue 16): statistically equivalent
to the hand-written Latin hypercube they replace, and reproducible from the seed. No solves."""

from __future__ import annotations

import numpy as np
from scipy import stats

from epsim.config.schema import LatinAxis, UniformAxis
from epsim.sweep.axes import sampled_values


def draws(kind, n: int, seed: int, path: str = "materials.tumour.sigma1") -> np.ndarray:
    spec = kind(kind="latin" if kind is LatinAxis else "uniform", low=[0.0, 0.0], high=[1.0, 1.0])
    return np.array(sampled_values(spec, path, n, seed, ("sweep",)))


def hand_written_latin(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """The design epsim drew before: a permutation of the strata per component, uniform within."""
    strata = np.stack([rng.permutation(n) for _ in range(d)], axis=-1)
    return (strata + rng.random((n, d))) / n


def test_latin_is_a_latin_hypercube_with_uniform_marginals():
    n = 64
    u = draws(LatinAxis, n, seed=5)
    for j in range(2):
        assert sorted(np.floor(u[:, j] * n).astype(int)) == list(range(n))
        assert stats.kstest(u[:, j], "uniform").pvalue > 0.05


def test_latin_statistically_equivalent_to_the_hand_written_design():
    n, reps = 16, 300
    new = np.array([draws(LatinAxis, n, seed=s) for s in range(reps)])
    rng = np.random.default_rng(0)
    old = np.array([hand_written_latin(n, 2, rng) for _ in range(reps)])
    # the pooled samples come from one distribution (uniform on the square) ...
    for j in range(2):
        assert stats.ks_2samp(new[:, :, j].ravel(), old[:, :, j].ravel()).pvalue > 0.01
    # ... and the mean of a smooth function is estimated with the same variance reduction
    f = lambda x: np.exp(x[..., 0]) + x[..., 1] ** 2  # noqa: E731
    var_new, var_old = np.var(f(new).mean(axis=1)), np.var(f(old).mean(axis=1))
    var_random = np.var(f(np.random.default_rng(1).random((reps, n, 2))).mean(axis=1))
    assert 0.6 < var_new / var_old < 1.6 and var_new < 0.2 * var_random


def test_same_seed_same_samples_and_one_stream_per_axis():
    for kind in (LatinAxis, UniformAxis):
        a, b = draws(kind, 20, seed=7), draws(kind, 20, seed=7)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, draws(kind, 20, seed=8))
        assert not np.array_equal(a, draws(kind, 20, seed=7, path="materials.tumour.sigma0"))
