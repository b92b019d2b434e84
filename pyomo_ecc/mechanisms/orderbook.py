r"""A deterministic order book for emission allowances (seed 001, section 1.2).

Every covered entity :math:`i` holds allowances :math:`CEA_i \in \mathbb{R}` and money
:math:`M_i \ge 0`. The opening price :math:`S` (default 48 currency/t) sets the price band and
the initial trade price :math:`C = S`. An order is a limit order :math:`(p_i, q_i)` to buy or to
sell; it is **valid** when

* :math:`0.9\,S \le p_i \le 1.1\,S` (the band, ``band=0.1``) and :math:`q_i > 0`;
* a buy order fits the budget: :math:`p_i q_i \le M_i - R^M_i`;
* a sell order fits the holdings: :math:`CEA_i > 0` and :math:`q_i \le CEA_i - R^{A}_i`;

where :math:`R^M_i` (money) and :math:`R^A_i` (allowances) are what the entity's resting orders
already commit, so that no sequence of fills can overdraw an account (the paper checks
:math:`p_i q_i \le M_i` and :math:`q_i \le CEA_i` order by order; with one resting order per
entity the two rules agree). An invalid order is rejected and logged with its reason.

**Continuous matching** (``mode="continuous"``): the buy book :math:`List_1` is sorted by price
(highest first) then arrival, the sell book :math:`List_0` by price (lowest first) then arrival
(price-time priority). While the top prices cross, :math:`P_1 \ge P_0`, the top orders trade
:math:`\min(Q_1, Q_0)`; the smaller order leaves the book, the larger keeps the difference (both
leave when equal), at the price

.. math:: C \leftarrow \operatorname{med}(P_0, P_1, C),

which lies in :math:`[P_0, P_1]`, so nobody trades beyond its limit. The buyer pays
:math:`C\,q`, the seller receives it.

**Call auction** (``mode="call"``): orders are collected without matching; :meth:`OrderBook.uncross`
clears them all at one price :math:`p^\star` chosen among the resting limit prices by, in this
order: (1) the largest executable volume :math:`V(p) = \min(D(p), S(p))` with
:math:`D(p) = \sum_{p_j \ge p} q_j` (buy) and :math:`S(p) = \sum_{p_i \le p} q_i` (sell);
(2) the smallest imbalance :math:`|D(p) - S(p)|`; (3) the closest to the last trade price
:math:`C`; (4) the lowest price. On each side :math:`V(p^\star)` is allocated first to the
orders strictly better than :math:`p^\star` (price-time priority; they fill completely unless
they alone exceed :math:`V`), then to the orders at :math:`p^\star` by the ``tie_break`` rule:
``"time"`` (arrival order) or ``"pro_rata"`` (in proportion to the quantities at
:math:`p^\star`). Fills are paired in priority order for the trade log; :math:`C \leftarrow p^\star`.

======================  ======================================  ==================================
symbol                  attribute / method                      meaning
======================  ======================================  ==================================
:math:`S`               ``opening_price``                       opening price
:math:`[0.9S, 1.1S]`    ``band_limits``                         accepted price range
:math:`C`               ``last_price``                          last trade price
:math:`CEA_i, M_i`      ``accounts()``                          holdings, cash, commitments
:math:`List_1, List_0`  ``book(depth=5)``                       top of each book
trades                  ``trades()``                            trade log (DataFrame)
orders                  ``orders()``                            every order with its status
event log               ``events()``                            submits, cancels, uncrosses, modes
replay                  ``OrderBook.replay(accounts, events)``  rebuild the book from ``events()``
======================  ======================================  ==================================

Example::

    >>> from pyomo_ecc.mechanisms.orderbook import OrderBook
    >>> ob = OrderBook({"A": (0, 1000.0), "B": (10, 0.0)}, opening_price=48)
    >>> ob.submit("B", "sell", 47.0, 6).status
    'open'
    >>> ob.submit("A", "buy", 50.0, 4).status
    'filled'
    >>> ob.last_price, ob.trades()[["buyer", "seller", "price", "quantity"]].values.tolist()
    (48.0, [['A', 'B', 48.0, 4.0]])
"""
import math
from dataclasses import dataclass, field

import pandas as pd

from pyomo_ecc.core.config import finite_float
from pyomo_ecc.errors import InputError

SIDES = ("buy", "sell")
MODES = ("continuous", "call")
TIE_BREAKS = ("time", "pro_rata")
_TOL = 1e-9


