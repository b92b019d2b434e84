"""Verified solutions and the regressions of the "no silent wrong answer" failures.

Every loaded solution is checked against the model before anything is published
(:mod:`pyomo_ecc.verify`); each failure once reported as optimal-and-wrong has a test here.
"""
import io

import networkx as nx
import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
import pyomo_ecc.solvers as solvers_mod
from conftest import requires_ipopt
from pyomo_ecc.cli import main, natural_key
from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
from pyomo_ecc.verify import check_solution, verify_solution


def docstring_triangle(ref=1, a=None):
    g = nx.Graph()
    g.add_edge(1, 2, x=0.1)
    g.add_edge(2, 3, x=0.1)
    g.add_edge(1, 3, x=0.1, rating=50)
    g.nodes[ref]["ref"] = True
    m = ecc.Market()
    m.g1 = ecc.Producer(bus=1, a=a, b=10, p_max=200)
    m.g3 = ecc.Producer(bus=3, b=30, p_max=200)
    m.d = ecc.FixedLoad(bus=3, p=100)
    m.net = ecc.DCNetwork(graph=g)
    return m


# -- the check itself ---------------------------------------------------------------------------
@pytest.mark.unit
def test_a_verified_solution_has_no_violation_of_any_kind():
    m = docstring_triangle()
    ecc.solve(m)
    full = check_solution(m, report_all=True)
    assert set(full["kind"]) == {"primal", "bound", "dual sign", "complementarity", "stationarity"}
    assert full["violation"].max() < 1e-9
    assert check_solution(m).empty


@pytest.mark.unit
def test_the_wrong_ipopt_price_fails_stationarity():
    """The LMP 39.96 $/MWh that Ipopt once published at bus 2 (instead of 20) breaks the KKT
    conditions of the angles next to it: the check names them."""
    m = docstring_triangle(ref=2)
    ecc.solve(m)
    m.dual[m.net.eq_p_balance[2, 0]] = 39.96
    bad = check_solution(m)
    assert set(bad.index) == {"net.theta[1,0]", "net.theta[3,0]"}
    assert set(bad["kind"]) == {"stationarity"}
    # r = grad - A^T y on theta_1: beta_12 * (39.96 - 20) = 1000 * 19.96
    assert bad.loc["net.theta[1,0]", "absolute"] == pytest.approx(19960.0, rel=1e-9)


@pytest.mark.unit
def test_a_violated_balance_raises_naming_constraint_violation_and_status():
    """A balance violated by 49.9 MW (what Ipopt's wrong model left) is refused before any price."""
    m = docstring_triangle(ref=2)
    ecc.solve(m)
    m.g1.p[0].value += 49.9
    with pytest.raises(ecc.SolverError) as info:
        verify_solution(m, solver="cyipopt", termination="optimal: Optimal Solution Found")
    msg = str(info.value)
    assert "net.eq_p_balance[1,0] (primal): scaled violation 49.9" in msg
    assert "reported 'optimal: Optimal Solution Found'" in msg
    assert info.value.termination == "unverified (optimal: Optimal Solution Found)"


@pytest.mark.unit
def test_wrong_sign_and_complementarity_are_caught():
    m = docstring_triangle()
    ecc.solve(m)
    ub = m.net.ineq_f_ub["1-3", 0]          # binding: its dual is -30 (cost falls as the limit rises)
    assert m.dual[ub] == pytest.approx(-30.0)
    m.dual[ub] = 30.0
    assert "dual sign" in set(np.atleast_1d(check_solution(m).loc[ub.name, "kind"]))
    m.dual[ub] = -30.0
    slack = m.g3.ineq_max[0]                # g3 = 25 < 200: a non-zero dual there is wrong
    m.dual[slack] = -1.0
    kinds = check_solution(m).loc[slack.name, "kind"]
    assert "complementarity" in set(np.atleast_1d(kinds))


@pytest.mark.unit
def test_verification_can_be_switched_off_and_prices_wait_for_it():
    m = docstring_triangle()
    ecc.solve(m)
    m.d.p_load[0] = 100.0
    s = ecc.Solver("highs", verify=False)
    assert s.solve(m).termination == "optimal"
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([10, 20, 30])


