r"""Results as pandas frames with named index levels.

* :func:`dispatch`: ``p_inj`` (power units) by (``participant``, ``t``), with the bus;
* :func:`welfare`: :math:`W = -\sum_i \mathrm{BC}_i` (currency);
* :func:`surplus`: each participant's surplus at the clearing prices,
  :math:`S_i = \sum_t \Delta t_t\,u\,\lambda_{b_i,t}\,p^{inj}_{i,t} - \mathrm{BC}_i`
  (revenue minus as-bid cost; a consumer's revenue is negative: its payment).
  :math:`W - \sum_i S_i` is the merchandising surplus (congestion rent) kept by the operator.
"""
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import ModelError
from pyomo_ecc.pricing.prices import prices


def _markets(model):
    mks = markets_in(model)
    if not mks:
        raise ModelError(f"'{model.name}' contains no Market block")
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
    """Social welfare :math:`-\\sum_i \\mathrm{BC}_i` (currency) of the solved model."""
    return -sum(pyo.value(p.bid_cost) for mk in _markets(model) for p in mk.participants())


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
    w = welfare(model)
    s = surplus(model)
    return {"welfare": w, "merchandising_surplus": float(w - s["surplus"].sum()),
            "prices": prices(model), "dispatch": dispatch(model), "surplus": s}
