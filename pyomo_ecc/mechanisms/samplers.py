r"""Exact-chord hit-and-run on a polytope for log-concave densities :math:`\propto e^{\ell(x)}`.

The target on the polytope :math:`P = \{x : E x = e,\ G x \le h\}` is

.. math::

    \pi(x) \propto \exp\big(\beta\,(g^\top x - \tfrac12 x^\top H x)\big), \qquad H \succeq 0,

the exponential mechanism's density with :math:`\beta = \varepsilon / (2\Delta)` and a linear
(:math:`H = 0`) or concave quadratic welfare. :class:`Polytope` eliminates the equalities through
their null space, :math:`x = x_0 + N y` (:math:`N` orthonormal, :math:`x_0` the Chebyshev centre,
so the chain starts at a point that depends on the feasible set only), and :class:`HitAndRun`
samples :math:`y` by *coordinate* hit-and-run in rounded coordinates :math:`y = T w`: each step
moves one coordinate :math:`w_j` along its chord :math:`[t_-, t_+]` (the largest interval that keeps
every slack non-negative) by an exact draw from the one-dimensional conditional

.. math::

    p(t) \propto \exp(a t - \tfrac12 b t^2), \quad t \in [t_-, t_+], \qquad
    a = \beta\,\partial_j \mathrm{sw}(w), \quad b = \beta\,(T^\top H T)_{jj},

a truncated exponential when :math:`b = 0` and a truncated normal with mean :math:`a/b` and
variance :math:`1/b` otherwise (inverse CDF in log space; far tails by an exact
exponential-proposal rejection), so there is no Metropolis rejection and no step size.
Coordinates are updated in a fixed cyclic order (one *sweep* = :math:`k` steps, one recorded
draw per sweep), which needs no shared randomness across chains: the ``chains`` chains are
independent. Two engines run the same chain: compiled sweeps (numba, the ``dp`` extra; one
chain at a time, :math:`O(\text{rows} + k)` scalar work per step) and a numpy fallback that
advances all chains together as arrays. ``benchmarks/dp.py`` compares them with hopsy.

Rounding (:meth:`HitAndRun.round`): a pilot run estimates the target's covariance
:math:`\Sigma`, and :math:`T = \operatorname{diag}(\Sigma)^{1/2}` (or, with ``full=True``,
:math:`T = \operatorname{chol}(\Sigma)` shrunk towards the diagonal) makes the density roughly
isotropic (repeated ``rounds`` times); pilot draws are discarded.

==============================  ============================  =========================================
symbol                          attribute                     meaning
==============================  ============================  =========================================
:math:`E, e`                    ``Polytope.E``, ``.e``        equalities
:math:`G, h`                    ``Polytope.G``, ``.h``        inequalities (row and column limits)
:math:`x_0`, :math:`r`          ``.x0``, ``.radius``          Chebyshev centre and radius
:math:`N`                       ``.N``                        orthonormal null-space basis of :math:`E`
:math:`\beta g, \beta H`        ``HitAndRun.g``, ``.H``       log-density gradient at 0, curvature (in y)
:math:`T`                       ``HitAndRun.T``               rounding transform
==============================  ============================  =========================================

Diagnostics: :func:`rhat` (rank-normalised split :math:`\hat R`, Vehtari et al. 2021) and
:func:`ess` (bulk effective sample size with Geyer's initial monotone sequence).
Every random draw takes an explicit :class:`numpy.random.Generator`.

Example (uniform on the triangle :math:`x, y \ge 0,\ x + y \le 1`, mean :math:`1/3`)::

    >>> import numpy as np
    >>> P = Polytope(G=np.array([[-1., 0], [0, -1], [1, 1]]), h=np.array([0., 0, 1]))
    >>> s = HitAndRun(P).sample(2000, np.random.default_rng(0), chains=8, burn=50)
    >>> bool(abs(s.x.mean() - 1 / 3) < 0.01)
    True
"""
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from scipy.optimize import linprog
from scipy.special import log_ndtr, ndtr, ndtri

from pyomo_ecc.errors import InputError, ModelError

from pyomo_ecc.core.progress import tqdm  # noqa: E402

