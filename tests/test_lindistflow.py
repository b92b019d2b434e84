"""LinDistFlow on radial feeders: graph checks, path matrices, the IEEE 33-bus feeder.

References: M. E. Baran, F. F. Wu (1989), IEEE Trans. Power Delivery 4(2):1401-1407 (the 33-bus
feeder, as shipped in pandapower.networks.case33bw); the reference numbers of the project's
validation list (lossless LinDistFlow minimum voltage 0.9159 pu at bus 18; the sensitivities
dv^2_k/dp_i = -2 R_ki with R = A^-1 diag(r) A^-T).
"""
import math

import networkx as nx
import numpy as np
import pytest

from pyomo.common.config import ConfigValue
from pyomo.environ import Expression, Var

import pyomo_ecc as ecc
from pyomo_ecc.core.block import declare_block
from pyomo_ecc.models.feeder import build_feeder, feeder_graph
from pyomo_ecc.network.lindistflow import LinDistFlow
from pyomo_ecc.network.radial import RadialFeeder, find_cycle
from pyomo_ecc.participants.base import ParticipantData

pytestmark = pytest.mark.component

BASE_MVA = 10.0


@pytest.fixture(scope="module")
def case():
    return ecc.load_case("case33bw")


@pytest.fixture(scope="module")
def graph(case):
    return feeder_graph(case)


def common_path_matrix(g, root, attr):
    """Independent closed form: R_ki = sum of attr over the branches common to the paths
    root -> k and root -> i (networkx shortest paths on the tree)."""
    buses = list(g.nodes)
    paths = {}
    for b in buses:
        nodes = nx.shortest_path(g, root, b)
        paths[b] = {frozenset(e): g.edges[e][attr] for e in zip(nodes[:-1], nodes[1:])}
    mat = np.zeros((len(buses), len(buses)))
    for a, k in enumerate(buses):
        for c, i in enumerate(buses):
            mat[a, c] = sum(v for e, v in paths[k].items() if e in paths[i])
    return buses, mat


def solved_feeder(case, changes=()):
    m = build_feeder(case)
    for (bus, attr), val in dict(changes).items():
        getattr(m.network, attr)[bus, 0] = val
    ecc.solve(m)
    return m


# -- graph layer -----------------------------------------------------------------------------
def test_path_matrices_equal_common_path_closed_form(graph):
    fd = RadialFeeder(graph, root=1)
    for attr in ("r", "x"):
        buses, ref = common_path_matrix(graph, 1, attr)
        got = fd.path_matrix(attr, include_root=True).loc[buses, buses].to_numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    # A^-1 is the path-to-root incidence, and R = Pi diag(r) Pi^T
    a = fd.incidence().to_numpy()
    pi = fd.path_to_root().to_numpy()
    np.testing.assert_allclose(a @ pi, np.eye(len(fd.branches)), atol=1e-12)
    r = fd.branch_data["r"].to_numpy()
    np.testing.assert_allclose(pi @ np.diag(r) @ pi.T, fd.path_matrix("r").to_numpy(), atol=1e-12)


def test_orientation_parent_children(graph):
    fd = RadialFeeder(graph, root=1)
    assert fd.parent[2] == 1 and fd.parent[19] == 2 and fd.parent[26] == 6
    assert sorted(fd.children[6]) == [7, 26]
    assert fd.path(18) == list(range(2, 19))
    assert sorted(fd.downstream(30)) == [30, 31, 32, 33]


def test_cycle_is_named():
    g = nx.Graph()
    g.add_edges_from([(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)], r=0.1, x=0.1)
    with pytest.raises(ecc.InputError, match=r"not radial.*cycle") as err:
        m = ecc.Market()
        m.g = ecc.Producer(bus=0, b=1.0, p_max=1)
        m.net = LinDistFlow(graph=g, ref_bus=0, base_mva=1.0)
    msg = str(err.value)
    loop = msg.split("cycle ")[1].split(" (")[0]
    named = {int(x) for x in loop.split(" - ")}
    assert named == {1, 2, 3}


