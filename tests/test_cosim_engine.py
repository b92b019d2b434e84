"""The co-simulation engine: bit-for-bit replays, tidy logs, carbon coupling, fan-out, generative
agents, RL environments, CLI, CGE hand-off."""
import io

import numpy as np
import pandas as pd
import pytest

from conftest import requires_ipopt
from pyomo_ecc.simulation import (Experiment, ExperimentLog, Markup, Scripted, Truthful, run_many,
                                  trade_table)
from pyomo_ecc.simulation.generative import Generative, closeness, curve_distance
from pyomo_ecc.simulation.market import Offer

MIXED = "G1=markup:0.5,G2=q-learning,G3=roth-erev,G4=withhold:0.6,G5=roth-erev,G6=q-learning"


def _assert_same(a, b):
    for name in ExperimentLog.TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


@pytest.fixture(scope="module")
def mixed_log():
    return Experiment(MIXED, rounds=6, seed=7, progress=False).run()


@pytest.mark.integration
def test_a_run_is_reproducible_bit_for_bit(mixed_log):
    again = Experiment(MIXED, rounds=6, seed=7, progress=False).run()
    _assert_same(mixed_log, again)
    other = Experiment(MIXED, rounds=6, seed=8, progress=False).run()
    assert not other.loads.equals(mixed_log.loads)


@pytest.mark.integration
def test_a_scripted_experiment_replays_bit_for_bit(mixed_log, tmp_path):
    """Every seat replays its recorded offers from the written log: the same clearing, trades and
    profits, to the last bit (the seeded loads and carbon book draw the same numbers)."""
    mixed_log.save(tmp_path)
    for f in ("offers", "lmp", "trades", "profits"):
        assert (tmp_path / f"{f}.parquet").exists() and (tmp_path / f"{f}.csv").exists()
    units = sorted(set(mixed_log.offers.index.get_level_values("unit")))
    script = tmp_path / "offers.parquet"
    agents = {u: Scripted(script) for u in units}
    replay = Experiment(agents, rounds=6, seed=7, progress=False).run()
    for name in ("offers", "loads", "output", "lmp", "profits", "trades", "carbon"):
        pd.testing.assert_frame_equal(getattr(replay, name), getattr(mixed_log, name), check_exact=True)
    back = ExperimentLog.load(tmp_path)
    _assert_same(back, mixed_log)
    csv = pd.read_csv(tmp_path / "offers.csv", index_col=["round", "unit", "segment"])
    pd.testing.assert_frame_equal(csv, mixed_log.offers)


@pytest.mark.integration
def test_tidy_logs_and_carbon_coupling(mixed_log):
    log = mixed_log
    assert log.offers.index.names == ["round", "unit", "segment"]
    assert log.output.index.names == ["round", "unit", "t"] and log.lmp.index.names == ["round", "bus", "t"]
    assert len(log.lmp) == 6 * 3 * 24 and len(log.offers) == 6 * 6 * 5
    c = log.carbon
    # the closing price of one day is the opening price (and cost price) of the next
    assert c["opening_price"].iloc[1:].tolist() == c["closing_price"].iloc[:-1].tolist()
    assert c["opening_price"].iloc[0] == 48.0
    for r in c.index:   # eq. 21 with the day's opening price
        p = log.profits.xs(r, level="round")
        rate = {"G1": -0.05, "G2": 0.01, "G3": 0.09, "G4": -0.05, "G5": 0.01, "G6": 0.09}
        for u, row in p.iterrows():
            assert row["carbon_cost"] == pytest.approx(rate[u] * c.at[r, "opening_price"] * row["energy"])
    tr = log.trades.reset_index()
    if len(tr):   # every trade is in the day's band and a deficit unit buys from a surplus unit
        band = tr["round"].map(c["opening_price"])
        assert ((tr["price"] >= 0.9 * band - 1e-9) & (tr["price"] <= 1.1 * band + 1e-9)).all()
        assert set(tr["seller"]) <= {"G1", "G4"} and set(tr["buyer"]) <= {"G2", "G3", "G5", "G6"}
        last = tr["round"].iloc[-1]
        tt = log.trade_table(last)
        assert list(tt.columns) == ["buyer unit", "seller unit", "price (yuan/t)", "quantity (t)"]
        assert tt.index.name == "order no." and tt.index[0] == 1
        if (tr["round"] == last).any():
            assert c.at[last, "closing_price"] == tr[tr["round"] == last]["price"].iloc[-1]
    # a load-weighted average price between the smallest and largest LMP of each day
    avg = log.average_prices()
    lmp = log.lmp["lmp"].groupby(level="round")
    assert ((avg >= lmp.min() - 1e-9) & (avg <= lmp.max() + 1e-9)).all()


