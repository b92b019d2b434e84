"""DC-OPF benchmark: pyomo_ecc against PyPSA (linopy + HiGHS) and HiGHS alone, same LP.

Cases (pandapower.networks): case2869pegase and case9241pegase, one period, and
case2869pegase over 24 periods (every bus demand scaled by the daily profile ``PROFILE``).
Each tool runs in its own process, phase by phase:

* read    - load the pandapower net and convert it to bus / branch / gen tables (shared code:
            :func:`pyomo_ecc.io.pandapower_io.pandapower_case`, the same for all tools);
* build   - pyomo_ecc: Market + Producers + DCNetwork (B-theta, MATPOWER convention, bus
            loads on the network) and assembly; PyPSA: Network + ``optimize.create_model``;
            HiGHS: sparse matrices (numpy / scipy) + ``passModel``;
* solve   - pyomo_ecc: ``pyomo_ecc.solve`` (Pyomo -> HiGHS, solve, load values and duals);
            PyPSA: ``optimize.solve_model`` (``pypsa``), or the same without its
            ``post_processing``, whose dense pseudo-inverse of the bus susceptance matrix (for
            voltage angles) dominates on large networks (``pypsa_noang``); HiGHS: ``run``;
* prices  - a pandas frame of LMPs by (bus, t) (pyomo_ecc: ``pyomo_ecc.prices``; PyPSA:
            ``buses_t.marginal_price``; HiGHS: balance-row duals).

Peak memory is the process's peak resident set size (``resource.getrusage``), shown with
the part above the footprint after the imports.

Same LP for all three: PyPSA's linear OPF has no phase-shifter model, so branch phase shifts
are set to 0 for every tool; pandapower's conversion of these MATPOWER cases rates the
transformers MATPOWER leaves unrated (rateA = 0) at 99.999 MVA, which makes the DC-OPF
infeasible (pandapower's own ``rundcopp`` fails on both nets), and gives unrated lines
ratings of 1e7 MVA and more: both are treated as "no limit" (MATPOWER's meaning). The run
checks that the three objectives agree and reports the largest LMP difference.

Run from the repository root: ``python benchmarks/dcopf.py`` (``--cases case2869pegase``
to run one case; ``bash ecc.sh bench dcopf``).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

#: hourly multipliers of every bus demand for the 24-period case (a typical daily shape)
PROFILE = [0.62, 0.58, 0.56, 0.55, 0.56, 0.60, 0.68, 0.78, 0.86, 0.90, 0.92, 0.93,
           0.92, 0.91, 0.90, 0.90, 0.92, 0.96, 1.00, 0.98, 0.93, 0.85, 0.75, 0.67]
CASES = {"case2869pegase": ("case2869pegase", 1),
         "case9241pegase": ("case9241pegase", 1),
         "case2869pegase_x24": ("case2869pegase", 24)}
TOOLS = ("pyomo_ecc", "pypsa", "pypsa_noang", "highs")
PHASES = ("read", "build", "solve", "prices")


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- shared read phase --------------------------------------------------------------------------
def read_case(net_name):
    """pandapower net -> MatpowerCase tables, with the rating / shift clean-up described above."""
    import pandapower.networks as pn

    from pyomo_ecc.io.pandapower_io import pandapower_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = getattr(pn, net_name)()
        mpc = pandapower_case(net, name=net_name)
    ra = mpc.branch["rate_a"]
    mpc.branch.loc[(ra.round(3) == 99.999) | (ra >= 1e6), "rate_a"] = 0.0
    mpc.branch["angle"] = 0.0
    return mpc


def lp_data(mpc, periods):
    """The DC-OPF data as arrays (MATPOWER convention, shifts already 0)."""
    from pyomo_ecc.io.matpower import generator_offers
    bus = mpc.bus[mpc.bus["type"] != 4]
    buses = list(bus.index)
    pos = {b: k for k, b in enumerate(buses)}
    prof = np.array(PROFILE[:periods] if periods > 1 else [1.0])
    load = np.outer(bus["pd"].to_numpy(), prof) + bus["gs"].to_numpy()[:, None]
    br = mpc.branch[(mpc.branch["status"] > 0) & mpc.branch["fbus"].isin(pos) & mpc.branch["tbus"].isin(pos)]
    tau = br["ratio"].replace(0.0, 1.0).to_numpy()
    beta = mpc.base_mva / (br["x"].to_numpy() * tau)
    rating = br["rate_a"].to_numpy()
    rating = np.where(rating > 0, rating, np.inf)
    offers = generator_offers(mpc)
    if offers["steps"].notna().any():
        raise SystemExit("piecewise-linear costs are not used in these benchmark cases")
    ref = [b for b in buses if bus.at[b, "type"] == 3]
    return {"buses": buses, "f": np.array([pos[b] for b in br["fbus"]]),
            "t": np.array([pos[b] for b in br["tbus"]]), "beta": beta, "rating": rating,
            "branch": list(br.index), "load": load, "gbus": np.array([pos[b] for b in offers["bus"]]),
            "pmin": offers["pmin"].to_numpy(float), "pmax": offers["pmax"].to_numpy(float),
            "c2": offers["a"].to_numpy(float), "c1": offers["b"].to_numpy(float),
            "c0": offers["c"].to_numpy(float), "ref": pos[ref[0]], "T": load.shape[1]}


# -- the three tools ------------------------------------------------------------------------
def run_pyomo_ecc(mpc, periods, times, generators="blocks"):
    import pyomo_ecc as ecc
    from pyomo_ecc.io.matpower import build_matpower_market
    t0 = time.perf_counter()
    m = build_matpower_market(mpc, periods=periods, loads="network",
                              load_profile=PROFILE[:periods] if periods > 1 else None,
                              generators=generators)
    m.assemble()
    t1 = time.perf_counter()
    res = ecc.solve(m, diagnose=False)
    t2 = time.perf_counter()
    lmp = ecc.prices(m)["lmp"]
    t3 = time.perf_counter()
    times.update(build=t1 - t0, solve=t2 - t1, prices=t3 - t2)
    lmp = lmp.reorder_levels(["t", "bus"]).sort_index()
    return res.objective, lmp.to_numpy()


def run_pypsa(mpc, periods, times, post_processing=True):
    import logging

    import pandas as pd
    import pypsa
    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    d = lp_data(mpc, periods)
    T = d["T"]
    bn = [str(b) for b in d["buses"]]
    n = pypsa.Network()
    n.set_snapshots(range(T))
    n.add("Bus", bn, v_nom=1.0)
    # v_nom = 1 kV: x in ohm equals x per unit on 1 MVA, so flow (MW) = dtheta / x
    n.add("Line", [f"l{k}" for k in d["branch"]], bus0=[bn[i] for i in d["f"]],
          bus1=[bn[i] for i in d["t"]], x=1.0 / d["beta"], r=0.0, s_nom=d["rating"])
    scale = np.maximum(np.maximum(np.abs(d["pmax"]), np.abs(d["pmin"])), 1.0)
    gn = [f"g{k}" for k in range(len(d["gbus"]))]
    n.add("Generator", gn, bus=[bn[i] for i in d["gbus"]], p_nom=scale,
          p_max_pu=d["pmax"] / scale, p_min_pu=d["pmin"] / scale, marginal_cost=d["c1"],
          marginal_cost_quadratic=d["c2"])
    has = np.flatnonzero(np.abs(d["load"]).sum(axis=1) > 0)
    ln = [f"d{bn[i]}" for i in has]
    n.add("Load", ln, bus=[bn[i] for i in has],
          p_set=pd.DataFrame(d["load"][has].T, index=n.snapshots, columns=ln))
    n.optimize.create_model()
    t1 = time.perf_counter()
    if post_processing:
        status, cond = n.optimize.solve_model(solver_name="highs", log_to_console=False)
    else:  # solve_model without post_processing (its dense pinv for voltage angles)
        status, cond = n.model.solve(solver_name="highs", log_to_console=False)
        if status == "ok":
            n.optimize.assign_solution()
            n.optimize.assign_duals(False)
    if status != "ok":
        raise SystemExit(f"PyPSA: {status} / {cond}")
    t2 = time.perf_counter()
    lmp = n.buses_t.marginal_price.copy()
    lmp.index.name, lmp.columns.name = "t", "bus"
    lmp = lmp.stack()
    t3 = time.perf_counter()
    times.update(build=t1 - t0, solve=t2 - t1, prices=t3 - t2)
    return float(n.objective) + T * float(d["c0"].sum()), lmp.to_numpy()


def run_highs(mpc, periods, times):
    import highspy
    import pandas as pd
    import scipy.sparse as sp
    t0 = time.perf_counter()
    d = lp_data(mpc, periods)
    T, nb, ng, nl = d["T"], len(d["buses"]), len(d["gbus"]), len(d["f"])
    A = sp.csr_matrix((np.r_[np.ones(nl), -np.ones(nl)], (np.r_[np.arange(nl), np.arange(nl)],
                                                         np.r_[d["f"], d["t"]])), shape=(nl, nb))
    Bf = sp.diags(d["beta"]) @ A
    Cg = sp.csr_matrix((np.ones(ng), (d["gbus"], np.arange(ng))), shape=(nb, ng))
    lim = np.flatnonzero(np.isfinite(d["rating"]))
    one = sp.vstack([sp.hstack([Cg, -(A.T @ Bf)]), sp.hstack([sp.csr_matrix((len(lim), ng)), Bf[lim]])])
    M = sp.kron(sp.identity(T), one, format="csc")  # columns: per period (P, theta)
    row_lo = np.concatenate([np.r_[d["load"][:, k], -d["rating"][lim]] for k in range(T)])
    row_hi = np.concatenate([np.r_[d["load"][:, k], d["rating"][lim]] for k in range(T)])
    th_lo, th_hi = np.full(nb, -np.inf), np.full(nb, np.inf)
    th_lo[d["ref"]] = th_hi[d["ref"]] = 0.0
    col_lo = np.tile(np.r_[d["pmin"], th_lo], T)
    col_hi = np.tile(np.r_[d["pmax"], th_hi], T)
    cost = np.tile(np.r_[d["c1"], np.zeros(nb)], T)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = M.shape[1], M.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, col_lo, col_hi
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.offset_ = T * float(d["c0"].sum())
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = M.indptr, M.indices, M.data
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    if np.any(d["c2"] > 0):
        q = np.tile(np.r_[2 * d["c2"], np.zeros(nb)], T)
        nz = np.flatnonzero(q)
        hess = highspy.HighsHessian()
        hess.dim_, hess.format_ = len(q), highspy.HessianFormat.kTriangular
        start = np.searchsorted(nz, np.arange(len(q) + 1))
        hess.start_, hess.index_, hess.value_ = start, nz, q[nz]
        h.passHessian(hess)
    t1 = time.perf_counter()
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise SystemExit(f"HiGHS: {h.modelStatusToString(h.getModelStatus())}")
    t2 = time.perf_counter()
    y = np.asarray(h.getSolution().row_dual).reshape(T, nb + len(lim))[:, :nb]
    idx = pd.MultiIndex.from_product([range(T), d["buses"]], names=["t", "bus"])
    lmp = pd.Series(y.ravel(), index=idx, name="lmp")
    t3 = time.perf_counter()
    times.update(build=t1 - t0, solve=t2 - t1, prices=t3 - t2)
    return h.getInfo().objective_function_value, lmp.to_numpy()


def run_pypsa_noang(mpc, periods, times):
    return run_pypsa(mpc, periods, times, post_processing=False)


RUNNERS = {"pyomo_ecc": run_pyomo_ecc, "pypsa": run_pypsa, "pypsa_noang": run_pypsa_noang,
           "highs": run_highs}


def worker(tool, case, out_npy):
    base_rss = _rss_mb()
    net_name, periods = CASES[case]
    times = {}
    t0 = time.perf_counter()
    mpc = read_case(net_name)
    times["read"] = time.perf_counter() - t0
    obj, lmp = RUNNERS[tool](mpc, periods, times)
    np.save(out_npy, lmp)
    print("RESULT " + json.dumps({"tool": tool, "case": case, "objective": obj, "times": times,
                                  "peak_rss_mb": _rss_mb(), "import_rss_mb": base_rss}))


def _imports():
    """Import what every tool needs before measuring the baseline footprint."""
    import highspy  # noqa: F401
    import pandapower  # noqa: F401
    import pyomo.environ  # noqa: F401

    import pyomo_ecc  # noqa: F401
    # the public names are imported on first use: load every module a run uses before timing
    import pyomo_ecc.io.matpower  # noqa: F401
    import pyomo_ecc.network.dc  # noqa: F401
    import pyomo_ecc.participants.producer  # noqa: F401
    import pyomo_ecc.pricing.prices  # noqa: F401
    import pyomo_ecc.solvers  # noqa: F401


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--tools", nargs="*", default=list(TOOLS), choices=list(TOOLS))
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds before a tool's run is stopped and reported as not finished")
    ap.add_argument("--worker", nargs=3, metavar=("TOOL", "CASE", "NPY"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        tool, case, npy = args.worker
        if tool.startswith("pypsa"):
            import pypsa  # noqa: F401
        _imports()
        worker(tool, case, npy)
        return
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            for tool in args.tools:
                npy = os.path.join(tmp, f"{case}_{tool}.npy")
                t0 = time.perf_counter()
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", tool, case, npy]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env,
                                          timeout=args.timeout)
                except subprocess.TimeoutExpired:
                    print(f"{case:20s} {tool:11s} did not finish within {args.timeout:.0f} s", flush=True)
                    continue
                wall = time.perf_counter() - t0
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not line:
                    print(f"{case} / {tool}: FAILED\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
                    continue
                r = json.loads(line[0][7:])
                r["lmp"] = np.load(npy)
                r["process_wall"] = wall
                results[(case, tool)] = r
                tt = r["times"]
                print(f"{case:20s} {tool:11s} " + " ".join(f"{p} {tt[p]:7.2f}s" for p in PHASES)
                      + f"  total {sum(tt.values()):7.2f}s  peak RSS {r['peak_rss_mb']:7.0f} MB "
                        f"(+{r['peak_rss_mb'] - r['import_rss_mb']:.0f} over imports)"
                        f"  objective {r['objective']:.4f}", flush=True)
    print()
    for case in args.cases:
        got = {t: results[(case, t)] for t in args.tools if (case, t) in results}
        if "pyomo_ecc" not in got:
            continue
        ours = got["pyomo_ecc"]
        e2e = sum(ours["times"].values())
        print(f"== {case}")
        for tool, r in got.items():
            if tool == "pyomo_ecc":
                continue
            dobj = abs(r["objective"] - ours["objective"]) / max(1.0, abs(ours["objective"]))
            dl = (np.abs(r["lmp"] - ours["lmp"]).max() if r["lmp"].shape == ours["lmp"].shape
                  else float("nan"))
            other = sum(r["times"].values())
            print(f"   vs {tool:11s}: objective rel. diff {dobj:.1e}, max |LMP diff| {dl:.1e} $/MWh")
            if tool.startswith("pypsa"):
                print(f"   end to end  pyomo_ecc / {tool:11s} = {e2e / other:6.2f}  "
                      f"({e2e:.2f} s vs {other:.2f} s)")
            if tool == "highs":
                floor = r["times"]["solve"]
                print(f"   end to end  pyomo_ecc / HiGHS run   = {e2e / floor:6.2f}  "
                      f"({e2e:.2f} s vs {floor:.2f} s)")
                print(f"   solve phase pyomo_ecc / HiGHS run   = {ours['times']['solve'] / floor:6.2f}")
                print(f"   build+solve+prices / HiGHS alone (build+run+prices, read excluded) = "
                      f"{(e2e - ours['times']['read']) / (other - r['times']['read']):6.2f}")


if __name__ == "__main__":
    main()
