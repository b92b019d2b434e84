r"""Peer-to-peer market with product differentiation and network charges, and a community variant.

Full P2P (Sorin, Bobo & Pinson, "Consensus-based approach to peer-to-peer electricity markets
with product differentiation", IEEE Trans. Power Syst. 34(2), 2019): every peer :math:`n` (a bus;
the participants at that bus are its assets) trades :math:`q_{nm,t}` with each partner
:math:`m \in \omega_n` (positive: :math:`n` sells to :math:`m`). Each trade is split in a sale and
a purchase part, :math:`q_{nm,t} = q^{s}_{nm,t} - q^{b}_{nm,t}`, both non-negative, so that the
charge :math:`c_{nm}` that :math:`n` pays per unit traded with :math:`m` applies to either
direction:

.. math::

    \min \sum_i \mathrm{BC}_i + \sum_t \Delta t_t \sum_{n}\sum_{m \in \omega_n}
        c_{nm}\,(q^{s}_{nm,t} + q^{b}_{nm,t})

.. math::

    \sum_{i \in n} p^{inj}_{i,t} = \sum_{m \in \omega_n} q_{nm,t} \quad (\lambda_{n,t}),
    \qquad q_{nm,t} + q_{mn,t} = 0 \quad (\gamma_{nm,t})\ \text{(reciprocity)}

with :math:`c_{nm} = \kappa_{nm} + \gamma^{net}\,\delta_{nm}`: a product-differentiation
preference :math:`\kappa_{nm}` (e.g. a premium for local or green energy; a preferred partner
gets a lower charge; every :math:`c_{nm} \ge 0`, else buying and selling the same trade at once
would earn :math:`-c_{nm}` per unit without bound) plus a network charge proportional to the
electrical distance
:math:`\delta_{nm}` (the distance-based tariff of Sorin et al.). The reciprocity dual is the
bilateral trade price: for an active trade :math:`n \to m`,
:math:`\gamma_{nm} = \lambda_n + c_{nm} = \lambda_m - c_{mn}` (declared as price ``p2p_price``
for both orders of the pair); :math:`\lambda_n` is the peer's own marginal price (``lmp``).

Community variant (``community=True``, Moret & Pinson, "Energy collectives: a community and
fairness based approach to future electricity markets", IEEE Trans. Power Syst. 34(5), 2019):
peers trade only with a community pool (a virtual peer named ``pool``), which imports from / exports
to the upstream grid at prices :math:`\pi^{imp}_t \ge \pi^{exp}_t`:

.. math::

    \sum_{n} q_{\mathrm{pool},n,t} = g^{imp}_t - g^{exp}_t \quad (\lambda^{com}_t), \qquad
    \text{cost } \sum_t \Delta t_t (\pi^{imp}_t g^{imp}_t - \pi^{exp}_t g^{exp}_t)

and the pool balance dual is declared as ``community_price``.

The trade charges and grid costs are the network's ``objective_cost()`` (the block contract,
:mod:`pyomo_ecc.core.contract`; they are collected by the operator, participants' ``bid_cost``
does not include them).

Loss-neutral settlement: with marginal loss factors
:math:`\mathrm{MLF}_k = 1 + \partial P_{loss}/\partial P_{L,k}` (from a lossy feeder model, see
:func:`marginal_loss_factors`), a trade in which seller :math:`i` injects :math:`dP_i` leaves
the substation's supply unchanged to first order when the buyer :math:`j` withdraws
:math:`dP_j = dP_i\,\mathrm{MLF}_i / \mathrm{MLF}_j` (:func:`loss_neutral_settlement`).

===================================  ===========================  ===================================
symbol                               attribute                    meaning
===================================  ===========================  ===================================
:math:`q^{s}_{nm,t}, q^{b}_{nm,t}`   ``p_sell``, ``p_buy``        sale / purchase of n with m
:math:`q_{nm,t}`                     ``p_trade[n, m, t]``         net trade (positive: n sells)
:math:`c_{nm}`                       ``charge[n, m]``             charge per unit (mutable)
:math:`\lambda_{n,t}`                ``eq_p_balance[n, t]``       peer balance (price ``lmp``)
:math:`\gamma_{nm,t}`                ``eq_reciprocity[n, m, t]``  reciprocity (price ``p2p_price``)
:math:`g^{imp}_t, g^{exp}_t`         ``g_import``, ``g_export``   pool exchange with the grid
:math:`\pi^{imp}_t, \pi^{exp}_t`     ``import_price``, ``export_price``  grid tariffs (mutable)
trade charges and grid cost          ``trade_cost``               ``objective_cost()``
===================================  ===========================  ===================================
"""
from collections.abc import Mapping

