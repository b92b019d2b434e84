"""Seed 001 co-simulation market: offer rules, clearing by mutation, prices, settlement, pivotal
units (seed 001 sec. 3.1-3.3)."""
import numpy as np
import pyomo.environ as pyo
import pytest

from pyomo_ecc.simulation import (Experiment, Offer, OfferRejected, Simulator, build_market, check_offer,
                                  clear_round)
from pyomo_ecc.simulation.analysis import must_run, pivotal_table
from pyomo_ecc.simulation.market import allocation_benchmark, draw_loads, settle, seed001_units

SEED_CAP_HOURS = {7, 8, 9, 10, 17, 18, 19, 20}   # seed 001 sec. 3.3: 7:00-10:00 and 17:00-20:00


@pytest.fixture(scope="module")
def market():
    return build_market()


@pytest.fixture(scope="module")
def solver_market():
    return build_market(engine="solver")


def _cap_hours(log):
    lmp = log.lmp["lmp"]
    return set(lmp[lmp >= 1000.0 - 1e-6].index.get_level_values("t"))


@pytest.mark.unit
def test_units_follow_table2_and_table3():
    u = seed001_units()
    assert [u[n].capacity for n in sorted(u)] == [360, 600, 1000, 390, 640, 1200]
    assert u["G6"].variable_cost == 216 and u["G3"].fixed_cost == 37970
    # Table 3: coal >= 1000 MW 0.80, coal 600-1000 MW 0.88, gas <= 390 MW 0.44; rho 0.89 / 0.39
    assert {n: u[n].allocation for n in u} == {"G1": 0.44, "G2": 0.88, "G3": 0.80, "G4": 0.44,
                                               "G5": 0.88, "G6": 0.80}
    assert u["G3"].net_carbon_rate == pytest.approx(0.09) and u["G1"].net_carbon_rate == pytest.approx(-0.05)
    with pytest.raises(Exception, match="Table 3 has no allowance benchmark"):
        allocation_benchmark("gas", 500)


@pytest.mark.unit
@pytest.mark.parametrize("prices, quantities, reason", [
    ((10, 20, 15, 30, 40), (72,) * 5, "non-decreasing: segment 3 price 15 is below segment 2 price 20"),
    ((-1, 20, 25, 30, 40), (72,) * 5, "below the price floor 0"),
    ((10, 20, 25, 30, 1200), (72,) * 5, "segment 5 price 1200 is above the price cap 1000"),
    ((10, 20, 25, 2000, 1000), (72,) * 5, "segment 4 price 2000 is above the price cap 1000"),
    ((10, 20, 25, 30, 40), (72, 72, 72, 72, 70), "sum to 358 MW; they must sum to the capacity 360"),
    ((10, 20, 25, 30, 40), (100, -28, 72, 144, 72), "segment 2 quantity -28 is negative"),
    ((10, 20, 25, 30), (90,) * 4, "exactly 5 segments"),
])
def test_rule_breaking_offers_are_rejected_with_the_reason(market, prices, quantities, reason):
    offer = Offer(prices, quantities)
    assert any(reason in r for r in check_offer(offer, 360.0))
    offers = {n: Offer.flat(u.variable_cost, u.capacity) for n, u in market.units.items()}
    offers["G1"] = offer
    with pytest.raises(OfferRejected, match="G1") as e:
        clear_round(market, offers)
    assert any(reason in r for r in e.value.reasons)


@pytest.mark.unit
def test_valid_offer_passes():
    assert check_offer(Offer((0, 0, 500, 500, 1000), (0, 100, 100, 60, 100)), 360.0) == []


@pytest.mark.component
@pytest.mark.parametrize("engine", ["whatif", "solver"])
def test_rounds_mutate_the_one_model(engine):
    mk = build_market(engine=engine)
    m = mk.model
    n_con = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
    ids = (id(m), id(m.G3.step_price), id(m.load_3.p_load))
    log = Experiment("q-learning", rounds=3, seed=2, progress=False, simulator=Simulator(market=mk)).run()
    assert (id(m), id(m.G3.step_price), id(m.load_3.p_load)) == ids
    assert sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True)) == n_con
    last = log.offers.xs(3, level="round").xs("G3", level="unit")
    if engine == "whatif":      # what-ifs on the one compiled model, undone after each round
        assert mk.whatif.recompiles == 0
        assert [pyo.value(m.G3.step_price[k]) for k in m.G3.K] == [256.0] * 5   # as built
    else:                       # the Params hold the last round's offers and loads
        assert [pyo.value(m.G3.step_price[k]) for k in m.G3.K] == last["price"].tolist()
        loads = log.loads.xs(3, level="round")["load"]
        assert pyo.value(m.load_3.p_load[9]) == loads.loc[(9, 3)]


@pytest.mark.unit
def test_zero_width_segments_share_a_neighbour():
    from pyomo_ecc.simulation.market import model_segments
    o = Offer((0, 100, 200, 300, 1000), (0, 60, 0, 40, 0))
    seg = model_segments(o)
    # the leading zero and segment 3 join segment 2, segment 5 joins segment 4: the same step curve
    assert seg == [(20.0, 100.0), (20.0, 100.0), (20.0, 100.0), (20.0, 300.0), (20.0, 300.0)]
    full = Offer((1, 2, 3, 4, 5), (1, 1, 1, 1, 1))
    assert model_segments(full) == list(zip(full.quantities, full.prices))