def test_tie_line_of_case33bw_closes_a_named_loop(graph):
    g = graph.copy()
    z = 12.66 ** 2 / BASE_MVA
    g.add_edge(21, 8, r=2.0 / z, x=2.0 / z)            # tie line 21-8 of Baran & Wu (2 ohm), closed
    cycle = find_cycle(g)
    # the loop is the tie line plus the tree path 8 - 7 - ... - 2 - 19 - 20 - 21
    assert set(cycle) == set(nx.shortest_path(graph, 8, 21)) and len(cycle) == len(set(cycle)) == 10
    with pytest.raises(ecc.InputError, match=r"cycle .*21|cycle .*8"):
        m = ecc.Market()
        m.g = ecc.Producer(bus=1, b=1.0, p_max=1)
        m.net = LinDistFlow(graph=g, ref_bus=1, base_mva=BASE_MVA)


def test_parallel_lines_are_a_cycle():
    g = nx.MultiGraph()
    g.add_edge("a", "b", r=0.1, x=0.1)
    g.add_edge("a", "b", r=0.1, x=0.1)
    assert set(find_cycle(g)) == {"a", "b"}
    with pytest.raises(ecc.InputError, match=r"cycle 'a' - 'b' - 'a'|cycle 'b' - 'a' - 'b'"):
        RadialFeeder(g, root="a")


def test_island_is_named():
    g = nx.Graph()
    g.add_edge(0, 1, r=0.1, x=0.1)
    g.add_edge(5, 6, r=0.1, x=0.1)
    with pytest.raises(ecc.InputError, match=r"island \{5, 6\}.*root bus 0"):
        RadialFeeder(g, root=0)


def test_missing_impedance_names_the_edge():
    g = nx.Graph()
    g.add_edge(0, 1, r=0.1, x=0.1)
    g.add_edge(1, 2, r=0.1)
    m = ecc.Market()
    m.g = ecc.Producer(bus=0, b=1.0, p_max=1)
    with pytest.raises(ecc.InputError, match=r"LinDistFlow 'net'.*branch \(1, 2\) has no attribute 'x'"):
        m.net = LinDistFlow(graph=g, ref_bus=0, base_mva=1.0)


def test_bad_attributes_are_named():
    g = nx.Graph()
    g.add_edge(0, 1, r=-0.1, x=0.1)
    m = ecc.Market()
    m.g = ecc.Producer(bus=0, b=1.0, p_max=1)
    with pytest.raises(ecc.InputError, match=r"branch \(0, 1\): resistance r must be >= 0"):
        m.net = LinDistFlow(graph=g, ref_bus=0)
    g = nx.Graph()
    g.add_edge(0, 1, r=0.1, x="high")
    with pytest.raises(ecc.InputError, match=r"branch \(0, 1\) attribute 'x': expected a number"):
        RadialFeeder(g, root=0)
    g = nx.Graph()
    g.add_edge(0, 1, r=0.1, x=0.1)
    g.nodes[1]["p_load"] = 1.0
    m2 = ecc.Market()
    m2.g = ecc.Producer(bus=0, b=1.0, p_max=1)
    with pytest.raises(ecc.InputError, match=r"bus 1: node attribute 'p_load' is not read"):
        m2.net = LinDistFlow(graph=g, ref_bus=0)
    g.nodes[1]["load"] = [1.0, 2.0]
    del g.nodes[1]["p_load"]
    m3 = ecc.Market()
    m3.g = ecc.Producer(bus=0, b=1.0, p_max=1)
    with pytest.raises(ecc.InputError, match=r"bus 1: attribute 'load' has 2 values but the market has 1"):
        m3.net = LinDistFlow(graph=g, ref_bus=0)


