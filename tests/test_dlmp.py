"""DLMP decomposition of a solved feeder market: energy + loss + congestion + voltage.

Checks are properties of the theory: the components (from the inequality duals and the R/X
path sensitivities) sum to the nodal balance dual on every bus (KKT stationarity); every DER
strictly inside its limits has marginal cost equal to its bus's LMP; the LMP equals the
finite-difference change of total cost when the bus load changes. Feeder data: IEEE 33-bus
(Baran & Wu 1989, as in pandapower.networks.case33bw).
"""
import math

import networkx as nx
import numpy as np
import pytest
from conftest import requires_ipopt
from pyomo.common.config import ConfigValue
from pyomo.environ import Expression, Var

import pyomo_ecc as ecc
from pyomo_ecc.core.block import declare_block
from pyomo_ecc.models.feeder import build_feeder, feeder_graph
from pyomo_ecc.network.ac_distflow import ACDistFlow
from pyomo_ecc.network.lindistflow import LinDistFlow
from pyomo_ecc.participants.base import ParticipantData
from pyomo_ecc.pricing.dlmp import COMPONENTS, dlmp

pytestmark = pytest.mark.component

DER = {"der18": (18, 20.0, 55.0), "der33": (33, 20.0, 60.0)}   # bus, a ($/MW^2h), b ($/MWh)


@pytest.fixture(scope="module")
def graph():
    return feeder_graph(ecc.load_case("case33bw"))


def congested(graph, periods=1, dt=1.0, unit="MW", scale=1.0, loads=None):
    """The 33-bus feeder with v_min = 0.95 pu (binds near bus 18) and a 1 MVA rating on the
    branch 6 -> 26 (binds), two quadratic-cost DERs and the substation at 50 $/MWh."""
    g = graph.copy()
    g.edges[6, 26]["rating"] = 0.97 * scale
    for b in g:
        g.nodes[b]["load"] = [scale * g.nodes[b]["load"] * f for f in (loads or [1.0] * periods)]
        g.nodes[b]["q_load"] = scale * g.nodes[b]["q_load"]
    m = ecc.Market(periods=periods, dt=dt, power_unit=unit)
    m.sub = ecc.Producer(bus=1, b=50.0 / scale, p_max=10 * scale)
    for name, (bus, a, b) in DER.items():
        m.add_component(name, ecc.Producer(bus=bus, a=a / scale ** 2, b=b / scale, p_max=1.0 * scale))
    m.net = LinDistFlow(graph=g, ref_bus=1, base_mva=10.0, v_min=0.95, v_max=1.05)
    return m


@pytest.fixture(scope="module")
def solved(graph):
    m = congested(graph)
    ecc.solve(m)
    return m


def test_components_sum_to_lmp_with_binding_limits(solved):
    d = dlmp(solved, check=False)
    np.testing.assert_allclose(d[list(COMPONENTS)].sum(axis=1), d.lmp, atol=1e-7)
    # the nodal price is the one pricing.prices publishes
    np.testing.assert_allclose(d.lmp.to_numpy(), ecc.prices(solved).lmp.loc[d.index].to_numpy(),
                               rtol=1e-12)
    # the limits bind, so the decomposition is not trivial
    net = solved.net
    assert solved.dual[net.ineq_v_min[14, 0]] > 1e-6         # bus 14 sits at 0.95 pu
    assert net.v_sq[14, 0].value == pytest.approx(0.95 ** 2, abs=1e-9)
    assert any(solved.dual[net.ineq_s_max[26, 0, k]] < -1e-6 for k in net.side)
    downstream = set(net.feeder.downstream(26))
    for (bus, _), row in d.iterrows():
        assert row.energy == pytest.approx(50.0, abs=1e-9)        # the marginal substation offer
        assert row.loss == 0.0
        if bus in downstream:
            assert row.congestion > 1.0
        else:
            assert row.congestion == pytest.approx(0.0, abs=1e-9)
    assert d.loc[(18, 0), "voltage"] > 1.0
    assert d.loc[(1, 0)].tolist() == pytest.approx([50.0, 50.0, 0.0, 0.0, 0.0], abs=1e-9)


