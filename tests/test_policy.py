"""Component tests of the policy blocks: prices from duals checked by hand-derived KKT
conditions and by finite differences of the total cost; bad input refused with a clear message.

Sign convention under test: a price is the fall (cap, issuance cap, standard) or rise (quota) in
total cost per unit of the constrained quantity, reported positive.
"""
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.policy import (CarbonCap, CarbonCost, CertificateCap, CertificatePrice,
                              CertificateQuota, IntensityStandard, policy_terms)

pytestmark = pytest.mark.component


def price(m, name):
    df = ecc.price_frame(m, name)
    assert len(df) == 1
    return float(df[name].iloc[0])


def two_emitters(cap=65.0, load=100.0, **market):
    m = ecc.Market(**market)
    m.coal = ecc.Producer(bus="A", b=20, p_max=100, emission_intensity=0.9)
    m.gas = ecc.Producer(bus="A", b=40, p_max=100, emission_intensity=0.4)
    m.load = ecc.FixedLoad(bus="A", p=load)
    m.cap = CarbonCap(cap=cap)
    return m


def test_carbon_cap_kkt_hand_case():
    # coal x, gas 100-x; 0.9x + 0.4(100-x) <= 65 -> x = 50. Both interior:
    # 20 + 0.9 pi = lambda = 40 + 0.4 pi -> pi = 40, lambda = 56.
    m = two_emitters()
    ecc.solve(m)
    assert m.coal.p[0].value == pytest.approx(50.0)
    assert price(m, "carbon_price") == pytest.approx(40.0)
    lam = ecc.prices(m)["lmp"].iloc[0]
    assert lam == pytest.approx(56.0)
    # fossil energy price = marginal cost + intensity x carbon price, for each interior unit
    for g, mc in ((m.coal, 20.0), (m.gas, 40.0)):
        assert lam == pytest.approx(mc + g.emission_intensity.value * 40.0)
    assert pyo.value(m.cap.emissions) == pytest.approx(65.0)


def test_nonbinding_cap_has_zero_price():
    m = two_emitters(cap=500.0, load=80.0)     # coal alone, interior: lambda = 20
    ecc.solve(m)
    assert price(m, "carbon_price") == pytest.approx(0.0, abs=1e-9)
    assert ecc.prices(m)["lmp"].iloc[0] == pytest.approx(20.0)


@pytest.mark.parametrize("dt, unit", [(1.0, "MW"), (0.5, "MW"), (0.25, "GW")])
def test_carbon_price_equals_finite_difference_of_total_cost(dt, unit):
    s = 1e-3 if unit == "GW" else 1.0          # power units per MW
    m = ecc.Market(periods=3, dt=dt, power_unit=unit)
    m.coal = ecc.Producer(bus="A", a=0.02 / s**2, b=20 / s, p_max=300 * s, emission_intensity=0.95)
    m.gas = ecc.Producer(bus="A", a=0.05 / s**2, b=35 / s, p_max=200 * s, emission_intensity=0.4)
    m.wind = ecc.Producer(bus="A", a=0.01 / s**2, b=45 / s, p_max=80 * s)
    m.load = ecc.FixedLoad(bus="A", p=[150 * s, 250 * s, 200 * s])
    cap = 0.8 * dt * (0.95 * 150 + 0.95 * 250 + 0.95 * 200)   # binding
    m.cap = CarbonCap(cap=cap)
    solver = ecc.Solver()
    solver.solve(m)
    pi = price(m, "carbon_price")
    assert pi > 1.0
    base = pyo.value(m.obj)
    h = 1e-3
    m.cap.cap = cap + h
    solver.solve(m)
    up = pyo.value(m.obj)
    m.cap.cap = cap - h
    solver.solve(m)
    down = pyo.value(m.obj)
    fd = -(up - down) / (2 * h)              # fall in total cost per extra tonne of cap
    assert pi == pytest.approx(fd, rel=1e-5)
    assert fd == pytest.approx(-(up - base) / h, rel=1e-3)


