"""What-ifs against fresh solves of the same changed model: combinations the engine must follow
(a deactivated row whose parameters change, MILP prices, parameters set outside the engine,
a constraint rewritten between what-ifs)."""
import numpy as np
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.whatif import Deactivate, SetParam, WhatIf, applied, withdraw


def _market():
    """Two producers and a load; a user constraint whose coefficient and bound are parameters."""
    m = ecc.Market(periods=2, dt=0.5)
    m.g1 = ecc.Producer(bus="A", a=0.02, b=10.0, p_max=100)
    m.g2 = ecc.Producer(bus="A", b=30.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=80)
    m.k = pyo.Param(mutable=True, initialize=2.0)
    m.cap = pyo.Param(mutable=True, initialize=70.0)
    m.add_hook(lambda mk: setattr(mk, "ucap", pyo.Constraint(expr=m.k * m.g1.p[0] + m.g1.p[1] <= m.cap)))
    return m


def _fresh(m, changes=()):
    with applied(m, list(changes)):
        res = ecc.solve(m, diagnose=False)
        return res.objective, ecc.prices(m)["lmp"].to_numpy()


def _assert_matches_fresh(w, m, changes=()):
    out = w.run(list(changes), prices=["lmp"])
    obj, lmp = _fresh(m, changes)
    assert out.ok, out.reason
    assert out.objective == pytest.approx(obj, rel=1e-9)
    np.testing.assert_allclose(out.prices["lmp"].to_numpy(), lmp, rtol=1e-9, atol=1e-9)
    return out


@pytest.mark.component
def test_a_deactivated_row_stays_free_when_its_parameters_change():
    """Regression: the vectorised pass over parameter rows gave a row deactivated in the same
    what-if its bounds back (it read the activity compiled before): 2390.01 instead of 928."""
    m = _market()
    w = WhatIf(m)
    out = _assert_matches_fresh(w, m, [Deactivate(m.ucap), SetParam(m.cap, 1.0)])
    assert out.objective == pytest.approx(928.0)   # 0.5 h * (2 * (80 * 10 + 0.02 * 80^2 / 2) ... )
    _assert_matches_fresh(w, m, [SetParam(m.cap, 40.0), Deactivate(m.ucap), SetParam(m.k, 5.0)])
    _assert_matches_fresh(w, m)


@pytest.mark.component
def test_milp_prices_of_a_whatif_are_those_of_the_lp_with_integers_fixed():
    """Regression: a MILP what-if asking for prices raised TypeError (HiGHS gives no row duals)."""
    m = ecc.Market(periods=2)
    m.g1 = ecc.Producer(bus="A", b=10.0, p_max=100, p_min=20, commitment=True, c=50.0)
    m.g2 = ecc.Producer(bus="A", b=30.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=[50, 10])
    w = WhatIf(m)
    base = _assert_matches_fresh(w, m)
    assert base.prices["lmp"].tolist() == pytest.approx([10.0, 30.0])   # g1 off in period 1
    out = _assert_matches_fresh(w, m, [SetParam(m.d.p_load, {1: 80.0})])
    assert out.prices["lmp"].tolist() == pytest.approx([10.0, 10.0])
    assert "integers fixed" in out.route
    # without g2 the 10 MW of period 1 cannot be served (g1 runs at 20 MW or not at all)
    assert w.run([withdraw(m.g2)], prices=["lmp"]).status == "infeasible"
    _assert_matches_fresh(w, m, [withdraw(m.g2), SetParam(m.d.p_load, {1: 30.0})])


@pytest.mark.component
def test_a_parameter_set_outside_the_engine_is_followed():
    """Regression: a parameter the user set between what-ifs was ignored by the live model (the
    what-if reported the old optimum, 1749, as optimal instead of 2099)."""
    m = _market()
    w = WhatIf(m)
    m.g1.b = 20.0
    out = _assert_matches_fresh(w, m)
    assert out.objective == pytest.approx(2099.0)
    _assert_matches_fresh(w, m, [SetParam(m.cap, 40.0)])
    m.g1.b = 10.0
    assert _assert_matches_fresh(w, m).objective == pytest.approx(1749.0)