def test_interior_ders_marginal_cost_equals_lmp(solved):
    d = dlmp(solved)
    for name, (bus, a, b) in DER.items():
        p = getattr(solved, name).p[0].value
        assert 1e-3 < p < 1.0 - 1e-3
        assert d.loc[(bus, 0), "lmp"] == pytest.approx(b + 2 * a * p, rel=1e-6)


@pytest.mark.parametrize("bus", [18, 30, 12])
def test_lmp_equals_finite_difference_of_cost(graph, solved, bus):
    lmp = dlmp(solved).loc[(bus, 0), "lmp"]
    delta = 1e-4
    costs = []
    for sign in (+1, -1):
        m = congested(graph)
        m.net.p_load[bus, 0] = m.net.p_load[bus, 0].value + sign * delta
        costs.append(ecc.solve(m).objective)
    assert (costs[0] - costs[1]) / (2 * delta) == pytest.approx(lmp, rel=1e-5)


def test_reactive_price_decomposes(solved):
    d = dlmp(solved, price="qlmp", check=False)
    np.testing.assert_allclose(d[list(COMPONENTS)].sum(axis=1), d.qlmp, atol=1e-7)
    assert d.loc[(1, 0), "qlmp"] == pytest.approx(0.0, abs=1e-9)     # free reactive supply at root
    assert d.loc[(33, 0), "congestion"] > 0 and d.loc[(18, 0), "voltage"] > 0


def test_units_and_periods(graph, solved):
    """kW, half-hour periods, two load levels: components still sum, prices in $/MWh unchanged
    in the period that repeats the base case."""
    m = congested(graph, periods=2, dt=0.5, unit="kW", scale=1000.0, loads=[1.0, 0.8])
    ecc.solve(m)
    d = dlmp(m)
    base = dlmp(solved).xs(0, level="t")
    np.testing.assert_allclose(d.xs(0, level="t").to_numpy(), base.to_numpy(), rtol=1e-6, atol=1e-6)
    assert not np.allclose(d.xs(1, level="t").lmp.to_numpy(), base.lmp.to_numpy())


def test_check_catches_inconsistent_duals(graph):
    m = congested(graph)
    ecc.solve(m)
    con = m.net.ineq_v_min[14, 0]
    m.dual[con] = 2 * m.dual[con]
    with pytest.raises(ecc.PriceError, match="do not sum"):
        dlmp(m)


def test_errors():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=1.0, p_max=1)
    m.l = ecc.FixedLoad(bus="A", p=0.5)
    ecc.solve(m)
    with pytest.raises(ecc.ModelError, match="LinDistFlow"):
        dlmp(m)


def test_unsolved_market_raises(graph):
    m = congested(graph)
    with pytest.raises(ecc.PriceError):
        dlmp(m)
    m.assemble()
    with pytest.raises(ecc.PriceError, match="no dual"):
        dlmp(m)
    assert math.isfinite(ecc.solve(m).objective)


# -- operating-point (Jacobian) route --------------------------------------------------------
def test_jacobian_route_equals_path_route(solved):
    """Power-flow Jacobian sensitivities reproduce the R/X path-matrix decomposition."""
    for price in ("lmp", "qlmp"):
        a = dlmp(solved, price=price, method="path")
        b = dlmp(solved, price=price, method="jacobian")
        np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), atol=1e-8)


@requires_ipopt
def test_ac_loss_component_equals_marginal_loss_factor():
    """AC DistFlow on the base 33-bus feeder (no binding limit): LMP = energy + loss, and the
    loss component is 50 $/MWh times the marginal loss factor d p_sub / d load - 1, checked by
    re-solving with the load at bus 18 perturbed."""
    case = ecc.load_case("case33bw")
    m = build_feeder(case, "ac_distflow")
    ecc.solve(m, "ipopt")
    d = dlmp(m)
    assert (d.congestion.abs() < 1e-9).all() and (d.voltage.abs() < 1e-9).all()
    assert d.energy.to_numpy() == pytest.approx(50.0)
    delta = 1e-3
    p_sub = []
    for sign in (+1, -1):
        mm = build_feeder(case, "ac_distflow")
        mm.network.p_load[18, 0] = mm.network.p_load[18, 0].value + sign * delta
        ecc.solve(mm, "ipopt")
        p_sub.append(mm.substation.p[0].value)
    factor = (p_sub[0] - p_sub[1]) / (2 * delta) - 1.0
    assert factor > 0.05                                # remote load: several % marginal losses
    assert d.loc[(18, 0), "loss"] == pytest.approx(50.0 * factor, rel=1e-5)


