r"""Emission trading (ETS) sectors and an administered electricity price in a CGE economy.

**EmissionTrading**: covered sector :math:`j` emits in proportion to its output,
:math:`e_j = \kappa_j Z_j`; it pays the sector carbon price :math:`p^c_j` on every unit, which enters
its unit cost (zero profit in :class:`~pyomo_ecc.cge.blocks.Production`, or in a closed economy's
sector) as :math:`s\,N\,p^c_j\kappa_j` (:math:`s` = ``value_scale`` converts price x emission units
into the economy's currency, :math:`N` = the numeraire level, so prices stay homogeneous). The block
uses only the small interface :class:`~pyomo_ecc.cge.interface.EconomyInterface` of its economy, so
it works in the SAM-based :class:`~pyomo_ecc.cge.economy.Economy` and in the closed economies of
:mod:`pyomo_ecc.cge.closed` (no trade, government or saving) alike.

.. math::

    p^c_j = \bar p + \mu_j, \qquad
    0 \le \mu_j \perp \bar e_j - e_j \ge 0
    \quad\text{(smoothed: } a + b - \sqrt{a^2 + b^2 + \epsilon^2} = 0,\
    a = (\bar e_j - e_j)/\bar e_j,\ b = \mu_j / p^{ref}_j,\
    p^{ref}_j = 0.1 / (s\,\kappa_j)),

* ``mode="price"``: :math:`\bar p` is given (e.g. by the carbon market model); with ``cap`` or
  ``cap_share`` the caps also hold and :math:`\mu_j` is the extra scarcity premium;
* ``mode="cap"``: :math:`\bar p = 0`, caps required; :math:`p^c_j = \mu_j` is endogenous.

Free allocation: sector :math:`j` receives :math:`A_j = \phi_j \min(\bar e_j, e^0_j)` (or
:math:`\phi_j e^0_j` without a cap) allowances free; their value :math:`s N p^c_j A_j` is a lump-sum
transfer to ``allowance_owner`` (default: the firms' owners, the household of an ``Economy``, the
first institution of a closed economy), it does not change marginal cost. The remaining revenue
:math:`s N \sum_j p^c_j (e_j - A_j)` goes to ``recycling``: ``"government"`` (budget, the
default) or ``"household"`` (lump sum) in an ``Economy``; any institution of a closed economy
(default: its first).

Cap and price modes are dual: the permit price of a cap, given as a price, reproduces the cap's
allocation, and a cap at the emissions of a price has that price as its permit price (tested on
the STDCGE economy and on MPSGE.jl's two-by-two economy, where a cap at the emissions of MPSGE's
10 % output tax gives the published allocation and a permit price of 0.1 :math:`p_X`).

Caps must leave the economy room to adjust: with Leontief technology and fixed factor
endowments, binding output-proportional caps on *every* sector cannot all hold (the factors must
be employed somewhere), and Ipopt reports the system infeasible.

**AdministeredPrice**: the producer price of one good is set from outside (e.g. the electricity
price of a market-model run, as a ratio to its benchmark): :math:`p^z_g = r\,N`; a per-unit wedge
:math:`w_g` (free variable) enters the sector's unit cost and :math:`w_g Z_g` is paid to the
government (a subsidy when negative), which keeps the system square.

==========================  =====================  ===============================================
symbol                      attribute              meaning
==========================  =====================  ===============================================
:math:`e_j`                 ``em[j]``              emissions (emission units)
:math:`\kappa_j`            ``intensity[j]``       emissions per unit of output (mutable)
:math:`p^c_j`               ``pco2[j]``            carbon price paid by sector :math:`j`
:math:`\bar p`              ``price``              given carbon price (mutable)
:math:`\mu_j`               ``mu[j]``              cap scarcity premium (0 where the cap is slack)
:math:`\bar e_j`            ``cap[j]``             cap (mutable; only with caps)
:math:`r`, :math:`w_g`      ``ratio``, ``wedge``   administered price ratio (mutable), wedge
==========================  =====================  ===============================================
"""
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue, In

from pyomo_ecc.cge.blocks import AgentData
from pyomo_ecc.cge.interface import EconomyInterface
from pyomo_ecc.core.block import declare_block


def _mapping_or_number(v):
    if isinstance(v, dict):
        return {str(k): float(x) for k, x in v.items()}
    return float(v)


