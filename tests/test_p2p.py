"""P2P market with product differentiation and network charges; community market; case and CLI."""
import subprocess
import sys

import pytest
import pyomo.environ as pyo

import pyomo_ecc as ecc
from pyomo_ecc.analysis.transactive import transactive_check
from pyomo_ecc.mechanisms.p2p import P2PNetwork
from conftest import requires_ipopt

pytestmark = pytest.mark.component


def _three_peers(**net):
    m = ecc.Market(periods=1)
    m.a = ecc.Producer(bus="A", a=0.5, b=10, p_max=10)
    m.b = ecc.Producer(bus="B", a=0.5, b=12, p_max=10)
    m.c = ecc.Consumer(bus="C", a=-1, b=50, d_max=20)
    m.net = P2PNetwork(**net)
    return m


def test_reciprocity_and_bilateral_prices_from_duals():
    m = _three_peers(preferences=[("C", "A", 1.0)], distances=[("A", "C", 2.0), ("B", "C", 1.0),
                                                              ("A", "B", 1.0)], network_charge=0.5)
    ecc.solve(m)
    # c_nm = kappa_nm + network_charge * delta_nm (distances symmetric, preference directed)
    c = {k: pyo.value(m.net.charge[k]) for k in m.net.directed}
    assert c[("A", "C")] == pytest.approx(0.5 * 2.0)
    assert c[("C", "A")] == pytest.approx(1.0 + 0.5 * 2.0)
    assert c[("B", "C")] == c[("C", "B")] == pytest.approx(0.5)
    assert c[("A", "B")] == pytest.approx(0.5)
    tr = m.net.trades()["p_trade"]
    lam = ecc.prices(m).lmp
    gamma = ecc.price_frame(m, "p2p_price")["p2p_price"]
    charge = m.net.trades()["charge"]
    active = 0
    for (n, k, t), q in tr.items():
        assert q == pytest.approx(-tr[(k, n, t)], abs=1e-9)  # reciprocity
        if q > 1e-6:  # n sells to k: gamma = lambda_n + c_nk = lambda_k - c_kn (KKT)
            active += 1
            assert gamma[(n, k, t)] == pytest.approx(lam[(n, t)] + charge[(n, k, t)], abs=1e-7)
            assert gamma[(n, k, t)] == pytest.approx(lam[(k, t)] - charge[(k, n, t)], abs=1e-7)
    assert active >= 2
    # every peer's assets balance its trades
    for n in ("A", "B", "C"):
        net_out = sum(q for (p, k, t), q in tr.items() if p == n)
        inj = sum(pyo.value(blk.p_inj[0]) for blk in m.participants() if blk.bus == n)
        assert inj == pytest.approx(net_out, abs=1e-9)


def test_transactive_check_passes_on_bilateral_market_with_charges():
    # peers respond to their own peer prices lambda_n; charges are paid by the network
    m = _three_peers(preferences=[("C", "A", 1.0)], distances=[("A", "C", 2.0), ("B", "C", 1.0),
                                                              ("A", "B", 1.0)], network_charge=0.5)
    ecc.solve(m)
    chk = transactive_check(m)
    assert chk.passed(1e-6), chk.table


def test_product_differentiation_moves_trades():
    base = _three_peers()
    ecc.solve(base)
    pref = _three_peers(preferences=[("C", "A", 5.0)])  # C dislikes energy from A
    ecc.solve(pref)
    q = lambda m, n, k: m.net.trades()["p_trade"][(n, k, 0)]
    assert q(pref, "A", "C") < q(base, "A", "C") - 1e-3
    # without charges the P2P market prices every peer alike: the copper-plate price
    cp = ecc.Market(periods=1)
    cp.a = ecc.Producer(bus="A", a=0.5, b=10, p_max=10)
    cp.b = ecc.Producer(bus="B", a=0.5, b=12, p_max=10)
    cp.c = ecc.Consumer(bus="C", a=-1, b=50, d_max=20)
    ecc.solve(cp)
    lam = ecc.prices(base).lmp
    assert lam.max() == pytest.approx(lam.min(), abs=1e-7)
    assert lam.iloc[0] == pytest.approx(ecc.prices(cp).lmp.iloc[0], abs=1e-7)


