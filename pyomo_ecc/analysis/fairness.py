r"""Fairness of allocations: envy, proportional fairness and max-min fairness.

* Envy matrix: agent :math:`i` envies :math:`j` by
  :math:`E_{ij} = \big(u_i(x_j) - \pi_j\big) - \big(u_i(x_i) - \pi_i\big)` (its own valuation of
  :math:`j`'s bundle and payment); the allocation is envy-free when every :math:`E_{ij} \le 0`.
* Allocation of a divisible amount :math:`X` among agents with utilities
  :math:`U_i(x_i) = u^0_i + w_i x_i`, :math:`0 \le x_i \le \overline{x}_i`,
  :math:`\sum_i x_i \le X`, under one of three objectives:

  ==================  ==========================================  =========================
  ``objective``       maximise                                    solver (default)
  ==================  ==========================================  =========================
  ``"welfare"``       :math:`\sum_i U_i`                          HiGHS (LP)
  ``"proportional"``  :math:`\sum_i \log U_i`                     Ipopt (concave NLP)
  ``"maxmin"``        :math:`\min_i U_i` (epigraph :math:`z`)     HiGHS (LP)
  ==================  ==========================================  =========================

=====================  ====================  ==========================================
symbol                 attribute             meaning
=====================  ====================  ==========================================
:math:`x_i`            ``x[i]``              allocation of agent i
:math:`z`              ``z``                 worst utility (max-min only)
total                  ``ineq_total``        :math:`\sum_i x_i \le X`
=====================  ====================  ==========================================
"""
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.config import number, number_vector
from pyomo_ecc.errors import InputError

OBJECTIVES = ("welfare", "proportional", "maxmin")


def envy_matrix(utilities, allocations, payments=None, names=None):
    """Envy matrix :math:`E_{ij}` (DataFrame indexed ``agent``, columns ``other``).

    ``utilities``: one callable per agent, :math:`u_i(x)`; ``allocations``: each agent's bundle
    :math:`x_j` (anything the callables accept); ``payments``: :math:`\\pi_j` (default 0).
    ``df.attrs["envy_free"]`` is True when no entry exceeds 1e-9.
    """
    if not hasattr(allocations, "__len__") or not hasattr(utilities, "__len__"):
        raise InputError("utilities and allocations must be lists (one entry per agent)")
    n = len(allocations)
    bad = [k for k, u in enumerate(utilities) if not callable(u)]
    if bad:
        raise InputError(f"utilities[{bad[0]}] is not a function u(x), got {utilities[bad[0]]!r}")
    if len(utilities) != n:
        raise InputError(f"{len(utilities)} utility functions for {n} allocations")
    names = [f"agent{i}" for i in range(n)] if names is None else list(names)
    if len(names) != n:
        raise InputError(f"{len(names)} names for {n} allocations")
    pay = np.zeros(n) if payments is None else number_vector(payments, "payments", names)
    if pay.size != n:
        raise InputError(f"{pay.size} payments for {n} allocations")
    E = np.empty((n, n))
    for i in range(n):
        own = utilities[i](allocations[i]) - pay[i]
        for j in range(n):
            E[i, j] = utilities[i](allocations[j]) - pay[j] - own
    df = pd.DataFrame(E, index=pd.Index(names, name="agent"), columns=pd.Index(names, name="other"))
    df.attrs["envy_free"] = bool(np.all(E <= 1e-9))
    return df


def fair_allocation(total, weights, x_max=None, base=None, objective="proportional",
                    names=None, solver=None):
    """Share ``total`` among agents with utilities ``base_i + weights_i * x_i`` (see module doc).

    Returns a DataFrame indexed ``agent`` with columns ``x`` and ``utility``.
    """
    from pyomo_ecc.solvers import solve

    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) == 0:
        raise InputError(f"weights: expected one weight per agent, got {weights!r}")
    n = len(weights)
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        if len(names) != n or len(set(names)) != n:
            raise InputError(f"names: expected {n} distinct agent names (one per weight), got {names}")
    labels = names if names is not None else [f"agent{i}" for i in range(n)]
    w = number_vector(weights, "weights", labels, n, minimum=0.0, strict=True)
    total = number(total, "total", minimum=0.0)
    ub = np.full(n, total) if x_max is None else number_vector(x_max, "x_max", labels, n, minimum=0.0)
    u0 = np.zeros(n) if base is None else number_vector(base, "base", labels, n, minimum=0.0)
    names = labels
    m = pyo.ConcreteModel(name=f"{objective}_allocation")
    m.I = pyo.RangeSet(0, n - 1)
    m.x = pyo.Var(m.I, bounds=lambda m, i: (0.0, ub[i]), initialize=lambda m, i: min(ub[i], total / n))
    m.ineq_total = pyo.Constraint(expr=sum(m.x[i] for i in m.I) <= total)
    U = {i: u0[i] + w[i] * m.x[i] for i in m.I}
    if objective == "welfare":
        m.obj = pyo.Objective(expr=sum(U.values()), sense=pyo.maximize)
    elif objective == "maxmin":
        m.z = pyo.Var()
        m.ineq_worst = pyo.Constraint(m.I, rule=lambda m, i: m.z <= U[i])
        m.obj = pyo.Objective(expr=m.z, sense=pyo.maximize)
    else:
        for i in m.I:
            m.x[i].setlb(1e-9 if u0[i] == 0 else 0.0)
        m.obj = pyo.Objective(expr=sum(pyo.log(U[i]) for i in m.I), sense=pyo.maximize)
    solve(m, solver or ("ipopt" if objective == "proportional" else "highs"))
    x = np.array([pyo.value(m.x[i]) for i in m.I]) + 0.0   # no -0.0
    return pd.DataFrame({"x": x, "utility": u0 + w * x}, index=pd.Index(names, name="agent"))
