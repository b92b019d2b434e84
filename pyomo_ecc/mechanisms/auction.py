r"""Double auctions: one entry point, :func:`double_auction`, for every clearing rule.

Buyers submit bids :math:`(b_j, x_j)` (highest price they pay, quantity), sellers asks
:math:`(a_i, y_i)`. Sorting bids by decreasing and asks by increasing price gives the demand and
supply staircases :math:`D`, :math:`S`; the efficient volume is the welfare-maximising one,

.. math::

    Q = \max\Big\{x :\ D^{-1}(x^-) \ge S^{-1}(x^-)\Big\}, \qquad
    W = \int_0^Q \big(D^{-1}(x) - S^{-1}(x)\big)\,dx

(trades with :math:`b = a` are made: among welfare-maximising volumes the largest). With
*unit* orders (``divisible=False``) every quantity is a positive integer and fills are whole
units. The marginal pair is the last accepted bid :math:`b_K` and the last accepted ask
:math:`a_K`; :math:`D(Q^+)`, :math:`S(Q^+)` are the prices of the next unit on each side
(:math:`-\infty` / :math:`+\infty` when that side is exhausted), :math:`b_{K+1}`, :math:`a_{K+1}`
the best rejected unit orders.

``rule`` (``"uniform"`` applies ``price_rule``, default ``"midpoint"``; the four uniform price
rules can also be named as the rule itself):

=================================  ==============================================================  =======================================
``rule``                           outcome                                                         source
=================================  ==============================================================  =======================================
``"midpoint"``                     :math:`Q` at :math:`(a_K + b_K)/2`                              seed 002; pymarket's competitive price
``"last_accepted_supply"``         :math:`Q` at :math:`a_K` (pay-as-clear)                         ASSUME ``PayAsClearRole``
``"last_accepted_demand"``         :math:`Q` at :math:`b_K`                                        buyer-side uniform price
``"k"``                            :math:`Q` at :math:`k\,b_K + (1-k)\,a_K`, ``k`` in [0, 1]       k-double auction (Satterthwaite &
                                                                                                   Williams, 1989)
``"vertical_overlap_midpoint"``    :math:`Q` trades at the middle of the overlap of the two        AMIRIS ``MeritOrderKernel``
                                   vertical segments at :math:`Q`,
                                   :math:`\tfrac12\big(\max(a_K, D(Q^+)) + \min(b_K, S(Q^+))\big)`
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
``"muda_lottery"``                 the same halves and prices; the long side is rationed by a      Segal-Halevi, Hassidim & Aumann (2018),
                                   lottery (a random priority over the traders' names, drawn       Lottery-MUDA
                                   independently of the reports), no fees: strongly budget
                                   balanced
=================================  ==============================================================  =======================================

The uniform price rules give a price in :math:`[a_K, b_K]`, so every filled order is willing to
trade at it. The prices at which no *rejected* order would want to trade either form the
narrower interval :math:`[\max(a_K, b_{K+1}), \min(b_K, a_{K+1})]`; the marginal-pair rules may
leave it (e.g. bids 12, 10, 9.5 and asks 5, 7, 9.8: midpoint 8.5 < 9.5), the AMIRIS rule does not.

``scarcity_price`` (uniform price rules): when supply is exhausted while demand willing to pay
more than :math:`a_K` is left unserved (:math:`S(Q^+) = +\infty` and :math:`D(Q^+) > a_K`), the
price is set to ``scarcity_price`` instead (a price cap or value of lost load). AMIRIS's rule
already returns the uncovered demand's bid in that case, ASSUME's pay-as-clear the last supply
price.

Orders at the marginal price on one side compete for what is left of :math:`Q`; for the rules
that fill :math:`Q` by price priority (the uniform ones and pay-as-bid) the ``tie_break`` rule
decides: ``"fifo"`` (earlier ``time``, then submission order), ``"random"`` (a random order drawn
from the ``rng`` you pass, a :class:`numpy.random.Generator`), or ``"pro_rata"`` (shares
proportional to the quantities; with unit orders the whole units are handed out by largest
remainder, remaining ties FIFO). MUDA uses ``rng`` (or a fixed ``split``) for its halves.

Every rule returns an :class:`AuctionResult`: the frame ``orders`` (index ``side``, ``order``)
with the fills and payments (what a trader pays, negative for a seller, who receives),
``buyer_price`` / ``seller_price`` (``price`` when they are equal), ``budget_surplus`` (the sum
of payments: zero, strong budget balance, for the uniform rules; :math:`\ge 0`, weak, for
pay-as-bid, McAfee, trade reduction, Huang and MUDA) and the ``rule`` applied. Which rule has
which property (IC, IR, budget balance, efficiency) is in :mod:`pyomo_ecc.mechanisms.auction_rules`.

Examples (seed 002's book; McAfee's reduction; pymarket's Huang example; AMIRIS)::

    >>> from pyomo_ecc.mechanisms.auction import double_auction
    >>> r = double_auction(bids=[12, 10, 8], asks=[5, 7, 9], divisible=False)
    >>> r.rule, r.quantity, r.price
    ('midpoint', 2.0, 8.5)
    >>> r = double_auction([12, 10, 8], [5, 7, 9], "mcafee")      # p0 = (8 + 9)/2 lies in [7, 10]
    >>> r.quantity, r.price, r.budget_surplus
    (2.0, 8.5, 0.0)
    >>> r = double_auction([12, 10, 8], [5, 7, 9], "trade_reduction")
    >>> r.quantity, r.buyer_price, r.seller_price, r.budget_surplus
    (1.0, 10.0, 7.0, 3.0)
    >>> r = double_auction([(3, 1), (4, 2), (1, 5)], [(2, 4), (1, 1), (6, 5)], "huang")
    >>> r.quantity, r.buyer_price, r.seller_price
    (1.0, 3.0, 2.0)
    >>> double_auction([(3000, 50)], [(21, 100)], "vertical_overlap_midpoint").price
    21.0
    >>> double_auction([12, 10, 8], [5, 7, 9], "pay_as_bid").orders["payment"].tolist()
    [12.0, 10.0, 0.0, -5.0, -7.0, 0.0]
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyomo_ecc.core.config import number
from pyomo_ecc.errors import InputError

#: the uniform price rules (``price_rule`` of ``rule="uniform"``)
PRICE_RULES = ("midpoint", "last_accepted_supply", "last_accepted_demand", "k")
#: every rule of :func:`double_auction`
RULES = ("uniform",) + PRICE_RULES + ("vertical_overlap_midpoint", "pay_as_bid", "mcafee",
                                      "trade_reduction", "huang", "muda", "muda_lottery")
#: rules with one clearing price for every trade
UNIFORM_RULES = PRICE_RULES + ("vertical_overlap_midpoint",)
TIE_BREAKS = ("fifo", "random", "pro_rata")
_TOL = 1e-9


@dataclass(frozen=True)
class Order:
    """One order: ``side`` is ``"bid"`` (buy) or ``"ask"`` (sell); ``time`` orders FIFO ties."""

    name: str
    side: str
    price: float
    quantity: float = 1.0
    time: float = 0.0


@dataclass
class AuctionResult:
    """Outcome of :func:`double_auction` (every rule).

    ``rule``: the rule applied (``"uniform"`` is reported as its price rule); ``quantity``
    traded; ``buyer_price`` / ``seller_price`` per unit (equal for the uniform rules, NaN for
    pay-as-bid and without trade; :attr:`price` is the common price or NaN); ``welfare``: as-bid
    gains from trade realised; ``marginal``: the prices ``(a_K, b_K)`` of the marginal pair of
    the efficient volume (NaN without trade); ``orders``: DataFrame indexed (``side``,
    ``order``) with ``price`` (as bid), ``quantity``, ``filled``, ``fee`` (MUDA's Vickrey fee,
    included in the payment) and ``payment`` (what the trader pays; negative for a seller, who
    receives); ``extra``: rule details (``optimal_welfare``; McAfee's ``p0``; MUDA's ``split``
    and half prices; ``scarcity`` for the uniform rules).
    """

    rule: str
    quantity: float
    buyer_price: float
    seller_price: float
    welfare: float
    marginal: tuple
    orders: pd.DataFrame = field(repr=False)
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def price(self):
        """The uniform price (NaN when buyers and sellers face different prices)."""
        bp, sp = self.buyer_price, self.seller_price
        return bp if (bp == sp or (np.isnan(bp) and np.isnan(sp))) else float("nan")

    @property
    def allocation(self):
        """Fills: Series indexed (``side``, ``order``)."""
        return self.orders["filled"]

    @property
    def payments(self):
        """Payments (fees included): Series indexed (``side``, ``order``)."""
        return self.orders["payment"]

    @property
    def budget_surplus(self):
        """Sum of all payments: 0 strongly balanced, > 0 the auctioneer keeps a surplus, < 0 a
        deficit."""
        return float(self.orders["payment"].sum())


def _as_order(it, side, k):
    """One order from a number, a (price, quantity) pair, a dict or an :class:`Order`; every
    number goes through the blocks' finite-number check (no strings, booleans, NaN)."""
    if isinstance(it, Order):
        return Order(str(it.name), it.side,
                     number(it.price, f"{side} '{it.name}': price"),
                     number(it.quantity, f"{side} '{it.name}': quantity"),
                     number(it.time, f"{side} '{it.name}': time"))
    where = f"{side} {k}"
    if isinstance(it, (str, bytes, bool, np.bool_)):
        number(it, f"{where}: price")   # raises, naming what it got
    if isinstance(it, (int, float, np.integer, np.floating)):
        return Order(f"{side}{k}", side, number(it, f"{where}: price"), 1.0, float(k))
    if isinstance(it, dict):
        d = dict(it)
        if "price" not in d:
            raise InputError(f"{where}: the key 'price' is missing (keys: name, price, quantity, time)")
        name = d.pop("name", f"{side}{k}")
        where = f"{side} '{name}'"
        o = Order(str(name), side, number(d.pop("price"), f"{where}: price"),
                  number(d.pop("quantity", 1.0), f"{where}: quantity"),
                  number(d.pop("time", k), f"{where}: time"))
        if d:
            raise InputError(f"{where}: unknown key(s) {sorted(d)}; use name, price, quantity, time")
        return o
    try:
        price, qty = it
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a price, (price, quantity), a dict with a numeric "
                         f"'price' or an Order, got {it!r}") from None
    return Order(f"{side}{k}", side, number(price, f"{where}: price"),
                 number(qty, f"{where}: quantity"), float(k))


