"""ETS sectors and the administered (market-model) price on the STDCGE economy.

Emission data here are synthetic (BRD 10 emission units at the benchmark; MLK 5 where both
sectors are covered). Caps on every sector of this two-sector economy would be infeasible: with
Leontief technology and full employment of fixed factors, outputs cannot both fall, so the cap
tests cover BRD only (MLK absorbs the factors). The checks are
properties of the model: the benchmark is replicated, Walras' law holds with every revenue
option (a missing or double-counted payment would break it), cap and price modes are dual
(the cap's endogenous price, given as a price, reproduces the capped emissions), free
allocation to the single household equals recycling the revenue to it, and prices stay
homogeneous of degree one.
"""
import pyomo.environ as pyo
import pytest
from conftest import requires_ipopt

from pyomo_ecc import cge
from pyomo_ecc.cge.ets import AdministeredPrice, EmissionTrading
from pyomo_ecc.errors import InputError

pytestmark = [pytest.mark.component, requires_ipopt]

BASE = {"BRD": 10.0}
BOTH = {"BRD": 10.0, "MLK": 5.0}


def economy(numeraire="LAB", **ets):
    m = cge.Economy(sam=cge.SAM.from_csv("stdcge_sam.csv"), numeraire=numeraire)
    m.prod = cge.Production()
    m.arm = cge.Armington(sigma=2)
    m.cet = cge.Transformation(psi=2)
    m.hoh = cge.Household()
    m.gov = cge.Government()
    m.inv = cge.Investment()
    m.row = cge.RestOfWorld()
    if ets is not None:
        ets.setdefault("base_emissions", BASE)
        ets.setdefault("value_scale", 0.01)
        m.ets = EmissionTrading(**ets)
    return m


def test_zero_price_replicates_benchmark():
    m = economy(price=0.0)
    m.assemble()
    assert m.degrees_of_freedom()["dof"] == 0
    assert m.max_residual() < 1e-12
    cge.solve(m)
    assert pyo.value(m.hoh.utility) == pytest.approx(25.508490012515818, rel=1e-10)
    assert pyo.value(m.ets.em["BRD"]) == pytest.approx(10.0)


@pytest.mark.parametrize("recycling", ["government", "household"])
@pytest.mark.parametrize("free", [0.0, 0.5])
def test_price_mode_walras_and_emissions_fall(recycling, free):
    m = economy(price=20.0, recycling=recycling, free_allocation=free, base_emissions=BOTH)
    cge.solve(m)
    assert abs(m.walras_residual()) < 1e-8
    # total emissions fall (one sector may grow: demand shifts to the cleaner good)
    assert sum(pyo.value(m.ets.em[j]) for j in BOTH) < sum(BOTH.values())
    assert pyo.value(m.ets.em["BRD"]) < BOTH["BRD"]
    for j in BOTH:
        assert pyo.value(m.ets.pco2[j]) == pytest.approx(20.0)
    # every tonne is paid for: payments = free allowances + revenue
    flows = m.flow_table()["value"].groupby(level="label").sum()
    paid = sum(0.01 * 20.0 * pyo.value(m.ets.em[j]) for j in BOTH)
    assert flows["carbon_revenue"] + flows["free_allowances"] == pytest.approx(paid, rel=1e-9)


def test_cap_mode_and_price_mode_are_dual():
    cap = {"BRD": 9.0}
    m = economy(mode="cap", cap=cap)
    cge.solve(m)
    for j in cap:
        assert pyo.value(m.ets.em[j]) == pytest.approx(cap[j], rel=1e-6)
        assert pyo.value(m.ets.pco2[j]) > 0
    prices = {j: pyo.value(m.ets.pco2[j]) for j in cap}
    # the same prices given exogenously (one block per price level) reproduce the capped emissions
    p = economy(price=0.0)
    p.assemble()
    for j in cap:
        p.ets.mu[j].fix(prices[j])                 # fixed premium = the cap's price, caps off
    cge.solve(p)
    for j in cap:
        assert pyo.value(p.ets.em[j]) == pytest.approx(cap[j], rel=1e-6)
    assert pyo.value(p.hoh.utility) == pytest.approx(pyo.value(m.hoh.utility), rel=1e-8)


