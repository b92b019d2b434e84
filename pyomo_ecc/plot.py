r"""Pictures (needs the ``plot`` extra: matplotlib).

Markets (every network formulation):

* :func:`merit_order`: supply and demand of one period as *offered*, with the clearing read
  from the solved model. On a copper plate (one price in the period) the clearing point
  :math:`(Q, \lambda)` lies on both curves. In a network market with several LMPs there is no
  single clearing price: the system view draws the LMP range as a band and the traded quantity
  as a line; ``bus=b`` draws the bus's own supply and demand, where the clearing points at the
  bus's LMP lie on the curves and their gap is the bus's net import.
* :func:`network_map`: the network drawn with every bus coloured by its LMP (coordinates from
  the graph's ``pos`` node attribute, else a networkx layout; radial feeders as a tree, through
  :func:`feeder_map`), binding branches drawn thick;
* :func:`price_heatmap`: a price by bus (rows) and period (columns);
* :func:`dispatch_stack`: every participant's injection by period, stacked (withdrawals below
  zero).

What the merit order counts (:func:`offer_curves`): producers' and consumers' offer curves;
a prosumer's DER as supply, :math:`\eta\,p^*(\pi)` with :math:`p^*` its best response to the
price :math:`\pi` within its capacity and its ramp limits around the neighbouring periods'
solved outputs (its offer in the period given the rest of its schedule), and its local demand
as inelastic demand; a community pool's grid import (supply at the import
price) and export (demand at the export price); fixed loads and the loads the network holds as
inelastic demand; a storage's discharge offer and charge bid, and a flexible load's bid, priced
by the value of what links their periods (the dual of the state-of-charge balance, of the energy
requirement: :func:`_intertemporal_offer`); and any other participant as *price-taking* at its
solved schedule (its injection as supply offered at any price, its withdrawal as demand bid at
any price).

Distribution feeders: :func:`dlmp_components` (stacked DLMP components per bus),
:func:`voltage_profile`, :func:`price_heatmap` (bus by period) and :func:`feeder_map` (the
feeder drawn as a tree, buses coloured by price; :func:`tree_layout` gives the positions).

:func:`market_pictures` draws all of them for a solved market into a folder (what
``pyomo-ecc run CASE --plot DIR`` writes).
"""
import math

import numpy as np
import pyomo.environ as pyo

from pyomo_ecc.participants.curves import quantity_at_price
from pyomo_ecc.pricing.prices import prices


def _best_response(a, b, lo, hi, price):
    """argmax_x price x - (a x^2 + b x) on [lo, hi]."""
    if a == 0:
        x = hi if price > b else lo
    else:
        x = (price - b) / (2 * a)
    return min(max(x, lo), hi)


def _contributions(model, t, price=None):
    """``[(name, supply, demand)]`` (power units) of every participant and network element at
    ``price`` (currency per power unit per hour) in period t, or as solved (``price=None``); see
    the module doc. At a price equal to an offer's price the offer is not taken (the lower end
    of the step), as in :func:`~pyomo_ecc.participants.curves.quantity_at_price`."""
    out = []
    for p in model.participants():
        name = p.local_name
        if p.fixed_injection:
            inj = pyo.value(p.p_inj[t])
            out.append((name, max(inj, 0.0), max(-inj, 0.0)))
        elif hasattr(p, "qty") and price is not None:
            q = quantity_at_price(p, price, t)
            out.append((name, q, 0.0) if p.direction > 0 else (name, 0.0, q))
        elif p.block_kind() == "Prosumer":
            eta = pyo.value(p.eta)
            x = (pyo.value(p.p[t]) if price is None else
                 _best_response(pyo.value(p.a), pyo.value(p.b), *_prosumer_range(model, p, t),
                                price * eta))
            out.append((name, eta * x, pyo.value(p.demand[t])))
        elif price is not None and p.block_kind() in ("Storage", "FlexibleLoad") \
                and _dual(model, _linking_row(p, t)) is not None:
            out.append((name,) + _intertemporal_offer(model, p, t, price))
        else:   # as solved (price-taking at its solved schedule)
            inj = pyo.value(p.p_inj[t])
            out.append((name, max(inj, 0.0), max(-inj, 0.0)))
    net = model.get_network()
    if net is not None:
        held = sum(net.held_withdrawals(t).values())
        if held:
            out.append(("network loads", max(-held, 0.0), max(held, 0.0)))
        if hasattr(net, "g_import"):   # a community pool trading with the upstream grid
            if price is None:
                out.append(("grid import", pyo.value(net.g_import[t]), 0.0))
                out.append(("grid export", 0.0, pyo.value(net.g_export[t])))
            else:
                imp, exp = pyo.value(net.import_price[t]), pyo.value(net.export_price[t])
                cap_i, cap_e = net.g_import[t].ub, net.g_export[t].ub
                width = _pool_width(model, t)
                out.append(("grid import", (cap_i if cap_i is not None else width)
                            if price > imp else 0.0, 0.0))
                out.append(("grid export", 0.0, (cap_e if cap_e is not None else width)
                            if price < exp else 0.0))
    return out


