r"""PyPSA networks in, PyPSA- and pandapower-shaped results out.

:func:`from_pypsa` turns a ``pypsa.Network`` into a :class:`~pyomo_ecc.Market` with a
:class:`~pyomo_ecc.network.dc.DCNetwork`: the same linear (DC) power flow that PyPSA's
``n.optimize()`` solves, so the LMPs compare directly with ``n.buses_t.marginal_price``.

==============================  ===============================================================
PyPSA                           market
==============================  ===============================================================
``snapshots``                   periods ``0 .. N-1`` (the snapshot labels are kept for the
                                exports); ``snapshot_weightings.objective`` -> ``dt`` (hours)
``buses`` (carrier AC)          buses of the graph, named as in PyPSA; ``x``, ``y`` -> node
                                attribute ``pos`` (used by the network plot)
``lines``                       branches with :math:`x = x_{pu,eff}` on a 1 MVA base (PyPSA's
                                own per-unit value, :math:`x_\Omega / v_{nom}^2`), rating
                                :math:`s_{nom}\,s_{max,pu}`
``transformers``                branches with :math:`x = x_{pu,eff}` (:math:`x / s_{nom}`
                                times the tap ratio) and the phase shift in degrees
                                (option ``phase_shifts``: PyPSA's ``n.optimize()`` leaves
                                phase shifts out, its ``n.lpf()`` keeps them)
``generators``                  :class:`~pyomo_ecc.Producer` ``gen_<name>``:
                                :math:`C(p) = c_2 p^2 + c_1 p` with :math:`c_1` =
                                ``marginal_cost`` and :math:`c_2` = ``marginal_cost_quadratic``;
                                :math:`\overline{P}_t = p_{nom}\,p_{max,pu,t}`,
                                :math:`\underline{P}_t = p_{nom}\,p_{min,pu,t}`
``loads``                       :class:`~pyomo_ecc.FixedLoad` ``load_<name>`` with
                                :math:`L_t = -\mathrm{sign}\cdot p_{set,t}` as an injection
``storage_units``               :class:`~pyomo_ecc.participants.storage.Storage`
                                ``storage_<name>``: :math:`\overline{E} = p_{nom}\,h_{max}`,
                                charge up to :math:`-p_{min,pu}\,p_{nom}`, discharge up to
                                :math:`p_{max,pu}\,p_{nom}`, ``efficiency_store`` /
                                ``efficiency_dispatch``, :math:`e_0` =
                                ``state_of_charge_initial``, free terminal state (PyPSA's
                                non-cyclic storage)
``carriers.co2_emissions`` and  generators get ``emission_intensity`` =
a ``primary_energy``            :math:`co2/\eta`; the constraint becomes a
``GlobalConstraint`` (<=)       :class:`~pyomo_ecc.policy.CarbonCap` (its ``carbon_price`` is
                                minus PyPSA's ``global_constraints.mu``)
==============================  ===============================================================

A susceptance of a PyPSA branch is :math:`1/x_{pu,eff}` in MW per radian, and its flow
:math:`(\theta_0 - \theta_1 - \varphi)/x_{pu,eff}`: the ``matpower`` convention of
:mod:`pyomo_ecc.network.dc` with base 1 MVA. Components the market cannot represent are refused
with an :class:`~pyomo_ecc.errors.InputError` naming them, never dropped: links, stores,
shunt impedances, non-AC buses, extendable capacities, committable generators, a
time-varying marginal cost or branch rating, a zero branch rating (PyPSA fixes such a flow at
zero), storage units that are cyclic or have costs, standing losses, inflows or state of
charge set points, and inactive components that something else needs.

Exports (any solved market, not only imported ones):

* :func:`to_pypsa_frames`: ``{"buses_t.marginal_price": snapshots x buses, "generators_t.p",
  "loads_t.p", "storage_units_t.p", "lines_t.p0"}``, each indexed ``snapshot`` with PyPSA's
  names (snapshot labels and component names of an imported network);
* :func:`to_pandapower_frames`: ``{"res_bus": vm_pu, va_degree, p_mw, q_mvar, lam_p (and lam_q
  where a reactive price is declared), "res_gen": p_mw, q_mvar, "res_load": p_mw, "res_line":
  p_from_mw, p_to_mw, loading_percent}`` for one period, named as pandapower's OPF results.

Example::

    >>> import pypsa, pyomo_ecc as ecc
    >>> from pyomo_ecc.io.pypsa_io import from_pypsa, to_pypsa_frames
    >>> n = pypsa.Network()
    >>> n.set_snapshots(range(2))
    >>> for b in ("a", "b", "c"):
    ...     _ = n.add("Bus", b, v_nom=1.0)
    >>> for name, b0, b1, cap in (("ab", "a", "b", 100), ("bc", "b", "c", 100), ("ac", "a", "c", 40)):
    ...     _ = n.add("Line", name, bus0=b0, bus1=b1, x=0.1, s_nom=cap)
    >>> _ = n.add("Generator", "cheap", bus="a", p_nom=300, marginal_cost=10)
    >>> _ = n.add("Generator", "dear", bus="c", p_nom=300, marginal_cost=30)
    >>> _ = n.add("Load", "town", bus="c", p_set=[100, 120])
    >>> m = from_pypsa(n)
    >>> _ = ecc.solve(m)
    >>> to_pypsa_frames(m)["buses_t.marginal_price"].round(6)  # doctest: +NORMALIZE_WHITESPACE
    Bus          a     b     c
    snapshot
    0         10.0  20.0  30.0
    1         10.0  20.0  30.0
"""
import math
import re
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.errors import InputError