@requires_ipopt
def test_ac_components_sum_with_binding_limits(graph):
    """AC DistFlow with the same binding limits: the four components (loss factors, voltage and
    branch sensitivities from the Jacobian at the Ipopt solution) sum to the nodal prices."""
    m2 = ecc.Market()
    m2.sub = ecc.Producer(bus=1, b=50.0, p_max=10)
    for name, (bus, a, b) in DER.items():
        m2.add_component(name, ecc.Producer(bus=bus, a=a, b=b, p_max=1.0))
    g = graph.copy()
    g.edges[6, 26]["rating"] = 0.97
    m2.net = ACDistFlow(graph=g, ref_bus=1, base_mva=10.0, v_min=0.95, v_max=1.05)
    ecc.solve(m2, "ipopt")
    d = dlmp(m2, check=False)
    np.testing.assert_allclose(d[list(COMPONENTS)].sum(axis=1), d.lmp, rtol=1e-7, atol=1e-6)
    assert d.loc[(30, 0), "congestion"] > 1.0 and d.loc[(14, 0), "voltage"] > 1.0
    assert (d.loss.drop(index=(1, 0)) > 0).all()
    for name, (bus, a, b) in DER.items():            # KKT: interior DERs at their bus's price
        p = getattr(m2, name).p[0].value
        assert 1e-3 < p < 1.0 - 1e-3
        assert d.loc[(bus, 0), "lmp"] == pytest.approx(b + 2 * a * p, rel=1e-6)
    dq = dlmp(m2, price="qlmp", check=False)
    np.testing.assert_allclose(dq[list(COMPONENTS)].sum(axis=1), dq.qlmp, rtol=1e-7, atol=1e-6)


# -- an upper voltage limit (reverse flow) -----------------------------------------------------
def common_r(graph, root, k, i):
    """Independent R_ki: resistance of the branches the paths root -> k and root -> i share."""
    pk = nx.shortest_path(graph, root, k)
    pi = nx.shortest_path(graph, root, i)
    shared = set(map(frozenset, zip(pk[:-1], pk[1:]))) & set(map(frozenset, zip(pi[:-1], pi[1:])))
    return sum(graph.edges[tuple(e)]["r"] for e in shared)


def reverse_flow(graph, extra_load_18=0.0):
    """The 33-bus feeder at 30 % load with a cheap 3 MW DER (20 + 2*5 p $/MWh) at bus 18 and
    v_max = 1.03 pu: the DER pushes the voltage at bus 18 up to its limit."""
    g = graph.copy()
    for b in g:
        g.nodes[b]["load"] *= 0.3
        g.nodes[b]["q_load"] *= 0.3
    g.nodes[18]["load"] += extra_load_18
    m = ecc.Market()
    m.sub = ecc.Producer(bus=1, b=50.0, p_max=10)
    m.pv = ecc.Producer(bus=18, a=5.0, b=20.0, p_max=3.0)
    m.net = LinDistFlow(graph=g, ref_bus=1, base_mva=10.0, v_min=0.95, v_max=1.03)
    return m


