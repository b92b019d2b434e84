"""Prosumer DER, storage and flexible-load blocks (seed 002 prosumer model)."""
import pytest
import pyomo.environ as pyo

import pyomo_ecc as ecc
from pyomo_ecc.analysis.transactive import transactive_check
from pyomo_ecc.participants.flexible_load import FlexibleLoad
from pyomo_ecc.participants.prosumer import Prosumer
from pyomo_ecc.participants.storage import Storage

pytestmark = pytest.mark.component


def _with_grid(m, price=50.0, sink=30.0):
    m.grid = ecc.Producer(bus="A", b=price, p_max=1000)
    m.sink = ecc.Consumer(bus="A", b=sink, d_max=1000)


def test_net_trade_is_eta_p_minus_d():
    # seed 002: q_t = eta p_t - d_t; a DER cheaper than the market price runs at capacity
    m = ecc.Market(periods=3)
    m.pv = Prosumer(bus="A", p_max=[5, 3, 0], eta=0.9, demand=[1, 2, 0.5], b=1.0)
    _with_grid(m)
    ecc.solve(m)
    for t, (cap, d) in enumerate([(5, 1), (3, 2), (0, 0.5)]):
        assert m.pv.p[t].value == pytest.approx(cap, abs=1e-7)
        assert pyo.value(m.pv.p_inj[t]) == pytest.approx(0.9 * cap - d, abs=1e-7)


def test_ramp_limit_binds_from_p0():
    # from p_0 = 1 with R = 2 the output can reach 3, then 5: min(P^max, p_0 + k R)
    m = ecc.Market(periods=3)
    m.pv = Prosumer(bus="A", p_max=10, ramp=2, p_0=1, b=1.0)
    _with_grid(m)
    ecc.solve(m)
    assert [m.pv.p[t].value for t in m.T] == pytest.approx([3, 5, 7], abs=1e-7)
    # and down: an expensive DER at p_0 = 9 can only ramp down by R each period
    m = ecc.Market(periods=3)
    m.pv = Prosumer(bus="A", p_max=10, ramp=4, p_0=9, b=100.0)
    _with_grid(m)
    ecc.solve(m)
    assert [m.pv.p[t].value for t in m.T] == pytest.approx([5, 1, 0], abs=1e-7)


def test_prosumer_kkt_interior_output_prices_at_marginal_cost():
    # interior DER output: d/dp (a p^2 + b p) = eta * lambda
    m = ecc.Market(periods=1)
    m.pv = Prosumer(bus="A", p_max=100, eta=0.8, demand=2, a=0.5, b=4.0)
    m.load = ecc.FixedLoad(bus="A", p=5)
    m.grid = ecc.Producer(bus="A", a=0.2, b=10.0, p_max=100)
    ecc.solve(m)
    lam = ecc.prices(m).lmp.iloc[0]
    p = m.pv.p[0].value
    assert 0 < p < 100
    assert 2 * 0.5 * p + 4.0 == pytest.approx(0.8 * lam, rel=1e-6)


@pytest.mark.parametrize("opts, words", [
    (dict(p_max=5, eta=1.2), "efficiency must be in (0, 1]"),
    (dict(p_max=5, eta=0.0), "efficiency must be in (0, 1]"),
    (dict(p_max=5, ramp=1, p_0=8), "inconsistent with ramp"),
    # boundary: from p_0 = 8 the output reaches 8 - R after one period; R = 2.9 leaves 5.1 > 5
    (dict(p_max=5, ramp=2.9, p_0=8), "in period 0"),
    (dict(p_max=5, p_0=8), "exceeds the capacity"),
    (dict(p_max=5, ramp=1), "'p_0'"),
    (dict(eta=0.9), "'p_max'"),
])
def test_prosumer_bad_input(opts, words):
    m = ecc.Market(periods=2)
    with pytest.raises(ecc.InputError) as e:
        m.pv = Prosumer(bus="A", **opts)
    assert words in str(e.value) and "pv" in str(e.value)


