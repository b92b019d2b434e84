r"""Closed CGE economies (no trade, government or saving) in the style of MPSGE.

Data are a micro-consistent benchmark at reference prices 1: each sector :math:`j` makes
:math:`\bar y_j` of good :math:`o(j)` from inputs :math:`\bar x_{ij}` (goods or factors) with a
CES (Cobb-Douglas at :math:`\sigma_j = 1`) technology; each consumer (institution) :math:`h`
owns endowments :math:`\omega_{hg}` and has CES preferences over its benchmark demands
:math:`\bar d_{hg}`. Unknowns: activity levels :math:`A_j`, prices :math:`p_g`, incomes
:math:`M_h` (and the permit price :math:`p^c` under a cap). With
:math:`\theta_{ij} = \bar x_{ij}/\bar X_j`, :math:`\bar X_j = \sum_i \bar x_{ij}`:

.. math::

    P_j = \Big(\sum_i \theta_{ij} p_i^{1-\sigma_j}\Big)^{1/(1-\sigma_j)}
    \ \big(\textstyle\prod_i p_i^{\theta_{ij}} \text{ at } \sigma_j = 1\big),\qquad
    x_{ij} = A_j\,\bar x_{ij}\,(P_j/p_i)^{\sigma_j},

    \text{zero profit: } (1 - t^y_j)\,p_{o(j)}\,\bar y_j = \bar X_j P_j + \kappa_j p^c + \bar y_j c_j ,

    \tilde p_{hg} = (1 + t^c_{hg})\,p_g,\quad
    E_h = \Big(\sum_g \phi_{hg}\tilde p_{hg}^{1-\sigma_h}\Big)^{1/(1-\sigma_h)},\quad
    W_h = \frac{M_h}{\bar D_h E_h},\quad d_{hg} = W_h\,\bar d_{hg}\,(E_h/\tilde p_{hg})^{\sigma_h},

    M_h = \sum_g p_g\,\omega_{hg} + \text{the taxes and permit rents assigned to } h,

    \text{market } g:\ \sum_{j: o(j) = g} \bar y_j A_j + \sum_h \omega_{hg}
    = \sum_j x_{gj} + \sum_h d_{hg}\quad(\text{one dropped: Walras' law}),\qquad
    p_{\text{num}} = N .

Output taxes :math:`t^y_j` (on the gross value :math:`p_{o(j)}\bar y_j A_j`, MPSGE's output
tax) and consumption taxes :math:`t^c_{hg}` go to the institution named in the data. Emission
permits: sector :math:`j` needs :math:`\kappa_j` permits per unit of activity; either a given
price (``permits={"mode": "tax", "price": tau}``, revenue :math:`\tau\sum_j\kappa_j A_j`) or a
cap (``"mode": "cap"``: :math:`\sum_j \kappa_j A_j = \bar E`, :math:`p^c` endogenous); the
revenue goes to ``permits["owner"]``. A cap that reproduces a tax's allocation has a permit
price equal to that tax (the zero-profit and clearing equations are the same).

The economy provides :class:`~pyomo_ecc.cge.interface.EconomyInterface`, so the emission trading
block :class:`~pyomo_ecc.cge.ets.EmissionTrading` (per-sector caps or prices, free allocation,
revenue to a named institution) can be placed in it; it adds its carbon cost per unit of output
to ``extra_cost[j]`` (the :math:`+\,\bar y_j c_j` term of zero profit) and its payments to
``transfers[h]`` (added to :math:`M_h`)::

    >>> from pyomo_ecc.cge.ets import EmissionTrading
    >>> m = two_by_two(endow=1.1)
    >>> m.set_numeraire("PL")
    >>> m.ets = EmissionTrading(base_emissions={"X": 100.0}, mode="cap", cap={"X": 101.168557})
    >>> _ = solve_closed(m)
    >>> round(float(m.ets.pco2["X"].value), 5), round(float(m.price["PX"].value), 5)  # 0.1 PX: a 10 % tax
    (0.11709, 1.17093)

=====================  ===========================  ==========================================
symbol                 attribute                    meaning
=====================  ===========================  ==========================================
:math:`A_j`            ``activity[j]``              activity level (1 at the benchmark)
:math:`p_g`            ``price[g]``                 price of good or factor g
:math:`M_h`            ``income[h]``                income of institution h
:math:`W_h`            ``welfare[h]``               welfare index (1 at the benchmark)
:math:`p^c`            ``permit_price``             permit price (fixed to ``permit_tax`` in
                                                    tax mode)
:math:`t^y_j, t^c_{hg}`  ``output_tax[j]``,         tax rates (mutable)
                       ``consumption_tax[h, g]``
:math:`\omega_{hg}`    ``endowment[h, g]``          endowments (mutable)
:math:`N`              ``numeraire_level``          value of the numeraire (mutable)
:math:`c_j`            ``extra_cost[j]``            unit cost added by policy blocks
transfers              ``transfers[h]``             income paid in by policy blocks
zero profit            ``eq_zero_profit[j]``
market clearing        ``eq_market[g]``
income                 ``eq_income[h]``
=====================  ===========================  ==========================================

Example (MPSGE.jl's two-by-two economy, labour endowment +10 %, labour as numeraire)::

    >>> from pyomo_ecc.cge.closed import two_by_two, solve_closed
    >>> m = two_by_two()
    >>> m.endowment["RA", "PL"] = 77.0
    >>> m.set_numeraire("PL")
    >>> _ = solve_closed(m)
    >>> round(float(m.income["RA"].value), 6), round(float(m.welfare["RA"]()), 6)  # MPSGE U
    (165.0, 1.045482)
"""
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.cge.interface import EconomyInterface
from pyomo_ecc.core.config import number
from pyomo_ecc.errors import InputError, ModelError

