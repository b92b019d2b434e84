"""The what-if layer: exact restore, incremental = fresh on every case, VCG = brute-force
rebuild, validated mutations, fan-out equal to the serial run."""
import math
import pickle

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from pyomo.core.expr.compare import compare_expressions

import pyomo_ecc as ecc
from pyomo_ecc.core.market import markets_in
from pyomo_ecc.core.standard_form import standard_form
from pyomo_ecc.whatif import (Activate, CaseRecipe, Deactivate, Fix, MoveRHS, SetParam, Unfix,
                                   WhatIf, applied, scale_loads, withdraw)
from pyomo_ecc.mechanisms.vcg import vcg_payments

MARKET_CASES = [c for c in ecc.list_cases().index if c != "seed001_cge"]


def _market_case(name):
    m = ecc.load_case(name).build()
    assert markets_in(m), name
    return m


def _signature(model):
    """Everything a what-if may touch, to compare before and after."""
    counts = {}
    for c in model.component_objects(descend_into=True):
        counts[c.ctype.__name__] = counts.get(c.ctype.__name__, 0) + 1
    cons = [(c.name, c.expr, c.active) for c in model.component_data_objects(pyo.Constraint, descend_into=True)]
    blocks = [(b.name, b.active) for b in model.block_data_objects(descend_into=True)]
    vars_ = [(v.name, v.value, v.fixed, v.lb, v.ub, v.domain.name) for v in
             model.component_data_objects(pyo.Var, descend_into=True)]
    params = [(p.name, k, pyo.value(v)) for p in model.component_objects(pyo.Param, descend_into=True)
              for k, v in p.items()]
    obj = [(o.name, o.expr, o.active) for o in model.component_data_objects(pyo.Objective, descend_into=True)]
    duals = sorted((c.name, d) for c, d in model.dual.items()) if hasattr(model, "dual") else []
    return counts, cons, blocks, vars_, params, obj, duals


def _assert_same(a, b):
    counts_a, cons_a, blocks_a, vars_a, params_a, obj_a, duals_a = a
    counts_b, cons_b, blocks_b, vars_b, params_b, obj_b, duals_b = b
    assert counts_a == counts_b
    assert len(cons_a) == len(cons_b)
    for (na, ea, aa), (nb, eb, ab) in zip(cons_a, cons_b):
        assert na == nb and aa == ab
        assert compare_expressions(ea, eb), na
    assert blocks_a == blocks_b
    assert vars_a == vars_b
    assert params_a == params_b
    for (na, ea, aa), (nb, eb, ab) in zip(obj_a, obj_b):
        assert na == nb and aa == ab and compare_expressions(ea, eb)
    assert duals_a == duals_b


@pytest.mark.component
def test_whatifs_leave_the_model_identical():
    m = _market_case("seed001_3bus")
    ecc.solve(m)
    before = _signature(m)
    w = WhatIf(m)
    changes = [[withdraw(p)] for p in m.participants()]
    changes += [[SetParam(m.G5.b, 300.0)], [SetParam(m.G5.p_max, {1: 10.0})],
                [MoveRHS(m.network.eq_p_balance[2, 5], 12.0)], [Fix(m.G2.p[3], 50.0)],
                [Deactivate(m.network.ineq_f_ub)], scale_loads(m, 1.1)]
    for ch in changes:
        w.run(ch, prices=["lmp"], values={"c": m.G6.bid_cost})
    _assert_same(before, _signature(m))
    # the same changes solved afresh on the model itself, inside applied()
    for ch in changes[-4:]:
        with applied(m, ch):
            ecc.solve(m)
    _assert_same(before, _signature(m))
    # and the undo of every primitive: unfix / activate after fix / deactivate
    m.G2.p[3].fix(100.0)
    m.network.ineq_f_ub.deactivate()
    before = _signature(m)
    w2 = WhatIf(m)
    w2.run([Unfix(m.G2.p[3]), Activate(m.network.ineq_f_ub)])
    _assert_same(before, _signature(m))


def _fresh(m, changes, prices=("lmp",)):
    with applied(m, changes):
        try:
            res = ecc.solve(m, diagnose=False)
        except ecc.SolverError as e:
            return None, str(e)
        out = {"objective": res.objective,
               "prices": {p: ecc.price_frame(m, p)[p] for p in prices},
               "inj": {(q.name, t): pyo.value(q.p_inj[t]) for mk in markets_in(m)
                       for q in mk.participants() for t in mk.T}}
    return out, ""


