r"""The feeder model: a radial distribution feeder from a case file, as a market.

A case with ``model = "feeder"`` has a ``[network]`` table, one ``[[bus]]`` entry per bus and one
``[[line]]`` entry per branch::

    [network]
    type = "lindistflow"    # or "ac_distflow" (solve with Ipopt)
    ref_bus = 1             # substation (reference) bus
    base_kv = 12.66         # line-to-line base voltage: line r, x are in ohm
    base_mva = 10.0
    v_root = 1.0            # pu; also v_min, v_max (pu), and for LinDistFlow polygon_sides, polygon

    [[bus]]                 # id, load, q_load (power units), optional v_min, v_max (pu)
    [[line]]                # from, to, r, x (ohm), optional rating (power units), in_service

plus the usual ``[[producer]]`` / ``[[consumer]]`` / ``[[load]]`` participants (the substation is
a producer at the root bus whose offer prices the upstream energy) and the distributed
resources ``[[prosumer]]``, ``[[storage]]``, ``[[flexible_load]]``. A multi-period case gives
per-period lists (one value per period) for bus loads and participant options. Line impedances are
converted to per unit: :math:`r_{pu} = r_\Omega\,S_{base} / V_{base}^2` (MVA, kV).

``build_feeder(case)`` returns the market (not yet assembled; its network block is
``m.network``; ``formulation="losses"`` builds the loss-aware
:class:`~pyomo_ecc.network.lindistflow.LinDistFlowLosses`, ``periods=N`` the first N periods); ``feeder_graph(case)`` the networkx graph; ``feeder_report(m)`` the voltage
profile table printed by ``pyomo-ecc run``.
"""
import networkx as nx
import numpy as np
import pandas as pd

from pyomo_ecc.core.market import Market
from pyomo_ecc.errors import InputError
from pyomo_ecc.models.market import MARKET_KEYS, PARTICIPANT_BLOCKS
from pyomo_ecc.network.ac_distflow import ACDistFlow
from pyomo_ecc.network.lindistflow import LinDistFlow, LinDistFlowLosses
from pyomo_ecc.participants.flexible_load import FlexibleLoad
from pyomo_ecc.participants.prosumer import Prosumer
from pyomo_ecc.participants.storage import Storage

FORMULATIONS = {"lindistflow": LinDistFlow, "ac_distflow": ACDistFlow, "losses": LinDistFlowLosses}
FEEDER_BLOCKS = dict(PARTICIPANT_BLOCKS, prosumer=Prosumer, storage=Storage, flexible_load=FlexibleLoad)
GRAPH_KEYS = ("base_kv", "base_mva")
BUS_KEYS = {"id", "load", "q_load", "v_min", "v_max"}
LINE_KEYS = {"from", "to", "r", "x", "rating", "in_service", "name"}


def _number(case, where, key, val):
    if isinstance(val, bool) or not isinstance(val, (int, float)):
        raise InputError(f"case '{case.name}': {where}: '{key}' must be a number, got {val!r}")
    return float(val)


def feeder_graph(case):
    """The case's feeder as a networkx Graph with per-unit ``r``, ``x`` (in-service lines only)."""
    net = dict(case.data.get("network", {}))
    for key in GRAPH_KEYS:
        if key not in net:
            raise InputError(f"case '{case.name}': [network] needs '{key}' (line r, x are in ohm)")
    base_kv = _number(case, "[network]", "base_kv", net["base_kv"])
    base_mva = _number(case, "[network]", "base_mva", net["base_mva"])
    if base_kv <= 0 or base_mva <= 0:
        raise InputError(f"case '{case.name}': [network]: base_kv and base_mva must be > 0")
    z_base = base_kv ** 2 / base_mva
    g = nx.Graph(base_mva=base_mva)
    for k, bus in enumerate(case.data.get("bus", [])):
        where = f"[[bus]] entry {k}"
        if not isinstance(bus, dict) or "id" not in bus:
            raise InputError(f"case '{case.name}': {where} needs an 'id'")
        bad = set(bus) - BUS_KEYS
        if bad:
            raise InputError(f"case '{case.name}': {where}: unknown key(s) {sorted(bad)}; "
                             f"allowed are {sorted(BUS_KEYS)}")
        if bus["id"] in g:
            raise InputError(f"case '{case.name}': {where}: duplicate bus id {bus['id']!r}")
        g.add_node(bus["id"], **{k2: v for k2, v in bus.items() if k2 != "id"})
    if g.number_of_nodes() == 0:
        raise InputError(f"case '{case.name}': a feeder case needs [[bus]] entries")
    for k, line in enumerate(case.data.get("line", [])):
        where = f"[[line]] entry {k}"
        if not isinstance(line, dict):
            raise InputError(f"case '{case.name}': {where} is not a table")
        bad = set(line) - LINE_KEYS
        if bad:
            raise InputError(f"case '{case.name}': {where}: unknown key(s) {sorted(bad)}; "
                             f"allowed are {sorted(LINE_KEYS)}")
        for key in ("from", "to", "r", "x"):
            if key not in line:
                raise InputError(f"case '{case.name}': {where} needs '{key}'")
        in_service = line.get("in_service", True)
        if not isinstance(in_service, bool):
            raise InputError(f"case '{case.name}': {where}: 'in_service' must be true or false, "
                             f"got {in_service!r}")
        u, v = line["from"], line["to"]
        for end in (u, v):
            if end not in g:
                raise InputError(f"case '{case.name}': {where}: unknown bus {end!r}")
        if not in_service:
            continue
        if g.has_edge(u, v):
            raise InputError(f"case '{case.name}': {where}: a second line between {u!r} and {v!r} "
                             f"(parallel lines make a loop; a feeder must be radial)")
        attrs = {"r": _number(case, where, "r", line["r"]) / z_base,
                 "x": _number(case, where, "x", line["x"]) / z_base}
        if "rating" in line:
            attrs["rating"] = _number(case, where, "rating", line["rating"])
        g.add_edge(u, v, **attrs)
    return g