LOWER = 1e-8


def _num(x, what):
    """A finite number (strings and booleans refused), the error naming ``what``."""
    return number(x, what)


class ClosedEconomy(pyo.ConcreteModel, EconomyInterface):
    """The model built by :func:`closed_economy` (a ``ConcreteModel`` with helpers). It is an
    :class:`~pyomo_ecc.cge.interface.EconomyInterface`: sector-level policy blocks such as
    :class:`~pyomo_ecc.cge.ets.EmissionTrading` can be placed in it (``m.ets =
    EmissionTrading(...)``); they add to ``extra_cost[j]`` (per unit of output, in the
    zero-profit condition) and to ``transfers[h]`` (income)."""

    ECONOMY_KIND = "a closed economy (pyomo_ecc.cge.closed)"

    # -- the interface of sector-level policies (pyomo_ecc.cge.interface) --------------------------
    def policy_sectors(self):
        return list(self.S)

    def sector_output(self, sector):
        """Output :math:`\bar y_j A_j` of ``sector``."""
        if sector not in self.S:
            raise InputError(f"unknown sector {sector!r}; sectors are {list(self.S)}")
        return self._ybar[sector] * self.activity[sector]

    def benchmark_output(self, sector):
        return float(self._ybar[sector])

    def add_unit_cost(self, agent, sector, label, expr):
        """Add ``expr`` (currency per unit of output) to ``sector``'s unit cost."""
        self.sector_output(sector)
        self.extra_cost[sector].set_value(self.extra_cost[sector].expr + expr)
        self._costs.append((agent.name, sector, label, expr))

    def add_flow(self, source, destination, label, expr):
        """Pay ``expr`` (currency) from ``source`` into institution ``destination``'s income."""
        if destination not in self.H:
            raise InputError(f"payment {label!r} from {source!r} goes to {destination!r}, which is "
                             f"not an institution {list(self.H)}")
        self.transfers[destination].set_value(self.transfers[destination].expr + expr)
        self._flows.append((source, destination, label, expr))

    def institutions(self):
        return list(self.H)

    def default_institution(self, kind):
        """The first institution receives revenue and owns the firms unless told otherwise."""
        return self.H.first()

    def register_agent(self, agent, role=None):
        if role is not None:
            agent.fail(f"a closed economy has no {role} block (it has no government, saving or trade)")
        self._agents.append(agent)

    def flow_table(self):
        """Payments registered by policy blocks, evaluated at the current point: DataFrame indexed
        (source, destination, label)."""
        rows = [(src, dst, lab, pyo.value(e)) for src, dst, lab, e in self._flows]
        return pd.DataFrame(rows, columns=["source", "destination", "label", "value"]).set_index(
            ["source", "destination", "label"])

    # -- solution ------------------------------------------------------------------------------------

    def set_numeraire(self, good, level=None):
        """Make ``good``'s price the numeraire (optionally with a new ``level``)."""
        if good not in self.G:
            raise InputError(f"numeraire {good!r} is not a good or factor; they are {list(self.G)}")
        for g in self.G:
            self.eq_numeraire[g].deactivate()
        self.eq_numeraire[good].activate()
        self._numeraire = good
        if level is not None:
            self.numeraire_level = _num(level, "numeraire level")

    def levels(self):
        """Current solution: DataFrame indexed (``kind``, ``name``) with column ``level``."""
        rows = [("activity", j, self.activity[j].value) for j in self.S]
        rows += [("price", g, self.price[g].value) for g in self.G]
        rows += [("income", h, self.income[h].value) for h in self.H]
        rows += [("welfare", h, pyo.value(self.welfare[h])) for h in self.H]
        rows += [("permit", "price", self.permit_price.value),
                 ("permit", "emissions", pyo.value(self.emissions))]
        return pd.DataFrame(rows, columns=["kind", "name", "level"]).set_index(["kind", "name"])

    def percent_change(self, reference=None):
        """Percent change of every level against ``reference`` (a :meth:`levels` frame;
        default: the benchmark, where activities, prices and welfare are 1): DataFrame with
        ``level``, ``reference`` and ``pct_change`` = 100 (level / reference - 1) (NaN where the
        reference is 0)."""
        cur = self.levels()
        ref = self._benchmark if reference is None else reference
        df = cur.join(ref["level"].rename("reference"), how="left")
        with np.errstate(divide="ignore", invalid="ignore"):
            df["pct_change"] = np.where(df["reference"] != 0,
                                        100.0 * (df["level"] / df["reference"] - 1.0), np.nan)
        return df

    def walras_residual(self):
        """Excess supply of the dropped market (0 at an equilibrium)."""
        return float(pyo.value(self._excess(self._dropped)))