def _scenarios(m):
    parts = [p for mk in markets_in(m) for p in mk.participants()]
    movable = [p for p in parts if not p.fixed_injection]
    scen = {"loads x1.03": scale_loads(m, 1.03), f"without {movable[0].name}": [withdraw(movable[0])],
            f"without {parts[-1].name}": [withdraw(parts[-1])]}
    if hasattr(movable[-1], "b") and isinstance(movable[-1].b, pyo.Param):
        scen["dearer offer"] = [SetParam(movable[-1].b, float(movable[-1].b.value) + 7.5)]
    return scen


@pytest.mark.integration
@pytest.mark.parametrize("case", MARKET_CASES)
def test_incremental_equals_fresh_on_every_case(case):
    """Objective, dispatch and LMPs of every what-if: the live HiGHS model (warm) against a fresh
    solve of the same changes. Where an LP price is not unique the two may pick different ends
    of its range: then both must lie within price_range's one-sided prices."""
    m = _market_case(case)
    w = WhatIf(m)
    assert w.incremental
    for name, ch in _scenarios(m).items():
        inj = {(q.name, t): q.p_inj[t] for mk in markets_in(m) for q in mk.participants() for t in mk.T}
        out = w.run(ch, prices=["lmp"], values=inj)
        ref, why = _fresh(m, ch)
        if ref is None:
            assert out.status == "infeasible", (name, out.status, why)
            continue
        assert out.ok, (name, out.reason)
        assert out.objective == pytest.approx(ref["objective"], rel=1e-8, abs=1e-6), name
        for k, v in ref["inj"].items():
            assert out.values[k] == pytest.approx(v, rel=1e-6, abs=1e-5), (name, k)
        lmp, lmp_ref = out.prices["lmp"], ref["prices"]["lmp"]
        diff = (lmp - lmp_ref).abs()
        if diff.max() > 1e-6 * max(1.0, lmp_ref.abs().max()):
            with applied(m, ch):
                ecc.solve(m)
                rng = ecc.price_range(m)
            tol = 1e-6 * max(1.0, lmp_ref.abs().max())
            assert ((lmp >= rng["lower"] - tol) & (lmp <= rng["upper"] + tol)).all(), name


def _rebuilt_without(case, name):
    """The case built again with participant ``name`` never in it (not withdrawn: absent)."""
    m = ecc.load_case(case).build()
    for mk in markets_in(m):
        assert not mk.assembled
        p = mk.find_component(name.split(".")[-1]) if mk is m else m.find_component(name)
        if p is not None and p in mk._reg.participants:
            mk._reg.participants.remove(p)
            p.parent_block().del_component(p)
    return m


@pytest.mark.integration
@pytest.mark.parametrize("case", MARKET_CASES)
def test_vcg_equals_a_brute_force_rebuild_on_every_case(case):
    """Every participant (a seeded sample of 12 on large cases) against the market built again
    without it; a participant a policy needs (a certificate issuer) cannot be left out of the
    case and is not compared."""
    m = _market_case(case)
    pay = vcg_payments(m)
    assert set(pay["status"]) <= {"defined", "undefined"}
    names = list(pay.index)
    if len(names) > 20:
        names = sorted(np.random.default_rng(1).choice(names, size=12, replace=False))
    checked = 0
    for name in names:
        row = pay.loc[name]
        m2 = _rebuilt_without(case, name)
        try:
            m2.assemble()
        except ecc.InputError:
            continue
        except ecc.ModelError:   # nobody left to serve the loads
            assert row["status"] == "undefined" and "infeasible" in row["reason"], name
            checked += 1
            continue
        checked += 1
        try:
            ecc.solve(m2, diagnose=False)
        except (ecc.SolverError, ecc.ModelError):   # infeasible, or nobody left to serve the loads
            assert row["status"] == "undefined" and "infeasible" in row["reason"], name
            continue
        assert row["status"] == "defined", (name, row["reason"])
        # without i: the objective of the market that never had it (i's own constant excluded)
        assert row["others_cost_without"] == pytest.approx(pyo.value(m2.obj), rel=1e-7, abs=1e-5), name
        assert row["payment"] == pytest.approx(row["others_cost"] - pyo.value(m2.obj), rel=1e-6, abs=1e-4)
    assert checked >= len(names) - 1