def _first_periods(val, n, full):
    """A per-period list cut to its first ``n`` values (other values unchanged)."""
    if isinstance(val, list) and len(val) == full:
        return val[:n]
    return val


def build_feeder(case, formulation=None, periods=None):
    """Build the case's feeder market (not yet assembled); ``formulation`` overrides
    ``[network] type`` (``"lindistflow"``, ``"losses"``, ``"ac_distflow"``); ``periods``: solve
    only the first ``periods`` periods of the case (per-period lists are cut to match)."""
    meta = dict(case.meta)
    net = dict(case.data.get("network", {}))
    kind = formulation or net.pop("type", "lindistflow")
    net.pop("type", None)
    if kind not in FORMULATIONS:
        raise InputError(f"case '{case.name}': network type {kind!r} is not a feeder formulation; "
                         f"use one of {sorted(FORMULATIONS)}")
    if kind == "losses" and formulation is None:
        raise InputError(f"case '{case.name}': network type 'losses' is solved by iteration "
                         f"(pyomo_ecc.solve_losses), not by one solve: run `pyomo-ecc dlmp "
                         f"{case.name} --losses`, or build_feeder(case, 'losses') and solve_losses")
    graph = feeder_graph(case)
    full = int(meta.get("periods", 1))
    cut = None
    if periods is not None:
        if isinstance(periods, bool) or int(periods) != periods or not 1 <= periods <= full:
            raise InputError(f"case '{case.name}': periods must be an integer from 1 to the case's "
                             f"{full} period(s), got {periods!r}")
        cut = int(periods)
        meta["periods"] = cut
        if isinstance(meta.get("dt"), list):
            meta["dt"] = meta["dt"][:cut]
        for b in graph.nodes:
            for attr in ("load", "q_load"):
                if attr in graph.nodes[b]:
                    graph.nodes[b][attr] = _first_periods(graph.nodes[b][attr], cut, full)
    for key in GRAPH_KEYS:
        net.pop(key)
    m = Market(name=case.name, **{k: meta[k] for k in MARKET_KEYS if k in meta})
    for section, block in FEEDER_BLOCKS.items():
        for name, opts in case.participants(section):
            if cut is not None:
                opts = {k: _first_periods(v, cut, full) for k, v in opts.items()}
            m.add_component(name, block(**opts))
    m.network = FORMULATIONS[kind](graph=graph, base_mva=graph.graph["base_mva"], **net)
    return m


def feeder_report(m):
    """``{title: DataFrame}``: the voltage profile by bus (with the nodal prices), the branch
    flows, and the settlement of the loads the network holds (bus loads are not participants,
    so the standard summary does not count their payments)."""
    from pyomo_ecc.pricing.prices import price_frame
    net = m.get_network()
    prof = net.voltages().join(price_frame(m, "lmp")).join(price_frame(m, "qlmp")) + 0.0  # no -0
    title = (f"Voltage profile (pu) and nodal prices ({m.config.currency}/MWh, /Mvarh), "
             f"{net.formulation}; minimum {prof.v_pu.min():.4f} pu at bus {prof.v_pu.idxmin()[0]}")
    weight = prof.index.get_level_values("t").map(lambda t: m.dt[t]) * m.power_unit_mw
    pay = (prof.lmp * prof.p_load * weight).groupby(level="t").sum()
    settle = pd.DataFrame({"bus_load": prof.p_load.groupby(level="t").sum(),
                           "losses": net.losses(),
                           "bus_load_payment": pay})
    return {title: prof, "Branch flows (sending end)": net.branch_flows(),
            f"Bus loads held by the network: total, losses and payment at the LMPs "
            f"({m.config.currency})": settle}


