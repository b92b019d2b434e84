"""Mechanism properties: misreport search (IC), IR, budget balance, efficiency; VCG payments."""
import numpy as np
import pytest
import pyomo.environ as pyo

import pyomo_ecc as ecc
from pyomo_ecc.mechanisms.properties import (MarketMechanism, auction_mechanism, auction_value,
                                             budget_balance, check_ic, check_ir, clarke_payments,
                                             efficiency_ratio)
from pyomo_ecc.participants.prosumer import Prosumer

pytestmark = pytest.mark.component

# seed 002 double-auction traders: (side, true price, quantity)
TYPES = {"B1": ("bid", 12, 1), "B2": ("bid", 10, 1), "B3": ("bid", 8, 1),
         "S1": ("ask", 5, 1), "S2": ("ask", 7, 1), "S3": ("ask", 9, 1)}


def _misreports(agent, t):
    side, price, q = t
    return [(side, float(p), q) for p in np.arange(4.0, 13.01, 0.25)]


def test_pay_as_clear_has_profitable_misreport_vcg_does_not():
    pac = auction_mechanism("pay_as_clear", price_rule="midpoint")
    vcg = auction_mechanism("vcg", price_rule="midpoint")
    ic_pac = check_ic(pac, TYPES, auction_value, _misreports)
    ic_vcg = check_ic(vcg, TYPES, auction_value, _misreports)
    # positive control: S2 (cost 7) asks more and raises the midpoint price while still trading
    # (e.g. ask 7.75: p* = (7.75 + 10)/2 = 8.875 > 8.5)
    assert not ic_pac.attrs["ic"]
    assert ic_pac.loc["S2", "gain"] > 0.4
    # negative control: truth-telling is a dominant strategy under Clarke pivot payments
    assert ic_vcg.attrs["ic"], ic_vcg
    assert ic_vcg.attrs["max_gain"] <= 1e-9


def test_vcg_payments_closed_form_ir_and_budget_deficit():
    vcg = auction_mechanism("vcg")
    out = vcg(dict(TYPES))
    # buyers pay max(a_K, b_{K+1}) = max(7, 8) = 8, sellers receive min(b_K, a_{K+1}) = min(10, 9) = 9
    assert out.payments["B1"] == pytest.approx(8) and out.payments["B2"] == pytest.approx(8)
    assert out.payments["S1"] == pytest.approx(-9) and out.payments["S2"] == pytest.approx(-9)
    assert out.payments["B3"] == 0 and out.payments["S3"] == 0
    bb = budget_balance(out)
    assert bb["surplus"] == pytest.approx(-2) and not bb["weak"]  # Myerson-Satterthwaite: deficit
    assert check_ir(vcg, TYPES, auction_value).attrs["ir"]
    pac = auction_mechanism("pay_as_clear")
    bb = budget_balance(pac(dict(TYPES)))
    assert bb["strong"] and bb["weak"]
    assert check_ir(pac, TYPES, auction_value).attrs["ir"]
    # both allocate efficiently: welfare 10 of 10
    assert efficiency_ratio(out, TYPES, auction_value, 10.0) == pytest.approx(1.0)


def test_efficiency_ratio_drops_under_strategic_report():
    pac = auction_mechanism("pay_as_clear")
    reports = dict(TYPES)
    reports["S2"] = ("ask", 10.5, 1)  # withholding: the costlier S3 (9) trades instead of S2 (7)
    out = pac(reports)
    # true welfare (12 + 10) - (5 + 9) = 8 of the optimum 10
    assert efficiency_ratio(out, TYPES, auction_value, 10.0) == pytest.approx(0.8)


def _market():
    m = ecc.Market(periods=1)
    m.g1 = ecc.Producer(bus="A", a=0.05, b=20.0, p_max=200)
    m.g2 = ecc.Producer(bus="A", a=0.1, b=25.0, p_max=200)
    m.town = ecc.FixedLoad(bus="A", p=100)
    return m


