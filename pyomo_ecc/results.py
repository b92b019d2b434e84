r"""Results as pandas frames with named index levels.

* :func:`dispatch`: ``p_inj`` (power units) by (``participant``, ``t``), with the bus;
* :func:`welfare`: :math:`W = -` the market objective: :math:`-\sum_i \mathrm{BC}_i` minus
  policy and other objective terms (carbon costs, network charges), in currency;
* :func:`surplus`: each participant's surplus at the clearing prices,
  :math:`S_i = \sum_t \Delta t_t\,u\,\lambda_{b_i,t}\,p^{inj}_{i,t} - \mathrm{BC}_i`
  (revenue minus as-bid cost; a consumer's revenue is negative: its payment).
* :func:`merchandising_surplus`: what the operator collects,
  :math:`\sum_{b,t} \Delta t_t\,u\,\lambda_{b,t}\,w_{b,t}` over all withdrawals :math:`w`
  (participants' and the loads the network holds itself); the congestion (and loss) rent.
"""
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.market import require_markets
from pyomo_ecc.pricing.prices import prices, require_solved


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


def merchandising_surplus(model):
    """What the operator collects at the nodal prices (currency): minus every participant's
    revenue plus the payments of the loads the network holds (bus loads, shunts)."""
    lmp = prices(model)["lmp"]
    total = 0.0
    for mk in _markets(model):
        u = mk.power_unit_mw
        for p in mk.participants():
            total -= sum(mk.dt[t] * u * lmp[(p.bus, t)] * pyo.value(p.p_inj[t]) for t in mk.T)
        net = mk.get_network()
        for t in mk.T:
            for bus, w in (net.held_withdrawals(t) if net is not None else {}).items():
                total += mk.dt[t] * u * lmp[(bus, t)] * w
    return float(total)


def surplus(model):
    """Each participant's surplus at the clearing prices: DataFrame indexed ``participant`` with
    columns ``bus``, ``revenue``, ``bid_cost``, ``surplus`` (currency)."""
    lmp = prices(model)["lmp"]
    rows = []
    for mk in _markets(model):
        u = mk.power_unit_mw
        for p in mk.participants():
            rev = sum(mk.dt[t] * u * lmp[(p.bus, t)] * pyo.value(p.p_inj[t]) for t in mk.T)
            cost = pyo.value(p.bid_cost)
            rows.append((p.local_name if mk is model else p.name, p.bus, rev, cost, rev - cost))
    return pd.DataFrame(rows, columns=["participant", "bus", "revenue", "bid_cost", "surplus"]
                        ).set_index("participant")


def summary(model):
    """A dict with welfare, merchandising surplus, prices, dispatch and surplus frames."""
    return {"welfare": welfare(model), "merchandising_surplus": merchandising_surplus(model),
            "prices": prices(model), "dispatch": dispatch(model), "surplus": surplus(model)}
