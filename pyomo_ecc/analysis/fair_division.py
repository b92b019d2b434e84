r"""Fair division of several divisible goods among agents with additive valuations.

Agent :math:`i` values a unit of good :math:`g` at :math:`v_{ig} \ge 0`; it receives
:math:`x_{ig} \ge 0` (at most :math:`\overline x_{ig}` with ``caps``) of the supply
:math:`s_g`, and its utility is additive, :math:`U_i = \sum_g v_{ig} x_{ig}`:

.. math::

    \sum_i x_{ig} = s_g \ \ (\le s_g \text{ with caps}), \qquad
    0 \le x_{ig} \le \overline x_{ig}.

====================  ======================================================  ===================
``objective``         allocation                                              solver (default)
====================  ======================================================  ===================
``"utilitarian"``     max-sum: :math:`\max \sum_i U_i`                        HiGHS (LP)
``"nash"``            Nash / proportional fairness (Eisenberg-Gale):           Ipopt (concave NLP)
                      :math:`\max \sum_i w_i \log U_i`; with equal weights
                      it is the competitive equilibrium from equal incomes,
                      hence envy-free and Pareto optimal
``"leximin"``         max-min, then the second smallest utility, ...:          HiGHS (a sequence
                      stage :math:`k` maximises :math:`z` with                 of LPs)
                      :math:`U_i \ge z` for the agents not yet fixed and
                      :math:`U_j \ge z_j` for those fixed earlier; an agent
                      is fixed when its utility cannot exceed :math:`z`
====================  ======================================================  ===================

Envy: :math:`E_{ij} = \sum_g v_{ig} x_{jg} - U_i` (what :math:`i` would gain from :math:`j`'s
bundle); envy-free when every :math:`E_{ij} \le 0`.

=====================  ===========================  ========================================
symbol                 attribute                    meaning
=====================  ===========================  ========================================
:math:`x_{ig}`         ``x[i, g]``                  share of good g given to agent i
:math:`U_i`            ``utility[i]``               additive utility
:math:`z`              ``z``                        worst utility of the stage (leximin)
supply                 ``eq_supply[g]``             :math:`\sum_i x_{ig} = s_g` (or ``<=``)
=====================  ===========================  ========================================

Example (fairpy's ``max_minimum_allocation`` doctest)::

    >>> from pyomo_ecc.analysis.fair_division import allocate
    >>> a = allocate([[4, 2], [1, 3]], "leximin")
    >>> a.x.round(3).values.tolist(), a.utilities.round(3).tolist()
    ([[0.8, 0.0], [0.2, 1.0]], [3.2, 3.2])
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.errors import InputError

OBJECTIVES = ("utilitarian", "nash", "leximin")
_TOL = 1e-7


@dataclass
class FairAllocation:
    """Result of :func:`allocate`: ``x`` (DataFrame indexed ``agent``, columns ``good``),
    ``utilities`` (Series by ``agent``), ``envy`` (:func:`envy` of the allocation),
    ``envy_free`` and the ``objective``."""

    objective: str
    x: pd.DataFrame
    utilities: pd.Series
    envy: pd.DataFrame = field(repr=False)

    @property
    def envy_free(self):
        return bool(self.envy.attrs["envy_free"])


def _valuations(valuations, agents=None, goods=None):
    if isinstance(valuations, pd.DataFrame):
        V = valuations.astype(float)
    else:
        arr = np.asarray(valuations, dtype=float)
        if arr.ndim != 2:
            raise InputError(f"valuations must be a 2-D table (agents x goods), got shape {arr.shape}")
        V = pd.DataFrame(arr)
        V.index = [f"agent{i}" for i in range(arr.shape[0])] if agents is None else list(agents)
        V.columns = [f"good{g}" for g in range(arr.shape[1])] if goods is None else list(goods)
    if V.size == 0:
        raise InputError("valuations: need at least one agent and one good")
    bad = [(i, g) for i in V.index for g in V.columns
           if not np.isfinite(V.loc[i, g]) or V.loc[i, g] < 0]
    if bad:
        i, g = bad[0]
        raise InputError(f"valuations: agent {i!r} values good {g!r} at {V.loc[i, g]}; values must "
                         f"be finite and >= 0")
    V.index.name, V.columns.name = "agent", "good"
    return V


def envy(valuations, x):
    """Envy matrix :math:`E_{ij} = v_i \\cdot x_j - v_i \\cdot x_i` (DataFrame indexed
    ``agent``, columns ``other``); ``attrs["envy_free"]`` is True when no entry exceeds 1e-7
    times the largest utility."""
    V = _valuations(valuations)
    X = x.loc[V.index, V.columns].to_numpy(dtype=float) if isinstance(x, pd.DataFrame) else np.asarray(x, dtype=float)
    if X.shape != V.shape:
        raise InputError(f"allocation has shape {X.shape}, valuations {V.shape}")
    W = V.to_numpy() @ X.T          # W[i, j] = v_i . x_j
    E = W - np.diag(W)[:, None]
    df = pd.DataFrame(E, index=pd.Index(V.index, name="agent"), columns=pd.Index(V.index, name="other"))
    scale = max(1.0, float(np.abs(np.diag(W)).max()))
    df.attrs["envy_free"] = bool(np.all(E <= _TOL * scale))
    df.attrs["max_envy"] = float(E.max())
    return df


def allocate(valuations, objective="nash", supply=None, caps=None, weights=None, solver=None):
    """Divide the goods (module doc). ``valuations``: DataFrame (agents x goods) or a nested
    list; ``supply``: per good (default 1: fractions); ``caps``: the most each agent can take of
    each good (same shape; then goods need not be used up); ``weights``: Nash entitlements
    :math:`w_i` (default 1). Returns a :class:`FairAllocation`."""
    from pyomo_ecc.solvers import solve

    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    V = _valuations(valuations)
    A, G = list(V.index), list(V.columns)
    s = pd.Series(1.0, index=G) if supply is None else pd.Series(
        np.asarray(supply, dtype=float).ravel() if not isinstance(supply, (pd.Series, dict))
        else pd.Series(supply).reindex(G).to_numpy(dtype=float), index=G)
    if s.size != len(G) or s.isna().any() or (s < 0).any() or not np.isfinite(s).all():
        raise InputError(f"supply needs one finite value >= 0 per good {G}, got {list(s)}")
    if caps is None:
        C = None
    else:
        C = (caps.loc[A, G].astype(float) if isinstance(caps, pd.DataFrame)
             else pd.DataFrame(np.asarray(caps, dtype=float), index=A, columns=G))
        if C.shape != V.shape or C.isna().any().any() or (C < 0).any().any():
            raise InputError(f"caps need one value >= 0 per agent and good, shape {V.shape}")
    w = pd.Series(1.0, index=A) if weights is None else pd.Series(np.asarray(weights, dtype=float), index=A)
    if (w <= 0).any() or not np.isfinite(w).all():
        raise InputError(f"weights must be finite and > 0, got {list(w)}")
    m = pyo.ConcreteModel(name=f"{objective}_division")
    m.A = pyo.Set(initialize=A, ordered=True)
    m.G = pyo.Set(initialize=G, ordered=True)
    ub = (lambda mm, i, g: (0.0, min(float(s[g]), float(C.loc[i, g])))) if C is not None else (
        lambda mm, i, g: (0.0, float(s[g])))
    m.x = pyo.Var(m.A, m.G, bounds=ub, initialize=lambda mm, i, g: ub(mm, i, g)[1] / len(A))
    m.utility = pyo.Expression(m.A, rule=lambda mm, i: sum(float(V.loc[i, g]) * mm.x[i, g] for g in mm.G))
    if C is None:
        m.eq_supply = pyo.Constraint(m.G, rule=lambda mm, g: sum(mm.x[i, g] for i in mm.A) == float(s[g]))
    else:
        m.eq_supply = pyo.Constraint(m.G, rule=lambda mm, g: sum(mm.x[i, g] for i in mm.A) <= float(s[g]))
    if objective == "utilitarian":
        m.obj = pyo.Objective(expr=sum(m.utility[i] for i in m.A), sense=pyo.maximize)
        solve(m, solver or "highs")
    elif objective == "nash":
        best = {i: sum(float(V.loc[i, g]) * ub(m, i, g)[1] for g in G) for i in A}
        zero = [i for i in A if best[i] <= 0]
        if zero:
            raise InputError(f"nash: agent(s) {zero} value every good they can get at 0; the Nash "
                             f"product is 0 for every allocation (drop them or use 'leximin')")
        m.ineq_pos = pyo.Constraint(m.A, rule=lambda mm, i: mm.utility[i] >= 1e-9 * best[i])
        m.obj = pyo.Objective(expr=sum(float(w[i]) * pyo.log(m.utility[i]) for i in m.A),
                              sense=pyo.maximize)
        solve(m, solver or "ipopt")
    else:
        _leximin(m, A, solver or "highs")
    X = pd.DataFrame([[max(0.0, pyo.value(m.x[i, g])) for g in G] for i in A],
                     index=pd.Index(A, name="agent"), columns=pd.Index(G, name="good"))
    U = pd.Series((V * X).sum(axis=1), name="utility")
    U.index.name = "agent"
    return FairAllocation(objective, X, U, envy(V, X))


def _leximin(m, A, solver):
    from pyomo_ecc.solvers import solve

    m.z = pyo.Var()
    m.level = pyo.Param(m.A, initialize=0.0, mutable=True)
    m.ineq_free = pyo.Constraint(m.A, rule=lambda mm, i: mm.utility[i] >= mm.z)
    m.ineq_fixed = pyo.Constraint(m.A, rule=lambda mm, i: mm.utility[i] >= mm.level[i])
    m.ineq_fixed.deactivate()
    m.obj = pyo.Objective(expr=m.z, sense=pyo.maximize)
    free = list(A)
    while free:
        m.obj.set_value(m.z)
        m.z.unfix()
        for i in A:
            m.ineq_free[i].activate() if i in free else m.ineq_free[i].deactivate()
        solve(m, solver)
        z = pyo.value(m.z)
        # fix z, then find which free agents cannot get more than z
        eps = _TOL * max(1.0, abs(z))
        m.z.fix(z - eps)
        saturated = []
        for i in free:
            m.obj.set_value(m.utility[i])
            solve(m, solver)
            if pyo.value(m.utility[i]) <= z + 10 * eps:
                saturated.append(i)
        if not saturated:      # numerical safety: fix the worst one
            saturated = [min(free, key=lambda i: pyo.value(m.utility[i]))]
        for i in saturated:
            m.level[i] = z - eps
            m.ineq_fixed[i].activate()
            free.remove(i)
    # a last solve that keeps every level (the final point)
    m.z.fix(0.0)
    for i in A:
        m.ineq_free[i].deactivate()
    m.obj.set_value(sum(m.utility[i] for i in A))
    solve(m, solver)


def share_community(production, demand, value, objective="nash", solver=None):
    r"""Share a community's production (e.g. its PV) among prosumers, period by period.

    ``production``: Series by period (kWh or MWh); ``demand``: DataFrame (prosumers x periods) of
    what each can use; ``value``: what a unit saves each prosumer (a number, one per prosumer,
    or a DataFrame like ``demand``), e.g. its retail tariff minus the export price. Goods are
    the periods' production, :math:`v_{it}` = value, caps = demand, so that energy nobody can
    use is left over (exported). Returns the :class:`FairAllocation` (``x`` in energy units).
    """
    prod = pd.Series(production, dtype=float)
    D = pd.DataFrame(demand).astype(float)
    if list(D.columns) != list(prod.index):
        raise InputError(f"demand columns {list(D.columns)} must be the production periods "
                         f"{list(prod.index)}")
    if isinstance(value, pd.DataFrame):
        Vv = value.loc[D.index, D.columns].astype(float)
    else:
        v = np.broadcast_to(np.asarray(value, dtype=float).reshape(-1, 1) if np.ndim(value) else
                            np.asarray(value, dtype=float), D.shape)
        Vv = pd.DataFrame(v, index=D.index, columns=D.columns)
    Vv.index.name, Vv.columns.name = "agent", "good"
    return allocate(Vv, objective, supply=prod.to_numpy(), caps=D, solver=solver)
