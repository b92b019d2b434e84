r"""DC-OPF market models: a meshed network from a case file, or a MATPOWER case.

``model = "dc_market"``: a ``[network]`` table, one ``[[bus]]`` entry per bus and one
``[[line]]`` entry per branch, plus the usual participants::

    [network]
    type = "dc"
    base_mva = 100.0          # per-unit base of the line reactances
    formulation = "btheta"    # or "ptdf"
    convention = "matpower"   # or "dcp"
    ref_bus = 1               # optional; also slack = "ref" | "distributed", line_limits = true

    [[bus]]                   # id; optional load (power units: one number or one per period), ref
    [[line]]                  # from, to, x (pu); optional r, b, tap, shift (deg), rating, name

Bus loads become :class:`~pyomo_ecc.FixedLoad` participants named ``load_<id>`` (so the
surplus table shows what loads pay).

``model = "matpower"``: ``[network]`` with ``file`` (a MATPOWER ``.m`` file in the case
library) and optionally ``formulation``, ``convention``, ``slack``, ``line_limits``, and
``load_profile`` (one multiplier per period).

``dc_report(m)`` gives the tables ``pyomo-ecc run`` prints: LMPs by period (rows) and bus
(columns), their energy / congestion split, and the line flows with their limits.
"""
import networkx as nx

from pyomo_ecc.core.market import Market
from pyomo_ecc.errors import InputError
from pyomo_ecc.models.market import MARKET_KEYS, PARTICIPANT_BLOCKS
from pyomo_ecc.network.dc import DCNetwork
from pyomo_ecc.participants.load import FixedLoad

NETWORK_KEYS = {"type", "base_mva", "formulation", "convention", "ref_bus", "slack",
                "slack_weights", "line_limits"}
BUS_KEYS = {"id", "load", "ref"}
LINE_KEYS = {"from", "to", "x", "r", "b", "tap", "shift", "rating", "in_service", "name"}
MATPOWER_KEYS = {"type", "file", "formulation", "convention", "slack", "line_limits",
                 "load_profile"}


def _check_keys(case, where, entry, allowed):
    if not isinstance(entry, dict):
        raise InputError(f"case '{case.name}': {where} is not a table")
    bad = sorted(set(entry) - allowed)
    if bad:
        raise InputError(f"case '{case.name}': {where}: unknown key(s) {bad}; allowed are {sorted(allowed)}")


def dc_graph(case):
    """The case's network as a networkx ``MultiDiGraph`` (loads are not on it: see module doc)."""
    net = dict(case.data.get("network", {}))
    G = nx.MultiDiGraph(base_mva=float(net.get("base_mva", 100.0)))
    for k, bus in enumerate(case.data.get("bus", [])):
        where = f"[[bus]] entry {k}"
        _check_keys(case, where, bus, BUS_KEYS)
        if "id" not in bus:
            raise InputError(f"case '{case.name}': {where} needs an 'id'")
        if bus["id"] in G:
            raise InputError(f"case '{case.name}': {where}: duplicate bus id {bus['id']!r}")
        G.add_node(bus["id"], ref=bool(bus.get("ref", False)))
    for k, line in enumerate(case.data.get("line", [])):
        where = f"[[line]] entry {k}"
        _check_keys(case, where, line, LINE_KEYS)
        for key in ("from", "to", "x"):
            if key not in line:
                raise InputError(f"case '{case.name}': {where} needs '{key}'")
        for key in ("from", "to"):
            if line[key] not in G:
                raise InputError(f"case '{case.name}': {where}: '{key}' bus {line[key]!r} is not a [[bus]]")
        attrs = {a: v for a, v in line.items() if a not in ("from", "to")}
        attrs.setdefault("name", f"{line['from']}-{line['to']}"
                         + ("" if not G.has_edge(line["from"], line["to"]) else f"#{k}"))
        G.add_edge(line["from"], line["to"], **attrs)
    if G.number_of_nodes() == 0:
        raise InputError(f"case '{case.name}': a 'dc_market' case needs [[bus]] and [[line]] entries")
    return G


def build_dc_market(case):
    """Build a ``dc_market`` case (not yet assembled; the network is ``m.network``)."""
    net = dict(case.data.get("network", {}))
    _check_keys(case, "[network]", net, NETWORK_KEYS)
    if net.pop("type", "dc") != "dc":
        raise InputError(f"case '{case.name}': the 'dc_market' model needs [network] type = \"dc\"")
    net.pop("base_mva", None)
    meta = case.meta
    m = Market(name=case.name, **{k: meta[k] for k in MARKET_KEYS if k in meta})
    G = dc_graph(case)
    for section, block in PARTICIPANT_BLOCKS.items():
        for name, opts in case.participants(section):
            m.add_component(name, block(**opts))
    for bus in case.data.get("bus", []):
        if "load" in bus:
            m.add_component(f"load_{bus['id']}", FixedLoad(bus=bus["id"], p=bus["load"]))
    if isinstance(net.get("slack_weights"), dict):  # TOML table keys are strings: map to bus ids
        ids = {str(b): b for b in G.nodes}
        net["slack_weights"] = {ids.get(str(k), k): v for k, v in net["slack_weights"].items()}
    m.network = DCNetwork(graph=G, **net)
    return m


def build_matpower_model(case):
    """Build a ``matpower`` case: the MATPOWER file named in ``[network] file``."""
    from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case

    net = dict(case.data.get("network", {}))
    _check_keys(case, "[network]", net, MATPOWER_KEYS)
    if "file" not in net:
        raise InputError(f"case '{case.name}': [network] needs 'file' (a MATPOWER .m file)")
    mpc = load_matpower_case(net.pop("file"))
    net.pop("type", None)
    meta = case.meta
    opts = {k: meta[k] for k in ("periods", "dt") if k in meta}
    return build_matpower_market(mpc, name=case.name, **opts, **net)


def dc_report(model):
    """LMPs by period and bus, their components, and line flows (``{title: DataFrame}``)."""
    from pyomo_ecc.pricing.components import lmp_components
    from pyomo_ecc.pricing.prices import prices

    cur = model.config.currency
    net = model.get_network()
    lmp = prices(model)["lmp"].unstack("bus") + 0.0  # + 0.0 turns -0.0 into 0.0
    comp = lmp_components(model)
    cong = comp["congestion"].unstack("bus") + 0.0
    flows = net.flows()
    f = flows["p_flow"].unstack("branch")
    out = {f"LMP [{cur}/MWh] by period (rows) and bus (columns)": lmp,
           f"energy component [{cur}/MWh] by period ({comp.attrs['slack']})":
               comp["energy"].groupby(level="t").first().to_frame("energy"),
           f"congestion component [{cur}/MWh] by period and bus": cong,
           f"line flows [{model.config.power_unit}] by period and branch": f}
    limited = list(net.branch_limited)
    if limited:
        rating = flows["rating"].groupby(level="branch").first()[limited]
        out[f"line ratings [{model.config.power_unit}]"] = rating.to_frame("rating").T
    return out
