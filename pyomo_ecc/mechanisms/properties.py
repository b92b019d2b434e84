r"""Mechanism properties and VCG (Clarke pivot) payments by withdraw-and-resolve.

A *mechanism* is any callable ``mechanism(reports) -> Outcome`` taking a dict of reported types
(one per agent). With the agents' true types :math:`\theta_i` and a valuation
:math:`v_i(\theta_i, o)` of the outcome, agent :math:`i`'s quasi-linear utility is
:math:`u_i = v_i(\theta_i, o) - \pi_i` (:math:`\pi_i` what it pays; a seller's is negative).

==========================  ===================================================  ===================
property                    check                                                function
==========================  ===================================================  ===================
incentive compatibility     :math:`\max_{\hat\theta_i} u_i(\hat\theta_i,        :func:`check_ic`
                            \theta_{-i}) - u_i(\theta_i, \theta_{-i}) \le \tau`
                            over a searched set of misreports
individual rationality      :math:`u_i(\theta) \ge -\tau`                        :func:`check_ir`
weak / strong budget bal.   :math:`\sum_i \pi_i \ge -\tau` / :math:`|\sum_i      :func:`budget_balance`
                            \pi_i| \le \tau`
efficiency ratio            :math:`\sum_i v_i(\theta_i, o) / W^\star`            :func:`efficiency_ratio`
==========================  ===================================================  ===================

VCG payments of a market are :func:`pyomo_ecc.mechanisms.vcg.vcg_payments` (re-exported here as
:func:`clarke_payments`).

Ready-made mechanisms: :func:`auction_mechanism` (the double auction, pay-as-clear or VCG) and
:class:`MarketMechanism` (any pyomo_ecc market, reports set its mutable parameters).
"""
from dataclasses import dataclass, field

import pandas as pd

from pyomo_ecc.core.progress import tqdm
from pyomo_ecc.whatif import SetParam, WhatIf, applied
from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.auction import Order, double_auction
from pyomo_ecc.mechanisms.vcg import clarke_payments, market_participants, vcg_payments  # noqa: F401


@dataclass
class Outcome:
    """A mechanism's outcome: ``allocation`` and ``payments`` (what each agent pays) by agent;
    ``state`` holds whatever the mechanism's valuation needs (e.g. a dispatch snapshot)."""

    allocation: dict
    payments: dict
    state: dict = field(default_factory=dict, repr=False)


# -- generic property checks -----------------------------------------------------------------
def utilities(outcome, types, value):
    """``{agent: value(agent, types[agent], outcome) - payments[agent]}``."""
    return {a: value(a, types[a], outcome) - outcome.payments.get(a, 0.0) for a in types}


def check_ir(mechanism, types, value, tol=1e-6):
    """Individual rationality under truthful reports: DataFrame indexed ``agent`` with
    ``utility`` and ``ir``; ``df.attrs["ir"]`` is True when every utility is >= -tol."""
    u = utilities(mechanism(dict(types)), types, value)
    df = pd.DataFrame({"utility": pd.Series(u)}).rename_axis("agent")
    df["ir"] = df["utility"] >= -tol
    df.attrs["ir"] = bool(df["ir"].all())
    return df


def check_ic(mechanism, types, value, misreports, tol=1e-6, progress=False):
    """Search misreports agent by agent (others truthful) for a profitable deviation.

    ``misreports``: ``{agent: [report, ...]}`` or a callable ``(agent, true_type) -> reports``.
    Returns a DataFrame indexed ``agent`` with ``truthful``, ``best`` (utility), ``gain`` and
    ``best_report``; ``df.attrs["ic"]`` is True when no gain exceeds ``tol`` and
    ``df.attrs["max_gain"]`` is the largest gain found.
    """
    truthful = utilities(mechanism(dict(types)), types, value)
    rows = []
    for a in tqdm(list(types), desc="misreport search", disable=not progress):
        cands = misreports(a, types[a]) if callable(misreports) else misreports.get(a, [])
        best, best_r = truthful[a], types[a]
        for r in cands:
            reports = dict(types)
            reports[a] = r
            out = mechanism(reports)
            u = value(a, types[a], out) - out.payments.get(a, 0.0)
            if u > best:
                best, best_r = u, r
        rows.append((a, truthful[a], best, best - truthful[a], best_r))
    df = pd.DataFrame(rows, columns=["agent", "truthful", "best", "gain", "best_report"]
                      ).set_index("agent")
    df.attrs["max_gain"] = float(df["gain"].max())
    df.attrs["ic"] = bool(df.attrs["max_gain"] <= tol)
    return df


def budget_balance(outcome, tol=1e-6):
    """``{"surplus": sum of payments, "weak": surplus >= -tol, "strong": |surplus| <= tol}``."""
    s = float(sum(outcome.payments.values()))
    return {"surplus": s, "weak": s >= -tol, "strong": abs(s) <= tol}


def efficiency_ratio(outcome, types, value, optimal_welfare):
    """Realised true welfare :math:`\\sum_i v_i` over the optimum :math:`W^\\star` (> 0)."""
    if not optimal_welfare > 0:
        raise InputError(f"the efficiency ratio needs a positive optimal welfare, got {optimal_welfare}")
    return float(sum(value(a, types[a], outcome) for a in types) / optimal_welfare)


# -- the double auction as a mechanism --------------------------------------------------------
def _order(agent, t):
    if isinstance(t, Order):
        return Order(agent, t.side, t.price, t.quantity, t.time)
    side, price, qty = t
    return Order(agent, side, float(price), float(qty), 0.0)


