"""The vectorised B-theta assembly writes the balance of the module doc: at any angles, each
balance row's body equals the participants' injections minus the flows out plus the flows in
(parallel branches, a phase shifter and a tap included), and the flow limits bound p_flow."""
import networkx as nx
import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc

def _market(periods=2):
    G = nx.MultiGraph()
    G.add_edge(1, 2, x=0.1, rating=80)
    G.add_edge(1, 2, x=0.2)                                   # a parallel branch
    G.add_edge(2, 3, x=0.05, tap=1.05, shift=-3.0, rating=120)
    G.add_edge(1, 3, x=0.1, rating=50)
    G.nodes[3]["load"] = [150.0, 90.0][:periods] if periods > 1 else 150.0
    m = ecc.Market(periods=periods)
    m.g1 = ecc.Producer(bus=1, b=10, p_max=300)
    m.g3 = ecc.Producer(bus=3, b=30, p_max=300)
    m.d2 = ecc.FixedLoad(bus=2, p=20)
    m.net = ecc.DCNetwork(graph=G)
    m.assemble()
    return m


@pytest.mark.unit
def test_balance_rows_are_injections_minus_flows_at_any_angles():
    m = _market()
    net = m.net
    rng = np.random.default_rng(0)
    for v in net.theta.values():
        if not v.fixed:
            v.set_value(float(rng.uniform(-0.3, 0.3)))
    for g in (m.g1, m.g3):
        for t in m.T:
            g.p[t].set_value(float(rng.uniform(0, 300)))
    br = net._branches
    for n in net.bus:
        for t in m.T:
            out = sum(pyo.value(net.p_flow[l, t]) for l in br.index[br.from_bus == n])
            into = sum(pyo.value(net.p_flow[l, t]) for l in br.index[br.to_bus == n])
            inj = sum(pyo.value(p.p_inj[t]) for p in m.participants() if p.bus == n
                      and not p.fixed_injection)
            fixed = sum(pyo.value(p.p_inj[t]) for p in m.participants() if p.bus == n
                        and p.fixed_injection)
            con = net.eq_p_balance[n, t]
            rhs = pyo.value(net.p_load[n, t]) + pyo.value(net.gs[n]) - fixed
            assert con.equality
            assert pyo.value(con.body) - pyo.value(con.upper) == pytest.approx(
                inj - out + into - rhs, abs=1e-9)


@pytest.mark.unit
def test_flow_is_beta_times_angle_difference_minus_shift():
    m = _market(periods=1)
    net = m.net
    for v in net.theta.values():
        if not v.fixed:
            v.set_value(0.1)
    for (l, t), e in net.p_flow.items():
        i, j = net._branches.at[l, "from_bus"], net._branches.at[l, "to_bus"]
        want = net.beta[l] * (net.theta[i, t].value - net.theta[j, t].value - net.shift[l])
        assert pyo.value(e) == pytest.approx(want, rel=1e-12, abs=1e-12)
        if l in net.branch_limited:
            assert pyo.value(net.ineq_f_ub[l, t].body) == pytest.approx(want, rel=1e-12, abs=1e-12)
            assert pyo.value(net.ineq_f_ub[l, t].upper) == net.rating[l].value
            assert pyo.value(net.ineq_f_lb[l, t].lower) == -net.rating[l].value


@pytest.mark.unit
def test_btheta_prices_equal_the_ptdf_formulation_with_parallel_branches():
    """Two formulations written independently (angles / distribution factors): the same LMPs."""
    lmps = []
    for form in ("btheta", "ptdf"):
        m = _market()
        G = m.net.config.graph
        m2 = ecc.Market(periods=2)
        m2.g1 = ecc.Producer(bus=1, b=10, p_max=300)
        m2.g3 = ecc.Producer(bus=3, b=30, p_max=300)
        m2.d2 = ecc.FixedLoad(bus=2, p=20)
        m2.net = ecc.DCNetwork(graph=G, formulation=form)
        ecc.solve(m2)
        lmps.append(ecc.prices(m2).lmp.to_numpy())
    assert lmps[0] == pytest.approx(lmps[1], abs=1e-7)
    assert lmps[0].max() > lmps[0].min() + 1.0        # congested: the prices differ by bus


@pytest.mark.unit
def test_angle_bounds_are_a_solver_aid_tried_without_first():
    """The non-fixed angles are the aid columns; HiGHS gets them free, and the prices equal those
    of the same form solved with the bounds (the bounds never bind: the same problem)."""
    from pyomo_ecc.core.standard_form import standard_form
    from pyomo_ecc.solvers import HighsModel
    m = _market()
    sf = standard_form(m, track=False)
    lo_aid, up_aid = sf.aid_columns()
    assert np.array_equal(lo_aid, up_aid)            # both sides of every free angle
    aid = lo_aid
    theta = {id(v) for v in m.net.theta.values() if not v.fixed}
    assert {id(sf.columns[j]) for j in np.flatnonzero(aid)} == theta
    free = HighsModel(sf)
    assert np.all(np.isinf(np.asarray(free.h.getLp().col_lower_)[aid]))
    a = free.run()
    bounded = HighsModel(sf)
    bounded._aid = np.zeros(0, dtype=int)
    bounded.h.changeColsBounds(int(aid.sum()), np.flatnonzero(aid), sf.col_lower[aid], sf.col_upper[aid])
    b = bounded.run()
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    assert a.row_dual == pytest.approx(b.row_dual, abs=1e-7)