def test_slack_cap_has_zero_premium_binding_cap_positive():
    m = economy(price=200.0, cap_share=0.99)
    cge.solve(m)
    for j in BASE:
        assert pyo.value(m.ets.em[j]) < 0.99 * BASE[j] - 1e-6
        assert abs(pyo.value(m.ets.mu[j])) < 1e-6
    m.ets.price = 1.0
    cge.solve(m)
    for j in BASE:
        assert pyo.value(m.ets.em[j]) == pytest.approx(0.99 * BASE[j], rel=1e-6)
        assert pyo.value(m.ets.mu[j]) > 1.0


def test_free_allocation_equals_household_recycling_under_binding_caps():
    a = economy(mode="cap", cap_share=0.95, free_allocation=1.0, recycling="government")
    b = economy(mode="cap", cap_share=0.95, free_allocation=0.0, recycling="household")
    cge.solve(a)
    cge.solve(b)
    assert pyo.value(a.hoh.utility) == pytest.approx(pyo.value(b.hoh.utility), rel=1e-7)
    # the free allowances follow the cap (mutable): A = phi * min(cap, base emissions)
    a.ets.cap["BRD"] = 9.2
    assert pyo.value(a.ets.allowance["BRD"]) == pytest.approx(9.2)
    a.ets.cap["BRD"] = 1e6
    assert pyo.value(a.ets.allowance["BRD"]) == pytest.approx(10.0)
    c = economy(mode="cap", cap_share=0.95, free_allocation=0.0, recycling="government")
    cge.solve(c)
    assert abs(pyo.value(c.hoh.utility) - pyo.value(b.hoh.utility)) > 1e-4


def test_homogeneity_with_carbon_price():
    m = economy(price=30.0, cap_share=0.97)
    cge.solve(m)
    z = {j: pyo.value(m.prod.z[j]) for j in m.I}
    p = m.prices()["price"]
    m.numeraire_level = 2.0
    cge.solve(m)
    assert (m.prices()["price"] / p).to_numpy() == pytest.approx(2.0, rel=1e-7)
    for j in m.I:
        assert pyo.value(m.prod.z[j]) == pytest.approx(z[j], rel=1e-7)


def test_administered_price():
    m = economy(price=0.0)
    m.ele = AdministeredPrice(good="MLK", ratio=1.0)
    m.assemble()
    assert m.degrees_of_freedom()["dof"] == 0 and m.max_residual() < 1e-12
    m.ele.ratio = 1.1
    cge.solve(m)
    assert pyo.value(m.pz["MLK"]) / pyo.value(m.pf["LAB"]) == pytest.approx(1.1, rel=1e-9)
    assert pyo.value(m.ele.wedge) > 0
    assert abs(m.walras_residual()) < 1e-8
    assert pyo.value(m.prod.z["MLK"]) < m.bench.Z0["MLK"]      # dearer good, less output


def test_bad_ets_input():
    with pytest.raises(InputError, match="mode 'cap' needs"):
        economy(mode="cap")
    with pytest.raises(InputError, match="endogenous; got price=50"):
        economy(mode="cap", cap_share=0.9, price=50.0)
    with pytest.raises(InputError, match=r"no cap for sector\(s\) \['MLK'\]"):
        economy(cap={"BRD": 1.0}, base_emissions=BOTH)
    with pytest.raises(InputError, match=r"unknown sector\(s\) \['XYZ'\]"):
        economy(base_emissions={"XYZ": 1.0})
    with pytest.raises(InputError, match=r"'recycling': 'RA' is not an institution .*'household', 'government'"):
        economy(price=1.0, recycling="RA")
    with pytest.raises(InputError, match="exactly one"):
        economy(intensity={"BRD": 0.1})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        economy(price=1.0, free_allocation=1.5)
    with pytest.raises(InputError, match=r"'free_allocation' names sector\(s\) \['MLK'\]"):
        economy(price=1.0, free_allocation={"BRD": 0.5, "MLK": 0.5})
    with pytest.raises(InputError, match=r"'cap' names sector\(s\) \['MLK'\]"):
        economy(mode="cap", cap={"BRD": 9.0, "MLK": 4.0})
    with pytest.raises(InputError, match="value_scale must be positive"):
        economy(price=1.0, value_scale=0.0)
