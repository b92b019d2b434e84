r"""LinDistFlow: the lossless linearised branch flow model of a radial feeder.

The feeder is a networkx graph, a tree rooted at the substation bus :math:`0`; branch :math:`j`
goes from the parent bus :math:`\pi(j)` to bus :math:`j` and carries :math:`P_{j,t}, Q_{j,t}`
(power units, positive away from the root). With :math:`s = u / S_{base}` (per unit per power
unit) and :math:`\mathcal{C}(j)` the children of :math:`j`, in every period :math:`t`:

.. math::

    P_{j,t} - \sum_{k \in \mathcal{C}(j)} P_{k,t} + \sum_{i \in j} p^{inj}_{i,t}
        = P^{L}_{j,t} - \sum_{i \in j,\ \mathrm{fixed}} p^{inj}_{i,t}
        \qquad (\lambda^{p}_{j,t})

    Q_{j,t} - \sum_{k \in \mathcal{C}(j)} Q_{k,t} + \sum_{i \in j} q^{inj}_{i,t}
        + [j = 0]\, q^{sub}_t
        = Q^{L}_{j,t} - \sum_{i \in j,\ \mathrm{fixed}} q^{inj}_{i,t}
        \qquad (\lambda^{q}_{j,t})

    v_{j,t} = v_{\pi(j),t} - 2 s\,(r_j P_{j,t} + x_j Q_{j,t}), \qquad v_{0,t} = V_0^2,
    \qquad \underline{V}_j^2 \le v_{j,t} \le \overline{V}_j^2

    \cos\theta_k\,P_{j,t} + \sin\theta_k\,Q_{j,t} \le \kappa\,\overline{S}_j,
    \quad \theta_k = 2\pi k / n,\ k = 0..n-1

(the root has no incoming branch: its :math:`P_{0}, Q_{0}` terms are absent). The polygon with
:math:`\kappa = 1` circumscribes the circle :math:`P^2 + Q^2 \le \overline{S}^2` (``polygon =
"outer"``, a relaxation); :math:`\kappa = \cos(\pi/n)` inscribes it (``"inner"``, conservative).

The balance duals are the nodal prices, published by :mod:`pyomo_ecc.pricing.prices` with sign
+1 and the period weight :math:`\Delta t_t\,u`: ``lmp`` (currency per MWh) from
``eq_p_balance`` and ``qlmp`` (currency per Mvarh) from ``eq_q_balance``. ``qlmp`` at bus
:math:`j` is the change in total cost when one more Mvar of reactive load is served at
:math:`j` for one hour (a reactive injection there earns it per Mvarh): zero at the root while
the root supplies reactive power freely, positive downstream when the extra reactive flow
tightens a binding lower voltage limit or branch rating, negative when it relieves an upper
voltage limit. The upstream grid supplies reactive power
freely at the root (``q_sub``, unless ``q_root_free=False``); active power at the root comes from
participants there (e.g. a :class:`~pyomo_ecc.participants.producer.Producer` that prices the
substation's energy).

Graph data, with the names of :mod:`pyomo_ecc.network.graph`: edge attributes ``r``, ``x``
(per unit on ``base_mva``, default ``graph.graph["base_mva"]`` or 100; required) and ``rating``
(apparent power limit, power units; 0, None or inf: no limit); node attributes ``load``,
``q_load`` (active and reactive load, power units, one number or one per period; default 0),
``v_min``, ``v_max`` (pu; override the options); ``in_service=False`` leaves a node or edge out.
The root is the option ``ref_bus`` (the reference bus, as in every network),
``graph.graph["root"]`` or the node flagged ``root=True`` (or
``ref=True``). Directions of a ``DiGraph`` are ignored: branches are oriented away from the root.

===================================  ==========================================  =================================
symbol                               attribute                                   meaning
===================================  ==========================================  =================================
buses, branches                      ``bus``, ``branch``                         sets (branch ``j`` ends at bus j)
:math:`P_{j,t}, Q_{j,t}`             ``p_flow[j, t]``, ``q_flow[j, t]``          branch flows (power units)
:math:`v_{j,t}`                      ``v_sq[j, t]``                              squared voltage magnitude (pu²)
:math:`q^{sub}_t`                    ``q_sub[t]``                                reactive supply at the root
:math:`P^L, Q^L`                     ``p_load[j, t]``, ``q_load[j, t]``          bus loads (mutable, power units)
:math:`\underline{V}, \overline{V}`  ``v_min[j]``, ``v_max[j]``                  voltage limits (mutable, pu)
:math:`\overline{S}_j`               ``rating[j]``                               branch rating (mutable)
:math:`r_j, x_j`                     ``r[j]``, ``x[j]``                          branch impedance (mutable, pu)
:math:`\lambda^p_{j,t}`              ``eq_p_balance[j, t]``                      active balance (price ``lmp``)
:math:`\lambda^q_{j,t}`              ``eq_q_balance[j, t]``                      reactive balance (price ``qlmp``)
voltage drop                         ``eq_v_drop[j, t]``
root voltage                         ``eq_v_root[t]``
voltage limits                       ``ineq_v_min[j, t]``, ``ineq_v_max[j, t]``  on ``bus_v_min``, ``bus_v_max``
polygon                              ``ineq_s_max[j, t, k]``                     sides ``side`` (``branch_price``)
voltage limit prices                 ``ineq_v_min``, ``ineq_v_max``              ``v_min_price``, ``v_max_price``
===================================  ==========================================  =================================

Example (two buses, 1 MW at the end of a 0.05 pu line)::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.lindistflow import LinDistFlow
    >>> g = nx.Graph(); g.add_edge("sub", "A", r=0.05, x=0.02)
    >>> g.nodes["A"]["load"] = 1.0
    >>> m = ecc.Market()
    >>> m.grid = ecc.Producer(bus="sub", b=40.0, p_max=10)
    >>> m.net = LinDistFlow(graph=g, ref_bus="sub", base_mva=10.0)
    >>> _ = ecc.solve(m)
    >>> round(m.net.v_sq["A", 0].value, 6)      # 1 - 2 * 0.05 * 1/10
    0.99
"""
import math

