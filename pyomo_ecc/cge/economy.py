r"""The economy: the top-level CGE block that owns the goods/factors, the market prices, the
market-clearing equations, the numeraire, the closures and the Walras check.

Agents (:mod:`pyomo_ecc.cge.blocks`, :mod:`pyomo_ecc.cge.ets`) are placed inside an economy;
each builds its own behaviour and *registers* what it supplies to and demands from each market
and the income flows it pays or receives. :meth:`EconomyData.assemble` then writes, in one
fixed order: the agents' link equations (those needing registered sums) -> one clearing
equation per market except the dropped one (Walras' law) -> the numeraire -> the closure rules
-> the objective -> the degrees-of-freedom check.

Markets and their prices (the interface of every agent):

=======================  ==============================  ============================================
market ``(kind, key)``   price (attribute)               cleared quantity
=======================  ==============================  ============================================
``("composite", i)``     :math:`p^q_i` ``pq[i]``         Armington composite good :math:`Q_i`
``("domestic", i)``      :math:`p^d_i` ``pd[i]``         domestic good sold at home :math:`D_i`
``("output", i)``        :math:`p^z_i` ``pz[i]``         gross output :math:`Z_i` (producer price)
``("factor", h)``        :math:`p^f_h` ``pf[h]``         factor :math:`h`
``("forex", "world")``   :math:`\varepsilon` ``epsilon``  foreign exchange (balance of payments)
=======================  ==============================  ============================================

.. math::

    \text{eq\_market}[k]:\ \sum_{a} \mathrm{supply}_{a,k} = \sum_a \mathrm{demand}_{a,k}
    \quad \forall k \ne k^{drop},\qquad
    \text{eq\_numeraire}:\ N(p) = \bar N .

Exogenous (fixed) variables, so that the linearised solver can shock them:
``pwe[i]``, ``pwm[i]`` (world prices), ``tauz[i]`` (production tax rate), ``taum[i]`` (tariff
rate); ``numeraire_level`` is a mutable Param (homogeneity: doubling it doubles every price).

Numeraire choices (``numeraire=``): a factor name (its price), ``"exchange_rate"``, or ``"cpi"``
(:math:`\sum_i \alpha_i p^q_i`, household budget shares). Closures: ``savings_closure`` =
``"savings_driven"`` (investment adjusts to savings; STDCGE) or ``"investment_driven"`` (real
investment fixed, the household saving rate adjusts); ``external_closure`` =
``"flexible_exchange_rate"`` (foreign savings fixed; STDCGE) or ``"fixed_exchange_rate"``
(foreign savings adjust; :math:`\varepsilon = \bar\varepsilon N`, ``exchange_rate_level`` times
the numeraire level, i.e. the exchange rate is fixed in numeraire units, so homogeneity holds).

Example (STDCGE)::

    from pyomo_ecc import cge
    sam = cge.SAM.from_csv("stdcge_sam.csv")
    m = cge.Economy(sam=sam, numeraire="LAB")
    m.prod = cge.Production()
    m.arm = cge.Armington(sigma=2)
    m.cet = cge.Transformation(psi=2)
    m.hoh = cge.Household()
    m.gov = cge.Government()
    m.inv = cge.Investment()
    m.row = cge.RestOfWorld()
    cge.solve(m)                  # assemble, check square, Ipopt, check Walras
    value(m.hoh.utility)          # 25.508490...
"""
from collections import defaultdict

import pandas as pd
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue, In
from pyomo.core.expr.visitor import identify_variables

from pyomo_ecc.cge.calibration import benchmark
from pyomo_ecc.cge.interface import EconomyInterface
from pyomo_ecc.cge.sam import SAM
from pyomo_ecc.core.block import EccBlockData, declare_block, find_enclosing
from pyomo_ecc.errors import InputError, ModelError

#: market kind -> name of the economy's price variable
MARKET_PRICE = {"composite": "pq", "domestic": "pd", "output": "pz", "factor": "pf", "forex": "epsilon"}
#: smallest value of a price or quantity variable (keeps CES/CD powers defined)
LOWER = 1e-8


