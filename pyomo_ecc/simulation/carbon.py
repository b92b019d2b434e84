r"""Carbon in the co-simulation (seed 001 sec. 3.2.2): allowance positions after a day and the
daily allowance trading in the order book of :mod:`pyomo_ecc.mechanisms.orderbook`.

After day :math:`d` unit :math:`i` has produced :math:`E_i = \sum_t q_{i,t}` MWh, earned the free
allocation :math:`A_i E_i` and owes :math:`\rho_i E_i` tonnes; its position is

.. math:: x_i = (A_i - \rho_i)\,E_i \quad\text{(t; > 0 a surplus to sell, < 0 a deficit to buy)}.

Each day a fresh book opens at the previous day's closing price :math:`S_d` (day 1: 48 yuan/t),
with the seed's rules (band :math:`[0.9 S_d, 1.1 S_d]`, budget and holdings checks, price-time
priority, :math:`C \leftarrow \mathrm{med}(P_0, P_1, C)`). Every unit holds its free allocation
:math:`A_i E_i` as allowances and its carbon cash account (persistent across days). Units
submit their orders (each agent's :meth:`~pyomo_ecc.simulation.agents.Agent.carbon_order`) in
an order drawn from the experiment's generator; the closing price :math:`C` is the carbon price
:math:`p^{carbon}_{d+1}` of the next day's costs (eq. 21) and the next day's opening price.

Eq. 21 values the day's net position at the day's carbon price (the seed's rule) and enters
eq. 22; the book's cash flows go to the units' carbon cash accounts (:attr:`CarbonMarket.cash`)
and are not added to eq. 22 again, which would count the position twice.

:func:`trade_table` gives the trades in the layout of seed Table 4 (order number, buyer unit,
seller unit, price yuan/t, quantity t).

=========================  ==================================  ===============================
symbol                     attribute / column                  meaning
=========================  ==================================  ===============================
:math:`E_i`                ``positions()["energy"]``           energy of the day (MWh)
:math:`A_i E_i`            ``positions()["allocation"]``       free allowances earned (t)
:math:`\rho_i E_i`         ``positions()["emissions"]``        allowances owed (t)
:math:`x_i`                ``positions()["position"]``         surplus (+) or deficit (-) (t)
:math:`S_d`                ``CarbonMarket.price`` (before)     the day's opening and cost price
:math:`C`                  ``CarbonMarket.price`` (after)      closing price = :math:`S_{d+1}`
=========================  ==================================  ===============================
"""
import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.orderbook import OrderBook


def positions(market, clearing):
    """Allowance positions after a day: DataFrame indexed ``unit`` with ``energy`` (MWh),
    ``allocation`` (A E, t), ``emissions`` (rho E, t) and ``position`` ((A - rho) E, t)."""
    names = list(market.units)
    e = clearing.output.groupby(level="unit").sum().reindex(names).to_numpy(dtype=float)
    a = np.array([market.units[n].allocation for n in names])
    rho = np.array([market.units[n].intensity for n in names])
    return pd.DataFrame({"energy": e, "allocation": a * e, "emissions": rho * e,
                         "position": (a - rho) * e}, index=pd.Index(names, name="unit"))


class CarbonMarket:
    """Daily allowance trading among the units (see module doc).

    ``opening_price``: day-1 price S (yuan/t); ``band``: half-width of the price band;
    ``cash``: each unit's starting carbon cash account (yuan; a number or ``{unit: cash}``).
    """

    def __init__(self, units, opening_price=48.0, band=0.1, cash=1e8):
        if not opening_price > 0:
            raise InputError(f"carbon opening price must be > 0, got {opening_price!r}")
        self.units = list(units)
        self.band = float(band)
        self.initial_price = float(opening_price)
        cash = {u: float(cash) for u in self.units} if not isinstance(cash, dict) else dict(cash)
        missing = [u for u in self.units if u not in cash]
        if missing:
            raise InputError(f"carbon cash: no account for unit(s) {missing}")
        self._initial_cash = cash
        self.reset()

    def reset(self):
        self.price = self.initial_price
        self.cash = dict(self._initial_cash)

    def trade_day(self, pos, orders, rng):
        """Run one day's book. ``pos``: :func:`positions`; ``orders``: ``{unit: (side, price,
        quantity) | None}``; ``rng`` orders the submissions. Returns ``(book, trades, rejected)``
        (the :class:`OrderBook`, its trade log, and the order log's rejected rows) and moves
        :attr:`price` to the closing price."""
        if not isinstance(rng, np.random.Generator):
            raise InputError("trade_day needs a numpy.random.Generator")
        accounts = {u: (max(float(pos.at[u, "allocation"]), 0.0), self.cash[u]) for u in self.units}
        book = OrderBook(accounts, opening_price=self.price, band=self.band)
        names = [u for u in self.units if orders.get(u) is not None]
        for k in rng.permutation(len(names)):
            side, price, qty = orders[names[k]]
            book.submit(names[k], side, price, qty)
        trades = book.trades()
        for _, t in trades.iterrows():
            self.cash[t["buyer"]] -= t["price"] * t["quantity"]
            self.cash[t["seller"]] += t["price"] * t["quantity"]
        self.price = float(book.last_price)
        o = book.orders()
        return book, trades, o[o["status"] == "rejected"]


def default_carbon_order(position, opening_price, band, rng):
    r"""The default allowance order of a unit (the seed fixes only the book's rules): a deficit
    :math:`x < 0` is bought at :math:`S(1 + b\,u)`, :math:`u \sim U(0, 1)`; a surplus
    :math:`x > 0` is offered at :math:`S(1 + b\,u)`, :math:`u \sim U(-\tfrac12, 1)` (sellers ask
    in the upper part of the band: in this system deficits far exceed surpluses); nothing when
    :math:`|x| < 10^{-6}` t."""
    if abs(position) < 1e-6:
        return None
    if position < 0:
        return ("buy", round(opening_price * (1 + band * rng.uniform(0.0, 1.0)), 2), -position)
    return ("sell", round(opening_price * (1 + band * rng.uniform(-0.5, 1.0)), 2), position)


def trade_table(trades, day=None):
    """Trades in the layout of seed Table 4: columns ``buyer unit``, ``seller unit``,
    ``price (yuan/t)``, ``quantity (t)``, indexed by ``order no.`` (1, 2, ...), optionally for
    one ``day`` of an experiment's trade log (index (round, trade))."""
    t = trades
    if day is not None:
        t = trades.xs(day, level="round") if "round" in (trades.index.names or []) else trades
    out = pd.DataFrame({"buyer unit": t["buyer"].to_numpy(), "seller unit": t["seller"].to_numpy(),
                        "price (yuan/t)": t["price"].to_numpy(dtype=float),
                        "quantity (t)": t["quantity"].to_numpy(dtype=float)},
                       index=pd.RangeIndex(1, len(t) + 1, name="order no."))
    return out