# -- Ipopt and B-theta with a reference bus that is not the first -------------------------------
@requires_ipopt
@pytest.mark.component
@pytest.mark.parametrize("ref", [1, 2, 3])
def test_ipopt_btheta_reference_bus_anywhere(ref):
    """Pyomo's NL writer mis-writes a named Expression with a constant part (the flow to a fixed
    reference angle) in its second use; Ipopt is now given the model without them."""
    m = docstring_triangle(ref)
    ecc.solve(m, solver="ipopt")
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([10.0, 20.0, 30.0], abs=1e-6)
    assert check_solution(m).empty


@requires_ipopt
@pytest.mark.unit
def test_the_nl_writer_defect_that_ipopt_met():
    """The root cause, on a plain Pyomo model: the default NL export evaluates the second
    constraint wrongly (-49.95 instead of 0); without defined variables it is right."""
    from pyomo.contrib.pynumero.interfaces.pyomo_nlp import PyomoNLP
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3], initialize=0.0)
    m.x[2].fix(0.0)
    m.f12 = pyo.Expression(expr=1000 * (m.x[1] - m.x[2]))
    m.f23 = pyo.Expression(expr=1000 * (m.x[2] - m.x[3]))
    m.c1 = pyo.Constraint(expr=0 == -m.f12)
    m.c2 = pyo.Constraint(expr=0 == -m.f23 + m.f12)
    m.o = pyo.Objective(expr=m.x[1] ** 2 + m.x[3] ** 2)
    x = np.array([0.05, -0.05])
    m.x[1].value, m.x[3].value = x
    exact = [pyo.value(m.c1.body), pyo.value(m.c2.body)]
    ours = PyomoNLP(m, nl_file_options={"export_defined_variables": False})
    ours.set_primals(x)
    assert ours.evaluate_constraints().tolist() == pytest.approx(exact)
    default = PyomoNLP(m)
    default.set_primals(x)
    if default.evaluate_constraints().tolist() == pytest.approx(exact):
        pytest.xfail("this Pyomo writes defined variables correctly: the workaround is harmless")


@requires_ipopt
@pytest.mark.integration
def test_cli_matpower_case5_with_ipopt_gives_the_published_welfare():
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        assert main(["run", "matpower_case5", "--solver", "ipopt"]) == 0
    assert "welfare  : -17479.89" in out.getvalue()


# -- HiGHS QP on case118 -------------------------------------------------------------------------
def case118(profile, formulation="btheta"):
    return build_matpower_market(load_matpower_case("case118"), periods=len(profile),
                                 load_profile=profile, formulation=formulation)


def _highs_alone(monkeypatch):
    """No fallback of any kind: HiGHS's own QP solver, unregularised, must solve."""
    monkeypatch.setattr(solvers_mod.HighsModel, "QP_REGULARISATION", ())
    monkeypatch.setattr(solvers_mod, "ipopt_qp", lambda sf: solvers_mod.HighsRun("unavailable"))
    monkeypatch.setattr(solvers_mod, "HIGHS_QP_FALLBACKS", ())
    monkeypatch.setattr(solvers_mod, "_ipopt_available", lambda: False)


@pytest.mark.integration
@pytest.mark.parametrize("level", [0.8, 0.9])
def test_highs_qp_case118_at_part_load_matches_ptdf(level, monkeypatch):
    """HiGHS's QP solver once stopped ('Solve error') on free zero-curvature angle columns; the
    angles are now bounded (never binding). No fallback is allowed here: HiGHS alone must solve,
    and B-theta must agree with PTDF (no angles at all)."""
    _highs_alone(monkeypatch)
    bt, pt = case118([level]), case118([level], "ptdf")
    res = ecc.solve(bt)
    ecc.solve(pt)
    assert res.solver == "highs"
    assert pyo.value(bt.obj) == pytest.approx(pyo.value(pt.obj), rel=1e-9)
    assert ecc.prices(bt)["lmp"].to_numpy() == pytest.approx(ecc.prices(pt)["lmp"].to_numpy(), abs=1e-5)
    assert pyo.value(bt.obj) == pytest.approx({0.8: 94181.04, 0.9: 109653.38}[level], abs=0.01)


@pytest.mark.integration
@pytest.mark.parametrize("persistent", [False, True])
def test_highs_qp_case118_over_24_periods(persistent, monkeypatch):
    _highs_alone(monkeypatch)
    prof = list(0.7 + 0.3 * np.sin(np.arange(24) / 24 * np.pi))
    m = case118(prof)
    ecc.Solver("highs", persistent=persistent).solve(m)
    single = case118([prof[5]])
    ecc.solve(single)    # periods are independent: each one is its own DC-OPF
    lmp = ecc.prices(m)["lmp"]
    assert lmp.xs(5, level="t").to_numpy() == pytest.approx(
        ecc.prices(single)["lmp"].xs(0, level="t").to_numpy(), abs=1e-5)