def _dual(model, con):
    """The dual of ``con`` in the solver layer's convention (d objective / d right-hand side),
    or None when the solve left none."""
    from pyomo_ecc.pricing.prices import _dual_suffix

    suffix = _dual_suffix(model)
    if suffix is None or con is None or con not in suffix:
        return None
    return float(suffix[con])


def _linking_row(p, t):
    """The constraint that links a storage's or a flexible load's periods."""
    return p.eq_soc[t] if p.block_kind() == "Storage" else p.eq_energy


def _intertemporal_offer(model, p, t, price):
    r"""(supply, demand) of a storage or a flexible load at ``price`` (currency per power unit
    per hour) in period t, from the value of what links its periods (the dual :math:`y` of
    ``eq_soc[t]``, of ``eq_energy``):

    * storage, with :math:`
u_t = -y` the value of stored energy: discharge offered at
      :math:`b + 2 a h + 
u_t/\eta^{dis}`, charge bid at :math:`
u_t\,\eta^{ch} - b - 2 a c`;
    * flexible load: consumption bid at :math:`y - \sigma_t - 2 a d` inside its window.

    These are its KKT conditions in the period: where it is dispatched strictly inside its
    limits, its offer or bid price is the LMP."""
    y = _dual(model, _linking_row(p, t))
    a, b = pyo.value(p.a), pyo.value(p.b) if hasattr(p, "b") else 0.0
    if p.block_kind() == "Storage":
        nu = -y
        h = _best_response(a, b + nu / pyo.value(p.eta_dis), 0.0, pyo.value(p.p_dis_max[t]), price)
        c = _best_response(a, b - nu * pyo.value(p.eta_ch), 0.0, pyo.value(p.p_ch_max[t]), -price)
        return h, c
    if t in set(p.eq_outside.keys()) if hasattr(p, "eq_outside") else False:
        return 0.0, 0.0
    d = _best_response(a, pyo.value(p.shift_cost[t]) - y, 0.0, pyo.value(p.d_max[t]), -price)
    return 0.0, d


def _prosumer_range(model, p, t):
    """The DER output range of period t: capacity, and the ramp limit around the neighbouring
    periods' solved outputs (its offer in t given the rest of its schedule)."""
    lo, hi = 0.0, pyo.value(p.p_max[t])
    if hasattr(p, "ramp"):
        r = pyo.value(p.ramp)
        k = list(model.T).index(t)
        prev = pyo.value(p.p_0) if k == 0 else pyo.value(p.p[model.T.at(k)])
        lo, hi = max(lo, prev - r), min(hi, prev + r)
        if k + 1 < len(model.T):
            nxt = pyo.value(p.p[model.T.at(k + 2)])
            lo, hi = max(lo, nxt - r), min(hi, nxt + r)
    return lo, max(lo, hi)


def _pool_width(model, t):
    """How much an unbounded grid exchange of a community pool is drawn as: the largest
    quantity any participant could trade in the period (their limits summed)."""
    tot = 0.0
    for p in model.participants():
        for name in ("p_max", "d_max", "p_ch_max", "p_dis_max", "demand", "export_max",
                     "import_max"):
            par = getattr(p, name, None)
            if par is not None and hasattr(par, "__getitem__"):
                try:
                    tot += abs(pyo.value(par[t]))
                except (KeyError, TypeError):
                    tot += abs(pyo.value(par))
        if p.fixed_injection:
            tot += abs(pyo.value(p.p_inj[t]))
    return max(tot, 1e-9)


def aggregate_curves(model, t, price_grid):
    """Aggregate supply and demand (power units) at each price of ``price_grid``
    (currency/MWh), as two numpy arrays (see :func:`offer_curves` for what is counted)."""
    u = model.power_unit_mw
    supply = np.zeros(len(price_grid))
    demand = np.zeros(len(price_grid))
    for k, lam in enumerate(price_grid):
        for _, s, d in _contributions(model, t, lam * u):
            supply[k] += s
            demand[k] += d
    return supply, demand