def test_cap_scope_of_participants_and_periods():
    m = ecc.Market(periods=2)
    m.coal = ecc.Producer(bus="A", b=20, p_max=100, emission_intensity=0.9)
    m.gas = ecc.Producer(bus="A", b=40, p_max=100, emission_intensity=0.4)
    m.load = ecc.FixedLoad(bus="A", p=80)
    m.cap = CarbonCap(cap=45, participants=["coal"], periods=[1])   # coal <= 50 MW in period 1
    ecc.solve(m)
    assert [m.coal.p[t].value for t in m.T] == pytest.approx([80.0, 50.0])
    lmp = ecc.prices(m)["lmp"]
    # period 1: coal interior with 20 + 0.9 pi = 40 (gas marginal, outside the scope)
    assert price(m, "carbon_price") == pytest.approx(20 / 0.9)
    assert lmp.tolist() == pytest.approx([20.0, 40.0])
    assert list(m.cap.members) == ["coal"]


def test_infeasible_cap_names_the_cap_and_the_shortfall():
    # least possible emissions: gas at its 60 MW limit (24 t) + coal 40 MW (36 t) = 60 t;
    # the cap is 50 t: 10 t short.
    m = ecc.Market()
    m.coal = ecc.Producer(bus="A", b=20, p_max=100, emission_intensity=0.9)
    m.gas = ecc.Producer(bus="A", b=40, p_max=60, emission_intensity=0.4)
    m.load = ecc.FixedLoad(bus="A", p=100)
    m.cap = CarbonCap(cap=50)
    with pytest.raises(ecc.InfeasibleMarketError) as err:
        ecc.solve(m)
    conflicts = err.value.conflicts
    assert list(conflicts.index) == ["cap.ineq_emissions_cap"]
    assert conflicts.loc["cap.ineq_emissions_cap", "violation"] == pytest.approx(10.0)
    assert "cap.ineq_emissions_cap" in str(err.value) and "10" in str(err.value)
    assert "tCO2" in m.cap.ineq_emissions_cap.doc
    assert "shortfall of allowances in tCO2" in str(err.value)


def test_carbon_cost_with_free_allocation_seed001():
    # Seed 001 Table 2 units 6 (coal, 1200 MW, 216 yuan/MWh) and 4 (gas, 390 MW, 397 yuan/MWh);
    # Table 3 benchmarks: coal >= 1000 MW 0.8 t/MWh, gas <= 390 MW 0.44 t/MWh; intensities
    # 0.89 / 0.39 t/MWh. Eq. 21: C_i = (rho_i - A_i) p_c sum_t Q_it, p_c = 48 yuan/t.
    m = ecc.Market(periods=2, currency="yuan")
    m.u6 = ecc.Producer(bus=1, b=216, p_max=1200, emission_intensity=0.89, allocation=0.8)
    m.u4 = ecc.Producer(bus=1, b=397, p_max=390, emission_intensity=0.39, allocation=0.44)
    m.load = ecc.FixedLoad(bus=1, p=[1000, 1400])
    m.carbon = CarbonCost(price=48)
    ecc.solve(m)
    q6 = sum(m.u6.p[t].value for t in m.T)
    q4 = sum(m.u4.p[t].value for t in m.T)
    assert (q6, q4) == pytest.approx((2200.0, 200.0))
    assert pyo.value(m.carbon.carbon_cost["u6"]) == pytest.approx((0.89 - 0.8) * 48 * 2200)
    assert pyo.value(m.carbon.carbon_cost["u4"]) == pytest.approx((0.39 - 0.44) * 48 * 200)
    assert pyo.value(m.carbon.carbon_cost["u4"]) < 0          # earns from surplus allowances
    # the marginal unit's price includes its net carbon cost per MWh
    lmp = ecc.prices(m)["lmp"]
    assert lmp[(1, 0)] == pytest.approx(216 + 0.09 * 48)
    assert lmp[(1, 1)] == pytest.approx(397 - 0.05 * 48)
    terms = policy_terms(m)
    assert terms.loc[("u6", 1), "free_allocation"] == pytest.approx(0.8 * 1200)


