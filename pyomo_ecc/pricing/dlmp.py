r"""Distribution LMPs: decompose a solved LinDistFlow market's nodal prices into components.

Everything comes from the same solved model: the duals of its constraints (in the solver
layer's convention, :math:`\mu = \partial\,\mathrm{cost}/\partial\,\mathrm{rhs}`) and the
feeder's path matrices (:mod:`~pyomo_ecc.network.radial`). One more unit of active load at bus
:math:`i` is served from the root; on its way it raises the flow of every branch
:math:`e \in \mathrm{path}(i)` by one unit and lowers every squared voltage :math:`v_k` by
:math:`2 s R_{ki}`. Each constraint it tightens adds its dual times that tightening:

.. math::

    \mathrm{DLMP}_{i,t} = \underbrace{\lambda^{p}_{0,t}}_{\text{energy}}
      + \underbrace{0}_{\text{loss}}
      + \underbrace{\sum_{e \in \mathrm{path}(i)} \sum_{k} -\cos\theta_k\,\eta_{e,t,k}}_{
        \text{congestion}}
      + \underbrace{\sum_{k} 2 s R_{ki}\,(\underline{\mu}_{k,t} + \overline{\mu}_{k,t})}_{
        \text{voltage}}

(all divided by the period weight :math:`\Delta t_t\,u`, as every price is; see
:mod:`~pyomo_ecc.pricing.prices`). :math:`\lambda^p_0` is the dual of the root's balance (the
energy reference is the substation bus), :math:`\eta_{e,t,k} \le 0` the duals of the branch
polygon ``ineq_s_max``, :math:`\underline{\mu} \ge 0` and :math:`\overline{\mu} \le 0` those of
``ineq_v_min`` and ``ineq_v_max``. LinDistFlow is lossless, so the loss component is zero. The
reactive price decomposes the same way with :math:`\sin\theta_k` and :math:`X`.

The components are computed from the sensitivities and the inequality duals only; the nodal
price ``lmp`` is the balance dual of bus :math:`i` exactly as :mod:`~pyomo_ecc.pricing.prices`
publishes it (``ecc.prices(m)``). That they sum to it is the KKT stationarity of the flow and
voltage variables, and :func:`dlmp` checks it (``check=True``) on every bus.

**At an operating point** (``method="jacobian"``, the default for
:class:`~pyomo_ecc.network.ac_distflow.ACDistFlow`; it also works for LinDistFlow, where it
reproduces the path-matrix route). Let :math:`y` be the network's state variables in period
:math:`t` (flows, squared voltages and currents) and :math:`E(y) = b` its equality constraints
(balances, voltage drops, currents, root voltage), with the participants' injections held at
their solved values. One more unit of load at bus :math:`i`, supplied from the root, moves the
state by :math:`dy` and the root's active and reactive supply by :math:`dp_0, dq_0`, solving

.. math::

    J_E\,dy + e_{p,0}\,dp_0 + e_{q,0}\,dq_0 = e_i \qquad (J_E = \partial E/\partial y
    \text{ at the solution})

Stationarity in :math:`y` (:math:`\sum_j \omega_j \nabla E_j + \sum_k \mu_k \nabla g_k = 0`:
states carry no cost) then gives, at every KKT point of the solved model,

.. math::

    \mathrm{DLMP}_i = \underbrace{\lambda^p_0}_{\text{energy}}
      + \underbrace{\lambda^p_0 (dp_0 - 1) + \lambda^q_0\,dq_0}_{\text{loss}}
      \underbrace{- \sum_{k \in \text{branch}} \mu_k\,\nabla g_k\cdot dy}_{\text{congestion}}
      \underbrace{- \sum_{k \in \text{voltage}} \mu_k\,\nabla g_k\cdot dy}_{\text{voltage}}

where :math:`dp_0 - 1` is the marginal loss factor of bus :math:`i` at the operating point and
:math:`\lambda^q_0 = 0` when the root supplies reactive power freely. Multipliers of variable
bounds (:math:`v, \ell \ge 0`) are not used: they are inactive on a loaded feeder.

=========================  ==========================  ==========================================
column                     meaning                     source
=========================  ==========================  ==========================================
``lmp``                    nodal price                 ``price_frame(m, "lmp")``: dual of
                                                       ``eq_p_balance[i, t]``
``energy``                 price at the substation     dual of ``eq_p_balance[root, t]``
``loss``                   marginal losses             0 (lossless); loss factors at the
                                                       operating point (``jacobian``)
``congestion``             branch limits               ``ineq_s_max`` duals on the path to root
``voltage``                voltage limits              ``ineq_v_min``/``ineq_v_max`` duals, R
=========================  ==========================  ==========================================

Example::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.lindistflow import LinDistFlow
    >>> g = nx.Graph(); g.add_edge(0, 1, r=0.05, x=0.02)
    >>> g.nodes[1]["load"] = 2.0
    >>> m = ecc.Market()
    >>> m.grid = ecc.Producer(bus=0, b=40.0, p_max=10)
    >>> m.der = ecc.Producer(bus=1, b=70.0, p_max=10)
    >>> m.net = LinDistFlow(graph=g, root=0, base_mva=1.0, v_min=0.95)
    >>> _ = ecc.solve(m)
    >>> dlmp(m).round(6).loc[(1, 0)].tolist()     # lmp, energy, loss, congestion, voltage
    [70.0, 40.0, 0.0, 0.0, 30.0]
"""
import math

