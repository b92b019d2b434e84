r"""Bidding equilibria on the seed 001 three-bus market: which units gain by raising their
offers, in which hours, and whether the bidding game has a pure equilibrium.

Every unit G1..G6 of the case ``seed001_3bus`` chooses one daily markup :math:`s_i \in [0, 1]`
on its variable cost (:func:`pyomo_ecc.analysis.equilibrium.markup`: every offer price times
:math:`1 + s_i`, the same markup in every hour of the day) and earns
:math:`u_i(s) = \sum_t \lambda_{b(i),t}(s)\,p_{i,t}(s) - \mathrm{BC}_i(p_i(s))` at its true
costs. The study (:func:`study`) reports

1. the unilateral gains from truthful bids (others truthful), hour by hour, for the markups in
   ``markups`` (:func:`~pyomo_ecc.analysis.equilibrium.unilateral_gains`): per unit the hours
   in which some raise pays, the largest hourly gain and its hour, the best daily markup and
   its whole-day gain;
2. an equilibrium search (best-response or damped dynamics on a grid of the markups) and the
   :math:`\varepsilon` of its end point by the independent certificate search;
3. the sampled Debreu-Glicksberg-Fan conditions (compact convex strategy sets, continuity and
   quasi-concavity of each unit's profit in its own markup).

Run it with ``python -m pyomo_ecc.models.bidding_seed001`` (about 25 s; ``--quick`` for a coarse
run in seconds).
"""
import argparse

import numpy as np
import pandas as pd

from pyomo_ecc.analysis import equilibrium as eq
from pyomo_ecc.io.cases import load_case

UNITS = tuple(f"G{i}" for i in range(1, 7))


def build_game(case="seed001_3bus"):
    """The market of ``case`` and the game: every unit's daily markup in [0, 1]."""
    m = load_case(case).build()
    units = [m.component(u) for u in UNITS]
    return m, eq.BiddingGame(m, [eq.markup(u, 0.0, 1.0) for u in units])


def unit_summary(gains, tol=1e-6):
    """Per unit, from :func:`~pyomo_ecc.analysis.equilibrium.unilateral_gains` (by period):
    ``hours`` in which some markup tried gains more than ``tol``, the ``largest_hourly_gain``
    and its ``hour``, the ``best_markup`` for the whole day and its ``daily_gain``."""
    best = eq.best_gains(gains)
    daily = gains["gain"].groupby(level=["player", "strategy"]).sum()
    rows = []
    for u in best.index:
        row = best.loc[u]
        hours = [t for t, g in row.items() if g > tol]
        d = daily.xs(u, level="player")
        rows.append((u, ", ".join(str(t) for t in hours) if hours else "none",
                     float(row.max()), row.idxmax() if hours else None,
                     float(d.idxmax()) if d.max() > tol else 0.0, max(0.0, float(d.max()))))
    df = pd.DataFrame(rows, columns=["unit", "hours", "largest_hourly_gain", "hour", "best_markup",
                                     "daily_gain"]).set_index("unit")
    df["hour"] = df["hour"].astype("Int64")
    return df


def study(markups=(0.1, 0.25, 0.5, 0.75, 1.0), method="damped", grid=11, max_iter=20, damping=0.5,
          cert_grid=41, dgf_profiles=3, seed=0, progress=False, case="seed001_3bus"):
    """Run the study (module doc). Returns ``{title: DataFrame}``: ``"gains"`` (best gain per
    unit and hour), ``"units"`` (:func:`unit_summary`), ``"equilibrium search"`` (end profile,
    payoffs, the certificate's best deviations and gains; ``attrs``: ``eps``, ``converged``,
    ``iterations``), ``"history"`` and ``"dgf"``."""
    rng = np.random.default_rng(seed)
    _, game = build_game(case)
    gains = eq.unilateral_gains(game, markups, progress=progress)
    res = game.solve(method=method, grid=grid, max_iter=max_iter, damping=damping, refine=False,
                     cert_grid=cert_grid, rng=rng, progress=progress)
    search = res.certificate.copy()
    search.attrs.update(eps=res.eps, converged=res.converged, iterations=res.iterations,
                        method=method)
    dgf = game.dgf_conditions(n_profiles=dgf_profiles, rng=rng)
    return {"gains": eq.best_gains(gains), "units": unit_summary(gains),
            "equilibrium search": search, "history": res.history, "dgf": dgf}


def report(tables):
    """The study's tables as text."""
    s = tables["equilibrium search"]
    lines = ["Gain from raising the offer alone, others truthful (best of the markups tried; "
             "currency per hour):", tables["gains"].round(0).to_string(), "",
             "By unit (hours with a gain; whole-day gain of the best single daily markup):",
             tables["units"].round(3).to_string(), "",
             f"Equilibrium search ({s.attrs['method']} dynamics, {s.attrs['iterations']} iterations, "
             f"converged: {s.attrs['converged']}); certificate: eps = {s.attrs['eps']:.2f}",
             s.round(4).to_string(), "", "Last iterations of the dynamics (markups):",
             tables["history"].tail(6).round(4).to_string(), "",
             "Debreu-Glicksberg-Fan conditions (sampled); they hold: "
             f"{tables['dgf'].attrs['holds']}", tables["dgf"].round(4).to_string()]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pyomo_ecc.models.bidding_seed001",
                                description="bidding equilibria on the seed 001 three-bus market")
    p.add_argument("--method", default="damped", choices=["best_response", "damped", "fictitious"])
    p.add_argument("--grid", type=int, default=11, help="grid points of each best response")
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--damping", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="coarse grids (seconds, for a first look)")
    a = p.parse_args(argv)
    opts = dict(method=a.method, grid=a.grid, max_iter=a.max_iter, damping=a.damping, seed=a.seed)
    if a.quick:
        opts.update(markups=(0.25, 1.0), grid=3, max_iter=2, cert_grid=5, dgf_profiles=1)
    print(report(study(**opts)))


if __name__ == "__main__":
    main()
