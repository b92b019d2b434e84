"""The ``pyomo-ecc`` command.

``pyomo-ecc cases``                               list the case library
``pyomo-ecc vcg [CASE] [--backend serial|processes|dask] [--workers N] [--out DIR]``  VCG payments
of every participant, with the reason of each undefined one
``pyomo-ecc cge [CASE] [--electricity-price P|market]``  the seed 001 CGE experiment (Table 5)
``pyomo-ecc cosim --rounds N [--agents SPEC] [--human UNIT] [--out DIR]``  the seed 001
carbon-electricity co-simulation (see :mod:`pyomo_ecc.simulation.cli`)
``pyomo-ecc dp [--out DIR] [--candidates K] [--draws N] [--seed S]``  the seed 000
differentially private market study (Figs. 2-5, Table 3, reproduction verdict)
``pyomo-ecc run [CASE] [--solver NAME] [--out DIR] [--plot FILE]``  solve a case's default
model, print a summary (welfare, prices, dispatch, surplus, the settlement of every party, and
the model's own report tables);
with ``--out`` also write ``prices.csv`` (bus, t, lmp) and ``dispatch.csv`` (participant, t,
p_inj); with ``--plot DIR`` draw the market's pictures into a folder (network map with LMP
colours, bus x period price heat map, dispatch stack, merit order of the highest-price period:
:func:`pyomo_ecc.plot.market_pictures`), with ``--plot FILE.png`` the merit order alone.
Without CASE it runs the embedded default case.
``pyomo-ecc dlmp CASE [--periods N] [--losses] [--ac] [--out DIR] [--plot DIR]``  DLMPs of a
feeder case: energy + loss + congestion + voltage by bus (and hour); ``--losses`` uses the
loss-aware linear route (LinDistFlowLosses iterated to the AC operating point), ``--ac`` also
solves AC DistFlow (Ipopt) and prints the difference; ``--out`` writes ``dlmp.csv``,
``voltages.csv``, ``branch_flows.csv`` and the limit prices, ``--plot`` the pictures.
"""
import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_CASE = "seed000_community"


def natural_key(label):
    """Sort key that orders names as a person would: ``gen_2`` before ``gen_10``."""
    parts = re.split(r"(\d+)", str(label))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _natural(df):
    """``df`` with its (first-level) row labels in natural order."""
    if df.empty:
        return df
    labels = df.index.get_level_values(0) if isinstance(df.index, pd.MultiIndex) else df.index
    order = sorted(dict.fromkeys(labels), key=natural_key)
    if isinstance(df.index, pd.MultiIndex):
        return df.reindex(order, level=0)
    return df.loc[order]