@pytest.mark.parametrize("dt, unit", [(0.5, "MW"), (0.25, "GW")])
def test_free_allocation_is_per_mwh_for_any_period_length_and_power_unit(dt, unit):
    # the seed 001 case above with half-hour / quarter-hour periods, optionally in GW: the
    # allowances, the carbon cost and the price per MWh must not depend on the units.
    s = 1e-3 if unit == "GW" else 1.0          # power units per MW
    m = ecc.Market(periods=2, dt=dt, power_unit=unit, currency="yuan")
    m.u6 = ecc.Producer(bus=1, b=216 / s, p_max=1200 * s, emission_intensity=0.89, allocation=0.8)
    m.u4 = ecc.Producer(bus=1, b=397 / s, p_max=390 * s, emission_intensity=0.39, allocation=0.44)
    m.load = ecc.FixedLoad(bus=1, p=[1000 * s, 1400 * s])
    m.carbon = CarbonCost(price=48)
    ecc.solve(m)
    # MWh: u6 (1000 + 1200) dt, u4 200 dt
    assert pyo.value(m.carbon.carbon_cost["u6"]) == pytest.approx((0.89 - 0.8) * 48 * 2200 * dt)
    assert pyo.value(m.carbon.carbon_cost["u4"]) == pytest.approx((0.39 - 0.44) * 48 * 200 * dt)
    terms = policy_terms(m)
    assert terms.loc[("u6", 1), "free_allocation"] == pytest.approx(0.8 * 1200 * dt)
    assert terms.loc[("u4", 1), "emissions"] == pytest.approx(0.39 * 200 * dt)
    lmp = ecc.prices(m)["lmp"]
    assert lmp[(1, 0)] == pytest.approx(216 + 0.09 * 48)
    assert lmp[(1, 1)] == pytest.approx(397 - 0.05 * 48)


def test_carbon_cost_changes_the_merit_order():
    # without a carbon price coal (20) runs first; at 50/t coal costs 20 + 0.9*50 = 65 and gas
    # 40 + 0.4*50 = 60: gas runs first.
    m = two_emitters(cap=1e6)
    m.carbon = CarbonCost(price=50)
    ecc.solve(m)
    assert m.gas.p[0].value == pytest.approx(100.0)
    assert ecc.prices(m)["lmp"].iloc[0] == pytest.approx(60.0)


def test_intensity_standard_hand_case():
    # coal (0.9 t/MWh, 20) and wind (0, 30), load 100, standard R = 0.45 t/MWh:
    # 0.9 c <= 0.45 * 100 -> c = 50; coal 20 + (0.9-0.45) pi = lambda = 30 - 0.45 pi
    # -> pi = 10/0.9, lambda = 25.
    m = ecc.Market()
    m.coal = ecc.Producer(bus="A", b=20, p_max=100, emission_intensity=0.9)
    m.wind = ecc.Producer(bus="A", b=30, p_max=100)
    m.load = ecc.FixedLoad(bus="A", p=100)
    m.std = IntensityStandard(rate=0.45)
    s = ecc.Solver()
    s.solve(m)
    assert m.coal.p[0].value == pytest.approx(50.0)
    pi = price(m, "intensity_price")
    assert pi == pytest.approx(10 / 0.9)
    assert ecc.prices(m)["lmp"].iloc[0] == pytest.approx(25.0)
    # finite difference: allow h more tonnes of excess emissions
    base = pyo.value(m.obj)
    m.std.ineq_intensity.set_value(m.std.emissions - m.std.rate * m.std.output_mwh <= 1e-3)
    s.solve(m)
    assert -(pyo.value(m.obj) - base) / 1e-3 == pytest.approx(pi, rel=1e-6)


def quota_market(alpha=0.3):
    m = ecc.Market()
    m.coal = ecc.Producer(bus="A", b=20, p_max=200)
    m.wind = ecc.Producer(bus="A", b=30, p_max=200, certificate_rate=1.0)
    m.shop = ecc.Consumer(bus="A", a=-0.5, b=100, d_max=200)
    m.town = ecc.FixedLoad(bus="A", p=50)
    m.rps = CertificateQuota(alpha=alpha)
    return m


def test_certificate_quota_kkt_consumer_price():
    # coal interior: lambda = 20; wind interior: 30 = lambda + pi_G -> pi_G = 10.
    # Consumer: U'(d) = 100 - d = lambda + alpha pi_G = 23 -> d = 77.
    # Wind = alpha (77 + 50) = 38.1 certificates.
    m = quota_market()
    s = ecc.Solver()
    s.solve(m)
    lam = ecc.prices(m)["lmp"].iloc[0]
    pig = price(m, "certificate_price")
    assert (lam, pig) == pytest.approx((20.0, 10.0))
    assert m.shop.d[0].value == pytest.approx(77.0)
    assert 100 - m.shop.d[0].value == pytest.approx(lam + 0.3 * pig)   # consumer price
    assert m.wind.p[0].value == pytest.approx(0.3 * 127)
    # finite difference: one more MWh of obligated load costs lambda + alpha pi_G
    base = pyo.value(m.obj)
    m.town.p_load[0] = 50 + 1e-3
    s.solve(m)
    assert (pyo.value(m.obj) - base) / 1e-3 == pytest.approx(20 + 0.3 * 10, rel=1e-6)


