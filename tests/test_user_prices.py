"""The user's own constraints priced like the built-in ones (declare_price, price_frame,
price_names), checked by finite differences of the optimal cost and by closed forms."""
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import networkx as nx
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc

pytestmark = pytest.mark.component

EPS = 1e-3


def regional_import_market(limit=150.0, dt=1.0):
    r"""North (buses 1, 2; a 20 $/MWh unit) feeds the south (buses 3, 4; a 45 $/MWh unit and
    250 MW of load) over the tie lines 2-3 and 1-4; the south's imports are limited to ``limit``
    MW in every period. The tie flows sum to the south's deficit whatever the PTDF, so with the
    limit binding the import price is 45 - 20 = 25 $/MWh and the LMPs are 20 north, 45 south."""
    g = nx.Graph()
    for u, v in ((1, 2), (2, 3), (1, 4), (3, 4)):
        g.add_edge(u, v, x=0.1)
    g.nodes[1]["ref"] = True
    m = ecc.Market(periods=2, dt=dt)
    m.north = ecc.Producer(bus=1, b=20.0, p_max=400)
    m.south = ecc.Producer(bus=4, b=45.0, p_max=400)
    m.d3 = ecc.FixedLoad(bus=3, p=150)
    m.d4 = ecc.FixedLoad(bus=4, p=[100, 120])
    m.net = ecc.DCNetwork(graph=g)
    m.import_limit = pyo.Param(m.T, initialize=limit, mutable=True)

    def south_imports(mk):       # the flows exist once the network is assembled
        mk.ineq_import = pyo.Constraint(
            mk.T, rule=lambda b, t: b.net.p_flow["2-3", t] + b.net.p_flow["1-4", t]
            <= b.import_limit[t])
        ecc.declare_price(mk, mk.ineq_import, "import_price")

    m.add_hook(south_imports)
    return m


def cost_slope(m, param, index, scale=1.0):
    """(C(b + eps) - C(b - eps)) / (2 eps): d cost / d rhs by re-solving the same model."""
    base = param[index].value
    out = []
    for s in (1, -1):
        param[index] = base + s * EPS * scale
        out.append(ecc.solve(m).objective)
    param[index] = base
    ecc.solve(m)
    return (out[0] - out[1]) / (2 * EPS * scale)


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_regional_import_limit_is_priced_by_finite_differences(dt):
    m = regional_import_market(dt=dt)
    ecc.solve(m)
    price = ecc.price_frame(m, "import_price")["import_price"]
    assert list(price.index) == [0, 1] and price.index.name == "t"
    assert price.tolist() == pytest.approx([25.0, 25.0], abs=1e-7)     # 45 - 20
    lmp = ecc.prices(m)["lmp"]
    assert [lmp[(b, 0)] for b in (1, 2, 3, 4)] == pytest.approx([20.0, 20.0, 45.0, 45.0])
    for t in m.T:
        # sign -1 (an upper limit: more room lowers the cost), weight dt * MW per unit
        fd = -cost_slope(m, m.import_limit, t) / dt
        assert price[t] == pytest.approx(fd, rel=1e-6)


def reserve_market(dt):
    r"""A reserve requirement :math:`r_t \ge R_t` that only the cheap unit can hold, from its
    headroom :math:`p_t + r_t \le \overline{P}`: it gives up energy to the dear unit, so the
    reserve price is the opportunity cost 30 - 10 = 20 $/MW per hour and the LMP is 30."""
    m = ecc.Market(periods=3, dt=dt)
    m.cheap = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.dear = ecc.Producer(bus="A", b=30.0, p_max=100)
    m.town = ecc.FixedLoad(bus="A", p=[80, 70, 90])
    m.reserve = pyo.Block()
    m.reserve.R = pyo.Param(m.T, initialize={0: 50.0, 1: 40.0, 2: 30.0}, mutable=True)
    m.reserve.r = pyo.Var(m.T, domain=pyo.NonNegativeReals)
    m.reserve.headroom = pyo.Constraint(m.T, rule=lambda b, t: m.cheap.p[t] + b.r[t] <= 100)
    m.reserve.requirement = pyo.Constraint(m.T, rule=lambda b, t: b.r[t] >= b.R[t])
    decls = ecc.declare_price(m, m.reserve.requirement, "reserve_price", unit="$/MW per h")
    assert [d.sign for d in decls] == [1, 1, 1]         # a requirement: +1 by default
    return m


