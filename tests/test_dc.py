"""DC power flow block: closed forms, formulation / slack agreement, units, errors, finite
differences, KKT, and an independent LP solved with scipy."""
import networkx as nx
import numpy as np
import pytest
import pyomo.environ as pyo
from scipy.optimize import linprog

import pyomo_ecc as ecc
from pyomo_ecc.errors import InputError
from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
from pyomo_ecc.network.dc import DCNetwork
from pyomo_ecc.network.graph import graph_to_tables
from pyomo_ecc.participants.curves import curve_marginal
from pyomo_ecc.pricing.components import lmp_components

pytestmark = pytest.mark.component


def three_bus(formulation="btheta", slack="ref", unit="MW", scale=1.0, dt=1.0, periods=1,
              load=100.0):
    """Three buses, equal reactances, a 50 MW limit on line 1-3; G1 at 10 $/MWh at bus 1, G3
    at 30 $/MWh at bus 3, load at bus 3. ``scale`` = power units per MW."""
    s = scale
    G = nx.Graph()
    G.add_edge(1, 2, x=0.1)
    G.add_edge(2, 3, x=0.1)
    G.add_edge(1, 3, x=0.1, rating=50 * s)
    m = ecc.Market(power_unit=unit, dt=dt, periods=periods)
    m.g1 = ecc.Producer(bus=1, b=10 / s, p_max=200 * s)
    m.g3 = ecc.Producer(bus=3, b=30 / s, p_max=200 * s)
    m.d = ecc.FixedLoad(bus=3, p=load * s if np.isscalar(load) else [v * s for v in load])
    m.net = DCNetwork(graph=G, formulation=formulation, slack=slack)
    return m


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_three_bus_closed_form(formulation):
    # Equal reactances, reference bus 3: an injection at bus 1 puts 2/3 of it on line 1-3, an
    # injection at bus 2 puts 1/3. The 50 MW limit caps G1 at 50 / (2/3) = 75 MW; G3 makes
    # 25 MW. LMP_1 = 10 and LMP_3 = 30 (marginal units). One more MW at bus 2 with the 1-3
    # flow unchanged: (2/3) dG1 - (1/3) = 0, so dG1 = dG3 = 1/2 and LMP_2 = (10 + 30) / 2.
    m = three_bus(formulation)
    res = ecc.solve(m)
    assert res.objective == pytest.approx(75 * 10 + 25 * 30)
    assert m.g1.p[0].value == pytest.approx(75.0)
    lmp = ecc.prices(m).lmp
    assert lmp.to_dict() == pytest.approx({(1, 0): 10.0, (2, 0): 20.0, (3, 0): 30.0})
    f = m.net.flows().p_flow
    assert f.to_dict() == pytest.approx({("1-2", 0): 25.0, ("1-3", 0): 50.0, ("2-3", 0): 25.0})
    # the line price is the value of one more MW on 1-3: G1 replaces G3 for 1.5 MW -> 30 $/MWh
    assert ecc.price_frame(m, "line_price_ub").iloc[0, 0] == pytest.approx(30.0)
    assert ecc.price_frame(m, "line_price_lb").iloc[0, 0] == pytest.approx(0.0, abs=1e-9)


def test_three_bus_components_ref_and_distributed():
    m = three_bus(slack="ref")
    ecc.solve(m)
    c = lmp_components(m)
    # reference bus 1: energy = LMP_1 = 10; congestion = -PTDF(on 1-3) * mu = 30 * (0, 1/3, 2/3)
    assert c.energy.tolist() == pytest.approx([10.0] * 3)
    assert c.congestion.tolist() == pytest.approx([0.0, 10.0, 20.0], abs=1e-9)
    md = three_bus(slack="distributed")
    md.net.config.slack_weights = {1: 1.0, 2: 1.0, 3: 2.0}
    ecc.solve(md)
    cd = lmp_components(md)
    assert cd.lmp.tolist() == pytest.approx(c.lmp.tolist())  # the slack does not move prices
    assert cd.energy.iloc[0] == pytest.approx((10 + 20 + 2 * 30) / 4)
    assert (cd.energy + cd.congestion).tolist() == pytest.approx(cd.lmp.tolist())


