"""Equilibrium search for bidding games: Cournot and a linear supply-function game in closed
form, the epsilon certificate, the Debreu-Glicksberg-Fan checks, and the seed 001 market."""
import numpy as np
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.analysis import equilibrium as eq
from pyomo_ecc.analysis.market_power import LinearDemand, cournot
from pyomo_ecc.errors import InputError

# Cournot duopoly: P = 100 - Q, costs 10 and 20 ->
# q_i = (alpha - 3 c_i + c_1 + c_2) / (3 beta): q1 = 100/3, q2 = 70/3, P = 130/3
Q1, Q2 = 100 / 3, 70 / 3


def cournot_game():
    m = ecc.Market()
    m.f1 = ecc.Producer(bus="A", b=0, p_max=100)     # quantities offered at price 0
    m.f2 = ecc.Producer(bus="A", b=0, p_max=100)
    m.town = ecc.Consumer(bus="A", a=-0.5, b=100, d_max=200)   # marginal utility 100 - d
    return m, eq.BiddingGame(m, [eq.withhold(m.f1), eq.withhold(m.f2)],
                             true_params={"f1": {"b": 10}, "f2": {"b": 20}})


@pytest.mark.component
def test_best_response_dynamics_reach_cournot():
    m, g = cournot_game()
    r = g.solve(grid=11, tol=1e-7)
    ref = cournot(LinearDemand(100, 1), c=[10, 20])
    q = {f: 100 * (1 - r.profile[f]) for f in ("f1", "f2")}
    assert q["f1"] == pytest.approx(Q1, abs=1e-4) and q["f2"] == pytest.approx(Q2, abs=1e-4)
    assert [q["f1"], q["f2"]] == pytest.approx(list(ref.firms["quantity"]), abs=1e-4)
    # profits (P - c_i) q_i at P = 130/3
    assert r.payoffs["f1"] == pytest.approx((130 / 3 - 10) * Q1, rel=1e-5)
    assert r.payoffs["f2"] == pytest.approx((130 / 3 - 20) * Q2, rel=1e-5)
    assert r.converged and r.eps <= 1e-3
    # the model is left as built
    assert m.f1.p_max[0].value == 100 and m.f1.b.value == 0


@pytest.mark.component
def test_damped_and_fictitious_variants():
    _, g = cournot_game()
    r = g.solve(method="damped", damping=0.7, grid=11, tol=1e-4, max_iter=40, certify=False)
    assert r.converged
    assert 100 * (1 - r.profile["f1"]) == pytest.approx(Q1, abs=0.05)
    assert 100 * (1 - r.profile["f2"]) == pytest.approx(Q2, abs=0.05)
    # fictitious play (belief = mean of past play): the belief approaches Cournot
    start = {"f1": 0.5, "f2": 0.5}
    r = g.solve(method="fictitious", start=start, grid=11, refine=False, tol=1e-9, max_iter=12,
                certify=False)
    target = np.array([1 - Q1 / 100, 1 - Q2 / 100])
    d0 = np.abs(np.array([0.5, 0.5]) - target).max()
    d = np.abs(np.array([r.profile["f1"], r.profile["f2"]]) - target).max()
    assert d < 0.5 * d0


@pytest.mark.component
def test_certificate_equals_closed_form_best_response_gain():
    # at q1 = q2 = 50 the price is 0: profits -500, -1000. Best replies: q1 = (100-10-50)/2 = 20
    # (P = 30, profit 400, gain 900); q2 = (100-20-50)/2 = 15 (P = 35, profit 225, gain 1225)
    _, g = cournot_game()
    cert = g.certificate({"f1": 0.5, "f2": 0.5}, rng=np.random.default_rng(1))
    assert cert.loc["f1", "payoff"] == pytest.approx(-500, abs=1e-6)
    assert cert.loc["f1", "gain"] == pytest.approx(900, rel=1e-6)
    assert cert.loc["f2", "gain"] == pytest.approx(1225, rel=1e-6)
    assert cert.loc["f1", "best_deviation"] == pytest.approx(0.8, abs=1e-5)
    assert cert.attrs["eps"] == pytest.approx(1225, rel=1e-6)


