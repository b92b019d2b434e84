r"""VCG (Clarke pivot) payments of a market, by withdrawing each participant on the same model.

With :math:`\mathrm{BC}_j` the as-bid costs, :math:`x^\star` the dispatch, :math:`x^{-i}` the
dispatch without :math:`i` and :math:`\mathrm{OC}` the rest of the minimised objective (costs
that belong to no participant: P2P trade charges, a community's grid cost, policy costs):

.. math:: \pi_i = \Big[\sum_{j \ne i} \mathrm{BC}_j + \mathrm{OC}\Big](x^\star)
          - \Big[\sum_{j \ne i} \mathrm{BC}_j + \mathrm{OC}\Big](x^{-i})

(leaving :math:`\mathrm{OC}` out would reward a participant for reports that lower the others'
bid costs at the expense of those charges, and truth-telling would no longer be dominant).
:math:`\pi_i > 0`: participant :math:`i` pays; :math:`\pi_i < 0`: it is paid.

=====================================  =========================  ==============================
symbol                                 column                     meaning
=====================================  =========================  ==============================
:math:`\mathrm{BC}_i(x^\star)`         ``bid_cost``               its as-bid cost at the optimum
:math:`[\ldots](x^\star)`              ``others_cost``            the objective minus its cost
:math:`[\ldots](x^{-i})`               ``others_cost_without``    the same without it
:math:`\pi_i`                          ``payment``                what it pays (NaN: undefined)
=====================================  =========================  ==============================

Each withdrawal is a what-if (:mod:`pyomo_ecc.whatif`: the participant's own withdrawal
rule, solved on one compiled model, then undone). A withdrawal that leaves the market infeasible
(a unit nobody else can replace) has no payment: its row has ``status = "undefined"`` and the
``reason`` names the conflicting constraints; a solver failure is ``"failed"`` with the solver's
own words. The model is left as it was.

>>> import pyomo_ecc as ecc
>>> m = ecc.Market()
>>> m.g1 = ecc.Producer(bus="A", b=10.0, p_max=60)
>>> m.g2 = ecc.Producer(bus="A", b=30.0, p_max=100)
>>> m.d = ecc.FixedLoad(bus="A", p=80)
>>> df = vcg_payments(m)      # g1 is paid its externality, the load pays its own
>>> df[["bid_cost", "payment", "status"]]  # doctest: +NORMALIZE_WHITESPACE
             bid_cost  payment     status
participant
g1              600.0  -1800.0    defined
g2              600.0      NaN  undefined
d                 0.0   1200.0    defined
>>> df.loc["g2", "reason"]
"withdrawing 'g2' leaves the market infeasible: g1.ineq_max[0] by 20"
"""
import numpy as np
import pandas as pd

from pyomo_ecc.core.market import require_markets
from pyomo_ecc.whatif import WhatIf, withdraw
from pyomo_ecc.errors import ModelError


def market_participants(model):
    """Every active participant of every market in ``model``."""
    mks = require_markets(model)
    return [p for mk in mks for p in mk.participants()]


def vcg_payments(model, solver="highs", engine=None, backend="serial", workers=None, address=None,
                 progress=False, diagnose=True, base_changes=()):
    """VCG payments of every participant of ``model`` (module doc): a DataFrame indexed
    ``participant`` with ``bid_cost``, ``others_cost``, ``others_cost_without``, ``payment``,
    ``status`` (``defined`` / ``undefined`` / ``failed``) and ``reason``.

    ``model`` need not be solved; pass an existing :class:`~pyomo_ecc.whatif.WhatIf` as
    ``engine`` to reuse its compiled model (and a recipe for the ``"processes"`` or ``"dask"``
    ``backend``). ``df.attrs["budget_surplus"]`` is the sum of the defined payments (negative: a
    deficit the operator funds). ``base_changes``: what-if changes under which the payments are
    computed (e.g. reported offers), applied to every solve.
    """
    eng = engine if engine is not None else WhatIf(model, solver=solver)
    model = eng.model
    parts = market_participants(model)
    costs = {p.name: p.bid_cost for p in parts}
    base_changes = list(base_changes)
    base = eng.run(base_changes, values=costs, name="base")
    if not base.ok:
        raise ModelError(f"the market '{model.name}' has no solution ({base.status}: {base.reason}): "
                         f"no VCG payments")
    total = base.objective
    outs = eng.run_many({p.name: base_changes + [withdraw(p)] for p in parts}, values=costs, backend=backend,
                        workers=workers, address=address, progress=progress, diagnose=diagnose)
    rows = []
    for p, out in zip(parts, outs):
        own = base.values[p.name]
        others = total - own
        if out.ok:
            without = out.objective - out.values[p.name]
            rows.append((p.name, own, others, without, others - without, "defined", ""))
            continue
        status = "undefined" if out.status == "infeasible" else "failed"
        why = (f"withdrawing '{p.name}' leaves the market {out.reason}" if status == "undefined"
               else f"the solve without '{p.name}' failed: {out.reason}")
        rows.append((p.name, own, others, np.nan, np.nan, status, why))
    df = pd.DataFrame(rows, columns=["participant", "bid_cost", "others_cost", "others_cost_without",
                                     "payment", "status", "reason"]).set_index("participant")
    df.attrs["budget_surplus"] = float(df["payment"].sum(skipna=True))
    return df


#: the name the mechanism-property checks have used
clarke_payments = vcg_payments