#: an illustrative daily load shape (fraction of peak by hour), the one of feeder33_day
DAILY_SHAPE = (0.62, 0.58, 0.56, 0.55, 0.56, 0.60, 0.70, 0.80, 0.86, 0.88, 0.88, 0.87,
               0.85, 0.84, 0.84, 0.86, 0.90, 0.97, 1.00, 1.00, 0.96, 0.88, 0.78, 0.68)


def synthetic_market(n, rng, periods=1, formulation="lindistflow", der_share=0.04,
                     congestion=0.85, voltage_support=0.25, quadratic=True):
    """A seeded feeder market on :func:`~pyomo_ecc.network.radial.synthetic_feeder`: ``n`` buses,
    loads scaled by :data:`DAILY_SHAPE` over ``periods`` hours (period 0 at the 18 h peak, so
    one period is the peak hour), the substation at 50 $/MWh, quadratic-cost DERs on a share
    ``der_share`` of the buses (half of them among the deepest buses, one below the rated
    branch), one branch rated at ``congestion`` times its lossless peak flow (a branch whose
    subtree carries 8-15 % of the load and none of the deepest buses), and a lower voltage limit that needs DER output: ``v_min`` is set so that a share
    ``voltage_support`` of the lossless peak voltage drop must be removed (``quadratic=False``:
    linear DER offers, so LinDistFlow is an LP). Returns the market
    (not yet assembled; the network is ``m.network``)."""
    from pyomo_ecc.network.radial import RadialFeeder, synthetic_feeder
    if formulation not in FORMULATIONS:
        raise InputError(f"formulation {formulation!r} is not a feeder formulation; use one of "
                         f"{sorted(FORMULATIONS)}")
    g = synthetic_feeder(n, rng)
    fd = RadialFeeder(g, root=0)
    base = g.graph["base_mva"]
    # lossless peak flows and voltages (tree walks)
    p_sub, q_sub = {}, {}
    for j in reversed(fd.order):
        p_sub[j] = g.nodes[j]["load"] + sum(p_sub[k] for k in fd.children[j])
        q_sub[j] = g.nodes[j]["q_load"] + sum(q_sub[k] for k in fd.children[j])
    v = {fd.root: 1.0}
    for j in fd.order[1:]:
        e = g.edges[fd.parent[j], j]
        v[j] = v[fd.parent[j]] - 2 * (e["r"] * p_sub[j] + e["x"] * q_sub[j]) / base
    total = p_sub[fd.root]
    n_der = max(2, int(der_share * n))
    deep = sorted(fd.branches, key=v.get)[: max(n_der, n // 20)]
    # the rated branch: 8-15 % of the load below it, none of the deepest buses (whose voltage
    # support would relieve it); one DER below it keeps the rating feasible
    deep_set = set(deep)
    cands = [j for j in fd.branches if 0.08 * total <= p_sub[j] <= 0.15 * total
             and not deep_set.intersection(fd.downstream(j))]
    if not cands:
        cands = [j for j in fd.branches if not deep_set.intersection(fd.downstream(j))] or fd.branches
        cands = [max(cands, key=p_sub.get)]
    rated = cands[int(rng.integers(len(cands)))]
    g.edges[fd.parent[rated], rated]["rating"] = congestion * float(np.hypot(p_sub[rated], q_sub[rated]))
    v_lo = min(v.values())
    v_min = float(np.sqrt(1.0 - (1.0 - voltage_support) * (1.0 - v_lo)))
    shape = [DAILY_SHAPE[(18 + t) % 24] for t in range(periods)]
    for b in g.nodes:
        g.nodes[b]["load"] = [g.nodes[b]["load"] * f for f in shape]
        g.nodes[b]["q_load"] = [g.nodes[b]["q_load"] * f for f in shape]
    m = Market(name=f"synthetic{n}", periods=periods)
    m.substation = PARTICIPANT_BLOCKS["producer"](bus=fd.root, b=50.0, p_max=10 * total)
    below = fd.downstream(rated)
    buses = [below[int(rng.integers(len(below)))]]
    buses += [b for b in rng.choice(deep, size=n_der // 2, replace=False) if b not in buses]
    rest = [b for b in fd.branches if b not in set(buses) and b not in set(below)]
    buses += list(rng.choice(rest, size=n_der - len(buses), replace=False))
    for k, b in enumerate(buses):
        a, c = float(rng.uniform(5, 30)), float(rng.uniform(52, 70))
        m.add_component(f"der{k}", PARTICIPANT_BLOCKS["producer"](
            bus=int(b), a=a if quadratic else 0.0, b=c, p_max=float(4 * total / n_der)))
    m.network = FORMULATIONS[formulation](graph=g, ref_bus=fd.root, base_mva=base, v_min=v_min)
    return m