@pytest.mark.component
def test_undefined_payment_is_explained():
    m = _market_case("seed001_3bus")
    pay = vcg_payments(m)
    g3 = pay.loc["G3"]
    assert g3["status"] == "undefined" and math.isnan(g3["payment"])
    assert "withdrawing 'G3' leaves the market infeasible" in g3["reason"]
    assert "ineq_f_ub" in g3["reason"] or "ineq_max" in g3["reason"]
    assert pay.attrs["budget_surplus"] == pytest.approx(pay["payment"].sum(skipna=True))


@pytest.mark.unit
@pytest.mark.parametrize("change, message", [
    (lambda m: SetParam(m.g.p_max, float("nan")), r"Producer 'g': parameter 'g.p_max\[0\]' = nan"),
    (lambda m: SetParam(m.g.p_max, "100"), r"parameter 'g.p_max\[0\]': expected a number, got '100'"),
    (lambda m: SetParam(m.g.p_max, -5.0), r"Producer 'g': parameter 'g.p_max\[0\]' = -5.0: must be >= 0"),
    (lambda m: SetParam(m.g.p_max, True), r"expected a number, got True"),
    (lambda m: SetParam(m.s.step_price[1], 5.0), r"Producer 's': non-convex curve: step prices must be "
                                                 r"non-decreasing, segment 1 has price 5.0 after 30.0"),
    (lambda m: SetParam(m.s.step_q[0], 0.0), r"parameter 's.step_q\[0\]' = 0.0: must be > 0"),
    (lambda m: SetParam(m.g.p_min, 120.0), r"parameter 'p_min\[0\]' = 120.0 exceeds 'p_max\[0\]' = 100.0"),
    (lambda m: SetParam(m.g.a, -0.1), r"quadratic coefficient a = -0.1; need a >= 0"),
    (lambda m: SetParam(m.lin.a, 0.1), r"the curve was built linear"),
    (lambda m: SetParam(m.d.p_load, float("inf")), r"FixedLoad 'd': parameter 'd.p_load\[0\]' = inf"),
    (lambda m: SetParam(m.g.p_max, {7: 1.0}), r"parameter 'g.p_max' has no index 7"),
    (lambda m: SetParam("g.nothing", 1.0), r"has no parameter called 'g.nothing'"),
    (lambda m: Fix(m.g.p[0], float("nan")), r"cannot fix 'g.p\[0\]' at nan"),
    (lambda m: withdraw("nobody"), r"has no participant called 'nobody'"),
    (lambda m: withdraw(m.network_copperplate), r"'network_copperplate' is not a participant"),
])
def test_mutations_are_validated_with_the_block_and_parameter_named(change, message):
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", a=0.01, b=10.0, p_max=100)
    m.s = ecc.Producer(bus="A", steps=[(10, 30.0), (10, 40.0)])
    m.lin = ecc.Producer(bus="A", b=50.0, p_max=10)
    m.d = ecc.FixedLoad(bus="A", p=60)
    w = WhatIf(m)
    before = _signature(m)
    with pytest.raises(ecc.InputError, match=message):
        w.run([change(m)])
    _assert_same(before, _signature(m))   # a refused change leaves nothing behind
    assert w.run([]).objective == pytest.approx(w.base.objective)


@pytest.mark.unit
def test_a_mutated_parameter_is_validated_before_every_solve():
    """Regression: a non-monotone stepwise offer used to solve silently (dearer segment first),
    NaN gave 'optimal' with zero dispatch, a string a traceback from inside Pyomo."""
    m = ecc.Market()
    m.s = ecc.Producer(bus="A", steps=[(10, 30.0), (10, 40.0)])
    m.d = ecc.FixedLoad(bus="A", p=5)
    ecc.solve(m)
    m.s.step_price[0] = 50.0
    with pytest.raises(ecc.InputError, match=r"Producer 's': non-convex curve: step prices must be non-decreasing"):
        ecc.solve(m)
    m.s.step_price[0] = 30.0
    m.d.p_load[0] = float("nan")
    with pytest.raises(ecc.InputError, match=r"FixedLoad 'd': parameter 'd.p_load\[0\]' = nan"):
        ecc.solve(m)
    m.d.p_load[0] = "5"
    with pytest.raises(ecc.InputError, match=r"parameter 'd.p_load\[0\]' = '5': expected a number"):
        ecc.solve(m)


