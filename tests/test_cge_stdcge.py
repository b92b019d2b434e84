"""STDCGE (Hosoe, Gasawa & Hashimoto 2010, ch. 6; GAMS model library ``stdcge``) replication and
the standard CGE checks: SAM balance, replication, square system, Walras, homogeneity, closures.

Reference numbers (GAMS model library / gamspy-examples ``stdcge``): benchmark utility
UU = 25.508490012515818; with import tariffs abolished UU = 26.092634381288686.
"""
import math

import pandas as pd
import pyomo.environ as pyo
import pytest
from conftest import requires_ipopt

from pyomo_ecc import cge
from pyomo_ecc.cge.calibration import ces_calibrate, cet_calibrate
from pyomo_ecc.errors import InputError, ModelError

pytestmark = [pytest.mark.component, requires_ipopt]

UU_BENCH = 25.508490012515818
UU_NO_TARIFF = 26.092634381288686


def stdcge(sam=None, **kw):
    sam = sam or cge.SAM.from_csv("stdcge_sam.csv")
    va = kw.pop("va", {})
    m = cge.Economy(sam=sam, numeraire=kw.pop("numeraire", "LAB"), **kw)
    m.prod = cge.Production(**va)
    m.arm = cge.Armington(sigma=2)
    m.cet = cge.Transformation(psi=2)
    m.hoh = cge.Household()
    m.gov = cge.Government()
    m.inv = cge.Investment()
    m.row = cge.RestOfWorld()
    return m


# -- SAM ---------------------------------------------------------------------------------------------
def test_sam_balanced_and_roles():
    sam = cge.SAM.from_csv("stdcge_sam.csv")
    t = sam.check_balance()
    assert t.loc["BRD", "row_total"] == 92 and t.loc["HOH", "column_total"] == 90
    assert sam.accounts("good") == ["BRD", "MLK"] and sam.account("rest_of_world") == "EXT"
    # GDP: expenditure side C + G + I + E - M = value added + indirect taxes = 90 + 9 + 3
    assert sam.gdp() == pytest.approx(102.0)


def test_unbalanced_sam_names_accounts_and_imbalance():
    sam = cge.SAM.from_csv("stdcge_sam.csv")
    tab = sam.table.copy()
    tab.loc["BRD", "HOH"] += 1.5          # BRD row +1.5, HOH column +1.5
    bad = cge.SAM(tab, sam.roles, name="bad")
    with pytest.raises(InputError) as e:
        bad.check_balance()
    lines = {ln.split(":")[0].strip(): ln for ln in str(e.value).splitlines()[1:]}
    assert sorted(lines) == ["BRD", "HOH"]                 # only the two unbalanced accounts
    # imbalance = row total - column total, with its sign, per account
    assert "row total 93.5" in lines["BRD"] and "column total 92" in lines["BRD"] and "+1.5" in lines["BRD"]
    assert "row total 90" in lines["HOH"] and "column total 91.5" in lines["HOH"] and "-1.5" in lines["HOH"]
    with pytest.raises(InputError, match="not balanced"):
        stdcge(sam=bad)


def test_sam_scaling_leaves_real_results():
    base = stdcge()
    cge.solve(base)
    big = stdcge(sam=cge.SAM.from_csv("stdcge_sam.csv").scale(1000.0))
    cge.solve(big)
    # CD utility is homogeneous of degree 1 in quantities
    assert pyo.value(big.hoh.utility) == pytest.approx(1000 * pyo.value(base.hoh.utility), rel=1e-9)
    with pytest.raises(InputError, match="positive"):
        cge.SAM.from_csv("stdcge_sam.csv").scale(-1)


