"""PyPSA- and pandapower-shaped result frames of any solved market (no PyPSA needed)."""
import math

import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.errors import InputError
from pyomo_ecc.io.pypsa_io import to_pandapower_frames, to_pypsa_frames

pytestmark = pytest.mark.component


def _solved(name):
    m = ecc.load_case(name).build()
    ecc.solve(m)
    return m


def test_dc_market_in_pypsa_and_pandapower_shapes():
    m = _solved("seed001_3bus")
    f = to_pypsa_frames(m)
    lmp = ecc.prices(m).lmp
    mp = f["buses_t.marginal_price"]
    assert mp.index.name == "snapshot" and list(mp.index) == list(m.T)
    assert mp.shape == (24, 3)
    assert mp.loc[1, 2] == pytest.approx(lmp[(2, 1)])
    g = f["generators_t.p"]
    assert g.loc[9, "G6"] == pytest.approx(pyo.value(m.G6.p[9]))
    loads = f["loads_t.p"]                     # positive: consumption
    assert loads.loc[9, "load_3"] == pytest.approx(-pyo.value(m.load_3.p_inj[9]))
    flows = m.get_network().flows()
    assert f["lines_t.p0"].loc[9, "1-2"] == pytest.approx(flows.p_flow[("1-2", 9)])
    pp = to_pandapower_frames(m, t=9)
    bus = pp["res_bus"]
    assert bus.lam_p.to_numpy() == pytest.approx(lmp.xs(9, level="t")[bus.index].to_numpy())
    assert bus.p_mw.sum() == pytest.approx(0.0, abs=1e-6)       # lossless: withdrawals balance
    assert bus.va_degree[1] == 0.0                              # the reference bus
    line = pp["res_line"].loc["1-2"]
    assert line.loading_percent == pytest.approx(abs(line.p_from_mw) / 600.0 * 100.0)
    assert line.p_to_mw == -line.p_from_mw
    assert pp["res_gen"].loc["G3", "p_mw"] == pytest.approx(pyo.value(m.G3.p[9]))
    with pytest.raises(InputError, match="has 24 periods: give t"):
        to_pandapower_frames(m)
    with pytest.raises(InputError, match="unknown period 99"):
        to_pandapower_frames(m, t=99)


def test_feeder_in_pandapower_shape_has_voltages_and_reactive_prices():
    m = _solved("case33bw_limits")
    pp = to_pandapower_frames(m)
    bus = pp["res_bus"]
    v = m.network.voltages().xs(0, level="t")
    assert bus.vm_pu.to_numpy() == pytest.approx(v.v_pu[bus.index].to_numpy())
    q = ecc.price_frame(m, "qlmp").qlmp.xs(0, level="t")
    assert bus.lam_q.to_numpy() == pytest.approx(q[bus.index].to_numpy())
    assert all(math.isnan(x) for x in bus.va_degree)           # no angles in a branch-flow model
    # net withdrawals: the loads, less what the substation supplies (lossless LinDistFlow)
    assert bus.p_mw.sum() == pytest.approx(0.0, abs=1e-6)
    f = to_pypsa_frames(m)
    br = m.network.branch_flows().xs(0, level="t")
    assert f["lines_t.p0"].iloc[0].to_numpy() == pytest.approx(br.p_flow[f["lines_t.p0"].columns].to_numpy())
