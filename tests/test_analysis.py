"""Market-power and fairness analytics (seed 002 numbers, closed forms)."""
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.analysis.fairness import envy_matrix, fair_allocation
from pyomo_ecc.analysis.market_power import (ConstantElasticityDemand, LinearDemand, cournot, hhi,
                                             lerner, market_power, market_shares,
                                             pivotal_suppliers, residual_supply)
from conftest import requires_ipopt


@pytest.mark.unit
def test_seed002_hhi():
    # seed 002: shares 40/30/20/10 % -> HHI = 0.16 + 0.09 + 0.04 + 0.01 = 0.30
    assert hhi([0.4, 0.3, 0.2, 0.1]) == pytest.approx(0.30, abs=1e-12)
    assert hhi(market_shares([40, 30, 20, 10])) == pytest.approx(0.30, abs=1e-12)


@pytest.mark.unit
def test_seed002_lerner_from_cournot_equilibrium():
    # seed 002: HHI 0.30, |eps| = 5 -> share-weighted Lerner = HHI/|eps| = 0.06. Marginal costs
    # c_i = P (1 - s_i/|eps|) with P = 100 make the equilibrium shares 40/30/20/10 %; the solver
    # finds the equilibrium numerically from the first-order conditions.
    r = cournot(ConstantElasticityDemand(scale=100.0, elasticity=-5.0), c=[92, 94, 96, 98])
    assert r.residual < 1e-8
    assert r.firms["share"].to_numpy() == pytest.approx([0.4, 0.3, 0.2, 0.1], abs=1e-9)
    assert r.hhi == pytest.approx(0.30, abs=1e-9)
    assert r.elasticity == pytest.approx(-5.0, abs=1e-9)
    assert r.lerner == pytest.approx(0.06, abs=1e-9)
    assert r.lerner == pytest.approx(r.hhi / abs(r.elasticity), abs=1e-12)
    # per firm: L_i = s_i / |eps|, and lerner() from the price and marginal costs agrees
    df = lerner(r.price, r.firms["marginal_cost"], shares=r.firms["share"])
    assert df["lerner"].to_numpy() == pytest.approx(r.firms["share"].to_numpy() / 5, abs=1e-9)
    assert df.attrs["weighted"] == pytest.approx(0.06, abs=1e-9)


@pytest.mark.unit
def test_cournot_linear_demand_closed_form_and_lerner_identity():
    # n symmetric firms, P = a - bQ, cost c: q_i = (a - c)/(b (n + 1))
    r = cournot(LinearDemand(100, 2), c=[10, 10, 10])
    assert r.firms["quantity"].to_numpy() == pytest.approx([90 / 8] * 3, rel=1e-9)
    assert r.price == pytest.approx(100 - 2 * 3 * 90 / 8, rel=1e-9)
    # asymmetric, with quadratic costs: L = HHI/|eps(Q*)| still holds at the equilibrium
    r = cournot(LinearDemand(100, 1), c=[10, 20, 35], d=[0.5, 0.2, 0.0])
    assert r.residual < 1e-8
    assert r.lerner == pytest.approx(r.hhi / abs(r.elasticity), rel=1e-8)
    # a firm whose cost is above the price produces nothing
    r = cournot(LinearDemand(100, 1), c=[10, 95])
    assert r.firms["quantity"].iloc[1] == 0.0
    assert r.firms["quantity"].iloc[0] == pytest.approx(45.0, rel=1e-9)  # monopoly (a - c)/2b


@pytest.mark.parametrize("make, words", [
    (lambda: LinearDemand(100, 0), "beta must be finite and > 0"),
    (lambda: ConstantElasticityDemand(100, 0.0), "elasticity must be finite and non-zero"),
    (lambda: cournot("linear", c=[1, 2]), "has no method(s)"),
])
@pytest.mark.unit
def test_cournot_bad_demand_refused(make, words):
    with pytest.raises(ecc.InputError) as e:
        make()
    assert words in str(e.value)