@pytest.mark.unit
def test_standard_form_follows_parameter_changes_like_a_recompile():
    m = _market_case("seed000_coupled")
    sf = standard_form(m)
    rng = np.random.default_rng(7)
    params = [p[k] for p in m.component_objects(pyo.Param, descend_into=True) if p.mutable
              for k in p if p[k].value not in (None, 0)]
    for p in rng.choice(len(params), size=8, replace=False):
        params[p].set_value(params[p].value * float(rng.uniform(0.9, 1.1)))
    delta = sf.update()
    assert delta
    ref = standard_form(m, track=False)
    order = [ref.col_index[v] for v in sf.columns]
    assert np.allclose(sf.A.toarray(), ref.A.toarray()[:, order])
    assert np.allclose(sf.c, ref.c[order]) and sf.c0 == pytest.approx(ref.c0)
    assert np.allclose(sf.Q.toarray(), ref.Q.toarray()[np.ix_(order, order)])
    assert np.array_equal(sf.row_lower, ref.row_lower) and np.array_equal(sf.row_upper, ref.row_upper)
    assert np.array_equal(sf.col_lower, ref.col_lower[order])


@pytest.mark.unit
def test_changes_outcomes_and_recipes_pickle():
    m = _market_case("seed001_3bus").assemble()
    ch = [withdraw(m.G1), SetParam(m.G5.b, 3.0), MoveRHS(m.network.eq_p_balance[1, 1], 1.0)]
    assert pickle.loads(pickle.dumps(ch)) == ch
    w = WhatIf(CaseRecipe("seed001_3bus"))
    out = w.run(ch, prices=["lmp"])
    back = pickle.loads(pickle.dumps(out))
    assert back.objective == out.objective and back.prices["lmp"].equals(out.prices["lmp"])
    with pytest.raises(ecc.ModelError, match="give WhatIf a recipe"):
        WhatIf(m)._recipe()


@pytest.mark.integration
def test_processes_and_dask_give_the_serial_numbers():
    pytest.importorskip("distributed")
    recipe = CaseRecipe("seed001_3bus")
    w = WhatIf(recipe)
    serial = vcg_payments(None, engine=w)
    procs = vcg_payments(None, engine=w, backend="processes", workers=2)
    dask = vcg_payments(None, engine=w, backend="dask", workers=2)
    for other in (procs, dask):
        pd.testing.assert_frame_equal(serial, other, rtol=1e-9, atol=1e-7)


@pytest.mark.component
def test_an_infeasible_or_failed_whatif_is_a_record_and_the_loop_goes_on():
    m = _market_case("seed001_3bus")
    w = WhatIf(m)
    outs = w.run_many({"short": scale_loads(m, 5.0), "fine": scale_loads(m, 0.9)}, diagnose=True,
                      progress=False)
    assert [o.status for o in outs] == ["infeasible", "optimal"]
    assert "infeasible:" in outs[0].reason and " by " in outs[0].reason