def closed_economy(sectors, consumers, numeraire=None, permits=None, name="closed_economy"):
    """Build a closed economy (module doc).

    ``sectors``: ``{name: {"output": (good, quantity), "inputs": {good: quantity},
    "sigma": 1.0, "output_tax": (institution, rate), "emissions": kappa}}``;
    ``consumers``: ``{name: {"endowment": {good: quantity}, "demand": {good: quantity},
    "sigma": 1.0, "consumption_tax": {good: (institution, rate)}}}``; ``numeraire``: any good
    (default: the first good of the first consumer's endowment); ``permits``:
    ``{"mode": "tax" | "cap", "price": tau, "cap": E, "owner": institution}``.
    Returns a :class:`ClosedEconomy` at the benchmark point.
    """
    if not sectors or not consumers:
        raise InputError("a closed economy needs at least one sector and one consumer")
    H = list(consumers)
    S = list(sectors)
    goods = []
    for j, d in sectors.items():
        if "output" not in d or "inputs" not in d:
            raise InputError(f"sector {j!r}: give 'output' (good, quantity) and 'inputs' {{good: quantity}}")
        unknown = sorted(set(d) - {"output", "inputs", "sigma", "output_tax", "emissions"})
        if unknown:
            raise InputError(f"sector {j!r}: unknown key(s) {unknown}")
        goods += [d["output"][0]] + list(d["inputs"])
    for h, d in consumers.items():
        unknown = sorted(set(d) - {"endowment", "demand", "sigma", "consumption_tax"})
        if unknown:
            raise InputError(f"consumer {h!r}: unknown key(s) {unknown}")
        goods += list(d.get("endowment", {})) + list(d.get("demand", {}))
    G = list(dict.fromkeys(goods))
    ybar = {j: _num(d["output"][1], f"sector {j!r} output") for j, d in sectors.items()}
    xbar = {(g, j): _num(q, f"sector {j!r} input {g!r}") for j, d in sectors.items()
            for g, q in d["inputs"].items()}
    for (g, j), q in xbar.items():
        if q <= 0:
            raise InputError(f"sector {j!r}: input {g!r} must be > 0, got {q}")
    for j in S:
        X = sum(q for (g, jj), q in xbar.items() if jj == j)
        if ybar[j] <= 0 or abs(X - ybar[j]) > 1e-9 * max(1.0, ybar[j]):
            raise InputError(f"sector {j!r}: benchmark output {ybar[j]} must equal the value of its "
                             f"inputs {X} (micro-consistent data at reference prices 1)")
    sig = {j: _num(d.get("sigma", 1.0), f"sector {j!r} sigma") for j, d in sectors.items()}
    csig = {h: _num(d.get("sigma", 1.0), f"consumer {h!r} sigma") for h, d in consumers.items()}
    for k, v in list(sig.items()) + list(csig.items()):
        if v < 0:
            raise InputError(f"elasticity of {k!r} must be >= 0, got {v}")
    dbar = {(h, g): _num(q, f"consumer {h!r} demand {g!r}") for h, d in consumers.items()
            for g, q in d.get("demand", {}).items()}
    if any(not any(hh == h for hh, _ in dbar) for h in H):
        raise InputError(f"every consumer needs a benchmark 'demand'; {H}")
    otax = {}
    for j, d in sectors.items():
        inst, rate = d.get("output_tax", (H[0], 0.0))
        if inst not in H:
            raise InputError(f"sector {j!r}: output tax revenue goes to {inst!r}, which is not an "
                             f"institution {H}")
        otax[j] = (inst, _num(rate, f"sector {j!r} output tax"))
    ctax = {}
    for h, d in consumers.items():
        for g, (inst, rate) in d.get("consumption_tax", {}).items():
            if inst not in H or (h, g) not in dbar:
                raise InputError(f"consumer {h!r}: consumption tax on {g!r} to {inst!r} needs a "
                                 f"demanded good and an institution {H}")
            ctax[(h, g)] = (inst, _num(rate, f"consumer {h!r} consumption tax on {g!r}"))
    perm = dict(permits or {})
    kappa = {j: _num(d.get("emissions", 0.0), f"sector {j!r} emissions") for j, d in sectors.items()}
    if perm:
        bad = sorted(set(perm) - {"mode", "price", "cap", "owner"})
        if bad or perm.get("mode") not in ("tax", "cap") or perm.get("owner", H[0]) not in H:
            raise InputError(f"permits: give mode 'tax' or 'cap', price / cap and an owner in {H}; "
                             f"got {permits}")
        if perm["mode"] == "cap" and "cap" not in perm:
            raise InputError("permits: mode 'cap' needs 'cap'")
    m = ClosedEconomy(name=name)
    m.S = pyo.Set(initialize=S, ordered=True, doc="sectors")
    m.G = pyo.Set(initialize=G, ordered=True, doc="goods and factors")
    m.H = pyo.Set(initialize=H, ordered=True, doc="institutions (consumers)")
    m.output_tax = pyo.Param(m.S, initialize={j: otax[j][1] for j in S}, mutable=True)
    m.consumption_tax = pyo.Param(m.H, m.G, initialize={k: v[1] for k, v in ctax.items()},
                                  default=0.0, mutable=True)
    m.endowment = pyo.Param(m.H, m.G, initialize={(h, g): _num(q, f"consumer {h!r} endowment {g!r}")
                                                  for h, d in consumers.items()
                                                  for g, q in d.get("endowment", {}).items()},
                            default=0.0, mutable=True)
    m.numeraire_level = pyo.Param(initialize=1.0, mutable=True)
    m.intensity = pyo.Param(m.S, initialize=kappa, mutable=True)
    m.permit_tax = pyo.Param(initialize=float(perm.get("price", 0.0)), mutable=True)
    m.permit_cap = pyo.Param(initialize=float(perm.get("cap", 0.0)), mutable=True)
    m.activity = pyo.Var(m.S, initialize=1.0, bounds=(LOWER, None))
    m.price = pyo.Var(m.G, initialize=1.0, bounds=(LOWER, None))
    m.income = pyo.Var(m.H, initialize=1.0)
    m.permit_price = pyo.Var(initialize=float(perm.get("price", 0.0)), bounds=(0.0, None))
    Xbar = {j: sum(q for (g, jj), q in xbar.items() if jj == j) for j in S}
    theta = {(g, j): q / Xbar[j] for (g, j), q in xbar.items()}
    Dbar = {h: sum(q for (hh, g), q in dbar.items() if hh == h) for h in H}
    phi = {(h, g): q / Dbar[h] for (h, g), q in dbar.items()}

    def index(shares, prices, s):
        if abs(s - 1.0) < 1e-12:
            out = 1.0
            for k, w in shares.items():
                out = out * prices[k] ** w
            return out
        return sum(w * prices[k] ** (1 - s) for k, w in shares.items()) ** (1 / (1 - s))

    m.unit_cost = pyo.Expression(m.S, rule=lambda mm, j: index(
        {g: theta[g, j] for (g, jj) in theta if jj == j}, mm.price, sig[j]))
    m.input = pyo.Expression(list(xbar), rule=lambda mm, g, j: mm.activity[j] * xbar[g, j]
                             * (mm.unit_cost[j] / mm.price[g]) ** sig[j])
    cp = {(h, g): (1 + m.consumption_tax[h, g]) * m.price[g] for (h, g) in dbar}
    m.expenditure_index = pyo.Expression(m.H, rule=lambda mm, h: index(
        {(hh, g): phi[hh, g] for (hh, g) in phi if hh == h}, cp, csig[h]))
    m.welfare = pyo.Expression(m.H, rule=lambda mm, h: mm.income[h] / (Dbar[h] * mm.expenditure_index[h]))
    m.demand = pyo.Expression(list(dbar), rule=lambda mm, h, g: mm.welfare[h] * dbar[h, g]
                              * (mm.expenditure_index[h] / cp[h, g]) ** csig[h])
    m.emissions = pyo.Expression(expr=sum(m.intensity[j] * m.activity[j] for j in S))
    # what policy blocks add (pyomo_ecc.cge.interface): unit costs and income transfers
    m._ybar, m._costs, m._flows, m._agents = dict(ybar), [], [], []
    m.extra_cost = pyo.Expression(m.S, initialize=0.0, doc="unit costs added by policy blocks")
    m.transfers = pyo.Expression(m.H, initialize=0.0, doc="income paid in by policy blocks")
    out = {j: sectors[j]["output"][0] for j in S}
    m.eq_zero_profit = pyo.Constraint(m.S, rule=lambda mm, j: (1 - mm.output_tax[j]) * mm.price[out[j]]
                                      * ybar[j] == Xbar[j] * mm.unit_cost[j]
                                      + mm.intensity[j] * mm.permit_price + ybar[j] * mm.extra_cost[j])
    owner = perm.get("owner", H[0])

    def receipts(mm, h):
        r = sum(mm.price[g] * mm.endowment[h, g] for g in G)
        r += sum(mm.output_tax[j] * mm.price[out[j]] * ybar[j] * mm.activity[j] for j in S
                 if otax[j][0] == h)
        r += sum(mm.consumption_tax[hh, g] * mm.price[g] * mm.demand[hh, g]
                 for (hh, g), (inst, _) in ctax.items() if inst == h)
        if h == owner:
            r += mm.permit_price * mm.emissions
        return r + mm.transfers[h]
    m.eq_income = pyo.Constraint(m.H, rule=lambda mm, h: mm.income[h] == receipts(mm, h))

    def excess(g):
        supply = sum(ybar[j] * m.activity[j] for j in S if out[j] == g) + sum(m.endowment[h, g] for h in H)
        use = sum(m.input[gg, j] for (gg, j) in xbar if gg == g) + sum(
            m.demand[h, gg] for (h, gg) in dbar if gg == g)
        return supply - use
    m._excess = excess
    for g in G:
        if not any(out[j] == g for j in S) and not any(("endowment" in consumers[h] and g in consumers[h]["endowment"]) for h in H):
            raise InputError(f"good {g!r} is used but nobody produces or owns it")
    drop = G[-1]
    m._dropped = drop
    m.eq_market = pyo.Constraint([g for g in G if g != drop], rule=lambda mm, g: excess(g) == 0)
    m.eq_numeraire = pyo.Constraint(m.G, rule=lambda mm, g: mm.price[g] == mm.numeraire_level)
    if perm.get("mode") == "cap":
        m.eq_permits = pyo.Constraint(expr=m.emissions == m.permit_cap)
    else:
        m.permit_price.fix(float(perm.get("price", 0.0)))
        m.eq_permit_tax = pyo.Constraint(expr=m.permit_price == m.permit_tax)
        m.eq_permit_tax.deactivate()
    m.obj = pyo.Objective(expr=0.0)
    first_owner = next((h for h in H if consumers[h].get("endowment")), None)
    if numeraire is None:
        if first_owner is None:
            raise InputError("no consumer owns anything: give a numeraire")
        numeraire = next(iter(consumers[first_owner]["endowment"]))
    # benchmark incomes, then the benchmark frame
    for h in H:
        m.income[h].value = pyo.value(receipts(m, h))
    m.set_numeraire(numeraire)
    m._benchmark = m.levels()
    return m