def _unbounded_angles():
    m = case118([0.8])
    m.assemble()
    for v in m.net.theta.values():
        v.setlb(None)
        v.setub(None)
    return m


@pytest.mark.integration
@pytest.mark.parametrize("persistent", [False, True])
def test_highs_qp_failure_falls_back_then_quotes_highs_status(persistent, monkeypatch):
    """With the angle bounds removed, HiGHS's QP solver fails again at 0.8 load: without any
    fallback the error quotes HiGHS's own status; with the fallbacks (a regularisation, then
    Ipopt) the same optimum comes back."""
    with monkeypatch.context() as mp:
        _highs_alone(mp)
        with pytest.raises(ecc.SolverError, match=r"Solve error"):
            ecc.Solver("highs", persistent=persistent).solve(_unbounded_angles())
    if not _real_ipopt():
        pytest.skip("Ipopt not available for the last fallback")
    m = _unbounded_angles()
    ecc.Solver("highs", persistent=persistent).solve(m)
    assert pyo.value(m.obj) == pytest.approx(94181.04, abs=0.01)
    assert check_solution(m).empty


def _real_ipopt():
    try:
        return bool(pyo.SolverFactory("cyipopt").available())
    except Exception:
        return False


@pytest.mark.unit
def test_an_angle_at_its_bound_is_refused():
    m = docstring_triangle()
    ecc.solve(m)
    m.net.theta[2, 0].value = 1e4
    with pytest.raises(ecc.ModelError, match=r"DCNetwork 'net': angle net.theta\[2,0\].*reaches the bound"):
        m.net.check_solution()


# -- the block tree is the truth -----------------------------------------------------------------
@pytest.mark.unit
def test_a_participant_assigned_twice_is_counted_once_with_its_new_limits():
    """Once: the first 'g' stayed in the balance without its limits (150 MW from a 100 MW unit)."""
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=10, p_max=500)
    m.g = ecc.Producer(bus=1, b=10, p_max=100)
    m.peak = ecc.Producer(bus=1, b=50, p_max=100)
    m.d = ecc.FixedLoad(bus=1, p=150)
    ecc.solve(m)
    assert [p.name for p in m.participants()] == ["g", "peak", "d"]
    assert m.g.p[0].value == pytest.approx(100.0)
    assert m.peak.p[0].value == pytest.approx(50.0)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([50.0])


@pytest.mark.unit
def test_a_deleted_participant_leaves_every_registry():
    m = ecc.Market()
    m.cheap = ecc.Producer(bus=1, b=5, p_max=100, emission_intensity=1.0)
    m.g = ecc.Producer(bus=1, b=20, p_max=200)
    m.d = ecc.FixedLoad(bus=1, p=150)
    m.cap = ecc.CarbonCap(cap=1000)
    m.del_component(m.cheap)
    m.del_component("cap")
    ecc.solve(m)
    assert [p.name for p in m.participants()] == ["g", "d"]
    assert m.g.p[0].value == pytest.approx(150.0)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([20.0])
    assert not hasattr(m, "cap")


@pytest.mark.unit
def test_a_participant_removed_from_a_sub_block_is_dropped_before_assembly():
    m = ecc.Market()
    m.area = pyo.Block()
    m.area.g = ecc.Producer(bus=1, b=5, p_max=100)
    m.g2 = ecc.Producer(bus=1, b=20, p_max=200)
    m.d = ecc.FixedLoad(bus=1, p=50)
    m.area.del_component("g")
    ecc.solve(m)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([20.0])


@pytest.mark.unit
def test_a_replaced_network_is_dropped():
    m = docstring_triangle()
    m.del_component("net")
    m.net = ecc.CopperPlate()
    ecc.solve(m)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([10.0, 10.0])   # no congestion


@pytest.mark.unit
def test_live_options_stay_settable_after_build():
    m = docstring_triangle()
    m.net.config.slack_weights = {1: 1.0}   # read when components are computed: allowed
    assert m.net.config.slack_weights == {1: 1.0}


