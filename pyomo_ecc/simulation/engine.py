r"""The multi-round co-simulation engine (seed 001 sec. 2 and 3).

A round is one day:

1. every agent sees its :class:`~pyomo_ecc.simulation.agents.Observation` and offers a
   five-segment curve (phase ``offers``);
2. loads are drawn (forecast + N(0, 1) error per bus and hour) and the one market model is
   re-cleared with the new offers and loads (:func:`~pyomo_ecc.simulation.market.clear_round`,
   phase ``clearing``);
3. each unit is settled by eq. 22 with the day's carbon price in its costs (eq. 21, phase
   ``settlement``);
4. the units trade allowances in the day's order book; its closing price is the next day's
   carbon price (:mod:`~pyomo_ecc.simulation.carbon`, phase ``carbon``);
5. agents learn from their profit; the round is logged (phase ``feedback``).

Randomness: one ``numpy.random.SeedSequence(seed)`` spawns independent generators for the
loads, the carbon book's submission order, each unit's agent and each unit's allowance orders
(in unit order), so a run is reproducible bit for bit, one agent's draws never shift another's,
and a seat replaying recorded offers meets the same loads and allowance orders.

:class:`Experiment` runs rounds with a progress bar and returns an :class:`ExperimentLog`:
tidy frames (``offers`` (round, unit, segment), ``decisions`` (round, unit) with the
observation features, ``loads`` (round, t, bus), ``output`` (round, unit, t), ``lmp``
(round, bus, t), ``profits`` (round, unit), ``trades`` (round, trade), ``carbon`` (round)),
written as Parquet and CSV by :meth:`ExperimentLog.save`. :func:`run_many` fans independent
runs (seeds, parameter sets) out over processes or a Dask cluster.
"""
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.simulation.agents import FEATURES, Agent, Observation, parse_agents
from pyomo_ecc.simulation.carbon import CarbonMarket, default_carbon_order, positions, trade_table
from pyomo_ecc.simulation.market import (DEFAULT_CASE, N_SEGMENTS, build_market, clear_round,
                                         draw_loads, settle, validate_offer)

PHASES = ("offers", "clearing", "settlement", "carbon", "feedback")


@dataclass
class DayResult:
    """Everything one day produced."""

    day: int
    loads: pd.DataFrame
    offers: dict
    clearing: object
    settlement: pd.DataFrame
    positions: pd.DataFrame
    trades: pd.DataFrame
    rejected_orders: pd.DataFrame
    carbon_open: float
    carbon_close: float
    timings: dict = field(default_factory=dict)


class Simulator:
    """The day-by-day environment: the market (built once, :func:`build_market` with ``solver``
    and ``engine``), the carbon market and the generators. Used by :class:`Experiment` and by
    the RL environments."""

    def __init__(self, case=DEFAULT_CASE, seed=0, carbon_price=48.0, band=0.1, load_sd=1.0,
                 cash=1e8, solver="highs", engine="whatif", market=None):
        self.market = build_market(case, solver=solver, engine=engine) if market is None else market
        self.units = list(self.market.units)
        self.carbon = CarbonMarket(self.units, opening_price=carbon_price, band=band, cash=cash)
        self.load_sd = float(load_sd)
        if self.load_sd < 0:
            raise InputError(f"load_sd must be >= 0, got {load_sd}")
        self.reset(seed)

    def reset(self, seed=None):
        """Back to day 0 with generators from ``seed``."""
        if seed is not None:
            self.seed = seed
        n = len(self.units)
        kids = np.random.SeedSequence(self.seed).spawn(2 + 2 * n)
        self.load_rng = np.random.default_rng(kids[0])
        self.carbon_rng = np.random.default_rng(kids[1])
        self.agent_rngs = {u: np.random.default_rng(k) for u, k in zip(self.units, kids[2:2 + n])}
        self.order_rngs = {u: np.random.default_rng(k) for u, k in zip(self.units, kids[2 + n:])}
        self.day = 0
        self.carbon.reset()
        self.last = None

    def observation(self, unit):
        """What ``unit`` sees before offering on the next day."""
        u = self.market.units[unit]
        obs = Observation(day=self.day + 1, unit=u, forecast=self.market.forecast,
                          carbon_price=self.carbon.price, opening_price=self.carbon.initial_price)
        last = self.last
        if last is not None:
            obs.last_lmp = last.clearing.lmp.xs(u.bus, level="bus")
            obs.last_output = last.clearing.output.xs(unit, level="unit")
            obs.last_profit = float(last.settlement.at[unit, "profit"])
            obs.last_profit_per_mwh = float(last.settlement.at[unit, "profit_per_mwh"])
            obs.position = float(last.positions.at[unit, "position"])
            obs.last_offer = last.offers[unit]
        return obs

    def step(self, offers, carbon_orders=None):
        """Clear, settle and trade one day. ``carbon_orders(positions, opening_price, band)``
        returns ``{unit: order | None}`` (default: :func:`default_carbon_order` for each unit
        with its allowance-order generator ``order_rngs[unit]``)."""
        tm = {}
        t0 = time.perf_counter()
        for name, o in offers.items():
            if name in self.market.units:
                validate_offer(self.market.units[name], o)
        loads = draw_loads(self.market.forecast, self.load_rng, self.load_sd)
        clearing = clear_round(self.market, offers, loads)
        t1 = time.perf_counter()
        tm["clearing"] = t1 - t0
        price_in = self.carbon.price
        settlement = settle(self.market, clearing, price_in)
        pos = positions(self.market, clearing)
        t2 = time.perf_counter()
        tm["settlement"] = t2 - t1
        if carbon_orders is None:
            orders = {u: default_carbon_order(pos.at[u, "position"], price_in, self.carbon.band,
                                              self.order_rngs[u]) for u in self.units}
        else:
            orders = carbon_orders(pos, price_in, self.carbon.band)
        _, trades, rejected = self.carbon.trade_day(pos, orders, self.carbon_rng)
        tm["carbon"] = time.perf_counter() - t2
        self.day += 1
        res = DayResult(self.day, loads, dict(offers), clearing, settlement, pos, trades, rejected,
                        price_in, self.carbon.price, tm)
        self.last = res
        return res


