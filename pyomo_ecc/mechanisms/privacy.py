r"""Privacy specification, sensitivity and the privacy ledger of the exponential mechanism.

**What is private.** The data a participant wants to keep private are the coefficients of its
welfare: its cost or utility coefficients (offer prices), i.e. the mutable parameters inside its
``bid_cost``. Everything that shapes the feasible set is **public**: limits, network, policies.
The mechanism's base measure (Lebesgue measure on the feasible polytope, or the uniform draw of
finite-mode candidates from it) therefore depends on public data only; :class:`PrivacySpec`
refuses a private parameter that enters a constraint or a bound.

**Neighbouring profiles** differ in one participant's private parameters, anywhere inside their
declared public ranges :math:`\Theta_i = \prod_k [\underline\theta_{ik}, \overline\theta_{ik}]`.

**Sensitivity.** With :math:`v_i(x; \theta_i) = -\mathrm{BC}_i(x)` affine in :math:`\theta_i`
(as every ``bid_cost`` of the library is: :math:`a p^2 + b p + c`),
:math:`v_i(x;\theta) - v_i(x;\theta') = \sum_k (\theta_k - \theta'_k)\,\phi_{ik}(x)` with
:math:`\phi_{ik} = \partial v_i / \partial \theta_{ik}`, and the global sensitivity of the
welfare is

.. math::

    \Delta = \max_i \max_{x \in X} \sum_k (\overline\theta_{ik} - \underline\theta_{ik})
             \,|\phi_{ik}(x)|
           \;\le\; \max_i \sum_k (\overline\theta_{ik} - \underline\theta_{ik})
             \max_{x \in X} |\phi_{ik}(x)|,

computed (:func:`sensitivity`) by linear programmes over the feasible set :math:`X`: for a
linear :math:`\phi` the maximum of :math:`\pm\phi` over :math:`X`; for a quadratic one, over the
box of :math:`i`'s columns tightened to :math:`X` by LPs (min and max of each column), where a
separable quadratic's extremes are exact per coordinate. The right-hand side is what is
computed: equal to :math:`\Delta` when the :math:`|\phi_{ik}|` peak at the same point (e.g.
:math:`p^2, p, 1` all at :math:`p^{max}`), an upper bound otherwise, so the guarantee holds
either way.

The **seed normalisation** (Peng & Han 2025, eq. 9: valuations scaled to [0, 1], Δ = 1) is
:func:`seed_normalisation`: all valuations are divided by one common scale
:math:`S = \max_i (\max_X v_i - \min_X v_i)` so that each spans at most 1 and Δ = 1 in
normalised units, i.e. :math:`\beta = \varepsilon / (2S)` in currency. (A common scale keeps the
welfare maximiser; scaling each valuation by its own range would not.) :math:`S` is computed
from the *reported* coefficients, so it is data-dependent: the guarantee is then with respect to
the normalised valuations, as in the paper, not to the raw reports; the statement says so.

**Ledger** (:class:`PrivacyLedger`): every release is recorded with its :math:`\varepsilon`,
:math:`\delta`, sensitivity and content; spending composes (basic: sums; or advanced
composition for :math:`k` releases of equal :math:`\varepsilon`); a release that would take a
participant over its budget is refused with :class:`PrivacyBudgetError` naming the budget and
the excess. A release that is not differentially private (e.g. payments computed from the
reports: ``epsilon = inf``) is refused by any finite budget.

=================================  ============================  ==================================
symbol                             attribute                     meaning
=================================  ============================  ==================================
:math:`\Theta_i`                   ``PrivacySpec.bounds``        public ranges of private parameters
:math:`\Delta`, :math:`\Delta_i`   ``Sensitivity.delta``,        global / per-participant sensitivity
                                   ``.by_participant``           (currency)
:math:`S`                          ``Sensitivity.scale``         seed normalisation scale
:math:`\varepsilon, \delta`        ``PrivacyLedger.spent()``     spent per participant
=================================  ============================  ==================================
"""
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.visitor import identify_mutable_parameters
from scipy.optimize import linprog

from pyomo_ecc.errors import EccError, InputError, ModelError


class PrivacyBudgetError(EccError):
    """A release would exceed a privacy budget; the message names the budget and the excess."""


