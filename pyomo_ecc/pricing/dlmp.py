r"""Distribution LMPs: decompose a solved feeder market's nodal prices into components.

Everything comes from the same solved model: the prices its network *declares*
(:mod:`~pyomo_ecc.pricing.declarations`, published by :func:`~pyomo_ecc.pricing.prices.price_frame`)
and the feeder's sensitivities. One more unit of active load at bus :math:`i` is served from
the root; on its way it raises the flow of every branch :math:`e \in \mathrm{path}(i)` by one
unit and lowers every squared voltage :math:`v_k` by :math:`2 R_{ki}/S_{base}` per MW. Each
limit it tightens adds its price times that tightening. For LinDistFlow (``method="path"``):

.. math::

    \mathrm{DLMP}_{i,t} = \underbrace{\lambda_{0,t}}_{\text{energy}}
      + \underbrace{0}_{\text{loss}}
      + \underbrace{\sum_{e \in \mathrm{path}(i)} \sum_{k} \cos\theta_k\,\pi^{S}_{e,t,k}}_{
        \text{congestion}}
      + \underbrace{\sum_{k} \frac{2 R_{ki}}{S_{base}}\,(\underline{\pi}_{k,t} - \overline{\pi}_{k,t})}_{
        \text{voltage}}

with :math:`\lambda_{0,t}` the published ``lmp`` of the root (the energy reference is the
substation bus), :math:`\pi^S \ge 0` the ``branch_price`` of each polygon side (currency per MWh
of rating), :math:`\underline{\pi}, \overline{\pi} \ge 0` the ``v_min_price`` and
``v_max_price`` (currency per pu² per hour). The sums are tree walks, :math:`O(n)` per period:
the voltage prices are summed up each subtree (:math:`M_e = \sum_{k \text{ below } e}
(\underline{\pi}_k - \overline{\pi}_k)`), and walked down from the root
(:math:`\mathrm{volt}_j = \mathrm{volt}_{\pi(j)} + 2 r_j M_j / S_{base}`); no path matrix is
formed. The reactive price ``qlmp`` decomposes the same way with :math:`\sin\theta_k` and
:math:`X`.

The nodal price ``lmp`` is the published one (``ecc.prices(m)``); that the components sum to it
is the KKT stationarity of the flow and voltage variables, and :func:`dlmp` checks it
(``check=True``) on every bus.

**At an operating point** (``method="jacobian"``, the default for
:class:`~pyomo_ecc.network.ac_distflow.ACDistFlow` and
:class:`~pyomo_ecc.network.lindistflow.LinDistFlowLosses`; it also works for LinDistFlow, where
it reproduces the tree walk). Let :math:`y` be the network's state variables in period
:math:`t` (flows, squared voltages and currents) and :math:`E(y) = b` its equality constraints
(balances, voltage drops, currents, root voltage), with the participants' injections held at
their solved values. One more unit of load at bus :math:`i`, supplied from the root, moves the
state by :math:`dy` and the root's active and reactive supply by :math:`dp_0, dq_0`, solving

.. math::

    J\,z = e_i, \qquad J = [\,J_E \;\; e_{p,0} \;\; e_{q,0}\,], \quad z = (dy, dp_0, dq_0)

(:math:`J_E = \partial E/\partial y` at the solution, a sparse matrix with a tree's
structure). Stationarity in :math:`y` then gives, at every KKT point of the solved model,

.. math::

    \mathrm{DLMP}_i = \underbrace{\lambda^p_0}_{\text{energy}}
      + \underbrace{\lambda^p_0 (dp_0 - 1) + \lambda^q_0\,dq_0}_{\text{loss}}
      \underbrace{- \sum_{k \in \text{branch}} \mu_k\,\nabla g_k\cdot dy}_{\text{congestion}}
      \underbrace{- \sum_{k \in \text{voltage}} \mu_k\,\nabla g_k\cdot dy}_{\text{voltage}}

where :math:`dp_0 - 1` is the marginal loss factor of bus :math:`i` and :math:`\mu_k` the
multiplier behind each declared limit price (:math:`\mu = s\,\pi\,w`). Each component is a linear
function :math:`c^\top z` of the response, so all buses come from one adjoint solve
:math:`J^\top a = c` per component (one sparse LU factorisation per period, no dense
:math:`n \times n` work): :math:`\mathrm{component}_i = a_{\mathrm{row}(i)}`. Multipliers of
variable bounds (:math:`v, \ell \ge 0`) are not used: they are inactive on a loaded feeder.

=========================  ==========================  ==========================================
column                     meaning                     source
=========================  ==========================  ==========================================
``lmp``                    nodal price                 ``price_frame(m, "lmp")``
``energy``                 price at the substation     ``lmp`` of the root
``loss``                   marginal losses             0 (lossless); loss factors at the
                                                       operating point (``jacobian``)
``congestion``             branch limits               ``branch_price`` on the path to root
``voltage``                voltage limits              ``v_min_price``, ``v_max_price``
=========================  ==========================  ==========================================

Example::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.lindistflow import LinDistFlow
    >>> g = nx.Graph(); g.add_edge(0, 1, r=0.05, x=0.02)
    >>> g.nodes[1]["load"] = 2.0
    >>> m = ecc.Market()
    >>> m.grid = ecc.Producer(bus=0, b=40.0, p_max=10)
    >>> m.der = ecc.Producer(bus=1, b=70.0, p_max=10)
    >>> m.net = LinDistFlow(graph=g, ref_bus=0, base_mva=1.0, v_min=0.95)
    >>> _ = ecc.solve(m)
    >>> dlmp(m).round(6).loc[(1, 0)].tolist()     # lmp, energy, loss, congestion, voltage
    [70.0, 40.0, 0.0, 0.0, 30.0]
"""
from collections import defaultdict

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import ModelError, PriceError
from pyomo_ecc.pricing.prices import price_frames, price_weight

