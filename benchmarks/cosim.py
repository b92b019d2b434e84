"""Co-simulation benchmark (seed 001 three-bus market, 24 hours, six five-segment offers).

1. **One round's clearing**: ``pyomo_ecc.simulation.clear_round`` on the one market model,
   by its two routes: ``whatif`` (the default: a :class:`pyomo_ecc.whatif.WhatIf` pushes
   the changed offer and load Params into its live HiGHS model, re-solves warm, undoes) and
   ``solver`` (the Params are written and the kept ``ecc.Solver`` - Pyomo's persistent HiGHS
   interface - re-solves); each including the output and LMP frames, against **HiGHS alone** re-solving the same
   24-hour LP: the B-theta LP written once as sparse matrices for ``highspy`` from the case
   data (independently of Pyomo), each round changing only the segment costs and widths and
   the bus loads (``changeColsCost``, ``changeColsBounds``, ``changeRowsBounds``) and
   re-running from the previous basis. The same random valid offers and loads go to both;
   the run checks that objectives and LMPs agree.
2. **A 30-round experiment with six learning agents** (three Roth-Erev, three Q-learning),
   phase by phase: agent decisions (``offers``), market clearing (``clearing``), eq. 22
   settlement, the allowance book (``carbon``), learning and logging (``feedback``), from the
   log's timings; plus writing the log (Parquet and CSV) and the plots.

Run from the repository root: ``python benchmarks/cosim.py [--rounds 30] [--clear 40]``
(``bash ecc.sh bench cosim``).
"""
import argparse
import tempfile
import time

import numpy as np
import pandas as pd


def _random_offers(market, rng):
    from pyomo_ecc.simulation.market import Offer
    out = {}
    for n, u in market.units.items():
        p = np.sort(rng.uniform(0.8, 3.0, 5) * u.variable_cost).clip(0, 1000)
        w = rng.uniform(0.2, 1.0, 5)
        out[n] = Offer(tuple(p), tuple(w / w.sum() * u.capacity))
    return out


class HighsAlone:
    """The seed 001 SCED as a highspy LP built from the case data (B-theta, reference bus
    angle 0), re-solved in place."""

    def __init__(self, case="seed001_3bus"):
        import highspy

        from pyomo_ecc.io.cases import load_case
        from pyomo_ecc.simulation.market import seed001_units
        c = load_case(case)
        self.units = seed001_units(c)
        self.buses = [b["id"] for b in c.data["bus"]]
        self.hours = list(c.meta["periods"])
        base = float(c.data["network"].get("base_mva", 100.0))
        ref = c.data["network"].get("ref_bus", self.buses[0])
        lines = [(ln["from"], ln["to"], base / ln["x"], ln["rating"]) for ln in c.data["line"]]
        U, B, H = list(self.units), self.buses, self.hours
        nseg = len(U) * 5
        ncol_t = nseg + len(B)
        self.ncol = ncol_t * len(H)
        inf = highspy.kHighsInf
        rows, cols, vals, lo, up = [], [], [], [], []
        r = 0
        self.balance_rows = {}
        for ti, t in enumerate(H):
            off = ti * ncol_t
            for bi, b in enumerate(B):   # sum of segments at b - sum_l b_l (theta_b - theta_o) = load
                for ui, u in enumerate(U):
                    if self.units[u].bus == b:
                        for k in range(5):
                            rows.append(r), cols.append(off + ui * 5 + k), vals.append(1.0)
                for (i, j, bl, _) in lines:
                    if b in (i, j):
                        o = j if b == i else i
                        rows += [r, r]
                        cols += [off + nseg + B.index(b), off + nseg + B.index(o)]
                        vals += [-bl, bl]
                self.balance_rows[(b, t)] = r
                lo.append(0.0), up.append(0.0)
                r += 1
            for (i, j, bl, rating) in lines:   # -rating <= b_l (theta_i - theta_j) <= rating
                rows += [r, r]
                cols += [off + nseg + B.index(i), off + nseg + B.index(j)]
                vals += [bl, -bl]
                lo.append(-rating), up.append(rating)
                r += 1
        import scipy.sparse as sp
        A = sp.csc_matrix((vals, (rows, cols)), shape=(r, self.ncol))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.ncol, r
        lp.col_cost_ = np.zeros(self.ncol)
        clo = np.zeros(self.ncol)
        cup = np.zeros(self.ncol)
        for ti in range(len(H)):
            off = ti * ncol_t
            clo[off + nseg: off + ncol_t] = -inf
            cup[off + nseg: off + ncol_t] = inf
            clo[off + nseg + B.index(ref)] = cup[off + nseg + B.index(ref)] = 0.0
        lp.col_lower_, lp.col_upper_ = clo, cup
        lp.row_lower_, lp.row_upper_ = np.array(lo), np.array(up)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.passModel(lp)
        self.ncol_t, self.nseg = ncol_t, nseg
        self.seg_idx = np.array([ti * ncol_t + j for ti in range(len(H)) for j in range(nseg)], dtype=np.int32)
        self.bal_idx = np.array([self.balance_rows[(b, t)] for t in H for b in B], dtype=np.int32)

    def solve(self, offers, loads):
        U = list(self.units)
        price = np.concatenate([np.asarray(offers[u].prices) for u in U])
        width = np.concatenate([np.asarray(offers[u].quantities) for u in U])
        n = len(self.hours)
        h = self.h
        h.changeColsCost(len(self.seg_idx), self.seg_idx, np.tile(price, n))
        h.changeColsBounds(len(self.seg_idx), self.seg_idx, np.zeros(len(self.seg_idx)), np.tile(width, n))
        L = np.array([loads.at[t, b] for t in self.hours for b in self.buses], dtype=float)
        h.changeRowsBounds(len(self.bal_idx), self.bal_idx, L, L)
        h.run()
        sol = h.getSolution()
        lmp = np.asarray(sol.row_dual)[self.bal_idx]
        return h.getInfo().objective_function_value, lmp