@pytest.mark.parametrize("dt, unit", [(0.5, "MW"), (0.25, "GW")])
def test_certificate_price_is_per_certificate_for_any_period_length_and_power_unit(dt, unit):
    # the hand case above in other units: certificates are counted per MWh, so the price stays
    # 10 per certificate, lambda 20 per MWh, d = 77 MW, wind = 0.3 * 127 MW.
    s = 1e-3 if unit == "GW" else 1.0          # power units per MW
    m = ecc.Market(dt=dt, power_unit=unit)
    m.coal = ecc.Producer(bus="A", b=20 / s, p_max=200 * s)
    m.wind = ecc.Producer(bus="A", b=30 / s, p_max=200 * s, certificate_rate=1.0)
    m.shop = ecc.Consumer(bus="A", a=-0.5 / s**2, b=100 / s, d_max=200 * s)
    m.town = ecc.FixedLoad(bus="A", p=50 * s)
    m.rps = CertificateQuota(alpha=0.3)
    ecc.solve(m)
    assert ecc.prices(m)["lmp"].iloc[0] == pytest.approx(20.0)
    assert price(m, "certificate_price") == pytest.approx(10.0)
    assert m.shop.d[0].value == pytest.approx(77.0 * s)
    assert m.wind.p[0].value == pytest.approx(0.3 * 127 * s)
    assert pyo.value(m.rps.certificates) == pytest.approx(0.3 * 127 * dt)
    assert pyo.value(m.rps.consumption) == pytest.approx(127 * dt)


def test_quota_scope_excludes_unobligated_consumers():
    # only the fixed load is obligated: wind >= 0.3 * 50 = 15; the shop pays lambda = 20 only
    m2 = ecc.Market()
    m2.coal = ecc.Producer(bus="A", b=20, p_max=200)
    m2.wind = ecc.Producer(bus="A", b=30, p_max=200, certificate_rate=1.0)
    m2.shop = ecc.Consumer(bus="A", a=-0.5, b=100, d_max=200)
    m2.town = ecc.FixedLoad(bus="A", p=50)
    m2.rps = CertificateQuota(alpha=0.3, consumers=["town"])
    ecc.solve(m2)
    assert m2.wind.p[0].value == pytest.approx(15.0)
    assert m2.shop.d[0].value == pytest.approx(80.0)          # shop pays only lambda = 20


def test_certificate_cap_seed000_form():
    # wind (10) cheaper than coal (20); alpha * wind <= Z: 0.5 w <= 20 -> w = 40.
    # wind interior: 10 + alpha * pi_cap = lambda = 20 -> pi_cap = 20 per unit of cap.
    m = ecc.Market()
    m.coal = ecc.Producer(bus="A", b=20, p_max=200)
    m.wind = ecc.Producer(bus="A", b=10, p_max=200, certificate_rate=1.0)
    m.load = ecc.FixedLoad(bus="A", p=100)
    m.zcap = CertificateCap(cap=20, alpha=0.5)
    s = ecc.Solver()
    s.solve(m)
    assert m.wind.p[0].value == pytest.approx(40.0)
    pc = price(m, "certificate_cap_price")
    assert pc == pytest.approx(20.0)
    base = pyo.value(m.obj)
    m.zcap.cap = 20 + 1e-3
    s.solve(m)
    assert -(pyo.value(m.obj) - base) / 1e-3 == pytest.approx(pc, rel=1e-6)


def test_exogenous_certificate_price():
    # wind 30 - 15 = 15 < coal 20: wind first up to its 60 MW; coal marginal; consumers with
    # alpha = 0.2 pay 0.2 * 15 = 3 per MWh more: the objective changes by 3 per MWh of load.
    m = ecc.Market()
    m.coal = ecc.Producer(bus="A", b=20, p_max=200)
    m.wind = ecc.Producer(bus="A", b=30, p_max=60, certificate_rate=1.0)
    m.load = ecc.FixedLoad(bus="A", p=100)
    m.gec = CertificatePrice(price=15, alpha=0.2)
    s = ecc.Solver()
    s.solve(m)
    assert m.wind.p[0].value == pytest.approx(60.0)
    assert pyo.value(m.gec.policy_cost) == pytest.approx(15 * (0.2 * 100 - 60))
    base = pyo.value(m.obj)
    m.load.p_load[0] = 100 + 1e-3
    s.solve(m)
    assert (pyo.value(m.obj) - base) / 1e-3 == pytest.approx(20 + 3, rel=1e-6)


