r"""Uniform-price double auction with explicit price and tie-break rules.

Buyers submit bids :math:`(b_j, x_j)` (highest price they pay, quantity), sellers asks
:math:`(a_i, y_i)`. Sorting bids by decreasing and asks by increasing price gives the demand and
supply staircases; the traded volume is the welfare-maximising one,

.. math::

    Q = \max\Big\{x :\ D^{-1}(x^-) \ge S^{-1}(x^-)\Big\}, \qquad
    W = \int_0^Q \big(D^{-1}(x) - S^{-1}(x)\big)\,dx

(trades with :math:`b = a` are made: among welfare-maximising volumes the largest). With
*unit* orders (``divisible=False``) every quantity is a positive integer and fills are whole
units. The marginal pair is the last accepted bid :math:`b_K` and the last accepted ask
:math:`a_K`; every trade clears at one price :math:`p^\star` set by the ``price_rule``:

==========================  ===================================  ===========================
``price_rule``              :math:`p^\star`                      reference
==========================  ===================================  ===========================
``"midpoint"``              :math:`(a_K + b_K)/2`                seed 002 example
``"last_accepted_supply"``  :math:`a_K`                          seller-side uniform price
``"last_accepted_demand"``  :math:`b_K`                          buyer-side uniform price
``"k"``                     :math:`k\,b_K + (1-k)\,a_K`          k-double auction
                                                                 (Satterthwaite & Williams,
                                                                 1989), ``k`` in [0, 1]
==========================  ===================================  ===========================

Every rule gives a price in :math:`[a_K, b_K]`, so every filled order is willing to trade at
:math:`p^\star`. The prices at which no *rejected* order would want to trade either form the
narrower interval :math:`[\max(a_K, b_{K+1}), \min(b_K, a_{K+1})]` (:math:`b_{K+1}`,
:math:`a_{K+1}` the best rejected bid and ask); the rules above follow the marginal pair only
and may leave it (e.g. bids 12, 10, 9.5 and asks 5, 7, 9.8: midpoint 8.5 < 9.5).

Orders at the marginal price on one side compete for what is left of :math:`Q`; the
``tie_break`` rule decides: ``"fifo"`` (earlier ``time``, then submission order), ``"random"``
(a random order drawn from the ``rng`` you pass, a :class:`numpy.random.Generator`), or
``"pro_rata"`` (shares proportional to the quantities; with unit orders the whole units are
handed out by largest remainder, remaining ties FIFO).

Example (seed 002)::

    >>> from pyomo_ecc.mechanisms.auction import double_auction
    >>> r = double_auction(bids=[12, 10, 8], asks=[5, 7, 9], divisible=False)
    >>> r.quantity, r.price
    (2.0, 8.5)
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyomo_ecc.core.config import number
from pyomo_ecc.errors import InputError

PRICE_RULES = ("midpoint", "last_accepted_supply", "last_accepted_demand", "k")
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
    """Outcome of :func:`double_auction`.

    ``orders``: DataFrame indexed (``side``, ``order``) with columns ``price`` (as bid),
    ``quantity``, ``filled`` and ``payment`` (what the trader pays; negative for a seller, who
    receives). ``marginal``: the prices ``(a_K, b_K)`` of the marginal pair (NaN without trade).
    """

    quantity: float
    price: float
    welfare: float
    marginal: tuple
    orders: pd.DataFrame = field(repr=False)

    @property
    def budget_surplus(self):
        """Sum of all payments (zero for a uniform price: strongly budget balanced)."""
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


def double_auction(bids, asks, price_rule="midpoint", k=0.5, tie_break="fifo", rng=None,
                   divisible=True):
    """Clear a uniform-price double auction (see the module doc).

    ``bids`` / ``asks``: prices (unit quantity), ``(price, quantity)`` pairs, dicts with keys
    ``name, price, quantity, time``, or :class:`Order` objects. Returns an
    :class:`AuctionResult`.
    """
    if price_rule not in PRICE_RULES:
        raise InputError(f"unknown price_rule {price_rule!r}; choose one of {PRICE_RULES}")
    if tie_break not in TIE_BREAKS:
        raise InputError(f"unknown tie_break {tie_break!r}; choose one of {TIE_BREAKS}")
    k = number(k, "k")
    if price_rule == "k" and not 0.0 <= k <= 1.0:
        raise InputError(f"k-pricing needs k in [0, 1], got {k}")
    if not isinstance(divisible, (bool, np.bool_)):
        raise InputError(f"divisible must be True or False, got {divisible!r}")
    if tie_break == "random" and not isinstance(rng, np.random.Generator):
        raise InputError("tie_break='random' needs rng=numpy.random.Generator (e.g. "
                         "numpy.random.default_rng(seed))")
    B, A = _as_orders(bids, "bid"), _as_orders(asks, "ask")
    if not divisible:
        for _, o in B + A:
            if abs(o.quantity - round(o.quantity)) > _TOL:
                raise InputError(f"{o.side} '{o.name}': unit orders need an integer quantity, "
                                 f"got {o.quantity}")
    names = [o.name for _, o in B] + [o.name for _, o in A]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"duplicate order name(s) {dup}")
    q, w, (a_k, b_k) = _clear_volume(B, A)
    if q <= _TOL:
        price = float("nan")
    elif price_rule == "midpoint":
        price = 0.5 * (a_k + b_k)
    elif price_rule == "last_accepted_supply":
        price = a_k
    elif price_rule == "last_accepted_demand":
        price = b_k
    else:
        price = k * b_k + (1.0 - k) * a_k
    fb = _allocate(B, q, True, tie_break, rng, divisible)
    fa = _allocate(A, q, False, tie_break, rng, divisible)
    rows = []
    for side, orders, fills, sign in (("bid", B, fb, 1.0), ("ask", A, fa, -1.0)):
        for k_, o in orders:
            x = fills[k_]
            pay = sign * price * x if x > 0 else 0.0
            rows.append((side, o.name, o.price, o.quantity, x, pay))
    df = pd.DataFrame(rows, columns=["side", "order", "price", "quantity", "filled", "payment"])
    return AuctionResult(float(q), float(price), float(w), (a_k, b_k),
                         df.set_index(["side", "order"]))
