r"""Results as pandas frames with named index levels.

* :func:`dispatch`: ``p_inj`` (power units) by (``participant``, ``t``), with the bus;
* :func:`welfare`: :math:`W = -` the market objective: :math:`-\sum_i \mathrm{BC}_i` minus
  policy and other objective terms (carbon costs, network charges), in currency;
* :func:`settlement`: who pays whom at the clearing prices, one row per party (participants,
  the loads the network holds, the operator, each policy, other objective terms); the rows'
  ``net`` add up to the welfare;
* :func:`surplus`: each participant's surplus at the clearing prices (its rows of the
  settlement),
  :math:`S_i = R_i - \mathrm{BC}_i - \Pi_i`, with market revenue
  :math:`R_i = \sum_t \Delta t_t\,u\,(\lambda_{b_i,t}\,p^{inj}_{i,t} + \lambda^q_{b_i,t}\,q^{inj}_{i,t})`
  (a consumer's revenue is negative: its payment; :math:`\lambda^q` where the network
  declares a reactive price ``qlmp``) and policy payments :math:`\Pi_i` (carbon allowances and
  costs, certificates bought; certificates sold count negative);
* :func:`merchandising_surplus`: what the operator collects,
  :math:`\sum_{b,t} \Delta t_t\,u\,(\lambda_{b,t}\,w_{b,t} + \lambda^q_{b,t}\,w^q_{b,t})`
  over all withdrawals :math:`w` (participants' and the loads the network holds itself); the
  congestion (and loss, and voltage) rent.

**Settlement identity.** With :math:`L` the loads the network holds, :math:`MS` the
merchandising surplus, :math:`\Pi_k` the payments a policy :math:`k` receives and
:math:`O_k` the objective terms of each block other than the participants' bid costs
(exogenous carbon or certificate payments, network charges, constant offsets):

.. math::

    \sum_i S_i \;-\; \sum_{b,t} \Delta t_t\,u\,\lambda_{b,t} L_{b,t}
    \;+\; \Big(MS - O_{net}\Big) \;+\; \sum_k \Big(\sum_i \Pi_{i,k} - O_k\Big)
    \;-\; O_{other} \;=\; W = -\text{objective}

Every price-weighted transfer appears once as a payment and once as a receipt, so the identity
is bookkeeping; what is *not* bookkeeping is the size of the operator's and the policies'
rows: by strong duality the merchandising surplus equals the rent of the network's binding
limits, and a policy with an endogenous price collects its price times its binding right-hand
side (a carbon cap: the allowance auction revenue :math:`\pi^{CO_2}\,\Pi`; a binding
certificate quota: zero). Payments at an exogenous price (``CarbonCost``,
``CertificatePrice``) leave the market: the objective counts them as costs, so that policy's
row is zero.

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.policy import CarbonCap
    >>> m = ecc.Market()
    >>> m.coal = ecc.Producer(bus="A", b=20, p_max=100, emission_intensity=0.9)
    >>> m.gas = ecc.Producer(bus="A", b=40, p_max=100, emission_intensity=0.4)
    >>> m.load = ecc.FixedLoad(bus="A", p=100)
    >>> m.cap = CarbonCap(cap=65)
    >>> _ = ecc.solve(m)
    >>> s = ecc.settlement(m)
    >>> round(float(s.loc["cap", "carbon"]), 6)     # 40 $/t x 65 t: the allowances' auction
    2600.0
    >>> round(float(s.net.sum()), 6) == round(ecc.welfare(m), 6)
    True
"""
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.market import require_markets
from pyomo_ecc.errors import ModelError
from pyomo_ecc.pricing.prices import _dual_suffix, price_frames, price_weight, prices, require_solved

#: the money columns of :func:`settlement` (currency; received is positive)
SETTLEMENT_COLUMNS = ["energy", "reactive", "carbon", "certificates", "cost", "net"]


def _markets(model):
    mks = require_markets(model)
    require_solved(model)   # "solve first", not the variables' starting values
    return mks


