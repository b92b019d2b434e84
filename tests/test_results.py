"""Integration: the settlement identities of the results layer on networks.

The merchandising surplus (what the operator collects at nodal prices) equals the congestion
rent: the sum over binding lines of |line price| x rating (LP duality on the DC-OPF).
"""
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc

pytestmark = pytest.mark.integration


def test_merchandising_surplus_equals_congestion_rent_on_case5():
    m = ecc.load_case("matpower_case5").build()
    ecc.solve(m)
    net = m.get_network()
    rent = 0.0
    for name in ("line_price_ub", "line_price_lb"):
        prices = ecc.price_frame(m, name).iloc[:, 0]
        for (line, t), mu in prices.items():
            rent += abs(mu) * pyo.value(net.rating[line]) * m.dt[t] * m.power_unit_mw
    assert rent > 1000      # case5 is congested as shipped
    assert ecc.merchandising_surplus(m) == pytest.approx(rent, rel=1e-7)


def test_no_merchandising_surplus_without_congestion():
    m = ecc.load_case("seed000_community").build()
    ecc.solve(m)
    assert ecc.merchandising_surplus(m) == pytest.approx(0.0, abs=1e-9)
