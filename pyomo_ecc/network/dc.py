r"""DC power flow: lossless, linearised active-power flow on a meshed network.

Built from a networkx graph (:mod:`pyomo_ecc.network.graph`), multi-period, in one of two
interchangeable formulations that give the same dispatch and the same prices.

**Susceptance convention** (``convention``):

* ``"matpower"`` (MATPOWER, pandapower, Egret): :math:`b_l = 1/(x_l \tau_l)`, phase shifts
  :math:`\varphi_l` act as injections, bus shunt conductance as load;
* ``"dcp"`` (PowerModels' ``DCPPowerModel``, the pglib-opf BASELINE "DC" column):
  :math:`b_l = x_l/(r_l^2 + x_l^2)`, taps and shifts ignored, shunt conductance as load.

With :math:`S` the per-unit base (option ``base_mva``, default ``graph.graph["base_mva"]`` or 100) and :math:`u` the market's MW per power unit,
the susceptance in power units per radian is :math:`\beta_l = S\,b_l/u`.

**B-θ** (``formulation="btheta"``, default), for every bus :math:`n` and period :math:`t`:

.. math::

    f_{l,t} &= \beta_l\,(\theta_{i(l),t} - \theta_{j(l),t} - \varphi_l) \\
    \sum_{k \in n} p^{inj}_{k,t} - \sum_{l: i(l)=n} f_{l,t} + \sum_{l: j(l)=n} f_{l,t}
        &= L_{n,t} + G_n \qquad (\lambda_{n,t}) \\
    \theta_{r,t} &= 0 \quad \text{for the reference bus } r \text{ of each island}

**PTDF** (``formulation="ptdf"``): net injections :math:`P_{n,t}`, with :math:`H` the
power transfer distribution factors for the chosen slack (:func:`ptdf_matrix`) and
:math:`f^0_l` the flows caused by phase shifters alone:

.. math::

    \sum_{k \in n} p^{inj}_{k,t} - P_{n,t} &= L_{n,t} + G_n \qquad (\lambda_{n,t}) \\
    \sum_{n \in I} P_{n,t} &= 0 \quad \text{for every island } I \\
    f_{l,t} &= \sum_n H_{l,n} P_{n,t} + f^0_l

Both formulations add, for every branch with a finite rating :math:`\overline{F}_l` (when
``line_limits``), :math:`f_{l,t} \le \overline{F}_l` (``ineq_f_ub``, dual
:math:`\mu^+_{l,t}`) and :math:`-f_{l,t} \le \overline{F}_l` written as
:math:`f_{l,t} \ge -\overline{F}_l` (``ineq_f_lb``, dual :math:`\mu^-_{l,t}`). Fixed
injections (participants with ``fixed_injection``) move to the right-hand side with the bus
loads. The dual of ``eq_p_balance[n, t]`` is the LMP of bus :math:`n`; the line duals are
declared as ``line_price_ub`` / ``line_price_lb`` (currency per MWh of extra capacity, >= 0).

**Slack** (``slack``): ``"ref"`` (one reference bus per island) or ``"distributed"``
(weights :math:`w_n`, by default proportional to each bus's fixed load over the horizon;
normalised to sum 1 on each island, and equal on an island whose weights are all zero).
The slack does not change the dispatch or the LMPs; it fixes the PTDF and so the split of
each LMP into energy and congestion (:mod:`pyomo_ecc.pricing.components`).

============================  =========================  ==========================================
symbol                        attribute                  meaning
============================  =========================  ==========================================
:math:`n`, :math:`l`          ``bus``, ``branch``        sets of buses and branches (in service)
:math:`\beta_l`               ``beta[l]``                susceptance, power units / rad
:math:`\varphi_l`             ``shift[l]``               phase shift (rad; 0 in ``dcp``)
:math:`L_{n,t}`               ``p_load[n, t]``           bus load from the graph (mutable)
:math:`G_n`                   ``gs[n]``                  shunt conductance load (mutable)
:math:`\overline{F}_l`        ``rating[l]``              flow limit of limited branches (mutable)
:math:`\theta_{n,t}`          ``theta[n, t]``            voltage angle, rad (B-θ), in ±``ANGLE_BOUND``
:math:`P_{n,t}`               ``p_net[n, t]``            net injection (PTDF)
:math:`f_{l,t}`               ``p_flow[l, t]``           flow from ``from_bus`` to ``to_bus``
:math:`\lambda_{n,t}`         ``eq_p_balance[n, t]``     bus balance; dual -> ``lmp``
:math:`\mu^\pm_{l,t}`         ``ineq_f_ub``/``ineq_f_lb``  flow limits; duals -> ``line_price_*``
============================  =========================  ==========================================

After solving, ``flows()`` gives the flows by (branch, t), ``sensitivities()`` the sparse
:math:`B`, :math:`B_f` and PTDF (:class:`DCSensitivities`), ``slack_weights()`` the slack.

Example (3 buses, equal reactances, 50 MW limit on line 1-3)::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.dc import DCNetwork
    >>> G = nx.Graph()
    >>> G.add_edge(1, 2, x=0.1); G.add_edge(2, 3, x=0.1); G.add_edge(1, 3, x=0.1, rating=50)
    >>> m = ecc.Market()
    >>> m.g1 = ecc.Producer(bus=1, b=10, p_max=200)
    >>> m.g3 = ecc.Producer(bus=3, b=30, p_max=200)
    >>> m.d = ecc.FixedLoad(bus=3, p=100)
    >>> m.net = DCNetwork(graph=G)
    >>> _ = ecc.solve(m)
    >>> [round(v, 6) for v in ecc.prices(m).lmp]
    [10.0, 20.0, 30.0]
"""
import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from pyomo.common.config import ConfigValue, In
from pyomo.core.expr.numeric_expr import LinearExpression