def bench_clearing(n, seed=0):
    from pyomo_ecc.simulation.market import build_market, clear_round, draw_loads
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    mk = build_market()
    t_build_ours = time.perf_counter() - t0
    mk_matrix = build_market(engine="solver")
    t0 = time.perf_counter()
    ha = HighsAlone()
    t_build_highs = time.perf_counter() - t0
    rounds = [(_random_offers(mk, rng), draw_loads(mk.forecast, rng)) for _ in range(n + 1)]
    clear_round(mk, *rounds[0])      # warm-up: first solve imports and compiles
    clear_round(mk_matrix, *rounds[0])
    ha.solve(*rounds[0])
    ours, matrix, theirs, dobj, dlmp = [], [], [], 0.0, 0.0
    for offers, loads in rounds[1:]:
        t0 = time.perf_counter()
        clear_round(mk_matrix, offers, loads)
        matrix.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        c = clear_round(mk, offers, loads)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        obj, lmp = ha.solve(offers, loads)
        theirs.append(time.perf_counter() - t0)
        mine = np.array([c.lmp.loc[(b, t)] for t in ha.hours for b in ha.buses])
        dobj = max(dobj, abs(obj - c.objective) / max(1.0, abs(obj)))
        dlmp = max(dlmp, float(np.max(np.abs(lmp - mine))))
    o, h, mx = np.median(ours), np.median(theirs), np.median(matrix)
    print(f"\n1. one round's clearing, median of {n} rounds (random valid offers and loads)")
    print(f"   build once: pyomo_ecc (model + what-if compile + base solve) {t_build_ours * 1e3:8.1f} ms   "
          f"HiGHS alone {t_build_highs * 1e3:8.1f} ms")
    print(f"   per round : pyomo_ecc whatif {o * 1e3:8.2f} ms   HiGHS alone {h * 1e3:8.2f} ms   ratio {o / h:6.1f}x")
    print(f"               pyomo_ecc solver {mx * 1e3:8.2f} ms   HiGHS alone {h * 1e3:8.2f} ms   ratio {mx / h:6.1f}x")
    print(f"   agreement : max relative objective difference {dobj:.2e}, max |LMP| difference "
          f"{dlmp:.2e} yuan/MWh")
    return o, h


def bench_experiment(rounds, seed=0):
    import matplotlib
    matplotlib.use("Agg")
    from pyomo_ecc.simulation import Experiment
    spec = "G1=roth-erev,G2=q-learning,G3=roth-erev,G4=q-learning,G5=roth-erev,G6=q-learning"
    t0 = time.perf_counter()
    exp = Experiment(spec, rounds=rounds, seed=seed, progress=False)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    log = exp.run()
    t_run = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        log.save(d)
        t_save = time.perf_counter() - t0
        t0 = time.perf_counter()
        log.plot(f"{d}/cosim.png")
        t_plot = time.perf_counter() - t0
    tm = log.timings
    print(f"\n2. {rounds}-round experiment, six learning agents (3 Roth-Erev, 3 Q-learning)")
    print(f"   set-up (build the market once, bind agents): {t_setup:7.3f} s")
    print(f"   rounds: {t_run:7.3f} s in all, {t_run / rounds * 1e3:7.1f} ms per round")
    tab = pd.DataFrame({"total s": tm.sum(), "ms per round": tm.mean() * 1e3,
                        "share": tm.sum() / tm.sum().sum()})
    print(tab.round(3).to_string())
    print(f"   write the log (Parquet + CSV): {t_save:6.3f} s; plots: {t_plot:6.3f} s")
    return log


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--clear", type=int, default=40, help="rounds timed in part 1")
    a = p.parse_args(argv)
    bench_clearing(a.clear)
    bench_experiment(a.rounds)


if __name__ == "__main__":
    main()