def _as_orders(items, side):
    if items is None:
        return []
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise InputError(f"{side}s: expected a list of orders, got {items!r}")
    out = []
    for k, it in enumerate(items):
        o = _as_order(it, side, k)
        if o.side != side:
            raise InputError(f"order '{o.name}' has side {o.side!r} but was given as a {side}")
        if o.quantity <= 0:
            raise InputError(f"{side} '{o.name}': quantity must be > 0, got {o.quantity}")
        out.append((k, o))
    return out


def _clear_volume(bids, asks):
    """Welfare-maximising volume, welfare and the marginal prices (a_K, b_K)."""
    b = sorted((o.price, o.quantity) for _, o in bids)[::-1]
    a = sorted((o.price, o.quantity) for _, o in asks)
    i = j = 0
    rb = b[0][1] if b else 0.0
    ra = a[0][1] if a else 0.0
    q = w = 0.0
    marg = (float("nan"), float("nan"))
    while i < len(b) and j < len(a) and b[i][0] >= a[j][0]:
        x = min(rb, ra)
        q += x
        w += x * (b[i][0] - a[j][0])
        marg = (a[j][0], b[i][0])
        rb -= x
        ra -= x
        if rb <= _TOL:
            i += 1
            rb = b[i][1] if i < len(b) else 0.0
        if ra <= _TOL:
            j += 1
            ra = a[j][1] if j < len(a) else 0.0
    return q, w, marg


