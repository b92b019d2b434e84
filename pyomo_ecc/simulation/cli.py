"""``pyomo-ecc cosim``: run a seed 001 co-simulation experiment from the command line.

::

    pyomo-ecc cosim --rounds 30 --agents "G3=withhold:0.9,*=roth-erev" --out run1
    pyomo-ecc cosim --rounds 3 --human G3 --out played        # you play G3 at the terminal
    pyomo-ecc cosim --rounds 10 --generative G3=played --out gen   # a model of you plays G3
    pyomo-ecc cosim --rounds 10 --human G3 --handover 3        # you play 3 rounds, then a model
    pyomo-ecc cosim --rounds 30 --seeds 0,1,2,3 --out sweep    # independent runs over processes
    pyomo-ecc cosim --pivotal                                  # who is pivotal in which hour

Writes the log (Parquet and CSV) and ``cosim.png`` to ``--out``; prints one line per round, the
last day's cap hours and its allowance trades (seed Table 4 layout); ``--cge`` also runs the CGE
hand-off for the last day (seed Table 5 layout).
"""
import argparse
import sys
from pathlib import Path


def add_arguments(p):
    """The ``cosim`` options (shared by ``pyomo-ecc cosim`` and :func:`main`)."""
    p.add_argument("--rounds", type=int, default=30, help="number of days (default 30)")
    p.add_argument("--agents", default="roth-erev",
                   help="agents per unit, e.g. 'G1=truthful,G3=withhold:0.9,*=q-learning'; kinds: "
                        "truthful, markup[:m], withhold[:share], roth-erev, q-learning (default: roth-erev)")
    p.add_argument("--human", default=None, metavar="UNIT", help="play UNIT yourself at the terminal")
    p.add_argument("--generative", default=None, metavar="UNIT=DIR",
                   help="UNIT is played by a model fitted to UNIT's decisions in the log in DIR")
    p.add_argument("--handover", type=int, default=None, metavar="K",
                   help="with --human: you play rounds 1..K, then a model fitted to your K offers "
                        "plays the rest of the experiment")
    p.add_argument("--holdout", type=int, default=None,
                   help="recorded rounds held out to measure the generative model's closeness "
                        "(default: a quarter of them, at least 1 when there are 3 or more)")
    p.add_argument("--seed", type=int, default=0, help="seed of the experiment (default 0)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds: independent runs in parallel")
    p.add_argument("--processes", type=int, default=None, help="worker processes for --seeds")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run --seeds on this Dask scheduler instead of local processes")
    p.add_argument("--out", default=None, metavar="DIR", help="directory for the log and the plots")
    p.add_argument("--cge", action="store_true", help="also run the CGE hand-off for the last day")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--pivotal", action="store_true",
                   help="only print each unit's (and each bus's units') must-run output by hour "
                        "on the forecast loads: who is pivotal when")
    return p


