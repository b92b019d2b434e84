"""Pictures, built headless (Agg), checked on the data they draw: the clearing point on the
drawn curves, the LMP range of a congested network, colours that are the LMPs, stacks that are
the dispatch, a heat map that is the price table."""
import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc

from conftest import two_bus_market

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pyomo_ecc import plot as pl  # noqa: E402

pytestmark = pytest.mark.component


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def on_polyline(xs, ys, point, tol=1e-6):
    """Does ``point`` lie on the polyline through (xs, ys) (relative to the drawing's size)?"""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    sx = max(np.ptp(xs), 1e-12)
    sy = max(np.ptp(ys), 1e-12)
    px, py = point[0] / sx, point[1] / sy
    a = np.column_stack([xs / sx, ys / sy])
    best = np.inf
    for (x0, y0), (x1, y1) in zip(a[:-1], a[1:]):
        dx, dy = x1 - x0, y1 - y0
        L = dx * dx + dy * dy
        u = 0.0 if L == 0 else min(max(((px - x0) * dx + (py - y0) * dy) / L, 0.0), 1.0)
        best = min(best, np.hypot(x0 + u * dx - px, y0 + u * dy - py))
    return best < tol


def _lines(ax):
    return {ln.get_label(): ln for ln in ax.get_lines()}


def _solved(name):
    m = ecc.load_case(name).build()
    ecc.solve(m)
    return m


@pytest.mark.parametrize("build", [two_bus_market, lambda: _solved("seed002_double_auction"),
                                   lambda: _solved("prosumer_community")],
                         ids=["copper plate", "stepwise offers", "prosumers and storage"])
def test_the_clearing_point_lies_on_the_drawn_curves(build):
    m = build()
    if not m.assembled:
        ecc.solve(m)
    for t in m.T:
        ax = pl.merit_order(m, t=t)
        lines = _lines(ax)
        sup, dem = lines["supply (offers)"], lines["demand (bids + inelastic loads)"]
        (q_s, lam), (q_d, _) = ax.merit_order["points"]
        assert lam == pytest.approx(float(ecc.prices(m).lmp.xs(t, level="t").iloc[0]))
        assert q_s == pytest.approx(q_d, rel=1e-6)      # lossless: supplied = withdrawn
        assert on_polyline(sup.get_xdata(), sup.get_ydata(), (q_s, lam)), t
        assert on_polyline(dem.get_xdata(), dem.get_ydata(), (q_d, lam)), t
        assert max(sup.get_xdata()) > 0 and max(dem.get_xdata()) > 0
        plt.close(ax.figure)


def test_prosumer_curves_are_their_best_responses():
    m = _solved("prosumer_community")
    t = m.T.at(2)
    lam = float(ecc.prices(m).lmp.xs(t, level="t").iloc[0]) * m.power_unit_mw
    # at the clearing price every prosumer whose ramp does not bind offers what it produced
    for p in (m.h3,):     # h3 has no ramp limit
        eta = pyo.value(p.eta)
        x = (lam * eta - pyo.value(p.b)) / (2 * pyo.value(p.a))
        x = min(max(x, 0.0), pyo.value(p.p_max[t]))
        assert x == pytest.approx(pyo.value(p.p[t]), abs=1e-5)
        row = dict((n, (s, d)) for n, s, d in pl._contributions(m, t, lam))[p.local_name]
        assert row[0] == pytest.approx(eta * x) and row[1] == pytest.approx(pyo.value(p.demand[t]))


def test_storage_and_flexible_load_bids_are_their_kkt_conditions():
    m = _solved("prosumer_community")
    lmp = ecc.prices(m).lmp
    checked = 0
    for t in m.T:
        lam = float(lmp.xs(t, level="t").iloc[0]) * m.power_unit_mw
        h, c = pl._intertemporal_offer(m, m.battery, t, lam)
        assert h == pytest.approx(pyo.value(m.battery.p_dis[t]), abs=1e-5)
        assert c == pytest.approx(pyo.value(m.battery.p_ch[t]), abs=1e-5)
        _, d = pl._intertemporal_offer(m, m.ev, t, lam)
        assert d == pytest.approx(pyo.value(m.ev.d[t]), abs=1e-5)
        # strictly inside its limits, the bid's price at the solved quantity is the LMP
        c_t = pyo.value(m.battery.p_ch[t])
        if 1e-6 < c_t < pyo.value(m.battery.p_ch_max[t]) - 1e-6:
            nu = -pl._dual(m, m.battery.eq_soc[t])
            bid = nu * pyo.value(m.battery.eta_ch) - pyo.value(m.battery.b) - 2 * pyo.value(m.battery.a) * c_t
            assert bid == pytest.approx(lam, rel=1e-6)
            checked += 1
    assert checked >= 1