def test_unsupported_cell_and_missing_elasticity_refused():
    sam = cge.SAM.from_csv("stdcge_sam.csv")
    tab = sam.table.copy()
    tab.loc["HOH", "GOV"] += 1.0            # transfer GOV -> HOH: no flow in the model
    tab.loc["GOV", "HOH"] += 1.0            # paid back as direct tax: still balanced
    with pytest.raises(InputError, match=r"\(HOH, GOV\)"):
        cge.Economy(sam=cge.SAM(tab, sam.roles))
    m = cge.Economy(sam=sam)
    with pytest.raises(InputError, match=r"no value for \['MLK'\]"):
        m.arm = cge.Armington(sigma={"BRD": 2.0})
    with pytest.raises(InputError, match="missing"):
        m.cet = cge.Transformation()


def test_dissaving_cells_are_net_savings():
    """A government deficit / current-account surplus is the (GOV, INV) / (EXT, INV) cell."""
    sam = cge.SAM.from_csv("stdcge_sam.csv")
    # gross form of the same economy: INV pays GOV 3 and EXT 4 back, GOV and EXT pay INV 3 and 4 more
    tab = sam.table.copy()
    tab.loc["GOV", "INV"], tab.loc["INV", "GOV"] = 3.0, 5.0
    tab.loc["EXT", "INV"], tab.loc["INV", "EXT"] = 4.0, 16.0
    gross = stdcge(sam=cge.SAM(tab, sam.roles))
    assert (gross.bench.Sg0, gross.bench.Sf0) == (2.0, 12.0)
    gross.taum.fix(0.0)
    cge.solve(gross)
    assert pyo.value(gross.hoh.utility) == pytest.approx(UU_NO_TARIFF, rel=1e-9)
    # a true deficit: direct tax 23 -> 18, household saving 17 -> 22, government borrows 3
    tab = sam.table.copy()
    tab.loc["GOV", "HOH"], tab.loc["INV", "HOH"] = 18.0, 22.0
    tab.loc["INV", "GOV"], tab.loc["GOV", "INV"] = 0.0, 3.0
    m = stdcge(sam=cge.SAM(tab, sam.roles))
    assert m.bench.Sg0 == -3.0 and pyo.value(m.gov.ssg) == pytest.approx(-3.0 / 30.0)
    m.assemble()
    assert m.max_residual() < 1e-12                        # benchmark replicated with dissaving
    m.taum.fix(0.0)
    cge.solve(m)                                           # Walras' law checked inside
    assert abs(m.walras_residual()) < 1e-8


# -- calibration -------------------------------------------------------------------------------------
def test_ces_and_cet_calibration_reproduce_benchmark():
    x0 = pd.Series({"m": 14.0, "d": 76.0})
    pr = pd.Series({"m": 1.1, "d": 1.0})
    rho, delta, gamma = ces_calibrate(91.4, x0, 2.0, pr)
    assert gamma * (delta * x0 ** rho).sum() ** (1 / rho) == pytest.approx(91.4, rel=1e-12)
    # cost-minimising input ratio at benchmark prices: FOC delta_m m^(rho-1) / (delta_d d^(rho-1)) = p_m / p_d
    assert (delta["m"] * 14 ** (rho - 1)) / (delta["d"] * 76 ** (rho - 1)) == pytest.approx(1.1)
    phi, xi, theta = cet_calibrate(80.0, pd.Series({"e": 8.0, "d": 72.0}), 2.0)
    assert theta * (xi * pd.Series({"e": 8.0, "d": 72.0}) ** phi).sum() ** (1 / phi) == pytest.approx(80.0)
    with pytest.raises(InputError, match="Cobb-Douglas"):
        ces_calibrate(1.0, x0, 1.0)


