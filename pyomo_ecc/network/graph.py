r"""Graphs to tables: networkx in, validated pandas bus and branch tables out.

Graph handling is kept apart from the constraint mathematics: every network formulation reads
the two tables made here, never the graph itself.

Input: a networkx ``Graph``, ``DiGraph``, ``MultiGraph`` or ``MultiDiGraph``. Parallel lines
are edges of a multigraph, told apart by their key. An edge's direction (``u -> v`` as stored)
is the branch's from -> to direction, which fixes the sign of its flow; for undirected graphs
it is the order networkx stores the edge in. Node and edge attributes:

====================  ======  ============================================================
attribute             where   meaning (default)
====================  ======  ============================================================
``load``              node    active load, power units: a number or one per period (0)
``q_load``            node    reactive load, power units (0)
``gs``                node    shunt conductance: power (power units) consumed at 1 pu (0)
``ref``               node    True for a reference (slack) bus (False)
``type``              node    MATPOWER bus type; 3 marks a reference bus, 4 an isolated one
``in_service``        both    False drops the element (True)
``r``, ``x``          edge    series resistance and reactance, per unit on ``base_mva``
                              (``x`` required; ``r`` 0)
``b``                 edge    total line charging susceptance, per unit (0)
``tap``               edge    off-nominal turns ratio :math:`\tau`; 0 means 1 (MATPOWER)
``shift``             edge    phase shift :math:`\varphi` in degrees (0)
``rating``            edge    flow limit in power units; 0, None or inf = no limit
``name``              edge    branch label (default ``"u-v"``, ``"u-v-key"`` in multigraphs)
====================  ======  ============================================================

The graph attribute ``G.graph["base_mva"]`` (default 100) is the per-unit power base. Other
node and edge attributes are copied into the tables as extra columns.

Tables (:func:`graph_to_tables`):

* buses, index ``bus``: ``load``, ``q_load``, ``gs``, ``ref`` and any extra attributes;
* branches, index ``branch``: ``from_bus``, ``to_bus``, ``key``, ``r``, ``x``, ``b``,
  ``tap`` (1 where the input had 0), ``shift`` (degrees), ``rating`` (inf when unlimited),
  ``in_service`` and any extra attributes.

Validation (each raises :class:`~pyomo_ecc.errors.InputError` naming the edge or bus):
missing required attributes, non-numeric values, non-positive reactance (negative reactance,
e.g. series compensation, only with ``allow_negative_x=True``), negative ratings, self loops,
and islands (connected components of the in-service branches) without a reference bus
(:func:`check_islands`).

Example::

    >>> import networkx as nx
    >>> from pyomo_ecc.network.graph import graph_to_tables
    >>> G = nx.MultiGraph()
    >>> G.add_node(1, ref=True)
    >>> G.add_node(2, load=50)
    >>> _ = G.add_edge(1, 2, x=0.1, rating=40)
    >>> _ = G.add_edge(1, 2, x=0.2, rating=30)
    >>> buses, branches = graph_to_tables(G)
    >>> list(branches.index), list(branches.rating)
    (['1-2-0', '1-2-1'], [40.0, 30.0])
"""
import math
from numbers import Number

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from pyomo_ecc.core.config import series
from pyomo_ecc.errors import InputError

#: default per-unit power base (MVA)
DEFAULT_BASE_MVA = 100.0
#: bus table columns always present, with their defaults
BUS_DEFAULTS = {"load": 0.0, "q_load": 0.0, "gs": 0.0, "ref": False}
#: branch table columns always present, with their defaults (``x`` has none: it is required)
BRANCH_DEFAULTS = {"r": 0.0, "b": 0.0, "tap": 1.0, "shift": 0.0, "rating": math.inf,
                   "in_service": True}
BRANCH_COLUMNS = ("from_bus", "to_bus", "key", "r", "x", "b", "tap", "shift", "rating",
                  "in_service")


def _edge_label(u, v, key, multi):
    return f"{u}-{v}-{key}" if multi else f"{u}-{v}"


def _edge_name(u, v, key, multi):
    return f"edge ({u!r}, {v!r}, key={key!r})" if multi else f"edge ({u!r}, {v!r})"


def graph_option(x):
    """The domain of a network's ``graph`` option: None or a networkx graph."""
    if x is not None and not isinstance(x, nx.Graph):
        raise ValueError(f"expected a networkx graph, got {type(x).__name__}")
    return x