#: PyPSA components the market refuses when they are present (and why)
UNSUPPORTED = {
    "links": "controllable links (HVDC, sector coupling) have no pyomo_ecc block",
    "stores": "stores are not imported",
    "shunt_impedances": "shunt impedances are not imported",
}


@dataclass
class PypsaNames:
    """How the components of an imported network are named in the market: ``snapshots`` (the
    PyPSA snapshot of each period, in order) and ``generators``, ``loads``, ``branches``
    (``{market name: PyPSA name}``; branches as ``(component, name)``)."""

    snapshots: list
    generators: dict = field(default_factory=dict)
    loads: dict = field(default_factory=dict)
    storage_units: dict = field(default_factory=dict)
    branches: dict = field(default_factory=dict)


def _require_pypsa(n):
    try:
        import pypsa
    except ImportError as e:  # pragma: no cover - the optional dependency
        raise InputError("PyPSA is not installed: pip install pypsa") from e
    if not isinstance(n, pypsa.Network):
        raise InputError(f"from_pypsa expects a pypsa.Network, got {type(n).__name__}")


def _active(df):
    return df[df["active"].astype(bool)] if "active" in df.columns else df


def _dense(n, component, attr, names):
    """snapshots x ``names`` of a static-or-varying attribute (PyPSA's switchable lookup)."""
    if not len(names):
        return pd.DataFrame(index=n.snapshots)
    return n.get_switchable_as_dense(component, attr).reindex(columns=names)


def _constant(n, component, attr, names, what):
    """The attribute of ``names`` as one number each; refuses a time series that varies."""
    dense = _dense(n, component, attr, names)
    out = {}
    for name in names:
        col = dense[name].to_numpy(float)
        if len(col) and np.ptp(col) > 1e-12 * max(1.0, float(np.abs(col).max())):
            raise InputError(f"{component} '{name}': time-varying {attr} is not supported ({what})")
        out[name] = float(col[0]) if len(col) else float("nan")
    return out


def _safe(label, taken):
    base = re.sub(r"\W", "_", str(label)).strip("_") or "x"
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _weights(n):
    w = n.snapshot_weightings
    if isinstance(w, pd.DataFrame):
        obj = w["objective"]
        for col in ("generators", "stores"):
            if col in w.columns and not np.allclose(w[col], obj):
                raise InputError(f"snapshot_weightings: the '{col}' weights differ from the "
                                 f"'objective' weights; the market has one period length per "
                                 f"period")
        return [float(v) for v in obj]
    return [float(v) for v in w]


