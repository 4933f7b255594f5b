"""Permeabilisation and Peleg-Fermi survival: closed forms, monotonicity, sequence rules, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from epsim.errors import MaterialError
from epsim.physics.cell_death import (
    EquivalentPulses,
    IndependentPairs,
    PelegFermi,
    critical_field,
    monotone_onset,
    permeabilisation,
    permeabilisation_gompertz,
    survival,
    survival_monotone,
    survival_sequence,
)

P = PelegFermi()
FIELDS = jnp.linspace(0.0, 4e5, 161)  # V/m, 0 to 4000 V/cm
PULSES = jnp.arange(0.0, 121.0, 1.0)


def published_is_monotone(e, n, p=P):
    """Region where the closed form is non-increasing in n [derived]: E >= (1 - k1/k2) Ec(n)."""
    return e >= (1 - p.k1 / p.k2) * critical_field(n, p.ec0, p.k1)


def test_permeabilisation_forms():
    e = jnp.linspace(0.0, 1e5, 101)
    p = permeabilisation(e, 5e4, 5e3)
    assert float(permeabilisation(5e4, 5e4, 5e3)) == pytest.approx(0.5)
    assert np.all(np.diff(p) > 0) and float(p[0]) < 1e-4 and float(p[-1]) > 1 - 1e-4
    g = permeabilisation_gompertz(e, 5e4, 5e3)
    assert float(permeabilisation_gompertz(5e4, 5e4, 5e3)) == pytest.approx(np.exp(-1.0))
    assert np.all(np.diff(g) >= 0)


def test_half_survival_at_critical_field():
    n = jnp.array([0.0, 1.0, 8.0, 20.0, 50.0, 90.0])
    ec = critical_field(n)
    np.testing.assert_allclose(survival(ec, n), 0.5, rtol=1e-12)
    np.testing.assert_allclose(survival_monotone(ec, n), 0.5, rtol=1e-12)


def test_closed_form_values():
    """Direct evaluation of 1 / (1 + exp((E - Ec0 e^{-k1 n}) / (A0 e^{-k2 n})))."""
    e, n = 1.2e5, 30.0
    ec, a = 399600 * np.exp(-0.03 * n), 144100 * np.exp(-0.06 * n)
    assert float(survival(e, n)) == pytest.approx(1 / (1 + np.exp((e - ec) / a)), rel=1e-12)


def test_monotone_in_field_everywhere():
    s = survival(FIELDS[:, None], PULSES[None, :])
    assert np.all(np.diff(s, axis=0) <= 1e-15)
    s = survival_monotone(FIELDS[:, None], PULSES[None, :])
    assert np.all(np.diff(s, axis=0) <= 1e-15)


def test_published_form_rises_with_pulses_below_the_derived_bound():
    """The closed form is non-increasing in n exactly where E >= (1 - k1/k2) Ec(n)."""
    e, n = FIELDS[:, None], PULSES[None, :]
    ds = jax.vmap(jax.vmap(jax.grad(survival, argnums=1), (None, 0)), (0, None))(FIELDS, PULSES)
    inside = published_is_monotone(e, n)
    assert np.all(ds[inside] <= 1e-15)
    assert np.any(~inside) and np.all(ds[~inside] >= 0)  # > 0 unless S rounds to 1
    assert np.all(ds[~inside & (survival(e, n) < 0.999)] > 0)
    # e.g. 8 pulses at 500 V/cm survive better than 1 (an artefact of the fit)
    assert float(survival(5e4, 8.0)) > float(survival(5e4, 1.0))


def test_repaired_form_is_monotone_and_equals_published_where_that_is():
    e, n = FIELDS[:, None], PULSES[None, :]
    s = survival_monotone(e, n)
    assert np.all(np.diff(s, axis=1) <= 1e-15)
    np.testing.assert_allclose(survival_monotone(FIELDS, 0.0), np.where(
        FIELDS < (1 - P.k1 / P.k2) * P.ec0, 1.0, survival(FIELDS, 0.0)), atol=1e-12)
    on = n >= monotone_onset(e)
    np.testing.assert_allclose(np.asarray(s)[np.broadcast_to(on, s.shape)],
                               np.asarray(survival(e, n))[np.broadcast_to(on, s.shape)],
                               rtol=1e-12, atol=1e-300)  # the repaired form floors S at e^-700
    # where repaired, more survival than the published curve (conservative for kill)
    assert np.all(np.asarray(s) >= np.asarray(survival(e, n)) - 1e-15)


def test_sequence_one_pair_is_the_closed_form_on_a_uniform_field():
    e = jnp.full((1, 5), 2e5)
    for n in (8.0, 20.0, 30.0):
        s = survival_sequence(e, [n])
        np.testing.assert_allclose(s, survival_monotone(2e5, n), rtol=1e-12)
        assert published_is_monotone(2e5, n)
        np.testing.assert_allclose(s, survival(2e5, n), rtol=1e-12)


@pytest.mark.parametrize("e", [2e3, 3e4, 5e4, 1e5, 1.5e5, 3e5])
def test_sequence_of_equal_fields_is_the_closed_form(e):
    n = jnp.array([8.0, 10.0, 4.0, 30.0])
    fields = jnp.full((4, 1), e)
    s = survival_sequence(fields, n)
    expected = survival_monotone(e, float(jnp.sum(n)))
    assert float(s[0]) == pytest.approx(float(expected), rel=1e-9, abs=1e-300)


def test_sequence_never_raises_survival_and_is_monotone_in_pulses():
    rng = np.random.default_rng(0)
    e = jnp.asarray(rng.uniform(0.0, 2.5e5, (5, 400)))
    n = jnp.asarray(rng.integers(1, 30, 5).astype(float))
    run = jax.jit(survival_sequence)
    # pairs with zero pulses are skipped, so prefixes of the sequence share one compilation
    history = [run(e, jnp.where(jnp.arange(5) <= p, n, 0.0)) for p in range(5)]
    np.testing.assert_allclose(history[0], survival_monotone(e[0], n[0]), rtol=1e-12)
    for a, b in zip(history[:-1], history[1:]):
        assert np.all(np.asarray(b) <= np.asarray(a) + 1e-12)
    for p in range(5):
        assert np.all(np.asarray(run(e, n.at[p].add(3.0))) <= np.asarray(history[-1]) + 1e-12)
    # monotone in the first pair's field
    assert np.all(np.asarray(run(e.at[0].mul(1.2), n)) <= np.asarray(history[-1]) + 1e-12)


def test_equivalent_pulses_not_monotone_in_later_fields():
    """Documented limitation (module docstring): from S = 0.88, a weaker second pair kills more."""
    s1 = float(survival_monotone(4e4, 74.01226752846837))
    assert s1 == pytest.approx(0.88, rel=1e-6)
    weak = survival_sequence(jnp.array([[4e4], [4e4]]), jnp.array([74.01226752846837, 1.0]))
    strong = survival_sequence(jnp.array([[4e4], [8e4]]), jnp.array([74.01226752846837, 1.0]))
    assert float(weak[0]) == pytest.approx(0.788, abs=1e-3)
    assert float(strong[0]) == pytest.approx(0.853, abs=1e-3)


def test_independent_pairs_rule():
    rng = np.random.default_rng(1)
    e = jnp.asarray(rng.uniform(0.0, 2.5e5, (3, 200)))
    n = jnp.array([8.0, 8.0, 8.0])
    s = survival_sequence(e, n, rule=IndependentPairs())
    np.testing.assert_allclose(s, np.prod(survival_monotone(e, 8.0), axis=0), rtol=1e-12)
    higher = survival_sequence(e * 1.1, n, rule=IndependentPairs())
    assert np.all(np.asarray(higher) <= np.asarray(s) + 1e-15)
    single = survival_sequence(e[:1], n[:1], rule=IndependentPairs())
    np.testing.assert_allclose(single, survival_sequence(e[:1], n[:1], rule=EquivalentPulses()),
                               rtol=1e-12)


def test_gradients_finite_and_match_differences():
    e = jnp.array([[6e4, 1.2e5, 2e5, 3e4, 0.0], [9e4, 1e5, 5e4, 2.5e5, 1e5]])
    n = jnp.array([8.0, 8.0])
    params = PelegFermi()

    @jax.jit
    def f(e, params):
        return jnp.sum(survival_sequence(e, n, params))

    g_e, g_p = jax.jit(jax.grad(f, argnums=(0, 1)))(e, params)
    for leaf in [g_e, *jax.tree.leaves(g_p)]:
        assert np.all(np.isfinite(leaf))
    h = 1.0
    for idx in [(0, 0), (1, 0), (0, 1), (1, 2), (0, 3)]:
        fd = (f(e.at[idx].add(h), params) - f(e.at[idx].add(-h), params)) / (2 * h)
        assert float(g_e[idx]) == pytest.approx(float(fd), rel=1e-4, abs=1e-12)
    hk = 1e-6
    fd = (f(e, PelegFermi(k1=0.03 + hk)) - f(e, PelegFermi(k1=0.03 - hk))) / (2 * hk)
    assert float(g_p.k1) == pytest.approx(float(fd), rel=1e-4)


def test_non_physical_parameters():
    for bad in [dict(ec0=-1.0), dict(a0=0.0), dict(k1=0.0), dict(k2=float("nan"))]:
        with pytest.raises(MaterialError):
            PelegFermi(**bad)