def _allocate(orders, volume, descending, tie_break, rng, divisible):
    """Fill ``volume`` from the orders of one side, best price first, ties by ``tie_break``."""
    fills = {k: 0.0 for k, _ in orders}
    left = volume
    levels = sorted({o.price for _, o in orders}, reverse=descending)
    for lev in levels:
        if left <= _TOL:
            break
        group = [(k, o) for k, o in orders if o.price == lev]
        total = sum(o.quantity for _, o in group)
        if total <= left + _TOL:
            for k, o in group:
                fills[k] = o.quantity
            left -= total
            continue
        # the marginal price level: share `left` among the tied orders
        if tie_break == "pro_rata":
            shares = {k: left * o.quantity / total for k, o in group}
            if not divisible:
                base = {k: np.floor(s + _TOL) for k, s in shares.items()}
                rest = int(round(left - sum(base.values())))
                fifo = sorted(group, key=lambda ko: (ko[1].time, ko[0]))
                by_rem = sorted(fifo, key=lambda ko: -(shares[ko[0]] - base[ko[0]]))
                for k, _ in by_rem[:rest]:
                    base[k] += 1
                shares = base
            for k, s in shares.items():
                fills[k] = float(s)
        else:
            if tie_break == "fifo":
                queue = sorted(group, key=lambda ko: (ko[1].time, ko[0]))
            else:
                queue = [group[i] for i in rng.permutation(len(group))]
            for k, o in queue:
                x = min(o.quantity, left)
                fills[k] = x
                left -= x
                if left <= _TOL:
                    break
        left = 0.0
    return fills