@pytest.mark.parametrize("unit, scale", [("MW", 1.0), ("kW", 1000.0), ("GW", 1e-3)])
@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_prices_invariant_to_power_unit_and_period_length(unit, scale, dt):
    m = three_bus(unit=unit, scale=scale, dt=dt)
    ecc.solve(m)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([10.0, 20.0, 30.0])
    assert m.net.flows().p_flow.loc[("1-3", 0)] == pytest.approx(50.0 * scale)


def test_multi_period_uncongested_and_congested():
    m = three_bus(periods=2, load=[60.0, 100.0])
    ecc.solve(m)
    lmp = ecc.prices(m).lmp
    # period 0: 2/3 * 60 = 40 MW on 1-3 < 50, G1 serves everything: uniform 10 $/MWh
    assert lmp.xs(0, level="t").tolist() == pytest.approx([10.0] * 3)
    assert lmp.xs(1, level="t").tolist() == pytest.approx([10.0, 20.0, 30.0])


def test_bus_loads_from_graph_are_mutable_params():
    G = nx.Graph()
    G.add_node(2, load=[40.0, 80.0])
    G.add_edge(1, 2, x=0.1, rating=60)
    m = ecc.Market(periods=2)
    m.g1 = ecc.Producer(bus=1, b=10, p_max=200)
    m.g2 = ecc.Producer(bus=2, b=25, p_max=200)
    m.net = DCNetwork(graph=G)
    ecc.solve(m)
    assert [m.g2.p[t].value for t in (0, 1)] == pytest.approx([0.0, 20.0], abs=1e-7)
    m.net.p_load[2, 0] = 70.0  # a what-if is a mutation of the same model
    ecc.solve(m)
    assert m.g2.p[0].value == pytest.approx(10.0)
    assert ecc.prices(m).lmp.loc[(2, 0)] == pytest.approx(25.0)


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_shunt_conductance_is_load(formulation):
    G = nx.Graph()
    G.add_node(2, gs=5.0, load=10.0)
    G.add_edge(1, 2, x=0.1)
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=10, p_max=100)
    m.net = DCNetwork(graph=G, formulation=formulation)
    ecc.solve(m)
    assert m.g.p[0].value == pytest.approx(15.0)


def phase_shifter_graph(tap=1.0):
    G = nx.DiGraph()
    G.add_edge(1, 2, x=0.1, r=0.05)
    G.add_edge(2, 3, x=0.2, r=0.02)
    G.add_edge(1, 3, x=0.1, r=0.01, shift=-3.0, tap=tap, rating=200)
    return G


@pytest.mark.parametrize("unit, scale", [("MW", 1.0), ("kW", 1000.0)])
@pytest.mark.parametrize("formulation, slack", [("btheta", "ref"), ("ptdf", "ref"),
                                                ("ptdf", "distributed")])