def _generative(spec, holdout, out):
    from pyomo_ecc.errors import InputError
    from pyomo_ecc.simulation.engine import ExperimentLog
    from pyomo_ecc.simulation.generative import Generative, closeness
    unit, sep, d = spec.partition("=")
    if not sep:
        raise InputError(f"--generative needs UNIT=DIR, got {spec!r}")
    rec = ExperimentLog.load(d)
    rounds = sorted(set(rec.decisions.xs(unit, level="unit").index))
    n = len(rounds)
    k = (max(1, n // 4) if n >= 3 else 0) if holdout is None else holdout
    if k >= n - 1 and k > 0:
        raise InputError(f"--holdout {k}: the log in {d} has {n} rounds of {unit}; keep at least 2 to fit")
    if k:
        probe = Generative.fit(rec, unit, rounds=rounds[:-k])
        c = closeness(probe, rec, unit, rounds[-k:])
        out.write(f"generative model of {unit} (fitted to rounds {rounds[0]}..{rounds[-k - 1]} of {d}), "
                  f"held-out rounds {rounds[-k:]}:\n{c.round(2).to_string()}\n")
        s = c.attrs["summary"]
        out.write(f"mean curve distance {s['curve_distance']:.2f} yuan/MWh "
                  f"(mean recorded offer as predictor: {s['baseline_curve_distance']:.2f})\n")
    return unit, Generative.fit(rec, unit)


def run(args, out=None):
    """Run the experiment described by parsed ``args``; returns the log (or logs)."""
    import pandas as pd

    from pyomo_ecc.simulation.agents import Human, parse_agents
    from pyomo_ecc.simulation.engine import Experiment, run_many
    from pyomo_ecc.simulation.market import PRICE_CAP

    out = sys.stdout if out is None else out
    if args.pivotal:
        from pyomo_ecc.simulation.analysis import pivotal_table
        from pyomo_ecc.simulation.market import build_market
        tab = pivotal_table(build_market(engine="solver"))
        out.write("must-run output (MW) by hour on the forecast loads: > 0 means pivotal "
                  "(see pyomo_ecc.simulation.analysis)\n" + tab.round(1).to_string() + "\n")
        return tab
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        cfgs = [dict(agents=args.agents, rounds=args.rounds, seed=s) for s in seeds]
        client = None
        if args.dask:
            from dask.distributed import Client
            client = Client(args.dask)
        logs = run_many(cfgs, processes=args.processes, client=client)
        rows = []
        for s, log in zip(seeds, logs):
            pr = log.profits["profit"].groupby(level="unit").mean()
            rows.append({"seed": s, "mean LMP": log.average_prices().mean(),
                         "last carbon price": log.carbon["closing_price"].iloc[-1], **pr.to_dict()})
            if args.out:
                log.save(Path(args.out) / f"seed_{s}")
        out.write(pd.DataFrame(rows).set_index("seed").round(2).to_string() + "\n")
        return logs
    from pyomo_ecc.simulation.engine import Simulator
    sim = Simulator(seed=args.seed)
    agents = parse_agents(args.agents, sim.units)
    if args.generative:
        unit, gen = _generative(args.generative, args.holdout, out)
        agents[unit] = gen
    if args.human:
        from pyomo_ecc.errors import InputError
        if args.human not in sim.units:
            raise InputError(f"--human: unknown unit {args.human!r}; units are {sim.units}")
        agents[args.human] = Human(out=out)
        if args.handover is not None:
            from pyomo_ecc.simulation.generative import Handover
            agents[args.human] = Handover(agents[args.human], args.handover)
    elif args.handover is not None:
        from pyomo_ecc.errors import InputError
        raise InputError("--handover needs --human UNIT")
    exp = Experiment(agents, rounds=args.rounds, seed=args.seed, simulator=sim,
                     progress=not args.no_progress and not args.human)
    log = exp.run()
    avg = log.average_prices()
    table = pd.DataFrame({"mean LMP": avg, "carbon price": log.carbon["closing_price"],
                          **{u: p for u, p in log.profits["profit"].unstack("unit").items()}})
    out.write(f"\nco-simulation, seed {args.seed}, agents: "
              f"{', '.join(f'{u}={a}' for u, a in log.meta['agents'].items())}\n")
    out.write("per round: load-weighted mean LMP (yuan/MWh), closing carbon price (yuan/t), "
              "profit by unit (eq. 22, yuan)\n")
    out.write(table.round(1).to_string() + "\n")
    last = int(log.carbon.index[-1])
    lmp = log.lmp["lmp"].xs(last, level="round").unstack("t")
    cap = [t for t in lmp.columns if (lmp[t] >= PRICE_CAP - 1e-6).any()]
    out.write(f"\nround {last}: hours at the price cap: {cap or 'none'}\n")
    tt = log.trade_table(last)
    out.write(f"round {last}: allowance trades (Table 4 layout)\n"
              + (tt.round(2).to_string() if len(tt) else "  none") + "\n")
    if args.out:
        import matplotlib
        matplotlib.use("Agg")
        d = Path(args.out)
        log.save(d)
        log.plot(d / "cosim.png")
        out.write(f"\nwrote the log (Parquet and CSV) and cosim.png to {d}\n")
    if args.cge:
        from pyomo_ecc.simulation.cge_link import cge_handoff
        df = cge_handoff(log)
        out.write("\nCGE hand-off (Table 5 layout; SYNTHETIC SAM, see pyomo_ecc.models.cge_seed001)\n")
        out.write(df.round(3).to_string() + "\n")
        if args.out:
            df.to_csv(Path(args.out) / "cge.csv")
    return log


def main(argv=None):
    p = add_arguments(argparse.ArgumentParser(prog="pyomo-ecc cosim", description=__doc__.splitlines()[0]))
    return run(p.parse_args(argv))
