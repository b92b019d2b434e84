r"""CGE agents: production, Armington imports, CET exports, household, government, investment and
the rest of the world. Each is placed inside a :class:`~pyomo_ecc.cge.economy.Economy`, is
calibrated from the economy's SAM at construction, owns its quantities and registers its supplies,
demands and income flows; prices are the economy's market prices (see
:mod:`pyomo_ecc.cge.economy`). Equations follow STDCGE (Hosoe, Gasawa & Hashimoto 2010, ch. 6).

**Production** (sector :math:`j`; Leontief in intermediates and value added, value added Cobb-Douglas
or CES in factors; zero profit):

.. math::

    Y_j = b_j \prod_h F_{hj}^{\beta_{hj}},\quad F_{hj} = \beta_{hj} p^y_j Y_j / p^f_h
    \quad\text{(or CES: } Y_j = b_j(\sum_h \beta_{hj}F_{hj}^{\rho_j})^{1/\rho_j},\
    F_{hj} = (b_j^{\rho_j}\beta_{hj} p^y_j/p^f_h)^{1/(1-\rho_j)} Y_j),

    X_{ij} = a^x_{ij} Z_j,\quad Y_j = a^y_j Z_j,\quad
    p^z_j = a^y_j p^y_j + \sum_i a^x_{ij} p^q_i + \sum_k c_{kj}
    \quad (c_{kj}: \text{registered unit costs, e.g. carbon}),\quad T^z_j = \tau^z_j p^z_j Z_j .

**Armington** (:math:`\eta_i = (\sigma_i-1)/\sigma_i`, :math:`p^m_i = \varepsilon p^{Wm}_i`):

.. math::

    Q_i = \gamma_i(\delta^m_i M_i^{\eta_i} + \delta^d_i D_i^{\eta_i})^{1/\eta_i},\quad
    M_i = \Big(\frac{\gamma_i^{\eta_i}\delta^m_i p^q_i}{(1+\tau^m_i)p^m_i}\Big)^{\frac{1}{1-\eta_i}} Q_i,\quad
    D_i = \Big(\frac{\gamma_i^{\eta_i}\delta^d_i p^q_i}{p^d_i}\Big)^{\frac{1}{1-\eta_i}} Q_i,\quad
    T^m_i = \tau^m_i p^m_i M_i .

**Transformation (CET)** (:math:`\phi_i = (\psi_i+1)/\psi_i`, :math:`p^e_i = \varepsilon p^{We}_i`):

.. math::

    Z_i = \theta_i(\xi^e_i E_i^{\phi_i} + \xi^d_i D_i^{\phi_i})^{1/\phi_i},\quad
    E_i = \Big(\frac{\theta_i^{\phi_i}\xi^e_i(1+\tau^z_i)p^z_i}{p^e_i}\Big)^{\frac{1}{1-\phi_i}} Z_i,\quad
    D_i = \Big(\frac{\theta_i^{\phi_i}\xi^d_i(1+\tau^z_i)p^z_i}{p^d_i}\Big)^{\frac{1}{1-\phi_i}} Z_i .

**Institutions** (income = receipts; expenditure exhausts income):

.. math::

    I^H = \sum_{\to H} \text{flows},\ T^d = \tau^d I^H,\ S^p = s^p I^H,\
    p^q_i X^p_i = \alpha_i (I^H - S^p - T^d),\ U = \prod_i (X^p_i)^{\alpha_i};

    I^G = \sum_{\to G} \text{flows},\ S^g = s^g I^G,\ p^q_i X^g_i = \mu_i (I^G - S^g);\qquad
    I^V = S^p + S^g + \varepsilon S^f,\ p^q_i X^v_i = \lambda_i I^V;

    \text{balance of payments (forex market): } \sum_i p^{We}_i E_i + S^f = \sum_i p^{Wm}_i M_i .

====================================  ===============================  ==============================
symbol                                attribute                        block
====================================  ===============================  ==============================
:math:`Y, F, X, Z, p^y`               ``y, f, x, z, py``               Production
:math:`a^x, a^y, \beta, b`            ``ax, ay, beta, b`` (mutable)    Production
:math:`Q, M, D`                       ``q, m, d``                      Armington
:math:`Z, E, D`                       ``z, e, d``                      Transformation
:math:`X^p, I^H, U`                   ``xp, inc, utility``             Household
:math:`F^{H}_h, s^p, \tau^d`          ``ff[h], ssp, taud`` (fixed)     Household
:math:`X^g, I^G`                      ``xg, inc``                      Government
:math:`X^v, I^V`                      ``xv, inc``                      Investment
:math:`S^f`                           ``sf`` (fixed)                   RestOfWorld
====================================  ===============================  ==============================
"""
import math

