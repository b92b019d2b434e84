r"""The CGE hand-off (seed 001 sec. 3.4): a co-simulated day's average electricity price and
carbon price go into the seed 001 CGE model (:mod:`pyomo_ecc.models.cge_seed001`), which
reports GDP, electricity use and the emissions of the eight ETS sectors in the layout of seed
Table 5 (baseline column, then the co-simulation scenario).

Inputs from the co-simulation of day :math:`d`:

* the load-weighted average LMP :math:`\bar\lambda_d = \sum_{b,t}\lambda_{b,t}L_{b,t} /
  \sum_{b,t} L_{b,t}` (yuan/MWh);
* the carbon price :math:`p^{carbon}_d`: the closing price of day :math:`d`'s allowance book
  (yuan/t).

The market model prices wholesale energy on a three-bus system, the CGE's electricity price is
the economy-wide producer price (942.29 yuan/MWh in the base year), so by default
(``pass_through="change"``) the CGE gets
:math:`P = P_{base} + (\bar\lambda_d - \bar\lambda_{ref})`, with :math:`\bar\lambda_{ref}` the
average LMP of the same market with truthful offers and no carbon price (the reference the
CGE base year stands for, computed on the forecast loads); ``"level"`` passes
:math:`\bar\lambda_d` itself. The carbon scenario puts the sector caps at ``cap_share``
(default the case's 92 %) of base emissions, as in the seed's Table 5 scenarios.
"""
import pandas as pd

from pyomo_ecc.errors import InputError


def reference_price(case="seed001_3bus"):
    """Average LMP (yuan/MWh, load-weighted, forecast loads) with truthful offers at carbon
    price 0."""
    from pyomo_ecc.simulation.market import Offer, build_market, clear_round
    mk = build_market(case)
    c = clear_round(mk, {n: Offer.flat(u.variable_cost, u.capacity) for n, u in mk.units.items()},
                    mk.forecast)
    load = mk.forecast.stack().reorder_levels([1, 0])
    load.index.names = ["bus", "t"]
    lmp = c.lmp.reindex(load.index)
    return float((lmp * load).sum() / load.sum())


def cge_handoff(log, day=None, case="seed001_cge", solver="ipopt", pass_through="change",
                cap_share=None, market_case="seed001_3bus"):
    """Run the CGE with the co-simulation's prices of ``day`` (default the last round). Returns
    a DataFrame indexed ``variable`` with columns ``baseline`` and the scenario; ``attrs``
    hold the prices passed."""
    from pyomo_ecc import cge
    from pyomo_ecc.io.cases import load_case
    from pyomo_ecc.models.cge_seed001 import (build_cge_seed001, indicators, set_electricity_price,
                                              set_scenario)
    if pass_through not in ("change", "level"):
        raise InputError(f"pass_through must be 'change' or 'level', got {pass_through!r}")
    rounds = list(log.carbon.index)
    day = rounds[-1] if day is None else day
    if day not in rounds:
        raise InputError(f"the log has no round {day!r} (rounds {rounds[0]}..{rounds[-1]})")
    avg = log.average_price(day)
    carbon = float(log.carbon.at[day, "closing_price"])
    m = build_cge_seed001(load_case(case))
    e = m._seed001
    cge.solve(m, solver=solver)
    cols = {"baseline": indicators(m)}
    if pass_through == "change":
        ref = reference_price(market_case)
        price = float(e["electricity_base_price"]) + avg - ref
    else:
        ref = None
        price = avg
    if price <= 0:
        raise InputError(f"electricity price for the CGE would be {price:g} yuan/MWh (not positive)")
    set_scenario(m, carbon, e["cap_share"] if cap_share is None else cap_share)
    set_electricity_price(m, price)
    cge.solve(m, solver=solver)
    label = f"co-simulation round {day}: electricity {price:.2f} yuan/MWh, carbon {carbon:.2f} yuan/t"
    cols[label] = indicators(m)
    df = pd.DataFrame(cols)
    df.columns.name = "scenario"
    df.attrs.update({"average_lmp": avg, "reference_lmp": ref, "electricity_price": price,
                     "carbon_price": carbon, "day": day})
    return df