def _sam(value):
    if not isinstance(value, SAM):
        raise ValueError(f"expected a pyomo_ecc.cge.SAM, got {type(value).__name__}")
    return value


class _Registry:
    """Plain-Python registry of the economy (never holds Pyomo blocks as attributes of blocks)."""

    def __init__(self):
        self.agents = []
        self.supply = defaultdict(list)      # (kind, key) -> [(agent name, expr)]
        self.demand = defaultdict(list)
        self.flows = []                      # (source, destination, label, expr)
        self.producer = {}                   # good -> production block
        self.unit_cost = defaultdict(list)   # good -> [(label, expr per unit of output)]
        self.roles = {}                      # "household" / "government" / ... -> block


@declare_block("Economy", concrete=True)
class EconomyData(EccBlockData, EconomyInterface):
    """A computable general equilibrium economy; see the module documentation."""

    ECONOMY_KIND = "a cge.Economy block"

    #: pyomo_ecc.solve assembles every block with this flag before solving
    assemble_on_solve = True

    CONFIG = EccBlockData.CONFIG()
    CONFIG.declare("sam", ConfigValue(domain=_sam, description="the balanced SAM (pyomo_ecc.cge.SAM)"))
    CONFIG.declare("numeraire", ConfigValue(default=None, description="a factor, 'exchange_rate' or 'cpi' "
                                                                      "(default: the last factor)"))
    CONFIG.declare("drop_market", ConfigValue(default=None, description="(kind, key) of the market whose "
                                                                        "clearing equation is dropped"))
    CONFIG.declare("objective", ConfigValue(default="utility", domain=In(["utility", "constant"]),
                                            description="maximise household utility or a constant"))
    CONFIG.declare("savings_closure", ConfigValue(default="savings_driven",
                                                  domain=In(["savings_driven", "investment_driven"])))
    CONFIG.declare("external_closure", ConfigValue(default="flexible_exchange_rate",
                                                   domain=In(["flexible_exchange_rate", "fixed_exchange_rate"])))

    def build(self):
        cfg = self.config
        if cfg.sam is None:
            self.fail("option 'sam' is required (a pyomo_ecc.cge.SAM)")
        try:
            self.bench = benchmark(cfg.sam)
        except InputError as e:
            self.fail(str(e))
        b = self.bench
        self.sam = cfg.sam
        num = cfg.numeraire if cfg.numeraire is not None else b.factors[-1]
        if num not in list(b.factors) + ["exchange_rate", "cpi"]:
            self.fail(f"numeraire {num!r} is neither a factor {list(b.factors)} nor 'exchange_rate' / 'cpi'")
        if num == "exchange_rate" and cfg.external_closure == "fixed_exchange_rate":
            self.fail("numeraire 'exchange_rate' and external_closure 'fixed_exchange_rate' both fix "
                      "the exchange rate; choose another numeraire")
        self._numeraire = num
        self._reg = _Registry()
        self._assembled = False
        self._dropped = None
        self.I = pyo.Set(initialize=b.goods, ordered=True, doc="goods")
        self.H = pyo.Set(initialize=b.factors, ordered=True, doc="factors")
        for p, idx, doc in (("pq", self.I, "composite (Armington) good price"),
                            ("pd", self.I, "domestic good price"),
                            ("pz", self.I, "producer (output) price before production tax"),
                            ("pf", self.H, "factor price")):
            self.add_component(p, pyo.Var(idx, initialize=1.0, bounds=(LOWER, None), doc=doc))
        self.epsilon = pyo.Var(initialize=1.0, bounds=(LOWER, None), doc="exchange rate")
        self.pwe = pyo.Var(self.I, initialize=1.0, doc="world export price (exogenous)")
        self.pwm = pyo.Var(self.I, initialize=1.0, doc="world import price (exogenous)")
        self.tauz = pyo.Var(self.I, initialize=b.tauz.to_dict(), doc="production tax rate (exogenous)")
        self.taum = pyo.Var(self.I, initialize=b.taum.to_dict(), doc="import tariff rate (exogenous)")
        for v in (self.pwe, self.pwm, self.tauz, self.taum):
            v.fix()
        self.numeraire_level = pyo.Param(initialize=1.0, mutable=True, doc="value of the numeraire")
        self.exchange_rate_level = pyo.Param(initialize=1.0, mutable=True,
                                             doc="fixed exchange rate in numeraire units (fixed_exchange_rate closure)")

    # -- registration (called by agents) ------------------------------------------------------------
    def price(self, kind, key=None):
        """The price variable of market ``(kind, key)``."""
        if kind not in MARKET_PRICE:
            raise InputError(f"economy '{self.name}': unknown market kind {kind!r}; kinds are {list(MARKET_PRICE)}")
        var = getattr(self, MARKET_PRICE[kind])
        return var if kind == "forex" else var[key]

    def add_supply(self, agent, kind, key, expr):
        self._check_open(agent)
        self._reg.supply[(kind, key)].append((agent.name, expr))

    def add_demand(self, agent, kind, key, expr):
        self._check_open(agent)
        self._reg.demand[(kind, key)].append((agent.name, expr))

    def add_flow(self, source, destination, label, expr):
        """Register a payment (currency) from institution ``source`` to ``destination``
        (``household``, ``government``, ``investment``, ``rest_of_world`` or an agent name)."""
        self._reg.flows.append((source, destination, label, expr))

    # -- the interface of sector-level policies (pyomo_ecc.cge.interface) ----------------------------
    def policy_sectors(self):
        """The sectors (one per good)."""
        return list(self.I)

    def sector_output(self, sector):
        """Gross output :math:`Z_j` of the Production block that makes ``sector``."""
        prod = self._reg.producer.get(sector)
        if prod is None:
            raise InputError(f"sector {sector!r} has no Production block yet; add the Production block first")
        return prod.z[sector]

    def benchmark_output(self, sector):
        return float(self.bench.Z0[sector])

    def add_unit_cost(self, agent, sector, label, expr):
        """Add ``expr`` (per unit of output) to ``sector``'s unit cost (zero profit)."""
        self._check_open(agent)
        self.sector_output(sector)
        self._reg.unit_cost[sector].append((label, expr))

    def institutions(self):
        """Institutions a policy may pay into (those with an income equation)."""
        return ["household", "government"]

    def default_institution(self, kind):
        """``"revenue"`` goes to the government, ``"owners"`` to the household."""
        return {"revenue": "government", "owners": "household"}[kind]

    def income(self, destination):
        """Sum of registered flows into ``destination`` (an expression)."""
        return sum(e for _, d, _, e in self._reg.flows if d == destination)

    def flow_table(self):
        """Registered flows evaluated at the current point: DataFrame indexed (source, destination, label)."""
        rows = [(s, d, lab, pyo.value(e)) for s, d, lab, e in self._reg.flows]
        return pd.DataFrame(rows, columns=["source", "destination", "label", "value"]).set_index(
            ["source", "destination", "label"])

    def register_agent(self, agent, role=None):
        self._check_open(agent)
        self._reg.agents.append(agent)
        if role is not None:
            if role in self._reg.roles:
                agent.fail(f"the economy already has a {role} ('{self._reg.roles[role].name}')")
            self._reg.roles[role] = agent

    def agent(self, role):
        if role not in self._reg.roles:
            raise ModelError(f"economy '{self.name}' has no {role} block")
        return self._reg.roles[role]

    def _check_open(self, agent):
        if self._assembled:
            raise ModelError(f"economy '{self.name}' is already assembled; add '{agent.name}' before assemble()")

    # -- assembly -----------------------------------------------------------------------------------------
    def assemble(self):
        """Link agents, clear markets (one dropped), numeraire, closures, objective; check the
        system is square. Idempotent."""
        if self._assembled:
            return self
        for role in ("household", "government", "investment", "rest_of_world"):
            self.agent(role)
        missing = [g for g in self.I if g not in self._reg.producer]
        if missing:
            raise ModelError(f"economy '{self.name}': no Production block produces {missing}")
        for a in self._reg.agents:
            a.link()
        reg = self._reg
        keys = list(dict.fromkeys(list(reg.supply) + list(reg.demand)))
        for k in keys:
            if not reg.supply.get(k) or not reg.demand.get(k):
                side = "supply" if not reg.supply.get(k) else "demand"
                raise ModelError(f"economy '{self.name}': market {k} has no {side}; add the block that "
                                 f"provides it")
        drop = self.config.drop_market
        if drop is None:
            drop = ("factor", self._numeraire) if self._numeraire in self.H else ("composite", self.I.first())
        drop = tuple(drop)
        if drop not in keys:
            raise InputError(f"economy '{self.name}': drop_market {drop} is not a market; markets are {keys}")
        self._dropped = drop
        self.markets = pyo.Set(initialize=[k for k in keys if k != drop], dimen=2, ordered=True,
                               doc="cleared markets (kind, key)")
        self.eq_market = pyo.Constraint(
            self.markets, rule=lambda b, kind, key: sum(e for _, e in reg.supply[(kind, key)])
            == sum(e for _, e in reg.demand[(kind, key)]))
        num = self._numeraire
        if num in self.H:
            self.eq_numeraire = pyo.Constraint(expr=self.pf[num] == self.numeraire_level)
        elif num == "exchange_rate":
            self.eq_numeraire = pyo.Constraint(expr=self.epsilon == self.numeraire_level)
        else:
            alpha = self.agent("household").alpha
            self.eq_numeraire = pyo.Constraint(
                expr=sum(alpha[i] * self.pq[i] for i in self.I) == self.numeraire_level)
        if self.config.external_closure == "fixed_exchange_rate":
            # in numeraire units: doubling the numeraire doubles every price, epsilon included
            self.eq_exchange_rate = pyo.Constraint(
                expr=self.epsilon == self.exchange_rate_level * self.numeraire_level)
        if self.config.objective == "utility":
            self.obj = pyo.Objective(expr=self.agent("household").utility, sense=pyo.maximize,
                                     doc="household utility (the system is square: any objective)")
        else:
            self.obj = pyo.Objective(expr=0.0, doc="constant: the square system alone fixes the point")
        self._assembled = True
        self.check_square()
        return self

    # -- checks ---------------------------------------------------------------------------------------------
    def degrees_of_freedom(self):
        """Dict: ``equations``, ``variables`` (free, appearing in an active equation), ``dof``
        (variables - equations), ``inequalities`` and ``unused`` (free variables in no equation)."""
        eqs, ineq, used = 0, [], set()
        for c in self.component_data_objects(pyo.Constraint, active=True, descend_into=True):
            if c.equality:
                eqs += 1
                for v in identify_variables(c.body, include_fixed=False):
                    used.add(id(v))
            else:
                ineq.append(c.name)
        free = [v for v in self.component_data_objects(pyo.Var, descend_into=True) if not v.fixed]
        unused = [v.name for v in free if id(v) not in used]
        nvar = len(free) - len(unused)
        return {"equations": eqs, "variables": nvar, "dof": nvar - eqs, "inequalities": ineq,
                "unused": unused}

    def check_square(self):
        """Raise :class:`ModelError` unless the system is square (degrees of freedom 0)."""
        d = self.degrees_of_freedom()
        problems = []
        if d["dof"] != 0:
            problems.append(f"{d['variables']} free variables and {d['equations']} equations: "
                            f"degrees of freedom = {d['dof']}")
        if d["unused"]:
            problems.append(f"free variables in no equation: {d['unused'][:10]}")
        if d["inequalities"]:
            problems.append(f"inequality constraints in a square system: {d['inequalities'][:10]}")
        if problems:
            raise ModelError(f"economy '{self.name}' is not a square system: " + "; ".join(problems))
        return d

    def market_residuals(self):
        """Excess supply of every market (dropped one included) at the current point:
        DataFrame indexed (market, key) with supply, demand, excess, dropped."""
        reg = self._reg
        rows = []
        for k in dict.fromkeys(list(reg.supply) + list(reg.demand)):
            s = sum(pyo.value(e) for _, e in reg.supply[k])
            d = sum(pyo.value(e) for _, e in reg.demand[k])
            rows.append((k[0], k[1], s, d, s - d, k == self._dropped))
        df = pd.DataFrame(rows, columns=["market", "key", "supply", "demand", "excess", "dropped"])
        return df.set_index(["market", "key"])

    def interface(self):
        """Who supplies and who demands each market: DataFrame indexed (market, key, agent) with
        column ``side`` (``supply`` / ``demand``), the declared market equations of every agent."""
        rows = [(k[0], k[1], a, side) for side, reg in (("supply", self._reg.supply), ("demand", self._reg.demand))
                for k, terms in reg.items() for a, _ in terms]
        df = pd.DataFrame(rows, columns=["market", "key", "agent", "side"]).drop_duplicates()
        return df.set_index(["market", "key", "agent"]).sort_index()

    def walras_residual(self):
        """Excess supply of the dropped market (0 at an equilibrium, by Walras' law)."""
        if self._dropped is None:
            raise ModelError(f"economy '{self.name}' is not assembled")
        r = self.market_residuals()
        return float(r.loc[self._dropped, "excess"])

    def max_residual(self):
        """Largest absolute residual of the active equations at the current point (replication check)."""
        worst = 0.0
        for c in self.component_data_objects(pyo.Constraint, active=True, descend_into=True):
            body = pyo.value(c.body)
            worst = max(worst, abs(body - pyo.value(c.upper)))
        return worst

    # -- results -----------------------------------------------------------------------------------------------
    def prices(self):
        """Market prices: DataFrame indexed (market, key), column ``price``."""
        rows = [(k, i, pyo.value(getattr(self, v)[i])) for k, v in MARKET_PRICE.items() if k != "forex"
                for i in getattr(self, v).index_set()]
        rows.append(("forex", "world", pyo.value(self.epsilon)))
        return pd.DataFrame(rows, columns=["market", "key", "price"]).set_index(["market", "key"])

    def gdp(self, real=True):
        r"""GDP from the expenditure side, :math:`\sum_i (X^p_i + X^g_i + X^v_i) + \sum_i E_i - \sum_i M_i`
        at benchmark prices (``real=True``), or at current prices
        :math:`\sum_i p^q_i(\cdot) + \varepsilon\sum_i (p^{We}_i E_i - p^{Wm}_i M_i)`."""
        fd = {i: 0.0 for i in self.I}
        for role in ("household", "government", "investment"):
            for i, v in self.agent(role).final_demand().items():
                fd[i] += v
        arm = [a for a in self._reg.agents if a.block_kind() == "Armington"]
        cet = [a for a in self._reg.agents if a.block_kind() == "Transformation"]
        e = {i: sum(pyo.value(c.e[i]) for c in cet if i in c.e) for i in self.I}
        m = {i: sum(pyo.value(a.m[i]) for a in arm if i in a.m) for i in self.I}
        if real:
            return sum(fd.values()) + sum(e.values()) - sum(m.values())
        eps = pyo.value(self.epsilon)
        return (sum(pyo.value(self.pq[i]) * fd[i] for i in self.I)
                + eps * sum(pyo.value(self.pwe[i]) * e[i] - pyo.value(self.pwm[i]) * m[i] for i in self.I))


def find_economy(blk):
    """The nearest enclosing economy of ``blk`` (a :class:`EconomyData` or a closed economy: any
    :class:`~pyomo_ecc.cge.interface.EconomyInterface`; raises naming the block)."""
    return find_enclosing(blk, EconomyInterface, "a cge.Economy block (or a closed economy)")