def test_matpower_phase_shift_against_numpy(formulation, slack, unit, scale):
    # the shift's flow -beta * phi scales with the power unit: flows in kW are 1000 x MW
    G = phase_shifter_graph(tap=1.05)
    G.edges[1, 3]["rating"] = 200 * scale
    m = ecc.Market(power_unit=unit)
    m.g = ecc.Producer(bus=1, b=10 / scale, p_max=500 * scale)
    m.l2 = ecc.FixedLoad(bus=2, p=80 * scale)
    m.l3 = ecc.FixedLoad(bus=3, p=120 * scale)
    m.net = DCNetwork(graph=G, convention="matpower", formulation=formulation, slack=slack)
    ecc.solve(m)
    # independent: b = 1/(x tau), f = b (theta_f - theta_t - phi), solve B theta = P - A^T f_s
    b = np.array([1 / 0.1, 1 / 0.2, 1 / (0.1 * 1.05)]) * 100.0
    phi = np.array([0, 0, np.deg2rad(-3.0)])
    A = np.array([[1, -1, 0], [0, 1, -1], [1, 0, -1]], float)
    fs = -b * phi
    P = np.array([200.0, -80.0, -120.0])
    B = A.T @ np.diag(b) @ A
    theta = np.zeros(3)
    theta[1:] = np.linalg.solve(B[1:, 1:], (P - A.T @ fs)[1:])
    f = np.diag(b) @ A @ theta + fs
    got = m.net.flows().p_flow.xs(0, level="t")
    np.testing.assert_allclose(got[["1-2", "2-3", "1-3"]].to_numpy() / scale, f, rtol=1e-9)


def test_dcp_convention_ignores_taps_and_shifts():
    flows = []
    for tap in (1.0, 1.1):
        G = phase_shifter_graph(tap)
        m = ecc.Market()
        m.g = ecc.Producer(bus=1, b=10, p_max=500)
        m.l3 = ecc.FixedLoad(bus=3, p=120)
        m.net = DCNetwork(graph=G, convention="dcp")
        ecc.solve(m)
        flows.append(m.net.flows().p_flow.xs(0, level="t")[["1-2", "2-3", "1-3"]].to_numpy())
    np.testing.assert_allclose(flows[0], flows[1])
    # b = x / (r^2 + x^2): injection at 1, withdrawal at 3 split by susceptance
    b = np.array([0.1 / (0.05**2 + 0.1**2), 0.2 / (0.02**2 + 0.2**2), 0.1 / (0.01**2 + 0.1**2)])
    path = 1 / (1 / b[0] + 1 / b[1])
    assert flows[0][2] == pytest.approx(120 * b[2] / (b[2] + path))


@pytest.mark.parametrize("convention", ["matpower", "dcp"])
def test_btheta_and_ptdf_agree_on_congested_case30(convention):
    out = {}
    for form in ("btheta", "ptdf"):
        m = build_matpower_market(load_matpower_case("pglib_opf_case30_ieee"), formulation=form,
                                  convention=convention)
        res = ecc.solve(m)
        out[form] = (res.objective, ecc.prices(m).lmp, ecc.dispatch(m).p_inj, m.net.flows().p_flow)
    (o1, l1, d1, f1), (o2, l2, d2, f2) = out["btheta"], out["ptdf"]
    assert o1 == pytest.approx(o2, rel=1e-9)
    assert l1.max() - l1.min() > 10  # congested: prices differ by bus
    np.testing.assert_allclose(l1.to_numpy(), l2.reindex(l1.index).to_numpy(), atol=1e-6)
    np.testing.assert_allclose(d1.to_numpy(), d2.reindex(d1.index).to_numpy(), atol=1e-5)
    np.testing.assert_allclose(f1.to_numpy(), f2.reindex(f1.index).to_numpy(), atol=1e-5)


@pytest.mark.parametrize("slack", ["ref", "distributed"])
@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_components_sum_on_congested_case30(slack, formulation):
    m = build_matpower_market(load_matpower_case("pglib_opf_case30_ieee"), slack=slack,
                              formulation=formulation)
    ecc.solve(m)
    c = lmp_components(m)  # raises unless energy + congestion == lmp everywhere
    assert (c.congestion.abs() > 1.0).sum() >= 10
    np.testing.assert_allclose(c.energy + c.congestion, c.lmp, atol=1e-6)
    assert c.energy.nunique() == 1 or np.ptp(c.energy) < 1e-9
    if slack == "ref":
        ref = m.net.reference_buses()[0]
        assert c.congestion.loc[(ref, 0)] == pytest.approx(0.0, abs=1e-9)
        assert c.energy.iloc[0] == pytest.approx(c.lmp.loc[(ref, 0)])
    else:
        w = m.net.slack_weights()
        cong = c.congestion.xs(0, level="t").reindex(w.index)
        assert float(w @ cong) == pytest.approx(0.0, abs=1e-8)