def test_prosumer_ramp_down_exactly_to_capacity_is_accepted():
    # p_0 - R = P^max: feasible (boundary of the p_0 / ramp / capacity check), output 5 then free
    m = ecc.Market(periods=2)
    m.pv = Prosumer(bus="A", p_max=5, ramp=3, p_0=8, b=100.0)
    _with_grid(m)
    ecc.solve(m)
    assert [m.pv.p[t].value for t in m.T] == pytest.approx([5, 2], abs=1e-7)


def test_storage_round_trip_losses():
    # charge 5 at a price of 10, discharge when the buyer pays 20: energy out = eta_c eta_d * in
    m = ecc.Market(periods=2)
    m.bat = Storage(bus="A", e_max=10, p_ch_max=5, p_dis_max=10, eta_ch=0.9, eta_dis=0.8, e_0=0)
    m.g = ecc.Producer(bus="A", b=10, p_max=[100, 0])
    m.d = ecc.Consumer(bus="A", steps=[(10, 20)])
    ecc.solve(m)
    assert m.bat.p_ch[0].value == pytest.approx(5, abs=1e-7)
    assert m.bat.p_dis[1].value == pytest.approx(5 * 0.9 * 0.8, abs=1e-7)
    assert m.bat.e[1].value == pytest.approx(0.0, abs=1e-7)  # terminal condition e_end = e_0


@pytest.mark.parametrize("terminal, e_end, charged", [
    # charging costs 10 and nothing pays for discharging: the store only meets its terminal
    # condition, e_end = e_0 + eta_ch * (energy bought) -> bought = (e_final - e_0)/eta_ch
    ("equal", 2.0, 2.0 / 0.8),
    ("at_least", 2.0, 2.0 / 0.8),
    ("free", 0.0, 0.0),
])
def test_storage_terminal_condition(terminal, e_end, charged):
    m = ecc.Market(periods=3)
    m.bat = Storage(bus="A", e_max=10, p_ch_max=1, p_dis_max=1, eta_ch=0.8, e_0=0, e_final=2,
                    terminal=terminal)
    m.g = ecc.Producer(bus="A", b=10, p_max=100)
    ecc.solve(m)
    assert m.bat.e[2].value == pytest.approx(e_end, abs=1e-7)
    assert sum(m.bat.p_ch[t].value for t in m.T) == pytest.approx(charged, abs=1e-7)


def test_storage_bad_input():
    m = ecc.Market(periods=2)
    with pytest.raises(ecc.InputError, match="eta_dis.*efficiency must be in"):
        m.b1 = Storage(bus="A", e_max=1, p_ch_max=1, p_dis_max=1, eta_dis=1.5)
    with pytest.raises(ecc.InputError, match="e_0 = 3.0 is outside"):
        m.b2 = Storage(bus="A", e_max=1, p_ch_max=1, p_dis_max=1, e_0=3)
    # two periods of at most 1 unit charged at eta_ch = 0.8 reach 1.6, not 2; and discharging
    # 1 unit per period at eta_dis = 0.5 empties 2 units per period: from 5, at least 1 is left
    with pytest.raises(ecc.InputError, match=r"b3.*e_final = 2.0 cannot be reached.*\[0, 1.6\]"):
        m.b3 = Storage(bus="A", e_max=10, p_ch_max=1, p_dis_max=1, eta_ch=0.8, e_0=0, e_final=2)
    with pytest.raises(ecc.InputError, match=r"b4.*cannot be reached.*\[1, 7\]"):
        m.b4 = Storage(bus="A", e_max=10, p_ch_max=1, p_dis_max=1, eta_dis=0.5, e_0=5, e_final=0)
    m.b5 = Storage(bus="A", e_max=10, p_ch_max=1, p_dis_max=1, eta_dis=0.5, e_0=5, e_final=1)


