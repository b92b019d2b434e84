"""Settlements that add up: participants' surplus (energy, reactive, carbon, certificates) plus
the operator's merchandising surplus plus the policies' surplus equals the welfare, and the
operator's and policies' rows have the size duality gives them."""
import copy

import networkx as nx
import pyomo.environ as pyo
import pytest
from pyomo.repn import generate_standard_repn

import pyomo_ecc as ecc
from pyomo_ecc.network.lindistflow import LinDistFlow
from pyomo_ecc.policy import CarbonCap, CarbonCost, CertificatePrice, CertificateQuota
from pyomo_ecc.pricing.prices import _dual_suffix

pytestmark = pytest.mark.component

#: emission intensities (tCO2/MWh) given to seed 001's six units, and certificate rates
RHO = {"G1": 0.95, "G2": 0.85, "G3": 0.45, "G4": 0.0, "G5": 0.80, "G6": 0.90}
GREEN = {"G4": 1.0}


def _seed001(hours=4, cap=None, quota=None):
    case = ecc.load_case("seed001_3bus")
    case = copy.copy(case)
    case.data = copy.deepcopy(case.data)
    case.meta = dict(case.meta, periods=case.meta["periods"][:hours])   # hours 1.., congested
    for k in ("load",):
        for bus in case.data["bus"]:
            bus[k] = bus[k][:hours]
    for g in case.data["producer"]:
        g["emission_intensity"] = RHO[g["name"]]
        if g["name"] in GREEN:
            g["certificate_rate"] = GREEN[g["name"]]
    m = case.build()
    if cap is not None:
        m.cap = CarbonCap(cap=cap)
    if quota is not None:
        m.rps = CertificateQuota(alpha=quota)
    return m


def network_rent(market):
    r"""The rent of the network's own limits by strong duality, computed from the duals of the
    network block's constraints other than the balances: :math:`-\sum_c y_c (b_c - k_c)`
    (:math:`y_c` = d objective / d :math:`b_c`, :math:`k_c` the body's constant). The network's
    variables cost nothing, so stationarity in them makes this the merchandising surplus."""
    net = market.get_network()
    duals = _dual_suffix(market)
    balances = {id(c) for name in ("eq_p_balance", "eq_q_balance")
                for c in (getattr(net, name).values() if hasattr(net, name) else ())}
    rent = 0.0
    for c in net.component_data_objects(pyo.Constraint, active=True, descend_into=True):
        if id(c) in balances:
            continue
        repn = generate_standard_repn(c.body, compute_values=True)
        assert repn.is_linear(), c.name
        y = duals[c]
        if c.equality:
            bound = pyo.value(c.upper)
        elif c.has_ub() and not c.has_lb():
            bound = pyo.value(c.upper)
        elif c.has_lb() and not c.has_ub():
            bound = pyo.value(c.lower)
        else:   # ranged: the side that binds
            bound = pyo.value(c.upper) if y < 0 else pyo.value(c.lower)
        rent -= y * (bound - repn.constant)
    return rent


def _identity(m):
    s = ecc.settlement(m)
    w = ecc.welfare(m)
    assert w == pytest.approx(-pyo.value(m.obj), rel=1e-12)
    assert s.attrs["welfare"] == pytest.approx(w, rel=1e-12)
    assert s["net"].sum() == pytest.approx(w, rel=1e-6)
    # every column is money that changes hands: it sums to zero over the parties
    for col in ("energy", "reactive", "carbon", "certificates"):
        assert s[col].sum() == pytest.approx(0.0, abs=1e-6 * abs(w))
    return s


def test_seed001_with_carbon_cap_quota_and_congestion_adds_up():
    free = _seed001()
    ecc.solve(free)
    emissions = sum(pyo.value(g.emissions[t]) for g in free.participants()
                    if hasattr(g, "emissions") for t in free.T)
    m = _seed001(cap=0.9 * emissions, quota=0.12)
    ecc.solve(m)
    s = _identity(m)
    lines = ecc.price_frame(m, "line_price_ub").join(ecc.price_frame(m, "line_price_lb"))
    assert (lines.abs().sum(axis=1) > 1e-6).any(), "the case must be congested"
    pi_c = float(ecc.price_frame(m, "carbon_price").iloc[0, 0])
    pi_g = float(ecc.price_frame(m, "certificate_price").iloc[0, 0])
    assert pi_c > 1 and pi_g > 1, "cap and quota must bind"
    # the operator's row: the rent of the binding line limits (strong duality)
    op = s[s.role == "operator"].iloc[0]
    assert op.energy > 1.0
    assert op.energy == pytest.approx(network_rent(m), rel=1e-6)
    assert op.energy == pytest.approx(ecc.merchandising_surplus(m), rel=1e-12)
    # the allowance auction: pi x cap; the binding quota's certificate flows net to zero
    assert s.loc["cap", "carbon"] == pytest.approx(pi_c * pyo.value(m.cap.cap), rel=1e-6)
    assert s.loc["rps", "certificates"] == pytest.approx(0.0, abs=1e-6 * pi_g)
    # a participant's carbon payment is pi x its emissions; the green unit sells certificates
    g1 = sum(pyo.value(m.G1.emissions[t]) for t in m.T)
    assert -s.loc["G1", "carbon"] == pytest.approx(pi_c * g1, rel=1e-6)
    g4 = sum(pyo.value(m.G4.certificates[t]) for t in m.T)
    assert s.loc["G4", "certificates"] == pytest.approx(pi_g * g4, rel=1e-6) and g4 > 0
    # a load pays alpha x pi_g per MWh on top of its energy
    d3 = -sum(pyo.value(m.load_3.energy_mwh(t)) for t in m.T)
    assert -s.loc["load_3", "certificates"] == pytest.approx(0.12 * pi_g * d3, rel=1e-6)
    # surplus() is the participants' rows
    sp = ecc.surplus(m)
    assert sp.loc["G1", "policy_payment"] == pytest.approx(pi_c * g1, rel=1e-6)
    assert sp.surplus.to_numpy() == pytest.approx(s.loc[sp.index, "net"].to_numpy())