import networkx as nx
import numpy as np
import pandas as pd
from pyomo.common.config import ConfigValue, In
from pyomo.environ import Constraint, Expression, Param, Set, Var, value

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import bus_label, flag, optional, per_period, positive_float, series
from pyomo_ecc.core.contract import PriceDecl, Sensitivities
from pyomo_ecc.errors import InputError, PriceError
from pyomo_ecc.network import feeder_prices
from pyomo_ecc.network.base import NetworkData, base_mva_of, declare_base_mva
from pyomo_ecc.network.graph import DEFAULT_BASE_MVA, graph_option
from pyomo_ecc.network.radial import RadialFeeder

_optional_bus = optional(bus_label)
_optional_positive = optional(positive_float)


def _sides(x):
    if isinstance(x, bool) or int(x) != x or int(x) < 4:
        raise ValueError(f"a polygon needs an integer number of sides >= 4, got {x!r}")
    return int(x)


class RadialNetworkData(NetworkData):
    """Shared parts of the radial feeder formulations (graph, loads, limits, prices, results)."""

    CONFIG = NetworkData.CONFIG()
    CONFIG.declare("graph", ConfigValue(default=None, domain=graph_option,
                                        doc="the feeder: a networkx graph (a tree)"))
    CONFIG.declare("ref_bus", ConfigValue(default=None, domain=_optional_bus,
                                          doc="reference bus: the substation, root of the tree "
                                              "(default: graph.graph['root'] or the node with "
                                              "root=True)"))
    declare_base_mva(CONFIG)
    CONFIG.declare("v_root", ConfigValue(default=1.0, domain=positive_float,
                                         doc="voltage magnitude at the root (pu)"))
    CONFIG.declare("v_min", ConfigValue(default=None, domain=_optional_positive,
                                        doc="lower voltage limit of every non-root bus (pu)"))
    CONFIG.declare("v_max", ConfigValue(default=None, domain=_optional_positive,
                                        doc="upper voltage limit of every non-root bus (pu)"))
    CONFIG.declare("q_root_free", ConfigValue(default=True, domain=flag,
                                              doc="the upstream grid supplies reactive power "
                                                  "at the root at no cost"))

    RETIRED = {"root": "ref_bus", "B": "bus", "E": "branch", "E_rated": "branch_limited",
               "B_vmin": "bus_v_min", "B_vmax": "bus_v_max", "K": "side", "p": "p_flow",
               "q": "q_flow", "s_max": "rating"}

    #: name of the formulation in messages
    formulation = "radial feeder"

    def build(self):
        cfg = self.config
        if cfg.graph is None:
            self.fail("option 'graph' (a networkx graph of the feeder) is required")
        if cfg.buses is not None:
            self.fail("option 'buses' is not used: the buses are the graph's nodes")
        try:
            self.feeder = RadialFeeder(cfg.graph, root=cfg.ref_bus, required=("r", "x"),
                                       optional=("rating",), what=f"{self.block_kind()} '{self.name}'")
        except InputError as e:
            raise InputError(str(e)) from None
        self.base_mva = base_mva_of(self, cfg.graph.graph.get("base_mva", DEFAULT_BASE_MVA))
        super().build()
        market = self.market()
        fd = self.feeder
        self.bus = Set(initialize=fd.buses, ordered=True, doc="buses")
        self.branch = Set(initialize=fd.branches, ordered=True,
                     doc="branches, labelled by their receiving bus")
        bd = fd.branch_data
        for j, r in bd["r"].items():
            if r < 0:
                self.fail(f"branch {(fd.parent[j], j)!r}: resistance r must be >= 0, got {r}")
        self.r = Param(self.branch, initialize=bd["r"].to_dict(), mutable=True, doc="resistance (pu)")
        self.x = Param(self.branch, initialize=bd["x"].to_dict(), mutable=True, doc="reactance (pu)")
        rated = {j: v for j, v in bd["rating"].items()
                 if v is not None and not pd.isna(v) and v != 0 and not math.isinf(v)}
        for j, v in rated.items():
            if v < 0:
                self.fail(f"branch {(fd.parent[j], j)!r}: rating must be > 0, got {v}")
        self.branch_limited = Set(initialize=[j for j in fd.branches if j in rated], ordered=True,
                           doc="branches with an apparent-power rating")
        self.rating = Param(self.branch_limited, initialize=rated, mutable=True,
                           doc="apparent-power rating (power units)")
        p_load, q_load, vmin, vmax = {}, {}, {}, {}
        for b, data in fd.graph.nodes(data=True):
            if "p_load" in data and "load" not in data:
                self.fail(f"bus {b!r}: node attribute 'p_load' is not read; the active load "
                          f"attribute is 'load' (and 'q_load' the reactive one)")
            for attr, out in (("load", p_load), ("q_load", q_load)):
                try:
                    vals = per_period(series(data.get(attr, 0.0)), market.T, f"attribute '{attr}'")
                except ValueError as e:
                    self.fail(f"bus {b!r}: {e}")
                out.update({(b, t): v for t, v in vals.items()})
            if b == fd.root:
                continue
            for attr, default, out in (("v_min", cfg.v_min, vmin), ("v_max", cfg.v_max, vmax)):
                val = data.get(attr, default)
                if val is not None:
                    try:
                        out[b] = positive_float(val)
                    except ValueError as e:
                        self.fail(f"bus {b!r}: attribute '{attr}': {e}")
            if b in vmin and b in vmax and vmin[b] > vmax[b]:
                self.fail(f"bus {b!r}: v_min = {vmin[b]} exceeds v_max = {vmax[b]}")
        self.p_load = Param(self.bus, market.T, initialize=p_load, mutable=True,
                            doc="active bus load (power units)")
        self.q_load = Param(self.bus, market.T, initialize=q_load, mutable=True,
                            doc="reactive bus load (power units)")
        self.bus_v_min = Set(initialize=[b for b in fd.buses if b in vmin], ordered=True)
        self.bus_v_max = Set(initialize=[b for b in fd.buses if b in vmax], ordered=True)
        self.v_min = Param(self.bus_v_min, initialize=vmin, mutable=True, doc="lower voltage limit (pu)")
        self.v_max = Param(self.bus_v_max, initialize=vmax, mutable=True, doc="upper voltage limit (pu)")

    # -- shared parts --------------------------------------------------------------------------
    @property
    def pu_per_unit(self):
        """:math:`s`: per unit (on ``base_mva``) per market power unit."""
        return self.market().power_unit_mw / self.base_mva

    def buses(self):
        return list(self.feeder.buses)

    def held_withdrawals(self, t):
        return {j: value(self.p_load[j, t]) for j in self.feeder.buses}

    def held_reactive_withdrawals(self, t):
        return {j: value(self.q_load[j, t]) for j in self.feeder.buses}

    def _injections(self):
        """``{bus: (variable, fixed)}``: the participants at each bus with an injection, split by
        whether it is fixed (buses without participants are absent)."""
        out = {}
        for p in self.market().participants():
            out.setdefault(p.bus, ([], []))[1 if p.fixed_injection else 0].append(p)
        return out

    def _lossless_flows(self, t):
        """Flows that serve the bus loads alone, lossless (a starting point)."""
        fd = self.feeder
        p, q = {}, {}
        for j in reversed(fd.order):
            if j == fd.root:
                continue
            p[j] = value(self.p_load[j, t]) + sum(p[k] for k in fd.children[j])
            q[j] = value(self.q_load[j, t]) + sum(q[k] for k in fd.children[j])
        return p, q

    def _build_common(self):
        """Variables, balances and voltage limits; the formulation adds its branch physics."""
        self.check_buses()
        market = self.market()
        fd = self.feeder
        init = {t: self._lossless_flows(t) for t in market.T}
        self.p_flow = Var(self.branch, market.T, initialize=lambda b, j, t: init[t][0][j],
                     doc="active branch flow, from parent to child (power units)")
        self.q_flow = Var(self.branch, market.T, initialize=lambda b, j, t: init[t][1][j],
                     doc="reactive branch flow (power units)")
        v0 = self.config.v_root ** 2
        self.v_sq = Var(self.bus, market.T, initialize=v0, bounds=(0, None),
                        doc="squared voltage magnitude (pu^2)")
        if self.config.q_root_free:
            self.q_sub = Var(market.T, initialize=lambda b, t: sum(
                value(self.q_load[k, t]) for k in fd.buses), doc="reactive supply at the root")
        inj = self._injections()
        none = ((), ())

        def p_balance(b, j, t):
            var, fixed = inj.get(j, none)
            flow = self.inflow_p(j, t) - sum(self.p_flow[k, t] for k in fd.children[j])
            return (flow + sum(p.p_inj[t] for p in var)
                    == self.p_load[j, t] - sum(p.p_inj[t] for p in fixed))

        def q_balance(b, j, t):
            var, fixed = inj.get(j, none)
            flow = self.inflow_q(j, t) - sum(self.q_flow[k, t] for k in fd.children[j])
            if j == fd.root and self.config.q_root_free:
                flow = flow + self.q_sub[t]
            return (flow + sum(p.q_inj[t] for p in var)
                    == self.q_load[j, t] - sum(p.q_inj[t] for p in fixed))

        self.eq_p_balance = Constraint(self.bus, market.T, rule=p_balance, doc="active power balance")
        self.eq_q_balance = Constraint(self.bus, market.T, rule=q_balance, doc="reactive power balance")
        self.eq_v_root = Constraint(market.T, rule=lambda b, t: self.v_sq[fd.root, t] == v0,
                                    doc="root voltage")
        self.ineq_v_min = Constraint(self.bus_v_min, market.T,
                                     rule=lambda b, j, t: self.v_sq[j, t] >= self.v_min[j] ** 2)
        self.ineq_v_max = Constraint(self.bus_v_max, market.T,
                                     rule=lambda b, j, t: self.v_sq[j, t] <= self.v_max[j] ** 2)

    def inflow_p(self, j, t):
        """Active power arriving at bus ``j`` through its incoming branch."""
        return 0.0 if j == self.feeder.root else self.p_flow[j, t]

    def inflow_q(self, j, t):
        return 0.0 if j == self.feeder.root else self.q_flow[j, t]

    def price_declarations(self):
        r"""Nodal prices ``lmp``, ``qlmp`` (currency per MWh, per Mvarh) from the balances, and the
        prices of the limits: ``v_min_price``, ``v_max_price`` (currency per pu² of squared
        voltage per hour, :math:`\ge 0`: what one pu² more room at that bus would save in one
        hour) from ``ineq_v_min``/``ineq_v_max``, and ``branch_price`` (currency per MWh of branch
        rating, :math:`\ge 0`) from ``ineq_s_max`` side by side (index ``branch``, ``t``,
        ``side``; side 0 for a formulation with one rating constraint per branch)."""
        cached = getattr(self, "_price_decls", None)
        if cached is not None:      # the constraints never change once the market is assembled
            return list(cached)
        out = []
        periods = list(self.market().T)
        pbal, qbal = self.eq_p_balance, self.eq_q_balance
        for t in periods:
            for j in self.feeder.buses:
                out.append(PriceDecl("lmp", (j, t), ("bus", "t"), pbal[j, t], +1, "power", t))
                out.append(PriceDecl("qlmp", (j, t), ("bus", "t"), qbal[j, t], +1, "power", t))
        for j in self.bus_v_min:
            for t in periods:
                out.append(PriceDecl("v_min_price", (j, t), ("bus", "t"), self.ineq_v_min[j, t], +1,
                                     "hourly", t))
        for j in self.bus_v_max:
            for t in periods:
                out.append(PriceDecl("v_max_price", (j, t), ("bus", "t"), self.ineq_v_max[j, t], -1,
                                     "hourly", t))
        for idx in self.ineq_s_max:
            j, t, k = (idx + (0,))[:3] if len(idx) == 2 else idx
            out.append(PriceDecl("branch_price", (j, t, k), ("branch", "t", "side"),
                                 self.ineq_s_max[idx], -1, "power", t))
        self._price_decls = tuple(out)
        return out

    # -- price decomposition (the block contract; the maths in pyomo_ecc.pricing.dlmp) ----------
    component_prices = feeder_prices.COMPONENT_PRICES

    #: the decomposition of ``method="auto"``; ``"path"`` only where :attr:`path_decomposition`
    default_dlmp_method = "jacobian"
    path_decomposition = False

    def price_components(self, prices, price="lmp", method="auto"):
        """DLMP components (``energy``, ``loss``, ``congestion``, ``voltage``) of the nodal price
        ``price`` (``"lmp"`` or ``"qlmp"``) at every bus and period, from the published
        ``prices`` (see :func:`pyomo_ecc.pricing.dlmp.dlmp`)."""
        use = self.default_dlmp_method if method == "auto" else method
        if use == "path" and not self.path_decomposition:
            raise PriceError(f"method 'path' needs a LinDistFlow network; '{self.name}' is "
                             f"{self.formulation}: use method='jacobian'")
        if use not in ("path", "jacobian"):
            raise PriceError(f"method must be 'auto', 'path' or 'jacobian', got {method!r}")
        rows = feeder_prices.path_rows if use == "path" else feeder_prices.jacobian_rows
        df = rows(self.market(), self, prices, price)
        df.attrs["price"] = price
        df.attrs["components"] = list(feeder_prices.COMPONENTS)
        df.attrs["energy_reference"] = "substation (root) bus"
        return df

    def loss_factors(self):
        return feeder_prices.loss_factors(self)

    # -- sensitivities (see pyomo_ecc.pricing.dlmp) ----------------------------------------------
    def has_current(self):
        """Whether the formulation carries squared branch currents ``l_sq`` (losses)."""
        return hasattr(self, "l_sq")

    def current_gradient(self, t):
        r"""Gradient of ``eq_current[j, t]`` at the solution: arrays over ``feeder.branches`` of the
        coefficients of :math:`\ell_j, v_{\pi(j)}, P_j, Q_j` (None for a lossless model)."""
        return None

    def rating_gradient(self, j, t, k):
        """Gradient ``(d/dP_j, d/dQ_j)`` of the rating constraint of branch ``j`` (side ``k``)."""
        raise NotImplementedError

    # -- results -------------------------------------------------------------------------------
    def voltages(self):
        """Voltage profile: DataFrame indexed (``bus``, ``t``) with ``v_pu``, ``v_sq`` and the
        bus loads ``p_load``, ``q_load``."""
        rows = []
        for t in self.market().T:
            for j in self.feeder.buses:
                vs = value(self.v_sq[j, t])
                rows.append((j, t, math.sqrt(max(vs, 0.0)), vs, value(self.p_load[j, t]),
                             value(self.q_load[j, t])))
        return pd.DataFrame(rows, columns=["bus", "t", "v_pu", "v_sq", "p_load", "q_load"]
                            ).set_index(["bus", "t"])

    def branch_flows(self):
        """Branch flows: DataFrame indexed (``branch``, ``t``) with ``from_bus``, ``to_bus``,
        ``p_flow``, ``q_flow`` (sending end, power units) and ``loss_p`` (active loss, power
        units)."""
        rows = []
        for t in self.market().T:
            for j in self.feeder.branches:
                rows.append((j, t, self.feeder.parent[j], j, value(self.p_flow[j, t]),
                             value(self.q_flow[j, t]), self.branch_loss(j, t)))
        return pd.DataFrame(rows, columns=["branch", "t", "from_bus", "to_bus", "p_flow", "q_flow",
                                   "loss_p"]
                            ).set_index(["branch", "t"])

    def branch_loss(self, j, t):  # lossless by default
        return 0.0

    def losses(self):
        """Total active losses per period (power units), Series indexed ``t``."""
        return self.branch_flows()["loss_p"].groupby(level="t").sum().rename("loss_p")