# -- replication, square system, benchmark numbers -------------------------------------------------------
def test_replication_square_and_benchmark_utility():
    m = stdcge()
    m.assemble()
    d = m.degrees_of_freedom()
    assert d["dof"] == 0 and d["equations"] == d["variables"] > 40
    assert m.max_residual() < 1e-12                        # calibrated point solves every equation
    assert abs(m.walras_residual()) < 1e-12
    # declared market interface: the Armington block supplies each composite good, four agents demand it
    itf = m.interface()
    assert itf.loc[("composite", "BRD", "arm"), "side"] == "supply"
    assert sorted(itf.loc[("composite", "BRD")].query("side == 'demand'").index) == ["gov", "hoh", "inv", "prod"]
    assert itf.loc[("forex", "world", "row"), "side"] == "supply"
    # the registered flows reproduce the SAM cells
    flows = m.flow_table()["value"].groupby(level=["source", "destination", "label"]).sum()
    assert flows[("BRD", "government", "production_tax")] == pytest.approx(5.0)
    assert flows[("household", "government", "direct_tax")] == pytest.approx(23.0)
    assert flows[("rest_of_world", "investment", "foreign_saving")] == pytest.approx(12.0)
    res = cge.solve(m)
    assert res.termination == "optimal"
    assert pyo.value(m.hoh.utility) == pytest.approx(UU_BENCH, rel=1e-12)


def test_tariff_abolition_utility_and_walras():
    m = stdcge()
    cge.solve(m)
    m.taum.fix(0.0)
    cge.solve(m)
    assert pyo.value(m.hoh.utility) == pytest.approx(UU_NO_TARIFF, rel=1e-10)   # measured: 3e-12
    assert abs(m.walras_residual()) < 1e-8
    assert m.market_residuals()["excess"].abs().max() < 1e-8
    assert cge.ev_hicks(m.hoh) > 0                          # welfare gain


def test_constant_objective_and_other_dropped_market_same_point():
    a = stdcge(objective="constant", drop_market=("composite", "MLK"))
    a.taum.fix(0.0)
    cge.solve(a)
    assert pyo.value(a.hoh.utility) == pytest.approx(UU_NO_TARIFF, rel=1e-9)
    # the factor market of the numeraire is now cleared explicitly, the MLK market by Walras
    assert abs(a.walras_residual()) < 1e-8


@pytest.mark.parametrize("kw", [{}, {"numeraire": "cpi"}, {"savings_closure": "investment_driven"},
                                {"external_closure": "fixed_exchange_rate"}])
def test_homogeneity_doubling_numeraire(kw):
    """Every closure: doubling the numeraire doubles every price (exchange rate included) and
    leaves quantities and utility unchanged (homogeneity of degree 0 in prices)."""
    m = stdcge(**kw)
    m.taum.fix(0.0)
    cge.solve(m)
    p1 = m.prices()["price"]
    u1 = pyo.value(m.hoh.utility)
    q1 = {v.name: v.value for v in m.component_data_objects(pyo.Var) if "xp" in v.name or ".z[" in v.name}
    m.numeraire_level = 2.0
    cge.solve(m)
    p2 = m.prices()["price"]
    assert (p2 / p1).to_numpy() == pytest.approx(2.0, rel=1e-8)
    assert pyo.value(m.hoh.utility) == pytest.approx(u1, rel=1e-9)
    for k, v in q1.items():
        assert m.find_component(k).value == pytest.approx(v, rel=1e-8)


def test_world_prices_in_foreign_currency_units():
    """Re-denominating the foreign currency (world prices and foreign saving x 2) halves the
    exchange rate and changes nothing real; the balance of payments holds in foreign currency."""
    m = stdcge()
    m.taum.fix(0.0)
    cge.solve(m)
    u1, eps1 = pyo.value(m.hoh.utility), pyo.value(m.epsilon)
    z1 = {j: pyo.value(m.prod.z[j]) for j in m.I}
    for i in m.I:
        m.pwe[i].fix(2.0)
        m.pwm[i].fix(2.0)
    m.row.sf.fix(2.0 * pyo.value(m.row.sf))
    cge.solve(m)
    assert pyo.value(m.epsilon) == pytest.approx(eps1 / 2, rel=1e-9)
    assert pyo.value(m.hoh.utility) == pytest.approx(u1, rel=1e-9)
    for j in m.I:
        assert pyo.value(m.prod.z[j]) == pytest.approx(z1[j], rel=1e-9)
    bop = (sum(pyo.value(m.pwe[i] * m.cet.e[i]) for i in m.I) + pyo.value(m.row.sf)
           - sum(pyo.value(m.pwm[i] * m.arm.m[i]) for i in m.I))
    assert abs(bop) < 1e-8