# -- messages --------------------------------------------------------------------------------------
@pytest.mark.unit
def test_no_solver_banner_on_stdout(capfd):
    import subprocess
    import sys
    code = ("import pyomo_ecc as ecc\n"
            "m = ecc.Market(); m.g = ecc.Producer(bus=1, b=10, p_max=10)\n"
            "m.l = ecc.FixedLoad(bus=1, p=5); ecc.solve(m)\n"
            "m2 = ecc.Market(); m2.g = ecc.Producer(bus=1, a=0.1, b=10, p_max=10)\n"
            "m2.l = ecc.FixedLoad(bus=1, p=5); ecc.solve(m2)\n"
            "try:\n"
            "    ecc.solve(m2, solver='ipopt')\n"
            "except ecc.SolverError:\n"
            "    pass\n"
            "print('done')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "done\n"      # neither HiGHS's nor Ipopt's banner
    assert "HiGHS" not in out.stderr and "Ipopt" not in out.stderr


@pytest.mark.unit
def test_prices_have_no_negative_zero():
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=0.0, p_max=100)   # free energy: the LMP is exactly zero
    m.l = ecc.FixedLoad(bus=1, p=10)
    ecc.solve(m)
    lmp = ecc.prices(m)["lmp"].to_numpy()
    assert lmp.tolist() == [0.0] and not np.signbit(lmp).any()


@pytest.mark.integration
def test_cli_output_and_files_sort_names_naturally_without_negative_zero(tmp_path):
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        assert main(["run", "matpower_case118", "--out", str(tmp_path)]) == 0
    text = out.getvalue()
    assert "-0.0" not in text and "-0.000" not in text
    assert text.index("gen_2 ") < text.index("gen_10 ") < text.index("gen_20 ")
    disp = (tmp_path / "dispatch.csv").read_text()
    assert disp.index("\ngen_9,") < disp.index("\ngen_10,")
    assert "-0.0," not in disp and "-0.0\n" not in disp
    assert "-0.0\n" not in (tmp_path / "prices.csv").read_text()


@pytest.mark.unit
def test_natural_key():
    assert sorted(["gen_10", "gen_2", "gen_1", "load_3", "bus"], key=natural_key) == \
        ["bus", "gen_1", "gen_2", "gen_10", "load_3"]


@requires_ipopt
@pytest.mark.integration
def test_cli_run_on_a_cge_case_runs_it():
    out = io.StringIO()
    import contextlib
    with contextlib.redirect_stdout(out):
        assert main(["run", "seed001_cge"]) == 0
    assert "running `pyomo-ecc cge seed001_cge`" in out.getvalue()
    assert "carbon price" in out.getvalue()


@pytest.mark.unit
def test_a_milp_is_verified_with_its_integers_fixed_and_integrality_is_checked():
    m = ecc.Market()
    m.u = ecc.Producer(bus=1, b=10, c=100, p_min=20, p_max=100, commitment=True)
    m.g = ecc.Producer(bus=1, b=40, p_max=100)
    m.d = ecc.FixedLoad(bus=1, p=60)
    ecc.solve(m)
    assert m.u.on[0].value == pytest.approx(1.0)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([10.0])
    assert check_solution(m).empty
    m.u.on[0].value = 0.5
    bad = check_solution(m)
    assert bad.loc["u.on[0]", "kind"] == "integrality"
    assert bad.loc["u.on[0]", "violation"] == pytest.approx(0.5)


@pytest.mark.unit
@pytest.mark.parametrize("quadratic", [False, True])
def test_the_check_on_the_solvers_standard_form_agrees_with_its_own_compilation(quadratic):
    """The solve path hands its core.standard_form matrices to the check; the check compiles
    the model itself otherwise: both find nothing on the solution and the same wrong dual."""
    m = docstring_triangle(ref=2, a=0.05 if quadratic else None)
    s = ecc.Solver("highs")
    s.solve(m)
    sf = s._last_form
    assert sf is not None and hasattr(sf, "row_lower")
    assert check_solution(m, standard_form=sf).empty and check_solution(m).empty
    m.dual[m.net.eq_p_balance[2, 0]] += 5.0
    a, b = check_solution(m, standard_form=sf), check_solution(m)
    assert set(a.index) == set(b.index) == {"net.theta[1,0]", "net.theta[3,0]"}
    assert a["absolute"].to_numpy() == pytest.approx(b["absolute"].to_numpy())
