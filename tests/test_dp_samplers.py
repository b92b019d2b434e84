"""Exact-chord hit-and-run: goodness of fit to exact 1-D and 2-D densities, diagnostics, errors.

Goodness-of-fit tests run at a false-alarm rate of 1e-6 (a correct sampler fails one run in a
million). Draws used in a test are independent: in one dimension every coordinate step is an
exact draw from the target; in two dimensions each of many independent chains contributes its
last state after a long burn-in.
"""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from pyomo_ecc.errors import InputError, ModelError
from pyomo_ecc.mechanisms.samplers import (HitAndRun, Polytope, _kernel, ess, from_bounds, rhat,
                                           truncated_exponential, truncated_normal)

pytestmark = pytest.mark.unit
ALARM = 1e-6


def interval(lo, hi):
    return Polytope(G=np.array([[1.0], [-1.0]]), h=np.array([hi, -lo]))


def test_truncated_exponential_inverse_cdf_is_exact():
    # F(t) = (e^{k(t-lo)} - 1) / (e^{k(hi-lo)} - 1); u -> F^{-1}(u) reproduces u
    u = np.linspace(0.001, 0.999, 50)
    for k in (-40.0, -1.0, 1e-14, 2.0, 300.0):
        t = truncated_exponential(k, 1.0, 3.0, u)
        F = np.expm1(k * (t - 1.0)) / np.expm1(2.0 * k) if abs(k) > 1e-10 else (t - 1.0) / 2.0
        assert np.allclose(F, u, atol=1e-9 if abs(k) < 100 else 1e-6), k
    # rate 1e12 on [0, 1]: every draw at the upper end, finite
    t = truncated_exponential(1e12, 0.0, 1.0, u)
    assert np.all(np.isfinite(t)) and np.all(t > 1 - 1e-10)


@pytest.mark.parametrize("a, b", [(-1.0, 0.5), (2.0, 3.0), (-3.0, -1.0), (6.0, 8.0),
                                  (40.0, 41.0), (-50.0, -40.0), (-0.2, 1e-3)])
def test_truncated_normal_fits_scipy_truncnorm(a, b):
    rng = np.random.default_rng(7)
    z = truncated_normal(np.zeros(40000), 1.0, a, b, rng)
    assert np.all((z >= a) & (z <= b))
    assert stats.kstest(z, stats.truncnorm(a, b).cdf).pvalue > ALARM


ENGINES = ["numpy"] + (["numba"] if _kernel() is not None else [])


@pytest.mark.parametrize("engine", ENGINES)
def test_one_dimensional_linear_density_ks_and_closed_form_mean(engine):
    # density e^{k x} on [0, L]: CDF expm1(k x)/expm1(k L), mean L/(1 - e^{-kL}) - 1/k
    L, k = 2.0, 1.5
    hr = HitAndRun(interval(0.0, L), g=np.array([1.0]), beta=k, engine=engine)
    x = hr.sample(2, np.random.default_rng(1), chains=15000, burn=1).flat()[:, 0]
    assert stats.kstest(x, lambda t: np.expm1(k * t) / np.expm1(k * L)).pvalue > ALARM
    mean = L / (1 - math.exp(-k * L)) - 1 / k
    assert abs(x.mean() - mean) < 5 * x.std() / math.sqrt(x.size)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("lo, hi, mu", [(0.0, 4.0, 1.5), (0.0, 1.0, 3.0), (0.0, 1.0, 50.0),
                                        (-1.0, 0.0, 0.2)])
def test_one_dimensional_quadratic_density_is_truncated_normal(engine, lo, hi, mu):
    # sw = 2 mu x - x^2 (beta 2): N(mu, 1/4) truncated to [lo, hi]; mu = 50 is 98 sd away
    hr = HitAndRun(interval(lo, hi), g=np.array([2 * mu]), H=np.array([[2.0]]), beta=2.0,
                   engine=engine)
    x = hr.sample(2, np.random.default_rng(2), chains=15000, burn=1).flat()[:, 0]
    sd = 1 / math.sqrt(4.0)
    ref = stats.truncnorm((lo - mu) / sd, (hi - mu) / sd, loc=mu, scale=sd)
    assert stats.kstest(x, ref.cdf).pvalue > ALARM


def test_compiled_inverse_normal_cdf_matches_scipy():
    if _kernel() is None:
        pytest.skip("numba not installed")
    from scipy.special import ndtri
    p = np.r_[1e-300, 1e-100, 1e-20, 1e-8, np.linspace(0.001, 0.999, 97), 1 - 1e-8]
    ours = np.array([_kernel()._ndtri(x) for x in p])
    assert np.allclose(ours, ndtri(p), rtol=1e-12, atol=1e-12)


def _last_states(hr, chains, burn, seed):
    return hr.sample(1, np.random.default_rng(seed), chains=chains, burn=burn).x[:, -1, :]


def _chi2_triangle(x, logdens, cells=4):
    """chi2 p-value of draws ``x`` on the triangle x, y >= 0, x + y <= 1 against the density
    exp(logdens) integrated over each grid cell (cut by the diagonal) with scipy's dblquad."""
    edges = np.linspace(0, 1, cells + 1)
    probs, counts = [], []
    for i in range(cells):
        for j in range(cells - i):
            x0, x1, y0, y1 = edges[i], edges[i + 1], edges[j], edges[j + 1]
            val = integrate.dblquad(lambda y, xx: math.exp(logdens(xx, y)), x0, x1,
                                    lambda xx: y0, lambda xx: min(y1, 1 - xx), epsabs=1e-12)[0]
            probs.append(val)
            counts.append(np.sum((x[:, 0] >= x0) & (x[:, 0] < x1) & (x[:, 1] >= y0) & (x[:, 1] < y1)))
    probs = np.array(probs) / np.sum(probs)
    counts = np.array(counts)
    assert counts.sum() == len(x)
    return stats.chisquare(counts, probs * counts.sum()).pvalue