# -- specification ---------------------------------------------------------------------------
def _participants(model):
    from pyomo_ecc.core.market import require_markets
    mks = require_markets(model)
    return {p.local_name: p for mk in mks for p in mk.participants()}


def welfare_params(block):
    """The mutable parameters inside ``block.bid_cost`` (its private data by default)."""
    return list(identify_mutable_parameters(block.bid_cost.expr))


@dataclass
class PrivacySpec:
    r"""Which data are private, and the public ranges of the private parameters.

    ``bounds``: ``{participant: {param_name: (lo, hi)}}`` (a parameter of the participant's
    block; an indexed one takes the range at every index). Participants not listed are public.
    Build with :meth:`for_model` (which checks the parameters) or :meth:`relative` (ranges as
    factors of the reported values).
    """

    bounds: dict
    model_name: str = ""

    @classmethod
    def for_model(cls, model, bounds):
        parts = _participants(model)
        clean = {}
        for name, prm in bounds.items():
            if name not in parts:
                raise InputError(f"privacy spec: unknown participant {name!r}; the market has "
                                 f"{sorted(parts)}")
            blk = parts[name]
            inside = {id(p) for p in welfare_params(blk)}
            clean[name] = {}
            for pname, rng in prm.items():
                comp = blk.component(pname)
                if comp is None or not isinstance(comp, pyo.Param) or not comp.mutable:
                    raise InputError(f"privacy spec: {name}.{pname} is not a mutable parameter of "
                                     f"participant {name!r}")
                try:
                    lo, hi = float(rng[0]), float(rng[1])
                except (TypeError, ValueError, IndexError):
                    raise InputError(f"privacy spec: range of {name}.{pname} must be (lo, hi), "
                                     f"got {rng!r}") from None
                if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
                    raise InputError(f"privacy spec: range of {name}.{pname} must be finite with "
                                     f"lo <= hi, got ({lo}, {hi})")
                if not any(id(comp[k]) in inside for k in comp):
                    raise InputError(f"privacy spec: {name}.{pname} does not enter {name}'s "
                                     f"bid_cost (only welfare coefficients can be private)")
                for k in comp:
                    v = comp[k].value
                    if v is not None and not (lo - 1e-12 * (1 + abs(lo)) <= v <= hi + 1e-12 * (1 + abs(hi))):
                        raise InputError(f"privacy spec: reported {comp[k].name} = {v} is outside "
                                         f"its public range [{lo}, {hi}]")
                clean[name][pname] = (lo, hi)
        spec = cls(clean, model.name)
        spec.check_public_feasible_set(model)
        return spec

    @classmethod
    def relative(cls, model, low=0.5, high=2.0, participants=None, params=None):
        """Ranges ``[low, high]`` times each reported welfare coefficient (sorted, so a negative
        coefficient gets ``[high * v, low * v]``), for ``participants`` (default all) and
        ``params`` (default every mutable parameter of the bid cost); a zero coefficient gets
        ``[0, 0]`` (it stays public)."""
        parts = _participants(model)
        bounds = {}
        for name in participants or parts:
            blk = parts[name]
            bounds[name] = {}
            for comp in {id(p.parent_component()): p.parent_component()
                         for p in welfare_params(blk)}.values():
                if comp.parent_block() is not blk:
                    continue
                if params is not None and comp.local_name not in params:
                    continue
                vals = [comp[k].value for k in comp]
                lo = min(min(low * v, high * v) for v in vals)
                hi = max(max(low * v, high * v) for v in vals)
                bounds[name][comp.local_name] = (lo, hi)
        return cls.for_model(model, bounds)

    def params(self, model):
        """``[(participant, ParamData, lo, hi)]`` of every private parameter."""
        parts = _participants(model)
        out = []
        for name, prm in self.bounds.items():
            for pname, (lo, hi) in prm.items():
                comp = parts[name].component(pname)
                out += [(name, comp[k], lo, hi) for k in comp]
        return out

    def check_public_feasible_set(self, model):
        """Refuse a private parameter that shapes the feasible set (a constraint or a bound):
        the base measure must not depend on private data."""
        private = {id(p): (n, p) for n, p, _, _ in self.params(model)}
        for con in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
            for p in identify_mutable_parameters(con.expr):
                if id(p) in private:
                    raise InputError(f"privacy spec: private parameter {p.name} enters constraint "
                                     f"'{con.name}'; the feasible set must be public (the base "
                                     f"measure may not depend on private data)")
        for v in model.component_data_objects(pyo.Var, descend_into=True):
            for b in (v._lb, v._ub):
                if b is not None and not isinstance(b, (int, float)):
                    for p in identify_mutable_parameters(b):
                        if id(p) in private:
                            raise InputError(f"privacy spec: private parameter {p.name} is a bound "
                                             f"of '{v.name}'; the feasible set must be public")


