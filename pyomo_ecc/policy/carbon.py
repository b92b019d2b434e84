r"""Carbon policies: a cap with an endogenous price, a cost at an exogenous price with free
allocation, and a rate-based intensity standard.

**Carbon cap** over a scope :math:`S` of participants and :math:`T_S` of periods:

.. math::

    \sum_{i \in S} \sum_{t \in T_S} e_{i,t} \;\le\; \Pi \qquad (\mu \le 0)

Its price is :math:`\pi^{CO_2} = -\mu`: the fall in total cost per extra tonne of cap
(currency/tCO2). When the cap binds, an emitter :math:`i` that is strictly between its limits
produces where its marginal cost plus :math:`\rho_i\,\pi^{CO_2}` equals its LMP.

**Carbon cost with free allocation** (seed 001, eq. 21): at an exogenous price :math:`p_c`

.. math::

    C_i = p_c \sum_{t \in T_S} \left(e_{i,t} - a_{i,t}\right)
        = (\rho_i - A_i)\,p_c \sum_t Q_{i,t}

is added to the objective; a unit below its benchmark (:math:`\rho_i < A_i`) earns from its
surplus allowances.

**Intensity standard** (rate-based): the scope's average emission rate may not exceed
:math:`R` tonnes per MWh of output,

.. math::

    \sum_{i \in S}\sum_{t \in T_S} \left(e_{i,t} - R\,E_{i,t}\right) \le 0 \qquad (\mu \le 0)

with price :math:`-\mu` (currency per tonne of excess emissions); a unit's effective marginal
cost is :math:`c_i + (\rho_i - R)(-\mu)`: units cleaner than :math:`R` are subsidised.

========================  ====================================  ==================================
symbol                    attribute                             meaning
========================  ====================================  ==================================
:math:`\Pi`               ``CarbonCap.cap``                     cap (tCO2, mutable)
cap constraint            ``CarbonCap.ineq_emissions_cap``      price ``carbon_price``
:math:`\sum e`            ``CarbonCap.emissions``               scope emissions (tCO2)
:math:`p_c`               ``CarbonCost.price``                  carbon price (currency/t, mutable)
:math:`\sum_t (e - a)_i`  ``CarbonCost.net_emissions[i]``       net emissions of i (tCO2)
:math:`C_i`               ``CarbonCost.carbon_cost[i]``         carbon cost of participant i
:math:`\sum_i C_i`        ``CarbonCost.policy_cost``            added to the objective
:math:`R`                 ``IntensityStandard.rate``            tCO2/MWh (mutable)
:math:`\sum e`            ``IntensityStandard.emissions``       scope emissions (tCO2)
:math:`\sum E`            ``IntensityStandard.output_mwh``      scope output (MWh)
standard constraint       ``IntensityStandard.ineq_intensity``  price ``intensity_price``
========================  ====================================  ==================================

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.policy import CarbonCap
    >>> m = ecc.Market()
    >>> m.coal = ecc.Producer(bus="A", b=20, p_max=100, emission_intensity=0.9)
    >>> m.gas = ecc.Producer(bus="A", b=40, p_max=100, emission_intensity=0.4)
    >>> m.load = ecc.FixedLoad(bus="A", p=100)
    >>> m.cap = CarbonCap(cap=65)
    >>> _ = ecc.solve(m)
    >>> round(m.coal.p[0].value, 6), round(float(ecc.price_frame(m, "carbon_price").iloc[0, 0]), 6)
    (50.0, 40.0)
"""
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue
from pyomo.environ import Constraint, Expression, Param, Set

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import nonnegative_float
from pyomo_ecc.policy.base import PolicyData, name_list, term
from pyomo_ecc.core.contract import PriceDecl


@declare_block("CarbonCap")
class CarbonCapData(PolicyData):
    """A cap on the emissions of a scope; its dual is the carbon price (see module doc)."""

    CONFIG = PolicyData.CONFIG()
    CONFIG.declare("cap", ConfigValue(default=None, domain=nonnegative_float,
                                      doc="cap on the scope's emissions (tCO2, >= 0)"))
    CONFIG.declare("participants", ConfigValue(default=None, domain=name_list,
                                               doc="emitters in the scope (default: all with emissions)"))

    def build_policy(self, market):
        if self.config.cap is None:
            self.fail("option 'cap' (tCO2) is required")
        self.cap = Param(initialize=self.config.cap, mutable=True, doc="emissions cap (tCO2)")

    def assemble(self):
        members = self.resolve("participants", self.config.participants,
                               default=lambda p: hasattr(p, "emissions"), need=("emissions",),
                               what=" (give it an emission_intensity)")
        if not members:
            self.fail("no participant in the scope has emissions (give producers an "
                      "emission_intensity)")
        periods = self.scope_periods()
        self.members = Set(initialize=[p.local_name for p in members], ordered=True,
                           doc="participants in the scope")
        self.emissions = Expression(expr=sum(p.emissions[t] for p in members for t in periods),
                                    doc="scope emissions (tCO2)")
        self.ineq_emissions_cap = Constraint(
            expr=self.emissions <= self.cap,
            doc="carbon cap: scope emissions <= cap (tCO2); a violation is a shortfall of "
                "allowances in tCO2")

    def price_declarations(self):
        return [PriceDecl("carbon_price", (self.local_name,), ("policy",),
                          self.ineq_emissions_cap, -1, "quantity")]

    def shortfall(self):
        """Emissions above the cap in the current solution (tCO2, 0 when within the cap)."""
        return max(pyo.value(self.emissions) - pyo.value(self.cap), 0.0)


