"""Batches of what-ifs (``WhatIf.run_many``) against what-ifs run one by one and fresh solves:
inside a batch each undo is pushed together with the next what-if's changes, parameters are
compared once per batch, and the rows of a block are looked up once. Also the pieces those
paths use: subset evaluation of parameter rows, the quick exit of the feasibility check, and
HiGHS duals read after the fact."""
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.core.standard_form import _Coefs, _hessian, standard_form
from pyomo_ecc.whatif import (Activate, Deactivate, Fix, MoveRHS, SetParam, WhatIf, applied,
                                   scale_loads, withdraw)
from pyomo_ecc.solvers import HighsModel


def _state(model):
    """Parameters, variable bounds / fixings / values and activity: what a batch must restore."""
    params = [(p.name, k, p[k].value) for p in model.component_objects(pyo.Param, descend_into=True)
              if p.mutable for k in p]
    vars_ = [(v.name, v.value, v.fixed, v.lb, v.ub) for v in model.component_data_objects(pyo.Var, descend_into=True)]
    active = [(c.name, c.active) for c in model.component_data_objects(pyo.Constraint, descend_into=True)]
    active += [(b.name, b.active) for b in model.block_data_objects(descend_into=True)]
    return params, vars_, active


def _fresh(m, changes):
    """A fresh solve of the changed model: (objective, LMPs) or None when it has no solution."""
    with applied(m, changes):
        try:
            res = ecc.solve(m, diagnose=False)
        except ecc.SolverError:
            return None
        return res.objective, ecc.price_frame(m, "lmp")["lmp"].to_numpy()


def _assert_live_equals_form_and_recompile(w):
    """The live HiGHS model holds exactly the numbers of the form, and the form those of a
    recompile of the model as it stands."""
    sf, lp = w.sf, w.live.h.getLp()
    for name, ours in (("col_lower_", sf.col_lower), ("col_upper_", sf.col_upper),
                       ("row_lower_", sf.row_lower), ("row_upper_", sf.row_upper), ("col_cost_", sf.c)):
        assert np.array_equal(np.asarray(getattr(lp, name)), ours), name
    ref = standard_form(w.model, track=False)
    order = [ref.col_index[v] for v in sf.columns]
    assert np.array_equal(sf.col_lower, ref.col_lower[order])
    assert np.array_equal(sf.col_upper, ref.col_upper[order])
    assert np.allclose(sf.c, ref.c[order], rtol=1e-12, atol=1e-12)
    # rows by constraint: a row the recompile has not (inactive now) is free in the form
    mine = np.array([ref.row_index.get(c, -1) for c in sf.rows])
    on = mine >= 0
    assert sorted(mine[on].tolist()) == list(range(ref.m))
    assert np.all(sf.row_lower[~on] == -np.inf) and np.all(sf.row_upper[~on] == np.inf)
    assert np.array_equal(sf.row_lower[on], ref.row_lower[mine[on]])
    assert np.array_equal(sf.row_upper[on], ref.row_upper[mine[on]])
    assert np.allclose(sf.A.toarray()[on], ref.A.toarray()[mine[on]][:, order], rtol=1e-12, atol=1e-12)


def _sequence(m):
    """What-ifs in an order that exercises the pushed differences: infeasible ones in the
    middle (G3 out: the market is short; loads x5), the same what-if twice in a row, one that
    undoes another's change, parameter, fixing, right-hand-side and activity changes."""
    return {
        "without G1": [withdraw(m.G1)],
        "without G3 (infeasible)": [withdraw(m.G3)],
        "without G3 again": [withdraw(m.G3)],
        "dearer G5": [SetParam(m.G5.b, 300.0)],
        "loads x5 (infeasible)": scale_loads(m, 5.0),
        "G5 capped in hour 1, without G2": [SetParam(m.G5.p_max, {1: 10.0}), withdraw(m.G2)],
        "base": [],
        "bus 2 shifted": [MoveRHS(m.network.eq_p_balance[2, 5], 12.0)],
        "G2 fixed": [Fix(m.G2.p[3], 50.0)],
        "no line limits": [Deactivate(m.network.ineq_f_ub)],
        "without G1 again": [withdraw(m.G1)],
        "loads x1.1": scale_loads(m, 1.1),
    }