@pytest.mark.component
def test_sync_follows_bounds_and_rewritten_constraints_set_outside():
    """Changes other than parameters made outside the engine are followed after sync(); a
    parameter row rewritten since the vectorised pass was compiled is then still re-evaluated
    when its parameters change (it used to keep its old coefficients)."""
    m = _market()
    w = WhatIf(m)
    _assert_matches_fresh(w, m, [SetParam(m.cap, 60.0)])   # compiles the vectorised pass
    m.g1.p[1].setub(10.0)
    m.ucap.set_value(m.k * m.g1.p[0] + 3 * m.cap * m.g1.p[1] <= 2 * m.cap)
    base = w.sync()
    assert base.objective == pytest.approx(_fresh(m)[0])
    _assert_matches_fresh(w, m, [SetParam(m.cap, 30.0)])
    _assert_matches_fresh(w, m, [SetParam(m.k, 0.5), SetParam(m.cap, 50.0)])


@pytest.mark.component
def test_price_range_of_a_load_that_cannot_fall_is_open_below():
    """C(b) = 10 b for b >= 50 (a must-run of 50 MW) and +inf below: the subdifferential at 50 is
    (-inf, 10]. Regression: the infeasible side was taken as -inf cost, reported [10, inf)."""
    m = ecc.Market()
    m.g1 = ecc.Producer(bus="A", b=10.0, p_min=50, p_max=100)
    m.g2 = ecc.Producer(bus="A", b=30.0, p_max=100)
    m.d = ecc.FixedLoad(bus="A", p=50)
    ecc.solve(m)
    r = ecc.price_range(m).iloc[0]
    assert r["lmp"] == pytest.approx(10.0)
    assert r["lower"] == -np.inf and r["upper"] == pytest.approx(10.0)
    # maximising the negated cost: every price and both ends change sign
    m.obj.deactivate()
    m.welfare = pyo.Objective(expr=-m.obj.expr, sense=pyo.maximize)
    ecc.solve(m)
    r = ecc.price_range(m).iloc[0]
    assert r["lmp"] == pytest.approx(-10.0)
    assert r["lower"] == pytest.approx(-10.0) and r["upper"] == np.inf


@pytest.mark.component
def test_whatif_prices_of_a_maximised_objective_are_the_negated_ones():
    """The same market with min C and with max -C: objectives and LMPs change sign, what-if and
    fresh solve alike."""
    mins, maxs = _market(), _market()
    maxs.assemble()
    maxs.obj.deactivate()
    maxs.welfare = pyo.Objective(expr=-maxs.obj.expr, sense=pyo.maximize)
    for changes in ([], [("g1.b", 20.0)], [("d.p_load", {0: 120.0})]):
        outs = []
        for m in (mins, maxs):
            w = WhatIf(m)
            outs.append(_assert_matches_fresh(w, m, [SetParam(p, v) for p, v in changes]))
        lo, hi = outs
        assert hi.objective == pytest.approx(-lo.objective)
        np.testing.assert_allclose(hi.prices["lmp"].to_numpy(), -lo.prices["lmp"].to_numpy(), rtol=1e-9)
    assert (lo.prices["lmp"] > 0).all()   # a cost-minimising market with every load served


@pytest.mark.component
def test_move_rhs_of_an_inequality_moves_its_bound():
    """ucap: 2 p1[0] + p1[1] <= 70 binds (g1 would run 2 x 80); moved to 60 the cost rises by
    the shadow price of the cap times 10 (checked against a fresh solve and by hand)."""
    from pyomo_ecc.whatif import MoveRHS
    m = _market()
    w = WhatIf(m)
    out = _assert_matches_fresh(w, m, [MoveRHS(m.ucap, -10.0)])
    base = w.run([], prices=["lmp"])
    assert out.objective > base.objective + 1.0
    ref = _fresh(m, [SetParam(m.cap, 60.0)])[0]
    assert out.objective == pytest.approx(ref, rel=1e-12)


@pytest.mark.component
def test_a_parameter_coefficient_of_a_binding_row_reaches_the_live_model():
    """k multiplies p1[0] in the binding cap: k = 1 lets g1 run 70 - p1[1] in period 0; the
    live model's coefficient must change (a fresh solve builds its matrix anew)."""
    m = _market()
    w = WhatIf(m)
    for k in (1.0, 0.5, 4.0):
        _assert_matches_fresh(w, m, [SetParam(m.k, k)])
    _assert_matches_fresh(w, m, [SetParam(m.k, 1.0), SetParam(m.cap, 170.0), withdraw(m.g2)])