@pytest.mark.unit
def test_default_allowance_orders_follow_the_position():
    from pyomo_ecc.simulation.carbon import default_carbon_order
    rng = np.random.default_rng(0)
    buys = [default_carbon_order(-10.0, 50.0, 0.1, rng) for _ in range(200)]
    sells = [default_carbon_order(4.0, 50.0, 0.1, rng) for _ in range(200)]
    assert {b[0] for b in buys} == {"buy"} and {b[2] for b in buys} == {10.0}
    assert min(b[1] for b in buys) >= 50.0 and max(b[1] for b in buys) <= 55.0
    assert {x[0] for x in sells} == {"sell"} and {x[2] for x in sells} == {4.0}
    assert min(x[1] for x in sells) >= 47.5 and max(x[1] for x in sells) <= 55.0
    assert default_carbon_order(0.0, 50.0, 0.1, rng) is None


@pytest.mark.unit
def test_trade_table_layout_of_table4():
    trades = pd.DataFrame({"round": [1, 1], "trade": [1, 2], "buyer": ["G6", "G3"],
                           "seller": ["G1", "G1"], "price": [62.0, 62.0],
                           "quantity": [10.0, 5.0]}).set_index(["round", "trade"])
    t = trade_table(trades, day=1)
    assert t.loc[2].tolist() == ["G3", "G1", 62.0, 5.0]


@pytest.mark.integration
def test_independent_runs_fan_out_over_processes():
    cfgs = [dict(agents="roth-erev", rounds=2, seed=s) for s in (1, 2)]
    par = run_many(cfgs, processes=2)
    seq = run_many(cfgs, processes=1)
    for a, b in zip(par, seq):
        _assert_same(a, b)


