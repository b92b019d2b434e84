"""Pictures (needs the ``plot`` extra: matplotlib).

:func:`merit_order` draws, for one period of a copper-plate market, the aggregate supply curve
(producers' offers) and demand curve (consumers' bids plus fixed loads) as *offered*, and the
clearing point read from the solved model (the LMP and the traded quantity).
"""
import numpy as np
import pyomo.environ as pyo

from pyomo_ecc.participants.curves import quantity_at_price
from pyomo_ecc.pricing.prices import prices


def aggregate_curves(model, t, price_grid):
    """Aggregate supply and demand (power units) at each price of ``price_grid``
    (currency/MWh), as two numpy arrays."""
    u = model.power_unit_mw
    supply = np.zeros(len(price_grid))
    demand = np.zeros(len(price_grid))
    for p in model.participants():
        if p.fixed_injection:
            demand -= pyo.value(p.p_inj[t])
            continue
        if not hasattr(p, "qty"):
            continue
        q = np.array([quantity_at_price(p, lam * u, t) for lam in price_grid])
        if p.direction > 0:
            supply += q
        else:
            demand += q
    return supply, demand


def merit_order(model, t=None, ax=None, n=400):
    """Plot supply and demand of period ``t`` (default: the first) and the clearing point.

    Only participants with an offer or bid curve (producers, consumers) and fixed loads are
    drawn; others (storage, prosumers) are listed in the title as not shown.
    """
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(7, 4.5))
    t = model.T.first() if t is None else t
    lmp = prices(model)["lmp"].xs(t, level="t")
    lam = float(lmp.iloc[0])
    grid = np.linspace(0.0, max(2.0 * abs(lam), 1e-9), n)
    supply, demand = aggregate_curves(model, t, grid)
    traded = sum(max(pyo.value(p.p_inj[t]), 0.0) for p in model.participants())
    unit = model.config.power_unit
    ax.step(supply, grid, where="post", label="supply (offers)")
    ax.step(demand, grid, where="post", label="demand (bids + fixed loads)")
    ax.plot([traded], [lam], "ko", label=f"clearing: {traded:.4g} {unit} at {lam:.4g}")
    ax.set_xlabel(f"quantity [{unit}]")
    ax.set_ylabel(f"price [{model.config.currency}/MWh]")
    hidden = [p.local_name for p in model.participants()
              if not p.fixed_injection and not hasattr(p, "qty")]
    ax.set_title(f"{model.name}: period {t}" + (f" (not shown: {', '.join(hidden)})" if hidden else ""))
    ax.legend(loc="best")
    return ax