import pandas as pd
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue, In

from pyomo_ecc.cge.calibration import (ces_calibrate, cet_calibrate, check_elasticity, cobb_douglas_scale,
                                       cobb_douglas_shares, per_good)
from pyomo_ecc.cge.economy import LOWER, EconomyData, find_economy
from pyomo_ecc.core.block import EccBlockData, declare_block
from pyomo_ecc.errors import InputError


class AgentData(EccBlockData):
    """Base of the CGE agents: finds its economy; ``link()`` runs at assembly."""

    CONFIG = EccBlockData.CONFIG()
    ROLE = None
    #: the economies this agent can be placed in (sector-level policies: any
    #: :class:`~pyomo_ecc.cge.interface.EconomyInterface`)
    HOST = None

    def economy(self):
        return find_economy(self)

    def build(self):
        eco = self.economy()
        host = self.HOST or EconomyData
        if not isinstance(eco, host):
            self.fail(f"must be placed inside {host.ECONOMY_KIND}; '{eco.name}' is "
                      f"{eco.ECONOMY_KIND}")
        eco.register_agent(self, self.ROLE)
        try:
            self.build_agent(eco)
        except InputError as e:
            msg = str(e)
            if f"'{self.name}'" in msg:
                raise
            self.fail(msg)

    def build_agent(self, eco):  # pragma: no cover - overridden
        pass

    def link(self):
        """Equations that need registered sums; called by :meth:`Economy.assemble`."""

    def _goods(self, eco, goods):
        if goods is None:
            return list(eco.I)
        bad = [g for g in goods if g not in eco.I]
        if bad:
            self.fail(f"unknown good(s) {bad}; goods are {list(eco.I)}")
        return list(goods)


_pos = (LOWER, None)


