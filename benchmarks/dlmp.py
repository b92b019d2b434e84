"""DLMP benchmark: a seeded 1000-bus radial feeder, LinDistFlow, the loss-aware route and AC.

The feeder is :func:`pyomo_ecc.models.feeder.synthetic_market` (a networkx tree from
:func:`pyomo_ecc.network.radial.synthetic_feeder`, seed ``--seed``): loads on every bus, DERs,
one congested branch and a binding lower voltage limit, for 1 and 24 hourly periods. Phase
by phase, in one process:

* ``build``   - the market (participants, network) and its assembly into a Pyomo model;
* ``solve``   - ``pyomo_ecc.solve`` (Pyomo -> HiGHS, values and duals back);
* ``dlmp``    - ``pyomo_ecc.dlmp``: the declared prices read once, tree walks (LinDistFlow)
  or one sparse LU and four adjoint solves per period (operating-point route);
* ``highs``   - HiGHS alone on the same LP (its matrices extracted once beforehand, not timed):
  ``passModel`` + ``run``, the peer for "LinDistFlow DLMP end to end";
* ``pyomo floor`` - the same LP written by hand in plain Pyomo, built, compiled by Pyomo's
  standard-form compiler and solved by HiGHS: what any Pyomo model of this LP costs;
* loss-aware: ``solve_losses`` iterations (the model compiled once, the first iteration's
  time includes it; each later one writes the operating point's numbers into the compiled
  matrices and re-solves HiGHS warm, plus the re-linearisation), then ``dlmp``;
* AC DistFlow (1 period): Ipopt solve and ``dlmp``.

Printed ratios: LinDistFlow end to end (build + solve + dlmp) over HiGHS alone, each loss
iteration over one LinDistFlow solve, and the DLMP step over the dense alternative it avoids
(the 999 x 999 path matrix R = A^-1 diag(r) A^-T with numpy, per period). DER offers are linear
(``quadratic=False``), so LinDistFlow is an LP, and so are the loss-aware iterates while the
plain iteration contracts (``solve_losses(curvature="auto")``; the ``curvature`` column of the
iteration table says when the second-order term, a QP, was added).

Run: ``bash ecc.sh bench dlmp`` (``--buses 1000 --periods 1 24 --seed 2026``).
"""
import argparse
import math
import time