import pandas as pd
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue
from pyomo.environ import Constraint, Expression, NonNegativeReals, Param, Var

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import finite_float, flag, nonnegative_float, number, optional, series
from pyomo_ecc.network.base import NetworkData
from pyomo_ecc.core.contract import PriceDecl

POOL = "pool"


def _triples(x):
    """A list of (peer, partner, value) entries."""
    if x is None:
        return ()
    if isinstance(x, (str, bytes, Mapping)) or not hasattr(x, "__iter__"):
        raise ValueError(f"expected a list of (peer, partner, value) entries, got {x!r}")
    out = []
    for k, e in enumerate(x):
        try:
            n, m, v = e
        except (TypeError, ValueError):
            raise ValueError(f"entry {k}: expected (peer, partner, value), got {e!r}") from None
        try:
            out.append((n, m, finite_float(v)))
        except ValueError as err:
            raise ValueError(f"entry {k}: {err}") from None
    return tuple(out)


def _pairs(x):
    if x is None:
        return None
    if isinstance(x, (str, bytes, Mapping)) or not hasattr(x, "__iter__"):
        raise ValueError(f"expected a list of (peer, partner) pairs, got {x!r}")
    out = []
    for k, e in enumerate(x):
        try:
            n, m = e
        except (TypeError, ValueError):
            raise ValueError(f"entry {k}: expected (peer, partner), got {e!r}") from None
        if n == m:
            raise ValueError(f"entry {k}: a peer cannot trade with itself ({n!r})")
        out.append((n, m))
    return tuple(out)


_optional_nonnegative = optional(nonnegative_float)