@declare_block("Production")
class ProductionData(AgentData):
    """Production activities (one per good): see the module documentation."""

    CONFIG = AgentData.CONFIG()
    CONFIG.declare("sectors", ConfigValue(default=None, description="goods produced here (default all)"))
    CONFIG.declare("va", ConfigValue(default="cobb_douglas", domain=In(["cobb_douglas", "ces"]),
                                     description="value-added function"))
    CONFIG.declare("sigma_va", ConfigValue(default=None, description="CES elasticity of substitution "
                                                                     "between factors (number or dict)"))

    def build_agent(self, eco):
        cfg, b = self.config, eco.bench
        J = self._goods(eco, cfg.sectors)
        taken = [j for j in J if j in eco._reg.producer]
        if taken:
            self.fail(f"sector(s) {taken} are already produced by '{eco._reg.producer[taken[0]].name}'")
        self.J = pyo.Set(initialize=J, ordered=True, doc="sectors of this block")
        F0, X0, Y0, Z0 = b.F0[J], b.X0[J], b.Y0[J], b.Z0[J]
        self.ax = pyo.Param(eco.I, self.J, mutable=True,
                            initialize={(i, j): X0.at[i, j] / Z0[j] for i in eco.I for j in J})
        self.ay = pyo.Param(self.J, mutable=True, initialize={j: Y0[j] / Z0[j] for j in J})
        beta = cobb_douglas_shares(F0)
        if cfg.va == "cobb_douglas":
            if cfg.sigma_va is not None:
                self.fail("sigma_va is only used with va='ces'")
            scale = {j: cobb_douglas_scale(Y0[j], F0[j], beta[j]) for j in J}
            rho = None
        else:
            sig = per_good(cfg.sigma_va, J, "sigma_va (CES value added)")
            rho, scale = {}, {}
            for j in J:
                rho[j], beta[j], scale[j] = ces_calibrate(Y0[j], F0[j], check_elasticity(
                    sig[j], f"sigma_va of sector {j!r}"))
        self.beta = pyo.Param(eco.H, self.J, mutable=True, initialize={(h, j): beta.at[h, j] for h in eco.H for j in J})
        self.b = pyo.Param(self.J, mutable=True, initialize=scale)
        self.y = pyo.Var(self.J, initialize=Y0.to_dict(), bounds=_pos, doc="composite factor (value added)")
        self.f = pyo.Var(eco.H, self.J, initialize={(h, j): F0.at[h, j] for h in eco.H for j in J},
                         bounds=(0, None), doc="factor input")
        self.x = pyo.Var(eco.I, self.J, initialize={(i, j): X0.at[i, j] for i in eco.I for j in J},
                         bounds=(0, None), doc="intermediate input")
        self.z = pyo.Var(self.J, initialize=Z0.to_dict(), bounds=_pos, doc="gross output")
        self.py = pyo.Var(self.J, initialize=1.0, bounds=_pos, doc="value-added price")
        act = {j: [h for h in eco.H if F0.at[h, j] > 0] for j in J}
        for j in J:
            for h in eco.H:
                if F0.at[h, j] == 0:
                    self.f[h, j].fix(0.0)
            for i in eco.I:
                if X0.at[i, j] == 0:
                    self.x[i, j].fix(0.0)
        if rho is None:
            self.eq_y = pyo.Constraint(self.J, rule=lambda m, j: m.y[j] == m.b[j] * pyo.prod(
                m.f[h, j] ** m.beta[h, j] for h in act[j]))
            self.eq_f = pyo.Constraint(eco.H, self.J, rule=lambda m, h, j: pyo.Constraint.Skip if h not in act[j]
                                       else m.f[h, j] * eco.pf[h] == m.beta[h, j] * m.py[j] * m.y[j])
        else:
            self.rho = pyo.Param(self.J, initialize=rho)
            self.eq_y = pyo.Constraint(self.J, rule=lambda m, j: m.y[j] == m.b[j] * sum(
                m.beta[h, j] * m.f[h, j] ** m.rho[j] for h in act[j]) ** (1 / m.rho[j]))
            self.eq_f = pyo.Constraint(eco.H, self.J, rule=lambda m, h, j: pyo.Constraint.Skip if h not in act[j]
                                       else m.f[h, j] == (m.b[j] ** m.rho[j] * m.beta[h, j] * m.py[j] / eco.pf[h])
                                       ** (1 / (1 - m.rho[j])) * m.y[j])
        self.eq_x = pyo.Constraint(eco.I, self.J, rule=lambda m, i, j: pyo.Constraint.Skip if X0.at[i, j] == 0
                                   else m.x[i, j] == m.ax[i, j] * m.z[j])
        self.eq_yz = pyo.Constraint(self.J, rule=lambda m, j: m.y[j] == m.ay[j] * m.z[j])
        for j in J:
            eco._reg.producer[j] = self
            eco.add_supply(self, "output", j, self.z[j])
            for i in eco.I:
                if X0.at[i, j] > 0:
                    eco.add_demand(self, "composite", i, self.x[i, j])
            for h in act[j]:
                eco.add_demand(self, "factor", h, self.f[h, j])
            eco.add_flow(j, "government", "production_tax", eco.tauz[j] * eco.pz[j] * self.z[j])

    def link(self):
        eco = self.economy()
        extra = eco._reg.unit_cost
        self.eq_zero_profit = pyo.Constraint(self.J, rule=lambda m, j: eco.pz[j] == m.ay[j] * m.py[j] + sum(
            m.ax[i, j] * eco.pq[i] for i in eco.I) + sum(e for _, e in extra.get(j, [])))


