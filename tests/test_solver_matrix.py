"""Solver matrix: the same markets solved with ``highs``, ``appsi_highs`` and ``ipopt`` give the
same prices, for every DC formulation x susceptance convention x reference-bus position.

The three-bus triangle (equal impedances, 50 MW limit on line 1-3, 100 MW load at bus 3, offers
10 and 30 $/MWh at buses 1 and 3) has the closed-form LMPs [10, 20, 30] $/MWh: the flow limit
binds, bus 2 sits electrically half-way, so its price is the mean of its neighbours'. Every line
has the same r and x, so both conventions give proportional susceptances and the same PTDF;
where the reference bus is does not move an LMP. A quadratic variant (bus 1 offers
0.05 p^2 + 10 p) is checked against its own closed form.
"""
import networkx as nx
import pytest

import pyomo_ecc as ecc
from conftest import ipopt_available

pytestmark = pytest.mark.component

SOLVERS = ["highs", "appsi_highs", "ipopt"]
FORMULATIONS = ["btheta", "ptdf"]
CONVENTIONS = ["matpower", "dcp"]
REF_BUSES = [1, 2, 3]


def _skip_unavailable(solver):
    if solver == "ipopt" and not ipopt_available():
        pytest.skip("Ipopt not available")
    if solver == "appsi_highs":
        import pyomo.environ as pyo
        if not pyo.SolverFactory("appsi_highs").available():
            pytest.skip("appsi_highs not available")


def triangle(formulation, convention, ref, quadratic=False):
    g = nx.Graph()
    for a, b in ((1, 2), (2, 3), (1, 3)):
        g.add_edge(a, b, x=0.1, r=0.02)
    g.edges[1, 3]["rating"] = 50
    g.nodes[ref]["ref"] = True
    m = ecc.Market()
    m.g1 = ecc.Producer(bus=1, a=0.05 if quadratic else None, b=10, p_max=200)
    m.g3 = ecc.Producer(bus=3, b=30, p_max=200)
    m.d = ecc.FixedLoad(bus=3, p=100)
    m.net = ecc.DCNetwork(graph=g, formulation=formulation, convention=convention)
    return m


@pytest.mark.parametrize("ref", REF_BUSES)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_three_bus_lmps_are_the_same_with_every_solver(solver, formulation, convention, ref):
    _skip_unavailable(solver)
    m = triangle(formulation, convention, ref)
    ecc.solve(m, solver=solver)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([10.0, 20.0, 30.0], abs=1e-5)
    # a transfer from bus 1 to bus 3 flows 2/3 on line 1-3: its 50 MW limit caps g1 at 75 MW
    assert m.g1.p[0].value == pytest.approx(75.0, abs=1e-5)
    assert m.g3.p[0].value == pytest.approx(25.0, abs=1e-5)


@pytest.mark.parametrize("ref", REF_BUSES)
@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("solver", ["highs", "ipopt"])   # appsi_highs takes no quadratic objective
def test_quadratic_three_bus_lmps_are_the_same_with_every_solver(solver, formulation, ref):
    """Closed form: line 1-3 carries 2/3 of the transfer from bus 1 to bus 3, so its limit caps
    g1 at 75 MW; LMP_1 = 2 * 0.05 * 75 + 10 = 17.5 (g1's marginal cost), LMP_3 = 30 (g3
    marginal), LMP_2 = (17.5 + 30) / 2 = 23.75."""
    _skip_unavailable(solver)
    m = triangle(formulation, "matpower", ref, quadratic=True)
    ecc.solve(m, solver=solver)
    assert ecc.prices(m)["lmp"].tolist() == pytest.approx([17.5, 23.75, 30.0], abs=1e-5)


@pytest.mark.parametrize("formulation", FORMULATIONS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_matpower_case5_prices_agree_across_solvers_and_reference_buses(solver, formulation):
    """MATPOWER case5 (linear costs, the 240 MW line binds): welfare -17479.90 $/h with every
    solver; moving the reference bus to every other bus leaves every LMP unchanged."""
    _skip_unavailable(solver)
    from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
    mpc = load_matpower_case("case5")
    base = None
    for ref in [4, 1, 2, 3, 5]:        # 4 is the case's own reference bus
        mpc.bus["type"] = [3 if b == ref else (2 if t == 3 else t)
                           for b, t in zip(mpc.bus.index, mpc.bus["type"])]
        m = build_matpower_market(mpc, formulation=formulation)
        ecc.solve(m, solver=solver)
        assert ecc.welfare(m) == pytest.approx(-17479.90, abs=0.01)
        lmp = ecc.prices(m)["lmp"]
        if base is None:
            base = lmp
        assert lmp.tolist() == pytest.approx(base.tolist(), abs=1e-4)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("formulation", FORMULATIONS)
def test_matpower_case14_quadratic_prices_agree_between_highs_and_ipopt(formulation, convention):
    """No closed form here: the two solvers (active-set QP, interior point) must agree with each
    other, under both conventions (which give different prices: different susceptances)."""
    _skip_unavailable("ipopt")
    from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
    mpc = load_matpower_case("case14")
    out = {}
    for solver in ("highs", "ipopt"):
        m = build_matpower_market(mpc, formulation=formulation, convention=convention)
        ecc.solve(m, solver=solver)
        out[solver] = (ecc.welfare(m), ecc.prices(m)["lmp"].to_numpy())
    assert out["ipopt"][0] == pytest.approx(out["highs"][0], rel=1e-7)
    assert out["ipopt"][1] == pytest.approx(out["highs"][1], abs=1e-4)