@declare_block("P2PNetwork")
class P2PNetworkData(NetworkData):
    """Bilateral trades between peers (buses), or trades through a community pool (module doc)."""

    RETIRED = {"q": "p_trade", "q_sell": "p_sell", "q_buy": "p_buy"}
    CONFIG = NetworkData.CONFIG()
    CONFIG.declare("pairs", ConfigValue(default=None, domain=_pairs,
                                        doc="trading pairs (peer, partner); default: every pair"))
    CONFIG.declare("preferences", ConfigValue(default=None, domain=_triples,
                                              doc="product-differentiation charges "
                                                  "[(peer, partner, kappa), ...] per unit"))
    CONFIG.declare("distances", ConfigValue(default=None, domain=_triples,
                                            doc="electrical distances [(peer, partner, delta), ...] "
                                                "(symmetric)"))
    CONFIG.declare("network_charge", ConfigValue(default=0.0, domain=nonnegative_float,
                                                 doc="charge per unit traded and unit distance"))
    CONFIG.declare("trade_max", ConfigValue(default=None, domain=_optional_nonnegative,
                                            doc="largest trade of any pair per period"))
    CONFIG.declare("community", ConfigValue(default=False, domain=flag,
                                            doc="trade through a community pool instead of bilaterally"))
    CONFIG.declare("import_price", ConfigValue(default=None, domain=series,
                                               doc="community: price of imports from the grid"))
    CONFIG.declare("export_price", ConfigValue(default=None, domain=series,
                                               doc="community: price paid for exports to the grid"))
    CONFIG.declare("import_max", ConfigValue(default=None, domain=_optional_nonnegative,
                                             doc="community: largest import per period"))
    CONFIG.declare("export_max", ConfigValue(default=None, domain=_optional_nonnegative,
                                             doc="community: largest export per period"))

    def build(self):
        super().build()

    # -- data --------------------------------------------------------------------------------
    def peers(self):
        return self.buses()

    def _check_options(self):
        """Options of the other variant are refused rather than silently ignored."""
        cfg = self.config
        if cfg.community:
            if cfg.pairs is not None:
                self.fail("option 'pairs' is for bilateral trading: in a community market every "
                          "peer trades with the pool")
        else:
            given = [k for k in ("import_price", "export_price", "import_max", "export_max")
                     if cfg[k] is not None]
            if given:
                self.fail(f"option(s) {given} need community=True")

    def _pair_list(self):
        self._check_options()
        peers = self.peers()
        if self.config.community:
            if POOL in peers:
                self.fail(f"a peer may not be called {POOL!r} in a community market")
            return [(POOL, n) for n in peers]
        if self.config.pairs is None:
            return [(peers[i], peers[j]) for i in range(len(peers)) for j in range(i + 1, len(peers))]
        known = set(peers)
        seen, out = set(), []
        for n, m in self.config.pairs:
            for x in (n, m):
                if x not in known:
                    self.fail(f"pair ({n!r}, {m!r}): unknown peer {x!r}; the peers are {peers}")
            key = frozenset((n, m))
            if key in seen:
                self.fail(f"pair ({n!r}, {m!r}) is listed twice")
            seen.add(key)
            out.append((n, m))
        return out

    def _charges(self, directed):
        cfg = self.config
        pref = {(n, m): v for n, m, v in (cfg.preferences or ())}
        dist = {}
        for n, m, v in (cfg.distances or ()):
            if v < 0:
                self.fail(f"distance between {n!r} and {m!r} must be >= 0, got {v}")
            dist[(n, m)] = dist[(m, n)] = v
        for what, table in (("preferences", pref), ("distances", dist)):
            bad = [k for k in table if k not in set(directed)]
            if bad:
                self.fail(f"{what}: ({bad[0][0]!r}, {bad[0][1]!r}) is not a trading pair")
        out = {k: pref.get(k, 0.0) + cfg.network_charge * dist.get(k, 0.0) for k in directed}
        neg = [k for k, v in out.items() if v < 0]
        if neg:
            n, m = neg[0]
            self.fail(f"the charge of peer {n!r} on trades with {m!r} is {out[neg[0]]} < 0: charges "
                      f"must be >= 0 (express a preferred partner by a lower charge on the others)")
        return out

    # -- build (phase 3) ---------------------------------------------------------------------
    def assemble(self):
        cfg = self.config
        self.check_buses()
        market = self.market()
        T = market.T
        pairs = self._pair_list()
        directed = [(n, m) for n, m in pairs] + [(m, n) for n, m in pairs]
        self.pair_set = pyo.Set(initialize=pairs, dimen=2, ordered=True, doc="trading pairs")
        self.directed = pyo.Set(initialize=directed, dimen=2, ordered=True, doc="trades by peer")
        self.charge = Param(self.directed, initialize=self._charges(directed), mutable=True,
                            doc="charge per unit traded (currency/(u h))")
        ub = (0.0, cfg.trade_max)
        self.p_sell = Var(self.directed, T, domain=NonNegativeReals, bounds=ub, doc="sale of n to m")
        self.p_buy = Var(self.directed, T, domain=NonNegativeReals, bounds=ub, doc="purchase of n from m")
        self.p_trade = Expression(self.directed, T,
                                  rule=lambda b, n, m, t: b.p_sell[n, m, t] - b.p_buy[n, m, t])
        partners = {}
        for n, m in directed:
            partners.setdefault(n, []).append(m)
        inj = {t: self.injections_at(t) for t in T}
        nodes = self.peers() + ([POOL] if cfg.community else [])

        def balance(b, n, t):
            var, fixed = inj[t].get(n, ([], []))
            trades = sum(b.p_trade[n, m, t] for m in partners.get(n, []))
            if n == POOL:
                return b.g_import[t] - b.g_export[t] - trades == 0
            if not var and not partners.get(n):
                self.fail(f"peer {n!r} has nothing to decide in period {t}")
            return sum(var) - trades == -sum(fixed)

        cost = sum(market.dt[t] * self.charge[n, m] * (self.p_sell[n, m, t] + self.p_buy[n, m, t])
                   for (n, m) in directed for t in T)
        if cfg.community:
            if cfg.import_price is None or cfg.export_price is None:
                self.fail("a community market needs 'import_price' and 'export_price'")
            imp = self._series("import_price", cfg.import_price)
            exp = self._series("export_price", cfg.export_price)
            bad = [t for t in T if exp[t] > imp[t]]
            if bad:
                self.fail(f"export_price {exp[bad[0]]} exceeds import_price {imp[bad[0]]} in period "
                          f"{bad[0]} (unbounded arbitrage)")
            self.import_price = Param(T, initialize=imp, mutable=True, doc="grid import price")
            self.export_price = Param(T, initialize=exp, mutable=True, doc="grid export price")
            self.g_import = Var(T, domain=NonNegativeReals, bounds=(0, cfg.import_max))
            self.g_export = Var(T, domain=NonNegativeReals, bounds=(0, cfg.export_max))
            cost = cost + sum(market.dt[t] * (self.import_price[t] * self.g_import[t]
                                              - self.export_price[t] * self.g_export[t]) for t in T)
        self.eq_p_balance = Constraint(nodes, T, rule=balance, doc="peer balance")
        self.eq_reciprocity = Constraint(self.pair_set, T,
                                         rule=lambda b, n, m, t: b.p_trade[n, m, t] + b.p_trade[m, n, t] == 0,
                                         doc="trade reciprocity")
        self.trade_cost = Expression(expr=cost, doc="trade charges and grid cost (currency)")

    def _series(self, name, value):
        from pyomo_ecc.core.config import per_period
        try:
            return per_period(value, self.market().T, f"option '{name}'")
        except ValueError as e:
            self.fail(str(e))

    def objective_cost(self):
        """The trade charges and the pool's grid cost (collected by the operator)."""
        return self.trade_cost

    def price_declarations(self):
        T = self.market().T
        out = [PriceDecl("lmp", (n, t), ("bus", "t"), self.eq_p_balance[n, t], +1, "power", t)
               for t in T for n in self.peers()]
        for n, m in self.pair_set:
            for t in T:
                c = self.eq_reciprocity[n, m, t]
                out.append(PriceDecl("p2p_price", (n, m, t), ("peer", "partner", "t"), c, +1, "power", t))
                out.append(PriceDecl("p2p_price", (m, n, t), ("peer", "partner", "t"), c, +1, "power", t))
        if self.config.community:
            out += [PriceDecl("community_price", (t,), ("t",), self.eq_p_balance[POOL, t], +1,
                              "power", t) for t in T]
        return out

    def trades(self):
        """Solved trades: DataFrame indexed (``peer``, ``partner``, ``t``) with ``p_trade`` (positive:
        the peer sells) and ``charge``."""
        rows = [(n, m, t, pyo.value(self.p_trade[n, m, t]) + 0.0, pyo.value(self.charge[n, m]))
                for (n, m) in self.directed for t in self.market().T]
        return pd.DataFrame(rows, columns=["peer", "partner", "t", "p_trade", "charge"]
                            ).set_index(["peer", "partner", "t"])