@declare_block("EmissionTrading")
class EmissionTradingData(AgentData):
    """An emission trading scheme over some production sectors; see the module documentation."""

    CONFIG = AgentData.CONFIG()
    HOST = EconomyInterface
    CONFIG.declare("sectors", ConfigValue(default=None, description="covered sectors (default: keys of "
                                                                    "intensity / base_emissions)"))
    CONFIG.declare("intensity", ConfigValue(default=None, domain=dict,
                                            description="emissions per unit of benchmark output, per sector"))
    CONFIG.declare("base_emissions", ConfigValue(default=None, domain=dict,
                                                 description="benchmark emissions per sector (sets intensity)"))
    CONFIG.declare("mode", ConfigValue(default="price", domain=In(["price", "cap"])))
    CONFIG.declare("price", ConfigValue(default=0.0, domain=float, description="carbon price (price mode)"))
    CONFIG.declare("cap", ConfigValue(default=None, domain=dict, description="cap per sector"))
    CONFIG.declare("cap_share", ConfigValue(default=None, domain=float,
                                            description="caps as a share of benchmark emissions"))
    CONFIG.declare("free_allocation", ConfigValue(default=0.0, domain=_mapping_or_number,
                                                  description="share of the cap given free (number or dict)"))
    CONFIG.declare("recycling", ConfigValue(default=None, domain=str,
                                            description="institution receiving the auction revenue (default: "
                                                        "the economy's, e.g. 'government')"))
    CONFIG.declare("allowance_owner", ConfigValue(default=None, domain=str,
                                                  description="institution receiving the value of free "
                                                              "allowances (default: the firms' owners, e.g. "
                                                              "'household')"))
    CONFIG.declare("value_scale", ConfigValue(default=1.0, domain=float,
                                              description="economy currency per (price unit x emission unit)"))
    CONFIG.declare("smoothing", ConfigValue(default=1e-9, domain=float,
                                            description="epsilon of the smoothed complementarity"))

    def build_agent(self, eco):
        cfg = self.config
        if (cfg.intensity is None) == (cfg.base_emissions is None):
            self.fail("give exactly one of 'intensity' and 'base_emissions'")
        given = cfg.intensity if cfg.intensity is not None else cfg.base_emissions
        sectors = list(cfg.sectors) if cfg.sectors is not None else list(given)
        known = eco.policy_sectors()
        bad = [j for j in sectors if j not in known]
        if bad:
            self.fail(f"unknown sector(s) {bad}; the economy's sectors are {known}")
        missing = [j for j in sectors if j not in given]
        if missing:
            self.fail(f"no {'intensity' if cfg.intensity is not None else 'base emissions'} for sector(s) {missing}")
        z0 = {j: eco.benchmark_output(j) for j in sectors}
        kappa = {j: float(given[j]) / (1.0 if cfg.intensity is not None else z0[j]) for j in sectors}
        bad = [j for j, k in kappa.items() if not k >= 0]
        if bad:
            self.fail(f"emission intensities must be non-negative: {bad}")
        if cfg.price < 0:
            self.fail(f"carbon price must be non-negative, got {cfg.price}")
        if cfg.cap is not None and cfg.cap_share is not None:
            self.fail("give at most one of 'cap' and 'cap_share'")
        if not cfg.value_scale > 0:
            self.fail(f"value_scale must be positive, got {cfg.value_scale}")
        for opt in ("cap", "free_allocation"):
            v = getattr(cfg, opt)
            extra = [j for j in v if j not in sectors] if isinstance(v, dict) else []
            if extra:
                self.fail(f"'{opt}' names sector(s) {extra} not covered by this scheme (sectors: {sectors})")
        recipients = {}
        for opt, kind in (("recycling", "revenue"), ("allowance_owner", "owners")):
            who = getattr(cfg, opt) if getattr(cfg, opt) is not None else eco.default_institution(kind)
            if who not in eco.institutions():
                self.fail(f"'{opt}': {who!r} is not an institution of '{eco.name}'; they are "
                          f"{eco.institutions()}")
            recipients[kind] = who
        e0 = {j: kappa[j] * z0[j] for j in sectors}
        caps = None
        if cfg.cap is not None:
            miss = [j for j in sectors if j not in cfg.cap]
            if miss:
                self.fail(f"no cap for sector(s) {miss}")
            caps = {j: float(cfg.cap[j]) for j in sectors}
        elif cfg.cap_share is not None:
            caps = {j: cfg.cap_share * e0[j] for j in sectors}
        if caps is not None and any(not c > 0 for c in caps.values()):
            self.fail(f"caps must be positive: {caps}")
        if cfg.mode == "cap" and caps is None:
            self.fail("mode 'cap' needs 'cap' or 'cap_share'")
        if cfg.mode == "cap" and cfg.price != 0:
            self.fail(f"mode 'cap' makes the carbon price endogenous; got price={cfg.price} (use mode "
                      f"'price' with caps for a given price plus a scarcity premium)")
        fa = cfg.free_allocation
        fa = {j: (fa.get(j, 0.0) if isinstance(fa, dict) else fa) for j in sectors}
        if any(not 0 <= v <= 1 for v in fa.values()):
            self.fail(f"free_allocation shares must be in [0, 1]: {fa}")
        output = {j: eco.sector_output(j) for j in sectors}
        self.J = pyo.Set(initialize=sectors, ordered=True)
        self.intensity = pyo.Param(self.J, initialize=kappa, mutable=True)
        self.price = pyo.Param(initialize=cfg.price if cfg.mode == "price" else 0.0, mutable=True)
        self.free_share = pyo.Param(self.J, initialize=fa, mutable=True)
        self.em0 = pyo.Param(self.J, initialize=e0)
        p0 = cfg.price if cfg.mode == "price" else 0.0
        self.em = pyo.Var(self.J, initialize=e0, doc="emissions")
        self.pco2 = pyo.Var(self.J, initialize=p0, doc="sector carbon price")
        self.mu = pyo.Var(self.J, initialize=0.0, doc="cap scarcity premium")
        self.eq_price = pyo.Constraint(self.J, rule=lambda b, j: b.pco2[j] == b.price + b.mu[j])
        if caps is not None:
            self.cap = pyo.Param(self.J, initialize=caps, mutable=True)
            # premium scale: the carbon price at which carbon costs 10 % of the benchmark unit cost
            pref = {j: 0.1 / (cfg.value_scale * kappa[j]) if kappa[j] > 0 else 1.0 for j in sectors}
            eps = cfg.smoothing

            def fb(b, j):
                a = (b.cap[j] - b.em[j]) / b.cap[j]
                c = b.mu[j] / pref[j]
                return a + c - pyo.sqrt(a ** 2 + c ** 2 + eps ** 2) == 0
            self.eq_cap = pyo.Constraint(self.J, rule=fb, doc="smoothed complementarity cap / premium")
            # free allowances on min(cap, benchmark emissions): follows later changes of the caps
            self.allowance = pyo.Expression(self.J, rule=lambda b, j: b.free_share[j] * 0.5 * (
                b.cap[j] + b.em0[j] - abs(b.cap[j] - b.em0[j])), doc="free allowances")
        else:
            self.mu.fix(0.0)
            self.allowance = pyo.Expression(self.J, rule=lambda b, j: b.free_share[j] * b.em0[j],
                                            doc="free allowances")
        self.eq_emissions = pyo.Constraint(self.J, rule=lambda b, j: b.em[j] == b.intensity[j] * output[j])
        num = eco.numeraire_level
        s = cfg.value_scale
        for j in sectors:
            eco.add_unit_cost(self, j, "carbon", s * num * self.pco2[j] * self.intensity[j])
            eco.add_flow(j, recipients["owners"], "free_allowances", s * num * self.pco2[j] * self.allowance[j])
            eco.add_flow(j, recipients["revenue"], "carbon_revenue",
                         s * num * self.pco2[j] * (self.em[j] - self.allowance[j]))

    def table(self):
        """Emissions and carbon prices: DataFrame indexed ``sector``."""
        rows = [(j, pyo.value(self.em0[j]), pyo.value(self.em[j]), pyo.value(self.pco2[j]), pyo.value(self.mu[j]),
                 pyo.value(self.cap[j]) if hasattr(self, "cap") else float("inf")) for j in self.J]
        return pd.DataFrame(rows, columns=["sector", "emissions_base", "emissions", "carbon_price", "premium",
                                           "cap"]).set_index("sector")


