"""Agents of the co-simulation: learning updates by hand, seats, learners against a fixed field."""
import io

import numpy as np
import pandas as pd
import pytest

from pyomo_ecc.errors import InputError
from pyomo_ecc.simulation import (Experiment, Human, Markup, Offer, OfferRejected, QLearning, RothErev,
                                  Scripted, Simulator, Truthful, Withholding, build_market, parse_agents,
                                  strategy_offer)
from pyomo_ecc.simulation.market import clear_round, seed001_units, settle


@pytest.fixture(scope="module")
def units():
    return seed001_units()


@pytest.mark.unit
def test_roth_erev_update_matches_a_hand_computation():
    a = RothErev(recency=0.1, experimentation=0.2, initial=1.0, markups=(0.0, 0.5), withholds=(0.0, 0.5))
    assert len(a.strategies) == 4
    a.update(2, 3.0)
    # chosen: (1 - 0.1) * 1 + 3 * (1 - 0.2) = 3.3; others: 0.9 * 1 + 1 * 0.2 / 3
    assert a.propensity == pytest.approx([0.9 + 0.2 / 3, 0.9 + 0.2 / 3, 3.3, 0.9 + 0.2 / 3])
    assert a.probabilities()[2] == pytest.approx(3.3 / (3.3 + 3 * (0.9 + 0.2 / 3)))
    a.update(0, 0.0)
    q = 0.9 + 0.2 / 3
    assert a.propensity == pytest.approx([0.9 * q, 0.9 * q + q * 0.2 / 3, 0.9 * 3.3 + 3.3 * 0.2 / 3,
                                          0.9 * q + q * 0.2 / 3])
    with pytest.raises(InputError, match="reward must be >= 0"):
        a.update(1, -1.0)


@pytest.mark.unit
def test_roth_erev_reward_is_operating_profit_scaled(units):
    a = RothErev(scale=1e6).bind(units["G6"], np.random.default_rng(0))
    row = pd.Series({"profit": -100.0, "fixed_cost": 24 * 42906.0})
    assert a.reward(row) == pytest.approx((24 * 42906.0 - 100.0) / 1e6)
    assert a.reward(pd.Series({"profit": -2e6, "fixed_cost": 1e5})) == 0.0


@pytest.mark.unit
def test_q_learning_update_matches_a_hand_computation(units):
    a = QLearning(alpha=0.5, gamma=0.0, epsilon=0.0, scale=1.0, markups=(0.0,), withholds=(0.0, 0.5))
    a.bind(units["G3"], np.random.default_rng(1))
    a.last_state, a.last_action = 1, 1
    a.feedback(None, None, pd.Series({"profit": 10.0}))
    assert a.q[1].tolist() == [0.0, 5.0]
    a.last_state, a.last_action = 1, 1
    a.feedback(None, None, pd.Series({"profit": -2.0}))
    assert a.q[1, 1] == pytest.approx(5.0 + 0.5 * (-2.0 - 5.0))
    a.gamma = 0.5
    a.last_state, a.last_action = 0, 0
    a.feedback(None, None, pd.Series({"profit": 1.0}), next_state=1)
    assert a.q[0, 0] == pytest.approx(0.5 * (1.0 + 0.5 * 1.5))


@pytest.mark.unit
def test_rule_agents_offer_by_their_rule(units):
    sim = Simulator(seed=0)
    obs = sim.observation("G3")
    mc = units["G3"].variable_cost + 0.09 * 48.0
    t = Truthful().bind(units["G3"], np.random.default_rng(0)).offer(obs)
    assert t.prices == pytest.approx((mc,) * 5) and sum(t.quantities) == pytest.approx(1000)
    m = Markup(1.0).bind(units["G3"], np.random.default_rng(0)).offer(obs)
    assert m.prices == pytest.approx((mc, 1.25 * mc, 1.5 * mc, 1.75 * mc, 2 * mc))
    w = Withholding(0.3).bind(units["G3"], np.random.default_rng(0)).offer(obs)
    assert w.prices[-1] == 1000.0 and w.quantities[-1] == pytest.approx(300.0)
    assert w.quantities[:4] == pytest.approx((175.0,) * 4) and w.prices[:4] == pytest.approx((mc,) * 4)
    s = strategy_offer(units["G3"], 300.0, markup=0.3, withhold=0.6)
    assert s.prices == pytest.approx((300.0, 330.0, 360.0, 390.0, 1000.0))