def _frame(rows, cols, index):
    return pd.DataFrame(rows, columns=cols).set_index(index)


@dataclass
class ExperimentLog:
    """The tidy record of an experiment (see module doc). ``timings`` (seconds per phase and
    round) is kept apart from the tables: it is the only part that differs between replays."""

    offers: pd.DataFrame
    decisions: pd.DataFrame
    loads: pd.DataFrame
    output: pd.DataFrame
    lmp: pd.DataFrame
    profits: pd.DataFrame
    trades: pd.DataFrame
    carbon: pd.DataFrame
    meta: dict = field(default_factory=dict)
    timings: pd.DataFrame = None

    TABLES = ("offers", "decisions", "loads", "output", "lmp", "profits", "trades", "carbon")

    def tables(self):
        return {k: getattr(self, k) for k in self.TABLES}

    def save(self, out_dir, formats=("parquet", "csv")):
        """Write every table as ``NAME.parquet`` and ``NAME.csv`` (and the timings), the run's
        settings as ``meta.json``; returns the paths."""
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        tabs = dict(self.tables())
        if self.timings is not None:
            tabs["timings"] = self.timings
        (d / "meta.json").write_text(json.dumps(self.meta, indent=1, default=str))
        paths.append(d / "meta.json")
        for name, df in tabs.items():
            if "parquet" in formats:
                df.to_parquet(d / f"{name}.parquet")
                paths.append(d / f"{name}.parquet")
            if "csv" in formats:
                df.to_csv(d / f"{name}.csv")
                paths.append(d / f"{name}.csv")
        return paths

    @classmethod
    def load(cls, out_dir):
        """Read a log written by :meth:`save` (Parquet)."""
        d = Path(out_dir)
        tabs = {k: pd.read_parquet(d / f"{k}.parquet") for k in cls.TABLES}
        t, meta = d / "timings.parquet", d / "meta.json"
        return cls(**tabs, timings=pd.read_parquet(t) if t.exists() else None,
                   meta=json.loads(meta.read_text()) if meta.exists() else {})

    def trade_table(self, day):
        """Day ``day``'s allowance trades in the layout of seed Table 4."""
        if day not in set(self.trades.index.get_level_values("round")):
            return trade_table(self.trades.iloc[0:0])
        return trade_table(self.trades, day=day)

    def average_price(self, day=None):
        """Load-weighted average LMP of round ``day`` (yuan/MWh; default the last round); every
        round at once: :meth:`average_prices`."""
        s = self.average_prices()
        return float(s.iloc[-1] if day is None else s.loc[day])

    def average_prices(self):
        """Load-weighted average LMP by round (yuan/MWh)."""
        lmp = self.lmp["lmp"]
        load = self.loads["load"].reorder_levels(["round", "bus", "t"]).reindex(lmp.index)
        return (lmp * load).groupby(level="round").sum() / load.groupby(level="round").sum()

    def plot(self, path=None):
        from pyomo_ecc.simulation.plots import plot_experiment
        return plot_experiment(self, path)