@declare_block("Armington")
class ArmingtonData(AgentData):
    """CES aggregation of imports and domestic goods (Armington); see the module documentation."""

    CONFIG = AgentData.CONFIG()
    CONFIG.declare("sigma", ConfigValue(default=None, description="elasticity of substitution, number or "
                                                                  "dict per good (required)"))
    CONFIG.declare("goods", ConfigValue(default=None))

    def build_agent(self, eco):
        b = eco.bench
        G = self._goods(eco, self.config.goods)
        sig = per_good(self.config.sigma, G, "Armington elasticity sigma")
        self.G = pyo.Set(initialize=G, ordered=True)
        eta, dm, dd, gam = {}, {}, {}, {}
        for i in G:
            x0 = pd.Series({"m": b.M0[i], "d": b.D0[i]})
            pr = pd.Series({"m": 1 + b.taum[i], "d": 1.0})
            sigma_i = check_elasticity(sig[i], f"Armington sigma of {i!r}")
            eta[i], delta, gam[i] = ces_calibrate(b.Q0[i], x0, sigma_i, pr)
            dm[i], dd[i] = delta["m"], delta["d"]
        self.eta = pyo.Param(self.G, initialize=eta)
        self.deltam = pyo.Param(self.G, initialize=dm, mutable=True)
        self.deltad = pyo.Param(self.G, initialize=dd, mutable=True)
        self.gamma = pyo.Param(self.G, initialize=gam, mutable=True)
        self.q = pyo.Var(self.G, initialize=b.Q0[G].to_dict(), bounds=_pos, doc="composite good")
        self.m = pyo.Var(self.G, initialize=b.M0[G].to_dict(), bounds=_pos, doc="imports")
        self.d = pyo.Var(self.G, initialize=b.D0[G].to_dict(), bounds=_pos, doc="domestic good")
        pm = {i: eco.epsilon * eco.pwm[i] for i in G}
        self.eq_q = pyo.Constraint(self.G, rule=lambda a, i: a.q[i] == a.gamma[i] * (
            a.deltam[i] * a.m[i] ** a.eta[i] + a.deltad[i] * a.d[i] ** a.eta[i]) ** (1 / a.eta[i]))
        self.eq_m = pyo.Constraint(self.G, rule=lambda a, i: a.m[i] == (
            a.gamma[i] ** a.eta[i] * a.deltam[i] * eco.pq[i] / ((1 + eco.taum[i]) * pm[i]))
            ** (1 / (1 - a.eta[i])) * a.q[i])
        self.eq_d = pyo.Constraint(self.G, rule=lambda a, i: a.d[i] == (
            a.gamma[i] ** a.eta[i] * a.deltad[i] * eco.pq[i] / eco.pd[i]) ** (1 / (1 - a.eta[i])) * a.q[i])
        for i in G:
            eco.add_supply(self, "composite", i, self.q[i])
            eco.add_demand(self, "domestic", i, self.d[i])
            eco.add_demand(self, "forex", "world", eco.pwm[i] * self.m[i])
            eco.add_flow(i, "government", "import_tariff", eco.taum[i] * pm[i] * self.m[i])


@declare_block("Transformation")
class TransformationData(AgentData):
    """CET transformation of output into exports and domestic sales; see the module documentation."""

    CONFIG = AgentData.CONFIG()
    CONFIG.declare("psi", ConfigValue(default=None, description="elasticity of transformation, number or "
                                                                "dict per good (required)"))
    CONFIG.declare("goods", ConfigValue(default=None))

    def build_agent(self, eco):
        b = eco.bench
        G = self._goods(eco, self.config.goods)
        psi = per_good(self.config.psi, G, "CET elasticity psi")
        self.G = pyo.Set(initialize=G, ordered=True)
        phi, xe, xd, th = {}, {}, {}, {}
        for i in G:
            x0 = pd.Series({"e": b.E0[i], "d": b.D0[i]})
            # STDCGE scales theta to output before tax (Z0), while D0 + E0 = (1 + tauz) Z0
            phi[i], xi, th[i] = cet_calibrate(b.Z0[i], x0, check_elasticity(psi[i], f"CET psi of {i!r}", ces=False))
            xe[i], xd[i] = xi["e"], xi["d"]
        self.phi = pyo.Param(self.G, initialize=phi)
        self.xie = pyo.Param(self.G, initialize=xe, mutable=True)
        self.xid = pyo.Param(self.G, initialize=xd, mutable=True)
        self.theta = pyo.Param(self.G, initialize=th, mutable=True)
        self.z = pyo.Var(self.G, initialize=b.Z0[G].to_dict(), bounds=_pos, doc="output transformed")
        self.e = pyo.Var(self.G, initialize=b.E0[G].to_dict(), bounds=_pos, doc="exports")
        self.d = pyo.Var(self.G, initialize=b.D0[G].to_dict(), bounds=_pos, doc="domestic sales")
        pe = {i: eco.epsilon * eco.pwe[i] for i in G}
        self.eq_z = pyo.Constraint(self.G, rule=lambda t, i: t.z[i] == t.theta[i] * (
            t.xie[i] * t.e[i] ** t.phi[i] + t.xid[i] * t.d[i] ** t.phi[i]) ** (1 / t.phi[i]))
        self.eq_e = pyo.Constraint(self.G, rule=lambda t, i: t.e[i] == (
            t.theta[i] ** t.phi[i] * t.xie[i] * (1 + eco.tauz[i]) * eco.pz[i] / pe[i])
            ** (1 / (1 - t.phi[i])) * t.z[i])
        self.eq_d = pyo.Constraint(self.G, rule=lambda t, i: t.d[i] == (
            t.theta[i] ** t.phi[i] * t.xid[i] * (1 + eco.tauz[i]) * eco.pz[i] / eco.pd[i])
            ** (1 / (1 - t.phi[i])) * t.z[i])
        for i in G:
            eco.add_demand(self, "output", i, self.z[i])
            eco.add_supply(self, "domestic", i, self.d[i])
            eco.add_supply(self, "forex", "world", eco.pwe[i] * self.e[i])