def test_missing_root_and_unknown_bus():
    g = nx.Graph()
    g.add_edge(0, 1, r=0.1, x=0.1)
    m = ecc.Market()
    m.g = ecc.Producer(bus=0, b=1.0, p_max=1)
    with pytest.raises(ecc.InputError, match="no root"):
        m.net = LinDistFlow(graph=g, base_mva=1.0)
    m2 = ecc.Market()
    m2.g = ecc.Producer(bus=7, b=1.0, p_max=1)
    m2.net = LinDistFlow(graph=g, ref_bus=0, base_mva=1.0)
    with pytest.raises(ecc.InputError, match="unknown bus 7"):
        ecc.solve(m2)


def test_directions_are_ignored(graph):
    """A DiGraph with every branch pointing to the root gives the same feeder and voltages."""
    dg = nx.DiGraph(base_mva=BASE_MVA)
    dg.add_nodes_from(graph.nodes(data=True))
    fd = RadialFeeder(graph, root=1)
    for j in fd.branches:
        dg.add_edge(j, fd.parent[j], **graph.edges[fd.parent[j], j])
    rev = RadialFeeder(dg, root=1)
    assert rev.parent == fd.parent
    for g in (graph, dg):
        m = ecc.Market()
        m.sub = ecc.Producer(bus=1, b=50.0, p_max=10)
        m.net = LinDistFlow(graph=g, ref_bus=1)          # base_mva from the graph
        ecc.solve(m)
        assert round(m.net.voltages().v_pu.min(), 4) == 0.9159


def test_out_of_service_line_is_left_out(graph):
    g = graph.copy()
    g.add_edge(21, 8, r=0.125, x=0.125, in_service=False)     # the tie line, open
    assert len(RadialFeeder(g, root=1).branches) == 32


# -- the 33-bus feeder -----------------------------------------------------------------------
def test_case33bw_data(case, graph):
    """3.715 MW / 2.3 Mvar of load on 33 buses and 32 in-service branches (Baran & Wu 1989)."""
    assert graph.number_of_nodes() == 33 and graph.number_of_edges() == 32
    assert math.isclose(sum(d["load"] for _, d in graph.nodes(data=True)), 3.715, abs_tol=1e-9)
    assert math.isclose(sum(d["q_load"] for _, d in graph.nodes(data=True)), 2.3, abs_tol=1e-9)


def test_case33bw_min_voltage(case):
    """Lossless LinDistFlow: minimum voltage 0.9159 pu at bus 18 (validation list)."""
    m = solved_feeder(case)
    prof = m.network.voltages()
    assert prof.v_pu.idxmin() == (18, 0)
    assert round(prof.v_pu.min(), 4) == 0.9159
    # lossless: the substation supplies exactly the load, at its offer price everywhere
    assert math.isclose(m.substation.p[0].value, 3.715, rel_tol=1e-9)
    np.testing.assert_allclose(ecc.prices(m).lmp.to_numpy(), 50.0, rtol=1e-9)


def test_case33bw_voltages_equal_closed_form(case, graph):
    """v = V0^2 - 2 s (R P^L + X Q^L), an independent linear-algebra computation."""
    m = solved_feeder(case)
    buses, r_mat = common_path_matrix(graph, 1, "r")
    _, x_mat = common_path_matrix(graph, 1, "x")
    pl = np.array([graph.nodes[b]["load"] for b in buses])
    ql = np.array([graph.nodes[b]["q_load"] for b in buses])
    s = 1.0 / BASE_MVA
    ref = 1.0 - 2 * s * (r_mat @ pl + x_mat @ ql)
    got = m.network.voltages().v_sq.xs(0, level="t").loc[buses].to_numpy()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("bus", [18, 25, 33])