def test_other_numeraires_same_real_result():
    for num in ("cpi", "exchange_rate", "CAP"):
        m = stdcge(numeraire=num)
        m.taum.fix(0.0)
        cge.solve(m)
        assert pyo.value(m.hoh.utility) == pytest.approx(UU_NO_TARIFF, rel=1e-9), num


def test_closures_replicate_benchmark_and_change_results():
    for kw in ({"savings_closure": "investment_driven"}, {"external_closure": "fixed_exchange_rate",
                                                          "numeraire": "LAB"}):
        m = stdcge(**kw)
        m.assemble()
        assert m.degrees_of_freedom()["dof"] == 0
        assert m.max_residual() < 1e-12
        cge.solve(m)
        assert pyo.value(m.hoh.utility) == pytest.approx(UU_BENCH, rel=1e-10)
        m.taum.fix(0.0)
        cge.solve(m)
        assert abs(m.walras_residual()) < 1e-8
        assert not math.isclose(pyo.value(m.hoh.utility), UU_NO_TARIFF, rel_tol=1e-6)
    m = stdcge(savings_closure="investment_driven")
    m.taum.fix(0.0)
    cge.solve(m)
    # real investment stays at its benchmark: value = inv0 * prod(pq^lambda)
    assert pyo.value(m.inv.inc) == pytest.approx(
        31.0 * math.prod(pyo.value(m.pq[i]) ** pyo.value(m.inv.lam[i]) for i in m.I), rel=1e-9)


def test_ces_value_added_replicates_benchmark():
    m = stdcge(va={"va": "ces", "sigma_va": {"BRD": 0.5, "MLK": 1.5}})
    m.assemble()
    assert m.max_residual() < 1e-12
    cge.solve(m)
    assert pyo.value(m.hoh.utility) == pytest.approx(UU_BENCH, rel=1e-10)
    with pytest.raises(InputError, match="sigma_va"):
        stdcge(va={"va": "ces"})


def test_non_square_reports_degrees_of_freedom():
    m = stdcge()
    m.hoh.taud.unfix()                                    # one more unknown, no equation for it
    with pytest.raises(ModelError, match="degrees of freedom = 1"):
        m.assemble()
    m2 = stdcge()
    m2.assemble()
    m2.extra = pyo.Constraint(expr=m2.pq["BRD"] == 1.0)
    with pytest.raises(ModelError, match="degrees of freedom = -1"):
        m2.check_square()


def test_missing_agent_refused():
    m = cge.Economy(sam=cge.SAM.from_csv("stdcge_sam.csv"))
    m.prod = cge.Production()
    with pytest.raises(ModelError, match="no household"):
        m.assemble()


def test_linearised_path_matches_levels_solution():
    """Euler with Richardson extrapolation on the same Pyomo model reaches the Ipopt solution."""
    from pyomo_ecc.cge.linear import linear_solve
    m = stdcge(objective="constant").assemble()
    res = linear_solve(m, [(m.taum[i], 0.0) for i in m.I], steps=[4, 8, 16])
    assert pyo.value(m.hoh.utility) == pytest.approx(UU_NO_TARIFF, rel=1e-6)
    assert m.max_residual() < 1e-5
    j = stdcge(objective="constant").assemble()
    joh = linear_solve(j, [(j.taum[i], 0.0) for i in j.I], steps=1)
    # Johansen is first order only: the same direction, but only part of the exact utility gain
    share = (pyo.value(j.hoh.utility) - UU_BENCH) / (UU_NO_TARIFF - UU_BENCH)
    assert 0.7 < share < 0.999
    assert joh.loc["hoh.xp[BRD]", "change_pct"] * res.loc["hoh.xp[BRD]", "change_pct"] > 0