def test_reserve_requirement_over_periods_of_different_lengths():
    dt = [0.5, 0.25, 2.0]
    m = reserve_market(dt)
    ecc.solve(m)
    price = ecc.price_frame(m, "reserve_price")["reserve_price"]
    assert price.tolist() == pytest.approx([20.0, 20.0, 20.0], abs=1e-7)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([30.0, 30.0, 30.0])
    for k, t in enumerate(m.T):
        fd = cost_slope(m, m.reserve.R, t) / dt[k]
        assert price[t] == pytest.approx(fd, rel=1e-6)
    # the same price in kW: the weight carries the power unit
    names = ecc.price_names(m)
    assert names.loc["reserve_price", "unit"] == "$/MW per h"
    assert names.loc["reserve_price", "kind"] == "power"
    assert names.loc["reserve_price", "levels"] == "t"
    assert names.loc["reserve_price", "count"] == 3
    assert names.loc["reserve_price", "declared_by"] == "reserve"
    assert names.loc["lmp", "unit"] == "$/MWh" and names.loc["lmp", "sign"] == 1


def test_price_in_kw_units_is_the_same_per_mwh():
    m = ecc.Market(periods=1, dt=0.5, power_unit="kW")
    m.cheap = ecc.Producer(bus="A", b=10.0 / 1000, p_max=100e3)
    m.dear = ecc.Producer(bus="A", b=30.0 / 1000, p_max=100e3)
    m.town = ecc.FixedLoad(bus="A", p=80e3)
    m.cap = pyo.Constraint(m.T, rule=lambda mk, t: mk.cheap.p[t] <= 50e3)      # kW
    ecc.declare_price(m, m.cap, "cheap_cap")
    ecc.solve(m)
    assert ecc.price_frame(m, "cheap_cap").iloc[0, 0] == pytest.approx(20.0)     # $/MWh


def test_scalar_quantity_constraint_and_other_index_sets():
    r"""An energy budget over the horizon (a scalar ``quantity`` constraint, $/MWh of budget)
    and a cap indexed by (unit, period): one more MWh of the cheap unit's budget replaces the
    dear unit, worth 30 - 10 = 20 $/MWh."""
    m = ecc.Market(periods=2, dt=0.5)
    m.cheap = ecc.Producer(bus="A", b=10.0, p_max=100)
    m.dear = ecc.Producer(bus="A", b=30.0, p_max=100)
    m.town = ecc.FixedLoad(bus="A", p=80)
    m.E = pyo.Param(initialize=60.0, mutable=True)                         # MWh over both periods
    m.budget = pyo.Constraint(expr=sum(m.cheap.p[t] * m.dt[t] for t in m.T) <= m.E)
    ecc.declare_price(m, m.budget, "budget_price", kind="quantity", unit="$/MWh of budget")
    m.units = pyo.Set(initialize=["cheap", "dear"])
    m.unit_cap = pyo.Constraint(m.units, m.T, rule=lambda mk, u, t: mk.component(u).p[t] <= 200)
    ecc.declare_price(m, m.unit_cap, "unit_cap_price")
    ecc.solve(m)
    budget = ecc.price_frame(m, "budget_price")
    assert budget.index.names == ["constraint"] and budget.index[0] == "budget"
    assert budget.iloc[0, 0] == pytest.approx(20.0)
    assert budget.iloc[0, 0] == pytest.approx(-cost_slope(m, m.E, None), rel=1e-6)
    caps = ecc.price_frame(m, "unit_cap_price")
    assert caps.index.names == ["units", "t"] and len(caps) == 4
    assert caps["unit_cap_price"].abs().max() == 0.0                      # never binding
    assert ecc.price_names(m).loc["budget_price", "kind"] == "quantity"