# -- loss-neutral settlement ---------------------------------------------------------------------
def marginal_loss_factors(model, check=True):
    r"""Marginal loss factors :math:`\mathrm{MLF}_{k,t} = 1 + \partial P_{loss}/\partial P_{L,k}`
    of every bus of a solved lossy feeder market (e.g. AC DistFlow, solved with Ipopt).

    They come from the DLMP decomposition of the same solved model
    (:func:`pyomo_ecc.pricing.dlmp.dlmp`): its loss component is
    :math:`\lambda^p_0 (\mathrm{MLF} - 1)` when the substation supplies reactive power freely
    (:math:`\lambda^q_0 = 0`), so :math:`\mathrm{MLF} = 1 + \mathrm{loss}/\mathrm{energy}`.
    Returns a Series indexed (``bus``, ``t``) named ``mlf``.
    """
    from pyomo_ecc.errors import PriceError
    from pyomo_ecc.pricing.dlmp import dlmp

    d = dlmp(model, check=check)
    if (d["energy"].abs() < 1e-12).any():
        raise PriceError("the substation energy price is zero in some period: marginal loss "
                         "factors cannot be read from the DLMP loss component")
    # the loss component is lambda_p0 (MLF - 1) + lambda_q0 dq_0: it gives the MLF only when
    # the root's reactive supply is free (lambda_q0 = 0)
    lam_q0 = dlmp(model, price="qlmp", check=False)["energy"]
    bad = lam_q0.abs() > 1e-9 * d["energy"].abs().clip(lower=1.0)
    if bad.any():
        k = lam_q0.index[bad][0]
        raise PriceError(f"the substation's reactive power has a price ({lam_q0[k]:.6g} in period "
                         f"{k[-1]}): "
                         f"the DLMP loss component mixes active and reactive losses, so marginal "
                         f"loss factors cannot be read from it (use q_root_free=True)")
    return (1.0 + d["loss"] / d["energy"]).rename("mlf")


