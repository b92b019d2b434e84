r"""The reference: the DC-OPF of :mod:`benchmarks.dcopf` written by hand in plain Pyomo.

The same LP as pyomo_ecc's ``build_matpower_market(..., loads="network")`` and as the
HiGHS-alone run of the benchmark (B-theta, MATPOWER susceptances, phase shifts 0), written the
way one writes a Pyomo model without a library: generator limits and the reference angle are
column bounds, one balance row per bus and period, two limit rows per rated branch and period:

.. math::

    \min \sum_{g,t} c_{2,g}\,p_{g,t}^2 + c_{1,g}\,p_{g,t} + c_{0,g} \quad\text{s.t.}\quad
    \sum_{g \in n} p_{g,t} - \sum_{l: i(l)=n} f_{l,t} + \sum_{l: j(l)=n} f_{l,t} = L_{n,t}
    \ (\lambda_{n,t}), \qquad -\overline{F}_l \le f_{l,t} \le \overline{F}_l,

with :math:`f_{l,t} = \beta_l(\theta_{i(l),t} - \theta_{j(l),t})`,
:math:`\underline{P}_g \le p_{g,t} \le \overline{P}_g` and :math:`\theta_{r,t} = 0`.

:func:`build` makes the Pyomo model from the arrays of :func:`benchmarks.dcopf.lp_data`;
:func:`solve` compiles it with Pyomo's own ``LinearStandardFormCompiler`` (the objective is
passed to HiGHS from the coefficient arrays: the compiler takes linear objectives only), runs
HiGHS and returns the objective and the LMPs :math:`\lambda_{n,t}` (balance-row duals).
"""
import numpy as np
import pyomo.environ as pyo


def build(d):
    """The hand-written Pyomo model of the LP data ``d`` (see :func:`dcopf.lp_data`)."""
    T = range(d["T"])
    nb, ng, nl = len(d["buses"]), len(d["gbus"]), len(d["f"])
    f, to, beta = d["f"].tolist(), d["t"].tolist(), d["beta"].tolist()
    rating = d["rating"].tolist()
    pmin, pmax = d["pmin"].tolist(), d["pmax"].tolist()
    c2, c1, c0 = d["c2"].tolist(), d["c1"].tolist(), d["c0"].tolist()
    load = d["load"].tolist()
    gens_at = [[] for _ in range(nb)]
    for g, n in enumerate(d["gbus"].tolist()):
        gens_at[n].append(g)
    out_of = [[] for _ in range(nb)]
    into = [[] for _ in range(nb)]
    for l in range(nl):
        out_of[f[l]].append(l)
        into[to[l]].append(l)
    limited = [l for l in range(nl) if np.isfinite(rating[l])]

    m = pyo.ConcreteModel()
    m.G, m.N, m.L, m.T = pyo.RangeSet(0, ng - 1), pyo.RangeSet(0, nb - 1), pyo.RangeSet(0, nl - 1), \
        pyo.RangeSet(0, d["T"] - 1)
    m.LIM = pyo.Set(initialize=limited)
    m.p = pyo.Var(m.G, m.T, bounds=lambda m, g, t: (pmin[g], pmax[g]))
    m.theta = pyo.Var(m.N, m.T)
    for t in T:
        m.theta[d["ref"], t].fix(0.0)
    m.flow = pyo.Expression(m.L, m.T, rule=lambda m, l, t:
                            beta[l] * (m.theta[f[l], t] - m.theta[to[l], t]))
    m.balance = pyo.Constraint(m.N, m.T, rule=lambda m, n, t:
                               sum(m.p[g, t] for g in gens_at[n])
                               - sum(m.flow[l, t] for l in out_of[n])
                               + sum(m.flow[l, t] for l in into[n]) == load[n][t])
    m.flow_limit = pyo.Constraint(m.LIM, m.T, rule=lambda m, l, t:
                                  (-rating[l], m.flow[l, t], rating[l]))
    m.obj = pyo.Objective(expr=sum(c2[g] * m.p[g, t] ** 2 + c1[g] * m.p[g, t] + c0[g]
                                   for g in range(ng) for t in T))
    return m


def solve(m, d, times=None):
    """Compile ``m`` (Pyomo's standard-form compiler), solve with HiGHS, return the objective
    and the LMPs by (t, bus) as an array; ``times`` gets ``compile`` and ``highs`` (s)."""
    import time

    import highspy
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    t0 = time.perf_counter()
    m.obj.deactivate()                      # the compiler takes linear objectives only
    fixed = [v for v in m.theta.values() if v.fixed]
    for v in fixed:
        v.unfix()
    info = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    for v in fixed:
        v.fix()
    m.obj.activate()
    cols = list(info.columns)
    n = len(cols)
    lo = np.array([v.lb if v.lb is not None else -np.inf for v in cols], float)
    up = np.array([v.ub if v.ub is not None else np.inf for v in cols], float)
    pos = {id(v): j for j, v in enumerate(cols)}
    for v in fixed:
        lo[pos[id(v)]] = up[pos[id(v)]] = v.value
    # rows: one per (constraint, bound); a ranged row appears twice (<= and >=) in mixed form
    rows, rlo, rup, first = {}, [], [], []
    for k, (r, rhs) in enumerate(zip(info.rows, info.rhs)):
        i = rows.setdefault(id(r.constraint), len(rlo))
        if i == len(rlo):
            rlo.append(-np.inf)
            rup.append(np.inf)
            first.append(k)
        if r.bound_type <= 0:
            rlo[i] = rhs
        if r.bound_type >= 0:
            rup[i] = rhs
    A = info.A.tocsr()[first].tocsc()
    # objective from the model's own data (the hand-written model knows its coefficients)
    T, ng = d["T"], len(d["gbus"])
    pj = np.array([pos[id(m.p[g, t])] for t in range(T) for g in range(ng)])
    c = np.zeros(n)
    c[pj] = np.tile(d["c1"], T)
    q = np.zeros(n)
    q[pj] = np.tile(2 * d["c2"], T)
    t1 = time.perf_counter()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(rlo)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, lo, up
    lp.row_lower_, lp.row_upper_ = np.array(rlo), np.array(rup)
    lp.offset_ = T * float(d["c0"].sum())
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    nz = np.flatnonzero(q)
    if len(nz):
        hess = highspy.HighsHessian()
        hess.dim_, hess.format_ = n, highspy.HessianFormat.kTriangular
        hess.start_ = np.searchsorted(nz, np.arange(n + 1))
        hess.index_, hess.value_ = nz, q[nz]
        h.passHessian(hess)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise SystemExit(f"hand-written: {h.modelStatusToString(h.getModelStatus())}")
    t2 = time.perf_counter()
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    for j, v in enumerate(cols):
        v.set_value(x[j], skip_validation=True)
    y = np.asarray(sol.row_dual)
    lmp = np.array([y[rows[id(m.balance[n_, t])]] for t in range(T) for n_ in range(len(d["buses"]))])
    if times is not None:
        times.update(compile=t1 - t0, highs=t2 - t1)
    return h.getInfo().objective_function_value, lmp