@pytest.mark.component
def test_a_batch_equals_whatifs_run_one_by_one_and_fresh_solves():
    m = ecc.load_case("seed001_3bus").build()
    w = WhatIf(m)
    before = _state(m)
    scen = _sequence(m)
    costs = {p.name: p.bid_cost for p in m.participants()}
    batch = w.run_many(scen, prices=["lmp"], values=costs, progress=False)
    assert _state(m) == before
    _assert_live_equals_form_and_recompile(w)
    single = WhatIf(m)
    for (name, ch), out in zip(scen.items(), batch):
        one = single.run(ch, prices=["lmp"], values=costs)   # base -> what-if -> base
        ref = _fresh(m, ch)
        assert out.name == name and out.status == one.status, name
        if ref is None:
            assert out.status == "infeasible", name
            continue
        assert out.ok, (name, out.reason)
        assert out.objective == pytest.approx(one.objective, rel=1e-12), name
        assert out.objective == pytest.approx(ref[0], rel=1e-9), name
        np.testing.assert_allclose(out.prices["lmp"].to_numpy(), one.prices["lmp"].to_numpy(),
                                   rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(out.prices["lmp"].to_numpy(), ref[1], rtol=1e-7, atol=1e-6)
        for k in costs:
            assert out.values[k] == pytest.approx(one.values[k], rel=1e-9, abs=1e-9), (name, k)
    assert [o.status for o in batch].count("infeasible") == 3
    # a second batch on the same engine, in reverse order, gives the same numbers
    again = w.run_many(dict(reversed(list(scen.items()))), prices=["lmp"], progress=False)
    for out in batch:
        twin = next(o for o in again if o.name == out.name)
        assert twin.status == out.status
        if out.ok:
            assert twin.objective == pytest.approx(out.objective, rel=1e-12)
    assert _state(m) == before
    _assert_live_equals_form_and_recompile(w)


@dataclass(frozen=True)
class _SetsAParameterItself:
    """A change whose ``ops`` sets a parameter on the model (outside the engine's apply/undo)
    and applies nothing: the one way a parameter can move during a batch."""

    param: object
    value: float

    def ops(self, model):
        self.param.set_value(self.value)
        return []


@pytest.mark.component
def test_a_parameter_moved_during_a_batch_is_caught_and_the_batch_run_again():
    """G5's offer moves from 30 to 300 during the second what-if; without the check at the end
    of the batch the later what-ifs would be solved with the offer the live model last saw."""
    m = ecc.load_case("seed001_3bus").build()
    w = WhatIf(m)
    old = m.G5.b.value
    outs = w.run_many({"base": [], "sneaky": [_SetsAParameterItself(m.G5.b, 300.0)],
                       "without G1": [withdraw(m.G1)], "base again": []}, progress=False)
    assert m.G5.b.value == 300.0   # it was never the engine's change: it stays
    for out, ch in zip(outs, ([], [], [withdraw(m.G1)], [])):
        ref = _fresh(m, ch)
        assert out.ok and out.objective == pytest.approx(ref[0], rel=1e-9), out.name
    m.G5.b = old
    assert outs[0].objective != pytest.approx(_fresh(m, [])[0], rel=1e-6)   # the move mattered


@pytest.mark.component
def test_a_batch_follows_a_recompile_in_its_middle():
    """Activating a constraint that was inactive at compile time changes the structure: the
    engine recompiles inside the batch, and the what-ifs after it still match fresh solves."""
    m = ecc.load_case("seed001_3bus").build()
    m.cap = pyo.Param(mutable=True, initialize=300.0)
    m.add_hook(lambda mk: setattr(mk, "g6_cap", pyo.Constraint(mk.T, rule=lambda b, t: m.G6.p[t] <= m.cap)))
    m.assemble()
    m.g6_cap.deactivate()
    w = WhatIf(m)
    scen = {"without G5": [withdraw(m.G5)], "G6 capped": [Activate(m.g6_cap)],
            "G6 capped, without G2 (infeasible)": [Activate(m.g6_cap), withdraw(m.G2)],
            "G6 capped, without G1": [Activate(m.g6_cap), withdraw(m.G1)],
            "without G5 again": [withdraw(m.G5)], "base": []}
    before = _state(m)
    outs = w.run_many(scen, progress=False)
    assert w.recompiles == 1
    assert _state(m) == before and not m.g6_cap.active   # the component's own flag too
    for out, ch in zip(outs, scen.values()):
        ref = _fresh(m, ch)
        if ref is None:
            assert out.status == "infeasible", out.name
            continue
        assert out.ok and out.objective == pytest.approx(ref[0], rel=1e-9), out.name
    assert [o.status for o in outs].count("infeasible") == 1
    assert outs[1].objective > outs[5].objective   # the cap binds
    _assert_live_equals_form_and_recompile(w)


@pytest.mark.unit
def test_values_of_new_expressions_each_time_are_their_own():
    """Values given as expressions built afresh for every what-if: a new expression may reuse
    the memory (and id) of a collected one; its value must still be its own."""
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=60)
    w = WhatIf(m)
    for k in range(1, 30):
        out = w.run([], values={"v": k * m.g.p[0] + 1.0})
        assert out.values["v"] == pytest.approx(60.0 * k + 1.0)