def _breakpoints(model, t):
    """Prices (currency/MWh) where some offer or bid of period t starts or steps."""
    u = model.power_unit_mw
    out = []
    for p in model.participants():
        if hasattr(p, "step_price"):
            out += [float(p.step_price[k].value) / u for k in p.K]
        elif hasattr(p, "b") and hasattr(p, "qty"):
            out.append(float(p.b.value) / u)
            a = float(p.a.value)
            if a:
                for lim in (getattr(p, f"{p.qty}_min")[t], getattr(p, f"{p.qty}_max")[t]):
                    out.append((float(p.b.value) + 2 * a * float(pyo.value(lim))) / u)
        elif p.block_kind() == "Prosumer":
            eta = float(pyo.value(p.eta))
            out.append(float(pyo.value(p.b)) / eta / u)
            out.append((float(pyo.value(p.b)) + 2 * float(pyo.value(p.a))
                        * float(pyo.value(p.p_max[t]))) / eta / u)
        elif p.block_kind() in ("Storage", "FlexibleLoad"):
            y = _dual(model, _linking_row(p, t))
            if y is None:
                continue
            a = float(pyo.value(p.a))
            if p.block_kind() == "Storage":
                b, nu = float(pyo.value(p.b)), -y
                base = [b + nu / float(pyo.value(p.eta_dis)), nu * float(pyo.value(p.eta_ch)) - b]
                tops = [base[0] + 2 * a * float(pyo.value(p.p_dis_max[t])),
                        base[1] - 2 * a * float(pyo.value(p.p_ch_max[t]))]
            else:
                base = [y - float(pyo.value(p.shift_cost[t]))]
                tops = [base[0] - 2 * a * float(pyo.value(p.d_max[t]))]
            out += [v / u for v in base + tops]
    net = model.get_network()
    if net is not None and hasattr(net, "import_price"):
        out += [pyo.value(net.import_price[t]) / u, pyo.value(net.export_price[t]) / u]
    return out


def offer_curves(model, t=None, bus=None, prices_at=None, n=400):
    """The supply and demand curves of period ``t`` (default: the first), of the whole market
    or of the participants at ``bus``: a DataFrame with columns ``price`` (currency/MWh),
    ``supply``, ``demand`` (power units), two rows at every price where a curve steps (the
    quantities just below and just above it), so that drawing the columns as lines gives the
    curves exactly. ``prices_at``: prices that must be on the grid (e.g. the LMPs)."""
    import pandas as pd

    t = model.T.first() if t is None else t
    extra = list(prices_at or [])
    points = _breakpoints(model, t) + extra
    hi = max([abs(v) for v in points] + [1e-9])
    lo = min(points + [0.0])
    grid = np.unique(np.concatenate([np.linspace(lo - 0.05 * hi, 1.5 * hi, n), points]))
    u = model.power_unit_mw
    eps = 1e-9 * max(hi, 1.0)
    rows = []
    for lam in grid:
        for side in (lam, lam + eps):   # the quantities at the price and just above it
            s = d = 0.0
            for name, qs, qd in _contributions(model, t, side * u):
                if bus is not None and not _at_bus(model, name, bus):
                    continue
                s += qs
                d += qd
            rows.append((float(lam), s, d))
    df = pd.DataFrame(rows, columns=["price", "supply", "demand"])
    return df.drop_duplicates().reset_index(drop=True)


def _at_bus(model, name, bus):
    if name == "network loads":
        return False
    if name in ("grid import", "grid export"):
        return bus == "pool"
    return getattr(model, name).bus == bus


def _solved(model, t, bus=None):
    """Solved (supply, demand) of period t in the terms of the curves (power units): of the
    whole market, or of ``bus`` (with the load the network holds there)."""
    s = d = 0.0
    for name, qs, qd in _contributions(model, t):
        if bus is None or _at_bus(model, name, bus):
            s += qs
            d += qd
    net = model.get_network()
    if bus is not None and net is not None:
        d += net.held_withdrawals(t).get(bus, 0.0)
    return s, d