def test_exogenous_prices_leave_the_market_and_still_add_up():
    m = _seed001(hours=2)
    m.ctax = CarbonCost(price=30.0)
    m.green = CertificatePrice(price=12.0, alpha=0.1)
    ecc.solve(m)
    s = _identity(m)
    # the objective counts the payments as costs, so the policies' rows are zero
    assert s.loc["ctax", "net"] == pytest.approx(0.0, abs=1e-6)
    assert s.loc["green", "net"] == pytest.approx(0.0, abs=1e-6)
    assert s.loc["ctax", "cost"] == pytest.approx(pyo.value(m.ctax.policy_cost), rel=1e-12)
    g6 = sum(pyo.value(m.G6.emissions[t]) for t in m.T)
    assert -s.loc["G6", "carbon"] == pytest.approx(30.0 * g6, rel=1e-9)


def _feeder():
    """Three-bus feeder whose far end hits its lower voltage limit: a binding voltage rent."""
    g = nx.Graph()
    g.add_edge("sub", "a", r=0.03, x=0.02, rating=3.0)
    g.add_edge("a", "b", r=0.04, x=0.03)
    g.nodes["a"]["load"], g.nodes["a"]["q_load"] = 1.0, 0.5
    g.nodes["b"]["load"], g.nodes["b"]["q_load"] = 2.0, 0.8
    m = ecc.Market(periods=2)
    m.grid = ecc.Producer(bus="sub", b=40.0, p_max=10)
    m.local = ecc.Producer(bus="b", b=70.0, p_max=3.0)
    m.town = ecc.FixedLoad(bus="a", p=[0.5, 0.8])
    m.net = LinDistFlow(graph=g, ref_bus="sub", base_mva=1.0, v_min=0.9)
    return m


def test_feeder_settlement_with_voltage_rent_adds_up():
    m = _feeder()
    ecc.solve(m)
    s = _identity(m)
    vmin = ecc.price_frame(m, "v_min_price")
    assert (vmin.v_min_price > 1e-6).any(), "the voltage limit must bind"
    op = s[s.role == "operator"].iloc[0]
    rent = network_rent(m)
    assert rent > 1.0
    assert op.energy + op.reactive == pytest.approx(rent, rel=1e-6)
    loads = s[s.role == "network loads"].iloc[0]
    lmp = ecc.prices(m).lmp
    expect = sum(lmp[(b, t)] * pyo.value(m.net.p_load[b, t]) for b in ("a", "b") for t in m.T)
    assert -loads.energy == pytest.approx(expect, rel=1e-9)


def test_network_charges_are_the_operators_cost():
    from pyomo_ecc.mechanisms.p2p import P2PNetwork
    m = ecc.Market()
    m.a = ecc.Producer(bus="A", b=10, p_max=50)
    m.b = ecc.Producer(bus="B", b=30, p_max=50)
    m.c = ecc.FixedLoad(bus="C", p=60)
    m.net = P2PNetwork(preferences=[("C", "A", 1.0)], network_charge=0.5,
                       distances=[("A", "C", 2.0), ("B", "C", 1.0), ("A", "B", 1.0)])
    ecc.solve(m)
    s = _identity(m)
    op = s.loc["net"]
    assert op.cost == pytest.approx(pyo.value(m.net.trade_cost), rel=1e-12) and op.cost > 0


def test_the_users_own_objective_terms_have_their_own_row():
    m = ecc.Market(periods=2)
    m.g = ecc.Producer(bus="A", b=10, p_max=100)
    m.d = ecc.Consumer(bus="A", b=30, d_max=60)
    m.standby = pyo.Expression(expr=12.5)      # a fixed standby cost (currency)
    m.add_cost(m.standby)
    ecc.solve(m)
    s = _identity(m)
    assert s.loc["standby", "role"] == "other"
    assert s.loc["standby", "cost"] == pytest.approx(12.5)
    assert ecc.welfare(m) == pytest.approx(2 * 60 * (30 - 10) - 12.5)
