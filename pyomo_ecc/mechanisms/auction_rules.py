r"""Double-auction rules of the peers, and budget-balanced truthful alternatives to VCG.

Bids :math:`(b_j, x_j)` and asks :math:`(a_i, y_i)` are sorted into the demand and supply
staircases :math:`D`, :math:`S` (ties: earlier ``time``, then submission order); :math:`Q` is
the welfare-maximising volume (the largest one, see :mod:`pyomo_ecc.mechanisms.auction`) and
:math:`b_K = D(Q^-)`, :math:`a_K = S(Q^-)` are the prices of the marginal pair,
:math:`D(Q^+)`, :math:`S(Q^+)` the prices of the next unit on each side (:math:`-\infty` /
:math:`+\infty` when that side is exhausted).

=================================  ==============================================================  =======================================
``rule``                           outcome                                                         source
=================================  ==============================================================  =======================================
``"vertical_overlap_midpoint"``    :math:`Q` trades at the middle of the overlap of the two        AMIRIS ``MeritOrderKernel``
                                   vertical segments at :math:`Q`,
                                   :math:`\tfrac12\big(\max(a_K, D(Q^+)) + \min(b_K, S(Q^+))\big)`
``"last_accepted_supply"``         :math:`Q` at :math:`a_K` (pay-as-clear)                         ASSUME ``PayAsClearRole``
``"midpoint"``                     :math:`Q` at :math:`(a_K + b_K)/2`                              seed 002; pymarket's competitive price
``"pay_as_bid"``                   :math:`Q`; every buyer pays its bid, every seller gets its ask  ASSUME ``PayAsBidRole`` (supply side)
``"mcafee"``                       unit orders: :math:`p_0 = (b_{K+1} + a_{K+1})/2`; if            McAfee (1992)
                                   :math:`a_K \le p_0 \le b_K` all :math:`K` pairs trade at
                                   :math:`p_0`, else :math:`K-1` pairs, buyers pay :math:`b_K`,
                                   sellers get :math:`a_K`
``"trade_reduction"``              unit orders: always :math:`K-1` pairs at :math:`b_K` / :math:`a_K`  McAfee (1992)
``"huang"``                        the marginal buyer and seller are left out; buyers before them  Huang, Scheller-Wolf & Sycara (2002);
                                   pay :math:`b_K`, sellers get :math:`a_K`; the long side is      pymarket ``huang_auction``
                                   rationed by an equal cut :math:`r`,
                                   :math:`\sum_j \max(0, x_j - r) = ` short side's volume
``"muda"``                         traders split at random in two halves L, R; each half trades    Segal-Halevi, Hassidim & Aumann (2018);
                                   at the other half's price (midpoint of its marginal pair); at   pymarket ``muda``
                                   that price the short side trades fully, the long side by price
                                   priority and each long-side trader pays the surplus it
                                   displaces, :math:`f_u = \sum_{j \ne u} |p_j - p|
                                   \,(x^{-u}_j - x_j)^+` (Vickrey-MUDA)
=================================  ==============================================================  =======================================

``scarcity_price`` (uniform rules): when supply is exhausted while demand willing to pay more
than :math:`a_K` is left unserved (:math:`S(Q^+) = +\infty` and :math:`D(Q^+) > a_K`), the
price is set to ``scarcity_price`` instead (a price cap or value of lost load). AMIRIS's rule
already returns the uncovered demand's bid in that case (e.g. 3000 EUR/MWh), ASSUME's
pay-as-clear the last supply price.

Payments follow :class:`~pyomo_ecc.mechanisms.auction.AuctionResult`: what a trader pays,
negative for a seller who receives. ``budget_surplus`` is their sum: zero (strong budget
balance) for the uniform rules, :math:`\ge 0` (weak) for pay-as-bid, McAfee, trade reduction,
Huang and MUDA.

Which rule has which property (checked by :func:`property_table` with
:mod:`pyomo_ecc.mechanisms.properties` on the instances of ``tests/test_auction_rules.py``;
IC = no profitable price misreport found on a grid, efficiency = realised / optimal welfare):

===============================  ====  ====  ==========  ============  ==================
rule                             IC    IR    weak BB     strong BB     efficient
===============================  ====  ====  ==========  ============  ==================
``vertical_overlap_midpoint``    no    yes   yes         yes           yes
``last_accepted_supply``         no    yes   yes         yes           yes
``midpoint``                     no    yes   yes         yes           yes
``pay_as_bid``                   no    yes   yes         no            yes (as bid)
``mcafee``                       yes   yes   yes         no            loses <= 1 pair
``trade_reduction``              yes   yes   yes         no            loses 1 pair
``huang``                        yes   yes   yes         no            loses the marginal
``muda``                         yes   yes   yes         no            random halves
VCG (``auction_mechanism``)      yes   yes   no          no            yes
===============================  ====  ====  ==========  ============  ==================

(Myerson & Satterthwaite: no rule has all four of IC, IR, budget balance and efficiency.)

Example (McAfee's reduction on the seed 002 book, pymarket's Huang example)::

    >>> from pyomo_ecc.mechanisms.auction_rules import clear
    >>> r = clear([12, 10, 8], [5, 7, 9], "mcafee")      # p0 = (8 + 9)/2 lies in [7, 10]
    >>> r.quantity, r.price, r.budget_surplus
    (2.0, 8.5, 0.0)
    >>> r = clear([12, 10, 8], [5, 7, 9], "trade_reduction")
    >>> r.quantity, r.buyer_price, r.seller_price, r.budget_surplus
    (1.0, 10.0, 7.0, 3.0)
    >>> r = clear([(3, 1), (4, 2), (1, 5)], [(2, 4), (1, 1), (6, 5)], "huang")
    >>> r.quantity, r.buyer_price, r.seller_price
    (1.0, 3.0, 2.0)
    >>> clear([(3000, 50)], [(21, 100)], "vertical_overlap_midpoint").price
    21.0
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.auction import _TOL, _allocate, _as_orders, _clear_volume

UNIFORM_RULES = ("vertical_overlap_midpoint", "last_accepted_supply", "midpoint")
RULES = UNIFORM_RULES + ("pay_as_bid", "mcafee", "trade_reduction", "huang", "muda")


@dataclass
class RuleResult:
    """Outcome of :func:`clear`.

    ``quantity`` traded; ``buyer_price`` / ``seller_price`` per unit (equal for the uniform
    rules, ``price`` is then that price; NaN for pay-as-bid and without trade); ``welfare``:
    as-bid gains from trade realised; ``orders``: DataFrame indexed (``side``, ``order``) with
    ``price`` (as bid), ``quantity``, ``filled``, ``fee`` and ``payment``; ``extra``: rule
    details (MUDA: the halves and their prices).
    """

    rule: str
    quantity: float
    buyer_price: float
    seller_price: float
    welfare: float
    orders: pd.DataFrame = field(repr=False)
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def price(self):
        bp, sp = self.buyer_price, self.seller_price
        return bp if (bp == sp or (np.isnan(bp) and np.isnan(sp))) else float("nan")

    @property
    def budget_surplus(self):
        """Sum of all payments: 0 strongly balanced, > 0 the auctioneer keeps a surplus."""
        return float(self.orders["payment"].sum())


def _books(bids, asks):
    B, A = _as_orders(bids, "bid"), _as_orders(asks, "ask")
    names = [o.name for _, o in B] + [o.name for _, o in A]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"duplicate order name(s) {dup}")
    B = sorted(B, key=lambda ko: (-ko[1].price, ko[1].time, ko[0]))
    A = sorted(A, key=lambda ko: (ko[1].price, ko[1].time, ko[0]))
    return B, A


def _next_price(book, q, empty):
    """Price of the unit just after cumulative volume ``q`` on a sorted book."""
    cum = 0.0
    for _, o in book:
        cum += o.quantity
        if cum > q + _TOL:
            return o.price
    return empty


def _priority_fill(book, volume):
    """Fill ``volume`` from a sorted book by priority (partial last fill)."""
    fills, left = {}, volume
    for k, o in book:
        x = min(o.quantity, max(left, 0.0))
        fills[k] = x if x > _TOL else 0.0
        left -= x
    return fills


def _equal_cut(qty, target):
    """Quantities cut by one common amount r >= 0 (never below 0) so that they sum to target:
    the smallest orders drop out first (water filling)."""
    q = np.asarray(qty, dtype=float)
    if q.sum() <= target + _TOL:
        return q
    srt = np.sort(q)
    n = srt.size
    for i in range(n):
        r = (srt[i:].sum() - target) / (n - i)
        if r <= srt[i] + _TOL:
            return np.maximum(q - r, 0.0)
    return np.zeros_like(q)


def _uniform_price(rule, B, A, q, a_k, b_k, scarcity_price):
    d_next = _next_price(B, q, -np.inf)
    s_next = _next_price(A, q, np.inf)
    if scarcity_price is not None and np.isinf(s_next) and d_next > a_k:
        return float(scarcity_price), True
    if rule == "vertical_overlap_midpoint":
        return 0.5 * (max(a_k, d_next) + min(b_k, s_next)), False
    if rule == "last_accepted_supply":
        return a_k, False
    return 0.5 * (a_k + b_k), False


def _half_price(B, A):
    q, _, (a_k, b_k) = _clear_volume(B, A)
    return 0.5 * (a_k + b_k) if q > _TOL else float("nan")


def _exogenous(B, A, p):
    """One MUDA half at the exogenous price p: fills and Vickrey fees, by order name."""
    fills, fees = {}, {}
    if not np.isfinite(p):
        return fills, fees
    buy = [(o.name, o) for _, o in B if o.price >= p]
    sell = [(o.name, o) for _, o in A if o.price <= p]
    qb, qs = sum(o.quantity for _, o in buy), sum(o.quantity for _, o in sell)
    vol = min(qb, qs)
    if vol <= _TOL:
        return fills, fees
    for book in (buy, sell):
        fills.update(_priority_fill(book, vol))
    long_ = buy if qb > qs + _TOL else (sell if qs > qb + _TOL else [])
    for n, o in long_:
        if fills.get(n, 0.0) <= 0:
            continue
        rest = [(j, oj) for j, oj in long_ if j != n]
        new = _priority_fill(rest, vol)
        fees[n] = sum(abs(oj.price - p) * max(0.0, new[j] - fills[j]) for j, oj in rest)
    return fills, fees


def clear(bids, asks, rule="vertical_overlap_midpoint", scarcity_price=None, rng=None,
          split=None):
    """Clear a double auction under ``rule`` (see the module doc); returns a :class:`RuleResult`.

    ``bids`` / ``asks`` as for :func:`~pyomo_ecc.mechanisms.auction.double_auction`.
    ``scarcity_price``: price when supply runs out with demand unserved (uniform rules).
    MUDA needs the split of the traders: ``split={order name: "left" | "right"}`` or
    ``rng``, a :class:`numpy.random.Generator` (each trader goes left with probability 1/2).
    """
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}; choose one of {RULES}")
    if scarcity_price is not None and (rule not in UNIFORM_RULES or not np.isfinite(scarcity_price)):
        raise InputError(f"scarcity_price must be finite and only applies to the uniform rules "
                         f"{UNIFORM_RULES}; got {scarcity_price!r} with rule {rule!r}")
    B, A = _books(bids, asks)
    q, w_opt, (a_k, b_k) = _clear_volume(B, A)
    fb, fa = {k: 0.0 for k, _ in B}, {k: 0.0 for k, _ in A}
    pb = ps = float("nan")
    pay_b, pay_a, fee = {}, {}, {}
    extra = {}
    if rule in UNIFORM_RULES or rule == "pay_as_bid":
        if q > _TOL:
            fb = _allocate(B, q, True, "fifo", None, True)
            fa = _allocate(A, q, False, "fifo", None, True)
            if rule == "pay_as_bid":
                pay_b = {k: o.price * fb[k] for k, o in B}
                pay_a = {k: -o.price * fa[k] for k, o in A}
            else:
                pb, scarce = _uniform_price(rule, B, A, q, a_k, b_k, scarcity_price)
                ps = pb
                extra["scarcity"] = scarce
    elif rule in ("mcafee", "trade_reduction"):
        bad = [o.name for _, o in B + A if abs(o.quantity - 1.0) > _TOL]
        if bad:
            raise InputError(f"rule {rule!r} is defined for unit orders; order(s) {bad} have "
                             f"quantity != 1 (split them into unit orders)")
        K = int(round(q))
        if K > 0:
            bK, aK = B[K - 1][1].price, A[K - 1][1].price
            p0 = (0.5 * (B[K][1].price + A[K][1].price) if K < len(B) and K < len(A)
                  else float("nan"))
            if rule == "mcafee" and np.isfinite(p0) and aK <= p0 <= bK:
                n, pb, ps = K, p0, p0
            else:
                n, pb, ps = K - 1, bK, aK
            extra["p0"] = p0
            for k, _ in B[:n]:
                fb[k] = 1.0
            for k, _ in A[:n]:
                fa[k] = 1.0
    elif rule == "huang":
        if q > _TOL:
            ib = _marginal_index(B, q)
            ia = _marginal_index(A, q)
            pb, ps = B[ib][1].price, A[ia][1].price
            tb, ta = B[:ib], A[:ia]
            qb = np.array([o.quantity for _, o in tb])
            qa = np.array([o.quantity for _, o in ta])
            vol = min(qb.sum() if tb else 0.0, qa.sum() if ta else 0.0)
            for book, qq, fills in ((tb, qb, fb), (ta, qa, fa)):
                if book:
                    for (k, _), x in zip(book, _equal_cut(qq, vol)):
                        fills[k] = float(x) if x > _TOL else 0.0
    else:  # muda
        names = [o.name for _, o in B] + [o.name for _, o in A]
        if split is None:
            if not isinstance(rng, np.random.Generator):
                raise InputError("rule 'muda' needs split={name: 'left'|'right'} or rng="
                                 "numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
            draw = rng.random(len(names))
            split = {n: ("left" if u > 0.5 else "right") for n, u in zip(names, draw)}
        missing = [n for n in names if split.get(n) not in ("left", "right")]
        if missing:
            raise InputError(f"split: order(s) {missing} are neither 'left' nor 'right'")
        halves = {h: ([(k, o) for k, o in B if split[o.name] == h],
                      [(k, o) for k, o in A if split[o.name] == h]) for h in ("left", "right")}
        price = {h: _half_price(*halves[h]) for h in halves}
        other = {"left": "right", "right": "left"}
        for h, (hb, ha) in halves.items():
            fills, fees = _exogenous(hb, ha, price[other[h]])
            for k, o in hb:
                fb[k] = fills.get(o.name, 0.0)
                pay_b[k] = price[other[h]] * fb[k] if fb[k] > 0 else 0.0
                fee[("bid", k)] = fees.get(o.name, 0.0)
            for k, o in ha:
                fa[k] = fills.get(o.name, 0.0)
                pay_a[k] = -price[other[h]] * fa[k] if fa[k] > 0 else 0.0
                fee[("ask", k)] = fees.get(o.name, 0.0)
        extra.update(split=dict(split), price_left=price["left"], price_right=price["right"])
    rows = []
    for side, book, fills, pays, unit in (("bid", B, fb, pay_b, pb), ("ask", A, fa, pay_a, -ps)):
        for k, o in sorted(book, key=lambda ko: ko[0]):
            x = fills.get(k, 0.0)
            f = fee.get((side, k), 0.0)
            p = pays[k] if k in pays else (unit * x if x > 0 else 0.0)
            rows.append((side, o.name, o.price, o.quantity, x, f, p + f))
    welfare = sum((1.0 if r[0] == "bid" else -1.0) * r[2] * r[4] for r in rows)
    traded = sum(r[4] for r in rows if r[0] == "bid")
    index = pd.MultiIndex.from_arrays([[r[0] for r in rows], [r[1] for r in rows]],
                                      names=["side", "order"])
    df = pd.DataFrame([r[2:] for r in rows], index=index,
                      columns=["price", "quantity", "filled", "fee", "payment"])
    extra["optimal_welfare"] = float(w_opt)
    return RuleResult(rule, float(traded), float(pb), float(ps), float(welfare), df, extra)


def _marginal_index(book, q):
    """Position in a sorted book of the order holding the last efficient unit."""
    cum = 0.0
    for i, (_, o) in enumerate(book):
        cum += o.quantity
        if cum >= q - _TOL:
            return i
    return len(book) - 1


# -- the rules as mechanisms (for pyomo_ecc.mechanisms.properties) ---------------------------------
def rule_mechanism(rule, **options):
    """A rule as a mechanism over reports ``{agent: (side, price, quantity)}`` for
    :func:`~pyomo_ecc.mechanisms.properties.check_ic` / ``check_ir``; the outcome's allocation
    is each agent's fill and its payments those of :func:`clear` (``options`` go to it; for
    MUDA give a fixed ``split``, so that the mechanism is deterministic)."""
    from pyomo_ecc.mechanisms.auction import Order
    from pyomo_ecc.mechanisms.properties import Outcome

    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}; choose one of {RULES}")

    def run(reports):
        orders = []
        for a, t in reports.items():
            side, price, qty = t
            orders.append(Order(a, side, float(price), float(qty), 0.0))
        res = clear([o for o in orders if o.side == "bid"], [o for o in orders if o.side == "ask"],
                    rule, **options)
        names = res.orders.index.get_level_values("order")
        fills = dict(zip(names, res.orders["filled"].to_numpy(dtype=float)))
        pays = dict(zip(names, res.orders["payment"].to_numpy(dtype=float)))
        return Outcome(fills, pays, {"result": res})

    return run


def property_table(instances, price_grid, rules=RULES, include_vcg=True, tol=1e-6, progress=False):
    """IC, IR, weak / strong budget balance and efficiency of each rule on ``instances``.

    ``instances``: list of ``(types, options)`` with ``types = {agent: (side, price, qty)}``
    (true types) and ``options`` per rule (``{rule: {...}}``, e.g. a MUDA split). Every agent's
    price misreports over ``price_grid`` are searched (others truthful). Returns a DataFrame
    indexed ``rule`` with ``ic`` (no gain > tol on any instance), ``max_gain``, ``ir``,
    ``weak_bb``, ``strong_bb``, ``min_surplus``, ``max_surplus`` and ``efficiency`` (the
    smallest realised / optimal welfare). ``progress``: a progress bar over the rules.
    """
    from pyomo_ecc.core.progress import tqdm
    from pyomo_ecc.mechanisms.properties import (auction_mechanism, auction_value, budget_balance,
                                                 check_ic, check_ir, efficiency_ratio)

    grid = [float(p) for p in price_grid]
    names = list(rules) + (["vcg"] if include_vcg else [])
    rows = []
    for name in tqdm(names, desc="auction rules", disable=not progress):
        acc = dict(ic=True, max_gain=0.0, ir=True, weak_bb=True, strong_bb=True,
                   min_surplus=np.inf, max_surplus=-np.inf, efficiency=np.inf)
        for types, opts in instances:
            mech = (auction_mechanism("vcg") if name == "vcg"
                    else rule_mechanism(name, **dict(opts.get(name, {}))))
            mis = {a: [(t[0], p, t[2]) for p in grid if p != t[1]] for a, t in types.items()}
            ic = check_ic(mech, types, auction_value, mis, tol=tol)
            ir = check_ir(mech, types, auction_value, tol=tol)
            out = mech(dict(types))
            bb = budget_balance(out, tol=tol)
            w_opt = _welfare_opt(types)
            eff = efficiency_ratio(out, types, auction_value, w_opt) if w_opt > 0 else 1.0
            acc["ic"] &= ic.attrs["ic"]
            acc["max_gain"] = max(acc["max_gain"], ic.attrs["max_gain"])
            acc["ir"] &= ir.attrs["ir"]
            acc["weak_bb"] &= bb["weak"]
            acc["strong_bb"] &= bb["strong"]
            acc["min_surplus"] = min(acc["min_surplus"], bb["surplus"])
            acc["max_surplus"] = max(acc["max_surplus"], bb["surplus"])
            acc["efficiency"] = min(acc["efficiency"], eff)
        rows.append(dict(rule=name, **acc))
    return pd.DataFrame(rows).set_index("rule")


def _welfare_opt(types):
    from pyomo_ecc.mechanisms.auction import Order

    orders = [(k, Order(a, t[0], float(t[1]), float(t[2]), 0.0)) for k, (a, t) in enumerate(types.items())]
    return _clear_volume([x for x in orders if x[1].side == "bid"],
                         [x for x in orders if x[1].side == "ask"])[1]
