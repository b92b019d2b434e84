"""Loss-aware linear DLMPs (LinDistFlowLosses + solve_losses) against AC DistFlow.

Checks: the loss-aware prices equal the AC DistFlow prices (Ipopt) and the finite differences
of the AC optimal cost (perturb a bus load, re-solve AC); the components sum to the nodal
price on every feeder case; the loss component equals lambda_0 dP_loss/dP_k from an independent
Newton-Raphson power flow (pandapower runpp). Feeder data: IEEE 33-bus (Baran & Wu 1989, as
in pandapower.networks.case33bw); the limits, DERs and resources of case33bw_limits and
feeder33_day are stated in their case files.
"""
import numpy as np
import pytest
from conftest import requires_ipopt
from pyomo.environ import value

import pyomo_ecc as ecc
from pyomo_ecc.models.feeder import build_feeder
from pyomo_ecc.pricing.dlmp import COMPONENTS, dlmp, loss_factors
from pyomo_ecc.analysis.losses import solve_losses

pytestmark = pytest.mark.component


@pytest.fixture(scope="module")
def limits():
    return ecc.load_case("case33bw_limits")


@pytest.fixture(scope="module")
def lossy(limits):
    m = build_feeder(limits, "losses")
    it = solve_losses(m)
    return m, it


@pytest.fixture(scope="module")
def ac(limits):
    m = build_feeder(limits, "ac_distflow")
    ecc.solve(m, "ipopt")
    return m


@requires_ipopt
def test_loss_aware_prices_equal_ac_with_binding_limits(lossy, ac, limits):
    """case33bw with a congested branch (6-26) and a binding lower voltage limit: every bus's
    loss-aware DLMP and each of its components are within 0.001 $/MWh of AC DistFlow's, while
    lossless LinDistFlow is off by more than 1 $/MWh."""
    m, it = lossy
    assert it.converged.iloc[-1] and len(it) <= 15
    assert it.loss_residual_mw.iloc[-1] < 1e-7 and it.price_change.iloc[-1] < 1e-6
    d, d_ac = dlmp(m), dlmp(ac)
    assert (d - d_ac.loc[d.index]).abs().max().max() < 1e-3
    # the limits bind and every component is present
    net = m.network
    downstream = set(net.feeder.downstream(26))
    assert all(d.loc[(b, 0), "congestion"] > 1.0 for b in downstream)
    assert d.loc[(18, 0), "voltage"] > 1.0
    assert (d.loss.drop(index=(1, 0)) > 0).all()
    assert ecc.price_frame(m, "branch_price")["branch_price"].max() > 1.0
    assert ecc.price_frame(m, "v_min_price")["v_min_price"].max() > 1.0
    # the losses themselves are AC DistFlow's
    assert float(net.losses().iloc[0]) == pytest.approx(float(ac.network.losses().iloc[0]), rel=1e-6)
    lin = build_feeder(limits, "lindistflow")
    ecc.solve(lin)
    assert (ecc.prices(lin).lmp - d_ac.lmp).abs().max() > 1.0


@requires_ipopt
@pytest.mark.parametrize("bus", [18, 30, 12])
def test_loss_aware_prices_equal_ac_finite_differences(lossy, limits, bus):
    """The loss-aware LMP equals the change of the AC DistFlow optimal cost per MWh of load."""
    m, _ = lossy
    delta = 1e-3
    costs = []
    for sign in (+1, -1):
        mm = build_feeder(limits, "ac_distflow")
        mm.network.p_load[bus, 0] = mm.network.p_load[bus, 0].value + sign * delta
        costs.append(ecc.solve(mm, "ipopt").objective)
    fd = (costs[0] - costs[1]) / (2 * delta)
    assert dlmp(m).loc[(bus, 0), "lmp"] == pytest.approx(fd, rel=1e-5)


@pytest.fixture(scope="module")
def day():
    return ecc.load_case("feeder33_day")