def test_declare_price_refuses_what_it_cannot_normalise():
    m = reserve_market([1.0, 1.0, 1.0])
    with pytest.raises(ecc.InputError, match="'reserve_price' is already declared"):
        ecc.declare_price(m, m.reserve.headroom, "reserve_price")
    m.total = pyo.Constraint(expr=sum(m.reserve.r[t] for t in m.T) >= 1)
    with pytest.raises(ecc.InputError, match=r"kind='power' needs the period of each entry"):
        ecc.declare_price(m, m.total, "total_reserve")
    with pytest.raises(ecc.InputError, match=r"t=7 is not a period"):
        ecc.declare_price(m, m.total, "total_reserve", t=7)
    with pytest.raises(ecc.InputError, match="expected a Pyomo Constraint"):
        ecc.declare_price(m, m.reserve.r, "r_price")
    with pytest.raises(ecc.InputError, match="unknown kind 'energy'"):
        ecc.declare_price(m, m.total, "total_reserve", kind="energy")
    m.band = pyo.Constraint(expr=pyo.inequality(0, m.reserve.r[0], 100))
    with pytest.raises(ecc.InputError, match="has both bounds: give sign"):
        ecc.declare_price(m, m.band, "band_price", kind="quantity")
    other = ecc.Market()
    other.x = pyo.Var()
    other.c = pyo.Constraint(expr=other.x >= 0)
    with pytest.raises(ecc.InputError, match="not part of this market's model"):
        m.declare_price(other.c, "foreign", kind="quantity")
    # a user price may not take the name of a block's price
    m.dup = pyo.Constraint(m.T, rule=lambda b, t: b.reserve.r[t] >= 0)
    ecc.declare_price(m, m.dup, "lmp")
    ecc.solve(m)
    with pytest.raises(ecc.ModelError, match="user price 'lmp' has the name of a price"):
        ecc.prices(m)


def test_readme_regional_import_limit_runs_as_written():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
                 if "declare_price(" in b)
    ns = {}
    with redirect_stdout(io.StringIO()):
        exec(compile(block, "README.md", "exec"), ns)
    m = ns["m"]
    price = ecc.price_frame(m, "import_price")["import_price"]
    assert price.tolist() == pytest.approx([25.0, 25.0], abs=1e-7)
    ref = regional_import_market(dt=0.5)           # the same market, built by the test
    ecc.solve(ref)
    assert ecc.solve(m).objective == pytest.approx(ecc.solve(ref).objective)
    assert ecc.price_names(m).loc["import_price", "unit"] == "$/MWh of import capacity"


def test_a_users_cost_term_enters_the_objective_and_the_price():
    """A reserve offer of 2 $/MW per hour, added with market.add_cost: the reserve price is
    the opportunity cost plus the offer, 20 + 2, and the objective carries the term."""
    dt = [0.5, 0.25, 2.0]
    m = reserve_market(dt)
    m.reserve.cost = pyo.Expression(expr=sum(2.0 * m.dt[t] * m.reserve.r[t] for t in m.T))
    m.add_cost(m.reserve.cost)
    res = ecc.solve(m)
    assert ecc.price_frame(m, "reserve_price")["reserve_price"].tolist() == pytest.approx([22.0] * 3)
    energy = sum(d * (10.0 * (100 - R) + 30.0 * (L - 100 + R))
                 for d, R, L in zip(dt, (50, 40, 30), (80, 70, 90)))
    assert res.objective == pytest.approx(energy + sum(2.0 * d * R for d, R in zip(dt, (50, 40, 30))))
    with pytest.raises(ecc.ModelError, match="already assembled"):
        m.add_cost(m.reserve.cost)
