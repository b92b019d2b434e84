"""Compiled sweeps of :class:`pyomo_ecc.mechanisms.samplers.HitAndRun` (numba, optional).

The same algorithm as the numpy path (cyclic coordinate hit-and-run, exact chord draws), one
chain at a time: a step costs O(rows + dim) scalar operations instead of a dozen numpy calls.
Random numbers come from numba's generator seeded from the caller's numpy Generator, so a run
is reproducible from that Generator.
"""
import math

import numpy as np

try:
    from numba import njit
    AVAILABLE = True
except ImportError:  # pragma: no cover - the numpy engine is used instead
    AVAILABLE = False

    def njit(*args, **kwargs):
        return lambda f: f

SQRT2 = math.sqrt(2.0)
SQRT2PI = math.sqrt(2.0 * math.pi)


@njit(cache=True)
def _phi_cdf(x):
    return 0.5 * math.erfc(-x / SQRT2)


@njit(cache=True)
def _ndtri(p):
    """Inverse standard normal CDF: Acklam's rational approximation and one Halley step."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a1, a2, a3 = -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02
    a4, a5, a6 = 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00
    b1, b2, b3 = -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02
    b4, b5 = 6.680131188771972e+01, -1.328068155288572e+01
    c1, c2, c3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00
    c4, c5, c6 = -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
    d1, d2, d3, d4 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00
    plow = 0.02425
    if p < plow:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / \
            ((((d1 * q + d2) * q + d3) * q + d4) * q + 1.0)
    elif p <= 1.0 - plow:
        q = p - 0.5
        r = q * q
        x = (((((a1 * r + a2) * r + a3) * r + a4) * r + a5) * r + a6) * q / \
            (((((b1 * r + b2) * r + b3) * r + b4) * r + b5) * r + 1.0)
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / \
            ((((d1 * q + d2) * q + d3) * q + d4) * q + 1.0)
    # Halley refinement (relative to the smaller tail, so tiny p keep their precision)
    if x < 0:
        e = 0.5 * math.erfc(-x / SQRT2) - p
    else:
        e = -(0.5 * math.erfc(x / SQRT2) - (1.0 - p))
    u = e * SQRT2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True)
def _trunc_exp(rate, lo, hi, u):
    w = hi - lo
    if rate >= 0:
        u = 1.0 - u
    r = abs(rate)
    rw = r * w
    if rw < 1e-12:
        s = u * w
    else:
        s = -math.log1p(-u * (-math.expm1(-rw))) / r
    if s < 0.0:
        s = 0.0
    if s > w:
        s = w
    return hi - s if rate >= 0 else lo + s


@njit(cache=True)
def _trunc_std_normal(a, b):
    flip = False
    if b < 0:
        a, b = -b, -a
        flip = True
    u = np.random.random()
    if b - a < 1e-10:
        z = a + u * (b - a)
    elif a < 0:
        pa, pb = _phi_cdf(a), _phi_cdf(b)
        z = _ndtri(pa + u * (pb - pa))
    elif a < 30.0:
        sa = 0.5 * math.erfc(a / SQRT2)
        sb = 0.5 * math.erfc(b / SQRT2)
        z = -_ndtri(sa - u * (sa - sb))
    else:   # far tail: exponential proposal with rate a, accept exp(-s^2/2)
        while True:
            s = _trunc_exp(-a, 0.0, b - a, np.random.random())
            if np.random.random() < math.exp(-0.5 * s * s):
                z = a + s
                break
    if z < a:
        z = a
    if z > b:
        z = b
    return -z if flip else z


@njit(cache=True)
def sweeps(W, GwT, hw, Hw, gw, beta, quad, nsweeps, record, out, seed):
    """Advance every chain (row of ``W``) by ``nsweeps`` cyclic sweeps; ``GwT`` is (dim, rows)."""
    np.random.seed(seed)
    C, k = W.shape
    m = hw.size
    S = np.empty(m)
    grad = np.empty(k)
    for c in range(C):
        for s in range(nsweeps):
            if s % 8 == 0:      # refresh slacks and gradient (no drift)
                for i in range(m):
                    acc = hw[i]
                    for j in range(k):
                        acc -= GwT[j, i] * W[c, j]
                    S[i] = acc
                for j in range(k):
                    acc = gw[j]
                    for l in range(k):
                        acc -= Hw[j, l] * W[c, l]
                    grad[j] = acc
            for j in range(k):
                tmax = np.inf
                tmin = -np.inf
                for i in range(m):
                    g = GwT[j, i]
                    if g > 0.0:
                        r = S[i] / g
                        if r < tmax:
                            tmax = r
                    elif g < 0.0:
                        r = S[i] / g
                        if r > tmin:
                            tmin = r
                if tmax < 0.0:
                    tmax = 0.0
                if tmin > 0.0:
                    tmin = 0.0
                hjj = Hw[j, j]
                if beta == 0.0:
                    t = tmin + np.random.random() * (tmax - tmin)
                elif quad and hjj > 0.0:
                    b = beta * hjj
                    sd = 1.0 / math.sqrt(b)
                    mu = grad[j] / hjj
                    t = mu + sd * _trunc_std_normal((tmin - mu) / sd, (tmax - mu) / sd)
                else:
                    t = _trunc_exp(beta * grad[j], tmin, tmax, np.random.random())
                W[c, j] += t
                for i in range(m):
                    S[i] -= t * GwT[j, i]
                if quad:
                    for l in range(k):
                        grad[l] -= t * Hw[j, l]
            if record:
                for j in range(k):
                    out[c, s, j] = W[c, j]