#: how transformer phase shifts enter: as the physics has them, or left out
PHASE_SHIFTS = ("include", "ignore")


def pypsa_graph(n, phase_shifts="include"):
    """The network of ``n`` (buses, lines, transformers) as a networkx ``MultiDiGraph`` in the
    attributes of :mod:`pyomo_ecc.network.graph` (base 1 MVA), with the PyPSA component of
    each edge in ``component`` and its name in ``name``. ``phase_shifts``: ``"include"``
    (the transformers' ``phase_shift``, as PyPSA's linear power flow ``n.lpf()`` and MATPOWER
    have it) or ``"ignore"`` (as PyPSA's ``n.optimize()`` does: its KVL constraints leave phase
    shifts out)."""
    _require_pypsa(n)
    if phase_shifts not in PHASE_SHIFTS:
        raise InputError(f"phase_shifts must be one of {PHASE_SHIFTS}, got {phase_shifts!r}")
    n.calculate_dependent_values()
    buses = _active(n.buses)
    bad = buses.index[buses["carrier"].astype(str) != "AC"]
    if len(bad):
        raise InputError(f"bus(es) {list(bad)[:5]} have carrier {buses.loc[bad[0], 'carrier']!r}: "
                         f"only AC buses (DC power flow) are imported")
    G = nx.MultiDiGraph(base_mva=1.0)
    coords = buses[["x", "y"]].to_numpy(float)
    has_pos = bool(np.any(coords != 0))
    for b, row in buses.iterrows():
        attrs = {"pos": (float(row["x"]), float(row["y"]))} if has_pos else {}
        G.add_node(b, **attrs)
    for comp, table in (("Line", n.lines), ("Transformer", n.transformers)):
        live = _active(table)
        if live.empty:
            continue
        names = list(live.index)
        s_max = _constant(n, comp, "s_max_pu", names, "give a constant s_max_pu")
        for name, row in live.iterrows():
            what = f"{comp} '{name}'"
            if bool(row.get("s_nom_extendable", False)):
                raise InputError(f"{what}: s_nom_extendable is not supported (the market does not "
                                 f"invest); fix s_nom")
            for b in (row["bus0"], row["bus1"]):
                if b not in G:
                    raise InputError(f"{what}: bus {b!r} is not an active bus of the network")
            x = float(row["x_pu_eff"])
            if not math.isfinite(x) or x == 0:
                raise InputError(f"{what}: effective reactance x_pu_eff = {x}: give a non-zero x")
            rating = float(row["s_nom"]) * s_max[name]
            if rating <= 0:
                raise InputError(f"{what}: s_nom * s_max_pu = {rating}: PyPSA fixes its flow at 0; "
                                 f"give it a capacity or remove it")
            shift = (float(row["phase_shift"]) if comp == "Transformer" and phase_shifts == "include"
                     else 0.0)
            G.add_edge(row["bus0"], row["bus1"], x=x, r=float(row.get("r_pu_eff", 0.0)),
                       rating=rating, shift=shift, name=f"{comp}:{name}", component=comp)
    # one reference bus per island: the first bus of each (PyPSA's slack choice does not
    # change the LMPs)
    for comp in nx.weakly_connected_components(G):
        first = next(b for b in buses.index if b in comp)
        G.nodes[first]["ref"] = True
    return G