COMPONENTS = ("energy", "loss", "congestion", "voltage")
#: the limit prices a radial network declares, and the component each one forms
LIMIT_PRICES = {"branch_price": "congestion", "v_min_price": "voltage", "v_max_price": "voltage"}


def _network(model):
    from pyomo_ecc.network.lindistflow import RadialNetworkData
    nets = []
    for mk in markets_in(model):
        net = mk.get_network()
        if isinstance(net, RadialNetworkData):
            nets.append((mk, net))
    if not nets:
        raise ModelError(f"'{model.name}' has no market with a radial feeder network (LinDistFlow, "
                         f"LinDistFlowLosses or ACDistFlow): DLMP decomposition needs one")
    return nets


class DeclaredPrices:
    """The prices a solved market declares, read once through
    :func:`~pyomo_ecc.pricing.prices.price_frames` (the published prices).

    ``value[name]``: ``{index: price}``; ``decls[name]``: the declarations (with their
    constraints) by period. Names the market does not declare are empty.
    """

    def __init__(self, mk, names):
        self.value, self.decls = {}, {}
        declared = defaultdict(lambda: defaultdict(list))
        for d in mk.price_declarations():
            if d.price in names:
                declared[d.price][d.t].append(d)
        frames = price_frames(mk, names)
        for name in names:
            self.decls[name] = declared.get(name, {})
            frame = frames[name]
            self.value[name] = {} if frame is None else dict(zip(frame.index, frame[name].to_numpy()))

    def price(self, d):
        key = d.index if len(d.index) > 1 else d.index[0]
        return float(self.value[d.price][key])


