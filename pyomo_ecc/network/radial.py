r"""Radial feeders: graph checks and path matrices (no Pyomo here).

A radial feeder is a tree rooted at the substation bus :math:`0`. Each non-root bus :math:`j` has
exactly one parent :math:`i = \pi(j)` and is the receiving end of exactly one branch, which is
therefore labelled by :math:`j` (branch :math:`j` goes from :math:`\pi(j)` to :math:`j`).

With :math:`n` non-root buses, the reduced incidence matrix :math:`A \in \{0, \pm 1\}^{n\times n}`
(branches by non-root buses; the root's column removed) has :math:`A_{e,j} = 1` if branch
:math:`e` ends at :math:`j` and :math:`A_{e,i} = -1` if it starts at :math:`i`. It is invertible
for a tree, and its inverse is the path-to-root incidence, :math:`A^{-1} = \Pi` with
:math:`\Pi_{k,e} = 1 \iff e` lies on the path from the root to bus :math:`k`
(:math:`(A\Pi)_{e,e'} = \Pi_{e,e'} - \Pi_{\pi(e),e'} = \delta_{e,e'}`). The LinDistFlow
path matrices are

.. math::

    R = A^{-1}\,\mathrm{diag}(r)\,A^{-\top} = \Pi\,\mathrm{diag}(r)\,\Pi^{\top}, \qquad
    X = A^{-1}\,\mathrm{diag}(x)\,A^{-\top},

so :math:`R_{ki}` is the resistance of the part of the paths root :math:`\to k` and root
:math:`\to i` they have in common, and the lossless voltage sensitivities are
:math:`\partial v^2_k / \partial p^{load}_i = -2R_{ki}`, :math:`\partial v^2_k / \partial
q^{load}_i = -2X_{ki}` (per unit).

=============================  ======================  ==========================================
symbol                         attribute               meaning
=============================  ======================  ==========================================
:math:`0`                      ``root``                substation bus
:math:`\pi(j)`                 ``parent[j]``           parent bus of non-root bus ``j``
children                       ``children[i]``         buses fed from bus ``i``
:math:`A`                      ``incidence()``         reduced branch-bus incidence (DataFrame)
:math:`\Pi`                    ``path_to_root()``      bus-by-branch path incidence (DataFrame)
:math:`R, X`                   ``path_matrix("r")``    path resistance / reactance (DataFrame)
=============================  ======================  ==========================================

Example::

    >>> import networkx as nx
    >>> g = nx.Graph()
    >>> g.add_edge(0, 1, r=0.1, x=0.2); g.add_edge(1, 2, r=0.3, x=0.1)
    >>> f = RadialFeeder(g, root=0)
    >>> R = f.path_matrix("r")
    >>> round(float(R.loc[2, 2]), 12), round(float(R.loc[1, 2]), 12)
    (0.4, 0.1)
"""
from collections import deque

import networkx as nx
import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.network.graph import attribute_number, in_service


def _edge_label(u, v, key=None):
    return f"({u!r}, {v!r})" if key is None else f"({u!r}, {v!r}, key={key!r})"


def _as_undirected_multigraph(graph):
    """The graph's edges, parallel edges kept, direction dropped."""
    if not isinstance(graph, nx.Graph):
        raise InputError(f"expected a networkx graph, got {type(graph).__name__}")
    mg = nx.MultiGraph()
    mg.add_nodes_from(graph.nodes)
    if graph.is_multigraph():
        for u, v, k in graph.edges(keys=True):
            mg.add_edge(u, v, key=(u, v, k))
    else:
        for u, v in graph.edges():
            mg.add_edge(u, v, key=(u, v, None))
    return mg


def find_cycle(graph):
    """A cycle of ``graph`` as a list of buses (``[]`` if the graph is a forest).

    Parallel branches count as a cycle of two buses; self-loops as a cycle of one.
    """
    mg = _as_undirected_multigraph(graph)
    try:
        edges = nx.find_cycle(mg)
    except nx.NetworkXNoCycle:
        return []
    return [e[0] for e in edges]


def check_radial(graph, what="graph"):
    """Raise :class:`InputError` naming a cycle unless ``graph`` (any networkx graph) is a forest."""
    cycle = find_cycle(graph)
    if cycle:
        loop = " - ".join(map(repr, cycle + [cycle[0]]))
        raise InputError(f"{what} is not radial: it has the cycle {loop} "
                         f"(LinDistFlow and DistFlow need a tree; open a branch of this loop)")