@pytest.mark.parametrize("make, words", [
    (lambda m: setattr(m, "g2", ecc.Producer(bus="A", b=1, p_max=1, emission_intensity=-0.1)),
     "option 'emission_intensity': must be >= 0"),
    (lambda m: setattr(m, "g2", ecc.Producer(bus="A", b=1, p_max=1, certificate_rate=-1)),
     "option 'certificate_rate': must be >= 0"),
    (lambda m: setattr(m, "q", CertificateQuota(alpha=1.2)), "option 'alpha': must be in [0, 1]"),
    (lambda m: setattr(m, "q", CertificateQuota(alpha=-0.1)), "option 'alpha': must be in [0, 1]"),
    (lambda m: setattr(m, "q", CertificateCap(cap=5, alpha=2)), "option 'alpha': must be in [0, 1]"),
    (lambda m: setattr(m, "c", CarbonCap(cap=-1)), "option 'cap': must be >= 0"),
    (lambda m: setattr(m, "c", CarbonCap()), "option 'cap' (tCO2) is required"),
    (lambda m: setattr(m, "c", CarbonCost(price=-3)), "option 'price': must be >= 0"),
    (lambda m: setattr(m, "c", IntensityStandard(rate=-0.2)), "option 'rate': must be >= 0"),
])
def test_bad_policy_input_is_refused(make, words):
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=1, p_max=10, emission_intensity=0.5)
    with pytest.raises(ecc.InputError) as err:
        make(m)
    assert words in str(err.value)


@pytest.mark.parametrize("block, words", [
    (lambda: CarbonCap(cap=5, participants=["nobody"]), "unknown participant(s) ['nobody']"),
    (lambda: CarbonCap(cap=5, participants=["wind"]), "participant 'wind' in option 'participants' has no emissions"),
    (lambda: CarbonCap(cap=5, periods=[7]), "unknown period(s) [7]"),
    (lambda: CertificateQuota(alpha=0.2, producers=["g"]), "has no certificates"),
    (lambda: CertificateQuota(alpha=0.2, consumers=["wind"]),
     "participant 'wind' in option 'consumers' is not a demand participant"),
    (lambda: IntensityStandard(rate=0.3, participants=["load"]),
     "participant 'load' in option 'participants' is not a supply participant"),
])
def test_bad_scope_is_refused_naming_the_item(block, words):
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=1, p_max=10, emission_intensity=0.5)
    m.wind = ecc.Producer(bus="A", b=2, p_max=10, certificate_rate=1.0)
    m.load = ecc.FixedLoad(bus="A", p=5)
    m.pol = block()
    with pytest.raises(ecc.InputError) as err:
        ecc.solve(m)
    assert words in str(err.value) and "'pol'" in str(err.value)


@pytest.mark.parametrize("block, words", [
    (lambda: CarbonCost(price=30), "no participant in the scope has emissions or a free allocation"),
    (lambda: CertificateQuota(alpha=0.2), "no participant in the scope issues certificates"),
    (lambda: CertificatePrice(price=5), "no participant in the scope issues certificates"),
])
def test_policy_with_an_empty_scope_is_refused(block, words):
    # a market with neither emitters nor issuers: these policies would silently do nothing
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=1, p_max=10)
    m.load = ecc.FixedLoad(bus="A", p=5)
    m.pol = block()
    with pytest.raises(ecc.InputError) as err:
        ecc.solve(m)
    assert words in str(err.value) and "'pol'" in str(err.value)


def test_exogenous_price_with_an_obligation_but_no_obligated_consumer_is_refused():
    m = ecc.Market()
    m.wind = ecc.Producer(bus="A", b=2, p_max=10, certificate_rate=1.0)
    m.pol = CertificatePrice(price=5, alpha=0.3)
    with pytest.raises(ecc.InputError, match="option 'alpha' = 0.3 but no obligated consumer"):
        ecc.solve(m)


def test_policy_added_after_the_solve_is_refused():
    m = two_emitters(cap=500.0, load=80.0)
    ecc.solve(m)
    with pytest.raises(ecc.InputError, match="already assembled"):
        m.late = CarbonCap(cap=1.0)