@pytest.mark.component
def test_linear_supply_function_game_solved_by_hand():
    # demand D(p) = 100 - p, costs q^2/2, offers a_i q^2 (supply q = beta_i p, beta = 1/(2a)).
    # Residual demand slope s_i = 1 + beta_j; the best reply through the origin is
    # beta_i = s_i / (1 + s_i) (FOC q (1 + c s_i) = s_i p with c = 1), so the symmetric
    # equilibrium solves beta^2 + beta - 1 = 0: beta* = (sqrt 5 - 1)/2, a* = 1/(sqrt 5 - 1),
    # price p* = 100/(1 + 2 beta*) = 100/sqrt 5.
    m = ecc.Market()
    m.f1 = ecc.Producer(bus="A", a=0.5, b=0, p_max=200)
    m.f2 = ecc.Producer(bus="A", a=0.5, b=0, p_max=200)
    m.town = ecc.Consumer(bus="A", a=-0.5, b=100, d_max=200)
    g = eq.BiddingGame(m, [eq.slope(m.f1, 0.1, 5), eq.slope(m.f2, 0.1, 5)])
    r = g.solve(grid=11, tol=1e-8)
    a_star = 1 / (np.sqrt(5) - 1)
    assert r.profile["f1"] == pytest.approx(a_star, abs=1e-6)
    assert r.profile["f2"] == pytest.approx(a_star, abs=1e-6)
    g.payoffs(r.profile)
    assert float(g.lmp.iloc[0]) == pytest.approx(100 / np.sqrt(5), abs=1e-5)
    g.restore()
    assert r.eps < 1e-6 * abs(r.payoffs["f1"])


@pytest.mark.component
def test_dgf_conditions_hold_for_cournot_and_fail_for_linear_offers():
    _, g = cournot_game()
    df = g.dgf_conditions(rng=np.random.default_rng(2), n_profiles=2, n_points=7)
    assert df.attrs["holds"] and df["compact_convex"].all()
    # two linear offers against a fixed load of 150: the price jumps from the rival's offer to
    # one's own when one's markup crosses it, profits jump: not continuous
    m = ecc.Market()
    m.g1 = ecc.Producer(bus="A", b=20, p_max=100)
    m.g2 = ecc.Producer(bus="A", b=30, p_max=100)
    m.load = ecc.FixedLoad(bus="A", p=150)
    g2 = eq.BiddingGame(m, [eq.markup(m.g1, 0, 1), eq.markup(m.g2, 0, 1)])
    df2 = g2.dgf_conditions(profiles=[{"g1": 0.0, "g2": 0.0}], n_points=9)
    assert not df2.loc["g1", "continuous"] and not df2.attrs["holds"]


@pytest.mark.unit
def test_strategy_sets_are_checked():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=20, p_max=100)
    m.load = ecc.FixedLoad(bus="A", p=50)
    with pytest.raises(InputError, match="compact interval"):
        eq.markup(m.g, 0, np.inf)
    with pytest.raises(InputError, match="linear"):
        eq.slope(m.g, 0.1, 1)
    with pytest.raises(InputError, match="0 <= lo < hi <= 1"):
        eq.withhold(m.g, 0, 1.5)
    with pytest.raises(InputError, match="one strategy per player"):
        eq.BiddingGame(m, [eq.markup(m.g), eq.withhold(m.g)])