def _two_buses():
    """Two buses, x = 0.1 pu on 100 MVA (1000 MW per rad): 100 MW of load at bus 2, a cheap
    offer at bus 1 (10) and a dear one at bus 2 (30)."""
    G = nx.Graph()
    G.add_edge(1, 2, x=0.1)
    G.nodes[1]["ref"] = True
    G.nodes[2]["load"] = 100.0
    m = ecc.Market()
    m.cheap = ecc.Producer(bus=1, b=10, p_max=300)
    m.dear = ecc.Producer(bus=2, b=30, p_max=300)
    m.net = ecc.DCNetwork(graph=G)
    m.assemble()
    return m


@pytest.mark.unit
def test_an_angle_bound_the_user_sets_is_kept():
    """theta_2 >= -0.095 rad limits the flow to 95 MW: cost 95*10 + 5*30 = 1100, LMPs 10 and 30
    (only the aid side, +1e4, is dropped for the free attempt; the user's side stays)."""
    from pyomo_ecc.core.standard_form import standard_form
    m = _two_buses()
    m.net.theta[2, 0].setlb(-0.095)
    lo_aid, up_aid = standard_form(m, track=False).aid_columns()
    assert not lo_aid.any() and up_aid.sum() == 1
    assert ecc.solve(m).objective == pytest.approx(1100.0, rel=1e-9)
    assert ecc.prices(m).lmp.to_numpy() == pytest.approx([10.0, 30.0], abs=1e-7)
    assert m.dear.p[0].value == pytest.approx(5.0, abs=1e-7)
    w = ecc.WhatIf(m)                                # the engine's live model keeps it too
    assert w.base.objective == pytest.approx(1100.0, rel=1e-9)
    out = w.run([ecc.SetParam(m.net.p_load[2, 0], 50.0)], prices=["lmp"])
    assert out.objective == pytest.approx(500.0, rel=1e-9)     # 50 MW over the line, unbound


@pytest.mark.unit
def test_the_free_attempt_is_repeated_with_the_aid_bounds_only_when_it_says_nothing():
    """A failure or an optimum beyond an aid bound is retried with the bounds; a limit the user
    set (time, iterations) is not (the run is not doubled)."""
    from pyomo_ecc.core.standard_form import standard_form
    from pyomo_ecc.solvers import HighsModel
    m = _two_buses()
    live = HighsModel(standard_form(m, track=False))
    S = live._hs.HighsModelStatus
    assert len(live._aid) == 1
    assert live._retry_with_aid(S.kSolveError, S)
    assert live._retry_with_aid(S.kUnboundedOrInfeasible, S)
    assert not live._retry_with_aid(S.kTimeLimit, S)
    assert not live._retry_with_aid(S.kIterationLimit, S)
    live.h.run()
    assert not live._retry_with_aid(S.kOptimal, S)            # theta_2 = -0.1, inside the aid
    j = int(live._aid[0])
    live.h.changeColBounds(j, -2e4, -2e4)                     # an optimum beyond -1e4 rad
    live.h.run()
    assert live._retry_with_aid(live.h.getModelStatus(), S)
    limited = HighsModel(standard_form(m, track=False), {"presolve": "off", "simplex_iteration_limit": 0})
    out = limited.run()
    assert out.status != "optimal" and len(limited._aid) == 1  # stopped at the limit, not re-run


@pytest.mark.integration
def test_case118_qp_that_fails_without_the_aid_bounds_is_solved_with_them(monkeypatch):
    """On case118 at 0.8 load HiGHS 1.x's QP solver fails with free angles (the bounds are then
    put back): HiGHS alone (no regularisation, no Ipopt) solves it; B-theta equals PTDF (no
    angles)."""
    from pyomo_ecc import solvers as solvers_mod
    from pyomo_ecc.core.standard_form import standard_form
    from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
    from pyomo_ecc.solvers import HighsModel
    monkeypatch.setattr(solvers_mod.HighsModel, "QP_REGULARISATION", ())
    monkeypatch.setattr(solvers_mod, "ipopt_qp", lambda sf: solvers_mod.HighsRun("unavailable"))
    case = load_matpower_case("case118")
    bt = build_matpower_market(case, periods=1, load_profile=[0.8])
    pt = build_matpower_market(case, periods=1, load_profile=[0.8], formulation="ptdf")
    live = HighsModel(standard_form(bt, track=False))
    assert len(live._aid) > 0
    assert live.run().status == "optimal"            # with or without the bounds, HiGHS alone
    ecc.solve(bt)
    ecc.solve(pt)
    assert ecc.prices(bt).lmp.to_numpy() == pytest.approx(ecc.prices(pt).lmp.to_numpy(), abs=1e-5)