def merit_order(model, t=None, ax=None, n=400, bus=None):
    """Plot supply and demand of period ``t`` (default: the first) and the clearing (see the
    module doc): the clearing point where the period has one price, the LMP range and the
    traded quantity where it has several; ``bus=b``: the curves of the participants at bus b
    (its held load included) and the clearing points at its LMP.

    ``ax.merit_order`` holds what was drawn: ``curves`` (:func:`offer_curves`), ``lmp_range``
    ``(low, high)``, ``quantity`` (traded, power units) and ``points`` (the clearing points
    drawn, ``[(quantity, price)]``)."""
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(7, 4.5))
    t = model.T.first() if t is None else t
    lmp = prices(model)["lmp"].xs(t, level="t")
    unit = model.config.power_unit
    cur = model.config.currency
    if bus is not None:
        if bus not in lmp.index:
            from pyomo_ecc.errors import InputError
            raise InputError(f"unknown bus {bus!r}; the market's buses are {list(lmp.index)}")
        lam = float(lmp[bus])
        curves = offer_curves(model, t, bus=bus, prices_at=[lam], n=n)
        # the bus's held load is inelastic demand at the bus
        net = model.get_network()
        held = net.held_withdrawals(t).get(bus, 0.0) if net is not None else 0.0
        curves["demand"] = curves["demand"] + held
        s_q, d_q = _solved(model, t, bus)
        points = [(s_q, lam), (d_q, lam)]
        low = high = lam
        quantity = s_q
    else:
        lams = sorted(float(v) for v in lmp.to_numpy())
        low, high = lams[0], lams[-1]
        curves = offer_curves(model, t, prices_at=[low, high], n=n)
        s_q, d_q = _solved(model, t)
        quantity = d_q
        single = math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-9)
        points = [(s_q, low), (d_q, low)] if single else []
    ax.plot(curves["supply"], curves["price"], label="supply (offers)")
    ax.plot(curves["demand"], curves["price"], label="demand (bids + inelastic loads)")
    if points:
        xs, ys = zip(*points)
        what = (f"bus {bus}: supply {points[0][0]:.4g}, demand {points[1][0]:.4g} {unit} at {low:.4g}"
                if bus is not None else f"clearing: {quantity:.4g} {unit} at {low:.4g}")
        ax.plot(xs, ys, "ko", label=what)
    else:
        ax.axhspan(low, high, color="0.5", alpha=0.25,
                   label=f"LMPs from {low:.4g} to {high:.4g} (no single clearing price)")
        ax.axvline(quantity, color="k", lw=1, ls="--", label=f"traded: {quantity:.4g} {unit}")
    ax.set_xlabel(f"quantity [{unit}]")
    ax.set_ylabel(f"price [{cur}/MWh]")
    where = f", bus {bus}" if bus is not None else ""
    ax.set_title(f"{model.name}: period {t}{where}")
    ax.legend(loc="best", fontsize=8)
    ax.merit_order = {"curves": curves, "lmp_range": (low, high), "quantity": quantity,
                      "points": points}
    return ax


def dispatch_stack(model, ax=None):
    """Every participant's injection (power units) by period as stacked bars: injections above
    zero, withdrawals below (the loads the network holds as one more block), with the bars'
    heights in ``ax.dispatch_stack`` (a DataFrame participant x period)."""
    import pandas as pd

    ax = _axes(ax, (9, 4.5))
    periods = list(model.T)
    rows = {p.local_name: [pyo.value(p.p_inj[t]) for t in periods] for p in model.participants()}
    net = model.get_network()
    if net is not None:
        held = [-sum(net.held_withdrawals(t).values()) for t in periods]
        if any(abs(v) > 0 for v in held):
            rows["network loads"] = held
    df = pd.DataFrame(rows, index=periods).T
    x = np.arange(len(periods))
    pos, neg = np.zeros(len(periods)), np.zeros(len(periods))
    for name, vals in df.iterrows():
        v = vals.to_numpy(float)
        up, down = np.clip(v, 0, None), np.clip(v, None, 0)
        bars = ax.bar(x, up, bottom=pos, label=name)
        if (down < 0).any():
            ax.bar(x, down, bottom=neg, color=bars.patches[0].get_facecolor())
        pos, neg = pos + up, neg + down
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([str(t) for t in periods], fontsize=7)
    ax.set_xlabel("period")
    ax.set_ylabel(f"injection [{model.config.power_unit}] (+ injects, - withdraws)")
    ax.set_title(f"{model.name}: dispatch by period")
    if len(df) <= 20:
        ax.legend(loc="best", fontsize=7, ncol=2)
    ax.dispatch_stack = df
    return ax