def dispatch(model):
    """Net injections: DataFrame indexed (``participant``, ``t``), columns ``bus``, ``p_inj``."""
    rows = []
    for mk in _markets(model):
        for p in mk.participants():
            for t in mk.T:
                rows.append((p.local_name if mk is model else p.name, t, p.bus, pyo.value(p.p_inj[t]) + 0.0))
    return pd.DataFrame(rows, columns=["participant", "t", "bus", "p_inj"]).set_index(["participant", "t"])


def welfare(model):
    """Social welfare of the solved model (currency): minus the markets' objectives, i.e. the
    as-bid surplus :math:`-\\sum_i \\mathrm{BC}_i` less policy and network-charge terms."""
    return -sum(float(pyo.value(mk.obj)) for mk in _markets(model))


def _nodal_prices(mk):
    """``({(bus, t): lmp}, {(bus, t): qlmp} or None)`` of one solved market."""
    names = {d.price for d in mk.price_declarations()}
    frames = price_frames(mk, ["lmp"] + (["qlmp"] if "qlmp" in names else []))
    lmp = frames["lmp"]["lmp"].to_dict()
    q = frames.get("qlmp")
    return lmp, (q["qlmp"].to_dict() if q is not None else None)


def _objective_terms(mk):
    """The market objective split by owner: ``[(block or None, label, value)]``, one entry per
    registered block (its ``objective_cost()``, the block contract's objective term), one per
    term the user added with ``market.add_cost`` and, if a hook changed the objective, one
    ``(None, "other objective terms", value)`` entry for the rest."""
    out, total = [], 0.0
    for blk in mk.objective_owners():
        val = float(pyo.value(blk.objective_cost()))
        out.append((blk, blk.name, val))
        total += val
    for k, expr in enumerate(mk._reg.costs):   # the user's own terms (market.add_cost)
        val = float(pyo.value(expr))
        named = getattr(expr, "is_named_expression_type", lambda: False)()
        out.append((None, expr.name if named else f"user cost {k}", val))
        total += val
    rest = float(pyo.value(mk.obj)) - total
    if abs(rest) > 1e-12 * max(1.0, abs(total)):
        out.append((None, "other objective terms", rest))
    return out