def _clean(df):
    """No negative zero (nor solver noise that prints as one) in printed or written numbers."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            col = out[c].to_numpy()
            scale = max(1.0, float(np.nanmax(np.abs(col)))) if col.size and np.isfinite(col).any() else 1.0
            out[c] = np.where(np.abs(col) < 1e-9 * scale, 0.0, col) + 0.0
    return out


def _print_frame(title, df, out):
    out.write(f"\n{title}\n")
    with pd.option_context("display.max_rows", 200, "display.max_columns", 30, "display.width", 160):
        out.write(_clean(df).to_string() + "\n")


class CliError(Exception):
    """A command-line mistake (bad path, wrong command for a case): one line on stderr."""


#: picture formats ``--plot FILE`` accepts
PLOT_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp", "pgf")


def _plot_folder(plot):
    """``--plot`` names a folder (all the pictures) rather than one picture file: an existing
    directory, or a name without a suffix."""
    p = Path(plot)
    return p.is_dir() or p.suffix == ""


def _check_out_paths(out_dir, plot):
    """Refuse, before any solving, an ``--out`` that is not a writable directory and a
    ``--plot`` whose folder does not exist or whose format matplotlib cannot write."""
    if out_dir is not None:
        d = Path(out_dir)
        if d.exists() and not d.is_dir():
            raise CliError(f"--out {out_dir!r} is a file, not a directory")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CliError(f"--out {out_dir!r}: cannot create the directory ({e.strerror})") from None
        if not os.access(d, os.W_OK):
            raise CliError(f"--out {out_dir!r}: the directory is not writable")
    if plot is not None and _plot_folder(plot):
        d = Path(plot)
        if d.exists() and not d.is_dir():
            raise CliError(f"--plot {plot!r} is a file, not a directory")
        parent = d.parent if str(d.parent) else Path(".")
        if not d.exists() and not parent.is_dir():
            raise CliError(f"--plot {plot!r}: the folder {str(parent)!r} does not exist")
        if not os.access(d if d.exists() else parent, os.W_OK):
            raise CliError(f"--plot {plot!r}: the folder is not writable")
    elif plot is not None:
        f = Path(plot)
        if f.suffix.lower().lstrip(".") not in PLOT_FORMATS:
            raise CliError(f"--plot {plot!r}: give a file name ending in one of "
                           f"{', '.join('.' + x for x in PLOT_FORMATS[:4])}, ... (or a folder name "
                           f"without a suffix for all the pictures)")
        parent = f.parent if str(f.parent) else Path(".")
        if not parent.is_dir():
            raise CliError(f"--plot {plot!r}: the folder {str(parent)!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise CliError(f"--plot {plot!r}: the folder {str(parent)!r} is not writable")


def run(case_name=None, solver="highs", out_dir=None, out=None, plot=None, price_range=False):
    """Solve ``case_name`` (default: the embedded default case) and print its summary."""
    out = sys.stdout if out is None else out
    from pyomo_ecc.io.cases import load_case
    from pyomo_ecc.models import REPORTS
    from pyomo_ecc.results import summary
    from pyomo_ecc.solvers import solve

    _check_out_paths(out_dir, plot)
    case = load_case(case_name or DEFAULT_CASE)
    if case.model_name.startswith("cge"):
        if out_dir is not None or plot is not None or price_range:
            raise CliError(f"case '{case.name}' is a CGE case: run it with `pyomo-ecc cge {case.name}` "
                           f"(--out, --plot and --price-range are for market cases)")
        from pyomo_ecc.models.cge_seed001 import cli as cge_cli
        out.write(f"case '{case.name}' is a CGE case: running `pyomo-ecc cge {case.name}`\n")
        cge_cli([case.name, "--solver", "ipopt" if solver == "highs" else solver], out=out)
        return None
    model = case.build()
    result = solve(model, solver=solver)
    s = summary(model)
    mk_currency = model.config.currency if hasattr(model, "config") else ""
    out.write(f"case     : {case.name} - {case.meta.get('title', '')}\n")
    out.write(f"model    : {case.model_name}   solver: {result.solver} ({result.termination})\n")
    out.write(f"welfare  : {s['welfare']:.6f} {mk_currency}\n")
    out.write(f"merchandising surplus: {round(s['merchandising_surplus'], 6) + 0.0:.6f} {mk_currency}\n")
    out.write(f"prices from: {s['prices'].attrs.get('pricing_basis', '')}\n")
    lmp = _natural(s["prices"]["lmp"].unstack("t"))
    _print_frame(f"LMP [{mk_currency}/MWh] by bus (rows) and period (columns)", lmp, out)
    if price_range:
        from pyomo_ecc.analysis.price_ranges import price_range as one_sided
        _print_frame(f"LMP range [{mk_currency}/MWh]: one-sided marginal costs (lower: a little less load, "
                     f"upper: a little more); any price in between clears", one_sided(model, solver=solver), out)
    disp = _natural(s["dispatch"]["p_inj"].unstack("t"))
    unit = model.config.power_unit if hasattr(model, "config") else ""
    _print_frame(f"dispatch p_inj [{unit}] by participant and period (+ injects, - withdraws)", disp, out)
    _print_frame(f"surplus at the clearing prices [{mk_currency}]", _natural(s["surplus"]), out)
    from pyomo_ecc.results import settlement
    _print_frame(f"settlement [{mk_currency} received]: every party's money at the clearing prices; "
                 f"the net column adds up to the welfare", settlement(model), out)
    report = REPORTS.get(case.model_name)
    if report is not None:
        for title, frame in report(model).items():
            _print_frame(title, frame, out)
    if plot is not None:
        import matplotlib
        matplotlib.use("Agg")   # files, no window
        from pyomo_ecc.plot import market_pictures, merit_order
        if _plot_folder(plot):
            written = market_pictures(model, plot)
            out.write(f"\nwrote {', '.join(written)} to {plot}\n")
        else:
            ax = merit_order(model)
            ax.figure.savefig(plot, dpi=120, bbox_inches="tight")
            out.write(f"\nwrote the merit-order picture of period {model.T.first()} to {plot}\n")
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        _clean(s["prices"].reset_index()[["bus", "t", "lmp"]]).to_csv(d / "prices.csv", index=False)
        _clean(_natural(s["dispatch"]).reset_index()[["participant", "t", "p_inj"]]).to_csv(
            d / "dispatch.csv", index=False)
        out.write(f"\nwrote {d / 'prices.csv'} and {d / 'dispatch.csv'}\n")
    return model


# -- pyomo-ecc dlmp ------------------------------------------------------------------------------
def dlmp_command(case_name, periods=None, losses=False, ac=False, out_dir=None, plot_dir=None,
                 out=None):
    """DLMPs of a feeder case (see the module doc); returns the ``dlmp`` frame."""
    out = sys.stdout if out is None else out
    from pyomo_ecc.errors import InputError
    from pyomo_ecc.io.cases import load_case
    from pyomo_ecc.models.feeder import build_feeder
    from pyomo_ecc.pricing.dlmp import dlmp
    from pyomo_ecc.analysis.losses import solve_losses
    from pyomo_ecc.pricing.prices import price_frame
    from pyomo_ecc.solvers import solve

    case = load_case(case_name)
    if case.model_name != "feeder":
        raise InputError(f"case '{case.name}' is a '{case.model_name}' case; dlmp needs a feeder "
                         f"case (model = \"feeder\")")
    kind = "losses" if losses else case.data.get("network", {}).get("type", "lindistflow")
    m = build_feeder(case, kind, periods=periods)
    net = m.network
    cur = m.config.currency
    out.write(f"case     : {case.name} - {case.meta.get('title', '')}\n")
    out.write(f"network  : {net.formulation}, {len(net.feeder.buses)} buses, {len(m.T)} period(s)\n")
    iters = None
    if kind == "losses":
        iters = solve_losses(m)
        _print_frame(f"loss iterations (each an LP/QP solved by HiGHS): losses and residuals in MW, "
                     f"price change in {cur}/MWh, times in s", iters, out)
    else:
        solve(m, "ipopt" if kind == "ac_distflow" else "highs")
    d = dlmp(m)
    peak = d.lmp.groupby(level="t").max().idxmax()
    title = (f"DLMP [{cur}/MWh] = energy + loss + congestion + voltage by bus"
             + (f", period {peak} (the highest price)" if len(m.T) > 1 else ""))
    _print_frame(title, d.xs(peak, level="t", drop_level=False) + 0.0, out)
    if len(m.T) > 1:
        _print_frame(f"lmp [{cur}/MWh] by bus (rows) and period (columns)",
                     d.lmp.unstack("t").round(4), out)
    if ac:
        m_ac = build_feeder(case, "ac_distflow", periods=periods)
        solve(m_ac, "ipopt")
        d_ac = dlmp(m_ac)
        cmp = d[["lmp"]].join(d_ac.lmp.rename("ac_lmp"))
        cmp["difference"] = cmp.lmp - cmp.ac_lmp
        for comp in ("loss", "congestion", "voltage"):
            cmp[f"{comp}_difference"] = d[comp] - d_ac[comp]
        _print_frame(f"against AC DistFlow (Ipopt), period {peak} [{cur}/MWh]",
                     cmp.xs(peak, level="t", drop_level=False) + 0.0, out)
        out.write(f"\nlargest |lmp - AC lmp| over every bus and period: "
                  f"{cmp.difference.abs().max():.3g} {cur}/MWh\n")
    limits = {}
    for name in ("branch_price", "v_min_price", "v_max_price"):
        try:
            frame = price_frame(m, name)
        except Exception:   # not declared by this network (no such limit)
            continue
        limits[name] = frame
    if out_dir is not None:
        dd = Path(out_dir)
        dd.mkdir(parents=True, exist_ok=True)
        d.to_csv(dd / "dlmp.csv")
        net.voltages().to_csv(dd / "voltages.csv")
        net.branch_flows().to_csv(dd / "branch_flows.csv")
        written = ["dlmp.csv", "voltages.csv", "branch_flows.csv"]
        for name, frame in limits.items():
            frame.to_csv(dd / f"{name}.csv")
            written.append(f"{name}.csv")
        if iters is not None:
            iters.to_csv(dd / "iterations.csv")
            written.append("iterations.csv")
        out.write(f"\nwrote {', '.join(written)} to {dd}\n")
    if plot_dir is not None:
        import matplotlib
        matplotlib.use("Agg")   # files, no window
        import matplotlib.pyplot as plt

        from pyomo_ecc import plot as pl
        pd_ = Path(plot_dir)
        pd_.mkdir(parents=True, exist_ok=True)
        pictures = {"components.png": lambda ax: pl.dlmp_components(d, t=peak, ax=ax, currency=cur),
                    "voltage.png": lambda ax: pl.voltage_profile(net, t=peak, ax=ax),
                    "heatmap.png": lambda ax: pl.price_heatmap(d, ax=ax, currency=cur),
                    "feeder.png": lambda ax: pl.feeder_map(net, d.lmp, t=peak, ax=ax, currency=cur)}
        for fname, draw in pictures.items():
            ax = draw(None)
            ax.figure.savefig(pd_ / fname, dpi=110, bbox_inches="tight")
            plt.close(ax.figure)
        out.write(f"wrote {', '.join(pictures)} to {pd_}\n")
    return d


def vcg(case_name=None, solver="highs", backend="serial", workers=None, address=None, out_dir=None,
        out=None, progress=True):
    """VCG payments of every participant of ``case_name`` (what-ifs on one compiled model; a
    withdrawal that leaves the market infeasible is an undefined row with its reason)."""
    out = sys.stdout if out is None else out
    from pyomo_ecc.whatif import CaseRecipe, WhatIf
    from pyomo_ecc.io.cases import load_case
    from pyomo_ecc.mechanisms.vcg import vcg_payments

    case_name = str(case_name or DEFAULT_CASE)
    case = load_case(case_name)
    engine = WhatIf(CaseRecipe(case_name), solver=solver)
    df = vcg_payments(None, engine=engine, backend=backend, workers=workers, address=address,
                      progress=progress)
    cur = engine.model.config.currency if hasattr(engine.model, "config") else ""
    out.write(f"case     : {case.name} - {case.meta.get('title', '')}\n")
    out.write(f"VCG (Clarke pivot) payments [{cur}]: positive = the participant pays; {len(df)} "
              f"withdrawals solved on one compiled model ({backend})\n")
    _print_frame("payments", df[["bid_cost", "others_cost", "others_cost_without", "payment", "status"]]
                 .round(6), out)
    undefined = df[df["status"] != "defined"]
    if len(undefined):
        out.write("\nundefined payments:\n")
        for name, row in undefined.iterrows():
            out.write(f"  {name}: {row['reason']}\n")
    out.write(f"\nbudget surplus (sum of defined payments): {df.attrs['budget_surplus'] + 0.0:.6f} {cur}\n")
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        df.to_csv(d / "vcg.csv")
        out.write(f"wrote {d / 'vcg.csv'}\n")
    return df


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pyomo-ecc", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cases", help="list the case library")
    p_run = sub.add_parser("run", help="solve a case and print a summary")
    p_run.add_argument("case", nargs="?", default=None,
                       help=f"case name or path to a .toml case file (default: {DEFAULT_CASE})")
    p_run.add_argument("--solver", default="highs", help="any Pyomo solver name (default: highs)")
    p_run.add_argument("--out", default=None, help="directory for prices.csv and dispatch.csv")
    p_cge = sub.add_parser("cge", help="run the seed 001 CGE experiment and print its Table-5 table")
    p_cge.add_argument("case", nargs="?", default=None, help="CGE case (default: seed001_cge)")
    p_cge.add_argument("--electricity-price", default=None, metavar="P|market",
                       help="electricity price (yuan/MWh) in the carbon scenarios, or 'market' to "
                            "take it from the case's electricity-market model")
    p_cge.add_argument("--solver", default="ipopt", help="nonlinear solver (default: ipopt)")
    p_run.add_argument("--price-range", action="store_true",
                       help="also print the one-sided prices (a range where the LP price is not unique)")
    p_run.add_argument("--plot", default=None, metavar="DIR|FILE.png",
                       help="a folder: draw the network map, price heat map, dispatch stack and "
                            "merit order there; a picture file: the merit order of the first period")
    p_dlmp = sub.add_parser("dlmp", help="DLMPs of a feeder case: energy, loss, congestion, voltage")
    p_dlmp.add_argument("case", help="feeder case name or path to a .toml case file")
    p_dlmp.add_argument("--periods", type=int, default=None, metavar="N",
                        help="solve the first N periods of the case")
    p_dlmp.add_argument("--losses", action="store_true",
                        help="loss-aware linear route (LinDistFlowLosses iterated to the AC point)")
    p_dlmp.add_argument("--ac", action="store_true",
                        help="also solve AC DistFlow (Ipopt) and print the price differences")
    p_dlmp.add_argument("--out", default=None, metavar="DIR", help="directory for the CSV frames")
    p_dlmp.add_argument("--plot", default=None, metavar="DIR", help="directory for the pictures")
    p_vcg = sub.add_parser("vcg", help="VCG payments of every participant of a case")
    p_vcg.add_argument("case", nargs="?", default=None, help=f"case name or .toml file (default: {DEFAULT_CASE})")
    p_vcg.add_argument("--solver", default="highs", help="highs (incremental, default) or any Pyomo solver")
    p_vcg.add_argument("--backend", default="serial", choices=["serial", "processes", "dask"],
                       help="where the withdrawals run (default: serial)")
    p_vcg.add_argument("--workers", type=int, default=None, help="worker processes (default 2)")
    p_vcg.add_argument("--address", default=None, help="a Dask scheduler address (default: a local cluster)")
    p_vcg.add_argument("--out", default=None, help="directory for vcg.csv")
    # -- cosim (seed 001 co-simulation): options live in pyomo_ecc.simulation.cli -------------
    from pyomo_ecc.simulation.cli import add_arguments as cosim_arguments
    cosim_arguments(sub.add_parser("cosim", help="run the seed 001 carbon-electricity co-simulation"))
    # ----------------------------------------------------------------------------------------
    # -- dp: the seed 000 differentially private market study --------------------------------
    p_dp = sub.add_parser("dp", help="seed 000 DP market study: Figs. 2-5, Table 3, verdict")
    p_dp.add_argument("--out", default=None, help="directory for the figures and tables")
    p_dp.add_argument("--candidates", type=int, default=20000, help="finite-mode candidates K")
    p_dp.add_argument("--draws", type=int, default=2000, help="released outcomes for Fig. 3")
    p_dp.add_argument("--seed", type=int, default=0, help="seed of numpy's default_rng")
    p_dp.add_argument("--case", action="append", default=None,
                      help="seed000_community or seed000_coupled (repeatable; default both)")
    p_dp.add_argument("--no-continuous", action="store_true",
                      help="skip the continuous-mode (hit-and-run) cross-check")
    args = parser.parse_args(argv)

    from pyomo_ecc.errors import EccError
    try:
        if args.command == "cases":
            from pyomo_ecc.io.cases import list_cases
            _print_frame("case library", list_cases(), sys.stdout)
        elif args.command == "run":
            run(args.case, solver=args.solver, out_dir=args.out, plot=args.plot,
                price_range=args.price_range)
        elif args.command == "dlmp":
            dlmp_command(args.case, periods=args.periods, losses=args.losses, ac=args.ac,
                         out_dir=args.out, plot_dir=args.plot)
        elif args.command == "cge":
            from pyomo_ecc.models.cge_seed001 import cli as cge_cli
            argv_cge = ([args.case] if args.case else []) + ["--solver", args.solver]
            if args.electricity_price is not None:
                argv_cge += ["--electricity-price", args.electricity_price]
            cge_cli(argv_cge)
        elif args.command == "vcg":
            vcg(args.case, solver=args.solver, backend=args.backend, workers=args.workers,
                address=args.address, out_dir=args.out)
        elif args.command == "cosim":
            from pyomo_ecc.simulation.cli import run as cosim_run
            cosim_run(args)
        elif args.command == "dp":
            from pyomo_ecc.models.dp_seed000 import cli as dp_cli
            argv_dp = ["--candidates", str(args.candidates), "--draws", str(args.draws),
                       "--seed", str(args.seed)]
            argv_dp += ["--out", args.out] if args.out else []
            argv_dp += [x for c in (args.case or []) for x in ("--case", c)]
            argv_dp += ["--no-continuous"] if args.no_continuous else []
            dp_cli(argv_dp)
    except (EccError, CliError) as e:
        print(f"pyomo-ecc: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # e.g. the disk filled up while writing --out / --plot
        print(f"pyomo-ecc: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
