"""Pictures (needs the ``plot`` extra: matplotlib).

:func:`merit_order` draws, for one period of a copper-plate market, the aggregate supply curve
(producers' offers) and demand curve (consumers' bids plus fixed loads) as *offered*, and the
clearing point read from the solved model (the LMP and the traded quantity).

Distribution feeders: :func:`dlmp_components` (stacked DLMP components per bus),
:func:`voltage_profile`, :func:`price_heatmap` (bus by period) and :func:`feeder_map` (the
feeder drawn as a tree, buses coloured by price; :func:`tree_layout` gives the positions).
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


# -- distribution feeders ------------------------------------------------------------------------
def _axes(ax, size=(8, 4.5)):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=size)
    return ax


def _first_t(frame, t):
    ts = frame.index.get_level_values("t")
    return ts[0] if t is None else t


def dlmp_components(d, t=None, ax=None, currency="$"):
    """Stacked bars of the DLMP components (``energy``, ``loss``, ``congestion``, ``voltage``)
    of every bus in period ``t`` (default: the first) from a :func:`~pyomo_ecc.pricing.dlmp.dlmp`
    frame, with the nodal price as a dot on each bar; negative components stack below zero."""
    from pyomo_ecc.pricing.dlmp import COMPONENTS
    ax = _axes(ax, (max(8, 0.25 * len(d.index.get_level_values("bus").unique())), 4.5))
    t = _first_t(d, t)
    price = d.columns[0]
    f = d.xs(t, level="t")
    x = np.arange(len(f))
    pos, neg = np.zeros(len(f)), np.zeros(len(f))
    for comp in COMPONENTS:
        vals = f[comp].to_numpy()
        up, down = np.clip(vals, 0, None), np.clip(vals, None, 0)
        ax.bar(x, up, bottom=pos, label=comp)
        if (down < 0).any():
            ax.bar(x, down, bottom=neg, color=ax.patches[-1].get_facecolor())
        pos, neg = pos + up, neg + down
    ax.plot(x, f[price].to_numpy(), "k.", label=price)
    ax.set_xticks(x)
    ax.set_xticklabels([str(b) for b in f.index], rotation=90, fontsize=7)
    ax.set_xlabel("bus")
    ax.set_ylabel(f"{price} [{currency}/MWh]")
    ax.set_title(f"DLMP components, period {t}")
    ax.legend(loc="best", fontsize=8)
    return ax


def voltage_profile(net, t=None, ax=None):
    """Voltage magnitude (pu) of every bus of a solved radial network in period ``t``, buses in
    breadth-first order from the substation, with the voltage limits."""
    ax = _axes(ax)
    prof = net.voltages()
    t = _first_t(prof, t)
    order = net.feeder.order
    v = prof.v_pu.xs(t, level="t").loc[order]
    x = np.arange(len(order))
    ax.plot(x, v.to_numpy(), "o-", ms=3, label=f"{net.formulation}")
    for name, lim in (("v_min", getattr(net, "v_min", None)), ("v_max", getattr(net, "v_max", None))):
        if lim is not None and len(lim):
            vals = [pyo.value(lim[b]) if b in lim else np.nan for b in order]
            ax.plot(x, vals, "--", lw=1, label=name)
    step = max(1, len(order) // 40)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([str(b) for b in order][::step], rotation=90, fontsize=7)
    ax.set_xlabel("bus (breadth-first from the substation)")
    ax.set_ylabel("voltage [pu]")
    ax.set_title(f"voltage profile, period {t}")
    ax.legend(loc="best", fontsize=8)
    return ax


def price_heatmap(d, column=None, ax=None, currency="$"):
    """Heat map of a price (default: the frame's first column, the nodal price) by bus (rows)
    and period (columns) from a frame indexed (``bus``, ``t``)."""
    ax = _axes(ax, (9, 6))
    column = d.columns[0] if column is None else column
    grid = d[column].unstack("t")
    im = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label=f"{column} [{currency}/MWh]")
    ax.set_xticks(np.arange(grid.shape[1]))
    ax.set_xticklabels([str(t) for t in grid.columns], fontsize=7)
    step = max(1, grid.shape[0] // 40)
    ax.set_yticks(np.arange(grid.shape[0])[::step])
    ax.set_yticklabels([str(b) for b in grid.index][::step], fontsize=7)
    ax.set_xlabel("period")
    ax.set_ylabel("bus")
    ax.set_title(f"{column} by bus and period")
    return ax


def tree_layout(feeder):
    """Positions ``{bus: (x, y)}`` of a radial feeder drawn as a tree: x is the depth from the
    substation, y spreads the leaves evenly (each bus at the mean height of its children)."""
    depth = {feeder.root: 0}
    for j in feeder.order[1:]:
        depth[j] = depth[feeder.parent[j]] + 1
    y, leaf = {}, [0]

    def place(b):   # iterative post-order
        stack = [(b, False)]
        while stack:
            node, done = stack.pop()
            kids = feeder.children[node]
            if done or not kids:
                if kids:
                    y[node] = float(np.mean([y[k] for k in kids]))
                else:
                    y[node] = float(leaf[0])
                    leaf[0] += 1
                continue
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))

    place(feeder.root)
    return {b: (float(depth[b]), -y[b]) for b in feeder.buses}


def feeder_map(net, values, t=None, ax=None, label="lmp", currency="$"):
    """Draw a radial feeder as a tree with each bus coloured by ``values`` (a Series indexed
    (``bus``, ``t``), e.g. ``dlmp(m).lmp``) in period ``t``; binding-rated branches are drawn
    thick."""
    import matplotlib.pyplot as plt
    ax = _axes(ax, (10, 6))
    fd = net.feeder
    pos = tree_layout(fd)
    t = _first_t(values.to_frame(), t)
    vals = values.xs(t, level="t")
    for j in fd.branches:
        (x0, y0), (x1, y1) = pos[fd.parent[j]], pos[j]
        rated = j in set(getattr(net, "branch_limited", []))
        ax.plot([x0, x1], [y0, y1], color="0.3" if rated else "0.7", lw=2.5 if rated else 0.8,
                zorder=1)
    xs = [pos[b][0] for b in fd.buses]
    ys = [pos[b][1] for b in fd.buses]
    sc = ax.scatter(xs, ys, c=[vals.get(b, np.nan) for b in fd.buses], cmap="plasma",
                    s=max(6, 2000 // max(len(fd.buses), 1)), zorder=2)
    if len(fd.buses) <= 60:
        for b in fd.buses:
            ax.annotate(str(b), pos[b], fontsize=6, xytext=(2, 2), textcoords="offset points")
    plt.colorbar(sc, ax=ax, label=f"{label} [{currency}/MWh]")
    ax.set_xlabel("depth from the substation (branches)")
    ax.set_yticks([])
    ax.set_title(f"{net.formulation}: {label}, period {t} (thick: rated branches)")
    return ax