import numpy as np


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def highs_lp(info):
    """A ``highspy.HighsLp`` of the output of Pyomo's ``LinearStandardFormCompiler`` (mixed form)."""
    import highspy
    inf = highspy.kHighsInf
    A = info.A
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(info.columns), A.shape[0]
    lp.col_cost_ = info.c.toarray()[0].astype(float)
    lp.col_lower_ = np.array([-inf if v.lb is None else v.lb for v in info.columns], dtype=float)
    lp.col_upper_ = np.array([inf if v.ub is None else v.ub for v in info.columns], dtype=float)
    kind = np.array([r.bound_type for r in info.rows], dtype=int)
    rhs = np.asarray(info.rhs, dtype=float)
    lp.row_lower_ = np.where(kind <= 0, rhs, -inf)
    lp.row_upper_ = np.where(kind >= 0, rhs, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = A.indptr, A.indices
    lp.a_matrix_.value_ = A.data.astype(float)
    return lp


def highs_alone(model):
    """Solve the model's LP with highspy directly (matrices built first, not timed)."""
    import highspy
    import pyomo.environ as pyo
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
    info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    lp = highs_lp(info)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    t0 = time.perf_counter()
    h.passModel(lp)
    h.run()
    dt = time.perf_counter() - t0
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    obj = h.getInfo().objective_function_value + float(info.c_offset[0] if len(info.c_offset) else 0)
    obj_model = float(pyo.value(model.obj))
    return dt, obj, obj_model


def pyomo_floor(market):
    """The Pyomo floor: the same LinDistFlow LP written by hand in plain Pyomo (no library
    blocks, constant coefficients, the 12-sided outer polygon), built, compiled by Pyomo's
    ``LinearStandardFormCompiler`` and solved by highspy, values loaded back. Returns the phase
    times and the objective (equal to the library's)."""
    import highspy
    import pyomo.environ as pyo
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
    from pyomo_ecc.network.radial import RadialFeeder
    t0 = time.perf_counter()
    net = market.network.config
    g = net.graph
    fd = RadialFeeder(g, root=net.ref_bus)
    T = list(market.T)
    s = 1.0 / net.base_mva
    kids = fd.children
    gens = [(p.config.bus, p.config.b, p.config.p_max) for p in market.participants()]
    at = {b: [] for b in fd.buses}
    for k, (b, c, pmax) in enumerate(gens):
        at[b].append(k)
    load = {b: g.nodes[b].get("load", [0.0] * len(T)) for b in fd.buses}
    qload = {b: g.nodes[b].get("q_load", [0.0] * len(T)) for b in fd.buses}
    rated = {j: g.edges[fd.parent[j], j]["rating"] for j in fd.branches
             if g.edges[fd.parent[j], j].get("rating")}
    vmin2 = net.v_min ** 2
    m = pyo.ConcreteModel()
    m.P = pyo.Var(fd.branches, T)
    m.Q = pyo.Var(fd.branches, T)
    m.v = pyo.Var(fd.buses, T, bounds=(0, None))
    m.qs = pyo.Var(T)
    m.g = pyo.Var(range(len(gens)), T, bounds=lambda m, k, t: (0, gens[k][2]))
    root = fd.root
    def pbal(m, j, t):
        inflow = m.P[j, t] if j != root else 0
        return inflow - sum(m.P[k, t] for k in kids[j]) + sum(m.g[k, t] for k in at[j]) == load[j][t]
    def qbal(m, j, t):
        inflow = m.Q[j, t] if j != root else m.qs[t]
        return inflow - sum(m.Q[k, t] for k in kids[j]) == qload[j][t]
    m.pb = pyo.Constraint(fd.buses, T, rule=pbal)
    m.qb = pyo.Constraint(fd.buses, T, rule=qbal)
    r = fd.branch_data["r"].to_dict(); x = fd.branch_data["x"].to_dict()
    m.vd = pyo.Constraint(fd.branches, T, rule=lambda m, j, t: m.v[j, t] == m.v[fd.parent[j], t]
                          - 2 * s * (r[j] * m.P[j, t] + x[j] * m.Q[j, t]))
    m.v0 = pyo.Constraint(T, rule=lambda m, t: m.v[root, t] == net.v_root ** 2)
    m.vmin = pyo.Constraint(fd.branches, T, rule=lambda m, j, t: m.v[j, t] >= vmin2)
    n = 12
    m.sm = pyo.Constraint(list(rated), T, range(n), rule=lambda m, j, t, k: math.cos(2 * math.pi * k / n) * m.P[j, t]
                          + math.sin(2 * math.pi * k / n) * m.Q[j, t] <= rated[j])
    m.obj = pyo.Objective(expr=sum(gens[k][1] * m.g[k, t] for k in range(len(gens)) for t in T))
    t1 = time.perf_counter()
    info = LinearStandardFormCompiler().write(m, mixed_form=True, set_sense=None)
    t2 = time.perf_counter()
    lp = highs_lp(info)
    h = highspy.Highs(); h.setOptionValue("output_flag", False)
    h.passModel(lp); h.run()
    t3 = time.perf_counter()
    sol = h.getSolution()
    xval = np.array(sol.col_value); dual = np.array(sol.row_dual)
    for v, val in zip(info.columns, xval):
        v.set_value(float(val), skip_validation=True)
    t4 = time.perf_counter()
    return dict(build=t1 - t0, compile=t2 - t1, highs=t3 - t2, load=t4 - t3,
                objective=h.getInfo().objective_function_value)

def run(n, periods, seed, ac=True):
    import pyomo_ecc as ecc
    from pyomo_ecc.models.feeder import synthetic_market
    rows = {}
    # -- LinDistFlow -----------------------------------------------------------------------
    m, t_build = _timed(lambda: synthetic_market(n, np.random.default_rng(seed), periods=periods,
                                                 quadratic=False).assemble())
    _, t_solve = _timed(lambda: ecc.solve(m))
    d, t_dlmp = _timed(lambda: ecc.dlmp(m))
    t_highs, obj_h, obj_m = highs_alone(m)
    _, t_jac = _timed(lambda: ecc.dlmp(m, method="jacobian"))
    _, t_dense = _timed(lambda: m.network.feeder.path_matrix("r"))
    rows["lindistflow"] = dict(build=t_build, solve=t_solve, dlmp=t_dlmp, highs=t_highs,
                               dlmp_jacobian=t_jac, dense_R_once=t_dense)
    print(f"\n== {n} buses, {periods} period(s), seed {seed} ==")
    print(f"LinDistFlow: build {t_build:.2f} s, solve {t_solve:.2f} s, dlmp {t_dlmp:.3f} s "
          f"(tree walks; sparse-adjoint route {t_jac:.3f} s); HiGHS alone {t_highs:.2f} s; "
          f"objectives {obj_m:.6f} / {obj_h:.6f}")
    print(f"  largest DLMP {d.lmp.max():.3f} $/MWh: congestion up to {d.congestion.max():.3f}, "
          f"voltage up to {d.voltage.max():.3f}")
    e2e = t_build + t_solve + t_dlmp
    print(f"  ratio LinDistFlow DLMP end to end / HiGHS alone: {e2e / t_highs:.2f} "
          f"(goal <= 3); solve + dlmp / HiGHS alone: {(t_solve + t_dlmp) / t_highs:.2f}")
    fl = pyomo_floor(synthetic_market(n, np.random.default_rng(seed), periods=periods,
                                      quadratic=False))
    floor = fl["build"] + fl["compile"] + fl["highs"] + fl["load"]
    print(f"  Pyomo floor (the same LP by hand in plain Pyomo): build {fl['build']:.2f} s, "
          f"compile {fl['compile']:.2f} s, HiGHS {fl['highs']:.2f} s, load {fl['load']:.3f} s = "
          f"{floor:.2f} s, {floor / t_highs:.2f} x HiGHS alone (objective {fl['objective']:.6f}); "
          f"the library end to end is {e2e / floor:.2f} x the floor")
    rows["lindistflow"]["pyomo_floor"] = floor
    print(f"  dlmp / (dense R for ONE period: {t_dense:.3f} s) x {periods}: "
          f"{t_dlmp / (t_dense * periods):.3f}")
    # -- loss-aware ------------------------------------------------------------------------
    ml, t_build_l = _timed(lambda: synthetic_market(n, np.random.default_rng(seed), periods=periods,
                                                    formulation="losses", quadratic=False).assemble())
    it, t_loop = _timed(lambda: ecc.solve_losses(ml))
    dl, t_dlmp_l = _timed(lambda: ecc.dlmp(ml))
    per = (it.solve_s + it.update_s)
    print(f"loss-aware: build {t_build_l:.2f} s, {len(it)} iterations in {t_loop:.2f} s "
          f"(first {per.iloc[0]:.2f} s, then {per.iloc[1:].mean():.2f} s on average: solve "
          f"{it.solve_s.iloc[1:].mean():.2f} + re-linearise {it.update_s.iloc[1:].mean():.2f}), "
          f"dlmp {t_dlmp_l:.3f} s; losses {it.losses_mw.iloc[-1]:.4f} MW")
    print(it[["losses_mw", "loss_residual_mw", "rating_excess_mw", "price_change", "curvature",
              "solve_s", "update_s"]].to_string())
    print(f"  ratio loss iteration / one LinDistFlow solve: first {per.iloc[0] / t_solve:.2f}, "
          f"later {per.iloc[1:].mean() / t_solve:.2f} (goal <= 3)")
    print(f"  loss-aware vs lossless DLMP: largest difference {(dl.lmp - d.lmp).abs().max():.3f} $/MWh; "
          f"loss component up to {dl.loss.max():.3f}")
    rows["losses"] = dict(build=t_build_l, loop=t_loop, iterations=len(it), dlmp=t_dlmp_l)
    # -- AC ----------------------------------------------------------------------------------
    if ac:
        ma, t_build_a = _timed(lambda: synthetic_market(n, np.random.default_rng(seed), periods=periods,
                                                        formulation="ac_distflow",
                                                        quadratic=False).assemble())
        _, t_solve_a = _timed(lambda: ecc.solve(ma, "ipopt"))
        da, t_dlmp_a = _timed(lambda: ecc.dlmp(ma))
        print(f"AC DistFlow: build {t_build_a:.2f} s, Ipopt {t_solve_a:.2f} s, dlmp {t_dlmp_a:.3f} s; "
              f"loss-aware vs AC: largest |lmp difference| {(dl.lmp - da.lmp).abs().max():.2e} $/MWh")
        rows["ac"] = dict(build=t_build_a, solve=t_solve_a, dlmp=t_dlmp_a)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buses", type=int, default=1000)
    p.add_argument("--periods", type=int, nargs="+", default=[1, 24])
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args(argv)
    for periods in a.periods:
        run(a.buses, periods, a.seed, ac=(periods == 1))


if __name__ == "__main__":
    main()
