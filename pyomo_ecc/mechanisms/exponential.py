r"""The exponential mechanism over a market's feasible set, with DP-VCG and Huang-Kannan payments.

The operator clears with (Peng & Han 2025, eqs. 3 and 9; McSherry & Talwar 2007)

.. math::

    \Pr[x] \propto \exp\!\Big(\frac{\varepsilon\,\mathrm{sw}(x)}{2\Delta}\Big)
    = e^{\beta\,\mathrm{sw}(x)}, \qquad x \in X = \{x : r^{lo} \le A x \le r^{up},\ l \le x \le u\},

where :math:`\mathrm{sw} = -(c_0 + c^\top x + \frac12 x^\top Q x)` is the market's welfare
(minus its minimised objective, :mod:`pyomo_ecc.core.standard_form`), :math:`X` the feasible set
of the same Pyomo model and :math:`\Delta` the welfare's sensitivity
(:mod:`~pyomo_ecc.mechanisms.privacy`). Two modes:

* ``mode="finite"`` (the seed's method): :math:`K` candidates :math:`x_1..x_K` drawn uniformly
  from :math:`X` (hit-and-run at :math:`\beta = 0`: a function of the public feasible set and the
  generator only), then one selected with the exact probabilities
  :math:`p_k = e^{\beta\,\mathrm{sw}_k} / \sum_l e^{\beta\,\mathrm{sw}_l}` (log-sum-exp; draws by
  Gumbel-max). **Pure** :math:`\varepsilon`-DP with respect to the candidate set: for
  neighbouring profiles :math:`|\mathrm{sw} - \mathrm{sw}'| \le \Delta` pointwise, so
  :math:`p_k / p'_k \le e^{\beta\Delta} e^{\beta\Delta} = e^{\varepsilon}`.
* ``mode="continuous"``: the density on :math:`X` itself, sampled by exact-chord hit-and-run
  (:mod:`~pyomo_ecc.mechanisms.samplers`). The exact target is :math:`\varepsilon`-DP; a chain
  run for finitely many steps is at some total-variation distance :math:`\delta_{TV}` from it, which
  makes the release :math:`(\varepsilon, (1 + e^\varepsilon)\,\delta_{TV})`-DP. No practical bound
  on :math:`\delta_{TV}` exists for hit-and-run: the output reports R-hat and ESS as evidence of
  mixing and says plainly that :math:`\delta` is not certified.

:math:`\varepsilon = \infty` or :math:`\Delta = 0` gives the welfare maximiser (in finite mode: the
best candidate). Everything is in log space (no underflow at welfare :math:`10^6`) and takes an
explicit :class:`numpy.random.Generator`; the model is never modified (the maximiser's solve is
undone).

**Payments.** With :math:`v_i = -\mathrm{BC}_i`, :math:`\mathrm{sw}_{-i} = \mathrm{sw} - v_i`
(the others' welfare plus costs that belong to no participant) and :math:`\pi_D` the mechanism's
distribution on profile :math:`D`:

* DP-VCG (seed eq. 11): :math:`J_i = \mathbb{E}_{\pi_{D_{-i}}}[\mathrm{sw}_{-i}]
  - \mathbb{E}_{\pi_D}[\mathrm{sw}_{-i}]`, where :math:`\pi_{D_{-i}}` is the mechanism (same
  :math:`\varepsilon, \Delta`) on the market without :math:`i` (its variables fixed to 0, its
  fixed-load parameters zeroed, its block deactivated: :func:`withdrawn`, the what-if layer's
  withdrawal). Finite mode: exact
  expectations over the candidates, with the standard error of the candidate draw
  (self-normalised importance sampling, :math:`\sum_k p_k^2 (f_k - \bar f)^2`); continuous mode:
  Monte Carlo means with :math:`\mathrm{sd}/\sqrt{\mathrm{ESS}}` errors.
* Huang & Kannan (2012), free-energy form: with
  :math:`F(\mathrm{sw}) = \beta^{-1}\log\int_X e^{\beta\,\mathrm{sw}}`,

  .. math:: p_i = F(\mathrm{sw}_{-i}) - F(\mathrm{sw}) + \mathbb{E}_{\pi_D}[v_i],

  so that :math:`i`'s utility from reporting :math:`\hat v_i` is
  :math:`\mathbb{E}_{\hat\pi}[\mathrm{sw}] + H(\hat\pi)/\beta - F(\mathrm{sw}_{-i})`, maximised
  exactly at the truth by the Gibbs variational principle (exact truthfulness). The pivot
  :math:`F(\mathrm{sw}_{-i})` is the free energy with :math:`v_i \equiv 0` on the same outcome
  space (no volume terms; truthful utility :math:`F(\mathrm{sw}) - F(\mathrm{sw}_{-i}) \ge
  \mathbb{E}_{\pi_{-i}}[v_i]`, so IR holds for non-negative valuations). Finite mode: exact by
  log-sum-exp. Continuous mode: thermodynamic integration
  :math:`F(\mathrm{sw}) - F(\mathrm{sw}_{-i}) = \int_0^1 \mathbb{E}_{\lambda}[v_i]\,d\lambda`
  (:math:`\pi_\lambda \propto e^{\beta(\mathrm{sw}_{-i} + \lambda v_i)}`), Gauss-Legendre nodes,
  error bars from the per-node Monte Carlo errors.

Payments computed from the reports are deterministic functions of private data and are **not**
differentially private; the ledger records them with :math:`\varepsilon = \infty`.

=====================================  =======================================  =========================
symbol                                 attribute                                meaning
=====================================  =======================================  =========================
:math:`\varepsilon`, :math:`\Delta`    ``epsilon``, ``sensitivity.delta``       privacy parameter,
                                                                                sensitivity (currency)
:math:`\beta`                          ``beta``                                 :math:`\varepsilon/(2\Delta)`
:math:`X`                              ``polytope``                             feasible set
:math:`x_k`, :math:`p_k`               ``candidates``, ``log_probabilities()``  finite mode
:math:`J_i`                            ``vcg_payments()``                       seed eq. 11
:math:`p_i`                            ``hk_payments()``                        Huang-Kannan
=====================================  =======================================  =========================
"""
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from scipy.special import logsumexp