@requires_ipopt
def test_multi_period_feeder_with_storage_matches_ac(day):
    """Eight hours of feeder33_day (DERs, PV prosumer, battery, EV load): prices by bus and hour
    equal AC DistFlow's within 0.001 $/MWh, components sum, and the LMP of bus 30 in hour 3
    equals the finite difference of the AC optimal cost (the battery and EV couple the hours)."""
    m = build_feeder(day, "losses", periods=8)
    solve_losses(m)
    d = dlmp(m)
    ac = build_feeder(day, "ac_distflow", periods=8)
    ecc.solve(ac, "ipopt")
    d_ac = dlmp(ac)
    assert len(d) == 33 * 8
    assert (d.lmp - d_ac.lmp.loc[d.index]).abs().max() < 1e-3
    assert (d[list(COMPONENTS)] - d_ac[list(COMPONENTS)].loc[d.index]).abs().max().max() < 1e-3
    assert d.lmp.unstack("t").std(axis=1).max() > 0.5         # prices move over the hours
    assert sum(-value(m.battery.p_inj[t]) for t in m.T) > 0.5      # it charges
    delta = 1e-3
    costs = []
    for sign in (+1, -1):
        mm = build_feeder(day, "ac_distflow", periods=8)
        mm.network.p_load[30, 3] = mm.network.p_load[30, 3].value + sign * delta
        costs.append(ecc.solve(mm, "ipopt").objective)
    assert d.loc[(30, 3), "lmp"] == pytest.approx((costs[0] - costs[1]) / (2 * delta), rel=1e-5)


def _feeder_cases():
    cases = ecc.list_cases()
    return sorted(cases.index[cases.model == "feeder"]) if "model" in cases else []


@pytest.mark.parametrize("name", _feeder_cases())
@pytest.mark.parametrize("formulation", ["lindistflow", "losses", "ac_distflow"])
def test_components_sum_to_nodal_price_on_every_feeder_case(name, formulation):
    if formulation == "ac_distflow":
        from conftest import ipopt_available
        if not ipopt_available():
            pytest.skip("Ipopt not available")
    case = ecc.load_case(name)
    periods = 8 if int(case.meta.get("periods", 1)) > 8 else None
    m = build_feeder(case, formulation, periods=periods)
    if formulation == "losses":
        solve_losses(m)
    else:
        ecc.solve(m, "ipopt" if formulation == "ac_distflow" else "highs")
    for price in ("lmp", "qlmp"):
        d = dlmp(m, price=price)                                   # check=True
        np.testing.assert_allclose(d[list(COMPONENTS)].sum(axis=1), d[price], atol=1e-6)
        np.testing.assert_allclose(d[price], ecc.price_frame(m, price)[price].loc[d.index], rtol=1e-12)


def test_loss_component_equals_newton_raphson_loss_sensitivity():
    """case33bw (no binding limit): the loss component of bus k is 50 $/MWh times
    dP_loss/dP_k, the change of the losses of pandapower's AC power flow per MW of load at k."""
    pp = pytest.importorskip("pandapower")
    pn = pytest.importorskip("pandapower.networks")
    m = build_feeder(ecc.load_case("case33bw"), "losses")
    solve_losses(m)
    d = dlmp(m)
    mlf = loss_factors(m)
    net = pn.case33bw()
    delta = 1e-4
    for bus in (18, 33, 25, 8):
        load = net.load.index[net.load.bus == bus - 1][0]        # pandapower bus k is bus k+1
        base = net.load.at[load, "p_mw"]
        loss = []
        for sign in (+1, -1):
            net.load.at[load, "p_mw"] = base + sign * delta
            pp.runpp(net, tolerance_mva=1e-11)
            loss.append(net.res_line.pl_mw.sum())
        net.load.at[load, "p_mw"] = base
        dloss = (loss[0] - loss[1]) / (2 * delta)
        assert dloss > 0.01
        assert mlf.loc[(bus, 0), "mlf"] == pytest.approx(dloss, rel=1e-4)
        assert d.loc[(bus, 0), "loss"] == pytest.approx(50.0 * dloss, rel=1e-4)


# -- declared limit prices ---------------------------------------------------------------------
def test_declared_limit_prices_are_finite_differences_of_cost(limits):
    """v_min_price is the cost saved per pu² of squared-voltage room per hour, branch_price the
    cost saved per MWh of rating: finite differences of the LinDistFlow optimal cost."""
    m = build_feeder(limits, "lindistflow")
    ecc.solve(m)
    vp = ecc.price_frame(m, "v_min_price")["v_min_price"]
    bus = vp.idxmax()[0]
    assert vp.max() > 1.0 and (vp >= -1e-9).all()
    delta = 1e-5
    costs = []
    for sign in (+1, -1):
        mm = build_feeder(limits, "lindistflow")
        vmin = mm.network.v_min[bus].value
        mm.network.v_min[bus] = np.sqrt(vmin ** 2 + sign * delta)
        costs.append(ecc.solve(mm).objective)
    assert vp.max() == pytest.approx((costs[0] - costs[1]) / (2 * delta), rel=1e-5)
    bp = ecc.price_frame(m, "branch_price")["branch_price"]
    assert (bp >= -1e-9).all() and bp.max() > 1.0
    costs = []
    for sign in (+1, -1):
        mm = build_feeder(limits, "lindistflow")
        mm.network.rating[26] = mm.network.rating[26].value + sign * 1e-4
        costs.append(ecc.solve(mm).objective)
    # a polygon side binds: the rating's price is the sum over sides (the rhs moves together)
    assert bp.xs(26, level="branch").sum() == pytest.approx(-(costs[0] - costs[1]) / 2e-4, rel=1e-5)