def from_pypsa(n, name=None, formulation="btheta", line_limits=True, currency="$",
               carbon=True, phase_shifts="include"):
    """A DC market of the PyPSA network ``n`` (see the module doc for the mapping).

    ``phase_shifts``: see :func:`pypsa_graph`; ``"ignore"`` reproduces ``n.optimize()`` on a
    network with phase-shifting transformers.
    ``carbon``: turn a ``primary_energy`` CO2 limit (``GlobalConstraint`` on
    ``co2_emissions``, sense ``<=``) into a :class:`~pyomo_ecc.policy.CarbonCap`. Returns the
    (unassembled) market; ``m.net`` is the network and ``m.pypsa_names`` the
    :class:`PypsaNames` the exports use.
    """
    from pyomo_ecc.core.market import Market
    from pyomo_ecc.network.dc import DCNetwork
    from pyomo_ecc.participants.load import FixedLoad
    from pyomo_ecc.participants.producer import Producer
    from pyomo_ecc.policy.carbon import CarbonCap

    _require_pypsa(n)
    for comp, why in UNSUPPORTED.items():
        table = _active(getattr(n, comp))
        if not table.empty:
            raise InputError(f"the network has {comp} {list(table.index)[:5]}: {why}")
    if getattr(n, "investment_periods", None) is not None and len(n.investment_periods):
        raise InputError("multi-period investment networks (investment_periods) are not imported")
    G = pypsa_graph(n, phase_shifts)
    snapshots = list(n.snapshots)
    dt = _weights(n)
    m = Market(name=name or (n.name or "pypsa"), periods=len(snapshots),
               dt=dt if len(set(dt)) > 1 else dt[0], power_unit="MW", currency=currency)
    names = PypsaNames(snapshots=snapshots)
    taken = set()

    gens = _active(n.generators)
    gnames = list(gens.index)
    pmax = _dense(n, "Generator", "p_max_pu", gnames)
    pmin = _dense(n, "Generator", "p_min_pu", gnames)
    mc = _constant(n, "Generator", "marginal_cost", gnames, "give a constant marginal_cost")
    mcq = (_constant(n, "Generator", "marginal_cost_quadratic", gnames,
                     "give a constant marginal_cost_quadratic")
           if "marginal_cost_quadratic" in gens.columns else {g: 0.0 for g in gnames})
    rho = _emission_rates(n, gens) if carbon else {}
    for g, row in gens.iterrows():
        what = f"Generator '{g}'"
        if bool(row.get("p_nom_extendable", False)):
            raise InputError(f"{what}: p_nom_extendable is not supported (the market does not "
                             f"invest); fix p_nom")
        if bool(row.get("committable", False)):
            raise InputError(f"{what}: committable generators are not imported")
        if float(row.get("sign", 1.0)) != 1.0:
            raise InputError(f"{what}: sign {row['sign']} is not supported (a generator injects)")
        if row["bus"] not in G:
            raise InputError(f"{what}: bus {row['bus']!r} is not an active bus of the network")
        p_nom = float(row["p_nom"])
        hi = [p_nom * float(v) for v in pmax[g]]
        lo = [p_nom * float(v) for v in pmin[g]]
        if min(lo) < 0 or min(hi) < 0:
            raise InputError(f"{what}: negative p_min_pu / p_max_pu (a generator that absorbs) is "
                             f"not supported")
        opts = dict(bus=row["bus"], b=mc[g], p_max=hi if len(set(hi)) > 1 else hi[0],
                    p_min=lo if len(set(lo)) > 1 else lo[0])
        if mcq[g]:
            opts["a"] = mcq[g]
        if g in rho:
            opts["emission_intensity"] = rho[g]
        comp = "gen_" + _safe(g, taken)
        m.add_component(comp, Producer(**opts))
        names.generators[comp] = g

    loads = _active(n.loads)
    p_set = _dense(n, "Load", "p_set", list(loads.index))
    for ld, row in loads.iterrows():
        if row["bus"] not in G:
            raise InputError(f"Load '{ld}': bus {row['bus']!r} is not an active bus of the network")
        sign = float(row.get("sign", -1.0))
        vals = [-sign * float(v) for v in p_set[ld]]   # the load's withdrawal
        comp = "load_" + _safe(ld, taken)
        m.add_component(comp, FixedLoad(bus=row["bus"], p=vals if len(set(vals)) > 1 else vals[0]))
        names.loads[comp] = ld
    for su, row in _active(n.storage_units).iterrows():
        comp = "storage_" + _safe(su, taken)
        m.add_component(comp, _storage_unit(n, su, row, G))
        names.storage_units[comp] = su
    for u, v, d in G.edges(data=True):
        names.branches[d["name"]] = tuple(d["name"].split(":", 1))
    m.pypsa_names = names
    m.net = DCNetwork(graph=G, formulation=formulation, line_limits=line_limits)
    cap = _co2_limit(n) if carbon else None
    if cap is not None:
        m.co2_limit = CarbonCap(cap=cap)
    return m