@pytest.mark.unit
def test_parse_agents():
    a = parse_agents("G1=markup:0.5,G3=withhold:0.9,*=q-learning", ["G1", "G2", "G3"])
    assert [x.describe() for x in a.values()] == ["markup:0.5", "withhold:0.9", "q-learning"]
    with pytest.raises(InputError, match="unknown unit 'G9'"):
        parse_agents("G9=truthful", ["G1"])
    with pytest.raises(InputError, match="unknown agent kind 'greedy'"):
        parse_agents("greedy", ["G1"])


@pytest.mark.component
def test_human_seat_shows_results_explains_a_rejection_and_asks_again(units):
    answers = ["300, 320, 310, 340, 350", "",              # not non-decreasing
               "300, 320, 330, 340, 1200", "",             # above the cap
               "300, 320, 330, 340, 350", "100, 100, 100, 100, 100",   # sums to 500, not 1000
               "300, 320, 330, 340, 350", "",              # valid, equal segments
               "", "100, 200, 300, 200, 200"]              # day 2: same prices, new widths
    out = io.StringIO()
    agents = {u: Truthful() for u in units if u != "G3"}
    agents["G3"] = Human(input_fn=answers, out=out)
    log = Experiment(agents, rounds=2, seed=0, progress=False).run()
    text = out.getvalue()
    assert "segment 3 price 310 is below segment 2 price 320" in text
    assert "segment 5 price 1200 is above the price cap 1000" in text
    assert "segment quantities sum to 500 MW; they must sum to the capacity 1000 MW" in text
    assert text.count("offer accepted.") == 2
    assert "yesterday at your bus" in text and "yesterday's profit (eq. 22)" in text  # day 2 shows day 1
    g3 = log.offers.xs("G3", level="unit")
    assert g3.loc[1]["price"].tolist() == [300, 320, 330, 340, 350]
    assert g3.loc[2]["quantity"].tolist() == [100, 200, 300, 200, 200]
    with pytest.raises(InputError, match="no more input"):
        Experiment({**agents, "G3": Human(input_fn=["abc"], out=io.StringIO())}, rounds=1,
                   progress=False).run()


@pytest.mark.component
def test_scripted_seat_rejects_a_rule_breaking_offer_naming_the_round(units):
    bad = {1: Offer.flat(300.0, 1000.0), 2: Offer((300, 200, 300, 300, 300), (200,) * 5)}
    agents = {u: Truthful() for u in units if u != "G3"}
    agents["G3"] = Scripted(bad)
    with pytest.raises(OfferRejected, match=r"G3.*round 2: prices must be non-decreasing"):
        Experiment(agents, rounds=2, seed=0, progress=False).run()


@pytest.mark.integration
@pytest.mark.parametrize("learner, seed", [("roth-erev", 0), ("roth-erev", 1), ("q-learning", 0)])
def test_learners_raise_their_profit_against_a_fixed_field(learner, seed):
    """G6 learns against truthful rivals: its mean profit over the last 10 of 30 rounds exceeds
    that of the first 10."""
    log = Experiment(f"G6={learner},*=truthful", rounds=30, seed=seed, progress=False).run()
    p = log.profits["profit"].xs("G6", level="unit")
    assert p.iloc[-10:].mean() > p.iloc[:10].mean()


@pytest.mark.integration
def test_roth_erev_ends_on_a_better_than_average_strategy():
    """An independent payoff table (G6's profit for each strategy against truthful rivals on the
    forecast loads) against the propensities Roth-Erev has after 30 rounds."""
    mk = build_market()
    u = mk.units
    payoff = []
    agent = RothErev()
    for m, w in agent.strategies:
        offers = {n: Offer.flat(v.marginal_cost(48.0), v.capacity) for n, v in u.items()}
        offers["G6"] = strategy_offer(u["G6"], u["G6"].marginal_cost(48.0), m, w)
        payoff.append(settle(mk, clear_round(mk, offers, mk.forecast), 48.0).at["G6", "profit"])
    payoff = np.array(payoff)
    agents = {n: Truthful() for n in u if n != "G6"}
    agents["G6"] = agent
    Experiment(agents, rounds=30, seed=0, progress=False).run()
    prob = agent.probabilities()
    assert prob @ payoff > payoff.mean()               # better than the uniform start
    assert payoff[int(np.argmax(prob))] > payoff.mean()