@pytest.mark.integration
def test_independent_runs_on_a_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    cfgs = [dict(agents="q-learning", rounds=2, seed=s) for s in (3, 4)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        logs = run_many(cfgs, client=client)
    for a, b in zip(logs, run_many(cfgs, processes=1)):
        _assert_same(a, b)


@pytest.mark.unit
def test_curve_distance_closed_form():
    a = Offer((100, 100, 200, 200, 300), (20, 20, 20, 20, 20))
    b = Offer.flat(150.0, 100.0)
    # |100-150| on 40 MW, |200-150| on 40 MW, |300-150| on 20 MW, over 100 MW
    assert curve_distance(a, b, 100.0) == pytest.approx((50 * 40 + 50 * 40 + 150 * 20) / 100)
    assert curve_distance(a, a, 100.0) == 0.0


@pytest.mark.integration
def test_generative_agent_learns_a_recorded_seat_and_replaces_it():
    """A recorded seat whose offer follows the carbon price (as a person's might) is learnt from
    12 rounds; on 4 held-out rounds the model is closer than the mean recorded offer, and it
    then plays the seat with valid offers."""
    def person(obs):
        mc = obs.marginal_cost
        k = 0.5 + 10.0 * (obs.carbon_price - 48.0) / 48.0
        return Offer((mc, mc * (1 + 0.2 * k), mc * (1 + 0.4 * k), mc * (1 + 0.6 * k), 1000.0),
                     (300.0, 250.0, 200.0, 150.0, 100.0))
    agents = {u: Truthful() for u in ("G1", "G4")}          # the gas units run and sell allowances
    agents.update({u: Markup(1.0) for u in ("G2", "G5", "G6")})
    agents["G3"] = Scripted(person)
    rec = Experiment(agents, rounds=16, seed=3, progress=False).run()
    assert rec.carbon["opening_price"].nunique() > 4
    gen = Generative.fit(rec, "G3", rounds=range(1, 13))
    c = closeness(gen, rec, "G3", range(13, 17))
    s = c.attrs["summary"]
    assert s["curve_distance"] < s["baseline_curve_distance"]
    assert s["quantity_mae"] < 1e-6          # the widths never changed: learnt exactly
    full = Generative.fit(rec, "G3")
    play = Experiment({**{u: Truthful() for u in agents if u != "G3"}, "G3": full}, rounds=3, seed=4,
                      progress=False).run()
    assert play.meta["agents"]["G3"] == "generative(G3)"
    assert len(play.offers.xs("G3", level="unit")) == 15


@pytest.mark.integration
def test_a_generative_agent_takes_over_a_seat_within_a_run():
    from pyomo_ecc.simulation.generative import Handover
    offers = {1: Offer((260, 270, 280, 290, 1000), (300, 300, 200, 100, 100)),
              2: Offer((265, 275, 285, 295, 1000), (300, 300, 200, 100, 100)),
              3: Offer((270, 280, 290, 300, 1000), (300, 300, 200, 100, 100))}
    agents = {u: Truthful() for u in ("G1", "G2", "G4", "G5", "G6")}
    agents["G3"] = Handover(Scripted(offers), after=3, noise=0.0)
    log = Experiment(agents, rounds=5, seed=2, progress=False).run()
    g3 = log.offers.xs("G3", level="unit")
    assert g3.loc[3]["price"].tolist() == [270, 280, 290, 300, 1000]      # the seat itself
    later = g3.loc[4]                                                      # the fitted model
    assert later["quantity"].tolist() == pytest.approx([300, 300, 200, 100, 100])
    assert 260 <= later["price"].iloc[0] <= 270 and later["price"].iloc[-1] == pytest.approx(1000, rel=1e-12)
    assert log.meta["agents"]["G3"] == "scripted (rounds 1-3), then generative"


@pytest.mark.integration
def test_pettingzoo_parallel_api_test():
    from pettingzoo.test import parallel_api_test
    from pyomo_ecc.simulation.env import CosimParallelEnv
    env = CosimParallelEnv(rounds=3, seed=0)
    parallel_api_test(env, num_cycles=4)
    obs, _ = env.reset(seed=5)
    assert obs["G3"].shape == (24 * 3 + 24 + 2,)
    acts = {a: env.action_space(a).sample() for a in env.agents}
    _, rew, _, trunc, info = env.step(acts)
    assert set(rew) == set(env.possible_agents) and not any(trunc.values())
    o = info["G3"]["offer"]
    assert sum(o.quantities) == pytest.approx(1000.0) and list(o.prices) == sorted(o.prices)


@pytest.mark.integration
def test_gymnasium_wrapper_passes_the_env_checker_and_rewards_eq22():
    import warnings

    from gymnasium.utils.env_checker import check_env
    from pyomo_ecc.simulation.env import SingleUnitEnv
    env = SingleUnitEnv("G3", others="truthful", rounds=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    env.reset(seed=1)
    mc = env.sim.market.units["G3"].marginal_cost(48.0)
    _, r, _, trunc, _ = env.step(np.array([mc] * 5 + [200.0] * 5, dtype=np.float32))
    res = env.sim.last
    assert r == res.settlement.at["G3", "profit"] and not trunc
    _, _, _, trunc, _ = env.step(np.array([mc] * 5 + [200.0] * 5, dtype=np.float32))
    assert trunc


@pytest.mark.integration
def test_cli_runs_an_experiment_then_a_generative_agent_replaces_the_human(tmp_path, monkeypatch):
    from pyomo_ecc.cli import main
    answers = iter(["mc", "300, 310, 320, 330, 1000", "300, 200, 200, 200, 100",
                    "280, 300, 320, 340, 1000", "", "", "200, 200, 200, 200, 200"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    played = tmp_path / "played"
    assert main(["cosim", "--rounds", "4", "--human", "G3", "--out", str(played), "--no-progress"]) == 0
    assert (played / "cosim.png").exists() and (played / "offers.parquet").exists()
    rec = ExperimentLog.load(played)
    assert rec.meta["agents"]["G3"] == "human" and rec.offers.xs((2, "G3"), level=["round", "unit"])["price"].tolist() == \
        [300, 310, 320, 330, 1000]
    gen = tmp_path / "gen"
    assert main(["cosim", "--rounds", "2", "--generative", f"G3={played}", "--agents", "truthful",
                 "--out", str(gen), "--no-progress"]) == 0
    log = ExperimentLog.load(gen)
    assert len(log.carbon) == 2 and (gen / "lmp.csv").exists()
    answers2 = iter(["300, 310, 320, 330, 1000", "", "310, 320, 330, 340, 1000", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers2))
    assert main(["cosim", "--rounds", "3", "--human", "G3", "--handover", "2", "--no-progress"]) == 0


@pytest.mark.integration
def test_cli_reports_bad_agent_spec(capsys):
    from pyomo_ecc.cli import main
    assert main(["cosim", "--rounds", "1", "--agents", "G9=truthful", "--no-progress"]) == 1
    assert "unknown unit 'G9'" in capsys.readouterr().err


@requires_ipopt
@pytest.mark.integration
def test_cge_handoff_in_table5_layout(mixed_log):
    from pyomo_ecc.simulation.cge_link import cge_handoff, reference_price
    df = cge_handoff(mixed_log)
    a = df.attrs
    assert a["carbon_price"] == mixed_log.carbon["closing_price"].iloc[-1]
    assert a["electricity_price"] == pytest.approx(942.29 + a["average_lmp"] - reference_price())
    assert df.columns[0] == "baseline" and "GDP (trillion yuan)" in df.index
    assert df.at["GDP (trillion yuan)", "baseline"] == pytest.approx(91.9, abs=1e-6)   # Table 5 base
    scen = df.columns[1]
    assert df.at["power generation carbon price paid (yuan/t)", scen] == pytest.approx(a["carbon_price"])
    assert df.at["total emissions (1e8 t)", scen] < df.at["total emissions (1e8 t)", "baseline"]


@pytest.mark.integration
def test_readme_cosim_example_runs_as_written():
    import re
    from contextlib import redirect_stdout
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "Experiment(" in b)
    ns = {}
    with redirect_stdout(io.StringIO()):
        exec(compile(block, "README.md", "exec"), ns)
    lmp = ns["log"].lmp["lmp"]
    assert set(lmp[lmp >= 1000.0 - 1e-6].index.get_level_values("t")) == {7, 8, 9, 10, 17, 18, 19, 20}


@pytest.mark.integration
def test_cli_fans_out_seeds(tmp_path, capsys):
    from pyomo_ecc.cli import main
    assert main(["cosim", "--rounds", "1", "--seeds", "0,1", "--processes", "1", "--agents", "truthful",
                 "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "mean LMP" in text and (tmp_path / "seed_1" / "lmp.parquet").exists()


@requires_ipopt
@pytest.mark.integration
def test_cli_cge_handoff(tmp_path, capsys):
    from pyomo_ecc.cli import main
    assert main(["cosim", "--rounds", "1", "--agents", "truthful", "--cge", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "CGE hand-off (Table 5 layout" in text and "GDP (trillion yuan)" in text
    assert (tmp_path / "cge.csv").exists()


@pytest.mark.integration
def test_cli_pivotal_table(capsys):
    from pyomo_ecc.cli import main
    assert main(["cosim", "--pivotal"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "bus 3: G3+G4" in lines[1]
    row9 = next(x for x in lines if x.split() and x.split()[0] == "9")
    assert "675.2" in row9