# -- sensitivity -----------------------------------------------------------------------------
@dataclass
class Sensitivity:
    r"""The :math:`\Delta` of the welfare (currency): :math:`\beta = \varepsilon/(2\Delta)`.

    ``basis`` says how it was obtained; ``data_dependent`` is True for the seed normalisation
    (its scale uses the reports); ``by_participant`` (Series) the :math:`\Delta_i` or ranges.
    """

    delta: float
    basis: str
    by_participant: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    data_dependent: bool = False
    exact: bool = True
    scale: float = float("nan")

    def statement(self):
        s = f"sensitivity {self.basis}: Delta = {self.delta:.6g} (currency)"
        if self.data_dependent:
            s += (" - the scale S is computed from the reported coefficients, so the guarantee "
                  "holds for the normalised valuations (as in the seed), not for the raw reports")
        if not self.exact:
            s += " (an upper bound: the guarantee holds)"
        return s


def _lp_extreme(c, poly_parts, maximise=True):
    """max (or min) of c @ x over the polytope given as (A_ub, b_ub, A_eq, b_eq)."""
    A_ub, b_ub, A_eq, b_eq = poly_parts
    res = linprog(-c if maximise else c, A_ub=A_ub if A_ub.shape[0] else None,
                  b_ub=b_ub if b_ub.size else None, A_eq=A_eq if A_eq.shape[0] else None,
                  b_eq=b_eq if b_eq.size else None, bounds=[(None, None)] * c.size, method="highs")
    if res.status != 0:
        raise ModelError(f"sensitivity: LP over the feasible set failed ({res.message})")
    return float(-res.fun if maximise else res.fun)


def polytope_parts(P):
    """(A_ub, b_ub, A_eq, b_eq) of a :class:`~pyomo_ecc.mechanisms.samplers.Polytope`, sparse
    (market rows are mostly single-column limits: HiGHS's presolve then takes them at once)."""
    cache = getattr(P, "_lp_parts", None)
    if cache is None:
        import scipy.sparse as sp
        cache = P._lp_parts = (sp.csr_array(P.G), P.h, sp.csr_array(P.E), P.e)
    return cache


def quadratic_range(parts, P, cols=None):
    """``(min, max)`` of :math:`c_0 + c^\\top x + \\frac12 x^\\top Q x` over the polytope ``P``.

    Linear: exact, by two LPs. Quadratic: over the box of its columns tightened to ``P`` by LPs
    (exact per coordinate when ``Q`` is diagonal; interval bounds otherwise); returns also
    whether the result is exact (``(lo, hi, exact)``)."""
    import scipy.sparse as sp
    c0, c, Q = parts
    c = np.asarray(c, float)
    Q = sp.csc_array(Q)
    pp = polytope_parts(P)
    if Q.nnz == 0 or not np.any(Q.data):
        if not np.any(c):
            return c0, c0, True
        return c0 + _lp_extreme(c, pp, False), c0 + _lp_extreme(c, pp, True), True
    qcols = np.unique(Q.nonzero()[1])
    support = np.union1d(np.flatnonzero(np.abs(c) > 0), qcols)
    lo = np.empty(support.size)
    hi = np.empty(support.size)
    for k, j in enumerate(support):
        e = np.zeros(c.size)
        e[j] = 1.0
        lo[k], hi[k] = _lp_extreme(e, pp, False), _lp_extreme(e, pp, True)
    Q = Q.toarray() if support.size == c.size else Q[support][:, support].toarray()
    support_local = np.arange(support.size) if support.size != c.size else support
    Qs = Q[np.ix_(support_local, support_local)]
    cs = c[support]
    diag = not np.any(Qs - np.diag(np.diag(Qs)))
    if diag:
        vmin, vmax = c0, c0
        for k in range(support.size):
            q, a = 0.5 * Qs[k, k], cs[k]
            pts = [lo[k], hi[k]]
            if q != 0:
                xs = -a / (2 * q)
                if lo[k] < xs < hi[k]:
                    pts.append(xs)
            vals = [q * x * x + a * x for x in pts]
            vmin += min(vals)
            vmax += max(vals)
        # exact when only one column carries the function (separable over a box = the projection)
        return vmin, vmax, support.size == 1
    m = np.maximum(np.abs(lo), np.abs(hi))
    bound = np.abs(cs) @ m + 0.5 * m @ np.abs(Qs) @ m
    return c0 - bound, c0 + bound, False