def auction_value(agent, true_type, outcome):
    """True value of a double-auction outcome: a buyer's bid price times its fill, minus a
    seller's ask price (its cost) times its fill. Types are ``(side, price, quantity)``."""
    o = _order(agent, true_type)
    x = outcome.allocation.get(agent, 0.0)
    return o.price * x if o.side == "bid" else -o.price * x


def auction_mechanism(payment="pay_as_clear", **auction_options):
    """The double auction as a mechanism over reports ``{agent: (side, price, quantity)}``.

    ``payment="pay_as_clear"``: everyone trades at the uniform price (budget balanced, not
    incentive compatible). ``payment="vcg"``: the same efficient allocation with Clarke pivot
    payments computed by re-clearing without each agent (incentive compatible, runs a deficit).
    ``auction_options`` go to :func:`~pyomo_ecc.mechanisms.auction.double_auction`.
    """
    if payment not in ("pay_as_clear", "vcg"):
        raise InputError(f"unknown payment rule {payment!r}; choose 'pay_as_clear' or 'vcg'")

    def run(reports):
        orders = [_order(a, t) for a, t in reports.items()]
        bids = [o for o in orders if o.side == "bid"]
        asks = [o for o in orders if o.side == "ask"]
        res = double_auction(bids, asks, **auction_options)
        fills = {o: float(res.orders.loc[(o_side, o), "filled"])
                 for (o_side, o) in res.orders.index}
        if payment == "pay_as_clear":
            pays = {o: float(res.orders.loc[(s, o), "payment"]) for (s, o) in res.orders.index}
        else:
            pays = {}
            for a, t in reports.items():
                own = _order(a, t)
                rv = own.price * fills[a] * (1 if own.side == "bid" else -1)
                others_with = res.welfare - rv
                rest = [o for o in orders if o.name != a]
                w_without = double_auction([o for o in rest if o.side == "bid"],
                                           [o for o in rest if o.side == "ask"],
                                           **auction_options).welfare
                pays[a] = w_without - others_with
        return Outcome(fills, pays, {"result": res})

    return run


# -- a pyomo_ecc market as a mechanism --------------------------------------------------------
class MarketMechanism:
    """A pyomo_ecc market as a mechanism: reports set mutable parameters of the participants.

    ``model``: a market (built once; every report is a what-if on it, see
    :mod:`pyomo_ecc.whatif`). Reports and types are
    ``{participant_local_name: {param_name: value}}`` (a value per index for indexed
    parameters, as a dict or a scalar applied to every index). ``rule``: ``"pay_as_clear"``
    (payments :math:`-\\sum_t \\Delta t_t u \\lambda_{b,t} p^{inj}_t` at the LMPs) or
    ``"vcg"`` (:func:`~pyomo_ecc.mechanisms.vcg.vcg_payments` under the reports).
    :meth:`value` is the true valuation :math:`-\\mathrm{BC}_i` evaluated with the true
    parameters at the outcome's dispatch.
    """

    def __init__(self, model, rule="pay_as_clear", solver=None):
        if rule not in ("pay_as_clear", "vcg"):
            raise InputError(f"unknown payment rule {rule!r}; choose 'pay_as_clear' or 'vcg'")
        self.model = model
        self.rule = rule
        name = getattr(solver, "name", solver) or "highs"
        self.engine = WhatIf(model, solver=name)
        self._blocks = {p.local_name: p for p in market_participants(model)}

    def _block(self, agent):
        if agent not in self._blocks:
            raise InputError(f"unknown participant {agent!r}; the market has {sorted(self._blocks)}")
        return self._blocks[agent]

    def _changes(self, reports):
        changes = []
        for agent, params in reports.items():
            blk = self._block(agent)
            for name, val in params.items():
                prm = blk.component(name)
                if prm is None or not getattr(prm, "mutable", False):
                    raise InputError(f"participant '{agent}' has no mutable parameter {name!r}")
                changes.append(SetParam(prm, val))
        return changes

    def __call__(self, reports):
        changes = self._changes(reports)
        inj = {(a, t): b.p_inj[t] for a, b in self._blocks.items() for t in b.market().T}
        out = self.engine.run(changes, prices=["lmp"] if self.rule == "pay_as_clear" else (),
                              values=inj, keep_solution=True)
        if not out.ok:
            raise InputError(f"the market has no solution under these reports ({out.status}: {out.reason})")
        alloc = {a: {t: out.values[(a, t)] for t in b.market().T} for a, b in self._blocks.items()}
        if self.rule == "pay_as_clear":
            lam = out.prices["lmp"]
            pays = {}
            for a, b in self._blocks.items():
                mk = b.market()
                pays[a] = -sum(mk.dt[t] * mk.power_unit_mw * float(lam[(b.bus, t)]) * alloc[a][t]
                               for t in mk.T)
        else:
            df = vcg_payments(self.model, engine=self.engine, base_changes=changes)
            pays = {a: float(df.loc[b.name, "payment"]) for a, b in self._blocks.items()}
        return Outcome(alloc, pays, {"whatif": out})

    def value(self, agent, true_type, outcome):
        """:math:`-\\mathrm{BC}_i` with the true parameters at the outcome's dispatch."""
        blk = self._block(agent)
        with applied(self.model, self._changes({agent: true_type})):
            return -self.engine.evaluate(blk.bid_cost, outcome.state["whatif"])

    def welfare(self, types):
        """True optimal welfare: the market solved with the true parameters."""
        costs = {a: b.bid_cost for a, b in self._blocks.items()}
        out = self.engine.run(self._changes(types), values=costs)
        return -sum(out.values.values())