#: slack below which a row counts as active at the Chebyshev centre (scaled)
_TOL = 1e-9
#: sweep engines: compiled (numba, when installed) or numpy arrays
ENGINES = ("auto", "numba", "numpy")
_KERNEL = []


def _kernel():
    """The compiled kernel module, or None without numba."""
    if not _KERNEL:
        from pyomo_ecc.mechanisms import _hr_kernel
        _KERNEL.append(_hr_kernel if _hr_kernel.AVAILABLE else None)
    return _KERNEL[0]


class Polytope:
    r"""The polytope :math:`\{x : E x = e,\ G x \le h\}` with its equalities eliminated.

    ``G``, ``h``: inequalities; ``E``, ``e``: equalities (optional); ``names``: one label per
    column, used in error messages. Raises :class:`~pyomo_ecc.errors.ModelError` when the set
    is empty, unbounded or has no interior relative to its affine hull (an implicit equality:
    a row that holds with equality everywhere; write it as an equality).
    """

    def __init__(self, G, h, E=None, e=None, names=None):
        G = np.atleast_2d(np.asarray(G, dtype=float))
        h = np.asarray(h, dtype=float).ravel()
        n = G.shape[1]
        E = np.zeros((0, n)) if E is None else np.atleast_2d(np.asarray(E, dtype=float))
        e = np.zeros(0) if e is None else np.asarray(e, dtype=float).ravel()
        if G.shape[0] != h.size or E.shape[0] != e.size or E.shape[1] != n:
            raise InputError(f"polytope: inconsistent shapes G {G.shape}, h {h.shape}, "
                             f"E {E.shape}, e {e.shape}")
        for nm, arr in (("G", G), ("h", h), ("E", E), ("e", e)):
            if not np.all(np.isfinite(arr)):
                raise InputError(f"polytope: {nm} has non-finite entries (drop infinite limits first)")
        self.names = list(names) if names is not None else [f"x{j}" for j in range(n)]
        self.G, self.h, self.E, self.e = G, h, E, e
        self.n = n
        if E.shape[0]:
            self.N = scipy.linalg.null_space(E)
        else:
            self.N = np.eye(n)
        self.dim = self.N.shape[1]
        xp = np.zeros(n)
        if E.shape[0]:
            xp = np.linalg.lstsq(E, e, rcond=None)[0]
            if np.max(np.abs(E @ xp - e), initial=0.0) > 1e-7 * (1 + np.max(np.abs(e), initial=0)):
                raise ModelError("polytope: the equalities are inconsistent (no solution)")
        if self.dim == 0:      # a single point: the equalities fix everything
            viol = G @ xp - h
            if np.any(viol > 1e-7 * (1 + np.abs(h))):
                raise ModelError(f"polytope: the feasible set is empty (the equalities fix every "
                                 f"column and inequality row {int(np.argmax(viol))} fails)")
            self.x0, self.radius = xp, 0.0
            self.Gy, self.hy, self._rows = np.zeros((0, 0)), np.zeros(0), np.zeros(0, dtype=int)
            return
        Gy = G @ self.N
        hy = h - G @ xp
        norms = np.linalg.norm(Gy, axis=1)
        zero = norms <= 1e-12 * max(1.0, norms.max(initial=0.0))
        if np.any(hy[zero] < -1e-9):
            bad = int(np.flatnonzero(zero & (hy < -1e-9))[0])
            raise ModelError(f"polytope: inequality row {bad} fails on the whole affine hull "
                             f"(by {-hy[bad]:.6g})")
        keep = ~zero
        Gy, hy, norms = Gy[keep], hy[keep], norms[keep]
        self._rows = np.flatnonzero(keep)
        # Chebyshev centre, solved in x with the sparse rows (the reduced rows are dense):
        # max r s.t. G_i x + r |G_i N| <= h_i (kept rows), E x = e
        import scipy.sparse as sp
        k = self.dim
        Gk = sp.csr_array(G[self._rows])
        A_ub = sp.hstack([Gk, sp.csr_array(norms[:, None])]).tocsr()
        A_eq = sp.hstack([sp.csr_array(E), sp.csr_array((E.shape[0], 1))]).tocsr() if E.shape[0] else None
        res = linprog(np.r_[np.zeros(n), -1.0], A_ub=A_ub, b_ub=h[self._rows], A_eq=A_eq,
                      b_eq=e if E.shape[0] else None,
                      bounds=[(None, None)] * n + [(0, None)], method="highs")
        if res.status == 2:
            raise ModelError("polytope: the feasible set is empty (the limits conflict)")
        if res.status == 3:
            raise ModelError("polytope: the feasible set is unbounded; every direction needs a "
                             "finite limit for a sampler")
        if res.status != 0:
            raise ModelError(f"polytope: Chebyshev-centre LP failed ({res.message})")
        x0, r = res.x[:n], res.x[n]
        scale = max(1.0, float(np.max(np.abs(hy), initial=0.0)))
        if r <= 1e-9 * scale:
            raise ModelError("polytope: the feasible set has no interior in its affine hull (an "
                             "implicit equality, e.g. a lower limit equal to the upper limit not "
                             "written as one); radius " f"{r:.3g}")
        # project the centre onto the affine hull exactly (the LP solution is within tolerance)
        y0 = self.N.T @ (x0 - xp)
        # bounded: every column boxed by single-column rows, or else (Stiemke) the reduced rows
        # have full column rank and some lambda >= 1 has Gy' lambda = 0
        single = (np.count_nonzero(G, axis=1) == 1)
        up = np.any(single[:, None] & (G > 0), axis=0)
        lo = np.any(single[:, None] & (G < 0), axis=0)
        if not np.all(up & lo):
            if np.linalg.matrix_rank(Gy) < k or linprog(
                    np.zeros(Gy.shape[0]), A_eq=Gy.T, b_eq=np.zeros(k),
                    bounds=[(1.0, None)] * Gy.shape[0], method="highs").status != 0:
                raise ModelError("polytope: the feasible set is unbounded; every direction needs "
                                 "a finite limit for a sampler")
        self.x0 = xp + self.N @ y0
        self.radius = float(r)
        self.Gy = Gy
        self.hy = hy - Gy @ y0          # slack of each row at the centre (y = 0)
        if np.any(self.hy < -1e-7 * (1 + np.abs(h[self._rows]))):
            raise ModelError("polytope: the Chebyshev centre is not feasible (numerical trouble)")
        self.hy = np.maximum(self.hy, 0.0)

    def to_x(self, y):
        """Map reduced coordinates ``y`` (..., dim) back to ``x`` (..., n)."""
        return self.x0 + np.asarray(y) @ self.N.T

    def contains(self, x, tol=1e-7):
        """True where every row holds within ``tol`` (scaled by 1 + |rhs|)."""
        x = np.atleast_2d(x)
        ok = np.all(x @ self.G.T <= self.h + tol * (1 + np.abs(self.h)), axis=1)
        if self.E.shape[0]:
            ok &= np.all(np.abs(x @ self.E.T - self.e) <= tol * (1 + np.abs(self.e)), axis=1)
        return ok