def test_components_detect_unknown_price_forming_constraints():
    m = three_bus()
    m.add_hook(lambda mk: setattr(mk, "extra", pyo.Constraint(expr=mk.net.theta[3, 0] >= -0.04)))
    ecc.solve(m)
    with pytest.raises(ecc.PriceError, match="do not sum"):
        lmp_components(m)


def test_ptdf_reproduces_solved_flows():
    m = build_matpower_market(load_matpower_case("case14"))
    ecc.solve(m)
    sens = m.net.sensitivities()
    H = sens.ptdf()
    pnet = np.array([sum(pyo.value(p.p_inj[0]) for p in m.participants() if p.bus == b)
                     for b in sens.buses])
    f = m.net.flows().p_flow.xs(0, level="t").reindex(sens.branches).to_numpy()
    np.testing.assert_allclose(H @ pnet, f, atol=1e-7)
    assert np.abs(H[:, sens.ref_pos]).max() == 0.0
    # bus 8 hangs on branch 7-8 alone: all of its injection flows on that branch
    k = sens.branches.index(14)  # MATPOWER branch row 14 is 7 -> 8
    assert H[k, sens.buses.index(8)] == pytest.approx(-1.0)


def scipy_dcopf(G, gens, loads):
    """Independent B-theta DC-OPF with scipy's linprog: variables (p_g, theta_n)."""
    buses, branches = graph_to_tables(G)
    bl = list(buses.index)
    nb, ng, nl = len(bl), len(gens), len(branches)
    b = 100.0 / branches["x"].to_numpy()
    A = np.zeros((nl, nb))
    for k, (f, t) in enumerate(zip(branches.from_bus, branches.to_bus)):
        A[k, bl.index(f)], A[k, bl.index(t)] = 1, -1
    Bf = np.diag(b) @ A
    Cg = np.zeros((nb, ng))
    for j, (bus, _, _) in enumerate(gens):
        Cg[bl.index(bus), j] = 1
    A_eq = np.hstack([Cg, -A.T @ Bf])
    b_eq = np.array([loads.get(n, 0.0) for n in bl])
    rated = np.isfinite(branches["rating"].to_numpy())
    A_ub = np.vstack([np.hstack([np.zeros((rated.sum(), ng)), Bf[rated]]),
                      np.hstack([np.zeros((rated.sum(), ng)), -Bf[rated]])])
    b_ub = np.concatenate([branches["rating"].to_numpy()[rated]] * 2)
    bounds = [(0, pmax) for _, pmax, _ in gens] + [(0, 0)] + [(None, None)] * (nb - 1)
    c = np.array([cost for _, _, cost in gens] + [0.0] * nb)
    r = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert r.status == 0
    return r.fun, dict(zip(bl, r.eqlin.marginals))


def test_case5_against_independent_scipy_lp():
    mpc = load_matpower_case("case5")
    m = build_matpower_market(mpc)
    ecc.solve(m)
    G = nx.MultiDiGraph()
    for k, row in mpc.branch.iterrows():
        G.add_edge(int(row.fbus), int(row.tbus), x=row.x, rating=row.rate_a or None)
    gens = [(int(g.bus), g.pmax, mpc.gencost.loc[k, "p0"]) for k, g in mpc.gen.iterrows()]
    obj, lam = scipy_dcopf(G, gens, mpc.bus["pd"].to_dict())
    assert ecc.solve(m).objective == pytest.approx(obj, rel=1e-9)
    lmp = ecc.prices(m).lmp.xs(0, level="t")
    for bus, v in lam.items():
        assert lmp[bus] == pytest.approx(v, abs=1e-6)
    assert lmp.max() - lmp.min() > 20  # congested


