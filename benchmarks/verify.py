"""What the solution check costs: ``pyomo_ecc.solve`` with and without verification.

Cases: MATPOWER case118 (quadratic costs, so HiGHS through Pyomo's interface and the check
compiles the constraint matrix itself) over 1 and 24 periods, and pandapower's case2869pegase
without branch limits (an LP through the sparse-matrix path, whose matrix the check reuses).
Prints, per case, the best of ``--repeat`` solve times with ``verify=False`` and
``verify=True``, the time of :func:`pyomo_ecc.verify.check_solution` alone, and the ratio.

Run from the repository root: ``bash ecc.sh bench verify`` (``--repeat 3``).
"""
import argparse
import time

import numpy as np

PROFILE = list(0.7 + 0.3 * np.sin(np.arange(24) / 24 * np.pi))


def cases():
    from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
    mpc118 = load_matpower_case("case118")
    out = {"case118 (QP, 1 period)": lambda: build_matpower_market(mpc118),
           "case118 (QP, 24 periods)": lambda: build_matpower_market(mpc118, periods=24,
                                                                     load_profile=PROFILE)}
    try:
        import pandapower.networks as pn

        from pyomo_ecc.io.pandapower_io import pandapower_case
        mpc2869 = pandapower_case(pn.case2869pegase())
        out["case2869pegase (no limits)"] = lambda: build_matpower_market(
            mpc2869, loads="network", line_limits=False)
    except ImportError:  # pragma: no cover - the interop extra is missing
        pass
    return out


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t, m = fn()
        times.append(t)
    return min(times), m


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    from pyomo_ecc.solvers import Solver
    from pyomo_ecc.verify import check_solution

    def timed(build, verify):
        m = build()
        m.assemble()
        t0 = time.perf_counter()
        Solver("highs", verify=verify).solve(m, diagnose=False)
        return time.perf_counter() - t0, m

    print(f"{'case':30s} {'solve':>9s} {'verified':>9s} {'check':>9s} {'ratio':>7s}")
    for name, build in cases().items():
        plain, _ = best(lambda: timed(build, False), a.repeat)
        verified, m = best(lambda: timed(build, True), a.repeat)
        t0 = time.perf_counter()
        check_solution(m)
        alone = time.perf_counter() - t0
        print(f"{name:30s} {plain:8.3f}s {verified:8.3f}s {alone:8.3f}s {verified / plain:6.2f}x")


if __name__ == "__main__":
    main()