def test_clarke_payments_match_independent_rebuild():
    m = _market()
    ecc.solve(m)
    lmp = ecc.prices(m).lmp.iloc[0]
    pay = clarke_payments(m)
    # independent: without g1 the load is served by g2 alone: cost 0.1*100^2 + 25*100
    others_without = 0.1 * 100 ** 2 + 25 * 100
    others_with = pyo.value(m.g2.bid_cost)
    assert pay.loc["g1", "payment"] == pytest.approx(others_with - others_without, rel=1e-7)
    # the model is restored: same prices and dispatch after the what-if solves
    assert ecc.prices(m).lmp.iloc[0] == pytest.approx(lmp, rel=1e-12)
    assert not m.g1.p[0].fixed and m.g1.active


def test_market_mechanism_pay_as_clear_vs_vcg_misreport_search():
    truth = {"g1": {"b": 20.0}, "g2": {"b": 25.0}}  # the fixed load is not strategic
    grid = {"g1": [{"b": v} for v in np.arange(20.0, 40.01, 2.5)]}
    solver = ecc.Solver("highs")  # one persistent solver for every re-solve
    for rule, profitable in (("pay_as_clear", True), ("vcg", False)):
        mech = MarketMechanism(_market(), rule=rule, solver=solver)
        ic = check_ic(mech, truth, mech.value, grid)
        if profitable:  # raising the offer raises the uniform price: market power
            assert ic.loc["g1", "gain"] > 1.0
            assert ic.loc["g1", "best_report"]["b"] > 20.0
        else:
            assert ic.loc["g1", "gain"] <= 1e-5, ic
        assert check_ir(mech, truth, mech.value).attrs["ir"]
        # truthful reports dispatch the least-cost schedule: its true cost is the optimum
        out = mech(dict(truth))
        assert -sum(mech.value(a, truth[a], out) for a in truth) == pytest.approx(
            -mech.welfare(truth), rel=1e-9)


def test_withdraw_prosumer_zeroes_its_local_demand():
    m = ecc.Market(periods=2)
    m.pv = Prosumer(bus="A", p_max=3, eta=0.9, demand=[1, 2], b=1.0)
    m.g = ecc.Producer(bus="A", a=0.1, b=10, p_max=100)
    m.d = ecc.Consumer(bus="A", a=-0.1, b=40, d_max=100)
    ecc.solve(m)
    pay = clarke_payments(m)
    assert m.pv.demand[1].value == 2  # restored
    # independent rebuild without the prosumer
    m2 = ecc.Market(periods=2)
    m2.g = ecc.Producer(bus="A", a=0.1, b=10, p_max=100)
    m2.d = ecc.Consumer(bus="A", a=-0.1, b=40, d_max=100)
    ecc.solve(m2)
    expected = pay.loc["pv", "others_cost"] - (pyo.value(m2.g.bid_cost) + pyo.value(m2.d.bid_cost))
    assert pay.loc["pv", "payment"] == pytest.approx(expected, rel=1e-7)


def test_vcg_on_p2p_market_with_charges_is_incentive_compatible():
    """The Clarke pivot counts the trade charges (costs of no participant) with the others'
    costs: with bid costs alone, producer a would gain 18 by reporting b = 4 instead of 10."""
    from pyomo_ecc.mechanisms.p2p import P2PNetwork

    m = ecc.Market(periods=1)
    m.a = ecc.Producer(bus="A", a=0.5, b=10, p_max=10)
    m.b = ecc.Producer(bus="B", a=0.5, b=12, p_max=10)
    m.c = ecc.Consumer(bus="C", a=-1, b=50, d_max=20)
    m.net = P2PNetwork(preferences=[("C", "A", 1.0)], network_charge=3.0,
                       distances=[("A", "C", 2.0), ("B", "C", 1.0), ("A", "B", 1.0)])
    truth = {"a": {"b": 10.0}, "b": {"b": 12.0}, "c": {"b": 50.0}}
    grid = {k: [{"b": v["b"] + d} for d in (-6.0, -3.0, 3.0, 6.0)] for k, v in truth.items()}
    mech = MarketMechanism(m, rule="vcg")
    ic = check_ic(mech, truth, mech.value, grid)
    assert ic.attrs["ic"], ic
    # positive control on the same market: pay-as-clear at the peer prices is manipulable
    pac = MarketMechanism(m, rule="pay_as_clear")
    assert not check_ic(pac, truth, pac.value, grid).attrs["ic"]