import numpy as np
import pandas as pd
from pyomo.core.expr.calculus.derivatives import Modes, differentiate
from pyomo.core.expr.visitor import identify_variables
from pyomo.environ import value

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import ModelError, PriceError
from pyomo_ecc.pricing.prices import _dual_suffix, price_frame, price_weight

COMPONENTS = ("energy", "loss", "congestion", "voltage")


def _network(model):
    from pyomo_ecc.network.lindistflow import RadialNetworkData
    nets = []
    for mk in markets_in(model):
        net = mk.get_network()
        if isinstance(net, RadialNetworkData):
            nets.append((mk, net))
    if not nets:
        raise ModelError(f"'{model.name}' has no market with a radial feeder network (LinDistFlow "
                         f"or ACDistFlow): DLMP decomposition needs one")
    return nets


def _dual(suffix, con):
    if suffix is None or con not in suffix:
        raise PriceError(f"no dual for constraint '{con.name}': solve the model with "
                         f"pyomo_ecc.solve(...) before decomposing prices")
    return suffix[con]


def dlmp(model, price="lmp", method="auto", check=True, tol=1e-6):
    """DLMP components of every bus and period: DataFrame indexed (``bus``, ``t``) with the
    nodal price (``lmp``, or ``qlmp`` with ``price="qlmp"``) and the columns ``energy``,
    ``loss``, ``congestion``, ``voltage`` (currency per MWh, or per Mvarh).

    ``method``: ``"path"`` (LinDistFlow only: the R/X path matrices), ``"jacobian"`` (the
    power-flow Jacobian at the solved operating point; any radial formulation) or ``"auto"``
    (path for LinDistFlow, jacobian otherwise). With ``check`` (default), raises
    :class:`~pyomo_ecc.errors.PriceError` if the components of any bus differ from its nodal
    price by more than ``tol`` times ``max(1, |price|)``.
    """
    from pyomo_ecc.network.lindistflow import LinDistFlowData
    if price not in ("lmp", "qlmp"):
        raise PriceError(f"price must be 'lmp' or 'qlmp', got {price!r}")
    if method not in ("auto", "path", "jacobian"):
        raise PriceError(f"method must be 'auto', 'path' or 'jacobian', got {method!r}")
    rows, formulations = [], set()
    for mk, net in _network(model):
        formulations.add(net.formulation)
        if not mk.assembled:
            raise PriceError(f"market '{mk.name}' has not been solved: call pyomo_ecc.solve(model) first")
        suffix = _dual_suffix(mk)
        # the nodal price as published (sign, unit and period weight of pricing.prices)
        published = price_frame(mk, price)[price].to_dict()
        use = method if method != "auto" else ("path" if isinstance(net, LinDistFlowData) else "jacobian")
        if use == "path" and not isinstance(net, LinDistFlowData):
            raise PriceError(f"method 'path' needs a LinDistFlow network; '{net.name}' is "
                             f"{net.formulation}: use method='jacobian'")
        if use == "jacobian":
            rows.extend(_jacobian_rows(mk, net, suffix, price, published))
            continue
        fd = net.feeder
        s = net.pu_per_unit
        sens_r, sens_x = net.sensitivities()   # -2 s R, -2 s X (root row/column zero)
        sens = (sens_r if price == "lmp" else sens_x) / -1.0   # 2 s R_ki
        balance = net.eq_p_balance if price == "lmp" else net.eq_q_balance
        trig = math.cos if price == "lmp" else math.sin
        n = len(net.K) if hasattr(net, "K") else 0
        for t in mk.T:
            w = price_weight(mk, "power", t)
            mu = pd.Series(0.0, index=sens.index)
            for k in net.B_vmin:
                mu[k] += _dual(suffix, net.ineq_v_min[k, t])
            for k in net.B_vmax:
                mu[k] += _dual(suffix, net.ineq_v_max[k, t])
            # voltage_i = sum_k 2 s R_ki mu_k  (R symmetric)
            volt = pd.Series(sens.to_numpy().T @ mu.to_numpy(), index=sens.index)
            cong_branch = {}
            for e in net.E_rated:
                cong_branch[e] = sum(-trig(2 * math.pi * k / n) * _dual(suffix, net.ineq_s_max[e, t, k])
                                     for k in net.K)
            energy = _dual(suffix, balance[fd.root, t])
            for i in fd.buses:
                cong = sum(cong_branch.get(e, 0.0) for e in fd.path(i))
                rows.append((i, t, published[(i, t)], energy / w, 0.0, cong / w, float(volt[i]) / w))
    df = pd.DataFrame(rows, columns=["bus", "t", price] + list(COMPONENTS)).set_index(["bus", "t"])
    df = df.astype(float)
    if check:
        resid = df[price] - df[list(COMPONENTS)].sum(axis=1)
        scale = np.maximum(1.0, df[price].abs())
        bad = resid.abs() > tol * scale
        if bad.any():
            (bus, t), r = resid[bad].abs().idxmax(), resid[bad].abs().max()
            raise PriceError(f"DLMP components do not sum to the nodal {price} at bus {bus!r}, "
                             f"period {t!r} (residual {r:.3g}); the duals are not a KKT point "
                             f"of the {' / '.join(sorted(formulations))} model")
    df.attrs["energy_reference"] = "substation (root) bus"
    return df