from pyomo_ecc.core.block import declare_block, from_table
from pyomo_ecc.core.contract import PriceDecl, Sensitivities
from pyomo_ecc.core.standard_form import mark_aid_bounds
from pyomo_ecc.core.config import flag, per_period
from pyomo_ecc.errors import InputError, ModelError
from pyomo_ecc.network.base import NetworkData, base_mva_of, declare_base_mva
from pyomo_ecc.network.graph import (graph_option, graph_to_tables, incidence, islands,
                                     reference_buses)

#: finite bound on every B-theta angle (rad). It never binds in a meaningful DC solution (checked
#: after every solve, :meth:`DCNetworkData.check_solution`), but HiGHS's active-set QP solver
#: sometimes needs it: with free, zero-curvature angle columns it stops on case118 with quadratic
#: costs at most load levels ("QP solver claims optimality, but with ... primal infeasibilities").
#: The bounds are marked as a solver aid (:func:`~pyomo_ecc.core.standard_form.mark_aid_bounds`):
#: the HiGHS route solves without them first (3 to 5 times faster on case2869 over 6 or 24
#: periods) and adds them only when that fails; the problem is the same, so are the prices.
ANGLE_BOUND = 1e4

FORMULATIONS = ("btheta", "ptdf")
CONVENTIONS = ("matpower", "dcp")
SLACKS = ("ref", "distributed")


def _weights(x):
    if x is None:
        return None
    try:
        out = {k: float(v) for k, v in dict(x).items()}
    except (TypeError, ValueError):
        raise ValueError("slack_weights must be a mapping bus -> weight") from None
    bad = {k: v for k, v in out.items() if not (v >= 0 and math.isfinite(v))}
    if bad:
        raise ValueError(f"slack weights must be finite and >= 0, got {bad}")
    return out


def susceptance(branches, convention):
    r"""Per-unit branch susceptance :math:`b_l` and phase shift (rad) under ``convention``."""
    if convention not in CONVENTIONS:
        raise InputError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
    x = branches["x"].to_numpy(float)
    if convention == "matpower":
        b = 1.0 / (x * branches["tap"].to_numpy(float))
        shift = np.deg2rad(branches["shift"].to_numpy(float))
    else:
        r = branches["r"].to_numpy(float)
        b = x / (r ** 2 + x ** 2)
        shift = np.zeros(len(branches))
    return b, shift


