"""What-if benchmark: VCG payments on a seeded market of 200 participants x 24 periods on a DC
network, linear and quadratic offers, four ways, in one run:

* (a) rebuild - build the market again without the participant and solve it
              (``pyomo_ecc.solve``) for every withdrawal;
* (b) recompile - withdraw on the same model (``pyomo_ecc.whatif.applied``) and solve it
              afresh: the model is recompiled to a matrix and a new HiGHS instance solves it
              (the route every loop took before the what-if engine);
* (c) engine  - :class:`pyomo_ecc.whatif.WhatIf`: compiled once, each withdrawal changes
              the bounds of the participant's columns and rows in the live HiGHS model and
              re-solves warm from the base basis; serially and over 2 worker processes;
* (d) floor   - HiGHS alone (highspy) on the same matrix, making the same bound changes and
              re-solving warm from the same basis, with no pyomo_ecc around it.

On the quadratic market every route is dominated by HiGHS's QP solver (seconds per solve, and
no hot start: re-running it warm from a basis takes as long as a cold solve; HiGHS's option
``qp_allow_hot_start`` is off by default and, switched on, fails on this market), so the ratios
there measure overheads around one QP solve. Times are per what-if (mean over the withdrawals
timed; (a) and (b) time a seeded sample of ``--sample`` withdrawals, (c) and (d) all of them, or
``--whatifs`` of them). (c) serial and (d) run ``--repeats`` times, each on a market built
afresh (so first-use costs count, as in one VCG call), interleaved: the medians are used and
the spread is printed (the machine may be shared). For (c) and (d) the time spent inside
HiGHS's ``run`` is printed too: the rest is each route's own work per what-if (both routes make
the same HiGHS iterations, so (c)/(d) is also printed with HiGHS's time taken equal: the least
noisy figure on a shared machine). Ratios printed:
(a)/(c) (goal >= 10), (b)/(c), (c)/(d) (goal <= 1.5), the same with 2 processes, and serial /
processes. Every route's payments are checked against the engine's.

Run from the repository root: ``python benchmarks/whatif.py`` (``bash ecc.sh bench whatif``).
"""
import argparse
import time
import warnings

import networkx as nx
import numpy as np

warnings.filterwarnings("ignore")


def build_market(kind, n_part=200, periods=24, buses=30, seed=0):
    """A seeded market: 150 producers, 50 fixed loads on a meshed 30-bus DC network."""
    import pyomo_ecc as ecc

    rng = np.random.default_rng(seed)
    g = nx.connected_watts_strogatz_graph(buses, 4, 0.3, seed=seed)
    for u, v in g.edges:
        g.edges[u, v]["x"] = float(rng.uniform(0.05, 0.3))
        if rng.random() < 0.2:
            g.edges[u, v]["rating"] = 400.0
    g.nodes[0]["ref"] = True
    m = ecc.Market(periods=periods)
    n_prod = n_part * 3 // 4
    shape = 0.75 + 0.25 * np.sin(np.linspace(0, 2 * np.pi, periods, endpoint=False))
    for k in range(n_prod):
        opts = dict(bus=int(rng.integers(buses)), b=float(rng.uniform(10, 80)),
                    p_max=float(rng.uniform(50, 150)))
        if kind == "quadratic":
            opts["a"] = float(rng.uniform(0.01, 0.1))
        m.add_component(f"gen_{k}", ecc.Producer(**opts))
    for k in range(n_part - n_prod):
        peak = float(rng.uniform(50, 150))
        m.add_component(f"load_{k}", ecc.FixedLoad(bus=int(rng.integers(buses)),
                                                    p=[float(peak * s) for s in shape]))
    m.net = ecc.DCNetwork(graph=g)
    return m


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def route_rebuild(kind, names):
    import pyomo.environ as pyo

    import pyomo_ecc as ecc
    out = {}
    for name in names:
        m = build_market(kind)
        p = m.find_component(name)
        m._reg.participants.remove(p)
        m.del_component(p)
        ecc.solve(m)
        out[name] = pyo.value(m.obj)
    return out


def route_recompile(kind, names):
    import pyomo.environ as pyo

    import pyomo_ecc as ecc
    from pyomo_ecc.whatif import applied, withdraw
    m = build_market(kind)
    ecc.solve(m)
    out = {}
    for name in names:
        p = m.find_component(name)
        with applied(m, [withdraw(p)]):
            ecc.solve(m)
            out[name] = pyo.value(m.obj) - pyo.value(p.bid_cost)
    return out