def test_limit_prices_invariant_to_units_and_period_length(limits):
    """kW and half-hour periods: the published limit prices stay in $ per pu² h and $ per MWh."""
    m = build_feeder(limits, "lindistflow")
    ecc.solve(m)
    g = m.network.config.graph.copy()
    for b in g.nodes:
        for attr in ("load", "q_load"):
            g.nodes[b][attr] = 1000 * g.nodes[b].get(attr, 0.0)
    for u, v in g.edges:
        if "rating" in g.edges[u, v]:
            g.edges[u, v]["rating"] *= 1000
    k = ecc.Market(periods=2, dt=0.5, power_unit="kW")
    k.sub = ecc.Producer(bus=1, b=0.05, p_max=1e4)
    k.der18 = ecc.Producer(bus=18, a=20e-6, b=0.055, p_max=1000)
    k.der33 = ecc.Producer(bus=33, a=20e-6, b=0.060, p_max=1000)
    k.network = ecc.LinDistFlow(graph=g, ref_bus=1, base_mva=10.0, v_min=0.95, v_max=1.05)
    ecc.solve(k)
    for name in ("v_min_price", "branch_price", "lmp"):
        a = ecc.price_frame(m, name)[name]
        b = ecc.price_frame(k, name)[name].xs(1, level="t")
        np.testing.assert_allclose(b.to_numpy(), a.xs(0, level="t").to_numpy(), rtol=1e-6, atol=1e-6)


def test_tree_walk_equals_path_matrices_and_adjoint_on_a_synthetic_feeder():
    """A seeded 200-bus feeder: the tree-walk voltage component equals the dense closed form
    sum_k 2 R_ki (pi_min,k - pi_max,k) / S_base with R from the path matrix, and the sparse
    adjoint (jacobian) route reproduces the tree walk."""
    from pyomo_ecc.models.feeder import synthetic_market
    m = synthetic_market(200, np.random.default_rng(3))
    ecc.solve(m)
    d = dlmp(m, method="path")
    assert d.voltage.max() > 0.5 and d.congestion.max() > 0.5
    R = m.network.feeder.path_matrix("r", include_root=True)
    pi = ecc.price_frame(m, "v_min_price")["v_min_price"].xs(0, level="t")
    pi = pi.reindex(R.index, fill_value=0.0)
    closed = 2 * R.to_numpy() @ pi.to_numpy() / m.network.base_mva
    np.testing.assert_allclose(d.voltage.xs(0, level="t").loc[R.index].to_numpy(), closed, atol=1e-9)
    np.testing.assert_allclose(dlmp(m, method="jacobian").to_numpy(), d.to_numpy(), atol=1e-7)


# -- bad input ---------------------------------------------------------------------------------
def test_meshed_feeder_named():
    import networkx as nx
    g = nx.Graph()
    g.add_edge(0, 1, r=0.01, x=0.01)
    g.add_edge(1, 2, r=0.01, x=0.01)
    g.add_edge(2, 0, r=0.01, x=0.01)
    m = ecc.Market()
    m.sub = ecc.Producer(bus=0, b=50, p_max=10)
    with pytest.raises(ecc.InputError, match="not radial: it has the cycle"):
        m.net = ecc.LinDistFlowLosses(graph=g, ref_bus=0)


def test_missing_substation_named():
    import networkx as nx
    g = nx.Graph()
    g.add_edge("a", "b", r=0.01, x=0.01)
    m = ecc.Market()
    m.sub = ecc.Producer(bus="a", b=50, p_max=10)
    with pytest.raises(ecc.InputError, match="no root"):
        m.net = ecc.LinDistFlowLosses(graph=g)
    with pytest.raises(ecc.InputError, match="root .*'sub' is not a node"):
        m.net = ecc.LinDistFlowLosses(graph=g, ref_bus="sub")