def dlmp(model, price="lmp", method="auto", check=True, tol=1e-6):
    """DLMP components of every bus and period: DataFrame indexed (``bus``, ``t``) with the
    nodal price (``lmp``, or ``qlmp`` with ``price="qlmp"``) and the columns ``energy``,
    ``loss``, ``congestion``, ``voltage`` (currency per MWh, or per Mvarh).

    ``method``: ``"path"`` (LinDistFlow only: tree walks over the declared limit prices),
    ``"jacobian"`` (sparse adjoint sensitivities at the solved operating point; any radial
    formulation) or ``"auto"`` (path for LinDistFlow, jacobian otherwise). With ``check``
    (default), raises :class:`~pyomo_ecc.errors.PriceError` if the components of any bus differ
    from its nodal price by more than ``tol`` times ``max(1, |price|)``.
    """
    from pyomo_ecc.network.lindistflow import LinDistFlowData
    if price not in ("lmp", "qlmp"):
        raise PriceError(f"price must be 'lmp' or 'qlmp', got {price!r}")
    if method not in ("auto", "path", "jacobian"):
        raise PriceError(f"method must be 'auto', 'path' or 'jacobian', got {method!r}")
    frames, formulations = [], set()
    for mk, net in _network(model):
        formulations.add(net.formulation)
        if not mk.assembled:
            raise PriceError(f"market '{mk.name}' has not been solved: call pyomo_ecc.solve(model) first")
        use = method if method != "auto" else ("path" if isinstance(net, LinDistFlowData) else "jacobian")
        if use == "path" and not isinstance(net, LinDistFlowData):
            raise PriceError(f"method 'path' needs a LinDistFlow network; '{net.name}' is "
                             f"{net.formulation}: use method='jacobian'")
        prices = DeclaredPrices(mk, ("lmp", "qlmp") + tuple(LIMIT_PRICES))
        rows = (_path_rows if use == "path" else _jacobian_rows)(mk, net, prices, price)
        frames.append(rows)
    df = pd.concat(frames)
    if check:
        resid = df[price] - df[list(COMPONENTS)].sum(axis=1)
        scale = np.maximum(1.0, df[price].abs())
        bad = resid.abs() > tol * scale
        if bad.any():
            (bus, t), r = resid[bad].abs().idxmax(), resid[bad].abs().max()
            raise PriceError(f"DLMP components do not sum to the nodal {price} at bus {bus!r}, "
                             f"period {t!r} (residual {r:.3g}); the prices are not a KKT point "
                             f"of the {' / '.join(sorted(formulations))} model")
    df.attrs["energy_reference"] = "substation (root) bus"
    return df


def _frame(fd, periods, price, table):
    """DataFrame indexed (bus, t) from ``table[t] = (nodal, energy, loss, cong, volt)`` arrays."""
    periods = list(periods)
    nb = len(fd.buses)
    buses = np.empty(nb * len(periods), dtype=object)
    ts = np.empty(nb * len(periods), dtype=object)
    for k, t in enumerate(periods):
        buses[k * nb:(k + 1) * nb] = fd.buses
        ts[k * nb:(k + 1) * nb] = [t] * nb
    cols = {name: np.concatenate([np.asarray(table[t][c], dtype=float) for t in periods])
            for c, name in enumerate((price,) + COMPONENTS)}
    idx = pd.MultiIndex.from_arrays([list(buses), list(ts)], names=["bus", "t"])
    return pd.DataFrame(cols, index=idx)


def _voltage_prices(net, prices, t):
    """``{bus: underline-pi - overline-pi}`` of period t (currency per pu² per hour)."""
    out = defaultdict(float)
    for d in prices.decls["v_min_price"].get(t, ()):
        out[d.index[0]] += prices.price(d)
    for d in prices.decls["v_max_price"].get(t, ()):
        out[d.index[0]] -= prices.price(d)
    return out