@declare_block("Household")
class HouseholdData(AgentData):
    """The representative household: factor owner, Cobb-Douglas consumer, saver, taxpayer."""

    CONFIG = AgentData.CONFIG()
    ROLE = "household"

    def build_agent(self, eco):
        b = eco.bench
        inc0 = b.income0
        self.alpha = pyo.Param(eco.I, initialize=cobb_douglas_shares(b.Xp0).to_dict(), mutable=True,
                               doc="budget shares")
        self.ff = pyo.Var(eco.H, initialize=b.FF0.to_dict(), doc="factor endowment (exogenous)")
        self.ff.fix()
        self.ssp = pyo.Var(initialize=b.Sp0 / inc0, doc="saving rate (exogenous unless investment-driven)")
        self.ssp.fix()
        self.taud = pyo.Var(initialize=b.Td0 / inc0, doc="direct tax rate (exogenous)")
        self.taud.fix()
        self.inc = pyo.Var(initialize=inc0, bounds=_pos, doc="household income")
        self.xp = pyo.Var(eco.I, initialize=b.Xp0.to_dict(), bounds=_pos, doc="consumption")
        self.td = pyo.Expression(expr=self.taud * self.inc, doc="direct tax")
        self.sp = pyo.Expression(expr=self.ssp * self.inc, doc="private saving")
        self.utility = pyo.Expression(expr=pyo.prod(self.xp[i] ** self.alpha[i] for i in eco.I),
                                      doc="Cobb-Douglas utility")
        for h in eco.H:
            eco.add_supply(self, "factor", h, self.ff[h])
            eco.add_flow(h, "household", "factor_income", eco.pf[h] * self.ff[h])
        for i in eco.I:
            eco.add_demand(self, "composite", i, self.xp[i])
        eco.add_flow("household", "government", "direct_tax", self.td)
        eco.add_flow("household", "investment", "private_saving", self.sp)
        self.eq_xp = pyo.Constraint(eco.I, rule=lambda hh, i: eco.pq[i] * hh.xp[i] == hh.alpha[i] * (
            hh.inc - hh.sp - hh.td))

    def link(self):
        eco = self.economy()
        self.eq_income = pyo.Constraint(expr=self.inc == eco.income("household"))

    def final_demand(self):
        return {i: pyo.value(self.xp[i]) for i in self.xp}