@pytest.mark.unit
def test_parameter_rows_evaluated_in_part_equal_the_full_evaluation():
    m = pyo.ConcreteModel()
    m.p = pyo.Param([1, 2, 3], mutable=True, initialize={1: 2.0, 2: -3.0, 3: 5.0})
    entries = [[2 * m.p[1], 3.0], [m.p[1] * m.p[2]], [m.p[3] / 4 - 1.0], [], [5.0], [m.p[2] ** 2],
               [m.p[1] + m.p[2] + m.p[3], -m.p[2]]]
    co = _Coefs(entries)
    assert len(co.generic) == 2   # the products of parameters are left to Pyomo
    for vals in ({1: 2.0, 2: -3.0, 3: 5.0}, {1: 0.5, 2: 7.0, 3: -1.0}):
        for k, v in vals.items():
            m.p[k] = v
        full = co.values()
        expect = [sum(pyo.value(t) for t in terms) if terms else 0.0 for terms in entries]
        np.testing.assert_allclose(full, expect, rtol=1e-15)
        for pick in ([5, 1, 0, 3], [6], [], [2, 2, 4]):
            assert co.values(np.array(pick, dtype=int)).tolist() == full[pick].tolist()


@pytest.mark.unit
def test_the_quick_exit_of_the_feasibility_check_agrees_with_the_scaled_pass():
    m = ecc.Market(periods=3)
    m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.h = ecc.Producer(bus="A", b=20.0, p_max=1000)
    m.d = ecc.FixedLoad(bus="A", p=[60, 500, 900])
    sf = standard_form(m)
    rng = np.random.default_rng(11)
    base = HighsModel(sf).run().x
    for scale in (0.0, 1e-9, 1e-7, 1e-5, 1e-3, 1.0):
        for _ in range(20):
            x = base + scale * rng.normal(size=sf.n)
            full = sf.worst_violation(x)
            quick = sf.worst_violation(x, tol=1e-6)
            if full[0] > 1e-6:
                assert quick == full
            else:
                assert quick[0] <= 1e-6
    x = base.copy()
    x[0] = np.nan                       # a NaN is never a feasible value
    v, what = sf.worst_violation(x, tol=1e-6)
    assert v == np.inf and what is not None
    assert sf.worst_violation(x)[0] == np.inf


@pytest.mark.unit
def test_duals_read_after_the_next_solve_are_those_of_their_own_solve():
    """HighsRun reads row duals only when asked; they come from a copy of that run's solution,
    not from the live model that has been changed and re-solved since."""
    m = ecc.Market()
    m.g1 = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.g2 = ecc.Producer(bus="A", b=30.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=60)
    sf = standard_form(m)
    live = HighsModel(sf)
    first = live.run()
    m.d.p_load[0] = 150.0                # g1 runs out: the price is g2's
    live.apply(sf.update(params=[m.d.p_load[0]]))
    second = live.run()
    i = sf.row_index[m.network_copperplate.eq_p_balance[0]]
    assert abs(second.row_dual[i]) == pytest.approx(30.0)
    assert abs(first.row_dual[i]) == pytest.approx(10.0)
    assert first.objective == pytest.approx(600.0) and second.objective == pytest.approx(2500.0)