@declare_block("AdministeredPrice")
class AdministeredPriceData(AgentData):
    """Set a good's producer price from outside (e.g. an electricity market run); see the module
    documentation."""

    CONFIG = AgentData.CONFIG()
    CONFIG.declare("good", ConfigValue(domain=str, description="the good whose price is set"))
    CONFIG.declare("ratio", ConfigValue(default=1.0, domain=float,
                                        description="price relative to its benchmark (numeraire units)"))

    def build_agent(self, eco):
        g = self.config.good
        if g not in eco.I:
            self.fail(f"unknown good {g!r}; goods are {list(eco.I)}")
        if g not in eco._reg.producer:
            self.fail(f"good {g!r} has no Production block yet; add the Production block first")
        if not self.config.ratio > 0:
            self.fail(f"ratio must be positive, got {self.config.ratio}")
        self.ratio = pyo.Param(initialize=self.config.ratio, mutable=True)
        self.wedge = pyo.Var(initialize=0.0, doc="per-unit wedge between set price and cost")
        eco._reg.unit_cost[g].append(("administered_price_wedge", self.wedge))
        prod = eco._reg.producer[g]
        eco.add_flow(g, "government", "administered_price_wedge", self.wedge * prod.z[g])
        self.eq_price = pyo.Constraint(expr=eco.pz[g] == self.ratio * eco.numeraire_level)