def check_connected(graph, root, what="graph"):
    """Raise :class:`InputError` naming an island (buses not connected to ``root``)."""
    if root not in graph:
        raise InputError(f"{what}: the root (substation) bus {root!r} is not a node of the graph; "
                         f"buses are {sorted(map(repr, graph.nodes))[:20]}")
    ug = graph.to_undirected(as_view=True) if graph.is_directed() else graph
    reach = nx.node_connected_component(ug, root)
    if len(reach) != graph.number_of_nodes():
        islands = [c for c in nx.connected_components(ug) if root not in c]
        isl = sorted(islands[0], key=repr)
        shown = ", ".join(map(repr, isl[:20])) + (", ..." if len(isl) > 20 else "")
        raise InputError(f"{what} is not connected: the island {{{shown}}} ({len(isl)} bus(es)) has "
                         f"no path to the root bus {root!r}")


def find_root(graph, root=None, what="graph"):
    """The substation bus: ``root`` if given, else ``graph.graph['root']``, else the single node
    with attribute ``root=True`` (or ``ref=True``, the reference-bus flag of
    :mod:`pyomo_ecc.network.graph`)."""
    if root is not None:
        return root
    if graph.graph.get("root") is not None:
        return graph.graph["root"]
    flagged = [n for n, d in graph.nodes(data=True) if d.get("root") or d.get("ref")]
    if len(flagged) == 1:
        return flagged[0]
    if len(flagged) > 1:
        raise InputError(f"{what}: several buses are flagged root=True or ref=True: {flagged}; "
                         f"a feeder has exactly one substation bus")
    raise InputError(f"{what}: no root (substation) bus: give option ref_bus=..., set "
                     f"graph.graph['root'], or flag one node with root=True (or ref=True)")


class RadialFeeder:
    """A validated radial feeder (see module doc).

    ``graph``: any networkx graph (directions are ignored: branches are oriented away from the
    root; nodes and edges with ``in_service=False`` are left out); ``root``: the substation bus
    (see :func:`find_root`); ``required``: edge attributes every branch must carry (an
    :class:`InputError` names the first branch that misses one or has a non-finite value);
    ``optional``: edge attributes read when present (None otherwise). Branch attributes are read
    into ``branch_data`` (a DataFrame indexed by the receiving bus ``branch``, with ``from_bus``
    and ``to_bus``).
    """

    def __init__(self, graph, root=None, required=("r", "x"), optional=(), what="graph"):
        if not isinstance(graph, nx.Graph):
            raise InputError(f"{what}: expected a networkx graph, got {type(graph).__name__}")
        graph = in_service(graph)
        if graph.number_of_nodes() < 2:
            raise InputError(f"{what}: a feeder needs at least two buses and one branch")
        self.graph = graph
        self.root = find_root(graph, root, what)
        check_connected(graph, self.root, what)
        check_radial(graph, what)
        self._orient()
        rows = []
        for j in self.branches:
            i = self.parent[j]
            data = self._edge_data(i, j)
            row = {"from_bus": i, "to_bus": j}
            for attr in required:
                if attr not in data or data[attr] is None:
                    raise InputError(f"{what}: branch {_edge_label(i, j)} has no attribute '{attr}' "
                                     f"(every branch needs {list(required)})")
                row[attr] = attribute_number(data[attr], f"{what}: branch {_edge_label(i, j)} "
                                                         f"attribute '{attr}'", allow_inf=False)
            for attr in optional:
                val = data.get(attr)
                row[attr] = (None if val is None else
                             attribute_number(val, f"{what}: branch {_edge_label(i, j)} "
                                                   f"attribute '{attr}'"))
            rows.append(row)
        self.branch_data = pd.DataFrame(rows, index=pd.Index(self.branches, name="branch"))

    def _edge_data(self, i, j):
        g = self.graph
        if g.has_edge(i, j):
            d = g.get_edge_data(i, j)
        else:
            d = g.get_edge_data(j, i)
        if g.is_multigraph():  # a tree has one edge per pair (parallel edges are cycles)
            d = next(iter(d.values()))
        return d

    def _orient(self):
        ug = self.graph.to_undirected(as_view=True) if self.graph.is_directed() else self.graph
        self.parent = {}
        self.children = {n: [] for n in self.graph.nodes}
        order = [self.root]
        queue = deque([self.root])
        seen = {self.root}
        while queue:
            i = queue.popleft()
            for j in ug.neighbors(i):
                if j not in seen:
                    seen.add(j)
                    self.parent[j] = i
                    self.children[i].append(j)
                    order.append(j)
                    queue.append(j)
        #: buses in breadth-first order from the root (root first)
        self.order = order
        #: buses in the graph's own node order
        self.buses = list(self.graph.nodes)
        #: non-root buses in the graph's node order; branch j ends at bus j
        self.branches = [b for b in self.buses if b != self.root]

    # -- topology ------------------------------------------------------------------------------
    def path(self, bus):
        """Branches (labelled by their receiving bus) from the root down to ``bus``."""
        out = []
        while bus != self.root:
            out.append(bus)
            bus = self.parent[bus]
        return out[::-1]

    def downstream(self, bus):
        """Buses fed through ``bus`` (itself included)."""
        out, stack = [], [bus]
        while stack:
            b = stack.pop()
            out.append(b)
            stack.extend(self.children[b])
        return out

    def incidence(self):
        r"""Reduced incidence :math:`A` (rows: branches, columns: non-root buses)."""
        idx = {b: k for k, b in enumerate(self.branches)}
        a = np.zeros((len(self.branches), len(self.branches)))
        for e, j in enumerate(self.branches):
            a[e, idx[j]] = 1.0
            i = self.parent[j]
            if i != self.root:
                a[e, idx[i]] = -1.0
        return pd.DataFrame(a, index=pd.Index(self.branches, name="branch"),
                            columns=pd.Index(self.branches, name="bus"))

    def path_to_root(self):
        r"""Path incidence :math:`\Pi` (rows: non-root buses, columns: branches)."""
        idx = {b: k for k, b in enumerate(self.branches)}
        pi = np.zeros((len(self.branches), len(self.branches)))
        for k, bus in enumerate(self.branches):
            for e in self.path(bus):
                pi[k, idx[e]] = 1.0
        return pd.DataFrame(pi, index=pd.Index(self.branches, name="bus"),
                            columns=pd.Index(self.branches, name="branch"))

    def path_matrix(self, attr="r", include_root=False):
        r""":math:`A^{-1}\mathrm{diag}(w)A^{-\top}` for the branch attribute ``attr`` (``r`` gives
        :math:`R`, ``x`` gives :math:`X`); rows and columns are non-root buses (with a zero row
        and column for the root if ``include_root``)."""
        if attr not in self.branch_data:
            raise InputError(f"no branch attribute '{attr}' was read; read ones are "
                             f"{[c for c in self.branch_data if c not in ('from_bus', 'to_bus')]}")
        a = self.incidence().to_numpy()
        w = self.branch_data[attr].to_numpy(dtype=float)
        ainv = np.linalg.inv(a)
        mat = ainv @ np.diag(w) @ ainv.T
        labels = list(self.branches)
        if include_root:
            mat = np.pad(mat, ((1, 0), (1, 0)))
            labels = [self.root] + labels
        return pd.DataFrame(mat, index=pd.Index(labels, name="bus"),
                            columns=pd.Index(labels, name="bus_j"))