def from_bounds(A, row_lower, row_upper, col_lower, col_upper, names=None):
    """A :class:`Polytope` from ``row_lower <= A x <= row_upper``, ``col_lower <= x <=
    col_upper`` (infinite entries mean no limit; a row with equal limits is an equality; a
    column with equal limits is kept as an equality)."""
    A = A.toarray() if hasattr(A, "toarray") else np.atleast_2d(np.asarray(A, dtype=float))
    rl, ru = np.asarray(row_lower, float), np.asarray(row_upper, float)
    cl, cu = np.asarray(col_lower, float), np.asarray(col_upper, float)
    n = A.shape[1] if A.size else cl.size
    A = A.reshape(-1, n)
    names = list(names) if names is not None else [f"x{j}" for j in range(n)]
    for lo, hi, what in ((rl, ru, "row"), (cl, cu, "column")):
        bad = np.flatnonzero(lo > hi + 1e-12)
        if bad.size:
            j = int(bad[0])
            label = names[j] if what == "column" else f"row {j}"
            raise ModelError(f"polytope: {label} has lower limit {lo[j]} above its upper limit {hi[j]}")
    eq_r = np.isfinite(rl) & np.isfinite(ru) & (np.abs(ru - rl) <= 1e-12 * (1 + np.abs(rl)))
    eq_c = np.isfinite(cl) & np.isfinite(cu) & (np.abs(cu - cl) <= 1e-12 * (1 + np.abs(cl)))
    I = np.eye(n)
    E = np.vstack([A[eq_r], I[eq_c]])
    e = np.r_[rl[eq_r], cl[eq_c]]
    up = ~eq_r & np.isfinite(ru)
    lo = ~eq_r & np.isfinite(rl)
    cup = ~eq_c & np.isfinite(cu)
    clo = ~eq_c & np.isfinite(cl)
    G = np.vstack([A[up], -A[lo], I[cup], -I[clo]])
    h = np.r_[ru[up], -rl[lo], cu[cup], -cl[clo]]
    return Polytope(G, h, E if E.shape[0] else None, e if e.size else None, names=names)