@pytest.mark.integration
def test_cli_vcg_explains_undefined_rows(tmp_path, capsys):
    from pyomo_ecc.cli import main
    assert main(["vcg", "seed001_3bus", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "G3: withdrawing 'G3' leaves the market infeasible" in text
    df = pd.read_csv(tmp_path / "vcg.csv", index_col="participant")
    assert df.loc["G6", "payment"] == pytest.approx(-8210050.21, abs=0.01)   # paid its externality
    assert df.loc["G6", "payment"] == pytest.approx(df.loc["G6", "others_cost"] - df.loc["G6", "others_cost_without"])


@pytest.mark.integration
def test_readme_whatif_example_runs_as_written():
    import io
    import re
    from contextlib import redirect_stdout
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "WhatIf(" in b)
    ns = {}
    with redirect_stdout(io.StringIO()):
        exec(compile(block, "README.md", "exec"), ns)
    assert ns["out"].objective - ns["w"].base.objective == pytest.approx(2197050.85, abs=0.01)
    objs = [o.objective for o in ns["sweep"]]
    assert all(o.ok for o in ns["sweep"]) and objs == sorted(objs)
    assert objs[1] == pytest.approx(ns["w"].base.objective)


@pytest.mark.integration
@pytest.mark.parametrize("case", MARKET_CASES)
def test_a_load_sweep_runs_on_every_case(case):
    """Loads from 80 % to 120 %: every what-if is a record (optimal, or infeasible with a
    reason), never an exception; an accepted solution satisfies every row (checked inside)."""
    m = _market_case(case)
    w = WhatIf(m)
    outs = w.run_many({f: scale_loads(m, f) for f in (0.8, 0.9, 1.1, 1.2)}, progress=False)
    for o in outs:
        assert o.status in ("optimal", "infeasible"), (o.name, o.reason)
        assert o.ok or o.reason
    if case == "matpower_case118":   # HiGHS's QP solver once failed cold at 80 % (free angle
        assert all(o.ok for o in outs)   # columns); with bounded angles it solves unaided
        assert outs[0].route == "highs-incremental", outs[0].route


@pytest.mark.component
def test_ipopt_on_the_same_matrices_matches_highs_and_backs_up_a_failing_qp():
    """ipopt_qp solves the standard form's QP straight from its matrices: same objective and row
    duals as HiGHS; and when HiGHS's QP solver stops short (here an iteration limit of 1), the
    live model falls back to it and says so."""
    from pyomo_ecc.solvers import HighsModel, ipopt_qp
    m = _market_case("seed000_community")
    sf = standard_form(m, track=False)
    ref, alt = HighsModel(sf).run(), ipopt_qp(sf)
    assert ref.status == alt.status == "optimal"
    assert alt.objective == pytest.approx(ref.objective, rel=1e-8)
    assert np.allclose(alt.row_dual, ref.row_dual, atol=1e-6 * max(1.0, np.abs(ref.row_dual).max()))
    short = HighsModel(sf, {"qp_iteration_limit": 1})
    short.QP_REGULARISATION = ()
    out = short.run()
    assert out.status == "optimal" and "Ipopt" in out.highs_status
    assert out.objective == pytest.approx(ref.objective, rel=1e-8)


@pytest.mark.component
def test_a_whatif_highs_fails_on_is_answered_by_the_fallback_and_checked(monkeypatch):
    """HiGHS stopped short on every route inside the solver layer (iteration limit 1, no
    regularisation, no Ipopt on the matrices): the engine's own chain answers with Ipopt
    through Pyomo, says so in the route, and the answer equals HiGHS's unhindered one; with no
    fallback left the outcome is an error that quotes HiGHS, not an exception."""
    import pyomo_ecc.solvers as solvers
    m = _market_case("seed000_community")
    ref = WhatIf(m).run(scale_loads(m, 1.05))
    monkeypatch.setattr(solvers.HighsModel, "QP_REGULARISATION", ())
    monkeypatch.setattr(solvers, "ipopt_qp", lambda sf: solvers.HighsRun("unavailable"))
    from conftest import ipopt_available
    w = WhatIf(m)                # the engine, with HiGHS crippled after its base solve
    w.options = {"qp_iteration_limit": 1}
    w.live = solvers.HighsModel(w.sf, w.options)
    out = w.run(scale_loads(m, 1.05))
    if ipopt_available():
        assert out.ok and out.route.startswith("ipopt (HiGHS:"), out.route
        assert out.objective == pytest.approx(ref.objective, rel=1e-6)
    w.fallback = ()
    out = w.run(scale_loads(m, 1.05))
    assert out.status == "error" and "no solver answered: highs:" in out.reason


@pytest.mark.unit
def test_worst_violation_names_the_row_or_bound_and_scales_it():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=60)
    sf = standard_form(m)
    j = sf.col_index[m.g.p[0]]
    x = np.zeros(sf.n)
    x[j] = 60.0
    assert sf.worst_violation(x) == (0.0, None)
    x[j] = 130.0                                   # over p_max = 100 and over the balance 60
    v, (kind, k) = sf.worst_violation(x)
    assert kind == "row" and v == pytest.approx(70.0 / 60.0)
    assert sf.rows[k] is m.network_copperplate.eq_p_balance[0]   # 70/60 beats p_max's 30/100
    m.g.p[0].fix(50.0)                             # a fixed column: bounds 50..50
    sf.update(variables=[m.g.p[0]])
    x[j] = 60.0
    assert sf.worst_violation(x) == (pytest.approx(10.0 / 50.0), ("col", j))
    m.g.p[0].unfix()