def test_infeasible_voltage_band_named():
    """v_min = 0.97 pu cannot be met on case33bw without DERs: the error names voltage limits."""
    case = ecc.load_case("case33bw")
    m = build_feeder(case, "losses")
    for b in m.network.bus_v_min:
        m.network.v_min[b] = 0.97
    with pytest.raises(ecc.InfeasibleMarketError, match=r"ineq_v_min\[18,0\]"):
        solve_losses(m)


def test_solve_losses_needs_the_loss_aware_network(limits):
    m = build_feeder(limits, "lindistflow")
    with pytest.raises(ecc.ModelError, match="LinDistFlowLosses"):
        solve_losses(m)
    with pytest.raises(ValueError, match="max_iter"):
        solve_losses(build_feeder(limits, "losses"), max_iter=0)
    with pytest.raises(ecc.InputError, match="periods must be an integer from 1"):
        build_feeder(limits, "losses", periods=3)


def test_iteration_limit_is_an_error(limits):
    m = build_feeder(limits, "losses")
    with pytest.raises(ecc.SolverError, match="did not converge in 2 iterations"):
        solve_losses(m, max_iter=2)


def test_price_frames_publish_what_price_frame_publishes(limits):
    from pyomo_ecc.pricing.prices import price_frames
    m = build_feeder(limits, "losses")
    solve_losses(m)
    names = ["lmp", "qlmp", "branch_price", "v_min_price", "v_max_price", "no_such_price"]
    frames = price_frames(m, names)
    assert frames["no_such_price"] is None
    for name in names[:-1]:
        pd_frame = ecc.price_frame(m, name)
        assert frames[name].index.equals(pd_frame.index)
        np.testing.assert_array_equal(frames[name][name].to_numpy(), pd_frame[name].to_numpy())


def test_losses_type_in_a_case_file_points_to_the_iteration(tmp_path):
    """A case whose network type is 'losses' is not solved by one `run`: the error says how."""
    from pyomo_ecc.case_library import __file__ as lib
    from pathlib import Path
    text = (Path(lib).parent / "case33bw.toml").read_text()
    path = tmp_path / "lossy.toml"
    path.write_text(text.replace('type = "lindistflow"', 'type = "losses"'))
    case = ecc.load_case(str(path))
    with pytest.raises(ecc.InputError, match="solve_losses"):
        build_feeder(case)
    from pyomo_ecc.network.lindistflow import LinDistFlowLossesData
    assert isinstance(build_feeder(case, "losses").network, LinDistFlowLossesData)


@requires_ipopt
def test_reverse_flow_upper_voltage_limit_matches_ac():
    """30 % load and a cheap 3 MW DER at bus 18 pushing its voltage to v_max = 1.03 pu: the
    loss-aware lmp and qlmp equal AC DistFlow's; the loss component is negative near the DER
    (its output relieves the losses) and the voltage component is negative (v_max binds)."""
    from pyomo_ecc.models.feeder import feeder_graph
    graph = feeder_graph(ecc.load_case("case33bw"))

    def market(net):
        g = graph.copy()
        for b in g:
            g.nodes[b]["load"] *= 0.3
            g.nodes[b]["q_load"] *= 0.3
        m = ecc.Market()
        m.sub = ecc.Producer(bus=1, b=50.0, p_max=10)
        m.pv = ecc.Producer(bus=18, a=5.0, b=20.0, p_max=3.0)
        m.net = net(graph=g, ref_bus=1, base_mva=10.0, v_min=0.95, v_max=1.03)
        return m

    a = market(ecc.LinDistFlowLosses)
    solve_losses(a)
    b = market(ecc.ACDistFlow)
    ecc.solve(b, "ipopt")
    for price in ("lmp", "qlmp"):
        assert (dlmp(a, price=price) - dlmp(b, price=price)).abs().max().max() < 1e-4
    d = dlmp(a)
    assert d.loc[(18, 0), "loss"] < -1.0 and d.loc[(18, 0), "voltage"] < -10.0
    assert ecc.price_frame(a, "v_max_price").loc[(18, 0), "v_max_price"] > 1.0
    assert d.loc[(18, 0), "lmp"] == pytest.approx(20.0 + 2 * 5.0 * a.pv.p[0].value, rel=1e-7)