def _island_weights(buses, comps, refs, slack, weights):
    """Per bus slack weight, normalised to sum 1 on every island."""
    w = pd.Series(0.0, index=buses.index)
    for comp, r in zip(comps, refs):
        if slack == "ref":
            w[r] = 1.0
            continue
        vals = np.array([weights.get(b, 0.0) for b in comp])
        tot = vals.sum()
        w[comp] = vals / tot if tot > 0 else 1.0 / len(comp)
    return w


class DCSensitivities(Sensitivities):
    r"""Sparse DC sensitivities of a network (a :class:`~pyomo_ecc.core.contract.Sensitivities`):
    :math:`B = A^\top \mathrm{diag}(\beta) A`, :math:`B_f = \mathrm{diag}(\beta) A`, reference
    buses and slack weights.

    ``ptdf(rows)`` (= ``flow(rows)``) gives :math:`H` for selected branches (dense);
    ``ptdf_transpose_times(eta)`` gives :math:`H^\top \eta` with one sparse solve, so that
    congestion components never need the dense PTDF of a large network.
    """

    def __init__(self, buses, branches, beta, refs, slack_weights):
        super().__init__(buses.index, branches.index)
        self.A = incidence(buses, branches)
        self.beta = np.asarray(beta, float)
        self.Bf = sp.diags(self.beta) @ self.A
        self.B = (self.A.T @ self.Bf).tocsc()
        pos = {b: k for k, b in enumerate(self.buses)}
        self.ref_pos = [pos[r] for r in refs]
        self.nonref = np.setdiff1d(np.arange(len(self.buses)), self.ref_pos)
        self.w = np.asarray(slack_weights.reindex(self.buses).to_numpy(float))
        comps = islands(buses, branches)
        self.island_of = np.empty(len(self.buses), dtype=int)
        for k, comp in enumerate(comps):
            self.island_of[[pos[b] for b in comp]] = k
        self._lu = None

    def _solve(self, rhs):
        if self._lu is None:
            Bnn = self.B[self.nonref][:, self.nonref].tocsc()
            try:
                self._lu = spla.splu(Bnn)
            except RuntimeError as e:
                raise InputError(f"the DC susceptance matrix is singular ({e}): an island is held "
                                 f"together only by zero-susceptance branches") from None
        return self._lu.solve(rhs)

    def _distribute(self, Hrows):
        """Shift the reference-bus PTDF rows to the distributed slack, island by island."""
        if np.all(np.isin(np.flatnonzero(self.w), self.ref_pos)):
            return Hrows
        out = Hrows.copy()
        for k in np.unique(self.island_of):
            cols = self.island_of == k
            out[:, cols] -= (Hrows[:, cols] @ self.w[cols])[:, None]
        return out

    def ptdf(self, rows=None):
        """Dense PTDF rows (branches ``rows``, positions; all by default) x buses."""
        rows = np.arange(len(self.branches)) if rows is None else np.asarray(rows, int)
        H = np.zeros((len(rows), len(self.buses)))
        if len(rows) and len(self.nonref):
            rhs = self.Bf[rows][:, self.nonref].T.toarray()
            H[:, self.nonref] = np.atleast_2d(self._solve(rhs).reshape(len(self.nonref), -1)).T
        return self._distribute(H)

    def flow(self, rows=None):
        return self.ptdf(rows)

    def ptdf_transpose_times(self, eta):
        r""":math:`H^\top \eta` for a vector over all branches (one sparse solve)."""
        eta = np.asarray(eta, float)
        out = np.zeros(len(self.buses))
        if len(self.nonref):
            out[self.nonref] = self._solve(self.Bf[:, self.nonref].T @ eta)
        for k in np.unique(self.island_of):
            cols = self.island_of == k
            out[cols] -= self.w[cols] @ out[cols]
        return out