@declare_block("Government")
class GovernmentData(AgentData):
    """Government: collects taxes, saves a fixed share, spends the rest in fixed value shares."""

    CONFIG = AgentData.CONFIG()
    ROLE = "government"

    def build_agent(self, eco):
        b = eco.bench
        rev0 = b.Td0 + b.Tz0.sum() + b.Tm0.sum()
        if not rev0 > 0:
            self.fail("the SAM gives the government no revenue")
        self.mu = pyo.Param(eco.I, initialize=cobb_douglas_shares(b.Xg0).to_dict() if b.Xg0.sum() > 0
                            else {i: 0.0 for i in eco.I}, mutable=True, doc="expenditure shares")
        self.ssg = pyo.Var(initialize=b.Sg0 / rev0, doc="saving rate (exogenous)")
        self.ssg.fix()
        self.inc = pyo.Var(initialize=rev0, doc="government revenue")
        self.xg = pyo.Var(eco.I, initialize=b.Xg0.to_dict(), bounds=(0, None), doc="government consumption")
        self.sg = pyo.Expression(expr=self.ssg * self.inc, doc="government saving")
        for i in eco.I:
            eco.add_demand(self, "composite", i, self.xg[i])
        eco.add_flow("government", "investment", "government_saving", self.sg)
        self.eq_xg = pyo.Constraint(eco.I, rule=lambda g, i: eco.pq[i] * g.xg[i] == g.mu[i] * (g.inc - g.sg))

    def link(self):
        eco = self.economy()
        self.eq_income = pyo.Constraint(expr=self.inc == eco.income("government"))

    def final_demand(self):
        return {i: pyo.value(self.xg[i]) for i in self.xg}


@declare_block("Investment")
class InvestmentData(AgentData):
    """Savings = investment: the investment account spends all savings in fixed value shares
    (savings-driven), or real investment is fixed and the household saving rate adjusts
    (investment-driven closure of the economy)."""

    CONFIG = AgentData.CONFIG()
    ROLE = "investment"

    def build_agent(self, eco):
        b = eco.bench
        inv0 = b.Sp0 + b.Sg0 + b.Sf0
        if not inv0 > 0:
            self.fail(f"total benchmark saving S^p + S^g + S^f = {inv0:g} must be positive")
        self.lam = pyo.Param(eco.I, initialize=(b.Xv0 / inv0).to_dict(), mutable=True, doc="investment shares")
        self.inc = pyo.Var(initialize=inv0, doc="total savings = total investment (value)")
        self.xv = pyo.Var(eco.I, initialize=b.Xv0.to_dict(), bounds=(0, None), doc="investment demand")
        self.inv0 = pyo.Param(initialize=inv0)
        for i in eco.I:
            eco.add_demand(self, "composite", i, self.xv[i])
        self.eq_xv = pyo.Constraint(eco.I, rule=lambda v, i: eco.pq[i] * v.xv[i] == v.lam[i] * v.inc)

    def link(self):
        eco = self.economy()
        self.eq_savings = pyo.Constraint(expr=self.inc == eco.income("investment"),
                                         doc="savings = investment")
        if eco.config.savings_closure == "investment_driven":
            eco.agent("household").ssp.unfix()
            self.eq_real_investment = pyo.Constraint(
                expr=self.inc == self.inv0 * pyo.prod(eco.pq[i] ** self.lam[i] for i in eco.I),
                doc="real investment fixed at the benchmark")

    def final_demand(self):
        return {i: pyo.value(self.xv[i]) for i in self.xv}


@declare_block("RestOfWorld")
class RestOfWorldData(AgentData):
    """Rest of the world: foreign savings and the balance of payments (the forex market, price
    :math:`\\varepsilon`; world prices ``pwe``/``pwm`` live on the economy)."""

    CONFIG = AgentData.CONFIG()
    ROLE = "rest_of_world"

    def build_agent(self, eco):
        self.sf = pyo.Var(initialize=eco.bench.Sf0, doc="foreign savings (foreign currency)")
        self.sf.fix()
        eco.add_supply(self, "forex", "world", self.sf)
        eco.add_flow("rest_of_world", "investment", "foreign_saving", eco.epsilon * self.sf)

    def link(self):
        if self.economy().config.external_closure == "fixed_exchange_rate":
            self.sf.unfix()


def ev_hicks(household, utility0=None):
    r"""Hicksian equivalent variation of a Cobb-Douglas household at benchmark prices 1:
    :math:`EV = (U^1 - U^0) / \prod_i \alpha_i^{\alpha_i}` (STDCGE)."""
    eco = household.economy()
    a = {i: pyo.value(household.alpha[i]) for i in eco.I}
    u0 = utility0 if utility0 is not None else math.prod(eco.bench.Xp0[i] ** a[i] for i in eco.I)
    k = math.prod(a[i] ** a[i] for i in eco.I)
    return (pyo.value(household.utility) - u0) / k