@declare_block("LinDistFlow")
class LinDistFlowData(RadialNetworkData):
    """The lossless LinDistFlow model of a radial feeder (see module doc)."""

    formulation = "LinDistFlow"
    default_dlmp_method = "path"
    path_decomposition = True
    CONFIG = RadialNetworkData.CONFIG()
    CONFIG.declare("polygon_sides", ConfigValue(default=12, domain=_sides,
                                                doc="sides of the polygon that approximates each "
                                                    "branch's apparent-power circle"))
    CONFIG.declare("polygon", ConfigValue(default="outer", domain=In(["outer", "inner"]),
                                          doc="'outer': circumscribed (relaxation); 'inner': "
                                              "inscribed (conservative)"))

    def assemble(self):
        self._build_common()
        market = self.market()
        fd = self.feeder
        s = self.pu_per_unit
        self.eq_v_drop = Constraint(
            self.branch, market.T,
            rule=lambda b, j, t: self.v_sq[j, t] == self.v_sq[fd.parent[j], t]
            - 2 * s * (self.r[j] * self.p_flow[j, t] + self.x[j] * self.q_flow[j, t]),
            doc="voltage drop along each branch")
        n = self.config.polygon_sides
        kappa = 1.0 if self.config.polygon == "outer" else math.cos(math.pi / n)
        self.polygon_kappa = kappa
        self.side = Set(initialize=range(n), ordered=True, doc="polygon sides")
        self.ineq_s_max = Constraint(
            self.branch_limited, market.T, self.side,
            rule=lambda b, j, t, k: math.cos(2 * math.pi * k / n) * self.p_flow[j, t]
            + math.sin(2 * math.pi * k / n) * self.q_flow[j, t] <= kappa * self.rating[j],
            doc="apparent-power limit (polygon)")

    def rating_gradient(self, j, t, k):
        n = self.config.polygon_sides
        return math.cos(2 * math.pi * k / n), math.sin(2 * math.pi * k / n)

    def sensitivities(self):
        r"""Lossless sensitivities (:class:`RadialSensitivities`): of the squared voltages to bus
        loads (pu² per power unit), :math:`\partial v_k/\partial P^L_i = -2 s R_{ki}` and
        :math:`\partial v_k/\partial Q^L_i = -2 s X_{ki}` (``voltage()``, rows ``k``, columns
        ``i``, root included with zeros), and of the branch flows to injections (``flow()``)."""
        s = self.pu_per_unit
        r = {j: value(self.r[j]) for j in self.feeder.branches}
        x = {j: value(self.x[j]) for j in self.feeder.branches}
        fd = RadialFeeder(_with_values(self.feeder, r, x), root=self.feeder.root)
        return RadialSensitivities(fd, -2 * s * fd.path_matrix("r", include_root=True),
                                   -2 * s * fd.path_matrix("x", include_root=True))