def _path_rows(mk, net, prices, price):
    """Tree walks (LinDistFlow): congestion and voltage components from the declared prices."""
    from pyomo.environ import value
    fd = net.feeder
    k_flow = 0 if price == "lmp" else 1           # d(rating body)/dP or /dQ
    imp = net.r if price == "lmp" else net.x
    imp = {j: value(imp[j]) for j in fd.branches}
    table = {}
    for t in mk.T:
        nodal = np.array([prices.value[price][(b, t)] for b in fd.buses])
        pi_v = _voltage_prices(net, prices, t)
        cong_branch = defaultdict(float)
        for d in prices.decls["branch_price"].get(t, ()):
            j, _, k = d.index
            cong_branch[j] += net.rating_gradient(j, t, k)[k_flow] * prices.price(d)
        below = defaultdict(float)                 # M_j: voltage prices summed over the subtree
        for j in reversed(fd.order):
            below[j] += pi_v.get(j, 0.0)
            if j != fd.root:
                below[fd.parent[j]] += below[j]
        volt, cong = {fd.root: 0.0}, {fd.root: 0.0}
        for j in fd.order[1:]:
            i = fd.parent[j]
            volt[j] = volt[i] + 2.0 * imp[j] * below[j] / net.base_mva
            cong[j] = cong[i] + cong_branch.get(j, 0.0)
        energy = prices.value[price][(fd.root, t)]
        table[t] = (nodal, np.full(len(fd.buses), energy), np.zeros(len(fd.buses)),
                    np.array([cong[b] for b in fd.buses]), np.array([volt[b] for b in fd.buses]))
    return _frame(fd, mk.T, price, table)


def sensitivity_system(net, t):
    r"""The sparse matrix :math:`J = [J_E\ e_{p,0}\ e_{q,0}]` of period ``t`` (see the module doc)
    and its layout: ``(J, layout)`` with ``layout`` a dict of the row of each bus's active and
    reactive balance (``"p_row"``, ``"q_row"``: arrays over ``feeder.buses``), the column
    offsets of the states (``"P"``, ``"Q"``, ``"v"``, ``"l"``; one column per branch or bus in
    the feeder's order) and the columns of :math:`dp_0, dq_0` (``"dp0"``, ``"dq0"``)."""
    from pyomo.environ import value
    fd = net.feeder
    nb, ne = len(fd.buses), len(fd.branches)
    s = net.pu_per_unit
    bus_k = {b: k for k, b in enumerate(fd.buses)}
    par = np.array([bus_k[fd.parent[j]] for j in fd.branches], dtype=int)
    own = np.array([bus_k[j] for j in fd.branches], dtype=int)
    br = np.arange(ne)
    r = np.array([value(net.r[j]) for j in fd.branches])
    x = np.array([value(net.x[j]) for j in fd.branches])
    cur = net.current_gradient(t)
    lossy = cur is not None
    cP, cQ, cv = 0, ne, 2 * ne
    cl = 2 * ne + nb
    n_state = 2 * ne + nb + (ne if lossy else 0)
    dp0, dq0 = n_state, n_state + 1
    rp, rq, rv = 0, nb, 2 * nb
    rroot = 2 * nb + ne
    rc = rroot + 1
    rows, cols, vals = [], [], []

    def add(rw, cl_, vl):
        rows.append(np.asarray(rw, dtype=int))
        cols.append(np.asarray(cl_, dtype=int))
        vals.append(np.asarray(vl, dtype=float))

    one = np.ones(ne)
    # balances: inflow at the branch's own bus, outflow at its parent
    add(rp + own, cP + br, one)
    add(rp + par, cP + br, -one)
    add(rq + own, cQ + br, one)
    add(rq + par, cQ + br, -one)
    # voltage drop: v_j - v_i + 2 s (r P + x Q) [- (r^2 + x^2) l]
    add(rv + br, cv + own, one)
    add(rv + br, cv + par, -one)
    add(rv + br, cP + br, 2 * s * r)
    add(rv + br, cQ + br, 2 * s * x)
    add(np.array([rroot]), np.array([cv + bus_k[fd.root]]), np.ones(1))
    if lossy:
        a_l, a_v, a_p, a_q = cur
        add(rp + own, cl + br, -r / s)
        add(rq + own, cl + br, -x / s)
        add(rv + br, cl + br, -(r ** 2 + x ** 2))
        add(rc + br, cl + br, a_l)
        add(rc + br, cv + par, a_v)
        add(rc + br, cP + br, a_p)
        add(rc + br, cQ + br, a_q)
    add(np.array([rp + bus_k[fd.root]]), np.array([dp0]), np.ones(1))
    add(np.array([rq + bus_k[fd.root]]), np.array([dq0]), np.ones(1))
    n = n_state + 2
    J = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n))
    layout = {"p_row": rp + np.arange(nb), "q_row": rq + np.arange(nb), "P": cP, "Q": cQ,
              "v": cv, "l": cl if lossy else None, "dp0": dp0, "dq0": dq0,
              "branch": {j: k for k, j in enumerate(fd.branches)}, "bus": bus_k}
    return J, layout


