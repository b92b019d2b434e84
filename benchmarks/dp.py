"""Hit-and-run benchmark: pyomo_ecc's exact-chord sampler against hopsy on market polytopes.

Polytopes: copper-plate markets of ``n`` producers and ``n`` or ``n - 1`` consumers with
quadratic costs and utilities (coefficients drawn from a fixed seed, in the ranges of seed 000's
Tables 1-2), one period: the feasible set has dimension 10, 100 and 1000 after the power balance
is eliminated. Density: the exponential mechanism's, ``exp(beta * sw)`` with epsilon = 10 and
Delta = the largest valuation range over each participant's own limits (the seed normalisation
without its LP tightening; a truncated Gaussian: the welfare is concave quadratic).

Both samplers get the *same* problem: the polytope in the reduced coordinates of
:class:`pyomo_ecc.mechanisms.samplers.Polytope` (equalities eliminated, origin at the
Chebyshev centre) and the same Gaussian (mean ``Hy^-1 gy``, covariance ``(beta Hy)^-1``).

* pyomo_ecc: :class:`~pyomo_ecc.mechanisms.samplers.HitAndRun` (coordinate hit-and-run with
  exact truncated-normal chord draws, cyclic scan), compiled with numba (``engine="numba"``,
  the default when numba is installed; ``--engine numpy`` for the array fallback), each
  coordinate scaled by its pilot-run standard deviation;
* hopsy: ``TruncatedGaussianProposal`` (the Gibbs sampler for truncated Gaussians, exact
  coordinate draws: the same algorithm), its chains run one after the other in this process;
  hopsy refuses to combine this proposal with its rounding (``hopsy.round``), so it samples
  the problem as given (the reduced polytope has an orthonormal basis; the Gaussian itself is
  not whitened).

Setup (rounding) is timed apart; the sampling time covers the recorded draws and the burn-in.
A *step* is one coordinate update; a *sweep* (one recorded draw for both) is ``dim`` steps.
ESS is the minimum over coordinates of the bulk ESS (``pyomo_ecc.mechanisms.samplers.ess``,
rank-normalised split chains, the same estimator for both tools); ESS/s = ESS / sampling time.
Ratios are pyomo_ecc / hopsy (above 1: pyomo_ecc is faster). hopsy's coordinate step costs
O(rows x dim) here (about a second per sweep at 1000 dimensions), so its 1000-dimensional run is
short (2 chains of 60 draws) and its ESS there is a rough estimate.

Run from the repository root: ``python benchmarks/dp.py`` (``--dims 10 100`` for a subset;
``bash ecc.sh bench dp``).
"""
import argparse
import math
import time
import warnings

import numpy as np

import pyomo_ecc as ecc
from pyomo_ecc.mechanisms.exponential import ExponentialMechanism
from pyomo_ecc.mechanisms.samplers import HitAndRun, ess, rhat


def market(dim, seed=0):
    """A copper-plate market whose feasible set has dimension ``dim``."""
    rng = np.random.default_rng(seed)
    n_vars = dim + 1
    n_prod = (n_vars + 1) // 2
    m = ecc.Market()
    for i in range(n_prod):
        m.add_component(f"G{i}", ecc.Producer(bus="A", a=float(rng.uniform(0.001, 0.0025)),
                                              b=float(rng.uniform(0.006, 0.009)),
                                              p_max=float(rng.uniform(300, 500))))
    for j in range(n_vars - n_prod):
        m.add_component(f"D{j}", ecc.Consumer(bus="A", a=-float(rng.uniform(0.001, 0.007)),
                                              b=float(rng.uniform(0.12, 0.22)),
                                              d_max=float(rng.uniform(300, 500)),
                                              d_min=float(rng.uniform(0, 10))))
    return m


def box_scale(m):
    """The seed normalisation's S (largest valuation range) over each participant's own
    limits (the exact seed normalisation tightens them by 2 LPs per column, minutes at 1000-D)."""
    S = 0.0
    for p in m.participants():
        q = p.p[0] if hasattr(p, "p") else p.d[0]
        lo, hi = (p.p_min[0].value, p.p_max[0].value) if hasattr(p, "p") else (p.d_min[0].value, p.d_max[0].value)
        a, b = p.a.value, p.b.value
        vals = [a * x * x + b * x for x in (lo, hi)]
        xs = -b / (2 * a)
        if lo < xs < hi:
            vals.append(a * xs * xs + b * xs)
        S = max(S, max(vals) - min(vals))
    return S


def problem(dim, epsilon=10.0, engine="auto"):
    m = market(dim)
    mech = ExponentialMechanism(m, epsilon, box_scale(m), mode="continuous")
    hr = HitAndRun(mech.polytope, g=mech.welfare_parts[1], H=-mech.welfare_parts[2], beta=mech.beta,
                   engine=engine)
    return mech, hr


def run_ours(hr, draws, chains, burn, seed):
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    hr.round(rng, chains=8, sweeps=max(50, min(4 * hr.P.dim, 300)))
    setup = time.perf_counter() - t0
    s = hr.sample(draws, rng, chains=chains, burn=burn)
    return s.y, setup, s.seconds