@pytest.mark.component
def test_whatif_and_kept_solver_clear_alike(market, solver_market):
    rng = np.random.default_rng(9)
    for _ in range(3):
        offers = {n: Offer(tuple(np.sort(rng.uniform(150, 900, 5))), tuple(rng.dirichlet(np.ones(5)) * u.capacity))
                  for n, u in market.units.items()}
        loads = draw_loads(market.forecast, rng)
        a, b = clear_round(market, offers, loads), clear_round(solver_market, offers, loads)
        assert a.objective == pytest.approx(b.objective, rel=1e-9)
        assert a.lmp.to_numpy() == pytest.approx(b.lmp.reindex(a.lmp.index).to_numpy(), abs=1e-6)
        assert a.output.to_numpy() == pytest.approx(b.output.reindex(a.output.index).to_numpy(), abs=1e-6)


@pytest.mark.component
def test_lmp_kkt_partially_dispatched_segment_sets_the_price(solver_market):
    """A segment strictly between 0 and its width is marginal: its price is the LMP at its bus."""
    market = solver_market
    rng = np.random.default_rng(5)
    offers = {n: Offer(tuple(np.sort(rng.uniform(200, 600, 5))), (u.capacity / 5,) * 5)
              for n, u in market.units.items()}
    c = clear_round(market, offers, draw_loads(market.forecast, rng))
    m, checked = market.model, 0
    for n, u in market.units.items():
        blk = m.component(n)
        for t in market.hours:
            for k in blk.K:
                s, w = blk.seg[t, k].value, pyo.value(blk.step_q[k])
                if 1e-4 < s < w - 1e-4:
                    assert c.lmp.loc[(u.bus, t)] == pytest.approx(pyo.value(blk.step_price[k]), abs=1e-6)
                    checked += 1
    assert checked >= 10


@pytest.mark.component
def test_lmp_by_finite_difference(market):
    """LMP at bus 3 in hour 12 = change of the as-bid cost for 1 MW more load there."""
    offers = {n: Offer((u.variable_cost, u.variable_cost + 10, u.variable_cost + 20,
                        u.variable_cost + 30, u.variable_cost + 40), (u.capacity / 5,) * 5)
              for n, u in market.units.items()}
    base = clear_round(market, offers, market.forecast)
    up = market.forecast.copy()
    up.loc[12, 3] += 1.0
    moved = clear_round(market, offers, up)
    assert moved.objective - base.objective == pytest.approx(base.lmp.loc[(3, 12)], abs=1e-6)


@pytest.mark.component
def test_settlement_is_eq22_from_the_clearing(market):
    offers = {n: Offer.flat(u.marginal_cost(50.0), u.capacity) for n, u in market.units.items()}
    c = clear_round(market, offers, market.forecast)
    s = settle(market, c, carbon_price=50.0)
    for n, u in market.units.items():
        q = c.output.xs(n, level="unit")
        lam = c.lmp.xs(u.bus, level="bus")
        expect = sum((lam[t] - u.variable_cost) * q[t] - u.fixed_cost for t in market.hours) \
            - (u.intensity - u.allocation) * 50.0 * q.sum()
        assert s.at[n, "profit"] == pytest.approx(expect, rel=1e-12, abs=1e-6)
        if q.sum() > 0:
            assert s.at[n, "profit_per_mwh"] == pytest.approx(expect / q.sum())
    cols = ["revenue", "variable_cost", "fixed_cost", "carbon_cost"]
    assert (s["revenue"] - s["variable_cost"] - s["fixed_cost"] - s["carbon_cost"]).tolist() == \
        pytest.approx(s["profit"].tolist()) and set(cols) <= set(s.columns)


@pytest.mark.component
def test_load_error_is_standard_normal_per_bus_and_hour(market):
    rng = np.random.default_rng(11)
    eps = np.concatenate([(draw_loads(market.forecast, rng) - market.forecast).to_numpy().ravel()
                          for _ in range(40)])
    assert abs(eps.mean()) < 0.1 and abs(eps.std() - 1.0) < 0.05


@pytest.mark.component
def test_bus3_units_are_pivotal_in_the_seed_cap_hours(market):
    """G3 + G4 must run exactly in hours 7-10 and 17-20, because bus 3's load then exceeds what
    lines 1-3 and 2-3 can import; at hour 9 both lines are full: 1575.17 - (400 + 500) MW."""
    tab = pivotal_table(market)
    bus3 = tab["bus 3: G3+G4"]
    assert set(bus3[bus3 > 1e-6].index) == SEED_CAP_HOURS
    assert bus3[9] == pytest.approx(1575.17 - 900.0, abs=1e-6)
    g3 = must_run(market, "G3")
    assert set(g3[g3 > 1e-6].index) == {9, 10, 18}
    assert g3[9] == pytest.approx(1575.17 - 900.0 - 390.0, abs=1e-6)   # G4 at its 390 MW


@pytest.mark.integration
def test_truthful_never_reaches_the_cap_withholding_and_markup_do_in_peak_hours():
    for seed in (0, 1):
        truthful = Experiment("truthful", rounds=2, seed=seed, progress=False).run()
        assert truthful.lmp["lmp"].max() < 1000.0 - 1.0
    # the pivotal bus-3 units withhold 95 % of their capacity at the cap: cap prices in exactly
    # the seed's hours (their must-run exceeds the 5 % they offer at cost)
    held = Experiment("G3=withhold:0.95,G4=withhold:0.95,*=truthful", rounds=2, seed=0,
                      progress=False).run()
    assert _cap_hours(held) == SEED_CAP_HOURS
    # 90 %: hour 20's must-run (100.5 MW) fits in the 139 MW offered at cost
    held90 = Experiment("G3=withhold:0.9,G4=withhold:0.9,*=truthful", rounds=1, seed=0,
                        progress=False).run()
    assert _cap_hours(held90) == SEED_CAP_HOURS - {20}
    markup = Experiment("markup:4", rounds=1, seed=0, progress=False).run()
    assert _cap_hours(markup) == {9, 18}     # the two peaks of the bus-3 load
