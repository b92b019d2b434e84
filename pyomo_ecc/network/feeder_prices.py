r"""The DLMP decomposition of a radial feeder (the feeder networks' ``price_components``).

The maths is in :mod:`pyomo_ecc.pricing.dlmp`; this module is the network side of the block
contract (:mod:`pyomo_ecc.core.contract`): the feeder formulations of
:mod:`pyomo_ecc.network.lindistflow` and :mod:`pyomo_ecc.network.ac_distflow` decompose their
own nodal prices from the published prices handed to them
(:class:`~pyomo_ecc.core.contract.DeclaredPrices`), by tree walks (``"path"``, LinDistFlow) or by
sparse adjoint sensitivities at the operating point (``"jacobian"``, any radial formulation).
"""
from collections import defaultdict

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pyomo_ecc.errors import ModelError

COMPONENTS = ("energy", "loss", "congestion", "voltage")
#: the limit prices a radial network declares, and the component each one forms
LIMIT_PRICES = {"branch_price": "congestion", "v_min_price": "voltage", "v_max_price": "voltage"}
#: every published price the decomposition reads
COMPONENT_PRICES = ("lmp", "qlmp") + tuple(LIMIT_PRICES)


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


def tree_levels(fd):
    """The feeder's buses by depth, as arrays of positions in ``fd.buses``: ``[(nodes,
    parents)]`` for depth 1, 2, ... (cached on the feeder). A walk down the tree is one
    vectorised step per level (root to leaves), a sum over subtrees one per level back up."""
    hit = getattr(fd, "_levels", None)
    if hit is None:
        pos = {b: k for k, b in enumerate(fd.buses)}
        depth = {fd.root: 0}
        for j in fd.order[1:]:
            depth[j] = depth[fd.parent[j]] + 1
        levels = {}
        for j in fd.order[1:]:
            levels.setdefault(depth[j], []).append(j)
        hit = fd._levels = [(np.array([pos[j] for j in levels[d]], dtype=int),
                             np.array([pos[fd.parent[j]] for j in levels[d]], dtype=int))
                            for d in sorted(levels)]
    return hit


def path_rows(mk, net, prices, price):
    r"""Tree walks (LinDistFlow): congestion and voltage components from the declared prices,
    every period at once (arrays buses x periods). Congestion: the sum over the path of the
    branches' rating prices, :math:`c_j = c_{\pi(j)} + \sum_k g_{j,k}\,\pi^S_{j,k}`; voltage:
    :math:`u_j = u_{\pi(j)} + 2\,r_j M_j / S_{base}` with :math:`M_j` the voltage prices
    summed over the subtree of :math:`j` (``x`` instead of ``r`` for ``qlmp``)."""
    from pyomo.environ import value
    fd = net.feeder
    periods = list(mk.T)
    col = {t: k for k, t in enumerate(periods)}
    pos = {b: k for k, b in enumerate(fd.buses)}
    nb, nt = len(fd.buses), len(periods)
    k_flow = 0 if price == "lmp" else 1           # d(rating body)/dP or /dQ
    imp = net.r if price == "lmp" else net.x
    w = np.zeros(nb)
    for j in fd.branches:
        w[pos[j]] = 2.0 * value(imp[j]) / net.base_mva
    values = prices.value[price]
    nodal = np.array([[values[(b, t)] for t in periods] for b in fd.buses], dtype=float).reshape(nb, nt)
    pi_v = np.zeros((nb, nt))
    for name, sign in (("v_min_price", 1.0), ("v_max_price", -1.0)):
        for t, decls in prices.decls[name].items():
            for d in decls:
                pi_v[pos[d.index[0]], col[t]] += sign * prices.price(d)
    cong_branch = np.zeros((nb, nt))
    for t, decls in prices.decls["branch_price"].items():
        for d in decls:
            j, _, k = d.index
            cong_branch[pos[j], col[t]] += net.rating_gradient(j, t, k)[k_flow] * prices.price(d)
    levels = tree_levels(fd)
    below = pi_v.copy()                            # M_j: voltage prices summed over the subtree
    for nodes, parents in reversed(levels):
        np.add.at(below, parents, below[nodes])
    volt, cong = np.zeros((nb, nt)), np.zeros((nb, nt))
    for nodes, parents in levels:
        volt[nodes] = volt[parents] + w[nodes, None] * below[nodes]
        cong[nodes] = cong[parents] + cong_branch[nodes]
    energy = nodal[pos[fd.root]]
    table = {t: (nodal[:, k], np.full(nb, energy[k]), np.zeros(nb), cong[:, k], volt[:, k])
             for k, t in enumerate(periods)}
    return _frame(fd, periods, price, table)


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


def factor(net, t):
    J, layout = sensitivity_system(net, t)
    try:
        lu = spla.splu(J)
    except RuntimeError:
        raise ModelError(f"network '{net.name}': the power-flow Jacobian is singular at the "
                         f"solution of period {t!r}; no operating-point sensitivities") from None
    return lu, J.shape[0], layout


def jacobian_rows(mk, net, prices, price):
    """Sparse adjoint sensitivities at the operating point (any radial formulation)."""
    fd = net.feeder
    table = {}
    for t in mk.T:
        w = prices.weight("power", t)
        lu, n, layout = factor(net, t)
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
                mu = d.sign * pi * prices.weight(d.kind, t)
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


def loss_factors(net):
    """Marginal loss factors of every bus and period of ``net`` at its solution (see
    :func:`pyomo_ecc.pricing.dlmp.loss_factors`)."""
    fd = net.feeder
    frames = []
    for t in net.market().T:
        lu, n, layout = factor(net, t)
        e = np.zeros(n)
        e[layout["dp0"]] = 1.0
        adj = lu.solve(e, trans="T")
        idx = pd.MultiIndex.from_arrays([fd.buses, [t] * len(fd.buses)], names=["bus", "t"])
        frames.append(pd.DataFrame({"mlf": adj[layout["p_row"]] - 1.0}, index=idx))
    return pd.concat(frames)
