"""AC DistFlow (Baran & Wu branch flow model with losses), solved with Ipopt.

References: M. E. Baran, F. F. Wu (1989), IEEE Trans. Power Delivery 4(2):1401-1407 (33-bus
feeder: 202.67 kW of losses, minimum voltage 0.9131 pu at bus 18; the project's validation list)
and an independent Newton-Raphson power flow of the same feeder (pandapower.runpp on
pandapower.networks.case33bw).
"""
import math

import networkx as nx
import numpy as np
import pytest
from conftest import requires_ipopt

import pyomo_ecc as ecc
from pyomo_ecc.models.feeder import build_feeder
from pyomo_ecc.network.ac_distflow import ACDistFlow

pytestmark = [pytest.mark.component, requires_ipopt]


@pytest.fixture(scope="module")
def case():
    return ecc.load_case("case33bw")


@pytest.fixture(scope="module")
def solved(case):
    m = build_feeder(case, "ac_distflow")
    ecc.solve(m, "ipopt")
    return m


def test_case33bw_voltage_and_losses(solved):
    """Minimum voltage 0.9131 pu at bus 18 and 202.7 kW of losses (Baran & Wu 1989)."""
    prof = solved.network.voltages()
    assert prof.v_pu.idxmin() == (18, 0)
    assert round(prof.v_pu.min(), 4) == 0.9131
    loss_kw = 1000 * solved.network.losses().loc[0]
    assert round(loss_kw, 1) == 202.7
    # the substation supplies load plus losses
    assert math.isclose(solved.substation.p[0].value, 3.715 + loss_kw / 1000, rel_tol=1e-7)


def test_case33bw_matches_newton_raphson(solved):
    """Every bus voltage and the losses equal pandapower's AC power flow of the same feeder."""
    pp = pytest.importorskip("pandapower")
    pn = pytest.importorskip("pandapower.networks")
    net = pn.case33bw()
    pp.runpp(net, tolerance_mva=1e-10)
    ref = net.res_bus.vm_pu.to_numpy()              # pandapower bus k is bus k + 1 here
    got = solved.network.voltages().v_pu.xs(0, level="t").loc[list(range(1, 34))].to_numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert math.isclose(solved.network.losses().loc[0], net.res_line.pl_mw.sum(), rel_tol=1e-5)


def _two_bus_fixed_point(r, x, s, load):
    """Independent fixed-point iteration of the DistFlow equations (root voltage 1 pu)."""
    p, q = load, 0.0
    for _ in range(200):
        ell = (s * p) ** 2 + (s * q) ** 2
        p, q = load + r * ell / s, x * ell / s
    v = 1.0 - 2 * s * (r * p + x * q) + (r ** 2 + x ** 2) * ell
    return p, q, v


def test_two_bus_closed_form():
    """Two buses, load P at the end of one line: the solution and the LMP (price of the
    substation times d p_sub / d load) equal the fixed point of the DistFlow equations."""
    r, x, base, load, price = 0.05, 0.02, 10.0, 1.0, 40.0
    s = 1.0 / base
    p, q, v = _two_bus_fixed_point(r, x, s, load)
    g = nx.Graph()
    g.add_edge("sub", "A", r=r, x=x)
    g.nodes["A"]["load"] = load
    m = ecc.Market()
    m.grid = ecc.Producer(bus="sub", b=price, p_max=10)
    m.net = ACDistFlow(graph=g, ref_bus="sub", base_mva=base)
    ecc.solve(m, "ipopt")
    assert math.isclose(m.net.p_flow["A", 0].value, p, rel_tol=1e-8)
    assert math.isclose(m.net.q_flow["A", 0].value, q, rel_tol=1e-6)
    assert math.isclose(m.net.v_sq["A", 0].value, v, rel_tol=1e-8)
    assert math.isclose(m.grid.p[0].value, p, rel_tol=1e-8)
    h = 1e-5
    dp = (_two_bus_fixed_point(r, x, s, load + h)[0] - _two_bus_fixed_point(r, x, s, load - h)[0]) / (2 * h)
    assert math.isclose(ecc.prices(m).loc[("A", 0), "lmp"], price * dp, rel_tol=1e-7)
    assert math.isclose(ecc.prices(m).loc[("sub", 0), "lmp"], price, rel_tol=1e-8)


def test_lmp_equals_finite_difference_of_cost(case, solved):
    """LMP at bus 18 = d(total cost)/d(load at 18) (central difference on re-solved markets)."""
    lmp = ecc.prices(solved).loc[(18, 0), "lmp"]
    delta = 1e-3
    costs = []
    for sign in (+1, -1):
        m = build_feeder(case, "ac_distflow")
        m.network.p_load[18, 0] = m.network.p_load[18, 0].value + sign * delta
        costs.append(ecc.solve(m, "ipopt").objective)
    fd = (costs[0] - costs[1]) / (2 * delta)
    assert math.isclose(lmp, fd, rel_tol=1e-5)
    assert lmp > 50.0                                # losses make remote energy dearer