def test_upper_voltage_limit_component(graph):
    """The v_max dual at bus 18 (<= 0) lowers every DLMP by 2 s R_{18,i} |mu|: closed form with
    an independent R, KKT at the DER, finite differences of cost."""
    m = reverse_flow(graph)
    ecc.solve(m)
    mu = m.dual[m.net.ineq_v_max[18, 0]]
    assert mu < -1.0 and m.net.v_sq[18, 0].value == pytest.approx(1.03 ** 2, abs=1e-9)
    d = dlmp(m)                                            # check=True: components sum
    s = 1.0 / 10.0
    for i in graph.nodes:
        assert d.loc[(i, 0), "voltage"] == pytest.approx(2 * s * common_r(graph, 1, 18, i) * mu,
                                                         abs=1e-9)
        assert d.loc[(i, 0), "energy"] == pytest.approx(50.0) and d.loc[(i, 0), "congestion"] == 0.0
    p = m.pv.p[0].value
    assert 1e-3 < p < 3.0 - 1e-3
    assert d.loc[(18, 0), "lmp"] == pytest.approx(20.0 + 2 * 5.0 * p, rel=1e-7)
    assert d.loc[(18, 0), "voltage"] < -10.0
    costs = [ecc.solve(reverse_flow(graph, sign * 1e-4)).objective for sign in (+1, -1)]
    assert (costs[0] - costs[1]) / 2e-4 == pytest.approx(d.loc[(18, 0), "lmp"], rel=1e-6)
    # reactive load at bus 18 also lowers its voltage: it relieves the limit, qlmp < 0
    dq = dlmp(m, price="qlmp")
    assert dq.loc[(18, 0), "qlmp"] < -1.0
    np.testing.assert_allclose(dlmp(m, method="jacobian").to_numpy(), d.to_numpy(), atol=1e-8)


# -- reactive power priced at the root ---------------------------------------------------------
@declare_block("PricedReactiveSupply")
class PricedReactiveSupplyData(ParticipantData):
    """Reactive power q in [-10, 10] at an hourly cost c q^2 (so its marginal cost is 2 c q)."""

    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("c", ConfigValue(default=1.0, domain=float))

    def build_participant(self, market):
        self.q = Var(market.T, initialize=0.0, bounds=(-10, 10))
        self.p_inj = Expression(market.T, rule=lambda b, t: 0.0)
        self.q_inj = Expression(market.T, rule=lambda b, t: b.q[t])
        self.bid_cost = Expression(expr=sum(market.dt[t] * self.config.c * self.q[t] ** 2
                                            for t in market.T))


def priced_reactive(graph, network):
    m = ecc.Market()
    m.sub = ecc.Producer(bus=1, b=50.0, p_max=10)
    m.var_root = PricedReactiveSupply(bus=1, c=4.0)
    m.var_18 = PricedReactiveSupply(bus=18, c=10.0)
    m.net = network(graph=graph, ref_bus=1, base_mva=10.0, q_root_free=False)
    return m


def test_reactive_supply_priced_at_the_root(graph):
    """q_root_free=False: the root's reactive balance is priced by the participant there
    (qlmp = 2 c q, KKT); lossless, so every bus has that qlmp and the 50 $/MWh lmp."""
    m = priced_reactive(graph, LinDistFlow)
    ecc.solve(m)
    d, dq = dlmp(m), dlmp(m, price="qlmp")
    q_root, q_18 = m.var_root.q[0].value, m.var_18.q[0].value
    assert q_root + q_18 == pytest.approx(2.3, rel=1e-9)
    assert dq.loc[(1, 0), "qlmp"] == pytest.approx(2 * 4.0 * q_root, rel=1e-7)
    assert dq.loc[(18, 0), "qlmp"] == pytest.approx(2 * 10.0 * q_18, rel=1e-7)
    np.testing.assert_allclose(dq.energy, dq.qlmp, rtol=1e-9)
    np.testing.assert_allclose(d.lmp, 50.0, rtol=1e-9)


@requires_ipopt
def test_ac_loss_component_with_priced_root_reactive_supply(graph):
    """AC DistFlow, q_root_free=False: the loss component carries lambda^q_0 dq_0 (the reactive
    losses are bought at the root's qlmp); components sum (check=True) and the KKT conditions
    of both reactive suppliers hold."""
    m = priced_reactive(graph, ACDistFlow)
    ecc.solve(m, "ipopt")
    d, dq = dlmp(m), dlmp(m, price="qlmp")
    q_root, q_18 = m.var_root.q[0].value, m.var_18.q[0].value
    assert dq.loc[(1, 0), "qlmp"] == pytest.approx(2 * 4.0 * q_root, rel=1e-6)
    assert dq.loc[(18, 0), "qlmp"] == pytest.approx(2 * 10.0 * q_18, rel=1e-6)
    assert dq.loc[(1, 0), "qlmp"] > 1.0
    assert (d.loss.drop(index=(1, 0)) > 0).all()