def _sorted_books(B, A):
    """Books in priority order: bids by decreasing, asks by increasing price (then time,
    submission order)."""
    return (sorted(B, key=lambda ko: (-ko[1].price, ko[1].time, ko[0])),
            sorted(A, key=lambda ko: (ko[1].price, ko[1].time, ko[0])))


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


def _marginal_index(book, q):
    """Position in a sorted book of the order holding the last efficient unit."""
    cum = 0.0
    for i, (_, o) in enumerate(book):
        cum += o.quantity
        if cum >= q - _TOL:
            return i
    return len(book) - 1


def _uniform_price(rule, B, A, q, a_k, b_k, k, scarcity_price):
    """The clearing price of a uniform rule on the sorted books, and whether it is the
    scarcity price."""
    d_next = _next_price(B, q, -np.inf)
    s_next = _next_price(A, q, np.inf)
    if scarcity_price is not None and np.isinf(s_next) and d_next > a_k:
        return float(scarcity_price), True
    if rule == "vertical_overlap_midpoint":
        return 0.5 * (max(a_k, d_next) + min(b_k, s_next)), False
    if rule == "last_accepted_supply":
        return a_k, False
    if rule == "last_accepted_demand":
        return b_k, False
    if rule == "k":
        return k * b_k + (1.0 - k) * a_k, False
    return 0.5 * (a_k + b_k), False


def _half_price(B, A):
    q, _, (a_k, b_k) = _clear_volume(B, A)
    return 0.5 * (a_k + b_k) if q > _TOL else float("nan")


def _exogenous(B, A, p, lottery=None):
    """One MUDA half at the exogenous price p: fills and Vickrey fees, by order name (with a
    ``lottery`` {name: rank}: the long side filled in lottery order, no fees)."""
    fills, fees = {}, {}
    if not np.isfinite(p):
        return fills, fees
    buy = [(o.name, o) for _, o in B if o.price >= p]
    sell = [(o.name, o) for _, o in A if o.price <= p]
    qb, qs = sum(o.quantity for _, o in buy), sum(o.quantity for _, o in sell)
    vol = min(qb, qs)
    if vol <= _TOL:
        return fills, fees
    if lottery is not None:
        for book in (buy, sell):
            fills.update(_priority_fill(sorted(book, key=lambda no: (lottery[no[0]], no[0])), vol))
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


