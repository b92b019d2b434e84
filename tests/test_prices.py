"""Component tests of prices: finite differences, KKT, invariance, MILP, cross-solver, infeasibility.

The LMP is defined as the change in total cost (currency) per MWh of extra load served at a bus
in one period; every test below checks that definition or a consequence of it.
"""
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.participants.curves import curve_marginal

from conftest import ipopt_available, requires_ipopt, two_bus_market

pytestmark = pytest.mark.component


def _cost(m):
    return pyo.value(m.obj)


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_lmp_equals_finite_difference_of_total_cost(dt):
    m = two_bus_market(dt=dt)
    ecc.solve(m)
    lmp = ecc.prices(m)["lmp"]
    base = _cost(m)
    solver = ecc.Solver()
    for t in m.T:
        delta = 1e-3
        m.town.p_load[t] = m.town.p_load[t].value + delta
        solver.solve(m)
        fd = (_cost(m) - base) / (delta * dt)      # currency per MWh
        m.town.p_load[t] = m.town.p_load[t].value - delta
        assert fd == pytest.approx(lmp[("south", t)], rel=1e-5, abs=1e-6)
    solver.solve(m)
    assert _cost(m) == pytest.approx(base)


def test_kkt_interior_units_have_marginal_cost_equal_to_lmp():
    m = two_bus_market()
    ecc.solve(m)
    lmp = ecc.prices(m)["lmp"]
    checked = 0
    for p in m.participants():
        if p.fixed_injection:
            continue
        x = p.p if hasattr(p, "p") else p.d
        lo = p.p_min if hasattr(p, "p") else p.d_min
        hi = p.p_max if hasattr(p, "p") else p.d_max
        for t in m.T:
            v = x[t].value
            if lo[t].value + 1e-6 < v < hi[t].value - 1e-6:
                assert curve_marginal(p, v, t) == pytest.approx(lmp[(p.bus, t)], rel=1e-7)
                checked += 1
            elif v >= hi[t].value - 1e-6:   # at its upper limit: marginal value on the right side
                assert (curve_marginal(p, v, t) <= lmp[(p.bus, t)] + 1e-7) == (p.direction > 0)
    assert checked >= 2


def test_stepwise_offer_sets_the_price_inside_a_segment():
    m = ecc.Market()
    m.g1 = ecc.Producer(bus=1, steps=[(40, 10.0), (40, 25.0)])
    m.g2 = ecc.Producer(bus=1, steps=[(30, 18.0)])
    m.l = ecc.FixedLoad(bus=1, p=90)
    ecc.solve(m)
    # merit order 10 (40) -> 18 (30) -> 25: 90 MW needs 20 MW of the 25 step
    assert m.g1.p[0].value == pytest.approx(60)
    assert ecc.prices(m).loc[(1, 0), "lmp"] == pytest.approx(25.0)


def test_prices_invariant_to_period_length():
    a, b = two_bus_market(dt=1.0), two_bus_market(dt=0.5)
    ecc.solve(a)
    ecc.solve(b)
    assert ecc.prices(a)["lmp"].to_numpy() == pytest.approx(ecc.prices(b)["lmp"].to_numpy(), rel=1e-9)
    assert pyo.value(b.obj) == pytest.approx(0.5 * pyo.value(a.obj), rel=1e-9)


@pytest.mark.parametrize("unit,scale", [("kW", 1e3), ("GW", 1e-3)])
def test_prices_invariant_to_power_unit(unit, scale):
    mw, other = two_bus_market(), two_bus_market(unit=unit, scale=scale)
    ecc.solve(mw)
    ecc.solve(other)
    assert ecc.prices(other)["lmp"].to_numpy() == pytest.approx(ecc.prices(mw)["lmp"].to_numpy(), rel=1e-6)
    assert (ecc.dispatch(other)["p_inj"] / scale).to_numpy() == pytest.approx(
        ecc.dispatch(mw)["p_inj"].to_numpy(), rel=1e-6, abs=1e-6)
    assert ecc.welfare(other) == pytest.approx(ecc.welfare(mw), rel=1e-6)