# -- exact one-dimensional draws -------------------------------------------------------------
def truncated_exponential(rate, lo, hi, u):
    r"""Draw from :math:`p(t) \propto e^{\text{rate}\,t}` on ``[lo, hi]`` by inverse CDF with
    uniforms ``u`` (arrays broadcast; stable for any rate, uniform at rate 0)."""
    rate, lo, hi, u = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (rate, lo, hi, u)))
    w = hi - lo
    u = np.where(rate >= 0, 1.0 - u, u)     # measured from the heavier end: F(t) = u exactly
    r = np.abs(rate)
    rw = r * w
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = -np.log1p(-u * (-np.expm1(-rw))) / r
    s = np.where(rw < 1e-12, u * w, s)
    s = np.clip(s, 0.0, w)
    return np.where(rate >= 0, hi - s, lo + s)


def truncated_normal(mean, sd, lo, hi, rng):
    """Exact draws from N(mean, sd^2) truncated to ``[lo, hi]`` (arrays of one shape)."""
    mean, sd, lo, hi = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (mean, sd, lo, hi)))
    a = (lo - mean) / sd
    b = (hi - mean) / sd
    flip = b < 0                       # both limits left of the mean: mirror
    a2 = np.where(flip, -b, a)
    b2 = np.where(flip, -a, b)
    z = np.empty_like(a2)
    u = rng.random(a2.shape)
    # a2 < 0 <= b2: the bulk is inside, plain inverse CDF
    m1 = a2 < 0
    if np.any(m1):
        pa, pb = ndtr(a2[m1]), ndtr(b2[m1])
        z[m1] = ndtri(pa + u[m1] * (pb - pa))
    # 0 <= a2 < 5: inverse survival function in log space
    m2 = (a2 >= 0) & (a2 < 5)
    if np.any(m2):
        la, lb = log_ndtr(-a2[m2]), log_ndtr(-b2[m2])
        ls = la + np.log1p(-u[m2] * (-np.expm1(lb - la)))
        z[m2] = -ndtri(np.exp(ls))
    # a2 >= 5: exponential proposal with rate a2 on [0, b2 - a2], accept exp(-s^2/2)
    m3 = a2 >= 5
    if np.any(m3):
        idx = np.flatnonzero(m3.ravel())
        out = np.empty(idx.size)
        todo = np.arange(idx.size)
        aa, ww = a2.ravel()[idx], (b2 - a2).ravel()[idx]
        while todo.size:
            s = truncated_exponential(-aa[todo], 0.0, ww[todo], rng.random(todo.size))
            acc = rng.random(todo.size) < np.exp(-0.5 * s * s)
            out[todo[acc]] = aa[todo[acc]] + s[acc]
            todo = todo[~acc]
        z.ravel()[idx] = out
    z = np.clip(z, a2, b2)
    z = np.where(flip, -z, z)
    tiny = (b - a) < 1e-10             # a chord shorter than 1e-10 sd: uniform to that accuracy
    z = np.where(tiny, a + u * (b - a), z)
    return mean + sd * z


# -- the sampler -----------------------------------------------------------------------------
@dataclass
class Samples:
    """Draws of :meth:`HitAndRun.sample`: ``x`` (chains, draws, n) in the original space,
    ``y`` (chains, draws, dim) in reduced coordinates, and the diagnostics."""

    x: np.ndarray
    y: np.ndarray
    steps: int
    seconds: float
    beta: float
    info: dict = field(default_factory=dict)

    def flat(self):
        """All draws as one array (chains * draws, n)."""
        return self.x.reshape(-1, self.x.shape[-1])

    def diagnostics(self, values=None):
        """R-hat and ESS of each column of ``x`` (or of ``values`` (chains, draws[, k]))."""
        v = self.x if values is None else np.asarray(values, dtype=float)
        if v.ndim == 2:
            v = v[..., None]
        r = np.array([rhat(v[..., k]) for k in range(v.shape[-1])])
        s = np.array([ess(v[..., k]) for k in range(v.shape[-1])])
        return r, s