def _storage_unit(n, su, row, G):
    """The :class:`~pyomo_ecc.participants.storage.Storage` of a PyPSA storage unit."""
    from pyomo_ecc.participants.storage import Storage

    what = f"StorageUnit '{su}'"
    if row["bus"] not in G:
        raise InputError(f"{what}: bus {row['bus']!r} is not an active bus of the network")
    if bool(row.get("p_nom_extendable", False)):
        raise InputError(f"{what}: p_nom_extendable is not supported (the market does not "
                         f"invest); fix p_nom")
    if bool(row.get("cyclic_state_of_charge", False)):
        raise InputError(f"{what}: cyclic_state_of_charge is not supported (the market's storage "
                         f"starts from state_of_charge_initial); set it False")
    for attr in ("marginal_cost", "marginal_cost_storage", "marginal_cost_quadratic",
                 "standing_loss"):
        if attr in row and float(row[attr] or 0.0) != 0.0:
            raise InputError(f"{what}: {attr} = {row[attr]} is not supported (give 0)")
    for attr in ("inflow", "state_of_charge_set", "p_min_pu", "p_max_pu"):
        table = getattr(n.storage_units_t, attr, None)
        if table is not None and su in table.columns:
            col = table[su]
            if attr in ("inflow", "state_of_charge_set") and col.notna().any() and (col != 0).any():
                raise InputError(f"{what}: time-varying {attr} is not supported")
            if attr in ("p_min_pu", "p_max_pu"):
                raise InputError(f"{what}: time-varying {attr} is not supported")
    p_nom = float(row["p_nom"])
    return Storage(bus=row["bus"], e_max=p_nom * float(row["max_hours"]),
                   p_ch_max=max(-float(row["p_min_pu"]), 0.0) * p_nom,
                   p_dis_max=max(float(row["p_max_pu"]), 0.0) * p_nom,
                   eta_ch=float(row["efficiency_store"]), eta_dis=float(row["efficiency_dispatch"]),
                   e_0=float(row["state_of_charge_initial"]), terminal="free")


def _emission_rates(n, gens):
    """tCO2 per MWh of output of each generator whose carrier emits."""
    if "co2_emissions" not in n.carriers.columns:
        return {}
    co2 = n.carriers["co2_emissions"].to_dict()
    out = {}
    for g, row in gens.iterrows():
        c = float(co2.get(row.get("carrier"), 0.0) or 0.0)
        if c:
            eff = float(row.get("efficiency", 1.0))
            out[g] = c / eff
    return out


def _co2_limit(n):
    """The constant of a CO2 ``primary_energy`` global constraint, or None."""
    gc = _active(n.global_constraints)
    if gc.empty:
        return None
    co2 = gc[(gc["type"] == "primary_energy") & (gc["carrier_attribute"] == "co2_emissions")]
    other = [k for k in gc.index if k not in co2.index]
    if other:
        raise InputError(f"global constraint(s) {other[:5]}: only a primary_energy CO2 limit is "
                         f"imported")
    if len(co2) > 1:
        raise InputError(f"{len(co2)} CO2 limits {list(co2.index)}: give one")
    row = co2.iloc[0]
    if row["sense"] not in ("<=", "<"):
        raise InputError(f"global constraint '{co2.index[0]}': sense {row['sense']!r}; only <= is "
                         f"imported")
    return float(row["constant"])