@pytest.mark.integration
def test_seed001_units_that_gain_by_raising_offers():
    m = ecc.load_case("seed001_3bus").build()
    units = [m.component(f"G{i}") for i in range(1, 7)]
    g = eq.BiddingGame(m, [eq.markup(u, 0.0, 1.0) for u in units])
    gains = eq.unilateral_gains(g, [0.1, 0.25])
    # sum of the hourly components = the difference of two independent whole-day payoffs
    truthful = {u.local_name: 0.0 for u in units}
    base = g.payoffs(truthful)
    dev = dict(truthful, G6=0.25)
    assert gains.loc[("G6", 0.25)]["gain"].sum() == pytest.approx(
        g.payoffs(dev)["G6"] - base["G6"], rel=1e-9, abs=1e-6)
    # a unit gains in an hour only if it sells there at a price above its true cost
    by_t = g.payoffs(dev, by_period=True)
    import pyomo.environ as pyo
    lam = g.lmp
    pos = gains.loc[("G6", 0.25)]
    for t, row in pos.iterrows():
        if row["gain"] > 1e-6:
            assert pyo.value(m.G6.p[t]) > 0 and float(lam[(m.G6.bus, t)]) > 216.0
    assert (pos["gain"] > 1e-6).any()        # the cheapest unit does gain in some hours
    # the picture shows the best gain per unit and hour
    import matplotlib
    matplotlib.use("Agg")
    ax = eq.plot_gains(gains)
    table = eq.best_gains(gains)
    assert np.asarray(ax.images[0].get_array()) == pytest.approx(table.to_numpy())
    assert table.loc["G6"].to_numpy() == pytest.approx(
        np.maximum(0, gains.xs("G6", level="player")["gain"].unstack("t").max().to_numpy()))
    g.restore()
    del by_t
    # equilibrium search: the certificate's best deviation reproduces its payoff independently
    r = g.solve(grid=5, refine=False, max_iter=2, cert_grid=5, rng=np.random.default_rng(0))
    c = r.certificate
    worst = c["gain"].idxmax()
    prof = dict(r.profile)
    prof[worst] = c.loc[worst, "best_deviation"]
    assert g.payoffs(prof)[worst] == pytest.approx(c.loc[worst, "best_payoff"], rel=1e-9)
    g.restore()


@pytest.mark.integration
def test_whatif_engine_and_plain_resolve_agree_on_seed001():
    rng = np.random.default_rng(5)
    profs = [{f"G{i}": float(x) for i, x in zip(range(1, 7), rng.uniform(0, 1, 6))} for _ in range(3)]
    pays = {}
    for engine in ("whatif", "resolve"):
        m = ecc.load_case("seed001_3bus").build()
        g = eq.BiddingGame(m, [eq.markup(m.component(f"G{i}"), 0, 1) for i in range(1, 7)],
                           engine=engine)
        pays[engine] = [g.payoffs(p) for p in profs]
    for a, b in zip(pays["whatif"], pays["resolve"]):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-6)