def _positions(net, buses):
    """Bus positions: the graph's ``pos`` node attributes when every bus has one, else a
    networkx layout of the graph (or a circle when the network has no graph)."""
    import networkx as nx

    graph = getattr(net.config, "graph", None) if hasattr(net, "config") and "graph" in net.config else None
    if graph is not None:
        pos = {b: graph.nodes[b].get("pos") for b in buses if b in graph}
        if len(pos) == len(buses) and all(v is not None for v in pos.values()):
            return {b: tuple(map(float, v)) for b, v in pos.items()}, "coordinates"
        g = nx.Graph(graph)
        return {b: tuple(v) for b, v in nx.kamada_kawai_layout(g).items()}, "kamada-kawai layout"
    return {b: tuple(v) for b, v in nx.circular_layout(list(buses)).items()}, "circle"


def network_map(model, t=None, ax=None, values=None, label="lmp"):
    """Draw the network with every bus coloured by its price in period ``t`` (default: the
    first; ``values``: a Series indexed (``bus``, ``t``), default the LMPs). Radial feeders are
    drawn as a tree (:func:`feeder_map`); other networks at their coordinates or a networkx
    layout, branches whose flow reaches the rating drawn thick. ``ax.network_map`` holds the
    drawn ``positions`` and ``values`` by bus."""
    import matplotlib.pyplot as plt

    net = model.get_network()
    values = prices(model)["lmp"] if values is None else values
    cur = model.config.currency
    if hasattr(net, "feeder"):
        ax = feeder_map(net, values, t=t, ax=ax, label=label, currency=cur)
        t = _first_t(values.to_frame(), t)
        vals = values.xs(t, level="t")
        ax.network_map = {"positions": tree_layout(net.feeder), "values": vals}
        return ax
    ax = _axes(ax, (8, 6))
    t = _first_t(values.to_frame(), t)
    vals = values.xs(t, level="t")
    buses = list(net.buses()) if net is not None else list(vals.index)
    pos, how = _positions(net, buses)
    binding = 0
    if hasattr(net, "flows"):
        flows = net.flows().xs(t, level="t")
        br = net._branches
        for l, row in flows.iterrows():
            a, b = br.at[l, "from_bus"], br.at[l, "to_bus"]
            (x0, y0), (x1, y1) = pos[a], pos[b]
            full = math.isfinite(row["rating"]) and abs(row["p_flow"]) >= row["rating"] * (1 - 1e-6)
            binding += full
            ax.plot([x0, x1], [y0, y1], color="crimson" if full else "0.6",
                    lw=3.0 if full else 1.0, zorder=1)
    sc = ax.scatter([pos[b][0] for b in buses], [pos[b][1] for b in buses],
                    c=[float(vals[b]) for b in buses], cmap="viridis", s=max(12, 3000 // max(len(buses), 1)),
                    zorder=2, edgecolors="k", linewidths=0.5)
    if len(buses) <= 60:
        for b in buses:
            ax.annotate(str(b), pos[b], fontsize=7, xytext=(4, 4), textcoords="offset points")
    plt.colorbar(sc, ax=ax, label=f"{label} [{cur}/MWh]")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{model.name}: {label}, period {t} ({how}"
                 + (f"; thick: {binding} binding branch{'es' if binding != 1 else ''}" if binding else "")
                 + ")")
    ax.network_map = {"positions": pos, "values": vals, "collection": sc}
    return ax


def market_pictures(model, folder, t=None):
    """Draw the pictures of a solved market into ``folder`` (created if needed): ``network.png``
    (:func:`network_map`), ``prices.png`` (:func:`price_heatmap` of the LMPs), ``dispatch.png``
    (:func:`dispatch_stack`) and ``merit.png`` (:func:`merit_order`) of period ``t`` (default:
    the period with the highest LMP). Returns the file names written."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    lmp = prices(model)["lmp"]
    if t is None:
        t = lmp.groupby(level="t").max().idxmax()
    cur = model.config.currency
    pictures = {"network.png": lambda: network_map(model, t=t),
                "prices.png": lambda: price_heatmap(lmp.to_frame(), currency=cur),
                "dispatch.png": lambda: dispatch_stack(model),
                "merit.png": lambda: merit_order(model, t=t)}
    for name, draw in pictures.items():
        ax = draw()
        ax.figure.savefig(d / name, dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
    return list(pictures)


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
