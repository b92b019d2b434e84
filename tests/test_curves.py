"""Component: each participant's own best response at the published price reproduces the market
(the aggregate supply and demand curves cross at the LMP)."""
import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.participants.curves import quantity_at_price
from pyomo_ecc.plot import aggregate_curves

from conftest import two_bus_market

pytestmark = pytest.mark.component


@pytest.mark.parametrize("builder", [lambda: ecc.load_case("seed000_community").build(),
                                     lambda: two_bus_market()])
def test_best_responses_at_the_lmp_reproduce_the_dispatch(builder):
    m = builder()
    ecc.solve(m)
    lmp = ecc.prices(m)["lmp"]
    for p in m.participants():
        if p.fixed_injection:
            continue
        for t in m.T:
            x = quantity_at_price(p, lmp[(p.bus, t)] * m.power_unit_mw, t)
            assert p.direction * x == pytest.approx(pyo.value(p.p_inj[t]), abs=1e-5)
    for t in m.T:
        s, d = aggregate_curves(m, t, np.array([lmp.xs(t, level="t").iloc[0]]))
        assert s[0] == pytest.approx(d[0], abs=1e-5)