class HitAndRun:
    r"""Coordinate hit-and-run with exact chord draws for :math:`\exp(\beta(g^\top x -
    \frac12 x^\top H x))` on ``polytope`` (see the module doc).

    ``g`` (n,), ``H`` (n, n) PSD, both in the original ``x`` space (default 0: uniform);
    ``beta`` >= 0 the inverse temperature (``inf`` is refused: use the maximiser). ``H`` must
    be positive semidefinite on the polytope's affine hull (a convex welfare is refused: its
    density is not log-concave and the chord draw would not be a truncated normal).
    ``engine``: ``"numba"`` (compiled sweeps, one chain at a time), ``"numpy"`` (chains
    advanced together as arrays) or ``"auto"`` (numba when installed). Both draw from the same
    chain; their random streams differ.
    """

    def __init__(self, polytope, g=None, H=None, beta=1.0, engine="auto"):
        if engine not in ENGINES:
            raise InputError(f"hit-and-run: engine must be one of {ENGINES}, got {engine!r}")
        if engine == "numba" and _kernel() is None:
            raise InputError("hit-and-run: engine 'numba' needs numba (pip install numba)")
        self.engine = ("numba" if _kernel() is not None else "numpy") if engine == "auto" else engine
        P = polytope
        if P.dim == 0:
            raise ModelError("hit-and-run: the feasible set is a single point (nothing to sample)")
        if not np.isfinite(beta) or beta < 0:
            raise InputError(f"hit-and-run: beta must be finite and >= 0 (got {beta})")
        n = P.n
        g = np.zeros(n) if g is None else np.asarray(g, dtype=float).ravel()
        H = np.zeros((n, n)) if H is None else np.asarray(H.toarray() if hasattr(H, "toarray") else H, float)
        if g.size != n or H.shape != (n, n):
            raise InputError(f"hit-and-run: g {g.shape} / H {H.shape} do not match {n} columns")
        self.P = P
        self.beta = float(beta)
        # in y (x = x0 + N y): sw(y) = const + gy' y - 1/2 y' Hy y
        Hy = P.N.T @ H @ P.N
        Hy = 0.5 * (Hy + Hy.T)
        ev = np.linalg.eigvalsh(Hy) if Hy.size else np.zeros(0)
        if ev.size and ev.min() < -1e-9 * max(1.0, np.abs(ev).max()):
            raise ModelError(f"hit-and-run: the welfare is not concave on the feasible set "
                             f"(curvature eigenvalue {ev.min():.3g} < 0); the exponential "
                             f"mechanism's density is then not log-concave")
        self.gy = P.N.T @ (g - H @ P.x0)
        self.Hy = Hy
        self.set_transform(np.eye(P.dim))

    def set_transform(self, T, shift=None):
        """Use rounded coordinates ``y = shift + T w`` (``T`` invertible)."""
        P = self.P
        self.T = np.asarray(T, dtype=float)
        self.shift = np.zeros(P.dim) if shift is None else np.asarray(shift, float)
        Gw = P.Gy @ self.T
        Gw[np.abs(Gw) <= 1e-14 * np.abs(Gw).max(axis=0, initial=1.0)[None, :]] = 0.0
        self.Gw = Gw
        self._GwT = np.ascontiguousarray(Gw.T)
        self.hw = P.hy - P.Gy @ self.shift
        self.Hw = self.T.T @ self.Hy @ self.T
        self.gw = self.T.T @ (self.gy - self.Hy @ self.shift)
        # per coordinate: the rows the chord can hit on each side, and the inverse entries
        self._cols = []
        for j in range(P.dim):
            col = self.Gw[:, j]
            pos = np.flatnonzero(col > 1e-14 * np.abs(col).max(initial=1.0))
            neg = np.flatnonzero(col < -1e-14 * np.abs(col).max(initial=1.0))
            if pos.size == 0 or neg.size == 0:
                raise ModelError("hit-and-run: a coordinate direction is unbounded")
            self._cols.append((col, pos, 1.0 / col[pos], neg, 1.0 / col[neg],
                               self.Hw[:, j].copy(), self.Hw[j, j]))

    def _sweeps(self, W, nsweeps, rng, record, progress=False, desc="hit-and-run"):
        """Advance the chains ``W`` (chains, dim) by ``nsweeps`` sweeps in place; return the
        recorded positions (chains, nsweeps, dim) if ``record``."""
        beta = self.beta
        C, k = W.shape
        out = np.empty((C, nsweeps, k)) if record else None
        if self.engine == "numba":
            quad = bool(beta > 0 and np.any(self.Hw != 0))
            _kernel().sweeps(W, self._GwT, self.hw, np.ascontiguousarray(self.Hw), self.gw,
                             float(beta), quad, int(nsweeps), bool(record),
                             out if record else np.empty((1, 1, 1)),
                             int(rng.integers(0, 2**62)))
            return out
        S = self.hw[None, :] - W @ self.Gw.T
        grad = self.gw[None, :] - W @ self.Hw       # d sw / d w at W (Hw symmetric)
        quad = beta > 0 and np.any(self.Hw != 0)
        for s in tqdm(range(nsweeps), desc=desc, disable=not progress, leave=False):
            U = rng.random((k, C))
            for j in range(k):
                col, pos, ipos, neg, ineg, hcol, hjj = self._cols[j]
                tmax = np.min(S[:, pos] * ipos, axis=1)
                tmin = np.max(S[:, neg] * ineg, axis=1)
                tmax = np.maximum(tmax, 0.0)
                tmin = np.minimum(tmin, 0.0)
                if beta == 0:
                    t = tmin + U[j] * (tmax - tmin)
                elif quad and hjj > 0:
                    b = beta * hjj
                    t = truncated_normal(grad[:, j] / hjj, 1.0 / np.sqrt(b), tmin, tmax, rng)
                else:
                    t = truncated_exponential(beta * grad[:, j], tmin, tmax, U[j])
                W[:, j] += t
                S -= t[:, None] * col[None, :]
                if quad:
                    grad -= t[:, None] * hcol[None, :]
            # refresh the incremental slacks and gradient (no drift over long runs)
            S = self.hw[None, :] - W @ self.Gw.T
            if quad:
                grad = self.gw[None, :] - W @ self.Hw
            if record:
                out[:, s, :] = W
        return out

    def round(self, rng, chains=8, sweeps=None, rounds=2, full="auto"):
        """Rounding from pilot runs (module doc); returns ``self``. The pilot starts at the
        Chebyshev centre and its draws are discarded. ``full=False`` scales each coordinate by
        its pilot standard deviation; ``full=True`` uses the Cholesky factor of the pilot
        covariance, shrunk towards its diagonal by :math:`k/N` (:math:`N` pilot draws): needed
        for long, thin polytopes at an angle to the axes (a binding cap across the null-space
        coordinates), while a noisy full estimate costs mixing on near-axis-aligned ones (the
        benchmark's). ``"auto"`` (default): full when the pilot has at least 50 draws per
        dimension."""
        k = self.P.dim
        sweeps = max(50, 4 * k) if sweeps is None else int(sweeps)
        if full == "auto":
            full = chains * (sweeps - sweeps // 4) >= 50 * k
        for _ in range(rounds):
            W = np.zeros((chains, k))
            rec = self._sweeps(W, sweeps, rng, record=True)
            Y = self.shift + rec[:, sweeps // 4:, :].reshape(-1, k) @ self.T.T
            cov = np.atleast_2d(np.cov(Y, rowvar=False))
            d = np.diag(cov).copy()
            d[d <= 0] = max(d.max(initial=0.0), 1e-300)
            if full:
                lam = min(1.0, k / Y.shape[0])
                cov = (1 - lam) * cov + lam * np.diag(d) + 1e-12 * d.mean() * np.eye(k)
                try:
                    L = np.linalg.cholesky(cov)
                except np.linalg.LinAlgError:  # pragma: no cover - degenerate pilot
                    L = np.diag(np.sqrt(d))
            else:
                L = np.diag(np.sqrt(d))
            # keep the Chebyshev centre as the origin of w: the start point stays data-free
            self.set_transform(L, shift=np.zeros(k))
        return self

    def sample(self, draws, rng, chains=4, burn=None, thin=1, progress=False):
        """``draws`` recorded draws per chain (one per ``thin`` sweeps) after ``burn`` sweeps,
        every chain started at the Chebyshev centre. Returns :class:`Samples`."""
        import time
        if not isinstance(rng, np.random.Generator):
            raise InputError("hit-and-run: rng must be a numpy.random.Generator")
        if draws < 1 or chains < 1 or thin < 1:
            raise InputError(f"hit-and-run: draws, chains and thin must be >= 1 "
                             f"(got {draws}, {chains}, {thin})")
        k = self.P.dim
        burn = max(20, k) if burn is None else int(burn)
        W = np.zeros((chains, k))
        t0 = time.perf_counter()
        if burn:
            self._sweeps(W, burn, rng, record=False)
        rec = self._sweeps(W, draws * thin, rng, record=True, progress=progress)[:, thin - 1::thin]
        secs = time.perf_counter() - t0
        Y = self.shift + rec @ self.T.T
        X = self.P.to_x(Y)
        return Samples(x=X, y=Y, steps=(burn + draws * thin) * k * chains, seconds=secs,
                       beta=self.beta, info={"chains": chains, "burn_sweeps": burn, "thin": thin,
                                             "dim": k})


# -- diagnostics -----------------------------------------------------------------------------
def _autocov(x):
    """Autocovariance of each row of ``x`` (chains, n) by FFT (biased estimator)."""
    n = x.shape[1]
    xc = x - x.mean(axis=1, keepdims=True)
    m = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(xc, n=m, axis=1)
    ac = np.fft.irfft(f * np.conj(f), n=m, axis=1)[:, :n]
    return ac / n


def _split(x):
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    n = x.shape[1] // 2
    if n < 2:
        raise InputError("diagnostics need at least 4 draws per chain")
    return np.vstack([x[:, :n], x[:, x.shape[1] - n:]])


def _rank_normalise(x):
    from scipy.stats import rankdata
    r = rankdata(x, axis=None).reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))