@dataclass
class Order:
    """One order as logged. ``remaining`` is what still rests in the book."""

    order_id: int
    trader: str
    side: str
    price: float
    quantity: float
    remaining: float = 0.0
    status: str = "open"      # open | partial | filled | cancelled | rejected
    reason: str = ""


@dataclass
class Trade:
    trade_id: int
    buyer: str
    seller: str
    price: float
    quantity: float
    buy_order: int
    sell_order: int
    bid_price: float
    ask_price: float
    mode: str


@dataclass
class _Account:
    allowances: float
    cash: float
    committed_cash: float = 0.0
    committed_allowances: float = 0.0


@dataclass
class OrderResult:
    """What :meth:`OrderBook.submit` returns: the order's id, status, reason and fills."""

    order_id: int
    status: str
    reason: str = ""
    trades: list = field(default_factory=list)


def _number(x, what):
    try:
        return finite_float(x)
    except ValueError as e:
        raise InputError(f"{what}: {e}") from None


def _real(x, what):
    """A float from a real number (NaN and infinity pass: the order is then rejected with its
    reason); anything else raises :class:`InputError` through the blocks' number check."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isfinite(x):
        return float(x)
    return _number(x, what)


def _median3(a, b, c):
    return sorted((a, b, c))[1]


class OrderBook:
    """A deterministic allowance order book (see module doc).

    ``accounts``: mapping trader -> ``(allowances, cash)`` or ``{"allowances": .., "cash": ..}``,
    or a DataFrame indexed by trader with those columns. ``opening_price`` :math:`S > 0`;
    ``band``: half-width of the price band as a share of :math:`S` (0.1 for [0.9S, 1.1S]).
    """

    def __init__(self, accounts, opening_price=48.0, band=0.1, mode="continuous",
                 tie_break="time"):
        self.opening_price = _number(opening_price, "opening_price")
        if self.opening_price <= 0:
            raise InputError(f"opening_price must be > 0, got {self.opening_price}")
        self.band = _number(band, "band")
        if not 0 <= self.band < 1:
            raise InputError(f"band must be in [0, 1), got {self.band}")
        if mode not in MODES:
            raise InputError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if tie_break not in TIE_BREAKS:
            raise InputError(f"tie_break must be one of {list(TIE_BREAKS)}, got {tie_break!r}")
        self.mode = mode
        self._initial_mode = mode
        self.tie_break = tie_break
        self._initial = self._parse_accounts(accounts)
        self._acc = {k: _Account(*v) for k, v in self._initial.items()}
        self.last_price = self.opening_price
        self._orders = []          # every order, in arrival order (the order log)
        self._events = []          # (kind, payload) in arrival order, for replay
        self._bids = []            # resting buy orders, priority order
        self._asks = []            # resting sell orders, priority order
        self._trades = []

    # -- input ------------------------------------------------------------------------------
    @staticmethod
    def _parse_accounts(accounts):
        if isinstance(accounts, pd.DataFrame):
            missing = [c for c in ("allowances", "cash") if c not in accounts.columns]
            if missing:
                raise InputError(f"accounts frame needs columns 'allowances' and 'cash'; "
                                 f"missing {missing}")
            items = [(k, (r["allowances"], r["cash"])) for k, r in accounts.iterrows()]
        else:
            items = list(dict(accounts).items())
        if not items:
            raise InputError("an order book needs at least one account")
        out = {}
        for name, val in items:
            if isinstance(val, dict):
                unknown = [k for k in val if k not in ("allowances", "cash")]
                if unknown:
                    raise InputError(f"account {name!r}: unknown key(s) {unknown}")
                val = (val.get("allowances", 0.0), val.get("cash", 0.0))
            try:
                cea, cash = val
            except (TypeError, ValueError):
                raise InputError(f"account {name!r}: expected (allowances, cash), got {val!r}") from None
            cea = _number(cea, f"account {name!r}: allowances")
            cash = _number(cash, f"account {name!r}: cash")
            if cash < 0:
                raise InputError(f"account {name!r}: cash must be >= 0, got {cash}")
            out[name] = (cea, cash)
        return out

    @property
    def band_limits(self):
        """The accepted price range :math:`[(1-b)S, (1+b)S]`."""
        return (round((1 - self.band) * self.opening_price, 12),
                round((1 + self.band) * self.opening_price, 12))

    # -- orders -----------------------------------------------------------------------------
    def _check(self, trader, side, price, qty):
        """The reason an order is invalid, or '' when it is valid."""
        if trader not in self._acc:
            return f"unknown account {trader!r}"
        if side not in SIDES:
            return f"side must be 'buy' or 'sell', got {side!r}"
        if not (math.isfinite(price) and math.isfinite(qty)):
            return "price and quantity must be finite numbers"
        if qty <= 0:
            return f"quantity must be > 0, got {qty:g}"
        lo, hi = self.band_limits
        if price < lo - _TOL or price > hi + _TOL:
            return (f"price {price:g} outside the band [{lo:g}, {hi:g}] around the opening "
                    f"price {self.opening_price:g}")
        a = self._acc[trader]
        if side == "buy":
            free = a.cash - a.committed_cash
            if price * qty > free + _TOL:
                return (f"over budget: price x quantity = {price * qty:g} exceeds the available "
                        f"money {free:g} (cash {a.cash:g}, committed {a.committed_cash:g})")
        else:
            if a.allowances <= 0:
                return f"no allowances to sell (holdings {a.allowances:g})"
            free = a.allowances - a.committed_allowances
            if qty > free + _TOL:
                return (f"over holdings: quantity {qty:g} exceeds the available allowances "
                        f"{free:g} (holdings {a.allowances:g}, committed {a.committed_allowances:g})")
        return ""

    def submit(self, trader, side, price, quantity):
        """Submit a limit order; returns an :class:`OrderResult` (status ``open``, ``partial``,
        ``filled`` or ``rejected`` with its reason). Invalid orders never raise; a price or
        quantity that is not a number at all (a string such as ``"48"``, a boolean, None) is a
        programming error and raises :class:`InputError` naming the order, before it is logged."""
        oid = len(self._orders)
        p, q = (_real(v, f"order {oid} of {trader!r} ({side}): {what}")
                for v, what in ((price, "price"), (quantity, "quantity")))
        self._events.append(("submit", (trader, side, price, quantity)))
        order = Order(oid, trader, side, p, q, remaining=q)
        self._orders.append(order)
        reason = self._check(trader, side, p, q)
        if reason:
            order.status, order.reason, order.remaining = "rejected", reason, 0.0
            return OrderResult(oid, "rejected", reason)
        acc = self._acc[trader]
        if side == "buy":
            acc.committed_cash += p * q
            self._insert(self._bids, order, key=lambda o: (-o.price, o.order_id))
        else:
            acc.committed_allowances += q
            self._insert(self._asks, order, key=lambda o: (o.price, o.order_id))
        n0 = len(self._trades)
        if self.mode == "continuous":
            self._match()
        return OrderResult(oid, order.status, "", self._trades[n0:])

    @staticmethod
    def _insert(book, order, key):
        k = key(order)
        pos = len(book)
        for j, o in enumerate(book):
            if key(o) > k:
                pos = j
                break
        book.insert(pos, order)

    def cancel(self, order_id):
        """Withdraw what is left of a resting order; returns True if something was cancelled."""
        self._events.append(("cancel", (order_id,)))
        for book in (self._bids, self._asks):
            for o in book:
                if o.order_id == order_id:
                    book.remove(o)
                    self._release(o, o.remaining)
                    o.remaining = 0.0
                    o.status = "cancelled"
                    return True
        return False

    def _release(self, o, qty):
        acc = self._acc[o.trader]
        if o.side == "buy":
            acc.committed_cash = max(acc.committed_cash - o.price * qty, 0.0)
        else:
            acc.committed_allowances = max(acc.committed_allowances - qty, 0.0)

    # -- matching ---------------------------------------------------------------------------
    def _fill(self, bid, ask, qty, price):
        buyer, seller = self._acc[bid.trader], self._acc[ask.trader]
        self._release(bid, qty)
        self._release(ask, qty)
        buyer.cash -= price * qty
        buyer.allowances += qty
        seller.cash += price * qty
        seller.allowances -= qty
        for o in (bid, ask):
            o.remaining -= qty
            o.status = "filled" if o.remaining <= _TOL else "partial"
            if o.remaining <= _TOL:
                o.remaining = 0.0
        t = Trade(len(self._trades), bid.trader, ask.trader, price, qty, bid.order_id,
                  ask.order_id, bid.price, ask.price, self.mode)
        self._trades.append(t)
        return t

    def _match(self):
        while self._bids and self._asks and self._bids[0].price >= self._asks[0].price - _TOL:
            bid, ask = self._bids[0], self._asks[0]
            qty = min(bid.remaining, ask.remaining)
            self.last_price = _median3(ask.price, bid.price, self.last_price)
            self._fill(bid, ask, qty, self.last_price)
            if bid.remaining <= _TOL:
                self._bids.pop(0)
            if ask.remaining <= _TOL:
                self._asks.pop(0)

    def clearing_price(self):
        """The call-auction price :math:`p^\\star` and volume for the resting orders (see
        module doc); ``(None, 0.0)`` when no order can trade."""
        prices = sorted({o.price for o in self._bids} | {o.price for o in self._asks})
        best = None
        for p in prices:
            d = sum(o.remaining for o in self._bids if o.price >= p - _TOL)
            s = sum(o.remaining for o in self._asks if o.price <= p + _TOL)
            v = min(d, s)
            if v <= _TOL:
                continue
            key = (-round(v, 9), round(abs(d - s), 9), round(abs(p - self.last_price), 9), p)
            if best is None or key < best[0]:
                best = (key, p, v)
        return (None, 0.0) if best is None else (best[1], best[2])

    def _allocate(self, book, p, volume, better):
        """Fill quantities per order of one side at the uniform price (priority, tie-break)."""
        alloc, left = [], volume
        strict = [o for o in book if better(o.price)]
        for o in strict:
            take = min(o.remaining, left)
            alloc.append((o, take))
            left -= take
        level = [o for o in book if abs(o.price - p) <= _TOL]
        if self.tie_break == "pro_rata" and level:
            total = sum(o.remaining for o in level)
            share = min(left / total, 1.0) if total > 0 else 0.0
            alloc += [(o, o.remaining * share) for o in level]
        else:
            for o in level:
                take = min(o.remaining, max(left, 0.0))
                alloc.append((o, take))
                left -= take
        return [(o, q) for o, q in alloc if q > _TOL]

    def uncross(self):
        """Clear the resting orders at one uniform price (call auction); returns the trades."""
        p, v = self.clearing_price()
        if p is None:
            return []
        bids = self._allocate(self._bids, p, v, lambda x: x > p + _TOL)
        asks = self._allocate(self._asks, p, v, lambda x: x < p - _TOL)
        mode, self.mode = self.mode, "call"
        n0 = len(self._trades)
        i = j = 0
        bq, aq = [q for _, q in bids], [q for _, q in asks]
        while i < len(bids) and j < len(asks):
            q = min(bq[i], aq[j])
            if q > _TOL:
                self._fill(bids[i][0], asks[j][0], q, p)
            bq[i] -= q
            aq[j] -= q
            if bq[i] <= _TOL:
                i += 1
            if aq[j] <= _TOL:
                j += 1
        self.mode = mode
        self._bids = [o for o in self._bids if o.remaining > _TOL]
        self._asks = [o for o in self._asks if o.remaining > _TOL]
        self.last_price = p
        self._events.append(("uncross", ()))
        return self._trades[n0:]

    # -- views ------------------------------------------------------------------------------
    def book(self, depth=5):
        """The top ``depth`` orders of each book (sell book :math:`List_0` first, as in the
        paper): DataFrame indexed (``side``, ``rank``) with ``price``, ``quantity``,
        ``trader``, ``order_id``; fewer rows when a book is shorter."""
        rows = []
        for side, book in (("sell", self._asks), ("buy", self._bids)):
            for r, o in enumerate(book[:depth], start=1):
                rows.append((side, r, o.price, o.remaining, o.trader, o.order_id))
        df = pd.DataFrame(rows, columns=["side", "rank", "price", "quantity", "trader", "order_id"])
        return df.set_index(["side", "rank"])

    def trades(self):
        """The trade log: DataFrame indexed ``trade``."""
        cols = ["trade", "buyer", "seller", "price", "quantity", "buy_order", "sell_order",
                "bid_price", "ask_price", "mode"]
        rows = [(t.trade_id, t.buyer, t.seller, t.price, t.quantity, t.buy_order, t.sell_order,
                 t.bid_price, t.ask_price, t.mode) for t in self._trades]
        return pd.DataFrame(rows, columns=cols).set_index("trade")

    def orders(self):
        """The order log (every order, rejected ones with their reason): DataFrame indexed
        ``order``."""
        cols = ["order", "trader", "side", "price", "quantity", "remaining", "status", "reason"]
        rows = [(o.order_id, o.trader, o.side, o.price, o.quantity, o.remaining, o.status,
                 o.reason) for o in self._orders]
        return pd.DataFrame(rows, columns=cols).set_index("order")

    def events(self):
        """The event log that :meth:`replay` consumes: DataFrame indexed ``event`` with columns
        ``kind`` (open / submit / cancel / uncross / mode), ``trader``, ``side``, ``price``,
        ``quantity``, ``order_id``, ``mode``, ``band``, ``tie_break``. The first row (``open``)
        records the book's settings: opening price (in ``price``), band, starting mode and
        tie-break rule, so a replay needs nothing else but the initial accounts."""
        rows = [(0, "open", None, None, self.opening_price, None, None, self._initial_mode,
                 self.band, self.tie_break)]
        for k, (kind, args) in enumerate(self._events, start=1):
            if kind == "submit":
                rows.append((k, kind, *args, None, None, None, None))
            elif kind == "cancel":
                rows.append((k, kind, None, None, None, None, args[0], None, None, None))
            elif kind == "mode":
                rows.append((k, kind, None, None, None, None, None, args[0], None, None))
            else:
                rows.append((k, kind, None, None, None, None, None, None, None, None))
        return pd.DataFrame(rows, columns=["event", "kind", "trader", "side", "price", "quantity",
                                           "order_id", "mode", "band", "tie_break"]).set_index("event")

    def set_mode(self, mode):
        """Switch between ``"continuous"`` and ``"call"`` (logged); switching to continuous
        matches anything that crosses."""
        if mode not in MODES:
            raise InputError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self._events.append(("mode", (mode,)))
        self.mode = mode
        if mode == "continuous":
            self._match()

    def accounts(self):
        """Holdings and cash now: DataFrame indexed ``trader`` with ``allowances``, ``cash``,
        ``committed_allowances``, ``committed_cash``."""
        rows = [(k, a.allowances, a.cash, a.committed_allowances, a.committed_cash)
                for k, a in self._acc.items()]
        return pd.DataFrame(rows, columns=["trader", "allowances", "cash", "committed_allowances",
                                           "committed_cash"]).set_index("trader")

    def state(self):
        """Everything that defines the book now (for comparisons): a dict of frames and C."""
        return {"accounts": self.accounts(), "book": self.book(depth=len(self._bids) + len(self._asks)),
                "trades": self.trades(), "orders": self.orders(), "last_price": self.last_price,
                "mode": self.mode}

    # -- replay -----------------------------------------------------------------------------
    @classmethod
    def replay(cls, accounts, events, **settings):
        """Rebuild an order book by re-applying an event log (:meth:`events`) to the initial
        ``accounts``; the result has the same trades, books, accounts and last price.

        The settings come from the log's ``open`` row; ``settings`` (``opening_price``, ``band``,
        ``mode``, ``tie_break``) may repeat them but not contradict them. A log without an
        ``open`` row takes ``settings`` (defaults as in :class:`OrderBook`). Trader names read
        back from a CSV file as numbers are matched to the accounts' string names.
        """
        rows = list(events.iterrows())
        if rows and rows[0][1]["kind"] == "open":
            head = rows.pop(0)[1]
            logged = {"opening_price": float(head["price"]), "band": float(head["band"]),
                      "mode": head["mode"], "tie_break": head["tie_break"]}
            for key, val in settings.items():
                if key in logged and val != logged[key]:
                    raise InputError(f"replay: {key} = {val!r} contradicts the log's {logged[key]!r}")
            settings = {**settings, **logged}
        ob = cls(accounts, **settings)
        names = {str(k): k for k in ob._acc}
        for _, e in rows:
            if e["kind"] == "submit":
                trader = e["trader"]
                if trader not in ob._acc:   # a CSV round trip turns "101" into 101 or 101.0
                    text = (str(int(trader)) if isinstance(trader, float) and trader.is_integer()
                            else str(trader))
                    trader = names.get(text, trader)
                ob.submit(trader, e["side"], e["price"], e["quantity"])
            elif e["kind"] == "cancel":
                ob.cancel(int(e["order_id"]))
            elif e["kind"] == "uncross":
                ob.uncross()
            elif e["kind"] == "mode":
                ob.set_mode(e["mode"])
            else:
                raise InputError(f"event log: unknown event kind {e['kind']!r}")
        return ob


def settle(accounts, trades):
    """Apply a trade log to initial accounts: DataFrame indexed ``trader`` with ``allowances``
    and ``cash`` after every trade (an independent check of the book's own accounting)."""
    init = OrderBook._parse_accounts(accounts)
    hold = {k: list(v) for k, v in init.items()}
    for _, t in trades.iterrows():
        hold[t["buyer"]][0] += t["quantity"]
        hold[t["buyer"]][1] -= t["price"] * t["quantity"]
        hold[t["seller"]][0] -= t["quantity"]
        hold[t["seller"]][1] += t["price"] * t["quantity"]
    return pd.DataFrame([(k, *v) for k, v in hold.items()],
                        columns=["trader", "allowances", "cash"]).set_index("trader")
