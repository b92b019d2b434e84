"""What a bidding-game profile costs on the seed 001 three-bus market (24 hours, six units,
daily markups): the what-if engine (the model compiled once, each profile a warm HiGHS
re-solve) against setting the parameters and re-solving through ``pyomo_ecc.Solver``.

Prints, per engine, the median and best time of one profile (clear the day and compute the six
profits) over ``--profiles`` random profiles (after one warm-up profile), the ratio, and the
largest payoff difference between the engines (they must agree).

Run from the repository root: ``bash ecc.sh bench equilibrium`` (``--profiles 40``).
"""
import argparse
import time

import numpy as np


def profile_times(engine, profiles):
    import pyomo_ecc as ecc
    from pyomo_ecc.analysis import equilibrium as eq

    m = ecc.load_case("seed001_3bus").build()
    g = eq.BiddingGame(m, [eq.markup(m.component(f"G{i}"), 0.0, 1.0) for i in range(1, 7)], engine=engine)
    g.payoffs(profiles[0])                       # warm-up: compiles / builds the solver
    times, pays = [], []
    for p in profiles:
        t0 = time.perf_counter()
        pays.append(g.payoffs(p))
        times.append(time.perf_counter() - t0)
    g.restore()
    return np.array(times), pays


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    profiles = [{f"G{i}": float(x) for i, x in zip(range(1, 7), rng.uniform(0, 1, 6))}
                for _ in range(a.profiles)]
    res = {e: profile_times(e, profiles) for e in ("whatif", "resolve")}
    diff = max(abs(x[k] - y[k]) for x, y in zip(res["whatif"][1], res["resolve"][1]) for k in x)
    for e, (t, _) in res.items():
        print(f"{e:8s} per profile: median {1e3 * np.median(t):8.2f} ms, best {1e3 * t.min():8.2f} ms")
    ratio = np.median(res["resolve"][0]) / np.median(res["whatif"][0])
    print(f"resolve / whatif (median): {ratio:.2f}x; largest payoff difference {diff:.3g} yuan")


if __name__ == "__main__":
    main()