def ess(x, split=True, rank=True):
    r"""Effective sample size of draws ``x`` (chains, draws) (or (draws,)): Stan's estimator
    :math:`S / (-1 + 2\sum_{t} \hat P_t)` on rank-normalised split chains, with Geyer's initial
    monotone positive sequence :math:`\hat P_t = \hat\rho_{2t} + \hat\rho_{2t+1}`."""
    x = _split(x) if split else np.atleast_2d(np.asarray(x, dtype=float))
    if rank:
        x = _rank_normalise(x)
    m, n = x.shape
    if np.ptp(x) == 0:
        return float(m * n)
    acov = _autocov(x)
    chain_var = acov[:, 0] * n / (n - 1)
    W = chain_var.mean()
    B_n = x.mean(axis=1).var(ddof=1) if m > 1 else 0.0
    var_plus = W * (n - 1) / n + B_n
    rho = 1.0 - (W - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Geyer: sum pairs while positive, then enforce monotone
    P = rho[:-1:2] + rho[1::2]
    k = 0
    while k < P.size and P[k] > 0:
        k += 1
    P = np.minimum.accumulate(P[:k]) if k else np.zeros(0)
    tau = -1.0 + 2.0 * P.sum() if k else 1.0
    tau = max(tau, 1.0 / np.log10(m * n))
    return float(m * n / tau)


def rhat(x):
    """Rank-normalised split R-hat (Vehtari et al. 2021) of ``x`` (chains, draws): the larger
    of the bulk and the folded (tail) statistic; values near 1 (< 1.01) indicate mixing."""
    x = _split(x)

    def base(z):
        m, n = z.shape
        W = z.var(axis=1, ddof=1).mean()
        B = n * z.mean(axis=1).var(ddof=1)
        if W == 0:
            return 1.0
        return float(np.sqrt(((n - 1) / n * W + B / n) / W))

    bulk = base(_rank_normalise(x))
    folded = base(_rank_normalise(np.abs(x - np.median(x))))
    return max(bulk, folded)