def solve_closed(m, solver="ipopt", tol=1e-8):
    """Solve the square system (Ipopt); raise unless the equations hold within ``tol`` (and
    Walras' law: the dropped market clears). Returns ``m.levels()``."""
    from pyomo_ecc.solvers import solve

    solve(m, solver)
    worst = 0.0
    for c in m.component_data_objects(pyo.Constraint, active=True):
        worst = max(worst, abs(pyo.value(c.body) - pyo.value(c.upper)))
    if worst > tol * 100 or abs(m.walras_residual()) > 1e-5:
        raise ModelError(f"'{m.name}': equilibrium residual {worst:.3g}, Walras residual "
                         f"{m.walras_residual():.3g}")
    return m.levels()


def two_by_two(otax=0.0, endow=1.0, permits=None, emissions_x=0.0):
    """The MPSGE two-by-two economy (MPSGE.jl ``test_twobytwo_wTaxes.jl``): sectors X (100 from
    labour 50 and capital 50), Y (50 from 20 and 30), U (150 of utility from X 100 and Y 50),
    all Cobb-Douglas; the representative agent RA owns labour 70 x ``endow`` and capital 80,
    demands PU 150 and receives the output tax ``otax`` on X."""
    sectors = {
        "X": {"output": ("PX", 100.0), "inputs": {"PL": 50.0, "PK": 50.0}, "output_tax": ("RA", otax),
              "emissions": emissions_x},
        "Y": {"output": ("PY", 50.0), "inputs": {"PL": 20.0, "PK": 30.0}},
        "U": {"output": ("PU", 150.0), "inputs": {"PX": 100.0, "PY": 50.0}},
    }
    consumers = {"RA": {"endowment": {"PL": 70.0 * endow, "PK": 80.0}, "demand": {"PU": 150.0}}}
    return closed_economy(sectors, consumers, numeraire="PU", permits=permits, name="two_by_two")