class _HighsClock:
    """Time spent inside ``Highs.run`` of one highspy instance."""

    def __init__(self, h):
        self.seconds, self._run = 0.0, h.run
        h.run = self

    def __call__(self):
        t = time.perf_counter()
        try:
            return self._run()
        finally:
            self.seconds += time.perf_counter() - t


def route_engine(kind, names, backend="serial", workers=None):
    """Returns (others' costs, seconds, seconds inside HiGHS's run or None)."""
    from pyomo_ecc.whatif import WhatIf, withdraw
    from pyomo_ecc.mechanisms.vcg import market_participants
    if backend == "serial":
        eng = WhatIf(build_market(kind))
    else:
        from functools import partial
        eng = WhatIf(partial(build_market, kind))
    own = {p.name: p.bid_cost.name for p in market_participants(eng.model)}
    clock = _HighsClock(eng.live.h) if backend == "serial" else None
    t = time.perf_counter()
    outs = eng.run_many({n: [withdraw(n)] for n in names}, values=own, backend=backend,
                        workers=workers, progress=False)
    dt = time.perf_counter() - t
    if eng.recompiles:   # a new live model would not be on the clock
        clock = None
    return ({n: o.objective - o.values[n] for n, o in zip(names, outs)}, dt,
            None if clock is None else clock.seconds)