from pyomo_ecc.core.standard_form import standard_form
from pyomo_ecc.errors import InputError, ModelError
from pyomo_ecc.mechanisms.privacy import (PrivacySpec, Sensitivity, _participants,
                                          seed_normalisation, sensitivity as spec_sensitivity)
from pyomo_ecc.mechanisms.samplers import HitAndRun, Samples, ess, from_bounds, rhat

from pyomo_ecc.core.progress import tqdm  # noqa: E402

MODES = ("finite", "continuous")


def feasible_polytope(sf):
    """The feasible polytope of a standard form (integer columns refused)."""
    if np.any(sf.integer):
        j = int(np.flatnonzero(sf.integer)[0])
        raise ModelError(f"exponential mechanism: column '{sf.columns[j].name}' is integer; the "
                         f"sampler needs a continuous feasible set (fix or relax the integers)")
    rl, ru = sf.row_lower.copy(), sf.row_upper.copy()
    return from_bounds(sf.A, rl, ru, sf.col_lower, sf.col_upper,
                       names=[v.name for v in sf.columns])


def _dense(parts):
    c0, c, Q = parts
    return float(c0), np.asarray(c, float), (Q.toarray() if hasattr(Q, "toarray") else np.asarray(Q, float))


def evaluate(parts, X):
    """Values of :math:`c_0 + c^\\top x + \\frac12 x^\\top Q x` at the rows of ``X``."""
    c0, c, Q = parts
    X = np.atleast_2d(X)
    out = c0 + X @ c
    if np.any(Q):
        out = out + 0.5 * np.einsum("ij,ij->i", X @ Q, X)
    return out


def _neg(parts):
    c0, c, Q = parts
    return -c0, -c, -Q


def _add(p, q, s=1.0):
    return p[0] + s * q[0], p[1] + s * q[1], p[2] + s * q[2]


def withdrawn(model, participant):
    """The market without ``participant`` (seed eq. 11's :math:`D_{-i}`) for the duration of a
    ``with`` block: the what-if layer's withdrawal (:func:`pyomo_ecc.whatif.withdraw`: the
    participant's own rule, its variables and loads at 0, its block deactivated), undone on exit
    with every value, duals and flags restored."""
    from pyomo_ecc.core.changes import applied, withdraw
    return applied(model, [withdraw(participant)])


