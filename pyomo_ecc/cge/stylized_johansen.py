r"""The Stylized Johansen model (Dixon, Parmenter, Powell & Wilcoxen 1992, *Notes and Problems in
Applied General Equilibrium Economics*, ch. 3; the GEMPACK manual's ``SJ`` example): two
sectors, two factors, one household, Cobb-Douglas everywhere, in levels.

.. math::

    X^H_i = \alpha_i Y / P_i,\qquad X^C_{ij} = \alpha_{ij} P_j X_j / P_i,\qquad
    X^F_{fj} = \beta_{fj} P_j X_j / W_f,\qquad
    P_j = \prod_i P_i^{\alpha_{ij}} \prod_f W_f^{\beta_{fj}},

    X_i = \sum_j X^C_{ij} + X^H_i,\qquad \sum_j X^F_{fj} = \bar F_f,\qquad
    Y = \sum_f W_f \bar F_f,\qquad P_{s1} = 1 \ \text{(numeraire; the commodity-1 market is dropped)}.

=============================  ==================  ===========================================
symbol                         attribute           meaning
=============================  ==================  ===========================================
:math:`X_j, P_j`               ``X[j], P[j]``      output and price of commodity :math:`j`
:math:`X^C_{ij}`               ``XC[i, j]``        commodity :math:`i` used by industry :math:`j`
:math:`X^F_{fj}, W_f`          ``XF[f, j], W[f]``  factor use and price
:math:`X^H_i, Y`               ``XH[i], Y``        household demand and income
:math:`\bar F_f`               ``FS[f]`` (fixed)   factor supply (exogenous)
=============================  ==================  ===========================================

Database (values at benchmark prices 1): commodity flows ``DVCOMIN`` [[4, 2], [2, 6]], factor
payments ``DVFACIN`` labour [1, 3], capital [1, 1], household demand ``DVHOUS`` [2, 4].
With commodity 1 the numeraire every value moves in proportion to :math:`X_1` and, for a labour
shock, :math:`X_1, Y \propto \bar F_{labour}^{0.6}`: +10 % labour gives
:math:`100(1.1^{0.6}-1) = 5.885285\,\%` exactly and 6 % in the Johansen (one-step) solution.
"""
import pyomo.environ as pyo

SECTORS = ("s1", "s2")
FACTORS = ("labour", "capital")
DVCOMIN = {("s1", "s1"): 4.0, ("s1", "s2"): 2.0, ("s2", "s1"): 2.0, ("s2", "s2"): 6.0}
DVFACIN = {("labour", "s1"): 1.0, ("labour", "s2"): 3.0, ("capital", "s1"): 1.0, ("capital", "s2"): 1.0}
DVHOUS = {"s1": 2.0, "s2": 4.0}


def stylized_johansen():
    """The levels model at its benchmark (a ConcreteModel, square, constant objective)."""
    m = pyo.ConcreteModel(name="stylized_johansen")
    m.S = pyo.Set(initialize=SECTORS, ordered=True)
    m.F = pyo.Set(initialize=FACTORS, ordered=True)
    cost = {j: sum(DVCOMIN[i, j] for i in SECTORS) + sum(DVFACIN[f, j] for f in FACTORS) for j in SECTORS}
    y0 = sum(DVHOUS.values())
    m.a = pyo.Param(m.S, m.S, initialize={k: v / cost[k[1]] for k, v in DVCOMIN.items()})
    m.b = pyo.Param(m.F, m.S, initialize={k: v / cost[k[1]] for k, v in DVFACIN.items()})
    m.alpha = pyo.Param(m.S, initialize={i: DVHOUS[i] / y0 for i in SECTORS})
    pos = (1e-8, None)
    m.X = pyo.Var(m.S, initialize=cost, bounds=pos)
    m.P = pyo.Var(m.S, initialize=1.0, bounds=pos)
    m.XC = pyo.Var(m.S, m.S, initialize=DVCOMIN, bounds=pos)
    m.XF = pyo.Var(m.F, m.S, initialize=DVFACIN, bounds=pos)
    m.W = pyo.Var(m.F, initialize=1.0, bounds=pos)
    m.XH = pyo.Var(m.S, initialize=DVHOUS, bounds=pos)
    m.Y = pyo.Var(initialize=y0, bounds=pos)
    m.FS = pyo.Var(m.F, initialize={f: sum(DVFACIN[f, j] for j in SECTORS) for f in FACTORS})
    m.FS.fix()
    m.P["s1"].fix(1.0)
    m.eq_xh = pyo.Constraint(m.S, rule=lambda m, i: m.XH[i] * m.P[i] == m.alpha[i] * m.Y)
    m.eq_xc = pyo.Constraint(m.S, m.S, rule=lambda m, i, j: m.XC[i, j] * m.P[i] == m.a[i, j] * m.P[j] * m.X[j])
    m.eq_xf = pyo.Constraint(m.F, m.S, rule=lambda m, f, j: m.XF[f, j] * m.W[f] == m.b[f, j] * m.P[j] * m.X[j])
    m.eq_price = pyo.Constraint(m.S, rule=lambda m, j: m.P[j] == pyo.prod(m.P[i] ** m.a[i, j] for i in m.S)
                                * pyo.prod(m.W[f] ** m.b[f, j] for f in m.F))
    m.eq_market = pyo.Constraint([i for i in SECTORS if i != "s1"],
                                 rule=lambda m, i: m.X[i] == sum(m.XC[i, j] for j in m.S) + m.XH[i])
    m.eq_factor = pyo.Constraint(m.F, rule=lambda m, f: sum(m.XF[f, j] for j in m.S) == m.FS[f])
    m.eq_income = pyo.Constraint(expr=m.Y == sum(m.W[f] * m.FS[f] for f in m.F))
    m.obj = pyo.Objective(expr=0.0)
    return m
