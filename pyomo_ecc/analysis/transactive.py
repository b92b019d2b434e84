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

The responses are computed from the same model's standard form
(:mod:`pyomo_ecc.core.standard_form`): each participant's problem is its own rows and columns
with the objective above, solved by HiGHS; the model itself is not touched.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.market import require_markets
from pyomo_ecc.core.progress import tqdm
from pyomo_ecc.core.standard_form import NotStandardForm, StandardFormData, standard_form
from pyomo_ecc.errors import ModelError, SolverError
from pyomo_ecc.pricing.prices import prices as lmp_frame


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

    ``model`` must have been solved (with :func:`pyomo_ecc.solve`, by any solver); each response
    is a small LP / QP that HiGHS solves (``solver`` is accepted for compatibility). ``prices`` (a Series
    indexed (``bus``, ``t``) in currency/MWh) broadcasts other prices than the model's own
    ``price_name`` duals, e.g. to see how far the responses move from the dispatch.
    """
    from pyomo_ecc.solvers import HighsModel
    markets = require_markets(model)
    if prices is not None:
        lam = prices
    elif price_name == "lmp":
        lam = lmp_frame(model)[price_name]
    else:
        from pyomo_ecc.pricing.prices import price_frame
        lam = price_frame(model, price_name)[price_name]
    try:
        sf = standard_form(model, track=False)
    except NotStandardForm as e:
        raise ModelError(f"transactive_check needs a linear or quadratic model: {e}") from None
    parts = [(mk, p) for mk in markets for p in mk.participants()]
    owner_of = _row_owners(sf, [p for _, p in parts])
    rows, prow = [], []
    for mk, p in tqdm(parts, desc="transactive check", disable=not progress):
        central = {t: pyo.value(p.p_inj[t]) for t in mk.T}
        if p.fixed_injection:  # nothing to decide
            rows += [(p.name, t, central[t], central[t], 0.0) for t in mk.T]
            continue
        u = mk.power_unit_mw
        inj = {t: sf.expression(p.p_inj[t]) for t in mk.T}
        c0, c, Q = sf.expression(p.bid_cost)
        for t in mk.T:   # minus the revenue at the broadcast prices
            w = float(mk.dt[t]) * u * float(lam[(p.bus, t)])
            c0, c = c0 - w * inj[t][0], c - w * inj[t][1]
        own = np.flatnonzero(owner_of == id(p))
        A = sf.A[own]
        cols = np.union1d(np.unique(A.indices), np.flatnonzero((c != 0) | (np.diff(Q.indptr) > 0)))
        sub = StandardFormData(A=A[:, cols], row_lower=sf.row_lower[own], row_upper=sf.row_upper[own],
                               col_lower=sf.col_lower[cols], col_upper=sf.col_upper[cols], c=c[cols],
                               integer=sf.integer[cols], Q=Q[cols][:, cols], c0=c0)
        run = HighsModel(sub).run()
        if run.status != "optimal":
            raise SolverError(f"the best response of '{p.name}' at the broadcast prices ended "
                              f"'{run.status}'", termination=run.status)
        x = np.zeros(sf.n)
        x[cols] = run.x
        for t in mk.T:
            r = sf.evaluate(inj[t], x)
            rows.append((p.name, t, central[t], r, abs(r - central[t])))
        central_profit = (sum(float(mk.dt[t]) * u * float(lam[(p.bus, t)]) * central[t] for t in mk.T)
                          - pyo.value(p.bid_cost))
        prow.append((p.name, central_profit, -run.objective, -run.objective - central_profit))
    table = pd.DataFrame(rows, columns=["participant", "t", "central", "response", "deviation"]
                         ).set_index(["participant", "t"])
    profits = pd.DataFrame(prow, columns=["participant", "central_profit", "response_profit", "gap"]
                           ).set_index("participant")
    return TransactiveCheck(float(table["deviation"].max()), float(profits["gap"].max()),
                            table, profits)


def _row_owners(sf, participants):
    """For each row of ``sf``, id() of the participant block it belongs to (0: none)."""
    ids = {id(p) for p in participants}
    memo = {}

    def owner(blk):
        key = id(blk)
        if key not in memo:
            memo[key] = key if key in ids else (0 if blk.parent_block() is None else owner(blk.parent_block()))
        return memo[key]

    return np.array([owner(c.parent_block()) for c in sf.rows], dtype=np.int64)