@pytest.mark.unit
def test_residual_supply_index_and_pivotal_suppliers():
    df = residual_supply([500, 300, 200], demand=600, names=["A", "B", "C"])
    assert df["rsi"].to_numpy() == pytest.approx([500 / 600, 700 / 600, 800 / 600])
    assert pivotal_suppliers([500, 300, 200], 600, names=["A", "B", "C"]) == ["A"]
    assert df.attrs["rsi_min"] == pytest.approx(500 / 600)


@pytest.mark.parametrize("shares, words", [
    ([0.5, 0.3, 0.1], "must sum to 1"),
    ([0.6, 0.6, -0.2], "outside [0, 1]"),
])
@pytest.mark.unit
def test_shares_refused(shares, words):
    with pytest.raises(ecc.InputError) as e:
        hhi(shares)
    assert words in str(e.value)


@pytest.mark.unit
def test_envy_matrix():
    # two agents with linear values 3/unit and 1/unit; allocation (1, 2) with payments (1, 2)
    u = [lambda x: 3 * x, lambda x: 1 * x]
    df = envy_matrix(u, [1, 2], [1, 2], names=["hi", "lo"])
    assert df.loc["hi", "lo"] == pytest.approx((3 * 2 - 2) - (3 * 1 - 1))  # 2 > 0: envies
    assert df.loc["lo", "hi"] == pytest.approx((1 - 1) - (2 - 2))
    assert not df.attrs["envy_free"]
    assert envy_matrix(u, [1, 1], [1, 1]).attrs["envy_free"]


@pytest.mark.unit
def test_fair_allocation_welfare_and_maxmin_closed_forms():
    w = [1.0, 2.0, 4.0]
    wel = fair_allocation(10, w, objective="welfare")
    assert wel["x"].to_numpy() == pytest.approx([0, 0, 10], abs=1e-7)  # all to the largest weight
    mm = fair_allocation(10, w, objective="maxmin")
    # equal utilities w_i x_i = z with sum x = 10 -> z = 10 / sum(1/w)
    z = 10 / sum(1 / v for v in w)
    assert mm["utility"].to_numpy() == pytest.approx([z] * 3, rel=1e-7)


@pytest.mark.unit
@requires_ipopt
def test_fair_allocation_proportional_closed_form():
    # max sum log(w_i x_i) s.t. sum x = X -> x_i = X / n whatever the weights
    pf = fair_allocation(9, [1.0, 2.0, 4.0], objective="proportional")
    assert pf["x"].to_numpy() == pytest.approx([3, 3, 3], rel=1e-6)


@pytest.mark.component
def test_market_power_of_a_solved_market():
    # three stepwise units, two owned by firm F; load 150 -> price set by G2's 30 $/MWh step
    m = ecc.Market()
    m.g1 = ecc.Producer(bus="A", steps=[(100, 10)])
    m.g2 = ecc.Producer(bus="A", steps=[(100, 30)])
    m.g3 = ecc.Producer(bus="A", steps=[(40, 20)])
    m.load = ecc.FixedLoad(bus="A", p=150)
    ecc.solve(m)
    df = market_power(m, owners={"g1": "F", "g3": "F"})
    assert df.loc["F", "quantity"] == pytest.approx(140) and df.loc["g2", "quantity"] == pytest.approx(10)
    assert df.attrs["hhi"] == pytest.approx((140 / 150) ** 2 + (10 / 150) ** 2)
    # F: output-weighted (100 (30-10)/30 + 40 (30-20)/30)/140; g2 is marginal: L = 0
    assert df.loc["F", "lerner"] == pytest.approx((100 * 20 / 30 + 40 * 10 / 30) / 140)
    assert df.loc["g2", "lerner"] == pytest.approx(0.0)
    # RSI: without F (capacity 140) only 100 of 150 -> pivotal; without g2: 140/150 -> pivotal
    assert df.loc["F", "rsi"] == pytest.approx(100 / 150) and df.loc["g2", "rsi"] == pytest.approx(140 / 150)
    assert df["pivotal"].all()