def attribute_number(value, what, allow_inf=True):
    """A number read from a graph attribute (meshed networks and feeders alike): strings,
    booleans and NaN are refused, and infinity unless ``allow_inf``; the error starts with
    ``what`` (the bus or branch and the attribute)."""
    if isinstance(value, bool) or not isinstance(value, (Number, np.number)):
        raise InputError(f"{what}: expected a number, got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise InputError(f"{what}: value is NaN")
    if math.isinf(v) and not allow_inf:
        raise InputError(f"{what}: must be finite, got {v}")
    return v


def in_service(graph):
    """A read-only view of ``graph`` without the nodes and edges whose ``in_service`` is False."""
    def node_ok(n):
        return graph.nodes[n].get("in_service", True) is not False

    if graph.is_multigraph():
        def edge_ok(u, v, k):
            return graph.edges[u, v, k].get("in_service", True) is not False
    else:
        def edge_ok(u, v):
            return graph.edges[u, v].get("in_service", True) is not False
    return nx.subgraph_view(graph, filter_node=node_ok, filter_edge=edge_ok)


def _load_value(value, what):
    """A load: a number or a sequence of numbers (one per period), as every block reads one
    (:func:`pyomo_ecc.core.config.series`); returned as float or tuple."""
    try:
        return series(value)
    except ValueError as e:
        raise InputError(f"{what}: {e}") from None


def graph_to_tables(G, required=("x",), allow_negative_x=False, drop_out_of_service=True):
    """Bus and branch tables of a networkx graph (see the module doc for attributes).

    ``required``: edge attributes that must be present on every in-service edge (``("x",)``
    for DC power flow; a radial formulation may ask for ``("r", "x")``).
    ``allow_negative_x``: accept negative reactances (series capacitors); zero is never
    accepted. ``drop_out_of_service``: leave out buses and branches with ``in_service=False``
    (a branch touching a dropped bus is dropped too).

    Returns ``(buses, branches)``; ``buses.attrs["base_mva"]`` holds the per-unit base.
    """
    if not isinstance(G, nx.Graph):
        raise InputError(f"expected a networkx Graph, DiGraph, MultiGraph or MultiDiGraph, got "
                         f"{type(G).__name__}")
    if G.number_of_nodes() == 0:
        raise InputError("the network graph has no buses")
    base = attribute_number(G.graph.get("base_mva", DEFAULT_BASE_MVA), "graph attribute 'base_mva'")
    if not base > 0 or math.isinf(base):
        raise InputError(f"graph attribute 'base_mva' must be a positive number, got {base}")
    multi = G.is_multigraph()

    bus_rows, bus_index, extra_bus = [], [], []
    for n, attrs in G.nodes(data=True):
        if isinstance(n, bool) or not isinstance(n, (str, int, np.integer)):
            raise InputError(f"bus {n!r}: buses are named by strings or integers")
        n = n.item() if isinstance(n, np.integer) else n
        in_service = bool(attrs.get("in_service", True)) and attrs.get("type", 1) != 4
        if not in_service and drop_out_of_service:
            continue
        row = dict(BUS_DEFAULTS)
        for k, v in attrs.items():
            if k in ("load", "q_load"):
                row[k] = _load_value(v, f"bus {n!r}: attribute '{k}'")
            elif k == "gs":
                row[k] = attribute_number(v, f"bus {n!r}: attribute 'gs'")
            elif k == "ref":
                row[k] = bool(v)
            else:
                row[k] = v
                if k not in extra_bus:
                    extra_bus.append(k)
        if attrs.get("type") == 3:
            row["ref"] = True
        row["in_service"] = in_service
        bus_index.append(n)
        bus_rows.append(row)
    buses = pd.DataFrame(bus_rows, index=pd.Index(bus_index, name="bus"))
    buses["ref"] = buses["ref"].astype(bool)
    known = set(bus_index)

    rows, labels, seen = [], [], set()
    edges = G.edges(keys=True, data=True) if multi else ((u, v, None, d) for u, v, d in G.edges(data=True))
    for u, v, key, attrs in edges:
        what = _edge_name(u, v, key, multi)
        if u == v:
            raise InputError(f"{what}: a branch cannot connect a bus to itself")
        in_service = bool(attrs.get("in_service", True))
        if drop_out_of_service and (not in_service or u not in known or v not in known):
            continue
        missing = [a for a in required if a not in attrs or attrs[a] is None]
        if missing:
            raise InputError(f"{what}: missing required attribute(s) {missing}")
        row = {"from_bus": u, "to_bus": v, "key": key}
        for k, dflt in BRANCH_DEFAULTS.items():
            val = attrs.get(k, dflt)
            if k == "in_service":
                row[k] = bool(val)
            elif k == "rating":
                row[k] = math.inf if val is None else attribute_number(val, f"{what}: attribute 'rating'")
                if row[k] < 0:
                    raise InputError(f"{what}: rating must be >= 0 (0 means no limit), got {row[k]}")
                if row[k] == 0:
                    row[k] = math.inf
            else:
                row[k] = attribute_number(val, f"{what}: attribute '{k}'")
        for k in ("r", "b", "tap", "shift"):
            if math.isinf(row[k]):
                raise InputError(f"{what}: attribute '{k}' must be finite")
        if "x" in attrs:
            x = attribute_number(attrs["x"], f"{what}: attribute 'x'")
            if x == 0 or math.isinf(x):
                raise InputError(f"{what}: reactance x must be non-zero and finite, got {x}")
            if x < 0 and not allow_negative_x:
                raise InputError(f"{what}: non-positive reactance x = {x} (a series capacitor? "
                                 f"pass allow_negative_x=True to accept it)")
            row["x"] = x
        else:
            row["x"] = math.nan
        if row["tap"] == 0:
            row["tap"] = 1.0
        if row["tap"] < 0:
            raise InputError(f"{what}: tap ratio must be > 0 (0 means 1), got {row['tap']}")
        label = attrs.get("name", _edge_label(u, v, key, multi))
        if label in seen:
            raise InputError(f"{what}: duplicate branch name {label!r}")
        seen.add(label)
        for k, val in attrs.items():
            if k not in row and k != "name":
                row[k] = val
        labels.append(label)
        rows.append(row)
    branches = pd.DataFrame(rows, index=pd.Index(labels, name="branch"))
    for col in BRANCH_COLUMNS:
        if col not in branches:
            branches[col] = pd.Series(dtype=float)
    cols = list(BRANCH_COLUMNS) + [c for c in branches.columns if c not in BRANCH_COLUMNS]
    branches = branches[cols]
    buses.attrs["base_mva"] = base
    branches.attrs["base_mva"] = base
    return buses, branches


def islands(buses, branches):
    """Connected components of the in-service branches: a list of lists of bus labels, each in
    the bus table's order, islands ordered by their first bus."""
    g = nx.Graph()
    g.add_nodes_from(buses.index)
    live = branches[branches["in_service"].astype(bool)] if len(branches) else branches
    g.add_edges_from(zip(live["from_bus"], live["to_bus"]))
    pos = {b: k for k, b in enumerate(buses.index)}
    comps = [sorted(c, key=pos.__getitem__) for c in nx.connected_components(g)]
    return sorted(comps, key=lambda c: pos[c[0]])


def reference_buses(buses, branches, ref=None):
    """One reference bus per island.

    ``ref``: a bus label or a list of them (overrides the ``ref`` column); otherwise the buses
    flagged ``ref`` in the table. A single island without any flagged bus takes its first bus.
    Raises :class:`InputError` for an unknown reference bus, an island with no reference bus
    (naming the island's buses) or an island with more than one.
    """
    if ref is None:
        refs = list(buses.index[buses["ref"].astype(bool)])
    else:
        refs = list(ref) if isinstance(ref, (list, tuple, set)) else [ref]
        unknown = [r for r in refs if r not in buses.index]
        if unknown:
            raise InputError(f"reference bus(es) {unknown} not in the network")
    comps = islands(buses, branches)
    if not refs and len(comps) == 1:
        return [comps[0][0]]
    where = {b: k for k, comp in enumerate(comps) for b in comp}
    out = []
    for k, comp in enumerate(comps):
        mine = [r for r in refs if where[r] == k]
        if not mine:
            shown = comp if len(comp) <= 10 else comp[:10] + ["..."]
            raise InputError(f"island {k} (buses {shown}) has no reference bus: connect it, "
                             f"drop it, or mark one of its buses ref=True")
        if len(mine) > 1:
            raise InputError(f"island {k} has {len(mine)} reference buses {mine}; give one")
        out.append(mine[0])
    return out


def check_islands(buses, branches, ref=None):
    """Raise :class:`InputError` if an island has no reference bus; see :func:`reference_buses`."""
    reference_buses(buses, branches, ref)


def tables_to_graph(buses, branches, base_mva=None):
    """The inverse of :func:`graph_to_tables`: a ``MultiDiGraph`` with the tables' attributes."""
    G = nx.MultiDiGraph()
    G.graph["base_mva"] = float(base_mva if base_mva is not None
                                else buses.attrs.get("base_mva", DEFAULT_BASE_MVA))
    for bus, row in buses.iterrows():
        G.add_node(bus, **{k: v for k, v in row.items() if not _is_missing(v)})
    for label, row in branches.iterrows():
        attrs = {k: v for k, v in row.items()
                 if k not in ("from_bus", "to_bus", "key") and not _is_missing(v)}
        if attrs.get("rating") == math.inf:
            attrs["rating"] = None
        G.add_edge(row["from_bus"], row["to_bus"], name=label, **attrs)
    return G


def _is_missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def incidence(buses, branches):
    r"""Branch-bus incidence matrix :math:`A` (sparse, n_branch x n_bus): +1 at the from bus,
    -1 at the to bus, rows and columns in table order."""
    pos = {b: k for k, b in enumerate(buses.index)}
    nl = len(branches)
    try:
        f = np.array([pos[b] for b in branches["from_bus"]], dtype=int)
        t = np.array([pos[b] for b in branches["to_bus"]], dtype=int)
    except KeyError as e:
        raise InputError(f"a branch connects unknown bus {e.args[0]!r}") from None
    rows = np.concatenate([np.arange(nl), np.arange(nl)])
    data = np.concatenate([np.ones(nl), -np.ones(nl)])
    return sp.csr_matrix((data, (rows, np.concatenate([f, t]))), shape=(nl, len(pos)))
