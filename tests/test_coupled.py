"""The coupled electricity-carbon-certificate market (seed 000, eqs. 6-8) built from blocks:
equilibrium relations from the KKT conditions, on a hand-solved case and on the seed 000 case.
"""
import copy

import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.io.cases import Case
from pyomo_ecc.models.coupled import build_coupled, coupled_prices, coupled_welfare

pytestmark = pytest.mark.component


def hand_case(carbon=None, certificates=None):
    """coal (20, 0.9 t/MWh), gas (40, 0.4 t/MWh), wind (70, 1 certificate/MWh), one consumer
    U(d) = -0.5 d^2 + 150 d, cap 50 t, consumer quota alpha = 0.2."""
    data = {
        "case": {"model": "coupled", "periods": 1},
        "producer": [
            {"name": "coal", "bus": "A", "b": 20.0, "p_max": 100, "emission_intensity": 0.9},
            {"name": "gas", "bus": "A", "b": 40.0, "p_max": 100, "emission_intensity": 0.4},
            {"name": "wind", "bus": "A", "b": 70.0, "p_max": 100, "certificate_rate": 1.0}],
        "consumer": [{"name": "town", "bus": "A", "a": -0.5, "b": 150.0, "d_max": 200}],
        "policy": {"carbon": carbon or {"cap": 50.0},
                   "certificates": certificates or {"form": "quota", "alpha": 0.2}},
    }
    return Case("hand", "hand.toml", data["case"], data)


def test_hand_case_equilibrium_from_kkt():
    # All units interior. Coal and gas: 20 + 0.9 pi_c = lambda = 40 + 0.4 pi_c -> pi_c = 40,
    # lambda = 56. Wind: 70 = lambda + pi_g -> pi_g = 14. Consumer (quota alpha = 0.2):
    # 150 - d = lambda + alpha pi_g = 58.8 -> d = 91.2. Quota: wind = 0.2 d = 18.24.
    # Cap: 0.9 c + 0.4 g = 50 with c + g = 72.96 -> c = 41.632, g = 31.328.
    m = build_coupled(hand_case())
    ecc.solve(m)
    pr = coupled_prices(m).loc[("A", 0)]
    assert pr["lmp"] == pytest.approx(56.0)
    assert pr["carbon_price"] == pytest.approx(40.0)
    assert pr["certificate_price"] == pytest.approx(14.0)
    assert m.town.d[0].value == pytest.approx(91.2)
    assert [m.coal.p[0].value, m.gas.p[0].value, m.wind.p[0].value] == pytest.approx(
        [41.632, 31.328, 18.24])
    # consumer price = energy price + alpha x certificate price
    assert 150 - m.town.d[0].value == pytest.approx(pr["lmp"] + 0.2 * pr["certificate_price"])
    # fossil energy price = marginal cost + intensity x carbon price
    for g, mc, rho in ((m.coal, 20.0, 0.9), (m.gas, 40.0, 0.4)):
        assert pr["lmp"] == pytest.approx(mc + rho * pr["carbon_price"])


def test_exogenous_carbon_price_adds_to_the_cap_price():
    # with p_c = 10 in the objective the cap's own price falls to 30: the emitters still see 40
    m = build_coupled(hand_case(carbon={"cap": 50.0, "price": 10.0}))
    ecc.solve(m)
    pr = coupled_prices(m).loc[("A", 0)]
    assert (pr["carbon_price_exogenous"], pr["carbon_cap_price"]) == pytest.approx((10.0, 30.0))
    assert pr["carbon_price"] == pytest.approx(40.0)
    assert m.coal.p[0].value == pytest.approx(41.632)
    w = coupled_welfare(m)
    assert w["carbon_cost"] == pytest.approx(10.0 * 50.0)
    assert w["sw_CECM"] == pytest.approx(-pyo.value(m.obj))


def test_prices_outside_a_policy_scope_are_zero():
    # two periods, the cap only in period 1, no certificate policy (wind at 70 stays off).
    # Period 0: coal (20) at its 100 MW limit, gas marginal: lambda = 40 = 150 - d -> d = 110,
    # gas 10, no carbon price. Period 1: as the hand case without the quota: 150 - d = 56 ->
    # d = 94, 0.9 c + 0.4 (94 - c) = 50 -> c = 24.8; carbon price 40.
    case = hand_case(certificates={"form": "none"})
    case.meta["periods"] = 2
    case.data["policy"]["carbon"]["periods"] = [1]
    m = build_coupled(case)
    ecc.solve(m)
    pr = coupled_prices(m)
    assert pr["lmp"].tolist() == pytest.approx([40.0, 56.0])
    assert pr["carbon_price"].tolist() == pytest.approx([0.0, 40.0])
    assert pr["certificate_price"].tolist() == pytest.approx([0.0, 0.0])
    assert [m.coal.p[t].value for t in m.T] == pytest.approx([100.0, 24.8])
    assert [m.town.d[t].value for t in m.T] == pytest.approx([110.0, 94.0])


def seed000():
    return ecc.load_case("seed000_coupled")


def test_seed000_case_keeps_tables_1_2_and_states_its_assumptions():
    case, base = seed000(), ecc.load_case("seed000_community")
    for section in ("producer", "consumer"):
        for (n1, o1), (n2, o2) in zip(case.participants(section), base.participants(section)):
            assert n1 == n2
            for k, v in o2.items():
                assert o1[k] == v
    assert case.data["policy"]["carbon"]["cap"] == 15.0
    text = (case.meta["title"] + case.meta["source"]).lower()
    assert "assum" in text