@declare_block("CarbonCost")
class CarbonCostData(PolicyData):
    """Carbon cost at an exogenous price with free allocation (seed 001 eq. 21)."""

    CONFIG = PolicyData.CONFIG()
    CONFIG.declare("price", ConfigValue(default=None, domain=nonnegative_float,
                                        doc="carbon price p_c (currency per tCO2, >= 0)"))
    CONFIG.declare("participants", ConfigValue(
        default=None, domain=name_list,
        doc="participants charged (default: all with emissions or a free allocation)"))

    def build_policy(self, market):
        if self.config.price is None:
            self.fail("option 'price' (currency per tCO2) is required")
        self.price = Param(initialize=self.config.price, mutable=True,
                           doc="carbon price (currency/tCO2)")

    def assemble(self):
        members = self.resolve(
            "participants", self.config.participants,
            default=lambda p: hasattr(p, "emissions") or hasattr(p, "free_allocation"))
        for p in members:
            if not (hasattr(p, "emissions") or hasattr(p, "free_allocation")):
                self.fail(f"participant '{p.local_name}' in option 'participants' has neither "
                          f"emissions nor a free allocation (give it emission_intensity / "
                          f"allocation)")
        if not members:
            self.fail("no participant in the scope has emissions or a free allocation (give "
                      "producers an emission_intensity / allocation)")
        periods = self.scope_periods()
        by_name = {p.local_name: p for p in members}
        self.members = Set(initialize=list(by_name), ordered=True, doc="participants charged")
        self.net_emissions = Expression(
            self.members, rule=lambda b, n: sum(term(by_name[n], "emissions", t)
                                                - term(by_name[n], "free_allocation", t)
                                                for t in periods),
            doc="emissions minus free allocation (tCO2)")
        self.carbon_cost = Expression(self.members,
                                      rule=lambda b, n: b.price * b.net_emissions[n],
                                      doc="carbon cost (currency; negative: earns)")
        self.policy_cost = Expression(expr=sum(self.carbon_cost[n] for n in self.members),
                                      doc="total carbon cost (currency)")

    def objective_cost(self):
        return self.policy_cost


@declare_block("IntensityStandard")
class IntensityStandardData(PolicyData):
    """A rate-based standard: scope emissions per MWh of scope output <= rate (see module doc)."""

    CONFIG = PolicyData.CONFIG()
    CONFIG.declare("rate", ConfigValue(default=None, domain=nonnegative_float,
                                       doc="largest average intensity R (tCO2/MWh, >= 0)"))
    CONFIG.declare("participants", ConfigValue(
        default=None, domain=name_list, doc="generators in the scope (default: all suppliers)"))

    def build_policy(self, market):
        if self.config.rate is None:
            self.fail("option 'rate' (tCO2/MWh) is required")
        self.rate = Param(initialize=self.config.rate, mutable=True,
                          doc="intensity standard (tCO2/MWh)")

    def assemble(self):
        members = self.resolve("participants", self.config.participants,
                               default=lambda p: p.policy_role() == "supply", role="supply")
        if not members:
            self.fail("no generator in the scope")
        periods = self.scope_periods()
        self.members = Set(initialize=[p.local_name for p in members], ordered=True)
        self.emissions = Expression(expr=sum(term(p, "emissions", t) for p in members
                                             for t in periods), doc="scope emissions (tCO2)")
        self.output_mwh = Expression(expr=sum(p.energy_mwh(t) for p in members for t in periods),
                                     doc="scope output (MWh)")
        self.ineq_intensity = Constraint(
            expr=self.emissions - self.rate * self.output_mwh <= 0,
            doc="intensity standard: emissions - rate * output <= 0 (tCO2)")

    def price_declarations(self):
        return [PriceDecl("intensity_price", (self.local_name,), ("policy",),
                          self.ineq_intensity, -1, "quantity")]