def test_finite_difference_lmp_on_congested_case5():
    m = build_matpower_market(load_matpower_case("case5"), loads="network")
    solver = ecc.Solver("highs")
    base = solver.solve(m).objective
    lmp = ecc.prices(m).lmp.xs(0, level="t")
    eps = 1e-3
    for bus in (2, 3, 4):
        L0 = pyo.value(m.net.p_load[bus, 0])
        m.net.p_load[bus, 0] = L0 + eps
        up = solver.solve(m).objective
        m.net.p_load[bus, 0] = L0 - eps
        down = solver.solve(m).objective
        m.net.p_load[bus, 0] = L0
        assert (up - down) / (2 * eps) == pytest.approx(lmp[bus], rel=1e-6)
    assert solver.solve(m).objective == pytest.approx(base)


def test_kkt_interior_units_price_at_their_lmp():
    m = build_matpower_market(load_matpower_case("pglib_opf_case30_ieee"))
    ecc.solve(m)
    lmp = ecc.prices(m).lmp
    interior = 0
    for p in m.participants():
        if not hasattr(p, "p"):
            continue
        x = p.p[0].value
        if p.p_min[0].value + 1e-4 < x < p.p_max[0].value - 1e-4:
            interior += 1
            assert curve_marginal(p, x, 0) == pytest.approx(lmp[(p.bus, 0)], rel=1e-6)
    assert interior >= 2


def test_islands_price_separately():
    G = nx.Graph()
    G.add_node(1, ref=True)
    G.add_node(3, ref=True)
    G.add_edge(1, 2, x=0.1)
    G.add_edge(3, 4, x=0.1)
    for form in ("btheta", "ptdf"):
        m = ecc.Market()
        m.g1 = ecc.Producer(bus=1, b=10, p_max=100)
        m.g3 = ecc.Producer(bus=3, b=40, p_max=100)
        m.l2 = ecc.FixedLoad(bus=2, p=30)
        m.l4 = ecc.FixedLoad(bus=4, p=20)
        m.net = DCNetwork(graph=G, formulation=form)
        ecc.solve(m)
        want = {(1, 0): 10, (2, 0): 10, (3, 0): 40, (4, 0): 40}
        assert ecc.prices(m).lmp.to_dict() == pytest.approx(want)
        c = lmp_components(m)
        assert c.energy.to_dict() == pytest.approx(want)


def test_errors_name_the_offender():
    G = nx.Graph()
    G.add_edge(1, 2, x=0.1)
    m = ecc.Market()
    m.g = ecc.Producer(bus=9, b=10, p_max=10)
    m.net = DCNetwork(graph=G)
    with pytest.raises(InputError, match=r"Producer 'g': unknown bus 9"):
        ecc.solve(m)
    m2 = ecc.Market()
    with pytest.raises(InputError, match=r"option 'graph'.*required"):
        m2.net = DCNetwork()
    with pytest.raises(InputError, match=r"formulation"):
        m2.net = DCNetwork(graph=G, formulation="acopf")
    G.add_edge(5, 6, x=0.1)
    G.nodes[1]["ref"] = True
    msg = r"DCNetwork 'net': island 1 \(buses \[5, 6\]\) has no reference bus"
    with pytest.raises(InputError, match=msg):
        m2.net = DCNetwork(graph=G)
    with pytest.raises(InputError, match=r"slack_weights are only used with slack='distributed'"):
        m2.net = DCNetwork(graph=G, ref_bus=[1, 5], slack_weights={1: 1.0})
    G2 = nx.Graph()
    G2.add_edge(1, 2, x=0.1)
    G2.add_node(3)
    m3 = ecc.Market()
    m3.g = ecc.Producer(bus=1, b=1, p_max=1)
    m3.net = DCNetwork(graph=G2, ref_bus=[1, 3])
    with pytest.raises(InputError, match=r"bus 3 has no branch and no dispatchable participant"):
        ecc.solve(m3)