def _resolve_rule(rule, price_rule):
    if price_rule is not None and price_rule not in PRICE_RULES:
        raise InputError(f"unknown price_rule {price_rule!r}; choose one of {PRICE_RULES}")
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}; choose one of {RULES}")
    if rule == "uniform":
        return price_rule or "midpoint"
    if price_rule is not None and price_rule != rule:
        raise InputError(f"price_rule={price_rule!r} applies to rule='uniform' only (got rule={rule!r})")
    return rule


def double_auction(bids, asks, rule="uniform", k=0.5, tie_break="fifo", rng=None, divisible=True, *,
                   price_rule=None, scarcity_price=None, split=None, lottery=None):
    """Clear a double auction under ``rule`` (see the module doc); returns an
    :class:`AuctionResult`.

    ``bids`` / ``asks``: prices (unit quantity), ``(price, quantity)`` pairs, dicts with keys
    ``name, price, quantity, time``, or :class:`Order` objects. ``rule``: one of :data:`RULES`
    (``"uniform"`` with ``price_rule`` = ``"midpoint"`` (default), ``"last_accepted_supply"``,
    ``"last_accepted_demand"`` or ``"k"``; ``k`` for k-pricing). ``tie_break`` / ``divisible``:
    for the rules that fill by price priority (uniform and pay-as-bid). ``scarcity_price``:
    price when supply runs out with demand unserved (uniform rules). MUDA needs the split of
    the traders: ``split={order name: "left" | "right"}`` or ``rng``, a
    :class:`numpy.random.Generator` (each trader goes left with probability 1/2); Lottery-MUDA
    also its priority, ``lottery={order name: rank}`` (lower first) or ``rng`` (a uniformly
    random order of the names, drawn after the split).
    """
    rule = _resolve_rule(rule, price_rule)
    if tie_break not in TIE_BREAKS:
        raise InputError(f"unknown tie_break {tie_break!r}; choose one of {TIE_BREAKS}")
    k = number(k, "k")
    if rule == "k" and not 0.0 <= k <= 1.0:
        raise InputError(f"k-pricing needs k in [0, 1], got {k}")
    if not isinstance(divisible, (bool, np.bool_)):
        raise InputError(f"divisible must be True or False, got {divisible!r}")
    priority = rule in UNIFORM_RULES or rule == "pay_as_bid"
    if not priority and tie_break != "fifo":
        raise InputError(f"tie_break applies to the uniform rules and pay_as_bid, not to rule {rule!r}")
    if tie_break == "random" and not isinstance(rng, np.random.Generator):
        raise InputError("tie_break='random' needs rng=numpy.random.Generator (e.g. "
                         "numpy.random.default_rng(seed))")
    if scarcity_price is not None:
        scarcity_price = number(scarcity_price, "scarcity_price")
        if rule not in UNIFORM_RULES:
            raise InputError(f"scarcity_price only applies to the uniform rules {UNIFORM_RULES}; "
                             f"got rule {rule!r}")
    if split is not None and rule not in ("muda", "muda_lottery"):
        raise InputError(f"split applies to the MUDA rules only (got rule {rule!r})")
    if lottery is not None and rule != "muda_lottery":
        raise InputError(f"lottery applies to rule 'muda_lottery' only (got rule {rule!r})")
    B0, A0 = _as_orders(bids, "bid"), _as_orders(asks, "ask")
    if not divisible:
        for _, o in B0 + A0:
            if abs(o.quantity - round(o.quantity)) > _TOL:
                raise InputError(f"{o.side} '{o.name}': unit orders need an integer quantity, "
                                 f"got {o.quantity}")
    names = [o.name for _, o in B0] + [o.name for _, o in A0]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"duplicate order name(s) {dup}")
    B, A = _sorted_books(B0, A0)
    q, w_opt, (a_k, b_k) = _clear_volume(B, A)
    fb, fa = {k_: 0.0 for k_, _ in B}, {k_: 0.0 for k_, _ in A}
    pb = ps = float("nan")
    pay_b, pay_a, fee = {}, {}, {}
    extra = {}
    traded = None
    if priority:
        if q > _TOL:
            # submission order: ties at one price level are broken as tie_break says
            fb = _allocate(B0, q, True, tie_break, rng, divisible)
            fa = _allocate(A0, q, False, tie_break, rng, divisible)
            if rule == "pay_as_bid":
                pay_b = {k_: o.price * fb[k_] for k_, o in B}
                pay_a = {k_: -o.price * fa[k_] for k_, o in A}
            else:
                pb, scarce = _uniform_price(rule, B, A, q, a_k, b_k, k, scarcity_price)
                ps = pb
                extra["scarcity"] = scarce
        traded = q
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
            for k_, _ in B[:n]:
                fb[k_] = 1.0
            for k_, _ in A[:n]:
                fa[k_] = 1.0
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
                    for (k_, _), x in zip(book, _equal_cut(qq, vol)):
                        fills[k_] = float(x) if x > _TOL else 0.0
    else:  # muda, muda_lottery
        if split is None:
            if not isinstance(rng, np.random.Generator):
                raise InputError("rule 'muda' needs split={name: 'left'|'right'} or rng="
                                 "numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
            order_names = [o.name for _, o in B] + [o.name for _, o in A]
            draw = rng.random(len(order_names))
            split = {n: ("left" if u > 0.5 else "right") for n, u in zip(order_names, draw)}
        missing = [n for n in names if split.get(n) not in ("left", "right")]
        if missing:
            raise InputError(f"split: order(s) {missing} are neither 'left' nor 'right'")
        if rule == "muda_lottery":
            if lottery is None:
                if not isinstance(rng, np.random.Generator):
                    raise InputError("rule 'muda_lottery' needs lottery={name: rank} or rng="
                                     "numpy.random.Generator")
                order = sorted(names)
                lottery = {n: int(r) for n, r in zip(order, rng.permutation(len(order)))}
            missing = [n for n in names if not isinstance(lottery.get(n), (int, float, np.integer, np.floating))
                       or isinstance(lottery.get(n), bool)]
            if missing:
                raise InputError(f"lottery: order(s) {missing} have no numeric rank")
            extra["lottery"] = dict(lottery)
        halves = {h: ([(k_, o) for k_, o in B if split[o.name] == h],
                      [(k_, o) for k_, o in A if split[o.name] == h]) for h in ("left", "right")}
        price = {h: _half_price(*halves[h]) for h in halves}
        other = {"left": "right", "right": "left"}
        for h, (hb, ha) in halves.items():
            fills, fees = _exogenous(hb, ha, price[other[h]],
                                     lottery if rule == "muda_lottery" else None)
            for k_, o in hb:
                fb[k_] = fills.get(o.name, 0.0)
                pay_b[k_] = price[other[h]] * fb[k_] if fb[k_] > 0 else 0.0
                fee[("bid", k_)] = fees.get(o.name, 0.0)
            for k_, o in ha:
                fa[k_] = fills.get(o.name, 0.0)
                pay_a[k_] = -price[other[h]] * fa[k_] if fa[k_] > 0 else 0.0
                fee[("ask", k_)] = fees.get(o.name, 0.0)
        extra.update(split=dict(split), price_left=price["left"], price_right=price["right"])
    rows = []
    for side, book, fills, pays, unit in (("bid", B0, fb, pay_b, pb), ("ask", A0, fa, pay_a, -ps)):
        for k_, o in book:
            x = fills.get(k_, 0.0)
            f = fee.get((side, k_), 0.0)
            p = pays[k_] if k_ in pays else (unit * x if x > 0 else 0.0)
            rows.append((side, o.name, o.price, o.quantity, x, f, p + f))
    welfare = sum((1.0 if r[0] == "bid" else -1.0) * r[2] * r[4] for r in rows)
    if traded is None:
        traded = sum(r[4] for r in rows if r[0] == "bid")
    index = pd.MultiIndex.from_arrays([[r[0] for r in rows], [r[1] for r in rows]],
                                      names=["side", "order"])
    df = pd.DataFrame([r[2:] for r in rows], index=index,
                      columns=["price", "quantity", "filled", "fee", "payment"])
    extra["optimal_welfare"] = float(w_opt)
    return AuctionResult(rule, float(traded), float(pb), float(ps), float(welfare), (a_k, b_k), df, extra)