# -- exports ---------------------------------------------------------------------------------
def _labels(market):
    """(snapshot labels by period, {participant: PyPSA or market name}, branch relabel)."""
    names = getattr(market, "pypsa_names", None)
    periods = list(market.T)
    if names is None:
        return periods, {}, {}
    return (names.snapshots, {**names.generators, **names.loads, **names.storage_units},
            {k: v[1] for k, v in names.branches.items()})


def _group(p):
    if p.block_kind() == "Storage":
        return "storage_units"
    return "generators" if p.policy_role() == "supply" else "loads"


def _market_of(model):
    from pyomo_ecc.core.market import markets_in
    from pyomo_ecc.pricing.prices import require_solved

    mks = markets_in(model)
    if len(mks) != 1:
        raise InputError(f"'{model.name}' holds {len(mks)} markets; export one market at a time")
    require_solved(mks[0])
    return mks[0]


def to_pypsa_frames(model):
    """Results of a solved market in the shapes PyPSA users read (see the module doc): a dict
    of DataFrames indexed ``snapshot``, one column per bus / generator / load / storage unit /
    branch. Loads are positive when they consume (PyPSA's ``loads_t.p``), generators and storage
    positive when they inject."""
    from pyomo_ecc.pricing.prices import prices

    mk = _market_of(model)
    snaps, rename, branch_name = _labels(mk)
    snap = dict(zip(mk.T, snaps))
    idx = pd.Index(snaps, name="snapshot")
    lmp = prices(mk)["lmp"].unstack("bus")
    order = list(dict.fromkeys(lmp.columns))
    buses = mk.get_network().buses()
    lmp = lmp.reindex(columns=[b for b in buses if b in order])
    lmp.index = pd.Index([snap[t] for t in lmp.index], name="snapshot")
    lmp.columns.name = "Bus"
    out = {"buses_t.marginal_price": lmp}
    groups = {"generators": {}, "loads": {}, "storage_units": {}}
    for p in mk.participants():
        g = _group(p)
        sign = -1.0 if g == "loads" else 1.0
        label = rename.get(p.local_name, p.local_name)
        groups[g][label] = [sign * pyo.value(p.p_inj[t]) + 0.0 for t in mk.T]
    for g, cols in groups.items():
        df = pd.DataFrame(cols, index=idx)
        df.columns.name = {"generators": "Generator", "loads": "Load",
                           "storage_units": "StorageUnit"}[g]
        out[f"{g}_t.p"] = df
    net = mk.get_network()
    if hasattr(net, "flows"):
        f = net.flows()["p_flow"].unstack("branch")
        comps = {}
        for br in f.columns:
            comps.setdefault(br.split(":", 1)[0] if ":" in str(br) and branch_name else "Line",
                             []).append(br)
        for comp, cols in comps.items():
            df = f[cols].copy()
            df.columns = pd.Index([branch_name.get(c, c) for c in cols], name=comp)
            df.index = idx
            out[{"Line": "lines_t.p0", "Transformer": "transformers_t.p0"}.get(comp, "lines_t.p0")] = df
    elif hasattr(net, "branch_flows"):
        f = net.branch_flows()["p_flow"].unstack("branch")
        f.index = idx
        f.columns.name = "Line"
        out["lines_t.p0"] = f
    return out