def run_hopsy(hr, draws, chains, burn, seed):
    import hopsy
    P = hr.P
    Hy = hr.Hy
    mean = np.linalg.solve(Hy, hr.gy)
    cov = np.linalg.inv(hr.beta * Hy)
    cov = 0.5 * (cov + cov.T)
    t0 = time.perf_counter()
    # hopsy's truncated-Gaussian Gibbs sampler refuses a rounded problem ("Model &
    # Transformation not valid for this proposal type"): it runs on the problem as given
    prob = hopsy.Problem(P.Gy, P.hy, hopsy.Gaussian(mean, cov))
    mcs = [hopsy.MarkovChain(prob, proposal=hopsy.TruncatedGaussianProposal,
                             starting_point=np.zeros(P.dim)) for _ in range(chains)]
    rngs = [hopsy.RandomNumberGenerator(seed + k) for k in range(chains)]
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    if burn:
        hopsy.sample(mcs, rngs, n_samples=burn, thinning=1)
    _, states = hopsy.sample(mcs, rngs, n_samples=draws, thinning=1)
    secs = time.perf_counter() - t0
    return np.asarray(states), setup, secs


def summary(y, secs, dim, burn):
    chains, draws, _ = y.shape
    e = np.array([ess(y[:, :, j]) for j in range(dim)])
    r = max(rhat(y[:, :, j]) for j in range(dim))
    sweeps = chains * (draws + burn)
    return {"sweeps_per_s": sweeps / secs, "steps_per_s": sweeps * dim / secs,
            "ess_min": float(e.min()), "ess_median": float(np.median(e)),
            "ess_per_s": float(e.min() / secs), "rhat_max": float(r), "seconds": secs,
            "mean": y.reshape(-1, dim).mean(axis=0)}


PLAN = {10: dict(draws=4000, chains=64, burn=50, hopsy_chains=4, hopsy_draws=20000),
        100: dict(draws=1000, chains=64, burn=100, hopsy_chains=4, hopsy_draws=4000),
        1000: dict(draws=150, chains=16, burn=50, hopsy_chains=2, hopsy_draws=60, hopsy_burn=10)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine", default="auto", choices=["auto", "numba", "numpy"])
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    for dim in args.dims:
        plan = PLAN.get(dim, PLAN[100])
        t0 = time.perf_counter()
        mech, hr = problem(dim, engine=args.engine)
        build = time.perf_counter() - t0
        print(f"\n== dimension {dim}: {mech.polytope.n} columns, {mech.polytope.Gy.shape[0]} "
              f"inequalities, beta = {mech.beta:.4g}/currency (model + standard form + "
              f"polytope {build:.2f} s; engine {hr.engine})", flush=True)
        y, setup, secs = run_ours(hr, plan["draws"], plan["chains"], plan["burn"], args.seed)
        ours = summary(y, secs, hr.P.dim, plan["burn"])
        ours["setup"] = setup
        try:
            hburn = plan.get("hopsy_burn", plan["burn"])
            yh, hsetup, hsecs = run_hopsy(hr, plan["hopsy_draws"], plan["hopsy_chains"], hburn,
                                          args.seed)
            theirs = summary(yh, hsecs, hr.P.dim, hburn)
            theirs["setup"] = hsetup
        except ImportError:
            theirs = None
        for tool, r in (("pyomo_ecc", ours), ("hopsy", theirs)):
            if r is None:
                print(f"{tool:10s} not installed (pip install hopsy, or bash ecc.sh bench dp)")
                continue
            print(f"{tool:10s} setup {r['setup']:7.2f} s  sampling {r['seconds']:7.2f} s  "
                  f"steps/s {r['steps_per_s']:11.4g}  sweeps/s {r['sweeps_per_s']:10.4g}  "
                  f"ESS min {r['ess_min']:8.1f} (median {r['ess_median']:8.1f})  "
                  f"ESS/s {r['ess_per_s']:9.4g}  R-hat max {r['rhat_max']:.4f}", flush=True)
        if theirs is not None:
            sd = np.sqrt(np.diag(np.linalg.inv(hr.beta * hr.Hy)))
            gap = float(np.max(np.abs(ours["mean"] - theirs["mean"]) / sd))
            print(f"ratio pyomo_ecc / hopsy: steps/s {ours['steps_per_s'] / theirs['steps_per_s']:.3g}, "
                  f"ESS/s {ours['ess_per_s'] / theirs['ess_per_s']:.3g}; largest difference of the "
                  f"two means {gap:.3f} (in untruncated sds)", flush=True)
            rows.append((dim, ours["steps_per_s"] / theirs["steps_per_s"],
                         ours["ess_per_s"] / theirs["ess_per_s"]))
    if rows:
        print("\nsummary (pyomo_ecc / hopsy):")
        for dim, a, b in rows:
            print(f"  dim {dim:5d}: steps/s x{a:.3g}   ESS/s x{b:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
