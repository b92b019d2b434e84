r"""Which units are pivotal in which hours, on the same market model.

The must-run output of a group :math:`G` of units in hour :math:`t` is the least output the
group must produce for the market to be feasible when every other unit may run up to its
capacity:

.. math:: r_{G,t} = \min \sum_{i \in G} p_{i,t} \quad\text{s.t. the SCED constraints (forecast loads).}

It is found by clearing the one market model with the group's capacity offered at 1 yuan/MWh
and every other unit's at 0 (the SCED then minimises the group's output). A group with
:math:`r_{G,t} > 0` is **pivotal** in hour :math:`t`: no offer of the other units can replace
its first :math:`r_{G,t}` MW, so if the group offers more than its capacity minus
:math:`r_{G,t}` at the price cap, the cap is the marginal price at its bus in that hour.

On the seed 001 system with the Table 1 forecast, the units of bus 3 (G3 and G4) together are
pivotal in hours 7-10 and 17-20 (209.7, 336.4, 675.2, 413.3 and 300.1, 563.4, 231.8, 100.5 MW):
bus 3's load then exceeds what the network can bring in (878, 894, 900, 900 and 900, 900, 856,
762 MW: line 1-3 is at its 400 MW rating in all eight hours, line 2-3 at 500 MW in hours 9, 10,
17, 18; the DC flow split sends part of every transfer from bus 2 over lines 2-1-3), even when
every unit outside bus 3 serves it. These are the hours in which the seed reports cap prices. G3 alone is pivotal in
hours 9, 10 and 18 (G4's 390 MW is not enough), the units of bus 1 (G2, G6) in hours 9-18, the
units of bus 2 (G1, G5) in hours 1, 23 and 24.
:func:`pivotal_table` reports :math:`r` for each unit alone and for the units of each bus
together.
"""
import pandas as pd

from pyomo_ecc.simulation.market import Offer, clear_round


def must_run(market, group, loads=None):
    """:math:`r_{G,t}` (MW) by hour for the units in ``group`` (see module doc)."""
    group = [group] if isinstance(group, str) else list(group)
    offers = {n: Offer.flat(1.0 if n in group else 0.0, u.capacity) for n, u in market.units.items()}
    c = clear_round(market, offers, market.forecast if loads is None else loads)
    out = c.output.unstack("t").loc[group].sum()
    return out.where(out > 1e-6, 0.0).rename("must_run")


def pivotal_table(market, loads=None):
    """Must-run output (MW) by hour (rows) of each unit alone and of the units of each bus
    together (columns ``bus 1: G..`` ...)."""
    cols = {n: must_run(market, n, loads) for n in market.units}
    by_bus = {}
    for n, u in market.units.items():
        by_bus.setdefault(u.bus, []).append(n)
    for b, names in by_bus.items():
        cols[f"bus {b}: {'+'.join(names)}"] = must_run(market, names, loads)
    df = pd.DataFrame(cols)
    df.index.name = "t"
    return df
