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

VCG payments on a solved market (:func:`clarke_payments`), with :math:`\mathrm{BC}_j` the as-bid
costs, :math:`x^\star` the dispatch, :math:`x^{-i}` the dispatch without :math:`i` and
:math:`\mathrm{OC}` the rest of the minimised objective (costs that belong to no participant:
P2P trade charges, a community's grid cost, policy costs):

.. math:: \pi_i = \Big[\sum_{j \ne i} \mathrm{BC}_j + \mathrm{OC}\Big](x^\star)
          - \Big[\sum_{j \ne i} \mathrm{BC}_j + \mathrm{OC}\Big](x^{-i})

(leaving :math:`\mathrm{OC}` out would reward a participant for reports that lower the others'
bid costs at the expense of those charges, and truth-telling would no longer be dominant).

Participant :math:`i` is withdrawn on the same model: its variables are fixed to 0, the mutable
parameters it lists in ``withdrawal_params()`` (e.g. a prosumer's local demand; every mutable
parameter of a fixed load) are set to 0 and its block is deactivated; one persistent :class:`~pyomo_ecc.solvers.Solver` re-solves, then
everything is restored (values, duals, parameters, active flags).

Ready-made mechanisms: :func:`auction_mechanism` (the double auction, pay-as-clear or VCG) and
:class:`MarketMechanism` (any pyomo_ecc market, reports set its mutable parameters).
"""
from dataclasses import dataclass, field

import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import InputError, ModelError
from pyomo_ecc.mechanisms.auction import Order, double_auction
from pyomo_ecc.solvers import Solver

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover
    def tqdm(it, **kw):
        return it


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


# -- withdraw-and-resolve on a pyomo_ecc market --------------------------------------------------
def snapshot(model):
    """Variable values and duals of ``model`` (to restore after what-if solves)."""
    vals = ComponentMap((v, v.value) for v in model.component_data_objects(pyo.Var, descend_into=True))
    suffix = model.component("dual")
    duals = list(suffix.items()) if isinstance(suffix, pyo.Suffix) else None
    return vals, duals


def restore(model, snap):
    """Put back what :func:`snapshot` saved."""
    vals, duals = snap
    for v, x in vals.items():
        if not v.fixed:
            v.set_value(x, skip_validation=True)
    suffix = model.component("dual")
    if duals is not None and isinstance(suffix, pyo.Suffix):
        suffix.clear()
        for c, d in duals:
            suffix[c] = d


def _participants(model):
    mks = markets_in(model)
    if not mks:
        raise ModelError(f"'{model.name}' contains no Market block")
    return [p for mk in mks for p in mk.participants()]


def system_cost(model):
    """Value of the model's single active objective as a cost (negated if maximised)."""
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objs) != 1:
        raise ModelError(f"'{model.name}' has {len(objs)} active objectives; need exactly one")
    v = pyo.value(objs[0])
    return v if objs[0].sense == pyo.minimize else -v


def withdraw_resolve(model, participant, solver):
    """Solve ``model`` without ``participant`` (module doc); return ``({name: bid_cost}, rest)``:
    the others' as-bid costs in that solution and ``rest``, the objective minus the withdrawn
    participant's (zero) cost, i.e. the others' costs plus the costs of no participant. The
    model's parameters, bounds and active flags are restored before returning (values and duals:
    see :func:`snapshot`)."""
    others = [q for q in _participants(model) if q is not participant]
    mk = participant.market()
    fixed, params = [], []
    try:
        for v in participant.component_data_objects(pyo.Var, descend_into=True):
            if not v.fixed:
                fixed.append(v)
                v.fix(0.0)
        if hasattr(participant, "withdrawal_params"):
            zero = participant.withdrawal_params()
        elif participant.fixed_injection:  # a fixed load: its load parameters go to zero
            zero = [c for c in participant.component_objects(pyo.Param, descend_into=False)
                    if c.mutable]
        else:
            zero = []
        for prm in zero:
            for k in prm:
                params.append((prm, k, prm[k].value))
                prm[k] = 0.0
        participant.deactivate()
        left = [t for t in mk.T if abs(pyo.value(participant.p_inj[t])) > 1e-9]
        if left:
            raise ModelError(f"cannot withdraw '{participant.name}': its injection is not zero with "
                             f"its variables at 0 in period(s) {left}; list the parameters to zero in "
                             f"withdrawal_params()")
        solver.solve(model)
        rest = system_cost(model) - pyo.value(participant.bid_cost)
        return {q.name: pyo.value(q.bid_cost) for q in others}, rest
    finally:
        participant.activate()
        for prm, k, val in params:
            prm[k] = val
        for v in fixed:
            v.unfix()