def test_surplus_components_sum_to_welfare_on_a_copper_plate():
    m = two_bus_market()
    ecc.solve(m)
    s = ecc.surplus(m)
    assert s.index.name == "participant"
    assert s["surplus"].sum() == pytest.approx(ecc.welfare(m), rel=1e-9)
    assert s["revenue"].sum() == pytest.approx(0.0, abs=1e-6)   # payments balance on one bus


def test_milp_prices_come_from_the_lp_with_integers_fixed():
    m = ecc.Market(periods=2)
    m.base = ecc.Producer(bus=1, steps=[(100, 20.0)])
    m.unit = ecc.Producer(bus=1, steps=[(80, 30.0)], p_min=30, c=500.0, commitment=True)
    m.l = ecc.FixedLoad(bus=1, p=[90, 150])
    res = ecc.solve(m)
    assert res.pricing_basis == "LP with integers fixed"
    p = ecc.prices(m)
    assert p.attrs["pricing_basis"] == "LP with integers fixed"
    assert [m.unit.on[t].value for t in m.T] == [0, 1]
    assert m.unit.on[1].domain is pyo.Binary and not m.unit.on[1].fixed   # restored
    # period 0: only base runs, interior -> 20; period 1: unit committed and interior -> 30
    assert p.loc[(1, 0), "lmp"] == pytest.approx(20.0)
    assert p.loc[(1, 1), "lmp"] == pytest.approx(30.0)
    assert pyo.value(m.obj) == pytest.approx(90 * 20 + 100 * 20 + 50 * 30 + 500)


def test_infeasible_market_names_the_conflicting_constraints():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10, p_max=50)
    m.h = ecc.Producer(bus="A", b=20, p_max=30)
    m.l = ecc.FixedLoad(bus="A", p=100)
    with pytest.raises(ecc.InfeasibleMarketError) as err:
        ecc.solve(m)
    conflicts = err.value.conflicts
    assert conflicts.index.name == "constraint"
    assert conflicts["violation"].sum() == pytest.approx(20.0)   # 100 MW load, 80 MW capacity
    assert "infeasible" in str(err.value) and "violated by 20" in str(err.value)


def test_solver_error_names_the_termination():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10, p_max=50)
    m.l = ecc.FixedLoad(bus="A", p=10)
    with pytest.raises(ecc.SolverError, match="not available"):
        ecc.solve(m, solver="no_such_solver")


def test_one_persistent_solver_sees_mutations():
    m = two_bus_market(periods=1)
    s = ecc.Solver()
    s.solve(m)
    before = ecc.prices(m).loc[("north", 0), "lmp"]
    m.mid.b = 35.0       # mid is the marginal unit: its offer moves the price by 5
    s.solve(m)
    assert ecc.prices(m).loc[("north", 0), "lmp"] == pytest.approx(before + 5.0)


@requires_ipopt
def test_highs_and_ipopt_give_the_same_prices_on_the_seed000_qp():
    a = ecc.load_case("seed000_community").build()
    b = ecc.load_case("seed000_community").build()
    ecc.solve(a, "highs")
    ecc.solve(b, "ipopt", options={"tol": 1e-12})
    assert ecc.prices(b)["lmp"].to_numpy() == pytest.approx(ecc.prices(a)["lmp"].to_numpy(), abs=1e-6)
    assert ecc.dispatch(b)["p_inj"].to_numpy() == pytest.approx(ecc.dispatch(a)["p_inj"].to_numpy(), abs=1e-4)
    assert ecc.welfare(b) == pytest.approx(ecc.welfare(a), abs=1e-6)


def test_any_pyomo_solver_by_name_gives_the_same_prices():
    """The legacy SolverFactory path (here appsi_highs, an LP) against the default interface."""
    def lp():
        m = ecc.Market(periods=1)
        m.g1 = ecc.Producer(bus=1, steps=[(40, 10.0), (40, 25.0)])
        m.g2 = ecc.Producer(bus=1, steps=[(30, 18.0)])
        m.l = ecc.FixedLoad(bus=1, p=60)
        return m
    a, b = lp(), lp()
    ecc.solve(a)
    ecc.solve(b, "appsi_highs")
    assert ecc.prices(b)["lmp"].to_numpy() == pytest.approx(ecc.prices(a)["lmp"].to_numpy())
    assert ecc.prices(a).loc[(1, 0), "lmp"] == pytest.approx(18.0)   # g2 is partly dispatched