def route_floor(kind, names):
    """HiGHS alone: the same matrix, the same bound changes, warm from the same basis."""
    import highspy

    from pyomo_ecc.core.standard_form import standard_form
    from pyomo_ecc.whatif import Touched, _apply, _undo, resolve, withdraw
    m = build_market(kind)
    sf = standard_form(m)
    # the matrix changes of each withdrawal, prepared outside the timing (pure data)
    changes = {}
    for n in names:
        touched = Touched()
        undo = _apply(resolve(m, [withdraw(n)]), touched)
        d = sf.update(**touched.as_kwargs())
        changes[n] = (d.col_bounds.copy(), sf.col_lower[d.col_bounds].copy(), sf.col_upper[d.col_bounds].copy(),
                      d.row_bounds.copy(), sf.row_lower[d.row_bounds].copy(), sf.row_upper[d.row_bounds].copy())
        back = Touched()
        _undo(undo, back)
        sf.update(**back.as_kwargs())
    own_cost = {}
    for n in names:
        c0, c, Q = sf.expression(m.find_component(n).bid_cost)
        own_cost[n] = (c0, c, Q)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if sf.quadratic:
        h.setOptionValue("qp_regularization_value", 0.0)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = sf.n, sf.m
    lp.col_cost_, lp.offset_ = sf.c, sf.c0
    lp.col_lower_, lp.col_upper_ = sf.col_lower, sf.col_upper
    lp.row_lower_, lp.row_upper_ = sf.row_lower, sf.row_upper
    A = sf.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    if sf.quadratic:
        import scipy.sparse as sp
        L = sp.tril(sf.Q, format="csc")
        model = highspy.HighsModel()
        model.lp_ = lp
        hess = highspy.HighsHessian()
        hess.dim_, hess.format_ = sf.n, highspy.HessianFormat.kTriangular
        hess.start_, hess.index_, hess.value_ = L.indptr, L.indices, L.data
        model.hessian_ = hess
        h.passModel(model)
    else:
        h.passModel(lp)
    h.run()
    basis = h.getBasis()
    out, cold = {}, [0]
    clock = _HighsClock(h)
    t = time.perf_counter()
    for n in names:
        j, jl, ju, i, il, iu = changes[n]
        h.changeColsBounds(len(j), j, jl, ju)
        h.changeRowsBounds(len(i), i, il, iu)
        h.setBasis(basis)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:   # warm QP re-runs can fail
            cold[0] += 1
            h.clearSolver()
            h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS alone: {h.modelStatusToString(h.getModelStatus())} without {n}")
        x = np.asarray(h.getSolution().col_value)
        obj = h.getInfo().objective_function_value
        c0, c, Q = own_cost[n]
        out[n] = obj - float(c0 + c @ x + 0.5 * x @ (Q @ x))
        h.changeColsBounds(len(j), j, sf.col_lower[j], sf.col_upper[j])
        h.changeRowsBounds(len(i), i, sf.row_lower[i], sf.row_upper[i])
    dt = time.perf_counter() - t
    if cold[0]:
        print(f"  (HiGHS alone: {cold[0]} warm re-runs failed and were re-run cold)")
    return out, dt, clock.seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="linear,quadratic")
    ap.add_argument("--sample", type=int, default=10, help="withdrawals timed by (a) and (b)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--whatifs", type=int, default=None,
                    help="withdrawals timed by (c) and (d) (default: all; HiGHS's QP solver takes "
                         "seconds per solve on the quadratic market)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of (c) serial and (d); medians used")
    a = ap.parse_args(argv)
    from pyomo_ecc.mechanisms.vcg import market_participants
    rows = []
    for kind in a.kinds.split(","):
        m = build_market(kind)
        names = [p.name for p in market_participants(m)]
        rng = np.random.default_rng(3)
        if a.whatifs is not None:
            names = sorted(rng.choice(names, size=min(a.whatifs, len(names)), replace=False))
        sample = sorted(rng.choice(names, size=min(a.sample, len(names)), replace=False))
        runs = {"c": [], "d": []}
        for _ in range(max(1, a.repeats)):   # interleaved: both see the same machine load
            eng, t_eng, h_eng = route_engine(kind, names)
            floor, t_floor, h_floor = route_floor(kind, names)
            runs["c"].append((t_eng, h_eng))
            runs["d"].append((t_floor, h_floor))
        eng2, t_eng2, _ = route_engine(kind, names, backend="processes", workers=a.workers)
        reb, t_reb = _timed(lambda: route_rebuild(kind, sample))
        rec, t_rec = _timed(lambda: route_recompile(kind, sample))
        worst = max(max(abs(reb[n] - eng[n]) / max(1.0, abs(eng[n])) for n in sample),
                    max(abs(rec[n] - eng[n]) / max(1.0, abs(eng[n])) for n in sample),
                    max(abs(eng2[n] - eng[n]) / max(1.0, abs(eng[n])) for n in names),
                    max(abs(floor[n] - eng[n]) / max(1.0, abs(eng[n])) for n in names))
        med = {k: float(np.median([t for t, _ in v])) / len(names) for k, v in runs.items()}
        spread = {k: (min(t for t, _ in v) / len(names), max(t for t, _ in v) / len(names))
                  for k, v in runs.items()}
        inside = {k: (float(np.median([h for _, h in v])) / len(names) if all(h is not None for _, h in v)
                      else float("nan")) for k, v in runs.items()}
        c2 = f"(c) engine, {a.workers} processes"
        per = {"(a) rebuild": t_reb / len(sample), "(b) recompile": t_rec / len(sample),
               "(c) engine": med["c"], c2: t_eng2 / len(names), "(d) HiGHS alone": med["d"]}
        print(f"\n{kind} offers: {len(market_participants(m))} participants x 24 periods, {len(names)} withdrawals "
              f"(largest relative difference of the others' costs between routes {worst:.1e})")
        for k, v in per.items():
            line = f"  {k:32s} {1e3 * v:9.2f} ms per what-if"
            key = {"(c) engine": "c", "(d) HiGHS alone": "d"}.get(k)
            if key:
                lo, hi = spread[key]
                line += (f"  (median of {len(runs[key])}: {1e3 * lo:.2f}-{1e3 * hi:.2f}; inside HiGHS's run "
                         f"{1e3 * inside[key]:.2f}, outside {1e3 * (v - inside[key]):.2f})")
            print(line)
        r1 = per["(a) rebuild"] / per["(c) engine"]
        r2 = per["(c) engine"] / per["(d) HiGHS alone"]
        r3 = per["(b) recompile"] / per["(c) engine"]
        r4 = per["(a) rebuild"] / per[c2]
        r5 = per[c2] / per["(d) HiGHS alone"]
        r6 = per["(c) engine"] / per[c2]
        print(f"  ratio (a)/(c) = {r1:.1f}  (goal >= 10)   (b)/(c) = {r3:.1f}   "
              f"(c)/(d) = {r2:.2f}  (goal <= 1.5; range over the runs "
              f"{min(t for t, _ in runs['c']) / max(t for t, _ in runs['d']):.2f}-"
              f"{max(t for t, _ in runs['c']) / min(t for t, _ in runs['d']):.2f})")
        paired = float(np.median([c / d for (c, _), (d, _) in zip(runs["c"], runs["d"])]))
        same = (inside["d"] + per["(c) engine"] - inside["c"]) / per["(d) HiGHS alone"]
        print(f"  (c)/(d) paired run by run: median {paired:.2f};  with HiGHS's own time taken equal in both "
              f"(they make the same HiGHS iterations): {same:.2f}")
        print(f"  with {a.workers} processes: (a)/(c) = {r4:.1f}   (c)/(d) = {r5:.2f}   "
              f"(c) serial / {a.workers} processes = {r6:.2f}")
        rows.append((kind, per, r1, r2))
    return rows


if __name__ == "__main__":
    main()