def clarke_payments(model, solver=None, progress=False):
    """VCG (Clarke pivot) payments of every participant of a *solved* market.

    Returns a DataFrame indexed ``participant`` with ``bid_cost``, ``others_cost`` (the
    objective minus its as-bid cost: the others' costs plus trade charges and policy costs, see
    the module doc), ``others_cost_without`` (the same without it) and ``payment`` (what it
    pays; negative: it receives). The model's solution and duals are restored afterwards.
    """
    solver = solver if isinstance(solver, Solver) else Solver(solver or "highs")
    parts = _participants(model)
    cost = {p.name: pyo.value(p.bid_cost) for p in parts}
    total = system_cost(model)
    snap = snapshot(model)
    rows = []
    try:
        for p in tqdm(parts, desc="VCG re-solves", disable=not progress):
            _, w = withdraw_resolve(model, p, solver)
            others = total - cost[p.name]
            rows.append((p.name, cost[p.name], others, w, others - w))
    finally:
        restore(model, snap)
    return pd.DataFrame(rows, columns=["participant", "bid_cost", "others_cost",
                                       "others_cost_without", "payment"]).set_index("participant")


class MarketMechanism:
    """A pyomo_ecc market as a mechanism: reports set mutable parameters of the participants.

    ``model``: a market (built once; reused for every report). Reports and types are
    ``{participant_local_name: {param_name: value}}`` (a value per index for indexed
    parameters, as a dict or a scalar applied to every index). ``rule``: ``"pay_as_clear"``
    (payments :math:`-\\sum_t \\Delta t_t u \\lambda_{b,t} p^{inj}_t` at the LMPs) or
    ``"vcg"`` (:func:`clarke_payments`). :meth:`value` is the true valuation
    :math:`-\\mathrm{BC}_i` evaluated with the true parameters at the outcome's dispatch.
    """

    def __init__(self, model, rule="pay_as_clear", solver=None):
        if rule not in ("pay_as_clear", "vcg"):
            raise InputError(f"unknown payment rule {rule!r}; choose 'pay_as_clear' or 'vcg'")
        self.model = model
        self.rule = rule
        self.solver = solver if isinstance(solver, Solver) else Solver(solver or "highs")
        self._blocks = {p.local_name: p for p in _participants(model)}

    def _block(self, agent):
        if agent not in self._blocks:
            raise InputError(f"unknown participant {agent!r}; the market has {sorted(self._blocks)}")
        return self._blocks[agent]

    def _set(self, agent, params):
        """Set the parameters; return the previous values (to restore)."""
        blk = self._block(agent)
        old = []
        for name, val in params.items():
            prm = blk.component(name)
            if not isinstance(prm, pyo.Param) or not prm.mutable:
                raise InputError(f"participant '{agent}' has no mutable parameter {name!r}")
            for k in prm:
                v = val[k] if isinstance(val, dict) else val
                old.append((prm, k, prm[k].value))
                prm[k] = v
        return old

    def __call__(self, reports):
        from pyomo_ecc.pricing.prices import prices
        saved = []
        try:
            for a, params in reports.items():
                saved += self._set(a, params)
            self.solver.solve(self.model)
            alloc = {a: {t: pyo.value(b.p_inj[t]) for t in b.market().T}
                     for a, b in self._blocks.items()}
            if self.rule == "pay_as_clear":
                lam = prices(self.model)["lmp"]
                pays = {}
                for a, b in self._blocks.items():
                    mk = b.market()
                    pays[a] = -sum(mk.dt[t] * mk.power_unit_mw * float(lam[(b.bus, t)])
                                   * alloc[a][t] for t in mk.T)
            else:
                df = clarke_payments(self.model, self.solver)
                pays = {a: float(df.loc[b.name, "payment"]) for a, b in self._blocks.items()}
            state = ComponentMap((v, v.value) for b in self._blocks.values()
                                 for v in b.component_data_objects(pyo.Var, descend_into=True))
        finally:
            for prm, k, v in reversed(saved):
                prm[k] = v
        return Outcome(alloc, pays, {"values": state})

    def value(self, agent, true_type, outcome):
        """:math:`-\\mathrm{BC}_i` with the true parameters at the outcome's dispatch."""
        blk = self._block(agent)
        vars_ = list(blk.component_data_objects(pyo.Var, descend_into=True))
        keep = ComponentMap((v, v.value) for v in vars_)
        saved = self._set(agent, true_type)
        try:
            for v in vars_:
                v.set_value(outcome.state["values"][v], skip_validation=True)
            return -pyo.value(blk.bid_cost)
        finally:
            for prm, k, v in reversed(saved):
                prm[k] = v
            for v, x in keep.items():
                v.set_value(x, skip_validation=True)

    def welfare(self, types):
        """True optimal welfare: solve with the true parameters (restored afterwards)."""
        saved = []
        try:
            for a, params in types.items():
                saved += self._set(a, params)
            self.solver.solve(self.model)
            return -sum(pyo.value(b.bid_cost) for b in self._blocks.values())
        finally:
            for prm, k, v in reversed(saved):
                prm[k] = v