def _gradient(expr, col):
    """Sparse gradient ``{column: d expr / d state}`` of ``expr`` at the current point."""
    states = [v for v in identify_variables(expr, include_fixed=False) if id(v) in col]
    if not states:
        return {}
    grad = differentiate(expr, wrt_list=states, mode=Modes.reverse_numeric)
    return {col[id(v)]: float(g) for v, g in zip(states, grad) if g != 0}


def _jacobian_rows(mk, net, suffix, price, published):
    """Rows (bus, t, nodal, energy, loss, congestion, voltage) from the operating point."""
    fd = net.feeder
    rows = []
    state_comps = [c for c in ("p", "q", "v_sq", "l_sq") if hasattr(net, c)]
    for t in mk.T:
        w = price_weight(mk, "power", t)
        states = [getattr(net, c)[idx] for c in state_comps for idx in getattr(net, c)
                  if idx[-1] == t]
        states = [v for v in states if not v.fixed]
        col = {id(v): k for k, v in enumerate(states)}
        n_state = len(states)
        eqs = [net.eq_p_balance[b, t] for b in fd.buses] + [net.eq_q_balance[b, t] for b in fd.buses]
        eqs += [net.eq_v_drop[j, t] for j in fd.branches] + [net.eq_v_root[t]]
        if hasattr(net, "eq_current"):
            eqs += [net.eq_current[j, t] for j in fd.branches]
        row_p = {b: k for k, b in enumerate(fd.buses)}
        row_q = {b: len(fd.buses) + k for k, b in enumerate(fd.buses)}
        n_eq = len(eqs)
        if n_eq != n_state + 2:
            raise ModelError(f"network '{net.name}': {n_eq} equalities for {n_state} states in "
                             f"period {t!r}; the operating-point decomposition needs exactly two "
                             f"more (the root's active and reactive balance)")
        jac = np.zeros((n_eq, n_state + 2))
        for r, con in enumerate(eqs):
            for c, g in _gradient(con.body, col).items():
                jac[r, c] = g
        jac[row_p[fd.root], n_state] = 1.0       # root supply: an injection, like a negative load
        jac[row_q[fd.root], n_state + 1] = 1.0
        rows_load = row_p if price == "lmp" else row_q
        rhs = np.zeros((n_eq, len(fd.buses)))
        for k, b in enumerate(fd.buses):
            rhs[rows_load[b], k] = 1.0
        try:
            sol = np.linalg.solve(jac, rhs)
        except np.linalg.LinAlgError:
            raise ModelError(f"network '{net.name}': the power-flow Jacobian is singular at the "
                             f"solution of period {t!r}; no operating-point sensitivities") from None
        dy, dp0, dq0 = sol[:n_state], sol[n_state], sol[n_state + 1]
        lam_p = _dual(suffix, net.eq_p_balance[fd.root, t])
        lam_q = _dual(suffix, net.eq_q_balance[fd.root, t])
        groups = {"congestion": [], "voltage": []}
        for name, group in (("ineq_s_max", "congestion"), ("ineq_v_min", "voltage"),
                            ("ineq_v_max", "voltage")):
            comp = getattr(net, name, None)
            if comp is None:
                continue
            for idx in comp:
                tt = idx[1] if isinstance(idx, tuple) else idx
                if tt != t:
                    continue
                mu = _dual(suffix, comp[idx])
                if mu != 0.0:
                    groups[group].append((mu, _gradient(comp[idx].body, col)))
        comp_val = {}
        for group, items in groups.items():
            tot = np.zeros(len(fd.buses))
            for mu, grad in items:
                for c, g in grad.items():
                    tot -= mu * g * dy[c]
            comp_val[group] = tot
        if price == "lmp":
            energy = np.full(len(fd.buses), lam_p)
            loss = lam_p * (dp0 - 1.0) + lam_q * dq0
        else:
            energy = np.full(len(fd.buses), lam_q)
            loss = lam_p * dp0 + lam_q * (dq0 - 1.0)
        for k, b in enumerate(fd.buses):
            rows.append((b, t, published[(b, t)], energy[k] / w, loss[k] / w,
                         comp_val["congestion"][k] / w, comp_val["voltage"][k] / w))
    return rows