def _abs_max(parts, P):
    lo, hi, exact = quadratic_range(parts, P)
    return max(abs(lo), abs(hi)), exact


def sensitivity(model, spec, sf, P):
    r"""Global sensitivity :math:`\Delta` from the spec's public ranges (module doc).

    ``sf``: the standard form of ``model``; ``P``: its feasible polytope
    (:func:`pyomo_ecc.mechanisms.exponential.feasible_polytope`). The features
    :math:`\phi_{ik}` are read by moving each parameter by one unit (the bid cost must be
    affine in it: checked with a second move)."""
    parts = _participants(model)
    rows = {}
    exact_all = True
    for name, prm in spec.bounds.items():
        blk = parts[name]
        total = 0.0
        for pname, (lo, hi) in prm.items():
            comp = blk.component(pname)
            if hi == lo:
                continue
            for k in comp:
                pd_ = comp[k]
                v0 = pd_.value
                try:
                    base = sf.expression(blk.bid_cost)
                    pd_.set_value(v0 + 1.0)
                    one = sf.expression(blk.bid_cost)
                    pd_.set_value(v0 + 2.0)
                    two = sf.expression(blk.bid_cost)
                finally:
                    pd_.set_value(v0)
                phi = (-(one[0] - base[0]), -(one[1] - base[1]), -(one[2] - base[2]))
                curv = (two[0] - 2 * one[0] + base[0], two[1] - 2 * one[1] + base[1],
                        (two[2] - 2 * one[2] + base[2]))
                if abs(curv[0]) > 1e-9 or np.abs(curv[1]).max(initial=0) > 1e-9 or \
                        np.abs(curv[2].toarray()).max(initial=0) > 1e-9:
                    raise ModelError(f"sensitivity: {name}'s bid_cost is not affine in {pd_.name}; "
                                     f"declare a parameter that enters linearly")
                amax, exact = _abs_max(phi, P)
                exact_all &= exact
                total += (hi - lo) * amax
        rows[name] = total
    if not rows:
        raise InputError("sensitivity: the privacy spec declares no private parameter")
    ser = pd.Series(rows, name="delta").rename_axis("participant")
    # the per-parameter sum is exact only if the features peak together; report as upper bound
    # unless every participant has a single private parameter
    single = all(len([p for p, (lo, hi) in prm.items() if hi > lo]) <= 1
                 for prm in spec.bounds.values())
    return Sensitivity(delta=float(ser.max()), basis="from public parameter ranges",
                       by_participant=ser, exact=exact_all and single)


def seed_normalisation(model, sf, P):
    r"""The seed's normalisation (module doc): :math:`\Delta = S`, the largest range of one
    participant's valuation over the feasible set, so that :math:`\varepsilon\,sw/(2\Delta)`
    equals :math:`\varepsilon\,\widetilde{sw}/2` with valuations scaled to unit range."""
    rows = {}
    exact_all = True
    for name, blk in _participants(model).items():
        lo, hi, exact = quadratic_range(sf.expression(blk.bid_cost), P)
        exact_all &= exact
        rows[name] = hi - lo
    ser = pd.Series(rows, name="valuation_range").rename_axis("participant")
    S = float(ser.max())
    if not S > 0:
        raise ModelError("seed normalisation: every valuation is constant on the feasible set")
    return Sensitivity(delta=S, basis="seed normalisation (valuations / S in [0, 1] range, Delta = 1)",
                       by_participant=ser, data_dependent=True, exact=exact_all, scale=S)