@pytest.mark.unit
def test_parameter_rows_compiled_in_chunks_follow_changes_like_a_recompile():
    """Parameter rows are compiled when one of their parameters first changes (one chunk per
    update); later updates touch rows of several chunks and rows not compiled yet."""
    m = ecc.load_case("seed001_3bus").build()
    sf = standard_form(m)
    loads = m.network.p_load
    steps = [{(1, 1): 1.1}, {(2, 1): 0.9, (2, 2): 1.2}, {(1, 1): 1.0, (2, 2): 0.95, (3, 7): 1.3},
             {(k, t): 1.02 for k in (1, 2, 3) for t in (1, 2, 3, 4)}]
    base = {k: loads[k].value for k in loads}
    for step in steps:
        for k, f in step.items():
            loads[k] = base[k] * f
        sf.update(params=[loads[k] for k in step])
        ref = standard_form(m, track=False)
        assert np.array_equal(sf.row_lower, ref.row_lower) and np.array_equal(sf.row_upper, ref.row_upper)
    assert len(sf._row_eval["chunks"]) == 4


@pytest.mark.unit
@pytest.mark.parametrize("case", ["seed001_3bus", "seed000_coupled", "prosumer_community"])
def test_names_indexed_for_withdrawal_rules_are_pyomo_names(case):
    """The look-up a withdrawal fills from its block: each name is the component's own name
    (string, integer and tuple indices) and finds that component."""
    from pyomo_ecc.core.market import assemble_all
    from pyomo_ecc.core.changes import _index_names
    m = ecc.load_case(case).build()
    assemble_all(m)
    for blk in m.block_data_objects(descend_into=True):
        _index_names(m, blk)
    cache = m.__dict__["_ecc_find_cache"]
    assert len(cache) > 20
    for name, comp in cache.items():
        assert name == comp.name and m.find_component(name) is comp


@pytest.mark.unit
def test_objective_terms_read_from_the_form_equal_a_fresh_expansion():
    """sf.expression of a bid cost (a term of the objective) comes from the form's own parts
    while they are current; a parameter changed and not yet followed sends it to a fresh
    expansion of the expression."""
    m = ecc.load_case("seed000_coupled").build()
    sf = standard_form(m)
    terms = [p.bid_cost for p in m.participants() if id(p.bid_cost) in sf._term_of]
    assert len(terms) >= 3

    def both(expr):
        fast = sf.expression(expr)
        slow = sf._parts(expr)
        c = np.zeros(sf.n)
        for j, a in slow[1].items():
            c[j] = a
        return (fast[0], fast[1], fast[2].toarray()), (slow[0], c, _hessian(slow[2], sf.n).toarray())

    for expr in terms:
        fast, slow = both(expr)
        assert fast[0] == pytest.approx(slow[0], rel=1e-14) and np.allclose(fast[1], slow[1], rtol=1e-14)
        assert np.allclose(fast[2], slow[2], rtol=1e-14)
    kt = sf._term_of[id(terms[0])]
    prm = next(sf._param_list[pos] for pos in sf._term_params[kt] if sf._param_list[pos].value)
    before = sf.expression(terms[0])
    prm.set_value(prm.value * 1.5)
    assert not sf._term_current(kt)   # not followed yet: expanded afresh
    fast, slow = both(terms[0])
    assert fast[0] == slow[0] and np.array_equal(fast[1], slow[1]) and np.array_equal(fast[2], slow[2])
    assert not (fast[0] == before[0] and np.array_equal(fast[1], before[1])
                and np.array_equal(fast[2], before[2].toarray()))   # the change shows
    sf.update(params=[prm])
    assert sf._term_current(sf._term_of[id(terms[0])])
    fast, slow = both(terms[0])
    assert fast[0] == pytest.approx(slow[0], rel=1e-14) and np.allclose(fast[1], slow[1], rtol=1e-14)
    assert np.allclose(fast[2], slow[2], rtol=1e-14)