def test_community_market_prices_between_export_and_import():
    m = ecc.Market(periods=2)
    m.a = ecc.Producer(bus="A", a=0.5, b=10, p_max=10)
    m.c = ecc.Consumer(bus="C", a=-1, b=50, d_max=20)
    m.net = P2PNetwork(community=True, import_price=[30, 60], export_price=5)
    ecc.solve(m)
    cpr = ecc.price_frame(m, "community_price")["community_price"]
    assert cpr[0] == pytest.approx(30.0)  # importing at the margin in period 0
    # period 1: no import; C's marginal utility 50 - 2 d with d = 10 (A at capacity) = 30
    assert m.net.g_import[1].value == pytest.approx(0.0, abs=1e-9)
    assert cpr[1] == pytest.approx(30.0, abs=1e-7)
    assert all(5 - 1e-9 <= v <= 60 + 1e-9 for v in cpr)


@pytest.mark.parametrize("net, words", [
    (dict(pairs=[("A", "Z")]), "unknown peer 'Z'"),
    (dict(pairs=[("A", "A")]), "cannot trade with itself"),
    (dict(preferences=[("A", "B", -3.0)]), "charges must be >= 0"),
    (dict(community=True, import_price=10, export_price=20), "exceeds import_price"),
    (dict(community=True), "'import_price' and 'export_price'"),
    (dict(import_price=30), "['import_price'] need community=True"),
    (dict(community=True, import_price=30, export_price=5, pairs=[("A", "B")]), "option 'pairs'"),
])
def test_bad_input(net, words):
    with pytest.raises(ecc.InputError) as e:
        m = _three_peers(**net)
        ecc.solve(m)
    assert words in str(e.value)


@pytest.mark.integration
def test_prosumer_community_case_transactive_check_and_cli():
    case = ecc.load_case("prosumer_community")
    m = case.build()
    ecc.solve(m)
    chk = transactive_check(m)
    assert chk.passed(1e-5)
    # prices stay between the grid tariffs ($/kWh x 1000 = $/MWh)
    cpr = ecc.price_frame(m, "community_price")["community_price"]
    assert cpr.min() >= 50 - 1e-6 and cpr.max() <= 350 + 1e-6
    out = subprocess.run([sys.executable, "-m", "pyomo_ecc.cli", "run", "prosumer_community"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for title in ("trades", "prices", "transactive equilibrium check"):
        assert title in out.stdout


@requires_ipopt
def test_loss_neutral_settlement_keeps_substation_supply_unchanged():
    """AC DistFlow feeder sub - A - B: with MLFs from the solved model, a trade A -> B settled
    as dP_B = dP_A MLF_A / MLF_B changes the substation supply only to second order, while an
    equal-volume trade changes it by dP (MLF_B - MLF_A) (seed 002, loss-neutral settlement)."""
    import networkx as nx
    import pandas as pd
    from pyomo_ecc.mechanisms.p2p import loss_neutral_settlement, marginal_loss_factors
    from pyomo_ecc.network.ac_distflow import ACDistFlow

    def solved(la, lb):
        g = nx.Graph()
        g.add_edge("sub", "A", r=0.05, x=0.02)
        g.add_edge("A", "B", r=0.08, x=0.03)
        m = ecc.Market()
        m.grid = ecc.Producer(bus="sub", b=40.0, p_max=20)
        m.la = ecc.FixedLoad(bus="A", p=la)
        m.lb = ecc.FixedLoad(bus="B", p=lb)
        m.net = ACDistFlow(graph=g, ref_bus="sub", base_mva=10.0)
        ecc.solve(m, "ipopt")
        return m

    m = solved(1.0, 2.0)
    mlf = marginal_loss_factors(m)
    assert mlf[("sub", 0)] == pytest.approx(1.0, abs=1e-9)
    assert 1.0 < mlf[("A", 0)] < mlf[("B", 0)]          # farther from the substation: more losses
    dp = 0.05
    tr = loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["B"], "p_trade": [dp]}), mlf)
    withdrawn = tr["withdrawn"].iloc[0]
    assert withdrawn == pytest.approx(dp * mlf[("A", 0)] / mlf[("B", 0)], rel=1e-12)
    base = m.grid.p[0].value
    neutral = solved(1.0 - dp, 2.0 + withdrawn).grid.p[0].value - base
    naive = solved(1.0 - dp, 2.0 + dp).grid.p[0].value - base
    assert naive == pytest.approx(dp * (mlf[("B", 0)] - mlf[("A", 0)]), rel=0.05)
    assert abs(neutral) < 0.05 * abs(naive)
    with pytest.raises(ecc.InputError, match="p_trade must be > 0"):
        loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["B"], "p_trade": [0.0]}), mlf)
    with pytest.raises(ecc.InputError, match="no marginal loss factor for bus 'Z'"):
        loss_neutral_settlement(pd.DataFrame({"seller": ["A"], "buyer": ["Z"], "p_trade": [1.0]}), mlf)