TRIANGLE = Polytope(G=np.array([[-1.0, 0], [0, -1], [1, 1]]), h=np.array([0.0, 0, 1]))


@pytest.mark.parametrize("engine", ENGINES)
def test_two_dimensional_linear_tilt_on_triangle_chi2(engine):
    g = np.array([2.0, -1.0])
    hr = HitAndRun(TRIANGLE, g=g, beta=1.5, engine=engine).round(np.random.default_rng(3))
    x = _last_states(hr, 20000, 40, 4)
    assert _chi2_triangle(x, lambda a, b: 1.5 * (2 * a - b)) > ALARM


@pytest.mark.parametrize("engine", ENGINES)
def test_two_dimensional_correlated_quadratic_on_triangle_chi2(engine):
    # sw = g'x - 1/2 x'Hx with a non-diagonal H: chords along rounded (rotated) coordinates
    g = np.array([1.0, 2.0])
    H = np.array([[6.0, 3.0], [3.0, 4.0]])
    hr = HitAndRun(TRIANGLE, g=g, H=H, beta=2.0, engine=engine).round(np.random.default_rng(5))
    x = _last_states(hr, 20000, 40, 6)

    def logdens(a, b):
        v = np.array([a, b])
        return 2.0 * (g @ v - 0.5 * v @ H @ v)
    assert _chi2_triangle(x, logdens) > ALARM


def test_negative_control_wrong_density_is_rejected():
    # draws of the tilted density tested against the uniform one: the test has power
    hr = HitAndRun(TRIANGLE, g=np.array([2.0, -1.0]), beta=1.5)
    x = _last_states(hr, 20000, 40, 8)
    assert _chi2_triangle(x, lambda a, b: 0.0) < ALARM


def test_equalities_are_eliminated_and_draws_stay_feasible():
    # x1 + x2 + x3 = 1, 0 <= x <= 1 (a triangle in 3-D): uniform mean 1/3 each
    P = from_bounds(np.array([[1.0, 1.0, 1.0]]), [1.0], [1.0], [0, 0, 0], [1, 1, 1])
    assert P.dim == 2
    s = HitAndRun(P).sample(3000, np.random.default_rng(9), chains=8)
    X = s.flat()
    assert np.all(P.contains(X))
    assert np.allclose(X.sum(axis=1), 1.0, atol=1e-9)
    assert np.allclose(X.mean(axis=0), 1 / 3, atol=0.02)


@pytest.mark.parametrize("engine", ENGINES)
def test_reproducible_bit_for_bit_from_a_seed(engine):
    hr = HitAndRun(TRIANGLE, g=np.array([1.0, 0.5]), H=np.eye(2), beta=3.0, engine=engine)
    a = hr.sample(200, np.random.default_rng(11), chains=3).x
    b = hr.sample(200, np.random.default_rng(11), chains=3).x
    assert np.array_equal(a, b)


@pytest.mark.parametrize("engine", ENGINES)
def test_no_overflow_at_welfare_one_million(engine):
    # gradient 1e6 on [0, 1]: the density piles at the upper end without inf/nan
    hr = HitAndRun(interval(0.0, 1.0), g=np.array([1e6]), beta=1.0, engine=engine)
    x = hr.sample(2, np.random.default_rng(12), chains=1000, burn=1).flat()[:, 0]
    assert np.all(np.isfinite(x)) and np.all((x <= 1) & (x > 1 - 1e-4))
    # exponential with rate 1e6 below the upper end: mean gap 1e-6
    assert abs((1 - x).mean() - 1e-6) < 5 * 1e-6 / math.sqrt(x.size)


def test_ess_of_ar1_matches_closed_form():
    # AR(1) with coefficient rho: ESS/N = (1 - rho)/(1 + rho)
    rng = np.random.default_rng(13)
    rho, n = 0.8, 20000
    e = rng.standard_normal((4, n))
    a = np.zeros((4, n))
    for t in range(1, n):
        a[:, t] = rho * a[:, t - 1] + e[:, t]
    assert ess(a) / a.size == pytest.approx((1 - rho) / (1 + rho), rel=0.1)
    assert rhat(a) < 1.01


def test_rhat_flags_chains_that_disagree():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((4, 1000)) + np.array([[0.0], [0.0], [0.0], [1.0]])
    assert rhat(x) > 1.1


def test_polytope_errors_name_the_problem():
    with pytest.raises(ModelError, match="empty"):
        Polytope(G=np.array([[1.0], [-1.0]]), h=np.array([0.0, -1.0]))
    with pytest.raises(ModelError, match="unbounded"):
        Polytope(G=np.array([[-1.0, 0.0], [0.0, -1.0]]), h=np.array([0.0, 0.0]))
    with pytest.raises(ModelError, match="no interior"):
        Polytope(G=np.array([[1.0], [-1.0]]), h=np.array([1.0, -1.0]))
    with pytest.raises(ModelError, match="x1 has lower limit"):
        from_bounds(np.zeros((0, 2)), [], [], [0, 2], [1, 1], names=["x0", "x1"])
    with pytest.raises(ModelError, match="not concave"):
        HitAndRun(TRIANGLE, H=-np.eye(2))
    with pytest.raises(InputError, match="Generator"):
        HitAndRun(TRIANGLE).sample(10, 42)