def synthetic_feeder(n, rng, base_kv=12.66, base_mva=10.0, load_mw=(0.002, 0.008), pf=0.95,
                     window=25, length_km=(0.05, 0.3), ohm_per_km=(0.25, 0.45), x_over_r=(0.8, 1.6)):
    r"""A seeded synthetic radial feeder: a networkx tree of ``n`` buses ``0..n-1`` (root 0).

    Bus :math:`k \ge 1` hangs from a parent drawn uniformly from the ``window`` buses before it,
    so the tree is long and branched like a distribution feeder (depth about :math:`2n/w`).
    Each line has a length in ``length_km`` (km), a resistance in ``ohm_per_km`` and an
    :math:`x/r` ratio in ``x_over_r``, converted to per unit on ``base_mva`` and ``base_kv``;
    every non-root bus has an active load in ``load_mw`` (MW) at power factor ``pf``. All draws
    come from ``rng`` (a :class:`numpy.random.Generator`), so a seed fixes the feeder.
    ``graph.graph`` holds ``root`` and ``base_mva``.

    >>> import numpy as np
    >>> g = synthetic_feeder(50, np.random.default_rng(1))
    >>> g.number_of_nodes(), g.number_of_edges(), len(find_cycle(g))
    (50, 49, 0)
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if int(n) != n or n < 2:
        raise InputError(f"a feeder needs at least two buses, got n = {n!r}")
    n = int(n)
    z_base = base_kv ** 2 / base_mva
    g = nx.Graph(root=0, base_mva=base_mva)
    g.add_node(0, load=0.0, q_load=0.0)
    tan = float(np.tan(np.arccos(pf)))
    for k in range(1, n):
        parent = int(rng.integers(max(0, k - window), k))
        length = rng.uniform(*length_km)
        r_ohm = length * rng.uniform(*ohm_per_km)
        x_ohm = r_ohm * rng.uniform(*x_over_r)
        p = float(rng.uniform(*load_mw))
        g.add_node(k, load=p, q_load=p * tan)
        g.add_edge(parent, k, r=r_ohm / z_base, x=x_ohm / z_base)
    return g
