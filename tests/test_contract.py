"""The block contract (pyomo_ecc.core.contract): the objective is the sum of every block's
objective_cost(), every network's sensitivities() has one type, and the price decompositions
are the networks' own."""
import networkx as nx
import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.core.contract import Sensitivities
from pyomo_ecc.pricing.components import lmp_components

pytestmark = pytest.mark.component


def objective_terms(m):
    return [pyo.value(b.objective_cost()) for b in m._registered()]


def test_objective_is_the_sum_of_every_blocks_objective_cost():
    r"""P2P: the trade charges are the network's term (no hook rewrites the objective); a carbon
    cost is the policy's term."""
    m = ecc.Market()
    m.pv = ecc.Producer(bus="A", b=5.0, p_max=4, emission_intensity=0.0)
    m.gas = ecc.Producer(bus="B", b=30.0, p_max=10, emission_intensity=0.5)
    m.home = ecc.FixedLoad(bus="B", p=6)
    m.net = ecc.P2PNetwork(network_charge=1.0, distances=[("A", "B", 1.0)])
    m.co2 = ecc.CarbonCost(price=20.0)
    res = ecc.solve(m)
    assert not m._reg.hooks
    terms = objective_terms(m)
    assert res.objective == pytest.approx(sum(terms))
    # the closed form: A's 4 MW at 5 (+ 1 per MWh charged to each side of the trade) is cheaper
    # at B than gas at 30 + 0.5 * 20; gas serves the other 2 MW
    assert pyo.value(m.net.objective_cost()) == pytest.approx(4 * 1.0 * 2)
    assert pyo.value(m.co2.objective_cost()) == pytest.approx(2 * 0.5 * 20.0)
    assert res.objective == pytest.approx(4 * 5.0 + 2 * 30.0 + 8.0 + 20.0)


def dc_triangle():
    g = nx.Graph()
    g.add_edge(1, 2, x=0.1)
    g.add_edge(2, 3, x=0.2)
    g.add_edge(1, 3, x=0.1)
    g.nodes[1]["ref"] = True
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=10.0, p_max=500)       # the only dispatchable unit: the slack
    m.d = ecc.FixedLoad(bus=3, p=100)
    m.x = ecc.FixedLoad(bus=2, p=0.0)                   # a net injection at bus 2 when < 0
    m.net = ecc.DCNetwork(graph=g)
    return m


def feeder():
    g = nx.Graph()
    g.add_edge("sub", "A", r=0.05, x=0.02)
    g.add_edge("A", "B", r=0.04, x=0.03)
    g.add_edge("A", "C", r=0.02, x=0.01)
    g.nodes["B"]["load"], g.nodes["C"]["load"] = 0.5, 0.3
    m = ecc.Market()
    m.grid = ecc.Producer(bus="sub", b=40.0, p_max=10)
    m.x = ecc.FixedLoad(bus="B", p=0.0)
    m.net = ecc.LinDistFlow(graph=g, ref_bus="sub", base_mva=10.0)
    return m


@pytest.mark.parametrize("build, bus", [(dc_triangle, 2), (feeder, "B")])
def test_one_sensitivities_type_and_flows_by_finite_differences(build, bus):
    """``flow()`` is d p_flow / d injection, balanced by the slack (the DC reference bus, the
    feeder's root): one more unit injected at ``bus`` moves the solved flows by its column."""
    m = build()
    ecc.solve(m)
    sens = m.net.sensitivities()
    assert isinstance(sens, Sensitivities)
    flows = lambda: np.array([pyo.value(m.net.p_flow[l, 0]) for l in sens.branches])  # noqa: E731
    f0 = flows()
    eps = 0.01
    m.x.p_load[0] = -eps
    ecc.solve(m)
    col = sens.flow()[:, sens.buses.index(bus)]
    np.testing.assert_allclose((flows() - f0) / eps, col, atol=1e-7)
    assert np.abs(col).max() > 0.1
    if build is feeder:
        dv_dp, _ = sens.voltage()
        assert dv_dp.loc["B", "B"] < 0
    else:
        assert sens.voltage() is None
        np.testing.assert_allclose(sens.flow(), sens.ptdf())


def test_each_network_decomposes_its_own_prices():
    m = feeder()
    ecc.solve(m)
    d = lmp_components(m)         # dispatched to the feeder: its DLMP components
    assert list(d.columns) == ["lmp", "energy", "loss", "congestion", "voltage"]
    np.testing.assert_allclose(d["lmp"], 40.0)
    cp = ecc.Market()
    cp.g = ecc.Producer(bus="A", b=1.0, p_max=2)
    cp.d = ecc.FixedLoad(bus="A", p=1)
    ecc.solve(cp)
    with pytest.raises(ecc.ModelError, match="CopperPlate 'network_copperplate' has no price "
                                              "decomposition"):
        lmp_components(cp)