def settlement(model):
    r"""Who pays whom at the clearing prices (currency; see the module doc).

    DataFrame indexed ``party`` with columns ``role`` (``participant``, ``network loads``,
    ``operator``, ``policy``, ``other``), ``bus``, and the money each party *receives*:
    ``energy`` (at the LMPs), ``reactive`` (at ``qlmp``, where declared), ``carbon`` and
    ``certificates`` (policy payments; negative for a payer), ``cost`` (bid cost for a
    participant, its objective terms for any other block) and ``net`` = the sum of the money
    columns minus ``cost``. ``net`` adds up to :func:`welfare`; ``df.attrs["welfare"]`` holds it.
    """
    rows = []
    welfare_total = 0.0
    for mk in _markets(model):
        label = (lambda b: b.local_name) if mk is model else (lambda b: b.name)
        u = mk.power_unit_mw
        lmp, qlmp = _nodal_prices(mk)
        suffix = _dual_suffix(mk)
        terms = _objective_terms(mk)
        cost_of = {}
        other = []
        for owner, name, val in terms:
            if owner is None:
                other.append((name, val))
            else:
                cost_of[id(owner)] = cost_of.get(id(owner), 0.0) + val
        money = {}
        for p in mk.participants():
            e = sum(mk.dt[t] * u * lmp[(p.bus, t)] * pyo.value(p.p_inj[t]) for t in mk.T)
            r = (sum(mk.dt[t] * u * qlmp[(p.bus, t)] * pyo.value(p.q_inj[t]) for t in mk.T)
                 if qlmp is not None else 0.0)
            money[id(p)] = {"energy": e, "reactive": r, "carbon": 0.0, "certificates": 0.0}
        policy_rows = []
        for pol in mk._reg.policies:
            if not pol.active:
                continue
            decls = {d.price: d for d in pol.price_declarations()}

            def price(name, decls=decls, pol=pol):
                if name not in decls:
                    raise ModelError(f"{pol.block_kind()} '{pol.name}' declares no price '{name}'")
                d = decls[name]
                return d.sign * suffix[d.constraint] / price_weight(mk, d.kind, d.t)

            col = pol.settlement_column
            received = 0.0
            for p, amount in pol.payments(price):
                if col is None:
                    raise ModelError(f"{pol.block_kind()} '{pol.name}' reports payments without a "
                                     f"settlement_column ('carbon' or 'certificates')")
                money[id(p)][col] -= amount
                received += amount
            row = {"energy": 0.0, "reactive": 0.0, "carbon": 0.0, "certificates": 0.0}
            if col is not None:
                row[col] = received
            policy_rows.append((label(pol), "policy", None, row, cost_of.pop(id(pol), 0.0)))
        for p in mk.participants():
            rows.append((label(p), "participant", p.bus, money[id(p)], cost_of.pop(id(p), 0.0)))
        net = mk.get_network()
        held_e = held_q = 0.0
        for t in mk.T:
            w = mk.dt[t] * u
            held_e += sum(w * lmp[(b, t)] * v for b, v in net.held_withdrawals(t).items())
            if qlmp is not None:
                held_q += sum(w * qlmp[(b, t)] * v for b, v in net.held_reactive_withdrawals(t).items())
        paid = {k: 0.0 for k in ("energy", "reactive")}
        for p in mk.participants():
            paid["energy"] += money[id(p)]["energy"]
            paid["reactive"] += money[id(p)]["reactive"]
        if held_e or held_q:
            rows.append((f"{label(net)} loads", "network loads", None,
                         {"energy": -held_e, "reactive": -held_q, "carbon": 0.0,
                          "certificates": 0.0}, 0.0))
        rows.append((label(net), "operator", None,
                     {"energy": held_e - paid["energy"], "reactive": held_q - paid["reactive"],
                      "carbon": 0.0, "certificates": 0.0}, cost_of.pop(id(net), 0.0)))
        rows.extend(policy_rows)
        for name, val in other:
            rows.append((name, "other", None, {"energy": 0.0, "reactive": 0.0, "carbon": 0.0,
                                               "certificates": 0.0}, val))
        if cost_of:   # a registered block that is neither participant, network nor policy
            for b in mk.objective_owners():
                if id(b) in cost_of:
                    rows.append((label(b), "other", None, {"energy": 0.0, "reactive": 0.0,
                                                           "carbon": 0.0, "certificates": 0.0},
                                 cost_of.pop(id(b))))
        welfare_total -= float(pyo.value(mk.obj))
    out = []
    for party, role, bus, m_, cost in rows:
        net_ = m_["energy"] + m_["reactive"] + m_["carbon"] + m_["certificates"] - cost
        out.append((party, role, bus, m_["energy"] + 0.0, m_["reactive"] + 0.0, m_["carbon"] + 0.0,
                    m_["certificates"] + 0.0, cost + 0.0, net_ + 0.0))
    df = pd.DataFrame(out, columns=["party", "role", "bus"] + SETTLEMENT_COLUMNS).set_index("party")
    df.attrs["welfare"] = welfare_total
    return df


def merchandising_surplus(model):
    """What the operator collects at the nodal prices (currency): minus every participant's
    revenue (active and, where a reactive price is declared, reactive) plus the payments of the
    loads the network holds (bus loads, shunts): the operator's ``energy + reactive`` in
    :func:`settlement`."""
    s = settlement(model)
    ops = s[s.role == "operator"]
    return float((ops["energy"] + ops["reactive"]).sum())


def surplus(model):
    """Each participant's surplus at the clearing prices: DataFrame indexed ``participant`` with
    columns ``bus``, ``revenue`` (energy, and reactive where priced), ``bid_cost``,
    ``policy_payment`` (carbon and certificates; negative: received) and ``surplus`` =
    revenue - bid_cost - policy_payment (currency)."""
    s = settlement(model)
    p = s[s.role == "participant"]
    out = pd.DataFrame({"bus": p["bus"], "revenue": p["energy"] + p["reactive"],
                        "bid_cost": p["cost"],
                        "policy_payment": -(p["carbon"] + p["certificates"]) + 0.0,
                        "surplus": p["net"]})
    out.index.name = "participant"
    return out


def summary(model):
    """A dict with welfare, merchandising surplus, prices, dispatch and surplus frames."""
    return {"welfare": welfare(model), "merchandising_surplus": merchandising_surplus(model),
            "prices": prices(model), "dispatch": dispatch(model), "surplus": surplus(model)}