def _factor(net, t):
    J, layout = sensitivity_system(net, t)
    try:
        lu = spla.splu(J)
    except RuntimeError:
        raise ModelError(f"network '{net.name}': the power-flow Jacobian is singular at the "
                         f"solution of period {t!r}; no operating-point sensitivities") from None
    return lu, J.shape[0], layout


def _jacobian_rows(mk, net, prices, price):
    """Sparse adjoint sensitivities at the operating point (any radial formulation)."""
    fd = net.feeder
    table = {}
    for t in mk.T:
        w = price_weight(mk, "power", t)
        lu, n, layout = _factor(net, t)
        # right-hand sides of the adjoint solves: e_dp0, e_dq0, congestion c, voltage c
        rhs = np.zeros((n, 4))
        rhs[layout["dp0"], 0] = 1.0
        rhs[layout["dq0"], 1] = 1.0
        for name, comp in LIMIT_PRICES.items():
            col = 2 if comp == "congestion" else 3
            for d in prices.decls[name].get(t, ()):
                pi = prices.price(d)
                if pi == 0.0:
                    continue
                mu = d.sign * pi * price_weight(mk, d.kind, t)
                if name == "branch_price":
                    j, _, k = d.index
                    gp, gq = net.rating_gradient(j, t, k)
                    e = layout["branch"][j]
                    rhs[layout["P"] + e, col] -= mu * gp
                    rhs[layout["Q"] + e, col] -= mu * gq
                else:
                    rhs[layout["v"] + layout["bus"][d.index[0]], col] -= mu
        adj = lu.solve(rhs, trans="T")
        rows_load = layout["p_row"] if price == "lmp" else layout["q_row"]
        dp0, dq0 = adj[rows_load, 0], adj[rows_load, 1]
        lam_p = prices.value["lmp"][(fd.root, t)]
        lam_q = prices.value["qlmp"][(fd.root, t)]
        if price == "lmp":
            energy = np.full(len(fd.buses), lam_p)
            loss = lam_p * (dp0 - 1.0) + lam_q * dq0
        else:
            energy = np.full(len(fd.buses), lam_q)
            loss = lam_p * dp0 + lam_q * (dq0 - 1.0)
        nodal = np.array([prices.value[price][(b, t)] for b in fd.buses])
        table[t] = (nodal, energy, loss, adj[rows_load, 2] / w, adj[rows_load, 3] / w)
    return _frame(fd, mk.T, price, table)


def loss_factors(model):
    r"""Marginal loss factors :math:`\partial p_0/\partial P^L_i - 1` of every bus and period at
    the solved operating point (DataFrame indexed (``bus``, ``t``), column ``mlf``): the extra
    root supply per unit of extra load at bus :math:`i`, from one adjoint solve per period. Zero
    on a lossless model."""
    frames = []
    for mk, net in _network(model):
        fd = net.feeder
        for t in mk.T:
            lu, n, layout = _factor(net, t)
            e = np.zeros(n)
            e[layout["dp0"]] = 1.0
            adj = lu.solve(e, trans="T")
            idx = pd.MultiIndex.from_arrays([fd.buses, [t] * len(fd.buses)], names=["bus", "t"])
            frames.append(pd.DataFrame({"mlf": adj[layout["p_row"]] - 1.0}, index=idx))
    return pd.concat(frames)
