r"""Transactive equilibrium check: broadcast the prices, let every participant respond alone.

After the central market is solved, the prices :math:`\lambda_{b,t}` (LMPs) are broadcast and
each participant :math:`i` solves its own problem, with only its own variables and constraints:

.. math::

    \min_{x_i \in \mathcal{X}_i}\ \mathrm{BC}_i(x_i)
    - \sum_t \Delta t_t\,u\,\lambda_{b_i,t}\,p^{inj}_{i,t}(x_i)

(as-bid cost minus revenue at the broadcast prices). By the KKT conditions of the central
problem the central dispatch is one of the optimal responses, so the check reports

* ``max_deviation``: :math:`\max_{i,t} |p^{inj,resp}_{i,t} - p^{inj,central}_{i,t}|`, zero
  when every participant's response is unique (strictly convex costs) and therefore the central
  one;
* ``max_profit_gap``: :math:`\max_i (\text{best-response profit} - \text{central profit})`,
  which is zero (to solver tolerance) even when responses are not unique.

The responses are computed on the same model: every other block, the network and the market
objective are deactivated, a temporary objective is added, the same persistent
:class:`~pyomo_ecc.solvers.Solver` re-solves, and everything (values, duals, active flags) is
restored afterwards.
"""
from dataclasses import dataclass

import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import ModelError
from pyomo_ecc.mechanisms.properties import restore, snapshot
from pyomo_ecc.pricing.prices import prices as lmp_frame
from pyomo_ecc.solvers import Solver

try:  # progress bars are optional
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover
    def tqdm(it, **kw):
        return it


@dataclass
class TransactiveCheck:
    """Result of :func:`transactive_check`; ``table`` is indexed (``participant``, ``t``) with
    columns ``central``, ``response``, ``deviation``; ``profits`` indexed ``participant`` with
    ``central_profit``, ``response_profit``, ``gap``."""

    max_deviation: float
    max_profit_gap: float
    table: pd.DataFrame
    profits: pd.DataFrame

    def passed(self, tol=1e-5):
        return self.max_deviation <= tol and self.max_profit_gap <= tol


def transactive_check(model, solver=None, price_name="lmp", prices=None, progress=False):
    """Check that price-taking responses reproduce the solved central dispatch (module doc).

    ``model`` must have been solved (with :func:`pyomo_ecc.solve`); ``solver`` is a
    :class:`~pyomo_ecc.solvers.Solver` or a solver name (default HiGHS). ``prices`` (a Series
    indexed (``bus``, ``t``) in currency/MWh) broadcasts other prices than the model's own
    ``price_name`` duals, e.g. to see how far the responses move from the dispatch.
    """
    solver = solver if isinstance(solver, Solver) else Solver(solver or "highs")
    markets = markets_in(model)
    if not markets:
        raise ModelError(f"'{model.name}' contains no Market block")
    if prices is not None:
        lam = prices
    elif price_name == "lmp":
        lam = lmp_frame(model)[price_name]
    else:
        from pyomo_ecc.pricing.prices import price_frame
        lam = price_frame(model, price_name)[price_name]
    snap = snapshot(model)
    central = [((mk, p), {t: pyo.value(p.p_inj[t]) for t in mk.T})
               for mk in markets for p in mk.participants()]
    # deactivate everything that is active, remember it, then enable one participant at a time
    actives = [c for c in model.component_objects((pyo.Constraint, pyo.Objective, pyo.Block),
                                                  active=True, descend_into=False)]
    rows, prow = [], []
    try:
        for c in actives:
            c.deactivate()
        items = list(central)
        for (mk, p), cen in tqdm(items, desc="transactive check", disable=not progress):
            if p.fixed_injection:  # nothing to decide
                rows += [(p.name, t, cen[t], cen[t], 0.0) for t in mk.T]
                continue
            u = mk.power_unit_mw
            revenue = lambda: sum(mk.dt[t] * u * float(lam[(p.bus, t)]) * p.p_inj[t] for t in mk.T)
            central_profit = pyo.value(revenue()) - pyo.value(p.bid_cost)
            # activate the block path from the model down to the participant
            path = []
            b = p
            while b is not None and b is not model:
                path.append(b)
                b = b.parent_block()
            flags = [(b, b.active) for b in path]
            for b in path:
                b.activate()
            # keep only this participant's own components active on the way down
            hidden = []
            for b in path[1:]:
                for sub in b.component_objects((pyo.Constraint, pyo.Objective, pyo.Block),
                                               active=True, descend_into=False):
                    if not any(sub is x for x in path):
                        sub.deactivate()
                        hidden.append(sub)
            own_objs = list(p.component_data_objects(pyo.Objective, active=True, descend_into=True))
            for o in own_objs:
                o.deactivate()
            name = "_ecc_transactive_obj"
            model.add_component(name, pyo.Objective(expr=p.bid_cost - revenue(), sense=pyo.minimize))
            try:
                solver.solve(model, diagnose=False)
                resp_profit = -pyo.value(model.component(name))
                for t in mk.T:
                    r = pyo.value(p.p_inj[t])
                    rows.append((p.name, t, cen[t], r, abs(r - cen[t])))
                prow.append((p.name, central_profit, resp_profit, resp_profit - central_profit))
            finally:
                model.del_component(name)
                for o in own_objs:
                    o.activate()
                for sub in hidden:
                    sub.activate()
                for b, was_active in flags:
                    b.activate() if was_active else b.deactivate()
    finally:
        for c in actives:
            c.activate()
        restore(model, snap)
    table = pd.DataFrame(rows, columns=["participant", "t", "central", "response", "deviation"]
                         ).set_index(["participant", "t"])
    profits = pd.DataFrame(prow, columns=["participant", "central_profit", "response_profit", "gap"]
                           ).set_index("participant")
    return TransactiveCheck(float(table["deviation"].max()), float(profits["gap"].max()),
                            table, profits)