# -- ledger ----------------------------------------------------------------------------------
def advanced_composition(epsilon, k, delta_prime):
    r"""Dwork-Rothblum-Vadhan: :math:`k` releases of :math:`\varepsilon` compose to
    :math:`\sqrt{2k\ln(1/\delta')}\,\varepsilon + k\varepsilon(e^\varepsilon - 1)` with
    :math:`\delta'` added to the summed :math:`\delta`."""
    if k == 0:
        return 0.0
    return math.sqrt(2 * k * math.log(1 / delta_prime)) * epsilon + k * epsilon * math.expm1(epsilon)


@dataclass
class Release:
    """One recorded release."""

    what: str
    epsilon: float
    delta: float
    sensitivity: float
    participants: tuple
    content: str = ""
    certified: bool = True


class PrivacyLedger:
    r"""Records releases and refuses one that would exceed a budget (module doc).

    ``budget``: total :math:`\varepsilon` per participant (a number for all, or a dict by
    participant; ``None`` records without limit); ``delta_budget`` likewise for :math:`\delta`.
    ``composition``: ``"basic"`` (sum) or ``"advanced"`` (:func:`advanced_composition` over
    the releases of each participant, all of one :math:`\varepsilon`, with ``delta_prime``;
    the basic sum is used whenever it is smaller).
    """

    def __init__(self, budget=None, delta_budget=None, composition="basic", delta_prime=1e-6):
        if composition not in ("basic", "advanced"):
            raise InputError(f"ledger: composition must be 'basic' or 'advanced', got {composition!r}")
        for nm, b in (("budget", budget), ("delta_budget", delta_budget)):
            vals = b.values() if isinstance(b, dict) else ([] if b is None else [b])
            for v in vals:
                if not (float(v) >= 0):
                    raise InputError(f"ledger: {nm} must be >= 0, got {v}")
        self.budget = budget
        self.delta_budget = delta_budget
        self.composition = composition
        self.delta_prime = delta_prime
        self.releases = []

    def _limit(self, table, who):
        if table is None:
            return math.inf
        if isinstance(table, dict):
            return float(table.get(who, math.inf))
        return float(table)

    def _compose(self, eps_list, delta_list):
        basic_e, basic_d = sum(eps_list), sum(delta_list)
        if self.composition == "advanced" and eps_list and len(set(eps_list)) == 1 \
                and math.isfinite(eps_list[0]):
            adv = advanced_composition(eps_list[0], len(eps_list), self.delta_prime)
            if adv < basic_e:
                return adv, basic_d + self.delta_prime
        return basic_e, basic_d

    def spent(self):
        """DataFrame indexed ``participant``: composed ``epsilon``, ``delta``, ``releases``,
        ``uncertified`` (releases whose delta is not certified, e.g. MCMC)."""
        who = sorted({p for r in self.releases for p in r.participants})
        rows = []
        for p in who:
            rs = [r for r in self.releases if p in r.participants]
            e, d = self._compose([r.epsilon for r in rs], [r.delta for r in rs])
            rows.append((p, e, d, len(rs), sum(not r.certified for r in rs)))
        return pd.DataFrame(rows, columns=["participant", "epsilon", "delta", "releases",
                                           "uncertified"]).set_index("participant")

    def charge(self, what, epsilon, participants, delta=0.0, sensitivity=float("nan"), content="",
               certified=True):
        """Record a release, or raise :class:`PrivacyBudgetError` (nothing recorded) if it
        would take any participant over its budget."""
        epsilon, delta = float(epsilon), float(delta)
        if not epsilon >= 0 or not delta >= 0:
            raise InputError(f"ledger: release '{what}' needs epsilon >= 0 and delta >= 0 "
                             f"(got {epsilon}, {delta})")
        rel = Release(what, epsilon, delta, float(sensitivity), tuple(participants), content, certified)
        for p in rel.participants:
            rs = [r for r in self.releases if p in r.participants] + [rel]
            e, d = self._compose([r.epsilon for r in rs], [r.delta for r in rs])
            lim_e, lim_d = self._limit(self.budget, p), self._limit(self.delta_budget, p)
            if e > lim_e * (1 + 1e-12):
                raise PrivacyBudgetError(
                    f"release '{what}' refused: participant {p!r} would spend epsilon = {e:.6g} "
                    f"of its budget {lim_e:.6g} (over by {e - lim_e:.6g})")
            if d > lim_d * (1 + 1e-12):
                raise PrivacyBudgetError(
                    f"release '{what}' refused: participant {p!r} would spend delta = {d:.6g} "
                    f"of its delta budget {lim_d:.6g} (over by {d - lim_d:.6g})")
        self.releases.append(rel)
        return rel

    def frame(self):
        """Every release: DataFrame indexed ``release`` (0, 1, ...)."""
        df = pd.DataFrame([r.__dict__ for r in self.releases],
                          columns=["what", "epsilon", "delta", "sensitivity", "participants",
                                   "content", "certified"])
        df.index.name = "release"
        return df


