"""One vocabulary across networks and participants; the retired names are refused with the new one
(see the table in pyomo_ecc.network.base)."""
import networkx as nx
import pandas as pd
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.whatif import SetParam, WhatIf
from pyomo_ecc.mechanisms.p2p import loss_neutral_settlement

pytestmark = pytest.mark.component


def dc_market(**net):
    G = nx.Graph()
    G.add_node(1)
    G.add_node(2, load=40.0)
    G.add_edge(1, 2, x=0.1, rating=100)
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=10, p_max=200)
    m.d = ecc.FixedLoad(bus=2, p=20)
    m.net = ecc.DCNetwork(graph=G, **net)
    return m


def feeder_market(**net):
    g = nx.Graph()
    g.add_edge("sub", "A", r=0.05, x=0.02, rating=5.0)
    g.nodes["A"]["load"] = 1.0
    g.nodes["A"]["v_min"] = 0.9
    m = ecc.Market()
    m.grid = ecc.Producer(bus="sub", b=40.0, p_max=10)
    m.pv = ecc.Prosumer(bus="A", p_max=1.0, demand=0.5)
    m.net = ecc.LinDistFlow(graph=g, base_mva=10.0, **net)
    return m


def test_networks_share_the_names_of_buses_branches_loads_flows_and_ratings():
    m_dc, m_ld = dc_market(), feeder_market(ref_bus="sub")
    ecc.solve(m_dc)
    ecc.solve(m_ld)
    for net in (m_dc.net, m_ld.net):
        for name in ("bus", "branch", "branch_limited", "p_load", "p_flow", "rating"):
            assert net.component(name) is not None, (net.name, name)
    # the same flow, read by the same name: 20 + 40 MW over the one DC branch; the feeder's
    # branch carries the bus load minus the prosumer's net injection (1 - (1 - 0.5) MW)
    (line,) = list(m_dc.net.branch)                  # from bus 1 to bus 2
    assert pyo.value(m_dc.net.p_flow[line, 0]) == pytest.approx(60.0)
    assert m_ld.net.q_flow["A", 0].value == pytest.approx(0.0, abs=1e-9)
    assert m_ld.net.p_flow["A", 0].value == pytest.approx(0.5)
    assert m_ld.net.branch_flows()["p_flow"].iloc[0] == pytest.approx(0.5)
    assert m_dc.net.flows()["p_flow"].iloc[0] == pytest.approx(60.0)
    assert m_ld.pv.p_net[0].expr is not None and pyo.value(m_ld.pv.p_net[0]) == pytest.approx(0.5)


@pytest.mark.parametrize("old, new", [("B", "bus"), ("E", "branch"), ("E_rated", "branch_limited"),
                                      ("B_vmin", "bus_v_min"), ("K", "side"), ("p", "p_flow"),
                                      ("q", "q_flow"), ("s_max", "rating")])
def test_retired_feeder_components_name_the_new_one(old, new):
    m = feeder_market(ref_bus="sub")
    ecc.solve(m)
    with pytest.raises(ecc.InputError, match=rf"LinDistFlow 'net': '{old}' was renamed '{new}'; "
                                             rf"use net\.{new}"):
        getattr(m.net, old)
    assert not hasattr(m.net, old)        # still an AttributeError for hasattr / getattr(.., None)
    assert m.net.component(new) is not None


def test_retired_options_name_the_new_one():
    with pytest.raises(ecc.InputError, match=r"LinDistFlow 'net': option 'root' was renamed "
                                             r"'ref_bus'; write ref_bus=\.\.\."):
        feeder_market(root="sub")


def test_retired_participant_and_dc_names():
    m = dc_market()
    ecc.solve(m)
    with pytest.raises(ecc.InputError, match=r"DCNetwork 'net': 'load' was renamed 'p_load'"):
        m.net.load
    with pytest.raises(ecc.InputError, match=r"DCNetwork 'net': 'f' was renamed 'p_flow'"):
        m.net.f
    with pytest.raises(ecc.InputError, match=r"FixedLoad 'd': 'load' was renamed 'p_load'"):
        m.d.load
    with pytest.raises(ecc.InputError, match=r"Prosumer 'pv': 'q' was renamed 'p_net'"):
        feeder_market(ref_bus="sub").pv.q
    # a what-if change that names the old parameter says what it is called now
    with pytest.raises(ecc.InputError, match=r"what-if: FixedLoad 'd': 'load' was renamed 'p_load'"):
        WhatIf(m).run([SetParam("d.load", 30.0)])
    with pytest.raises(ecc.InputError, match=r"column 'q' was renamed 'p_trade'"):
        loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["B"], "q": [1.0]}),
                                pd.Series({"A": 1.0, "B": 1.0}))


def test_base_mva_is_an_option_of_the_dc_network():
    r"""Angles scale as 1/S: :math:`\theta_1 - \theta_2 = f x / S` (rad, MW flow, pu x)."""
    for base in (100.0, 250.0):
        m = dc_market(base_mva=base)
        ecc.solve(m)
        assert m.net.theta[1, 0].value - m.net.theta[2, 0].value == pytest.approx(60.0 * 0.1 / base)
        assert list(ecc.prices(m).lmp) == pytest.approx([10.0, 10.0])
    with pytest.raises(ecc.InputError, match=r"DCNetwork 'net': option 'base_mva'"):
        dc_market(base_mva=-1.0)