def test_curvature_term_leaves_the_fixed_point_unchanged(limits):
    """With and without the losses' second-order term the iteration ends at the same prices
    (the term and its gradient vanish there); 'auto' adds it here (quadratic DER offers)."""
    out = {}
    for mode in (False, True, "auto"):
        m = build_feeder(limits, "losses")
        it = solve_losses(m, curvature=mode)
        out[mode] = dlmp(m)
        assert it.curvature.iloc[0] == False                        # noqa: E712 (first: LinDistFlow)
        assert bool(it.curvature.iloc[1:].any()) == (mode is not False)
    for mode in (True, "auto"):
        assert (out[mode] - out[False]).abs().max().max() < 1e-5
    with pytest.raises(ValueError, match="curvature"):
        solve_losses(build_feeder(limits, "losses"), curvature="yes")


@pytest.mark.parametrize("case_name, periods", [("case33bw_limits", None), ("feeder33_day", 8)])
def test_compiled_engine_gives_the_plain_route_iterates_and_prices(case_name, periods):
    """engine='whatif' (compiled once, the moved Params pushed to a live HiGHS model) follows
    the plain route (pyomo_ecc.solve afresh each iteration) iterate by iterate: the same
    number of iterations, losses and residuals, and the same DLMP components (the storage day
    carries the QP curvature term, so the pushed Hessian is exercised too)."""
    case = ecc.load_case(case_name)
    out, its = {}, {}
    for engine in ("solve", "whatif"):
        m = build_feeder(case, "losses", periods=periods)
        its[engine] = solve_losses(m, engine=engine)
        out[engine] = dlmp(m)
    a, b = its["solve"], its["whatif"]
    assert len(a) == len(b)
    assert np.allclose(a.losses_mw, b.losses_mw, rtol=1e-7, atol=1e-9)
    assert list(a.curvature) == list(b.curvature)
    assert (out["solve"] - out["whatif"]).abs().max().max() < 1e-6
    if case_name == "feeder33_day":
        assert b.curvature.any()


def test_compiled_engine_refuses_a_reported_optimum_that_violates_a_row(limits, monkeypatch):
    """A solution HiGHS calls optimal is checked against every row: one whose flows are
    shifted (as a QP solver reporting 'optimal' with primal infeasibilities) is refused by
    name, and nothing is published."""
    from pyomo_ecc.solvers import HighsModel
    from pyomo_ecc.errors import SolverError, PriceError
    m = build_feeder(limits, "losses")
    real = HighsModel.run

    def shifted(self, basis=None, regularise=True):
        out = real(self, basis, regularise)
        if out.x is not None:
            out.x = out.x + 1e-2
        return out

    monkeypatch.setattr(HighsModel, "run", shifted)
    with pytest.raises(SolverError, match="not accepted"):
        solve_losses(m, engine="whatif")
    with pytest.raises(PriceError):
        ecc.price_frame(m, "lmp")


def test_engine_option_checked(limits):
    with pytest.raises(ValueError, match="engine"):
        solve_losses(build_feeder(limits, "losses"), engine="fast")
    with pytest.raises(ValueError, match="engine='solve'"):
        solve_losses(build_feeder(limits, "losses"), engine="whatif", solver="ipopt")


def test_compiled_entries_equal_a_fresh_compilation_at_a_moved_point(limits):
    """The compiled iteration writes the operating point's numbers from closed forms; moved to
    a new point (every linearisation coefficient nonzero) with the second-order term on, its
    matrix, costs, Hessian and constant equal those of the model compiled afresh there."""
    from pyomo_ecc.analysis.losses import CompiledLosses
    from pyomo_ecc.core.standard_form import standard_form
    from pyomo_ecc.pricing.prices import _dual_suffix
    from pyomo_ecc.solvers import Solver
    m = build_feeder(limits, "losses")
    solve_losses(m, max_iter=50)
    comp = CompiledLosses(m, Solver("highs"), [m.network])
    for v in m.network.p_flow.values():          # a point away from the solution
        v.set_value(1.1 * v.value)
    m.network.relinearise()
    m.network.set_curvature(_dual_suffix(m.network))
    assert max(p.value for p in m.network.rho.values()) > 0
    comp._write()
    fresh = standard_form(m, track=False)
    assert [c.name for c in fresh.rows] == [c.name for c in comp.sf.rows]
    assert [v.name for v in fresh.columns] == [v.name for v in comp.sf.columns]
    assert abs(fresh.A - comp.form.A).max() < 1e-12
    assert np.abs(fresh.c - comp.form.c).max() < 1e-9
    assert abs(fresh.Q - comp.form.Q).max() < 1e-9
    assert fresh.c0 == pytest.approx(comp.form.c0, rel=1e-9, abs=1e-9)