def to_pandapower_frames(model, t=None):
    """Results of one period ``t`` of a solved market (default: the only one) named as
    pandapower's OPF result tables (see the module doc): ``res_bus`` (``lam_p`` is the LMP in
    currency per MWh, ``p_mw`` the bus's net withdrawal), ``res_gen``, ``res_load``, ``res_line``."""
    from pyomo_ecc.pricing.prices import price_frame, prices

    mk = _market_of(model)
    periods = list(mk.T)
    if t is None:
        if len(periods) > 1:
            raise InputError(f"market '{mk.name}' has {len(periods)} periods: give t, one of "
                             f"{periods[:6]}{' ...' if len(periods) > 6 else ''}")
        t = periods[0]
    if t not in set(periods):
        raise InputError(f"unknown period {t!r}; the market's periods are {periods[:6]}")
    _, rename, branch_name = _labels(mk)
    net = mk.get_network()
    buses = net.buses()
    lam = prices(mk)["lmp"].xs(t, level="t")
    declared = {d.price for d in mk.price_declarations()}
    lam_q = price_frame(mk, "qlmp")["qlmp"].xs(t, level="t") if "qlmp" in declared else None
    withdraw = {b: 0.0 for b in buses}
    q_withdraw = {b: 0.0 for b in buses}
    for b, w in net.held_withdrawals(t).items():
        withdraw[b] += w
    for b, w in net.held_reactive_withdrawals(t).items():
        q_withdraw[b] += w
    for p in mk.participants():
        withdraw[p.bus] -= pyo.value(p.p_inj[t])
        q_withdraw[p.bus] -= pyo.value(p.q_inj[t])
    if hasattr(net, "v_sq"):
        vm = {b: math.sqrt(max(pyo.value(net.v_sq[b, t]), 0.0)) for b in buses}
    else:
        vm = {b: 1.0 for b in buses}    # DC power flow: flat voltage magnitudes
    if hasattr(net, "theta"):
        va = {b: math.degrees(pyo.value(net.theta[b, t])) for b in buses}
    else:
        va = {b: float("nan") for b in buses}
    res_bus = pd.DataFrame({"vm_pu": [vm[b] for b in buses], "va_degree": [va[b] for b in buses],
                            "p_mw": [withdraw[b] * mk.power_unit_mw + 0.0 for b in buses],
                            "q_mvar": [q_withdraw[b] * mk.power_unit_mw + 0.0 for b in buses],
                            "lam_p": [float(lam[b]) for b in buses]},
                           index=pd.Index(buses, name="bus"))
    if lam_q is not None:
        res_bus["lam_q"] = [float(lam_q[b]) for b in buses]
    gen, load = [], []
    for p in mk.participants():
        label = rename.get(p.local_name, p.local_name)
        row = (label, p.bus, pyo.value(p.p_inj[t]) * mk.power_unit_mw + 0.0,
               pyo.value(p.q_inj[t]) * mk.power_unit_mw + 0.0)
        (gen if _group(p) != "loads" else load).append(row)
    res_gen = pd.DataFrame([r[:2] + (r[2], r[3], vm[r[1]], va[r[1]]) for r in gen],
                           columns=["gen", "bus", "p_mw", "q_mvar", "vm_pu", "va_degree"]).set_index("gen")
    res_load = pd.DataFrame([(r[0], r[1], -r[2], -r[3]) for r in load],
                            columns=["load", "bus", "p_mw", "q_mvar"]).set_index("load")
    out = {"res_bus": res_bus, "res_gen": res_gen, "res_load": res_load}
    if hasattr(net, "flows"):
        f = net.flows().xs(t, level="t")
        u = mk.power_unit_mw
        load_pct = [abs(v) / r * 100.0 if math.isfinite(r) and r > 0 else float("nan")
                    for v, r in zip(f["p_flow"], f["rating"])]
        out["res_line"] = pd.DataFrame(
            {"p_from_mw": f["p_flow"].to_numpy() * u, "p_to_mw": -f["p_flow"].to_numpy() * u,
             "loading_percent": load_pct},
            index=pd.Index([branch_name.get(b, b) for b in f.index], name="line"))
    elif hasattr(net, "branch_flows"):
        f = net.branch_flows().xs(t, level="t")
        u = mk.power_unit_mw
        out["res_line"] = pd.DataFrame(
            {"from_bus": f["from_bus"], "to_bus": f["to_bus"], "p_from_mw": f["p_flow"] * u,
             "q_from_mvar": f["q_flow"] * u, "p_to_mw": -(f["p_flow"] - f["loss_p"]) * u,
             "pl_mw": f["loss_p"] * u})
        out["res_line"].index.name = "line"
    return out