def loss_neutral_settlement(trades, mlf):
    r"""Settle trades loss-neutrally: :math:`dP_j = dP_i\,\mathrm{MLF}_i / \mathrm{MLF}_j`.

    ``trades``: DataFrame with columns ``seller``, ``buyer``, ``p_trade`` (the seller's injection,
    > 0) and optionally ``t`` (default: the first period of ``mlf``); ``mlf``: Series indexed
    (``bus``, ``t``) or by bus. Returns the trades with ``mlf_seller``, ``mlf_buyer`` and
    ``withdrawn`` (what the buyer may take out).
    """
    from pyomo_ecc.errors import InputError

    df = pd.DataFrame(trades).copy()
    if "q" in df and "p_trade" not in df:
        raise InputError("trades: column 'q' was renamed 'p_trade' (the seller's injection)")
    for col in ("seller", "buyer", "p_trade"):
        if col not in df:
            raise InputError(f"trades need a column {col!r}; they have {list(df.columns)}")
    df["p_trade"] = [number(q, f"trade {k!r}: quantity p_trade", minimum=0.0, strict=True)
                     for k, q in zip(df.index, df["p_trade"])]
    if not isinstance(mlf, pd.Series):
        raise InputError(f"mlf: expected a pandas Series of marginal loss factors by bus (or by "
                         f"(bus, t)), got {type(mlf).__name__}")
    nested = isinstance(mlf.index, pd.MultiIndex)
    if nested and "t" not in df:
        df["t"] = mlf.index.get_level_values(-1)[0]

    def factor(bus, t):
        key = (bus, t) if nested else bus
        if key not in mlf.index:
            raise InputError(f"no marginal loss factor for bus {bus!r}" + (f" in period {t!r}" if nested else ""))
        return number(mlf[key], f"marginal loss factor of bus {bus!r}", minimum=0.0, strict=True)

    ts = df["t"] if nested else [None] * len(df)
    df["mlf_seller"] = [factor(b, t) for b, t in zip(df["seller"], ts)]
    df["mlf_buyer"] = [factor(b, t) for b, t in zip(df["buyer"], ts)]
    df["withdrawn"] = df["p_trade"] * df["mlf_seller"] / df["mlf_buyer"]
    return df
