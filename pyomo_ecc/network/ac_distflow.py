r"""AC DistFlow: the nonlinear branch flow model (Baran & Wu 1989) of a radial feeder, with losses.

Same graph, data, prices and balances as :mod:`~pyomo_ecc.network.lindistflow`, with the losses
and the current. With :math:`s = u / S_{base}`, branch :math:`j` from :math:`i = \pi(j)` to
:math:`j` carries the sending-end flows :math:`P_{j,t}, Q_{j,t}` (power units) and the squared
current :math:`\ell_{j,t}` (pu²):

.. math::

    P_{j,t} - \frac{r_j \ell_{j,t}}{s} - \sum_{k \in \mathcal{C}(j)} P_{k,t}
        + \sum_{i \in j} p^{inj}_{i,t} = P^L_{j,t} - \sum_{i \in j,\ \mathrm{fixed}} p^{inj}_{i,t}
        \qquad (\lambda^p_{j,t})

    Q_{j,t} - \frac{x_j \ell_{j,t}}{s} - \sum_{k \in \mathcal{C}(j)} Q_{k,t}
        + \sum_{i \in j} q^{inj}_{i,t} = Q^L_{j,t} - \sum_{i \in j,\ \mathrm{fixed}} q^{inj}_{i,t}
        \qquad (\lambda^q_{j,t})

    v_{j,t} = v_{i,t} - 2 s\,(r_j P_{j,t} + x_j Q_{j,t}) + (r_j^2 + x_j^2)\,\ell_{j,t}

    \ell_{j,t}\, v_{i,t} = s^2 (P_{j,t}^2 + Q_{j,t}^2), \qquad
    P_{j,t}^2 + Q_{j,t}^2 \le \overline{S}_j^2

with :math:`v_{0,t} = V_0^2` and the voltage limits of LinDistFlow. Nonconvex (the current
equation): solve with Ipopt, ``pyomo_ecc.solve(m, "ipopt")``; the start is the lossless flow
at flat voltage, which leads Ipopt to the high-voltage (physical) solution.

=================================  ==========================  ===================================
symbol                             attribute                   meaning
=================================  ==========================  ===================================
:math:`P, Q, v`                    ``p_flow``, ``q_flow``,     as in LinDistFlow
                                   ``v_sq``
:math:`\ell_{j,t}`                 ``l_sq[j, t]``              squared branch current (pu²)
current                            ``eq_current[j, t]``        :math:`\ell v = s^2(P^2+Q^2)`
voltage drop                       ``eq_v_drop[j, t]``         with the loss term
rating                             ``ineq_s_max[j, t]``        sending-end apparent power
=================================  ==========================  ===================================

Example (two buses; losses :math:`r\ell/s`)::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.ac_distflow import ACDistFlow
    >>> g = nx.Graph(); g.add_edge("sub", "A", r=0.05, x=0.02)
    >>> g.nodes["A"]["load"] = 1.0
    >>> m = ecc.Market()
    >>> m.grid = ecc.Producer(bus="sub", b=40.0, p_max=10)
    >>> m.net = ACDistFlow(graph=g, ref_bus="sub", base_mva=10.0)
    >>> _ = ecc.solve(m, "ipopt")
    >>> round(float(m.net.losses().iloc[0]) * 1000, 3)   # kW: r s (1 + loss)^2 MW
    5.051
"""
import numpy as np
from pyomo.environ import Constraint, Var, value

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.network.lindistflow import RadialNetworkData


@declare_block("ACDistFlow")
class ACDistFlowData(RadialNetworkData):
    """The nonlinear DistFlow model of a radial feeder, with losses (see module doc)."""

    formulation = "AC DistFlow"

    def assemble(self):
        market = self.market()
        fd = self.feeder
        s = self.pu_per_unit
        v0 = self.config.v_root ** 2

        def l_init(b, j, t):
            p, q = self._lossless_flows(t)
            return s ** 2 * (p[j] ** 2 + q[j] ** 2) / v0

        self.l_sq = Var(self.branch, market.T, initialize=l_init, bounds=(0, None),
                        doc="squared branch current (pu^2)")
        self._build_common()
        self.eq_v_drop = Constraint(
            self.branch, market.T,
            rule=lambda b, j, t: self.v_sq[j, t] == self.v_sq[fd.parent[j], t]
            - 2 * s * (self.r[j] * self.p_flow[j, t] + self.x[j] * self.q_flow[j, t])
            + (self.r[j] ** 2 + self.x[j] ** 2) * self.l_sq[j, t],
            doc="voltage drop along each branch")
        self.eq_current = Constraint(
            self.branch, market.T,
            rule=lambda b, j, t: self.l_sq[j, t] * self.v_sq[fd.parent[j], t]
            == s ** 2 * (self.p_flow[j, t] ** 2 + self.q_flow[j, t] ** 2),
            doc="squared current")
        self.ineq_s_max = Constraint(
            self.branch_limited, market.T,
            rule=lambda b, j, t: self.p_flow[j, t] ** 2 + self.q_flow[j, t] ** 2 <= self.rating[j] ** 2,
            doc="apparent-power limit at the sending end")

    def inflow_p(self, j, t):
        if j == self.feeder.root:
            return 0.0
        return self.p_flow[j, t] - self.r[j] * self.l_sq[j, t] / self.pu_per_unit

    def inflow_q(self, j, t):
        if j == self.feeder.root:
            return 0.0
        return self.q_flow[j, t] - self.x[j] * self.l_sq[j, t] / self.pu_per_unit

    def branch_loss(self, j, t):
        return value(self.r[j]) * value(self.l_sq[j, t]) / self.pu_per_unit

    def current_gradient(self, t):
        fd = self.feeder
        s = self.pu_per_unit
        p = np.array([value(self.p_flow[j, t]) for j in fd.branches])
        q = np.array([value(self.q_flow[j, t]) for j in fd.branches])
        lsq = np.array([value(self.l_sq[j, t]) for j in fd.branches])
        vpar = np.array([value(self.v_sq[fd.parent[j], t]) for j in fd.branches])
        return vpar, lsq, -2 * s ** 2 * p, -2 * s ** 2 * q

    def rating_gradient(self, j, t, k):
        return 2 * value(self.p_flow[j, t]), 2 * value(self.q_flow[j, t])