@pytest.mark.integration
def test_seed001_study_script_tables_are_consistent():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "models" / "bidding_seed001.py"
    spec = importlib.util.spec_from_file_location("bidding_seed001", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t = mod.study(markups=(0.25, 1.0), grid=3, max_iter=2, cert_grid=5, dgf_profiles=1)
    units, gains = t["units"], t["gains"]
    assert list(units.index) == list(mod.UNITS) == list(gains.index)
    # the hours listed are those with a positive best gain; the largest is the table's maximum
    for u in mod.UNITS:
        hours = [str(h) for h, g in gains.loc[u].items() if g > 1e-6]
        assert units.loc[u, "hours"] == (", ".join(hours) if hours else "none")
        assert units.loc[u, "largest_hourly_gain"] == pytest.approx(gains.loc[u].max())
    # the whole-day gain of the best daily markup, recomputed by two independent day solves
    _, g = mod.build_game()
    truthful = {u: 0.0 for u in mod.UNITS}
    base = g.payoffs(truthful)
    for u in ("G3", "G6"):
        dev = dict(truthful, **{u: units.loc[u, "best_markup"]})
        assert units.loc[u, "daily_gain"] == pytest.approx(g.payoffs(dev)[u] - base[u], rel=1e-9, abs=1e-6)
    assert units.loc["G6", "daily_gain"] > 0 and units.loc["G1", "hours"] == "none"
    # the certificate's eps is its largest gain, and its best deviation pays what it says
    s = t["equilibrium search"]
    assert s.attrs["eps"] == pytest.approx(s["gain"].max())
    worst = s["gain"].idxmax()
    prof = dict(s["strategy"])
    prof[worst] = s.loc[worst, "best_deviation"]
    assert g.payoffs(prof)[worst] == pytest.approx(s.loc[worst, "best_payoff"], rel=1e-9)
    assert t["dgf"]["compact_convex"].all()
    assert "Debreu-Glicksberg-Fan" in mod.report(t)
    g.restore()


def _two_period_monopoly():
    # a step-offer unit (30 MW then 40 MW, true cost 10) against a price-taking fringe with
    # marginal cost q (cost q^2 / 2) and loads 50, 110: the unit's residual demand is P = L - q
    m = ecc.Market(periods=2)
    m.g = ecc.Producer(bus="A", steps=[(30, 10), (40, 10)])
    m.fringe = ecc.Producer(bus="A", a=0.5, b=0, p_max=1000)
    m.town = ecc.FixedLoad(bus="A", p=[50, 110])
    return m


@pytest.mark.component
def test_vector_step_prices_reach_the_monopoly_profit_of_every_hour():
    # per hour the monopoly output is q* = (L - 10)/2 at P* = (L + 10)/2: 20 MW at 30 (step 1
    # marginal) and 50 MW at 60 (step 2 marginal), profit 20 x 20 + 50 x 50 = 2900. One price s
    # for both steps (offer_price) serves both hours with one curve: for s >= 40 the unit sets
    # hour 2's price, (s - 10)(50 - s) + (s - 10)(110 - s), at most 2450 (s = 45); for s <= 40
    # it sells its 70 MW at the fringe's 40 in hour 2, (s - 10)(50 - s) + 2100: 2500 at s = 30
    m = _two_period_monopoly()
    g = eq.BiddingGame(m, [eq.step_prices(m.g, 0.0, 100.0)])
    r = g.solve(grid=11, tol=1e-7, rng=np.random.default_rng(0))
    assert r.profile["g"] == pytest.approx((30.0, 60.0), abs=1e-5)
    assert r.payoffs["g"] == pytest.approx(2900.0, rel=1e-7)
    assert r.converged and r.eps <= 1e-6 * 2900
    assert list(r.history.columns) == ["g[1]", "g[2]"]
    # the offer written into the model is the running maximum of the vector
    assert [v for _, v in g.strategies["g"].assign((50.0, 20.0))] == [50.0, 50.0]
    assert m.g.step_price[0].value == 10 and m.g.step_price[1].value == 10    # restored
    m2 = _two_period_monopoly()
    r1 = eq.BiddingGame(m2, [eq.offer_price(m2.g, 0.0, 100.0)]).solve(grid=11, tol=1e-7, certify=False)
    assert r1.profile["g"] == pytest.approx(30.0, abs=1e-5)
    assert r1.payoffs["g"] == pytest.approx(2500.0, rel=1e-7)
    # truthful (10, 10): hour 1 clears at 10, hour 2 at 40 with the unit full: profit 30 x 70 =
    # 2100; a flat offer at 45 (unilateral_gains plays a value as a flat vector) gains 350
    gains = eq.unilateral_gains(g, [45.0], by_period=False)
    assert gains.loc[("g", 45.0), "gain"] == pytest.approx(2450.0 - 2100.0, rel=1e-7)
    d = g.dgf_conditions(rng=np.random.default_rng(1), n_profiles=2, n_points=7)
    assert d.loc["g", "compact_convex"]
    # the certificate searches joint deviations of the vector: from (45, 45) it finds 2900
    c = g.certificate({"g": (45.0, 45.0)}, grid=11, rng=np.random.default_rng(2))
    assert c.loc["g", "best_payoff"] == pytest.approx(2900.0, rel=1e-6)
    assert c.loc["g", "gain"] == pytest.approx(2900.0 - 2450.0, rel=1e-6)
    with pytest.raises(InputError, match="needs a step offer"):
        eq.step_prices(m.fringe, 0.0, 100.0)
    with pytest.raises(InputError, match="needs 2 value"):
        g.payoffs({"g": 30.0})