# -- statistical audit -----------------------------------------------------------------------
def event_audit(sample_a, sample_b, epsilon, rng, n_select=100000, n_test=400000, alpha=1e-6,
                thresholds=41):
    r"""Event-based statistical test of an :math:`\varepsilon`-DP claim (in the style of StatDP,
    Ding et al. 2018) on two neighbouring inputs.

    ``sample_a(n, rng)`` / ``sample_b(n, rng)`` return ``n`` scalar outputs of the mechanism on
    the two inputs. A selection run (``n_select`` each) picks, among the events
    :math:`\{y \le t\}` and :math:`\{y \ge t\}` at ``thresholds`` quantiles and both
    directions, the one with the largest empirical log-ratio; a fresh test run (``n_test`` each)
    counts :math:`c_a, c_b`, thins :math:`c_a` by Binomial(:math:`c_a, e^{-\varepsilon}`) and
    applies Fisher's exact one-sided test of :math:`H_0: p_a \le e^\varepsilon p_b`. Returns a dict
    with the event, the counts, ``p_value`` (reject the claim when below ``alpha``) and
    ``epsilon_lower``, a one-sided lower confidence bound at level ``1 - alpha`` on
    :math:`\log(p_a/p_b)` (Clopper-Pearson on each count).
    """
    from scipy.stats import beta as beta_dist, hypergeom
    ya, yb = np.asarray(sample_a(n_select, rng), float), np.asarray(sample_b(n_select, rng), float)
    ts = np.unique(np.quantile(np.r_[ya, yb], np.linspace(0.01, 0.99, thresholds)))
    best = None
    for t in ts:
        for kind in ("<=", ">="):
            ca = np.sum(ya <= t) if kind == "<=" else np.sum(ya >= t)
            cb = np.sum(yb <= t) if kind == "<=" else np.sum(yb >= t)
            for first, (x, y) in (("a", (ca, cb)), ("b", (cb, ca))):
                score = math.log((x + 1) / (y + 1))
                if best is None or score > best[0]:
                    best = (score, t, kind, first)
    _, t, kind, first = best
    ya, yb = np.asarray(sample_a(n_test, rng), float), np.asarray(sample_b(n_test, rng), float)
    if first == "b":
        ya, yb = yb, ya
    ca = int(np.sum(ya <= t) if kind == "<=" else np.sum(ya >= t))
    cb = int(np.sum(yb <= t) if kind == "<=" else np.sum(yb >= t))
    thin = int(rng.binomial(ca, math.exp(-epsilon)))
    n = n_test
    p_value = float(hypergeom.sf(thin - 1, 2 * n, thin + cb, n))
    lo_a = beta_dist.ppf(alpha / 2, ca, n - ca + 1) if ca > 0 else 0.0
    hi_b = beta_dist.ppf(1 - alpha / 2, cb + 1, n - cb) if cb < n else 1.0
    eps_lower = math.log(lo_a / hi_b) if lo_a > 0 else -math.inf
    return {"event": f"y {kind} {t:.6g}", "numerator": first, "count_num": ca, "count_den": cb,
            "n": n, "p_value": p_value, "epsilon_lower": eps_lower, "claimed_epsilon": epsilon}
