"""PyPSA import benchmark: a PyPSA network cleared by PyPSA's own linear OPF (``n.optimize()``,
linopy + HiGHS) and by :func:`pyomo_ecc.io.pypsa_io.from_pypsa` + :func:`pyomo_ecc.solve`.

The network is a synthetic meshed grid of ``--side`` x ``--side`` buses (380 kV lines in ohms,
every fifth line rated so that the grid congests), one generator per bus with a linear cost,
a load on every bus with a daily shape over ``--hours`` snapshots. It prints the phases' wall
times, the ratios pyomo_ecc / PyPSA and the largest LMP difference (which must be at solver
precision: the two solve the same LP).

Run from the repository root: ``python benchmarks/pypsa_import.py [--side 10] [--hours 24]``
(needs the ``bench`` extra: pypsa).
"""
import argparse
import logging
import time

import numpy as np

PROFILE = [0.62, 0.58, 0.56, 0.55, 0.56, 0.60, 0.68, 0.78, 0.86, 0.90, 0.92, 0.93,
           0.92, 0.91, 0.90, 0.90, 0.92, 0.96, 1.00, 0.98, 0.93, 0.85, 0.75, 0.67]


def grid_network(side, hours, seed=0):
    import pypsa

    rng = np.random.default_rng(seed)
    n = pypsa.Network()
    n.set_snapshots(range(hours))
    buses = [f"b{i}_{j}" for i in range(side) for j in range(side)]
    n.add("Bus", buses, v_nom=380.0, x=[i for i in range(side) for _ in range(side)],
          y=[j for _ in range(side) for j in range(side)])
    lines = []
    for i in range(side):
        for j in range(side):
            if i + 1 < side:
                lines.append((f"b{i}_{j}", f"b{i + 1}_{j}"))
            if j + 1 < side:
                lines.append((f"b{i}_{j}", f"b{i}_{j + 1}"))
    k = len(lines)
    n.add("Line", [f"l{q}" for q in range(k)], bus0=[a for a, _ in lines], bus1=[b for _, b in lines],
          x=rng.uniform(5.0, 30.0, k), s_nom=np.where(np.arange(k) % 5 == 0, 150.0, 2000.0))
    cost = rng.uniform(10.0, 80.0, len(buses))
    n.add("Generator", [f"g_{b}" for b in buses], bus=buses, p_nom=rng.uniform(50, 400, len(buses)),
          marginal_cost=cost)
    base = rng.uniform(20.0, 120.0, len(buses))
    prof = np.array([PROFILE[t % 24] for t in range(hours)])
    import pandas as pd
    p_set = pd.DataFrame(np.outer(prof, base), index=n.snapshots, columns=[f"d_{b}" for b in buses])
    n.add("Load", list(p_set.columns), bus=buses, p_set=p_set)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=10, help="grid side (buses = side^2)")
    ap.add_argument("--hours", type=int, default=24, help="snapshots")
    args = ap.parse_args(argv)
    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    import pyomo_ecc as ecc
    from pyomo_ecc.io.pypsa_io import from_pypsa, to_pypsa_frames

    n = grid_network(args.side, args.hours)
    t0 = time.perf_counter()
    status = n.optimize(solver_name="highs", io_api="direct", log_to_console=False)
    t_pypsa = time.perf_counter() - t0
    assert status == ("ok", "optimal"), status
    t0 = time.perf_counter()
    m = from_pypsa(n, phase_shifts="ignore")
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    ecc.solve(m)
    t_solve = time.perf_counter() - t0
    t0 = time.perf_counter()
    mp = to_pypsa_frames(m)["buses_t.marginal_price"]
    t_export = time.perf_counter() - t0
    diff = float(np.abs(mp.to_numpy() - n.buses_t.marginal_price[mp.columns].to_numpy()).max())
    spread = float(np.ptp(mp.to_numpy()))
    total = t_import + t_solve + t_export
    print(f"network: {args.side ** 2} buses, {len(n.lines)} lines, {args.hours} snapshots")
    print(f"PyPSA n.optimize (build + solve + duals)   {t_pypsa:8.3f} s")
    print(f"pyomo_ecc from_pypsa                        {t_import:8.3f} s")
    print(f"pyomo_ecc solve (assemble + HiGHS + duals)  {t_solve:8.3f} s")
    print(f"pyomo_ecc to_pypsa_frames                   {t_export:8.3f} s")
    print(f"ratio pyomo_ecc / PyPSA                     {total / t_pypsa:8.2f}")
    print(f"objective: PyPSA {float(n.objective):.6f}, pyomo_ecc {ecc.welfare(m) * -1:.6f}")
    print(f"largest |LMP difference| {diff:.3g} $/MWh (LMP spread {spread:.3g} $/MWh)")


if __name__ == "__main__":
    main()