def test_a_market_nested_in_a_larger_model():
    big = pyo.ConcreteModel()
    big.mk = ecc.Market()
    big.mk.g = ecc.Producer(bus=1, b=3.0, p_max=10)
    big.mk.l = ecc.FixedLoad(bus=1, p=4)
    ecc.solve(big)
    assert ecc.prices(big).loc[(1, 0), "lmp"] == pytest.approx(3.0)
    assert ecc.dispatch(big).loc[("mk.g", 0), "p_inj"] == pytest.approx(4.0)


@requires_ipopt
def test_infeasible_market_with_ipopt_is_diagnosed():
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, a=0.1, b=1.0, p_max=40)
    m.l = ecc.FixedLoad(bus=1, p=90)
    with pytest.raises(ecc.InfeasibleMarketError) as err:
        ecc.solve(m, "ipopt")
    assert err.value.conflicts["violation"].sum() == pytest.approx(50.0, rel=1e-6)


@pytest.mark.parametrize("case", ["matpower_case5", "seed001_3bus"])
def test_both_highs_paths_give_the_same_solution_and_prices(case):
    """The sparse-matrix path (LP/MILP default) against Pyomo's persistent HiGHS interface."""
    a, b = ecc.load_case(case).build(), ecc.load_case(case).build()
    ra = ecc.solve(a)
    rb = ecc.Solver("highs", persistent=True).solve(b)
    assert ra.objective == pytest.approx(rb.objective, rel=1e-9)
    assert ecc.prices(a)["lmp"].to_numpy() == pytest.approx(ecc.prices(b)["lmp"].to_numpy(), abs=1e-7)
    assert ecc.dispatch(a)["p_inj"].to_numpy() == pytest.approx(ecc.dispatch(b)["p_inj"].to_numpy(), abs=1e-6)


