"""Stylized Johansen (Dixon, Parmenter, Powell & Wilcoxen 1992, ch. 3; GEMPACK ``SJ``): labour
+10 %. Closed form: with Cobb-Douglas technology and tastes, output of commodity 1 (and income in
units of commodity 1) moves with labour supply to the power 0.6, so the exact change is
100 (1.1^0.6 - 1) = 5.885285 % and the Johansen (one-step linear) change is 0.6 x 10 = 6 %.
"""
import pyomo.environ as pyo
import pytest
from conftest import requires_ipopt

import pyomo_ecc
from pyomo_ecc.cge.linear import linear_solve
from pyomo_ecc.cge.stylized_johansen import stylized_johansen
from pyomo_ecc.errors import InputError

pytestmark = pytest.mark.component

EXACT = 100 * (1.1 ** 0.6 - 1)          # 5.885285...


def shock(m):
    return [(m.FS["labour"], 1.1 * pyo.value(m.FS["labour"]))]


def test_benchmark_is_a_solution():
    m = stylized_johansen()
    worst = max(abs(pyo.value(c.body) - pyo.value(c.upper)) for c in m.component_data_objects(pyo.Constraint))
    assert worst < 1e-12


def test_johansen_one_step_is_six_percent():
    m = stylized_johansen()
    r = linear_solve(m, shock(m), steps=1)
    assert r.loc["X[s1]", "change_pct"] == pytest.approx(6.0, abs=1e-10)
    assert r.loc["Y", "change_pct"] == pytest.approx(6.0, abs=1e-10)
    assert r.loc["FS[labour]", "change_pct"] == pytest.approx(10.0)


def test_euler_converges_first_order_and_extrapolation_is_exact():
    errs = []
    for n in (2, 4, 8):
        m = stylized_johansen()
        errs.append(linear_solve(m, shock(m), steps=n).loc["X[s1]", "change_pct"] - EXACT)
    assert errs[0] > errs[1] > errs[2] > 0
    assert errs[0] / errs[1] == pytest.approx(2.0, rel=0.05)       # O(1/n)
    m = stylized_johansen()
    r = linear_solve(m, shock(m), steps=[4, 8, 16, 32])
    assert r.loc["X[s1]", "change_pct"] == pytest.approx(EXACT, abs=1e-6)
    assert r.loc["Y", "change_pct"] == pytest.approx(EXACT, abs=1e-6)
    assert f"{EXACT:.6f}" == "5.885285"


@requires_ipopt
def test_levels_solution_matches_closed_form():
    m = stylized_johansen()
    m.FS["labour"].fix(4.4)
    pyomo_ecc.solve(m, "ipopt", options={"tol": 1e-12})
    assert 100 * (pyo.value(m.X["s1"]) / 8 - 1) == pytest.approx(EXACT, abs=1e-8)
    assert 100 * (pyo.value(m.Y) / 6 - 1) == pytest.approx(EXACT, abs=1e-8)


def test_bad_shock_refused():
    m = stylized_johansen()
    with pytest.raises(InputError, match="must be fixed"):
        linear_solve(m, [(m.X["s1"], 9.0)])
    with pytest.raises(InputError, match="doubling"):
        linear_solve(m, shock(m), steps=[2, 3])