def test_sensitivities_match_finite_differences(case, bus):
    """dv^2_k/dP_i = -2 s R_ki and dv^2_k/dQ_i = -2 s X_ki against re-solved perturbations."""
    base = solved_feeder(case)
    v0 = base.network.voltages().v_sq
    dv_dp, dv_dq = base.network.sensitivities().voltage()
    delta = 0.05
    for attr, sens in (("p_load", dv_dp), ("q_load", dv_dq)):
        m = solved_feeder(case, {(bus, attr): getattr(base.network, attr)[bus, 0].value + delta})
        fd = (m.network.voltages().v_sq - v0).xs(0, level="t") / delta
        np.testing.assert_allclose(fd.loc[sens.index].to_numpy(), sens[bus].to_numpy(), atol=1e-7)
        assert (sens[bus] <= 0).all() and sens.loc[bus, bus] < 0


def test_power_unit_and_period_invariance(case, graph):
    """The same feeder in kW with two half-hour periods: same voltages, same $/MWh prices."""
    def market(unit, scale, dt):
        g = graph.copy()
        for b in g:
            g.nodes[b]["load"] = [scale * g.nodes[b]["load"], 0.5 * scale * g.nodes[b]["load"]]
            g.nodes[b]["q_load"] = [scale * g.nodes[b]["q_load"]] * 2
        m = ecc.Market(periods=2, dt=dt, power_unit=unit)
        m.sub = ecc.Producer(bus=1, b=50.0 / scale, p_max=10 * scale)
        m.der = ecc.Producer(bus=18, a=30.0 / scale ** 2, b=55.0 / scale, p_max=2 * scale)
        m.net = LinDistFlow(graph=g, ref_bus=1, base_mva=BASE_MVA, v_min=0.925)
        ecc.solve(m)
        return m

    mw = market("MW", 1.0, 1.0)
    kw = market("kW", 1000.0, 0.5)
    np.testing.assert_allclose(kw.net.voltages().v_sq.to_numpy(),
                               mw.net.voltages().v_sq.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(ecc.prices(kw).lmp.to_numpy(), ecc.prices(mw).lmp.to_numpy(), rtol=1e-6)
    assert ecc.prices(mw).lmp.max() > 50.5            # the voltage limit binds in period 0


def test_polygon_limits_branch_flow(graph):
    """A rated branch carries the largest P the polygon allows with its (fixed) Q."""
    q_down = sum(graph.nodes[b]["q_load"] for b in range(26, 34))
    for polygon, kappa in (("outer", 1.0), ("inner", math.cos(math.pi / 12))):
        g = graph.copy()
        g.edges[6, 26]["rating"] = 1.0
        m = ecc.Market()
        m.sub = ecc.Producer(bus=1, b=50.0, p_max=10)
        m.der = ecc.Producer(bus=33, b=80.0, p_max=2)
        m.net = LinDistFlow(graph=g, ref_bus=1, base_mva=BASE_MVA, polygon=polygon, polygon_sides=12)
        ecc.solve(m)
        p, q = m.net.p_flow[26, 0].value, m.net.q_flow[26, 0].value
        assert math.isclose(q, q_down, rel_tol=1e-9)
        thetas = [2 * math.pi * k / 12 for k in range(12)]
        p_max = min((kappa * 1.0 - math.sin(th) * q) / math.cos(th) for th in thetas if math.cos(th) > 1e-12)
        assert math.isclose(p, p_max, rel_tol=1e-7)
        if polygon == "inner":
            assert math.hypot(p, q) <= 1.0 + 1e-9
        else:
            assert math.hypot(p, q) > 1.0      # the outer polygon is a relaxation


def test_bus_loads_are_mutable_params(case):
    m = build_feeder(case)
    ecc.solve(m)
    m.network.p_load[18, 0] = m.network.p_load[18, 0].value + 0.1
    ecc.solve(m)
    assert math.isclose(m.substation.p[0].value, 3.815, rel_tol=1e-9)


def test_cli_prints_the_voltage_profile():
    """``pyomo-ecc run case33bw`` prints the voltage profile by bus."""
    import io

    from pyomo_ecc.cli import run
    out = io.StringIO()
    run("case33bw", out=out)
    text = out.getvalue()
    assert "Voltage profile" in text and "minimum 0.9159 pu at bus 18" in text
    profile = text.split("Voltage profile")[1].splitlines()
    row18 = next(line for line in profile if line.startswith("18 "))
    assert row18.split()[2] == "0.915934"                 # v_pu of bus 18


def test_fixed_load_participant_equals_bus_load(case, graph):
    """A FixedLoad at a bus goes to the right-hand side exactly like the bus's own load."""
    ref = solved_feeder(case, {(18, "p_load"): graph.nodes[18]["load"] + 0.2})
    m = build_feeder(case)
    m.extra = ecc.FixedLoad(bus=18, p=0.2)
    ecc.solve(m)
    np.testing.assert_allclose(m.network.voltages().v_sq.to_numpy(),
                               ref.network.voltages().v_sq.to_numpy(), atol=1e-10)
    assert math.isclose(m.substation.p[0].value, 3.915, rel_tol=1e-9)


@declare_block("ReactiveSource")
class ReactiveSourceData(ParticipantData):
    """A participant that injects reactive power only (a capacitor bank at a set output)."""

    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("q", ConfigValue(default=0.0, domain=float))

    def build_participant(self, market):
        self.q = Var(market.T, initialize=self.config.q)
        self.q.fix()
        self.p_inj = Expression(market.T, rule=lambda b, t: 0.0)
        self.q_inj = Expression(market.T, rule=lambda b, t: b.q[t])
        self.bid_cost = Expression(expr=0.0)


def test_participant_q_inj_enters_the_reactive_balance(case, graph):
    """0.3 Mvar injected at bus 18 gives the voltages of 0.3 Mvar less reactive load there."""
    ref = solved_feeder(case, {(18, "q_load"): graph.nodes[18]["q_load"] - 0.3})
    m = build_feeder(case)
    m.cap = ReactiveSource(bus=18, q=0.3)
    ecc.solve(m)
    np.testing.assert_allclose(m.network.voltages().v_sq.to_numpy(),
                               ref.network.voltages().v_sq.to_numpy(), atol=1e-10)
    assert m.network.voltages().v_pu.min() > 0.9159 + 1e-3
    assert math.isclose(m.network.q_sub[0].value, 2.3 - 0.3, rel_tol=1e-9)


def test_case33bw_file_equals_pandapower_case33bw(case):
    """Every bus load and every line of the case file (r, x in ohm, tie lines out of service)
    equals pandapower.networks.case33bw, the Baran & Wu (1989) data; pandapower's bus k is bus
    k + 1 here, its external grid (1.0 pu) the root bus 1."""
    pn = pytest.importorskip("pandapower.networks")
    net = pn.case33bw()
    assert net.bus.vn_kv.unique().tolist() == [case.data["network"]["base_kv"]]
    assert net.sn_mva == case.data["network"]["base_mva"]
    assert net.ext_grid.bus.tolist() == [case.data["network"]["ref_bus"] - 1]
    assert net.ext_grid.vm_pu.tolist() == [case.data["network"]["v_root"]]
    ref = {int(k) + 1: [0.0, 0.0] for k in net.bus.index}
    for _, ld in net.load.iterrows():
        ref[int(ld.bus) + 1][0] += ld.p_mw * ld.scaling
        ref[int(ld.bus) + 1][1] += ld.q_mvar * ld.scaling
    got = {b["id"]: [b["load"], b["q_load"]] for b in case.data["bus"]}
    assert got.keys() == ref.keys() and len(got) == 33
    for b in ref:
        assert got[b] == pytest.approx(ref[b], abs=1e-12), f"bus {b}"
    ref_lines = {}
    for _, ln in net.line.iterrows():
        ends = frozenset((int(ln.from_bus) + 1, int(ln.to_bus) + 1))
        ref_lines[ends] = (ln.r_ohm_per_km * ln.length_km, ln.x_ohm_per_km * ln.length_km,
                           bool(ln.in_service))
    lines = {frozenset((ln["from"], ln["to"])): (ln["r"], ln["x"], ln.get("in_service", True))
             for ln in case.data["line"]}
    assert len(case.data["line"]) == len(lines) == 37 and lines.keys() == ref_lines.keys()
    for ends, (r, x, on) in ref_lines.items():
        assert lines[ends][:2] == pytest.approx((r, x), abs=1e-12), f"line {sorted(ends)}"
        assert lines[ends][2] is on, f"line {sorted(ends)} in_service"


@declare_block("FixedReactiveLoad")
class FixedReactiveLoadData(ParticipantData):
    """A constant reactive withdrawal (fixed injection: the network puts it on the RHS)."""

    fixed_injection = True
    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("q", ConfigValue(default=0.0, domain=float))

    def build_participant(self, market):
        self.p_inj = Expression(market.T, rule=lambda b, t: 0.0)
        self.q_inj = Expression(market.T, rule=lambda b, t: -self.config.q)
        self.bid_cost = Expression(expr=0.0)


def test_fixed_participant_q_inj_goes_to_the_right_hand_side(case, graph):
    """A fixed reactive withdrawal of 0.2 Mvar at bus 18 equals 0.2 Mvar more bus load there."""
    ref = solved_feeder(case, {(18, "q_load"): graph.nodes[18]["q_load"] + 0.2})
    m = build_feeder(case)
    m.react = FixedReactiveLoad(bus=18, q=0.2)
    ecc.solve(m)
    np.testing.assert_allclose(m.network.voltages().v_sq.to_numpy(),
                               ref.network.voltages().v_sq.to_numpy(), atol=1e-10)
    assert m.network.voltages().v_pu.min() < 0.9159 - 1e-3
    assert math.isclose(m.network.q_sub[0].value, 2.3 + 0.2, rel_tol=1e-9)


def test_non_finite_impedance_is_named():
    g = nx.Graph()
    g.add_edge(0, 1, r=0.1, x=0.1)
    g.add_edge(1, 2, r=float("nan"), x=0.1)
    with pytest.raises(ecc.InputError, match=r"branch \(1, 2\) attribute 'r': value is NaN"):
        RadialFeeder(g, root=0)
    g.edges[1, 2]["r"] = 0.1
    g.edges[1, 2]["x"] = float("inf")
    with pytest.raises(ecc.InputError, match=r"branch \(1, 2\) attribute 'x': must be finite, got inf"):
        RadialFeeder(g, root=0)


def test_feeder_case_errors_are_named(case):
    """Bad feeder case data raises an InputError naming the entry, also for open tie lines."""
    import copy

    def broken(edit):
        c = copy.deepcopy(case)
        edit(c.data)
        return c

    cases = [
        (lambda d: d["network"].pop("base_kv"), r"\[network\] needs 'base_kv'"),
        (lambda d: d["line"][-1].update(to=99), r"\[\[line\]\] entry 36: unknown bus 99"),
        (lambda d: d["line"][0].update(in_service="no"),
         r"\[\[line\]\] entry 0: 'in_service' must be true or false"),
        (lambda d: d["line"].append(dict(d["line"][0])),
         r"entry 37: a second line between 1 and 2"),
        (lambda d: d["line"][3].pop("x"), r"\[\[line\]\] entry 3 needs 'x'"),
        (lambda d: d["bus"][4].update(p_load=1.0), r"\[\[bus\]\] entry 4: unknown key\(s\) \['p_load'\]"),
    ]
    for edit, pattern in cases:
        with pytest.raises(ecc.InputError, match=pattern):
            feeder_graph(broken(edit))
    with pytest.raises(ecc.InputError, match=r"unknown option\(s\) \['foo'\]"):
        build_feeder(broken(lambda d: d["network"].update(foo=1)))