class RadialSensitivities(Sensitivities):
    r"""Sensitivities of a lossless radial feeder (a :class:`~pyomo_ecc.core.contract.Sensitivities`):
    ``voltage()`` gives ``(dv_dp, dv_dq)``; ``flow()`` the active flows' sensitivity to a net
    injection at each bus, balanced at the root: :math:`-1` on every branch of the path from the
    root to the bus (:math:`-\Pi^\top`), 0 for the root."""

    def __init__(self, feeder, dv_dp, dv_dq):
        super().__init__(feeder.buses, feeder.branches)
        self._feeder, self._dv = feeder, (dv_dp, dv_dq)

    def voltage(self):
        return self._dv

    def flow(self, rows=None):
        pi = self._feeder.path_to_root()            # rows: non-root buses, columns: branches
        out = -pi.T.reindex(columns=self.buses, fill_value=0.0).to_numpy()
        return out if rows is None else out[np.asarray(rows, int)]


def _with_values(feeder, r, x):
    """A plain tree with the current r, x (mutable Params may have changed)."""
    g = nx.Graph()
    g.add_nodes_from(feeder.buses)
    for j in feeder.branches:
        g.add_edge(feeder.parent[j], j, r=r[j], x=x[j])
    return g


@declare_block("LinDistFlowLosses")
class LinDistFlowLossesData(RadialNetworkData):
    r"""LinDistFlow with losses: the DistFlow branch equations linearised around an operating point.

    Same variables, balances and voltage drop as :mod:`~pyomo_ecc.network.ac_distflow` (the
    losses :math:`r_j\ell_j/s` and :math:`x_j\ell_j/s` in the balances, :math:`(r_j^2+x_j^2)
    \ell_j` in the voltage drop: all linear), with the two nonlinear constraints replaced by their
    first-order expansion at the operating point :math:`(\hat P, \hat Q, \hat v)`
    (mutable Params; :math:`\hat\ell` is the point's AC current, so the expansion of the
    current, homogeneous of degree one in :math:`(P, Q, v)`, has no constant term):

    .. math::

        \hat v_{\pi(j),t}\,\ell_{j,t} + \hat\ell_{j,t}\,v_{\pi(j),t}
          - 2 s^2 (\hat P_{j,t} P_{j,t} + \hat Q_{j,t} Q_{j,t}) = 0, \qquad
        \hat\ell_{j,t} = \frac{s^2 (\hat P_{j,t}^2 + \hat Q_{j,t}^2)}{\hat v_{\pi(j),t}}

        \cos\hat\phi_{j,t}\,P_{j,t} + \sin\hat\phi_{j,t}\,Q_{j,t} \le \overline{S}_j,
        \qquad \hat\phi_{j,t} = \operatorname{atan2}(\hat Q_{j,t}, \hat P_{j,t})

    (the second is the tangent of the rating circle in the direction of the operating point's
    flow: a relaxation of :math:`P^2 + Q^2 \le \overline{S}^2`). Every iterate is an LP (a convex
    QP with quadratic offers). :func:`pyomo_ecc.analysis.losses.solve_losses` re-linearises at
    each solution until the operating point is a fixed point; there the constraints and their
    gradients are those of AC DistFlow, so the solution and its duals satisfy the AC DistFlow
    KKT conditions: the nodal prices are the AC prices, and the DLMP
    (:func:`~pyomo_ecc.pricing.dlmp.dlmp`, operating-point route) has a loss component.

    The squared current is an expression (the linearised current equation solved for
    :math:`\ell`), so the model has LinDistFlow's rows plus the loss terms. The first operating
    point is zero flow at flat voltage (:math:`\hat\ell = 0`): the first iterate is lossless
    LinDistFlow (with the rating's tangent in the direction of the bus loads' flow).

    ===============================  =================================  ============================
    symbol                           attribute                          meaning
    ===============================  =================================  ============================
    :math:`\ell_{j,t}`               ``l_sq[j, t]`` (Expression)        squared current (pu²)
    :math:`\hat P, \hat Q`           ``p_hat[j, t]``, ``q_hat[j, t]``   operating point flows
    :math:`\hat v`                   ``v_hat[j, t]``                    operating point v² (by bus)
    :math:`\hat\ell`                 ``l_hat[j, t]``                    operating point current
    :math:`\cos\hat\phi`             ``c_p[j, t]``                      tangent direction (cos)
    :math:`\sin\hat\phi`             ``c_q[j, t]``                      tangent direction (sin)
    tangent rating                   ``ineq_s_max[j, t]``               price ``branch_price``
    :math:`\rho_{j,t}`               ``rho[j, t]``                      losses' curvature
    :math:`\rho\hat P, \rho\hat Q`   ``rho_p[j, t]``, ``rho_q[j, t]``   linear coefficients of the term
    its constant                     ``prox_offset``                    :math:`\tfrac12\sum\rho(\hat P^2+\hat Q^2)`
    second-order term                ``prox_cost``                      ``objective_cost()``
    ===============================  =================================  ============================
    """

    formulation = "LinDistFlow with losses"
    linearised = True

    def assemble(self):
        market = self.market()
        fd = self.feeder
        s = self.pu_per_unit
        v0 = self.config.v_root ** 2
        init = {t: self._lossless_flows(t) for t in market.T}
        # the first operating point is zero flow at flat voltage: the first iterate is LinDistFlow
        self.p_hat = Param(self.branch, market.T, initialize=0.0, mutable=True,
                           doc="operating point: active flow")
        self.q_hat = Param(self.branch, market.T, initialize=0.0, mutable=True,
                           doc="operating point: reactive flow")
        self.v_hat = Param(self.bus, market.T, initialize=v0, mutable=True,
                           doc="operating point: squared voltage")
        self.l_hat = Param(self.branch, market.T, initialize=0.0, mutable=True,
                           doc="operating point: squared current")

        def direction(j, t, trig):   # the bus loads' flow until a solution is known
            p, q = init[t][0][j], init[t][1][j]
            phi = math.atan2(q, p) if (p or q) else 0.0
            return trig(phi)

        self.c_p = Param(self.branch_limited, market.T, mutable=True,
                         initialize=lambda b, j, t: direction(j, t, math.cos),
                         doc="tangent direction of the rating (cos)")
        self.c_q = Param(self.branch_limited, market.T, mutable=True,
                         initialize=lambda b, j, t: direction(j, t, math.sin),
                         doc="tangent direction of the rating (sin)")
        self._build_common()
        self.eq_v_drop = Constraint(
            self.branch, market.T,
            rule=lambda b, j, t: self.v_sq[j, t] == self.v_sq[fd.parent[j], t]
            - 2 * s * (self.r[j] * self.p_flow[j, t] + self.x[j] * self.q_flow[j, t])
            + (self.r[j] ** 2 + self.x[j] ** 2) * self._current(j, t),
            doc="voltage drop along each branch")
        self.l_sq = Expression(self.branch, market.T, rule=lambda b, j, t: self._current(j, t),
                               doc="squared current, linearised at the operating point (pu^2)")
        self.ineq_s_max = Constraint(
            self.branch_limited, market.T,
            rule=lambda b, j, t: self.c_p[j, t] * self.p_flow[j, t] + self.c_q[j, t] * self.q_flow[j, t]
            <= self.rating[j],
            doc="apparent-power limit: tangent of the circle at the operating point's direction")
        self.rho = Param(self.branch, market.T, initialize=0.0, mutable=True,
                         doc="curvature of the losses at the operating point (cost per unit^2)")
        # the term expanded, with rho P_hat, rho Q_hat and its constant as Params of their own:
        # it depends on the operating point only through them, so a plain (LP) iterate, whose
        # rho is 0, leaves the objective untouched when the point moves
        self.rho_p = Param(self.branch, market.T, initialize=0.0, mutable=True,
                           doc="rho * p_hat (second-order term, linear coefficient)")
        self.rho_q = Param(self.branch, market.T, initialize=0.0, mutable=True,
                           doc="rho * q_hat (second-order term, linear coefficient)")
        self.prox_offset = Param(initialize=0.0, mutable=True,
                                 doc="sum of rho (p_hat^2 + q_hat^2) / 2 (second-order term, constant)")
        self.prox_cost = Expression(
            expr=self.prox_offset
            + sum(0.5 * self.rho[j, t] * (self.p_flow[j, t] ** 2 + self.q_flow[j, t] ** 2)
                  - self.rho_p[j, t] * self.p_flow[j, t] - self.rho_q[j, t] * self.q_flow[j, t]
                  for j in fd.branches for t in market.T),
            doc="second-order term of the losses, 1/2 sum rho ((P - p_hat)^2 + (Q - q_hat)^2) "
                "(zero at a fixed point)")

    def objective_cost(self):
        """The losses' second-order term ``prox_cost`` (zero at a fixed point)."""
        return self.prox_cost

    def _current(self, j, t):
        """The linearised squared current of branch ``j`` (an expression in P, Q, v)."""
        s = self.pu_per_unit
        i = self.feeder.parent[j]
        return (2 * s ** 2 * (self.p_hat[j, t] * self.p_flow[j, t] + self.q_hat[j, t] * self.q_flow[j, t])
                - self.l_hat[j, t] * self.v_sq[i, t]) / self.v_hat[i, t]

    def inflow_p(self, j, t):
        if j == self.feeder.root:
            return 0.0
        return self.p_flow[j, t] - self.r[j] * self._current(j, t) / self.pu_per_unit

    def inflow_q(self, j, t):
        if j == self.feeder.root:
            return 0.0
        return self.q_flow[j, t] - self.x[j] * self._current(j, t) / self.pu_per_unit

    def branch_loss(self, j, t):
        return value(self.r[j]) * value(self.l_sq[j, t]) / self.pu_per_unit

    # -- the operating point ---------------------------------------------------------------------
    def _layout(self):
        """Index keys in array order (branches x periods, buses x periods, rated x periods) and
        the bus row of each branch's parent; built once."""
        lay = getattr(self, "_op_layout", None)
        if lay is None:
            fd = self.feeder
            T = list(self.market().T)
            row = {b: k for k, b in enumerate(fd.buses)}
            lay = self._op_layout = dict(
                T=T, br=[(j, t) for j in fd.branches for t in T],
                bus=[(b, t) for b in fd.buses for t in T],
                rated=[(j, t) for j in self.branch_limited for t in T],
                par=np.array([row[fd.parent[j]] for j in fd.branches], dtype=int),
                rated_pos=np.array([fd.branches.index(j) for j in self.branch_limited], dtype=int))
        return lay

    def _data_of(self, component, keys):
        """The component's data objects in ``keys`` order (looked up once per component)."""
        cache = self._op_layout.setdefault("data", {})
        hit = cache.get(id(component))
        if hit is None:
            hit = cache[id(component)] = (component, [component[k] for k in keys])
        return hit[1]

    def _read(self, component, keys, shape):
        data = self._data_of(component, keys)
        return np.fromiter((d.value for d in data), dtype=float, count=len(data)).reshape(shape)

    def _store(self, param, keys, arr):
        for d, val in zip(self._data_of(param, keys), arr.ravel().tolist()):
            d.set_value(val)

    def _state(self):
        """The solution as arrays: ``P, Q`` (branches x periods), ``v`` (buses x periods) and
        the parent voltage of each branch, ``v_par``."""
        lay = self._layout()
        nt = len(lay["T"])
        ne, nb = len(self.feeder.branches), len(self.feeder.buses)
        P = self._read(self.p_flow, lay["br"], (ne, nt))
        Q = self._read(self.q_flow, lay["br"], (ne, nt))
        v = self._read(self.v_sq, lay["bus"], (nb, nt))
        return P, Q, v, v[lay["par"]]

    def _linearised_current(self, P, Q, v_par):
        r"""The linearised current :math:`\ell = (2 s^2(\hat P P + \hat Q Q) - \hat\ell v_{\pi})
        / \hat v_{\pi}` as an array (branches x periods), the point's Params read once."""
        lay = self._layout()
        ne, nt = P.shape
        s = self.pu_per_unit
        ph = self._read(self.p_hat, lay["br"], (ne, nt))
        qh = self._read(self.q_hat, lay["br"], (ne, nt))
        lh = self._read(self.l_hat, lay["br"], (ne, nt))
        vh = self._read(self.v_hat, lay["bus"], (len(self.feeder.buses), nt))[lay["par"]]
        return (2 * s ** 2 * (ph * P + qh * Q) - lh * v_par) / vh

    def _r_x(self):
        lay = self._layout()
        vals_r, vals_x = self.r.extract_values(), self.x.extract_values()
        return (np.array([vals_r[j] for j in self.feeder.branches], dtype=float)[:, None],
                np.array([vals_x[j] for j in self.feeder.branches], dtype=float)[:, None])

    def relinearise(self):
        """Move the operating point to the current solution (every period, as arrays); returns
        nothing."""
        lay = self._layout()
        s = self.pu_per_unit
        P, Q, v, v_par = self._state()
        self._store(self.v_hat, lay["bus"], v)
        self._store(self.p_hat, lay["br"], P)
        self._store(self.q_hat, lay["br"], Q)
        # the current of the operating point, on the AC manifold
        self._store(self.l_hat, lay["br"], s ** 2 * (P ** 2 + Q ** 2) / v_par)
        if len(lay["rated"]):
            pr, qr = P[lay["rated_pos"]], Q[lay["rated_pos"]]
            old_c = self._read(self.c_p, lay["rated"], pr.shape)
            old_s = self._read(self.c_q, lay["rated"], pr.shape)
            phi = np.arctan2(qr, pr)
            flow = (pr != 0) | (qr != 0)    # no flow: the direction is kept
            self._store(self.c_p, lay["rated"], np.where(flow, np.cos(phi), old_c))
            self._store(self.c_q, lay["rated"], np.where(flow, np.sin(phi), old_s))
        self._refresh_prox(P, Q)

    def _refresh_prox(self, p_hat, q_hat):
        """The expanded second-order term's Params at the point (``p_hat``, ``q_hat``) and the
        current ``rho`` (left at 0 while rho is 0, so the objective does not move)."""
        lay = self._layout()
        rho = self._read(self.rho, lay["br"], p_hat.shape)
        if not rho.any() and not self._read(self.rho_p, lay["br"], p_hat.shape).any() \
                and not self._read(self.rho_q, lay["br"], p_hat.shape).any():
            return
        self._store(self.rho_p, lay["br"], rho * p_hat)
        self._store(self.rho_q, lay["br"], rho * q_hat)
        self.prox_offset.value = float(0.5 * np.sum(rho * (p_hat ** 2 + q_hat ** 2)))

    def set_curvature(self, duals):
        r"""Second-order term: :math:`\rho_{j,t} = 2 s\,(\omega^p_{j,t} r_j + \omega^q_{j,t}
        x_j)^+ / \hat v_{\pi(j),t}`, the curvature in :math:`P_j` and :math:`Q_j` of the
        Lagrangian's loss terms, from the balance multipliers ``duals`` (a Suffix of the last
        solve)."""
        lay = self._layout()
        s = self.pu_per_unit
        ne, nt = len(self.feeder.branches), len(lay["T"])
        wp = np.fromiter((duals.get(self.eq_p_balance[k], 0.0) for k in lay["br"]), float,
                         count=ne * nt).reshape(ne, nt)
        wq = np.fromiter((duals.get(self.eq_q_balance[k], 0.0) for k in lay["br"]), float,
                         count=ne * nt).reshape(ne, nt)
        r, x = self._r_x()
        vh = self._read(self.v_hat, lay["bus"], (len(self.feeder.buses), nt))[lay["par"]]
        self._store(self.rho, lay["br"], 2 * s * np.maximum(wp * r + wq * x, 0.0) / vh)
        ph = self._read(self.p_hat, lay["br"], (ne, nt))
        qh = self._read(self.q_hat, lay["br"], (ne, nt))
        self._refresh_prox(ph, qh)

    def ac_residuals(self):
        """How far the solution is from AC DistFlow: ``(current, rating)``, the largest error of
        the active branch loss :math:`r_j\\,|\\ell_j - s^2(P_j^2+Q_j^2)/v_{\\pi(j)}|/s` (MW) and the
        largest excess of :math:`\\sqrt{P^2+Q^2}` over a rating (MW)."""
        lay = self._layout()
        s = self.pu_per_unit
        u = self.market().power_unit_mw
        P, Q, v, v_par = self._state()
        lsq = self._linearised_current(P, Q, v_par)
        exact = s ** 2 * (P ** 2 + Q ** 2) / np.maximum(v_par, 1e-12)
        r, _ = self._r_x()
        cur = float(np.max(r * np.abs(lsq - exact))) / s * u if P.size else 0.0
        rat = 0.0
        if len(lay["rated"]):
            rating = self.rating.extract_values()
            lim = np.array([rating[j] for j in self.branch_limited], dtype=float)[:, None]
            pos = lay["rated_pos"]
            rat = float(np.max(np.hypot(P[pos], Q[pos]) - lim)) * u
        return cur, rat

    def total_loss_mw(self):
        """Total active losses :math:`\\sum_{j,t} r_j \\ell_{j,t} / s` (MW, summed over periods)."""
        P, Q, v, v_par = self._state()
        r, _ = self._r_x()
        return float(np.sum(r * self._linearised_current(P, Q, v_par))) / self.pu_per_unit \
            * self.market().power_unit_mw

    # -- the point's matrix entries, as arrays (the compiled iteration) ------------------------
    def point_entries(self):
        r"""The constraint-matrix entries the operating point sets, and the second-order term:
        ``(rows, cols, prox_cols)``, lists of ConstraintData and VarData (entry ``k`` is the
        coefficient of ``cols[k]`` in ``rows[k]``), and the flows ``(p_flow, q_flow)`` the
        second-order term weighs, in the order of :meth:`point_values`."""
        lay = self._layout()
        fd = self.feeder
        rows, cols = [], []
        for j, t in lay["br"]:
            i = fd.parent[j]
            for con in (self.eq_p_balance[j, t], self.eq_q_balance[j, t], self.eq_v_drop[j, t]):
                rows += [con, con, con]
                cols += [self.p_flow[j, t], self.q_flow[j, t], self.v_sq[i, t]]
        for j, t in lay["rated"]:
            rows += [self.ineq_s_max[j, t]] * 2
            cols += [self.p_flow[j, t], self.q_flow[j, t]]
        prox = [self.p_flow[k] for k in lay["br"]] + [self.q_flow[k] for k in lay["br"]]
        return rows, cols, prox

    def point_values(self):
        r"""The values of :meth:`point_entries` at the current Params: with
        :math:`a_P = 2s^2\hat P/\hat v_{\pi}`, :math:`a_Q = 2s^2\hat Q/\hat v_{\pi}`,
        :math:`a_v = -\hat\ell/\hat v_{\pi}` the gradient of the linearised current, the
        derivatives of the bodies (left side minus right side) of

        * ``eq_p_balance[j]`` by :math:`(P_j, Q_j, v_{\pi(j)})`: :math:`(1 - r a_P/s,\ -r a_Q/s,\ -r a_v/s)`
        * ``eq_q_balance[j]``: :math:`(-x a_P/s,\ 1 - x a_Q/s,\ -x a_v/s)`
        * ``eq_v_drop[j]``: :math:`(2sr - z a_P,\ 2sx - z a_Q,\ -1 - z a_v)`, :math:`z = r^2 + x^2`
        * ``ineq_s_max[j]`` by :math:`(P_j, Q_j)`: :math:`(\cos\hat\phi, \sin\hat\phi)`;

        returns ``(entries, rho, rho_p, rho_q, offset)``: the entries, and the second-order
        term's Hessian diagonal and linear coefficients over ``prox_cols`` (``-rho_p``,
        ``-rho_q``) and its constant."""
        lay = self._layout()
        nb, ne, nt = len(self.feeder.buses), len(self.feeder.branches), len(lay["T"])
        s = self.pu_per_unit
        ph = self._read(self.p_hat, lay["br"], (ne, nt))
        qh = self._read(self.q_hat, lay["br"], (ne, nt))
        lh = self._read(self.l_hat, lay["br"], (ne, nt))
        vh = self._read(self.v_hat, lay["bus"], (nb, nt))[lay["par"]]
        r, x = self._r_x()
        z = r ** 2 + x ** 2
        a_p, a_q, a_v = 2 * s ** 2 * ph / vh, 2 * s ** 2 * qh / vh, -lh / vh
        one = np.ones((ne, nt))
        block = np.stack([one - r * a_p / s, -r * a_q / s, -r * a_v / s,
                          -x * a_p / s, one - x * a_q / s, -x * a_v / s,
                          2 * s * r - z * a_p, 2 * s * x - z * a_q, -one - z * a_v], axis=-1)
        parts = [block.reshape(-1)]
        if len(lay["rated"]):
            cp = self._read(self.c_p, lay["rated"], (len(lay["rated"]),))
            cq = self._read(self.c_q, lay["rated"], (len(lay["rated"]),))
            parts.append(np.stack([cp, cq], axis=-1).reshape(-1))
        rho = self._read(self.rho, lay["br"], (ne * nt,))
        rp = self._read(self.rho_p, lay["br"], (ne * nt,))
        rq = self._read(self.rho_q, lay["br"], (ne * nt,))
        return (np.concatenate(parts), np.concatenate([rho, rho]), rp, rq,
                float(value(self.prox_offset)))

    def current_gradient(self, t):
        fd = self.feeder
        s = self.pu_per_unit
        p = np.array([value(self.p_hat[j, t]) for j in fd.branches])
        q = np.array([value(self.q_hat[j, t]) for j in fd.branches])
        lsq = np.array([value(self.l_hat[j, t]) for j in fd.branches])
        vpar = np.array([value(self.v_hat[fd.parent[j], t]) for j in fd.branches])
        return vpar, lsq, -2 * s ** 2 * p, -2 * s ** 2 * q

    def rating_gradient(self, j, t, k):
        return value(self.c_p[j, t]), value(self.c_q[j, t])