class Experiment:
    """A multi-round experiment. ``agents``: ``{unit: Agent}`` or a spec string for
    :func:`~pyomo_ecc.simulation.agents.parse_agents`; other keywords go to :class:`Simulator`."""

    def __init__(self, agents="truthful", rounds=10, seed=0, progress=True, simulator=None, **sim_kw):
        if int(rounds) != rounds or rounds < 1:
            raise InputError(f"rounds must be a positive integer, got {rounds!r}")
        self.rounds, self.seed, self.progress = int(rounds), seed, progress
        if simulator is not None and sim_kw:
            raise InputError(f"give either a simulator or its options {sorted(sim_kw)}, not both")
        self.sim = Simulator(seed=seed, **sim_kw) if simulator is None else simulator
        self.sim.reset(seed)
        self.agents = parse_agents(agents, self.sim.units) if isinstance(agents, str) or agents is None \
            else dict(agents)
        bad = [u for u in self.sim.units if not isinstance(self.agents.get(u), Agent)]
        if bad:
            raise InputError(f"no agent (an pyomo_ecc.simulation.Agent) for unit(s) {bad}")
        for u in self.sim.units:
            self.agents[u].bind(self.sim.market.units[u], self.sim.agent_rngs[u])

    def run(self):
        from tqdm.auto import tqdm

        sim, agents = self.sim, self.agents
        rec = {k: [] for k in ("offers", "decisions", "loads", "output", "lmp", "profits", "trades",
                               "carbon", "timings")}
        hours, units = sim.market.hours, sim.units
        for r in tqdm(range(1, self.rounds + 1), desc="cosim rounds", disable=not self.progress,
                      leave=False):
            t0 = time.perf_counter()
            obs = {u: sim.observation(u) for u in units}
            offers = {u: agents[u].offer(obs[u]) for u in units}
            t_off = time.perf_counter() - t0

            def orders(pos, opening, band):
                return {u: agents[u].carbon_order(float(pos.at[u, "position"]), opening, band,
                                                  sim.order_rngs[u]) for u in units}

            res = sim.step(offers, carbon_orders=orders)
            t1 = time.perf_counter()
            for u in units:
                agents[u].feedback(obs[u], offers[u], res.settlement.loc[u])
            for u in units:
                o = offers[u]
                for k in range(N_SEGMENTS):
                    rec["offers"].append((r, u, k + 1, o.prices[k], o.quantities[k]))
                rec["decisions"].append((r, u, agents[u].describe(), *obs[u].features()))
            L = res.loads
            for t in hours:
                for b in L.columns:
                    rec["loads"].append((r, t, b, float(L.at[t, b])))
            for (u, t), v in res.clearing.output.items():
                rec["output"].append((r, u, t, v))
            for (b, t), v in res.clearing.lmp.items():
                rec["lmp"].append((r, b, t, float(v)))
            for u, row in res.settlement.iterrows():
                rec["profits"].append((r, u, *row.tolist()))
            for k, (_, tr) in enumerate(res.trades.iterrows(), start=1):
                rec["trades"].append((r, k, tr["buyer"], tr["seller"], float(tr["price"]),
                                      float(tr["quantity"])))
            vol = float(res.trades["quantity"].sum()) if len(res.trades) else 0.0
            rec["carbon"].append((r, res.carbon_open, res.carbon_close, vol, len(res.trades),
                                  len(res.rejected_orders)))
            t_fb = time.perf_counter() - t1
            rec["timings"].append((r, t_off, res.timings["clearing"], res.timings["settlement"],
                                   res.timings["carbon"], t_fb))
        prof_cols = ["energy", "revenue", "variable_cost", "fixed_cost", "carbon_cost", "profit",
                     "profit_per_mwh"]
        log = ExperimentLog(
            offers=_frame(rec["offers"], ["round", "unit", "segment", "price", "quantity"],
                          ["round", "unit", "segment"]),
            decisions=_frame(rec["decisions"], ["round", "unit", "agent", *FEATURES], ["round", "unit"]),
            loads=_frame(rec["loads"], ["round", "t", "bus", "load"], ["round", "t", "bus"]),
            output=_frame(rec["output"], ["round", "unit", "t", "output"], ["round", "unit", "t"]),
            lmp=_frame(rec["lmp"], ["round", "bus", "t", "lmp"], ["round", "bus", "t"]),
            profits=_frame(rec["profits"], ["round", "unit", *prof_cols], ["round", "unit"]),
            trades=_frame(rec["trades"], ["round", "trade", "buyer", "seller", "price", "quantity"],
                          ["round", "trade"]),
            carbon=_frame(rec["carbon"], ["round", "opening_price", "closing_price", "volume",
                                          "trades", "rejected_orders"], ["round"]),
            meta={"seed": self.seed, "rounds": self.rounds,
                  "agents": {u: a.describe() for u, a in self.agents.items()}},
            timings=_frame(rec["timings"], ["round", *PHASES], ["round"]),
        )
        return log


def _run_one(cfg):
    cfg = dict(cfg)
    cfg.setdefault("progress", False)
    return Experiment(**cfg).run()


def run_many(configs, processes=None, client=None):
    """Run independent experiments (a list of :class:`Experiment` keyword dicts, e.g. one per
    seed or parameter set) and return their logs in order. ``client``: a
    ``dask.distributed.Client`` to run them on its cluster; otherwise ``processes`` worker
    processes (default: one per CPU; 1 runs them here)."""
    configs = [dict(c) for c in configs]
    if client is not None:
        futures = client.map(_run_one, configs, pure=False)
        return client.gather(futures)
    if processes == 1 or len(configs) <= 1:
        return [_run_one(c) for c in configs]
    with ProcessPoolExecutor(max_workers=processes) as ex:
        return list(ex.map(_run_one, configs))