@declare_block("DCNetwork")
class DCNetworkData(NetworkData):
    """DC power flow network from a networkx graph (see module doc)."""

    CONFIG = NetworkData.CONFIG()
    CONFIG.declare("graph", ConfigValue(default=None, domain=graph_option,
                                        doc="networkx graph of buses and branches"))
    CONFIG.declare("formulation", ConfigValue(default="btheta", domain=In(FORMULATIONS),
                                              doc="'btheta' (angles) or 'ptdf' (distribution factors)"))
    CONFIG.declare("convention", ConfigValue(default="matpower", domain=In(CONVENTIONS),
                                             doc="susceptance convention: 'matpower' or 'dcp'"))
    CONFIG.declare("ref_bus", ConfigValue(default=None,
                                          doc="reference bus (or one per island); default: buses "
                                              "flagged ref / type 3, or the first bus"))
    declare_base_mva(CONFIG)
    CONFIG.declare("slack", ConfigValue(default="ref", domain=In(SLACKS),
                                        doc="'ref' or 'distributed' slack for PTDF and LMP components"))
    CONFIG.declare("slack_weights", ConfigValue(default=None, domain=_weights,
                                                doc="distributed slack weights by bus (default: "
                                                    "share of fixed load)"))
    CONFIG.declare("line_limits", ConfigValue(default=True, domain=flag,
                                              doc="enforce branch ratings"))
    CONFIG.declare("allow_negative_x", ConfigValue(default=False, domain=flag,
                                                   doc="accept negative reactances"))

    RETIRED = {"load": "p_load", "f": "p_flow"}

    #: read when prices are decomposed (:meth:`slack_weights`), so it may change after build
    LIVE_OPTIONS = ("slack_weights",)

    def build(self):
        cfg = self.config
        if cfg.graph is None:
            self.fail("option 'graph' (a networkx graph) is required")
        if cfg.buses is not None:
            self.fail("give the buses through the graph, not the 'buses' option")
        if cfg.slack_weights is not None and cfg.slack != "distributed":
            self.fail("slack_weights are only used with slack='distributed'")
        try:
            buses, branches = graph_to_tables(cfg.graph, required=("x",),
                                              allow_negative_x=cfg.allow_negative_x)
            refs = reference_buses(buses, branches, cfg.ref_bus)
        except InputError as e:
            self.fail(str(e))
        market = self.market()
        base = base_mva_of(self, buses.attrs["base_mva"])
        unit = market.power_unit_mw
        b_pu, shift = susceptance(branches, cfg.convention)
        if cfg.convention == "dcp" and np.any(b_pu == 0):
            bad = branches.index[b_pu == 0][0]
            self.fail(f"branch {bad!r} has zero susceptance under the 'dcp' convention")
        self._buses, self._branches, self._refs = buses, branches, refs
        self._beta = b_pu * base / unit
        self._shift = shift

        self.bus = pyo.Set(initialize=list(buses.index), ordered=True, doc="buses")
        self.branch = pyo.Set(initialize=list(branches.index), ordered=True, doc="branches")
        rated = branches.index[np.isfinite(branches["rating"].to_numpy(float))] if cfg.line_limits else []
        self.branch_limited = pyo.Set(initialize=list(rated), ordered=True, doc="branches with a limit")
        self.beta = pyo.Param(self.branch, initialize=from_table(dict(zip(branches.index, self._beta))),
                              doc="susceptance (power units / rad)")
        self.shift = pyo.Param(self.branch, initialize=from_table(dict(zip(branches.index, shift))),
                               doc="phase shift (rad)")
        loads = {}
        for bus, val in buses["load"].items():
            try:
                per = per_period(val, market.T, "attribute 'load'")
            except ValueError as e:
                self.fail(f"bus {bus!r}: {e}")
            loads.update({(bus, t): float(v) for t, v in per.items()})
        self.p_load = pyo.Param(self.bus, market.T, initialize=from_table(loads), mutable=True, domain=pyo.Any,
                                doc="bus load from the graph (power units)")
        self.gs = pyo.Param(self.bus, initialize=from_table(buses["gs"].astype(float).to_dict()),
                            mutable=True, domain=pyo.Any,
                            doc="shunt conductance load at 1 pu (power units)")
        self.rating = pyo.Param(self.branch_limited,
                                initialize=from_table(dict(zip(rated, branches.loc[rated, "rating"].astype(float)))),
                                mutable=True, domain=pyo.Any, doc="flow limit (power units)")
        super().build()  # register with the market once the input is valid

    # -- interface used by the market and by pricing -----------------------------------------
    def buses(self):
        return list(self._buses.index)

    def held_withdrawals(self, t):
        return {n: pyo.value(self.p_load[n, t]) + pyo.value(self.gs[n]) for n in self.bus}

    def reference_buses(self):
        return list(self._refs)

    def slack_weights(self):
        """Slack weight of every bus (sums to 1 on each island): ``pandas.Series`` by bus."""
        cfg = self.config
        comps = islands(self._buses, self._branches)
        if cfg.slack == "distributed" and cfg.slack_weights is None:
            weights = self._fixed_load_share()
        else:
            weights = cfg.slack_weights or {}
            unknown = [b for b in weights if b not in self._buses.index]
            if unknown:
                self.fail(f"slack_weights name unknown bus(es) {unknown}")
        return _island_weights(self._buses, comps, self._refs, cfg.slack, weights)

    def _fixed_load_share(self):
        market = self.market()
        tot = {b: sum(pyo.value(self.p_load[b, t]) + pyo.value(self.gs[b]) for t in market.T)
               for b in self.bus}
        for p in market.participants():
            if p.fixed_injection:
                tot[p.bus] += -sum(pyo.value(p.p_inj[t]) for t in market.T)
        return {b: max(v, 0.0) for b, v in tot.items()}

    def sensitivities(self):
        """:class:`DCSensitivities` of this network with its slack (rebuilt on each call)."""
        return DCSensitivities(self._buses, self._branches, self._beta, self._refs,
                               self.slack_weights())

    # -- phase 3 ------------------------------------------------------------------------------
    def assemble(self):
        r"""Write the balance and the flow limits (module doc), vectorised: the B-theta balance
        row of bus :math:`n` is read off the sparse :math:`B = A^\top \mathrm{diag}(\beta) A`,

        .. math::

            \sum_{k \in n} p^{inj}_{k,t} - (B\theta_t)_n + (A^\top \beta\varphi)_n
                = L_{n,t} + G_n,

        which is the module doc's balance with the flows substituted; each row is built once as
        one linear expression (no per-branch rule calls)."""
        self.check_buses()
        market = self.market()
        T = list(market.T)
        bus_list = list(self.bus)
        inj = {t: self.injections_at(t) for t in T}
        A = incidence(self._buses, self._branches)
        degree = np.asarray(abs(A).sum(axis=0)).ravel()
        for k, n in enumerate(bus_list):
            if not degree[k] and not any(inj[t][n][0] for t in T):
                self.fail(f"bus {n!r} has no branch and no dispatchable participant: drop it or "
                          f"mark it out of service")
        if self.config.formulation == "btheta":
            self.theta = pyo.Var(self.bus, T, initialize=0.0, bounds=(-ANGLE_BOUND, ANGLE_BOUND),
                                 doc="voltage angle (rad)")
            mark_aid_bounds(self.theta, (-ANGLE_BOUND, ANGLE_BOUND))   # tried without first
            for r in self._refs:
                for t in T:
                    self.theta[r, t].fix(0.0)
            theta = self.theta
            beta = self._beta.astype(float)
            c0 = (-beta * self._shift).tolist()           # f = beta (theta_i - theta_j) - beta phi
            pos = {b: k for k, b in enumerate(bus_list)}
            frm = [pos[b] for b in self._branches["from_bus"]]
            to = [pos[b] for b in self._branches["to_bus"]]
            th = [[theta[n, t] for n in bus_list] for t in T]     # th[period][bus position]
            flows = {}
            for l, i, j, b, c in zip(self.branch, frm, to, beta.tolist(), c0):
                for k, t in enumerate(T):
                    flows[l, t] = LinearExpression(constant=c, linear_coefs=[b, -b],
                                                   linear_vars=[th[k][i], th[k][j]])
            self.p_flow = pyo.Expression(self.branch, T, initialize=from_table(flows),
                                         doc="flow from from_bus to to_bus (power units)")
            B = (A.T @ sp.diags(beta) @ A).tocsr()
            B.sort_indices()
            inflow = A.T @ (beta * self._shift)            # (A^T beta phi)_n
            rows = {}
            for k, n in enumerate(bus_list):
                lo, hi = B.indptr[k], B.indptr[k + 1]
                cols, coefs = B.indices[lo:hi].tolist(), (-B.data[lo:hi]).tolist()
                const = float(inflow[k])
                for kt, t in enumerate(T):
                    var, fixed = inj[t][n]
                    net = LinearExpression(constant=const, linear_coefs=list(coefs),
                                           linear_vars=[th[kt][j] for j in cols])
                    rows[n, t] = (sum(var, net) == self.p_load[n, t] + self.gs[n] - sum(fixed))
            self.eq_p_balance = pyo.Constraint(self.bus, T, rule=from_table(rows), doc="bus power balance")
        else:
            self._build_ptdf(T, inj)

            def balance(b, n, t):
                var, fixed = inj[t][n]
                return sum(var) - b.p_net[n, t] == b.p_load[n, t] + b.gs[n] - sum(fixed)

            self.eq_p_balance = pyo.Constraint(self.bus, T, rule=balance, doc="bus power balance")
        flow, rating = self.p_flow, self.rating
        lim = list(self.branch_limited)
        self.ineq_f_ub = pyo.Constraint(self.branch_limited, T,
                                        rule=from_table({(l, t): flow[l, t].expr <= rating[l]
                                                         for l in lim for t in T}),
                                        doc="flow limit, from -> to")
        self.ineq_f_lb = pyo.Constraint(self.branch_limited, T,
                                        rule=from_table({(l, t): flow[l, t].expr >= -rating[l]
                                                         for l in lim for t in T}),
                                        doc="flow limit, to -> from")

    def check_solution(self):
        """Called by the solver layer after a solve: no angle may sit at :data:`ANGLE_BOUND`
        (the solution would then be that of another problem)."""
        if self.config.formulation != "btheta" or not hasattr(self, "theta"):
            return
        for v in self.theta.values():
            if v.value is not None and abs(v.value) >= 0.999 * ANGLE_BOUND:
                raise ModelError(f"DCNetwork '{self.name}': angle {v.name} = {v.value:.6g} rad reaches "
                                 f"the bound {ANGLE_BOUND:g} rad; the network's susceptances are "
                                 f"implausibly small for its flows (check x and base_mva), or use "
                                 f"formulation='ptdf'")

    def _build_ptdf(self, T, inj):
        sens = self.sensitivities()
        H = sens.ptdf()
        A = sens.A
        f_shift = -self._beta * self._shift
        f0 = f_shift - H @ (A.T @ f_shift)
        bus_list = list(self.bus)
        self._ptdf = H
        self.p_net = pyo.Var(self.bus, T, initialize=0.0, doc="net injection (power units)")
        comps = islands(self._buses, self._branches)
        self.island = pyo.RangeSet(0, len(comps) - 1, doc="islands")
        self.eq_p_island = pyo.Constraint(self.island, T,
                                          rule=lambda b, k, t: sum(b.p_net[n, t] for n in comps[k]) == 0,
                                          doc="island balance")
        tol = 1e-12 * max(1.0, float(np.abs(H).max()) if H.size else 1.0)
        rows = {l: [(bus_list[j], H[i, j]) for j in np.flatnonzero(np.abs(H[i]) > tol)]
                for i, l in enumerate(self.branch)}
        f0d = dict(zip(self.branch, f0))
        self.p_flow = pyo.Expression(
            self.branch, T,
            rule=lambda b, l, t: sum(h * b.p_net[n, t] for n, h in rows[l]) + f0d[l],
            doc="flow from from_bus to to_bus (power units)")

    # -- prices and results -------------------------------------------------------------------
    def price_declarations(self):
        """The balance (``lmp``) and flow-limit (``line_price_*``) declarations: built once, when
        first asked for after assembly (the constraints they name do not change afterwards)."""
        cached = self.__dict__.get("_price_decls")
        if cached is not None and cached[0] is self.component("eq_p_balance"):
            return list(cached[1])
        T = self.market().T
        decls = [PriceDecl("lmp", (n, t), ("bus", "t"), self.eq_p_balance[n, t], +1, "power", t)
                 for n in self.bus for t in T]
        for l in self.branch_limited:
            for t in T:
                decls.append(PriceDecl("line_price_ub", (l, t), ("branch", "t"),
                                       self.ineq_f_ub[l, t], -1, "power", t))
                decls.append(PriceDecl("line_price_lb", (l, t), ("branch", "t"),
                                       self.ineq_f_lb[l, t], +1, "power", t))
        self._price_decls = (self.eq_p_balance, tuple(decls))
        return decls

    #: the published prices :meth:`price_components` reads
    component_prices = ("lmp", "line_price_ub", "line_price_lb")

    def price_components(self, prices, price="lmp", method="auto"):
        r"""Energy and congestion components of every LMP (see :mod:`pyomo_ecc.pricing.components`)
        from the published prices ``prices`` (a :class:`~pyomo_ecc.core.contract.DeclaredPrices`):
        DataFrame indexed (``bus``, ``t``) with ``lmp``, ``energy``, ``congestion``."""
        if price != "lmp" or method not in ("auto", "ptdf"):
            raise ModelError(f"DCNetwork '{self.name}': its prices decompose as price='lmp' with "
                             f"method 'ptdf' (energy and congestion), not {price!r} / {method!r}")
        lmp = prices.value["lmp"]
        buses = self.buses()
        sens = self.sensitivities()
        pos = {l: k for k, l in enumerate(sens.branches)}
        periods = list(self.market().T)
        eta_t = {t: np.zeros(len(pos)) for t in periods}       # mu+ - mu- by period
        for name, sign in (("line_price_ub", 1.0), ("line_price_lb", -1.0)):
            for (l, t), v in prices.value[name].items():
                eta_t[t][pos[l]] += sign * v
        rows = []
        for t in periods:
            lam = np.array([lmp[(b, t)] for b in buses], dtype=float)
            eta = eta_t[t]
            cong = -sens.ptdf_transpose_times(eta)
            energy = np.empty(len(buses))
            for k in np.unique(sens.island_of):
                cols = sens.island_of == k
                energy[cols] = sens.w[cols] @ (lam[cols] - cong[cols])
            rows.extend(zip(buses, [t] * len(buses), lam, energy, cong))
        df = pd.DataFrame(rows, columns=["bus", "t", "lmp", "energy", "congestion"]
                          ).set_index(["bus", "t"])
        df.attrs["price"] = "lmp"
        df.attrs["components"] = ["energy", "congestion"]
        df.attrs["slack"] = (f"reference bus {self.reference_buses()}" if self.config.slack == "ref"
                             else "distributed (weights: DCNetwork.slack_weights())")
        return df

    def flows(self):
        """Solved flows: DataFrame indexed (``branch``, ``t``) with ``p_flow`` and ``rating``."""
        T = list(self.market().T)
        rating = self._branches["rating"]
        rows = [(l, t, pyo.value(self.p_flow[l, t]), float(rating[l])) for l in self.branch for t in T]
        return pd.DataFrame(rows, columns=["branch", "t", "p_flow", "rating"]).set_index(["branch", "t"])