@dataclass
class Draws:
    """Released (or analysed) outcomes: ``frame`` (index ``draw``; one column per variable
    and ``welfare``), ``probability`` (finite mode: exact probabilities of the candidates),
    ``diagnostics`` (continuous mode: R-hat and ESS per column) and the privacy ``statement``."""

    x: np.ndarray
    frame: pd.DataFrame
    statement: str
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    samples: Samples = None


class ExponentialMechanism:
    r"""The exponential mechanism on ``model`` (module doc).

    ``epsilon`` > 0 (``math.inf`` for the maximiser); ``sensitivity``: ``"seed"`` (seed
    normalisation), a :class:`~pyomo_ecc.mechanisms.privacy.PrivacySpec` (Δ from its public
    ranges), a :class:`~pyomo_ecc.mechanisms.privacy.Sensitivity` or a number (currency).
    ``mode``: ``"finite"`` (then ``candidates`` K and ``rng`` draw the candidate set now, or
    ``candidates`` is an array of feasible points drawn without private data) or
    ``"continuous"``. Sampler options: ``chains``, ``burn`` (sweeps), ``thin``, ``rounding``
    (True: pilot rounding, full covariance when the pilot is long enough, see
    :meth:`~pyomo_ecc.mechanisms.samplers.HitAndRun.round`; ``"full"``, ``"diagonal"``; False:
    none).
    """

    def __init__(self, model, epsilon, sensitivity="seed", mode="continuous", candidates=1000,
                 rng=None, chains=8, burn=None, thin=1, rounding=True, _sf=None):
        if mode not in MODES:
            raise InputError(f"exponential mechanism: mode must be one of {MODES}, got {mode!r}")
        eps = float(epsilon)
        if not eps >= 0 or math.isnan(eps):
            raise InputError(f"exponential mechanism: epsilon must be >= 0, got {epsilon!r}")
        self.model = model
        self.epsilon = eps
        self.mode = mode
        self.sf = standard_form(model, track=False) if _sf is None else _sf
        self.polytope = feasible_polytope(self.sf)
        self.welfare_parts = _neg(_dense((self.sf.c0, self.sf.c, self.sf.Q)))
        if isinstance(sensitivity, Sensitivity):
            self.sensitivity = sensitivity
        elif isinstance(sensitivity, PrivacySpec):
            self.sensitivity = spec_sensitivity(model, sensitivity, self.sf, self.polytope)
        elif isinstance(sensitivity, str):
            if sensitivity != "seed":
                raise InputError(f"exponential mechanism: sensitivity {sensitivity!r}: use 'seed', "
                                 f"a PrivacySpec, a Sensitivity or a number")
            self.sensitivity = seed_normalisation(model, self.sf, self.polytope)
        else:
            d = float(sensitivity)
            if not d >= 0:
                raise InputError(f"exponential mechanism: sensitivity must be >= 0, got {d}")
            self.sensitivity = Sensitivity(delta=d, basis="given")
        D = self.sensitivity.delta
        self.beta = math.inf if (math.isinf(eps) or D == 0) and eps > 0 else (0.0 if eps == 0 else eps / (2 * D))
        self.chains, self.burn, self.thin, self.rounding = chains, burn, thin, rounding
        self.candidates = None
        if mode == "finite":
            if isinstance(candidates, np.ndarray):
                X = np.atleast_2d(np.asarray(candidates, dtype=float))
                if X.shape[1] != self.polytope.n or not np.all(self.polytope.contains(X, 1e-6)):
                    raise InputError(f"exponential mechanism: the given candidates must be "
                                     f"feasible points with {self.polytope.n} columns")
                self.candidates = X
            else:
                if rng is None:
                    raise InputError("exponential mechanism: finite mode needs rng (a numpy "
                                     "Generator) to draw the candidate set")
                self.candidates = self.draw_candidates(int(candidates), rng)

    # -- outcome space -----------------------------------------------------------------------
    @property
    def names(self):
        return [v.name for v in self.sf.columns]

    def draw_candidates(self, K, rng):
        """K points uniform on the feasible set (hit-and-run at beta = 0, one draw per chain
        after a burn-in; independent of every private datum)."""
        if K < 1:
            raise InputError(f"exponential mechanism: candidates must be >= 1, got {K}")
        if not isinstance(rng, np.random.Generator):
            raise InputError("exponential mechanism: rng must be a numpy.random.Generator")
        if self.polytope.dim == 0:
            return np.repeat(self.polytope.x0[None, :], K, axis=0)
        hr = HitAndRun(self.polytope, beta=0.0)
        if self.rounding:
            hr.round(rng, chains=8)
        chains = min(K, 256)
        per = -(-K // chains)
        s = hr.sample(per, rng, chains=chains, burn=max(30, 2 * self.polytope.dim), thin=2)
        return s.x.transpose(1, 0, 2).reshape(-1, self.polytope.n)[:K]

    def quantity(self, expr):
        """``(c0, c, Q)`` of a Pyomo expression (e.g. total emissions) in the column space."""
        return _dense(self.sf.expression(expr))

    def current_welfare_parts(self):
        """The welfare ``(c0, c, Q)`` re-read from the model's objective with the parameters'
        current values (e.g. a neighbouring profile set on the model); the feasible set and the
        candidates are unchanged."""
        c0, c, Q = _dense(self.sf.expression(self.sf.objective.expr))
        return -self.sf.sense * c0, -self.sf.sense * c, -self.sf.sense * Q

    def welfare(self, X):
        """Welfare at the rows of ``X``."""
        return evaluate(self.welfare_parts, X)

    def _log_weights(self, sw):
        if self.beta == 0:
            return np.zeros_like(sw)
        if math.isinf(self.beta):
            best = sw >= sw.max() - 1e-12 * (1 + abs(sw.max()))
            return np.where(best, 0.0, -np.inf)
        return self.beta * sw

    def log_probabilities(self, welfare=None):
        """Exact log-probabilities of the candidates (finite mode), by log-sum-exp."""
        if self.mode != "finite":
            raise ModelError("log_probabilities: only in finite mode (the continuous mechanism "
                             "has a density, see log_density)")
        sw = self.welfare(self.candidates) if welfare is None else np.asarray(welfare, float)
        lw = self._log_weights(sw)
        return lw - logsumexp(lw)

    def log_density(self, X):
        """Unnormalised log-density beta * sw at the rows of ``X`` (continuous mode)."""
        return self._log_weights(self.welfare(X))

    def statement(self, samples=None):
        s = self.sensitivity.statement() + f"; epsilon = {self.epsilon:g}, beta = {self.beta:.6g}/currency. "
        if self.mode == "finite":
            s += (f"Finite mode: pure epsilon-DP with respect to the candidate set of "
                  f"{len(self.candidates)} outcomes drawn uniformly from the public feasible set; "
                  f"selection probabilities exact (log-sum-exp).")
        else:
            s += ("Continuous mode: the exact density is epsilon-DP; the released draws come from a "
                  "hit-and-run chain, which gives (epsilon, (1 + e^epsilon) * d_TV)-DP with d_TV "
                  "the chain's distance to the density: NOT certified (no usable mixing bound "
                  "exists); see R-hat and ESS.")
        if samples is not None and samples.info.get("rhat_max") is not None:
            s += f" R-hat max {samples.info['rhat_max']:.4f}, ESS min {samples.info['ess_min']:.0f}."
        return s

    # -- the maximiser --------------------------------------------------------------------------
    def maximiser(self):
        """The welfare maximiser (epsilon = inf or Delta = 0): the best candidate in finite mode;
        otherwise the model is solved and its variable values and duals put back."""
        if self.mode == "finite":
            sw = self.welfare(self.candidates)
            return self.candidates[int(np.argmax(sw))]
        from pyomo_ecc.solvers import solve
        vals = [(v, v.value) for v in self.model.component_data_objects(pyo.Var, descend_into=True)]
        dual = self.model.component("dual")
        duals = list(dual.items()) if isinstance(dual, pyo.Suffix) else None
        try:
            solve(self.model)
            x = np.array([float(v.value) for v in self.sf.columns])
        finally:
            for v, val in vals:
                v.set_value(val, skip_validation=True)
            dual = self.model.component("dual")
            if isinstance(dual, pyo.Suffix):
                if duals is None:
                    self.model.del_component(dual)
                else:
                    dual.clear()
                    for c, d in duals:
                        dual[c] = d
        return x

    # -- sampling ------------------------------------------------------------------------------
    def sampler(self, rng, welfare_parts=None):
        """A (rounded) :class:`~pyomo_ecc.mechanisms.samplers.HitAndRun` for the density."""
        c0, c, Q = self.welfare_parts if welfare_parts is None else welfare_parts
        hr = HitAndRun(self.polytope, g=c, H=-Q, beta=self.beta)
        if self.rounding:
            hr.round(rng, chains=min(self.chains, 8),
                     full=True if self.rounding == "full" else
                     (False if self.rounding == "diagonal" else "auto"))
        return hr

    def sample(self, n, rng, progress=False, welfare_parts=None):
        """``n`` outcomes of the mechanism: Gumbel-max over the candidates (finite) or
        hit-and-run (continuous; ``n`` draws spread over the chains). Returns :class:`Draws`."""
        if not isinstance(rng, np.random.Generator):
            raise InputError("exponential mechanism: rng must be a numpy.random.Generator")
        n = int(n)
        if n < 1:
            raise InputError(f"exponential mechanism: n must be >= 1, got {n}")
        names = self.names
        sw_parts = self.welfare_parts if welfare_parts is None else welfare_parts
        if self.polytope.dim == 0 and self.mode == "continuous":
            X = np.repeat(self.polytope.x0[None, :], n, axis=0)
            df = pd.DataFrame(X, columns=names)
            df["welfare"] = evaluate(sw_parts, X)
            df.index.name = "draw"
            return Draws(X, df, self.statement() + " The feasible set is a single point.")
        if self.mode == "finite" or math.isinf(self.beta):
            if self.mode == "finite":
                X = self.candidates[self.sample_indices(n, rng, sw_parts)]
            else:
                X = np.repeat(self.maximiser()[None, :], n, axis=0)
            df = pd.DataFrame(X, columns=names)
            df["welfare"] = evaluate(sw_parts, X)
            df.index.name = "draw"
            return Draws(X, df, self.statement())
        hr = self.sampler(rng, sw_parts)
        chains = self.chains
        per = -(-n // chains)
        s = hr.sample(per, rng, chains=chains, burn=self.burn, thin=self.thin, progress=progress)
        sw = evaluate(sw_parts, s.flat()).reshape(chains, per)
        cols = [s.x[..., j] for j in range(s.x.shape[-1])] + [sw]
        diag = []
        for name, v in zip(names + ["welfare"], cols):
            if np.ptp(v) == 0:
                diag.append((name, 1.0, float(v.size)))
            else:
                diag.append((name, rhat(v), ess(v)))
        dg = pd.DataFrame(diag, columns=["quantity", "rhat", "ess"]).set_index("quantity")
        s.info["rhat_max"] = float(dg["rhat"].max())
        s.info["ess_min"] = float(dg["ess"].min())
        X = s.x.transpose(1, 0, 2).reshape(-1, s.x.shape[-1])[:n]
        df = pd.DataFrame(X, columns=names)
        df["welfare"] = evaluate(sw_parts, X)
        df.index.name = "draw"
        return Draws(X, df, self.statement(s), dg, s)

    def sample_indices(self, n, rng, welfare_parts=None, chunk=2**22):
        r"""Finite mode: indices of ``n`` selected candidates by Gumbel-max,
        :math:`\arg\max_k (\log p_k + G_k)` with standard Gumbel :math:`G_k` (exact; in chunks)."""
        if self.mode != "finite":
            raise ModelError("sample_indices: only in finite mode")
        sw_parts = self.welfare_parts if welfare_parts is None else welfare_parts
        lp = self.log_probabilities(evaluate(sw_parts, self.candidates))
        K = lp.size
        out = np.empty(int(n), dtype=np.int64)
        step = max(1, chunk // K)
        for a in range(0, int(n), step):
            b = min(int(n), a + step)
            out[a:b] = np.argmax(lp[None, :] + rng.gumbel(size=(b - a, K)), axis=1)
        return out

    def release(self, n, rng, ledger, participants=None, what="allocation samples"):
        """:meth:`sample` recorded in ``ledger``: n draws cost n * epsilon (basic composition;
        the ledger may compose better); continuous draws are recorded as uncertified."""
        who = participants or list(_participants(self.model))
        ledger.charge(what, self.epsilon * int(n), who, sensitivity=self.sensitivity.delta,
                      content=f"{n} draw(s) of the {self.mode} exponential mechanism",
                      certified=self.mode == "finite")
        return self.sample(n, rng)

    def release_payments(self, payments, ledger, what="payments"):
        """Record the release of a payments frame in ``ledger``: payments are functions of the
        reports, not differentially private (epsilon = inf), so any finite budget refuses them
        (:class:`~pyomo_ecc.mechanisms.privacy.PrivacyBudgetError`); returns the frame."""
        ledger.charge(what, math.inf, list(payments.index), sensitivity=self.sensitivity.delta,
                      content=f"{len(payments)} payment(s), {self.mode} mode, epsilon {self.epsilon:g}",
                      certified=False)
        return payments

    # -- expectations ------------------------------------------------------------------------
    def expect(self, parts_list, rng=None, n=4000, welfare_parts=None):
        """Expectations of quadratic functionals under the mechanism: ``(mean, se)`` arrays.

        Finite mode: exact over the candidates; ``se`` is the error of the candidate draw
        (self-normalised importance sampling). Continuous: Monte Carlo, ``se = sd / sqrt(ESS)``."""
        sw_parts = self.welfare_parts if welfare_parts is None else welfare_parts
        if self.mode == "finite":
            X = self.candidates
            p = np.exp(self.log_probabilities(evaluate(sw_parts, X)))
            means, ses = [], []
            for parts in parts_list:
                f = evaluate(parts, X)
                m = float(p @ f)
                means.append(m)
                ses.append(float(np.sqrt(np.sum(p * p * (f - m) ** 2))))
            return np.array(means), np.array(ses)
        if math.isinf(self.beta) or self.polytope.dim == 0:
            x = self.maximiser() if self.polytope.dim else self.polytope.x0
            return np.array([float(evaluate(p, x[None])[0]) for p in parts_list]), np.zeros(len(parts_list))
        if rng is None:
            raise InputError("expect: continuous mode needs rng")
        d = self.sample(n, rng, welfare_parts=sw_parts)
        S = d.samples
        chains, per = S.x.shape[0], S.x.shape[1]
        means, ses = [], []
        for parts in parts_list:
            f = evaluate(parts, S.flat()).reshape(chains, per)
            m = float(f.mean())
            sd = float(f.std())
            e = ess(f) if sd > 0 else f.size
            means.append(m)
            ses.append(sd / math.sqrt(e))
        return np.array(means), np.array(ses)

    def log_partition_ratio(self, rng=None, nodes=8, n=4000):
        r""":math:`\log \int_X e^{\beta\,\mathrm{sw}} / \int_X 1` (log of the mean of
        :math:`e^{\beta\,\mathrm{sw}}` under the uniform base measure): exact log-sum-exp in
        finite mode; thermodynamic integration over :math:`\beta` in continuous mode,
        :math:`\int_0^\beta \mathbb{E}_b[\mathrm{sw}]\,db` by Gauss-Legendre. Returns
        ``(value, se)``."""
        if self.mode == "finite":
            sw = self.welfare(self.candidates)
            return float(logsumexp(self._log_weights(sw)) - math.log(sw.size)), 0.0
        xs, ws = np.polynomial.legendre.leggauss(nodes)
        b = self.beta
        total, var = 0.0, 0.0
        for x, w in zip(xs, ws):
            bk = 0.5 * b * (x + 1)
            hr = HitAndRun(self.polytope, g=self.welfare_parts[1], H=-self.welfare_parts[2], beta=bk)
            if self.rounding:
                hr.round(rng, chains=min(self.chains, 8))
            per = -(-n // self.chains)
            s = hr.sample(per, rng, chains=self.chains, burn=self.burn)
            f = evaluate(self.welfare_parts, s.flat()).reshape(self.chains, per)
            e = ess(f) if np.ptp(f) > 0 else f.size
            total += 0.5 * b * w * f.mean()
            var += (0.5 * b * w) ** 2 * f.var() / e
        return total, math.sqrt(var)

    # -- payments ------------------------------------------------------------------------------
    def _without(self, rng):
        """The same mechanism (same epsilon and Delta: public constants) on the model as it is
        now (called inside :func:`withdrawn`)."""
        sf = standard_form(self.model, track=False)
        return ExponentialMechanism(self.model, self.epsilon, self.sensitivity, self.mode,
                                    candidates=0 if self.candidates is None else len(self.candidates),
                                    rng=rng, chains=self.chains, burn=self.burn, thin=self.thin,
                                    rounding=self.rounding, _sf=sf)

    def vcg_payments(self, rng, n=4000, participants=None, progress=False):
        r"""Seed eq. 11 payments (module doc): DataFrame indexed ``participant`` with
        ``sw_others_without`` (:math:`\mathbb{E}_{\pi_{D_{-i}}}[\mathrm{sw}_{-i}]`),
        ``sw_others_with`` (:math:`\mathbb{E}_{\pi_D}[\mathrm{sw}_{-i}]`), ``payment`` (what
        :math:`i` pays; negative: it receives), ``se``, ``value`` (:math:`\mathbb{E}[v_i]`),
        ``utility`` = value - payment, ``status`` and ``reason`` (``undefined`` when the market
        has no feasible set without :math:`i`)."""
        if not isinstance(rng, np.random.Generator):
            raise InputError("vcg_payments: rng must be a numpy.random.Generator")
        parts = _participants(self.model)
        names = participants or list(parts)
        rows = []
        for name in tqdm(names, desc="DP-VCG payments", disable=not progress):
            blk = parts[name]
            v_i = _neg(self.quantity(blk.bid_cost))
            others = _add(self.welfare_parts, v_i, -1.0)
            (m_with, m_vi), (s_with, s_vi) = self.expect([others, v_i], rng, n)
            try:
                with withdrawn(self.model, blk):
                    mech = self._without(rng)
                    v_i0 = _neg(_dense(mech.sf.expression(blk.bid_cost)))
                    others0 = _add(mech.welfare_parts, v_i0, -1.0)
                    (m_wo,), (s_wo,) = mech.expect([others0], rng, n)
            except ModelError as e:     # e.g. nobody else can replace it: no feasible set
                rows.append((name, np.nan, m_with, np.nan, np.nan, m_vi, np.nan, "undefined",
                             f"without '{name}': {e}"))
                continue
            pay = m_wo - m_with
            rows.append((name, m_wo, m_with, pay, math.hypot(s_wo, s_with), m_vi, m_vi - pay,
                         "defined", ""))
        return pd.DataFrame(rows, columns=["participant", "sw_others_without", "sw_others_with",
                                           "payment", "se", "value", "utility", "status",
                                           "reason"]).set_index("participant")

    def _free_energy_gap(self, others, v_i, rng, nodes, n):
        """F(sw) - F(sw_{-i}) and its se (module doc)."""
        if self.beta == 0:
            (m,), (s,) = self.expect([v_i], rng, n)
            return m, s
        if self.mode == "finite":
            X = self.candidates
            so, vi = evaluate(others, X), evaluate(v_i, X)
            if math.isinf(self.beta):
                return float(np.max(so + vi) - np.max(so)), 0.0
            b = self.beta
            return float((logsumexp(b * (so + vi)) - logsumexp(b * so)) / b), 0.0
        if math.isinf(self.beta):
            raise ModelError("Huang-Kannan payments at epsilon = inf in continuous mode: use the "
                             "VCG payments of the deterministic market")
        xs, ws = np.polynomial.legendre.leggauss(nodes)
        total, var = 0.0, 0.0
        for x, w in zip(xs, ws):
            lam = 0.5 * (x + 1)
            (m,), (s,) = self.expect([v_i], rng, n, welfare_parts=_add(others, v_i, lam))
            total += 0.5 * w * m
            var += (0.5 * w * s) ** 2
        return total, math.sqrt(var)

    def hk_payments(self, rng=None, n=4000, nodes=8, participants=None, progress=False):
        r"""Huang-Kannan payments (module doc): DataFrame indexed ``participant`` with
        ``free_energy_gap`` (:math:`F(\mathrm{sw}) - F(\mathrm{sw}_{-i})`), ``value``
        (:math:`\mathbb{E}_{\pi}[v_i]`), ``payment`` = pivot - F + value, ``utility`` (= the
        gap), ``se``. Exact in finite mode."""
        parts = _participants(self.model)
        names = participants or list(parts)
        rows = []
        for name in tqdm(names, desc="Huang-Kannan payments", disable=not progress):
            v_i = _neg(self.quantity(parts[name].bid_cost))
            others = _add(self.welfare_parts, v_i, -1.0)
            gap, s_gap = self._free_energy_gap(others, v_i, rng, nodes, n)
            (val,), (s_val,) = self.expect([v_i], rng, n)
            rows.append((name, gap, val, val - gap, gap, math.hypot(s_gap, s_val)))
        return pd.DataFrame(rows, columns=["participant", "free_energy_gap", "value", "payment",
                                           "utility", "se"]).set_index("participant")

    # -- truthfulness --------------------------------------------------------------------------
    def misreport_gain(self, participant, misreports, rng=None, rule="vcg", n=4000):
        r"""Largest utility gain of ``participant`` over ``misreports`` (a list of
        ``{param_name: value}``), with its true valuation, under ``rule`` ``"vcg"`` (eq. 11) or
        ``"hk"``. Returns a DataFrame indexed ``misreport`` with ``utility``, ``gain`` (over the
        truth) and ``attrs``: ``max_gain``, ``eq12_bound`` (:math:`\varepsilon` in normalised
        units: :math:`\varepsilon\Delta` in currency) and ``dp_bound``
        (:math:`\tanh(\varepsilon/2)` times the welfare's range over the outcome space: for
        eq. 11 the gain is :math:`\mathbb{E}_{\hat\pi}[\mathrm{sw}] - \mathbb{E}_\pi[\mathrm{sw}]`
        and the two distributions are within :math:`\tanh(\varepsilon/2)` in total variation
        when the misreport is a neighbouring profile; 0 for ``"hk"``; NaN in continuous mode).
        Finite mode evaluates every report on the same candidates (exact comparisons);
        continuous mode re-samples for each report (gains carry Monte Carlo error)."""
        if rule not in ("vcg", "hk"):
            raise InputError(f"misreport_gain: rule must be 'vcg' or 'hk', got {rule!r}")
        blk = _participants(self.model)[participant]
        v_true = _neg(self.quantity(blk.bid_cost))
        others = _add(self.welfare_parts, v_true, -1.0)
        if rule == "vcg":
            # the pivot E_{D-i}[sw_-i] does not depend on i's report: utility up to a constant
            def utility(v_rep):
                (m,), _ = self.expect([self.welfare_parts], rng, n, welfare_parts=_add(others, v_rep))
                return m
        else:
            def utility(v_rep):
                sw_rep = _add(others, v_rep)
                (val_true, val_rep), _ = self.expect([v_true, v_rep], rng, n, welfare_parts=sw_rep)
                gap, _ = self._hk_gap_for(others, v_rep, rng, n)
                pay = val_rep - gap
                return val_true - pay
        u0 = utility(v_true)
        rows = [("truth", u0, 0.0)]
        for k, mis in enumerate(misreports):
            saved = []
            try:
                for pname, val in mis.items():
                    comp = blk.component(pname)
                    for key in comp:
                        saved.append((comp[key], comp[key].value))
                        comp[key].set_value(val)
                v_rep = _neg(self.quantity(blk.bid_cost))
            finally:
                for p, val in saved:
                    p.set_value(val)
            u = utility(v_rep)
            rows.append((f"misreport {k}: {mis}", u, u - u0))
        df = pd.DataFrame(rows, columns=["misreport", "utility", "gain"]).set_index("misreport")
        df.attrs["max_gain"] = float(df["gain"].max())
        df.attrs["eq12_bound"] = self.epsilon * self.sensitivity.delta
        if self.mode == "finite":
            sw = self.welfare(self.candidates)
            rng_sw = float(sw.max() - sw.min())
        else:       # the welfare's range over the polytope needs a non-convex problem
            rng_sw = float("nan")
        df.attrs["dp_bound"] = 0.0 if rule == "hk" else math.tanh(self.epsilon / 2) * rng_sw
        return df

    def _hk_gap_for(self, others, v_rep, rng, n):
        return self._free_energy_gap(others, v_rep, rng, 8, n)


def outcome_frame(mech, draws, quantities=None):
    """Dispatch, welfare and named quantities (``{name: Pyomo expression}``, e.g. emissions)
    of ``draws``: DataFrame indexed ``draw``."""
    df = draws.frame.copy()
    for name, expr in (quantities or {}).items():
        df[name] = evaluate(mech.quantity(expr), draws.x)
    return df
