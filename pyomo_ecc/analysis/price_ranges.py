"""One-sided prices of an LP market (the range of prices that clear it), from what-ifs.

Above :mod:`pyomo_ecc.pricing.prices` (which the what-if layer reads) and the what-if engine
(:mod:`pyomo_ecc.whatif`) that re-solves the shifted problems.
"""
import math

import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.contract import price_weight
from pyomo_ecc.core.market import markets_in
from pyomo_ecc.whatif import MoveRHS, WhatIf
from pyomo_ecc.pricing.prices import price_frame


def price_range(model, name="lmp", delta=1e-4, solver="highs"):
    r"""One-sided prices: how the total cost changes when the priced quantity goes up or down.

    An LP market (stepwise offers) can have a range of prices that all clear it; the dual is one
    end of the range. For every declared price ``name``, this re-solves the model with the
    constraint's right-hand side moved by :math:`\pm\delta` and reports

    .. math:: \pi^{-} = s\,\frac{C(b) - C(b - \delta)}{\delta\,w}, \qquad
              \pi^{+} = s\,\frac{C(b + \delta) - C(b)}{\delta\,w}

    as columns ``lower`` and ``upper`` (the smaller and the larger), next to the published
    price. Where they differ, any price between them clears the market; a side that makes the
    model infeasible is infinite, on its own side (:math:`C = +\infty` there: a load that cannot
    fall, below a must-run output, has ``lower = -inf``). The model's values and duals are untouched (the shifted
    problems are what-ifs, :mod:`pyomo_ecc.whatif`). Costs ``(1 + 2 n)`` solves for ``n``
    distinct constraints.

    >>> import pyomo_ecc as ecc
    >>> m = ecc.load_case("seed002_double_auction").build()
    >>> _ = ecc.solve(m)
    >>> r = ecc.price_range(m)
    >>> round(float(r["lower"].iloc[0]), 3), round(float(r["upper"].iloc[0]), 3)   # 8 and 9 $/kWh
    (8000.0, 9000.0)
    """
    published = price_frame(model, name)
    mks = markets_in(model)
    decls = [(mk, d) for mk in mks for d in mk.price_declarations() if d.price == name]
    engine = WhatIf(model, solver=solver)   # what-ifs on one compiled model; the model is untouched
    base = engine.base.objective
    # an infeasible side costs +inf (minimised objective) or is worth -inf (maximised one): the
    # one-sided price there is -inf below, +inf above (in the objective's own sense)
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    worst = math.inf if objs[0].sense == pyo.minimize else -math.inf
    one_sided = {}
    for mk, d in decls:
        key = id(d.constraint)
        if key in one_sided:
            continue
        up = engine.run([MoveRHS(d.constraint, delta)])
        down = engine.run([MoveRHS(d.constraint, -delta)])
        c_up = up.objective if up.ok else worst
        c_down = down.objective if down.ok else worst
        one_sided[key] = ((base - c_down) / delta, (c_up - base) / delta)
    rows = []
    for mk, d in decls:
        w = price_weight(mk, d.kind, d.t)
        a, b = (d.sign * v / w for v in one_sided[id(d.constraint)])
        rows.append(d.index + (min(a, b), max(a, b)))
    levels = list(published.index.names)
    out = pd.DataFrame(rows, columns=levels + ["lower", "upper"]).set_index(levels)
    return published.join(out)