def test_seed000_coupled_kkt_relations():
    m = seed000().build()
    ecc.solve(m)
    pr = coupled_prices(m).loc[("community", 0)]
    lam, pc, pg = pr["lmp"], pr["carbon_price"], pr["certificate_price"]
    assert pr["carbon_cap_price"] > 0                       # the 15 t cap binds
    assert pyo.value(m.carbon_cap.emissions) == pytest.approx(15.0)

    def mc(g):
        return 2 * g.a.value * g.p[0].value + g.b.value

    assert 0 < m.G1.p[0].value < 500 and 5 < m.G2.p[0].value < 450
    assert mc(m.G1) == pytest.approx(lam - 0.89 * pc, abs=1e-7)
    assert mc(m.G2) == pytest.approx(lam - 0.39 * pc, abs=1e-7)
    assert mc(m.G3) == pytest.approx(lam + pg, abs=1e-7)     # renewable earns the certificate
    for d in (m.D4, m.D5):                                  # interior consumers
        assert 2 * d.a.value * d.d[0].value + d.b.value == pytest.approx(lam, abs=1e-7)
    # D6 at its 10 MW floor: its marginal utility there is below the price (lower-bound KKT)
    assert m.D6.d[0].value == pytest.approx(10.0)
    assert 2 * m.D6.a.value * 10.0 + m.D6.b.value < lam
    assert coupled_welfare(m)["sw_CECM"] == pytest.approx(-pyo.value(m.obj))


def test_seed000_carbon_price_equals_finite_difference():
    m = seed000().build()
    s = ecc.Solver()
    s.solve(m)
    pi = coupled_prices(m)["carbon_cap_price"].iloc[0]
    h = 1e-3
    costs = []
    for cap in (15.0 + h, 15.0 - h):
        m.carbon_cap.cap = cap
        s.solve(m)
        costs.append(pyo.value(m.obj))
    assert pi == pytest.approx(-(costs[0] - costs[1]) / (2 * h), rel=1e-5)


def test_binding_certificate_cap_rent_is_alpha_times_its_dual():
    case = seed000()
    data = copy.deepcopy(case.data)
    data["policy"]["certificates"]["cap"] = 8.0      # alpha * z <= 8 -> G3 <= 16 MW
    m = build_coupled(Case("tight", "tight.toml", data["case"], data))
    ecc.solve(m)
    pr = coupled_prices(m).loc[("community", 0)]
    assert m.G3.p[0].value == pytest.approx(16.0)
    dual = ecc.price_frame(m, "certificate_cap_price")["certificate_cap_price"].iloc[0]
    assert pr["certificate_cap_rent"] == pytest.approx(0.5 * dual)
    mc3 = 2 * m.G3.a.value * 16.0 + m.G3.b.value
    assert mc3 == pytest.approx(pr["lmp"] + pr["certificate_price"], abs=1e-7)
    assert pr["certificate_price"] < 0          # eq. 8 binding caps renewable output itself


@pytest.mark.parametrize("policy, words", [
    ({"carbon": {"cap": 5, "tax": 1}}, "unknown key(s) ['tax'] in [policy.carbon]"),
    ({"certificates": {"form": "rps", "alpha": 0.2}}, "form = 'rps'"),
    ({"certificates": {"form": "quota"}}, "form = 'quota' needs 'alpha'"),
    ({"certificates": {"form": "quota", "alpha": 1.5}}, "option 'alpha': must be in [0, 1]"),
    ({"carbon": {"cap": -5}}, "option 'cap': must be >= 0"),
    ({"market": {}}, "unknown table(s) ['market'] in [policy]"),
    # keys the chosen form would ignore are refused, not dropped
    ({"certificates": {"alpha": 0.3}}, "key(s) ['alpha'] are not used by form = 'none'"),
    ({"certificates": {"form": "cap", "cap": 5, "consumers": ["town"]}},
     "key(s) ['consumers'] are not used by form = 'cap'"),
    ({"certificates": {"form": "quota", "alpha": 0.2, "cap": 5}},
     "key(s) ['cap'] are not used by form = 'quota'"),
    ({"certificates": {"producers": ["wind"]}}, "form = 'none' needs 'price'"),
    ({"carbon": {"periods": [0]}}, "[policy.carbon] needs 'price' and/or 'cap'"),
])
def test_bad_policy_tables_are_refused(policy, words):
    case = hand_case()
    case.data["policy"] = policy
    with pytest.raises(ecc.InputError) as err:
        build_coupled(case)
    assert words in str(err.value)


def test_tighter_cap_raises_the_carbon_price_and_renewable_output():
    # convexity: the cap's price is non-increasing in the cap (the optimal cost is convex in
    # the right-hand side); along the way renewable output rises as emissions fall (seed 000,
    # Fig. 3: the negative relation between renewables and emissions).
    m = seed000().build()
    s = ecc.Solver()
    rows = []
    for cap in (25.0, 20.0, 15.0, 10.0, 5.0):
        m.carbon_cap.cap = cap
        s.solve(m)
        rows.append((pyo.value(m.carbon_cap.emissions), m.G3.p[0].value,
                     coupled_prices(m)["carbon_cap_price"].iloc[0]))
    emis, ren, price = zip(*rows)
    assert all(b <= a + 1e-9 for a, b in zip(emis, emis[1:]))
    assert all(b >= a - 1e-9 for a, b in zip(ren, ren[1:]))
    assert all(b >= a - 1e-12 for a, b in zip(price, price[1:]))
    assert price[0] == pytest.approx(0.0, abs=1e-12) and price[-1] > price[2] > 0