def test_a_congested_network_shows_its_lmp_range_and_per_bus_clearings():
    m = _solved("matpower_case5")
    lmp = ecc.prices(m).lmp.xs(0, level="t")
    assert lmp.max() - lmp.min() > 1.0
    ax = pl.merit_order(m)
    drawn = ax.merit_order
    assert drawn["points"] == []                                  # no single clearing price
    assert drawn["lmp_range"] == pytest.approx((lmp.min(), lmp.max()))
    demand = sum(max(-pyo.value(p.p_inj[0]), 0.0) for p in m.participants())
    demand += sum(m.net.held_withdrawals(0).values())
    assert drawn["quantity"] == pytest.approx(demand)
    band = [p for p in ax.patches if p.get_label().startswith("LMPs from")]
    assert len(band) == 1
    ext = band[0].get_window_extent()   # drawn in data y from low to high
    y0, y1 = ax.transData.inverted().transform([[ext.x0, ext.y0], [ext.x1, ext.y1]])[:, 1]
    assert (y0, y1) == pytest.approx((lmp.min(), lmp.max()))
    plt.close(ax.figure)
    net_inj = {}
    for b in lmp.index:
        ax = pl.merit_order(m, bus=b)
        lines = _lines(ax)
        (q_s, lam), (q_d, _) = ax.merit_order["points"]
        assert lam == pytest.approx(float(lmp[b]))
        sup, dem = lines["supply (offers)"], lines["demand (bids + inelastic loads)"]
        assert on_polyline(sup.get_xdata(), sup.get_ydata(), (q_s, lam)), b
        assert on_polyline(dem.get_xdata(), dem.get_ydata(), (q_d, lam)), b
        net_inj[b] = q_s - q_d
        plt.close(ax.figure)
    # the buses' net injections are what the lines carry away: they sum to zero (lossless)
    assert sum(net_inj.values()) == pytest.approx(0.0, abs=1e-6)


def test_network_map_colours_are_the_lmps():
    m = _solved("matpower_case5")
    ax = pl.network_map(m)
    sc = ax.network_map["collection"]
    lmp = ecc.prices(m).lmp.xs(0, level="t")
    buses = m.net.buses()
    assert np.asarray(sc.get_array()) == pytest.approx(lmp[buses].to_numpy())
    ax.figure.canvas.draw()
    rgba = sc.get_facecolors()
    expect = sc.cmap(sc.norm(lmp[buses].to_numpy()))
    assert rgba == pytest.approx(expect)
    pos = ax.network_map["positions"]
    assert np.asarray(sc.get_offsets()) == pytest.approx(np.array([pos[b] for b in buses]))
    # the binding line 4-5 (the congestion) is drawn thick
    thick = [ln for ln in ax.get_lines() if ln.get_linewidth() >= 3.0]
    flows = m.net.flows().xs(0, level="t")
    binding = flows[flows.p_flow.abs() >= flows.rating * (1 - 1e-6)]
    assert len(thick) == len(binding) >= 1


def test_network_map_uses_coordinates_and_draws_feeders_as_trees():
    import networkx as nx
    from pyomo_ecc.network.dc import DCNetwork
    G = nx.Graph()
    G.add_node(1, pos=(0.0, 0.0))
    G.add_node(2, pos=(3.0, 1.0))
    G.add_edge(1, 2, x=0.1)
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=10, p_max=100)
    m.d = ecc.FixedLoad(bus=2, p=10)
    m.net = DCNetwork(graph=G)
    ecc.solve(m)
    ax = pl.network_map(m)
    assert ax.network_map["positions"] == {1: (0.0, 0.0), 2: (3.0, 1.0)}
    plt.close(ax.figure)
    f = _solved("case33bw")
    ax = pl.network_map(f)
    assert ax.network_map["positions"] == pl.tree_layout(f.network.feeder)
    vals = ax.network_map["values"]
    assert vals.to_numpy() == pytest.approx(ecc.prices(f).lmp.xs(0, level="t")[vals.index].to_numpy())


def test_dispatch_stack_and_heat_map_draw_the_solution():
    m = _solved("seed001_3bus")
    ax = pl.dispatch_stack(m)
    df = ax.dispatch_stack
    disp = ecc.dispatch(m).p_inj.unstack("t")
    assert df.loc[disp.index].to_numpy() == pytest.approx(disp[df.columns].to_numpy())
    # the bars: for every period the positive parts stack to the total injection
    tops = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        if patch.get_height() > 0:
            tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    total = disp.clip(lower=0).sum()
    assert [tops[k] for k in sorted(tops)] == pytest.approx(total.to_numpy())
    plt.close(ax.figure)
    lmp = ecc.prices(m)
    ax = pl.price_heatmap(lmp)
    img = ax.get_images()[0].get_array()
    assert np.asarray(img) == pytest.approx(lmp.lmp.unstack("t").to_numpy())


def test_run_plot_folder_writes_every_picture(tmp_path):
    from pyomo_ecc.cli import main
    assert main(["run", "matpower_case5", "--plot", str(tmp_path / "pics")]) == 0
    for name in ("network.png", "prices.png", "dispatch.png", "merit.png"):
        data = (tmp_path / "pics" / name).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 5_000