def test_flexible_load_shifts_to_cheap_periods_within_window():
    m = ecc.Market(periods=4)
    m.ev = FlexibleLoad(bus="A", energy=5, d_max=3, window=(1, 3))
    m.g = ecc.Producer(bus="A", b=10, p_max=[100, 0, 100, 100])
    m.g2 = ecc.Producer(bus="A", b=30, p_max=100)
    m.g3 = ecc.Producer(bus="A", b=5, p_max=[100, 0, 100, 2])
    ecc.solve(m)
    d = [m.ev.d[t].value for t in m.T]
    # period 0 is outside the window; period 2 has 3+ units at 5, period 3 two at 5, period 1 only 30
    assert d == pytest.approx([0, 0, 3, 2], abs=1e-7)
    # outside the window nothing is consumed, even at a negative price
    m2 = ecc.Market(periods=3)
    m2.ev = FlexibleLoad(bus="A", energy=2, d_max=3, window=(1, 2))
    m2.dump = ecc.Producer(bus="A", b=-5, p_max=[10, 0, 0])
    m2.g = ecc.Producer(bus="A", b=10, p_max=100)
    m2.sink = ecc.Consumer(bus="A", b=-10, d_max=100)
    ecc.solve(m2)
    assert [m2.ev.d[t].value for t in m2.T] == pytest.approx([0, 2, 0], abs=1e-7)
    with pytest.raises(ecc.InputError, match="cannot be served"):
        m.ev2 = FlexibleLoad(bus="A", energy=10, d_max=3, window=(2, 3))


def _community(periods=4):
    m = ecc.Market(periods=periods)
    m.pv = Prosumer(bus="A", p_max=[2, 6, 8, 3], eta=0.95, demand=[1, 2, 2, 3], a=0.1, b=1, ramp=3, p_0=1)
    m.wind = Prosumer(bus="A", p_max=5, eta=0.9, demand=[2, 1, 1, 2], a=0.2, b=2)
    m.bat = Storage(bus="A", e_max=6, p_ch_max=3, p_dis_max=3, eta_ch=0.95, eta_dis=0.95, e_0=2,
                    a=0.05, b=0.1)
    m.ev = FlexibleLoad(bus="A", energy=5, d_max=3, window=(1, 3), a=0.1, shift_cost=[0, 0, 0.5, 1])
    m.grid = ecc.Producer(bus="A", a=0.05, b=6, p_max=50)
    m.solar = ecc.Producer(bus="A", a=0.3, b=1, p_max=[0, 6, 10, 0])
    m.exp = ecc.Consumer(bus="A", a=-0.05, b=4, d_max=50)
    return m


def test_transactive_check_passes_on_multi_period_prosumer_community():
    m = _community()
    ecc.solve(m)
    before = ecc.prices(m).lmp.copy()
    chk = transactive_check(m)
    assert chk.passed(1e-5), chk.table
    assert set(chk.table.index.get_level_values("participant")) == {"pv", "wind", "bat", "ev", "grid", "solar", "exp"}
    # the model is restored: same duals and still solvable to the same prices
    pd_eq = ecc.prices(m).lmp
    assert (pd_eq - before).abs().max() < 1e-9
    # negative control: broadcasting wrong prices (10 % higher) moves the responses
    wrong = before * 1.1
    bad = transactive_check(m, prices=wrong)
    assert bad.max_deviation > 1e-2


def test_transactive_check_on_a_market_inside_a_larger_model_restores_it():
    top = pyo.ConcreteModel()
    top.mk = ecc.Market(periods=2)
    top.mk.pv = Prosumer(bus="A", p_max=3, eta=0.9, demand=[1, 2], a=0.1, b=1.0)
    top.mk.g = ecc.Producer(bus="A", a=0.1, b=10, p_max=100)
    top.mk.d = ecc.Consumer(bus="A", a=-0.1, b=40, d_max=100)
    top.cap = pyo.Var(bounds=(0, 1))
    top.ineq_cap = pyo.Constraint(expr=top.cap <= 1)
    ecc.solve(top)
    chk = transactive_check(top)
    assert chk.passed(1e-6)
    assert all(b.active for b in top.mk.participants(active=False))
    assert top.mk.active and top.ineq_cap.active and top.mk.obj.active