def _small_lp(sense, rhs=3.0):
    """max/min 2x + y s.t. x + y <= rhs (c), x - y == 1 (e), 0 <= x, y <= 10."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 10))
    m.y = pyo.Var(bounds=(0, 10))
    m.c = pyo.Constraint(expr=m.x + m.y <= rhs)
    m.e = pyo.Constraint(expr=m.x - m.y == 1)
    k = 1 if sense == pyo.maximize else -1
    m.o = pyo.Objective(expr=k * (2 * m.x + m.y), sense=sense)
    return m


@pytest.mark.parametrize("sense", [pyo.minimize, pyo.maximize])
@pytest.mark.parametrize("how", ["highs", "persistent", "ipopt"])
def test_duals_are_the_objective_derivative_for_both_senses(sense, how):
    """dual[c] = d(objective)/d(rhs) in the objective's own sense, whatever the solver path.
    Closed form: x = (rhs + 1)/2, y = (rhs - 1)/2, objective = +-(1.5 rhs + 0.5)."""
    if how == "ipopt" and not ipopt_available():
        pytest.skip("Ipopt not available")
    m = _small_lp(sense)
    solver = ecc.Solver("highs", persistent=True) if how == "persistent" else ecc.Solver(how)
    solver.solve(m)
    k = 1 if sense == pyo.maximize else -1
    assert pyo.value(m.o) == pytest.approx(k * 5.0, abs=1e-6)
    assert m.dual[m.c] == pytest.approx(k * 1.5, abs=1e-6)
    lo, hi = _small_lp(sense), _small_lp(sense, 3.001)    # finite difference (HiGHS, exact)
    ecc.solve(lo)
    ecc.solve(hi)
    assert (pyo.value(hi.o) - pyo.value(lo.o)) / 0.001 == pytest.approx(m.dual[m.c], abs=1e-6)


def _commitment_market(a):
    m = ecc.Market(periods=2)
    m.base = ecc.Producer(bus=1, steps=[(100, 20.0)])
    m.unit = ecc.Producer(bus=1, a=a, b=30.0, p_max=80, p_min=30, c=500.0, commitment=True)
    m.l = ecc.FixedLoad(bus=1, p=[90, 150])
    return m


@requires_ipopt
def test_ipopt_refuses_integer_variables_with_a_clear_error():
    # PyNumero's ASL interface would otherwise end the Python process
    with pytest.raises(ecc.SolverError, match=r"Ipopt cannot solve .* integer variable\(s\) \(unit.on\[0\]"):
        ecc.solve(_commitment_market(0.0), "ipopt")


def test_highs_refuses_a_mixed_integer_qp_with_a_clear_error():
    with pytest.raises(ecc.SolverError, match=r"quadratic objective with 2 integer variable\(s\).*MIQP"):
        ecc.solve(_commitment_market(0.01))


def test_pure_integer_model_gets_prices_from_the_empty_fixed_lp():
    """After fixing every integer nothing is left to optimise: the LP is empty, not an error."""
    m = pyo.ConcreteModel()
    m.n = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 10))
    m.c = pyo.Constraint(expr=2 * m.n >= 3)
    m.o = pyo.Objective(expr=m.n)
    res = ecc.solve(m)
    assert res.pricing_basis == "LP with integers fixed"
    assert m.n.value == 2 and res.objective == pytest.approx(2.0)
    assert m.dual[m.c] == 0.0      # n fixed at 2: the row is slack in the fixed LP


def test_mutable_bounds_of_integer_variables_survive_the_fixed_lp():
    m = pyo.ConcreteModel()
    m.cap = pyo.Param(initialize=3, mutable=True)
    m.n = pyo.Var(domain=pyo.Integers, bounds=(0, m.cap))
    m.o = pyo.Objective(expr=m.n, sense=pyo.maximize)
    ecc.solve(m)
    assert m.n.value == 3
    m.cap = 7                      # an outer loop changes the bound
    assert m.n.ub == 7
    ecc.solve(m)
    assert m.n.value == 7


def test_an_unknown_highs_option_is_an_error_naming_it():
    m = _small_lp(pyo.minimize)
    with pytest.raises(ecc.SolverError, match="no_such_option"):
        ecc.solve(m, options={"no_such_option": 1})


def test_a_constraint_without_variables_that_fails_is_diagnosed():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(1, 2))
    m.y = pyo.Var()
    m.y.fix(1)
    m.c = pyo.Constraint(expr=m.y >= 2)
    m.o = pyo.Objective(expr=m.x)
    with pytest.raises(ecc.InfeasibleMarketError, match="c: violated by 1"):
        ecc.solve(m)


def test_prices_refuse_duals_loaded_outside_pyomo_ecc_solve():
    """Ipopt's own multipliers have the opposite sign: reading them as prices would give -30.8."""
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, a=0.1, b=30.0, p_max=10)
    m.l = ecc.FixedLoad(bus=1, p=4)
    m.assemble()
    m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    m.dual[m.network_copperplate.eq_p_balance[0]] = -30.8      # what such a solver leaves
    with pytest.raises(ecc.PriceError, match="not solved by pyomo_ecc.solve"):
        ecc.prices(m)
    ecc.solve(m)
    assert ecc.prices(m).loc[(1, 0), "lmp"] == pytest.approx(2 * 0.1 * 4 + 30.0)


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("lo,hi,binding", [(4.0, 10.0, 4.0), (-5.0, 3.0, 3.0)])
def test_a_ranged_constraint_has_the_dual_of_its_binding_side(persistent, lo, hi, binding):
    """min +-(2x + y) with x - y = 1 and lo <= x + y <= hi: objective +-(1.5 s + 0.5) at the binding
    side s, so the dual is +-1.5 (the ranged row is two rows in the matrix path, summed back)."""
    k = 1 if binding == lo else -1
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(-20, 20))
    m.y = pyo.Var(bounds=(-20, 20))
    m.r = pyo.Constraint(expr=pyo.inequality(lo, m.x + m.y, hi))
    m.e = pyo.Constraint(expr=m.x - m.y == 1)
    m.o = pyo.Objective(expr=k * (2 * m.x + m.y))
    ecc.Solver("highs", persistent=persistent).solve(m)
    assert pyo.value(m.x + m.y) == pytest.approx(binding)
    assert pyo.value(m.o) == pytest.approx(k * (1.5 * binding + 0.5))
    assert m.dual[m.r] == pytest.approx(k * 1.5)
    assert m.dual[m.e] == pytest.approx(k * 0.5)