@pytest.mark.parametrize("slack", ["ref", "distributed"])
def test_btheta_and_ptdf_agree_with_a_congested_phase_shifter(slack):
    # G1 (10 $/MWh) at bus 1, G3 (30 $/MWh) at bus 3, 200 MW at bus 3, a -3 degree shifter
    # on the limited line 1-3. Independent LP (scipy) in the angles: f = b (A theta - phi).
    def build(form):
        G = phase_shifter_graph(tap=1.05)
        G.edges[1, 3]["rating"] = 90.0
        m = ecc.Market()
        m.g1 = ecc.Producer(bus=1, b=10, p_max=500)
        m.g3 = ecc.Producer(bus=3, b=30, p_max=500)
        m.d = ecc.FixedLoad(bus=3, p=200)
        m.net = DCNetwork(graph=G, formulation=form, slack=slack)
        return m
    got = {}
    for form in ("btheta", "ptdf"):
        m = build(form)
        obj = ecc.solve(m).objective
        got[form] = (obj, ecc.prices(m).lmp.to_numpy(), m.net.flows().p_flow.to_numpy())
        c = lmp_components(m)
        np.testing.assert_allclose(c.energy + c.congestion, c.lmp, atol=1e-9)
    b = np.array([1 / 0.1, 1 / 0.2, 1 / (0.1 * 1.05)]) * 100.0
    phi = np.array([0, 0, np.deg2rad(-3.0)])
    A = np.array([[1, -1, 0], [0, 1, -1], [1, 0, -1]], float)
    Cg = np.array([[1, 0], [0, 0], [0, 1]], float)
    # variables (g1, g3, theta1, theta2, theta3); balance Cg g - A' diag(b) (A theta - phi) = d
    Bf = np.diag(b) @ A
    A_eq = np.hstack([Cg, -A.T @ Bf])
    b_eq = np.array([0.0, 0.0, 200.0]) - A.T @ (b * phi)
    A_ub = np.vstack([np.r_[0, 0, Bf[2]], np.r_[0, 0, -Bf[2]]])
    b_ub = np.array([90.0 + b[2] * phi[2], 90.0 - b[2] * phi[2]])
    r = linprog([10, 30, 0, 0, 0], A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                bounds=[(0, 500), (0, 500), (0, 0), (None, None), (None, None)], method="highs")
    assert r.status == 0
    for form, (obj, lmp, f) in got.items():
        assert obj == pytest.approx(r.fun, rel=1e-9), form
        np.testing.assert_allclose(lmp, r.eqlin.marginals, atol=1e-6, err_msg=form)
    assert np.ptp(got["btheta"][1]) > 5  # congested
    np.testing.assert_allclose(got["btheta"][2], got["ptdf"][2], atol=1e-7)


def test_distributed_slack_ptdf_rows_sum_to_zero_under_the_weights():
    # H_w = H_ref (I - w 1') on one island: H_w w = 0 (the slack absorbs its own injection),
    # and the sparse transpose product equals the dense matrix's
    m = build_matpower_market(load_matpower_case("case14"), slack="distributed")
    ecc.solve(m)
    sens = m.net.sensitivities()
    w = sens.w
    assert w.sum() == pytest.approx(1.0) and (w > 0).sum() >= 10
    H = sens.ptdf()
    np.testing.assert_allclose(H @ w, 0.0, atol=1e-12)
    m_ref = build_matpower_market(load_matpower_case("case14"))
    H_ref = m_ref.net.sensitivities().ptdf()
    np.testing.assert_allclose(H, H_ref - np.outer(H_ref @ w, np.ones(len(w))), atol=1e-12)
    eta = np.linspace(-1.0, 2.0, len(sens.branches))
    np.testing.assert_allclose(sens.ptdf_transpose_times(eta), H.T @ eta, atol=1e-10)