def test_an_interface_that_raises_on_infeasibility_still_gets_a_diagnosis():
    """appsi_highs raises 'no feasible solution' when it must load one into a Market block."""
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=30.0, p_max=10)
    m.l = ecc.FixedLoad(bus=1, p=40)
    with pytest.raises(ecc.InfeasibleMarketError, match=r"g.ineq_max\[0\]: violated by 30"):
        ecc.solve(m, "appsi_highs")


def test_an_empty_fixed_lp_with_a_violated_row_is_infeasible():
    """Every variable fixed and 2 >= 3 left over: not 'optimal' just because nothing is free."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.y = pyo.Var()
    m.x.fix(1)
    m.y.fix(1)
    m.c = pyo.Constraint(expr=m.x + m.y >= 3)
    m.o = pyo.Objective(expr=m.x)
    term, _ = ecc.Solver()._run_highs_matrix(m, m.o, want_duals=True)
    assert term == "infeasible"
    m.y.fix(2)
    term, _ = ecc.Solver()._run_highs_matrix(m, m.o, want_duals=True)
    assert term == "optimal" and m.dual[m.c] == 0.0


def test_crossed_variable_bounds_are_named_in_the_diagnosis():
    m = pyo.ConcreteModel()
    m.hi = pyo.Param(initialize=5.0, mutable=True)
    m.x = pyo.Var(bounds=(0, m.hi))
    m.c = pyo.Constraint(expr=m.x >= 1)
    m.o = pyo.Objective(expr=m.x)
    ecc.solve(m)
    m.hi = -2.0                    # an outer loop pushes the upper bound below the lower one
    with pytest.raises(ecc.InfeasibleMarketError, match=r"x: violated by 2"):
        ecc.solve(m)


def test_a_participant_deactivated_without_fixing_is_refused():
    m = two_bus_market(periods=1)
    ecc.solve(m)
    m.mid.deactivate()            # its limits go, its p_inj would stay in the balance
    with pytest.raises(ecc.ModelError, match=r"participant 'mid' is deactivated but still injects"):
        ecc.solve(m)
    for v in (m.mid.p[0],):
        v.fix(0.0)
    ecc.solve(m)                  # withdrawn properly: the others serve the load
    assert "mid" not in ecc.dispatch(m).index.get_level_values("participant")
    assert sum(ecc.dispatch(m)["p_inj"]) == pytest.approx(0.0, abs=1e-6)   # the others balance


def test_price_range_of_the_seed002_auction_is_the_clearing_interval():
    """Seed 002 example: with Q = 2 traded, any price between the best rejected bid (8) and the
    best rejected ask (9) clears; one more kWh costs 9 (S3's ask), one less saves 8 (B3's bid)."""
    m = ecc.load_case("seed002_double_auction").build()
    ecc.solve(m)
    before = ecc.prices(m)["lmp"].copy()
    r = ecc.price_range(m)
    assert list(r.columns) == ["lmp", "lower", "upper"]
    assert r.loc[("p2p", 0), "lower"] == pytest.approx(8000.0)   # $/MWh in a kW market
    assert r.loc[("p2p", 0), "upper"] == pytest.approx(9000.0)
    assert r.loc[("p2p", 0), "lower"] <= r.loc[("p2p", 0), "lmp"] <= r.loc[("p2p", 0), "upper"]
    assert ecc.prices(m)["lmp"].equals(before)                    # the original solution is back


def test_price_range_collapses_to_the_lmp_when_it_is_unique():
    m = two_bus_market()
    ecc.solve(m)
    r = ecc.price_range(m, delta=1e-6)
    assert r["lower"].to_numpy() == pytest.approx(r["lmp"].to_numpy(), rel=1e-5)
    assert r["upper"].to_numpy() == pytest.approx(r["lmp"].to_numpy(), rel=1e-5)


def test_price_range_is_infinite_where_more_load_cannot_be_served():
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=10.0, p_max=50)
    m.l = ecc.FixedLoad(bus=1, p=50)
    ecc.solve(m)
    r = ecc.price_range(m)
    assert r.loc[(1, 0), "lower"] == pytest.approx(10.0) and r.loc[(1, 0), "upper"] == float("inf")
