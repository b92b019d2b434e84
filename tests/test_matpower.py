"""MATPOWER reader, cost conversion and the published DC-OPF objectives of shipped cases."""
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.errors import InputError
from pyomo_ecc.io.matpower import (build_matpower_market, generator_offers, load_matpower_case,
                                   matpower_graph, read_matpower)

pytestmark = pytest.mark.component

TWO_BUS = """function mpc = twobus
mpc.version = '2';
mpc.baseMVA = 100;
%% bus_i type Pd Qd Gs Bs area Vm Va baseKV zone Vmax Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1	0	135	1	1.05	0.95;
	2	1	{load}	0	0	0	1	1	0	135	1	1.05	0.95;
];
mpc.gen = [
	1	0	0	0	0	1	100	1	{pmax_a}	{pmin_a}	0	0	0	0	0	0	0	0	0	0	0;
	2	0	0	0	0	1	100	1	100	0	0	0	0	0	0	0	0	0	0	0	0;
];
mpc.branch = [
	1	2	0.01	0.1	0	0	0	0	0	0	1	-360	360;
];
mpc.gencost = [
	{cost_a}
	2	0	0	2	{b_b}	0;
];
"""


def two_bus(load=20.0, pmax_a=100, pmin_a=0, cost_a="2\t0\t0\t3\t0.1\t10\t0;", b_b=30):
    return read_matpower(TWO_BUS.format(load=load, pmax_a=pmax_a, pmin_a=pmin_a, cost_a=cost_a,
                                        b_b=b_b), name="twobus")


def test_reader_tables_case14():
    mpc = load_matpower_case("case14")
    assert mpc.base_mva == 100.0
    assert mpc.bus.shape[0] == 14 and mpc.branch.shape[0] == 20 and mpc.gen.shape[0] == 5
    assert mpc.bus.at[1, "type"] == 3 and mpc.bus.at[9, "bs"] == 19.0
    assert mpc.branch.at[8, "ratio"] == 0.978  # transformer 4-7
    assert mpc.gencost.loc[1, ["p0", "p1", "p2"]].tolist() == [0.0430292599, 20.0, 0.0]
    G = matpower_graph(mpc)
    assert G.number_of_nodes() == 14 and G.number_of_edges() == 20
    assert G.nodes[3]["load"] == 94.2 and G.nodes[1]["ref"]


def test_polynomial_costs_map_to_a_b_c():
    offers = generator_offers(load_matpower_case("pglib_opf_case30_ieee"))
    assert len(offers) == 6
    for _, o in offers.iterrows():
        assert o["steps"] is None and o["a"] >= 0
    mpc = load_matpower_case("case30")
    o = generator_offers(mpc)
    assert o.loc[2, ["a", "b", "c"]].tolist() == [0.0175, 1.75, 0.0]  # $/MW^2h, $/MWh, $/h


def test_quadratic_two_bus_closed_form():
    # A: 0.1 P^2 + 10 P, B: 30 P; 20 MW load: A alone (marginal 0.2*20+10 = 14 < 30)
    m = build_matpower_market(two_bus())
    res = ecc.solve(m)
    assert res.objective == pytest.approx(0.1 * 400 + 10 * 20)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([14.0, 14.0])


def test_negative_pmin_is_exact():
    # bus 2 injects 30 MW (Pd = -30): A must absorb it, P_A = -30 within [-50, 100];
    # cost 0.1 * 900 - 300 = -210, LMP = 0.2 * (-30) + 10 = 4
    m = build_matpower_market(two_bus(load=-30.0, pmin_a=-50))
    res = ecc.solve(m)
    assert res.objective == pytest.approx(-210.0)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([4.0, 4.0])
    assert m.gen_1.p[0].value + m.gen_1.pmin_offset == pytest.approx(-30.0)


def test_piecewise_linear_costs_become_steps():
    # A: points (0,0), (50,500), (100,1500): 10 $/MWh then 20 $/MWh; B at 15 $/MWh.
    # 80 MW: A 50 MW at 10, B 30 MW at 15 -> 950 $/h, LMP 15
    m = build_matpower_market(two_bus(load=80.0, cost_a="1\t0\t0\t3\t0\t0\t50\t500\t100\t1500;",
                                      b_b=15))
    assert m.gen_1.step_price[0].value == 10.0 and m.gen_1.step_price[1].value == 20.0
    res = ecc.solve(m)
    assert res.objective == pytest.approx(950.0)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([15.0, 15.0])


def test_piecewise_linear_starting_above_zero_keeps_matpower_objective():
    # A: points (20,100), (60,500): 10 $/MWh above a 20 MW minimum; 50 MW load
    # -> A makes 50 MW, MATPOWER cost = 100 + 10 * 30 = 400 $/h, LMP 10
    m = build_matpower_market(two_bus(load=50.0, pmin_a=20, pmax_a=60,
                                      cost_a="1\t0\t0\t2\t20\t100\t60\t500;"))
    res = ecc.solve(m)
    assert res.objective == pytest.approx(400.0)
    assert m.gen_1.p[0].value + m.gen_1.pmin_offset == pytest.approx(50.0)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([10.0, 10.0])


@pytest.mark.parametrize("text, msg", [
    ("mpc.baseMVA = 100;\nmpc.gen = [1 0];\nmpc.branch = [1 2];", r"missing mpc.bus"),
    (TWO_BUS.replace("mpc.version = '2';", "mpc.version = '1';"), r"format version '1'"),
    (TWO_BUS.replace("\t2\t1\t{load}", "\t2\t1\tabc"), r"mpc.bus: row 2 is not numeric"),
    (TWO_BUS.replace("\t1\t2\t0.01", "\t1\t7\t0.01"), r"branch 1 refers to unknown bus 7"),
])
def test_reader_errors(text, msg):
    with pytest.raises(InputError, match=msg):
        read_matpower(text.format(load=1, pmax_a=1, pmin_a=0, cost_a="2 0 0 2 1 0;", b_b=1)
                      if "{" in text else text)


def test_cubic_cost_is_rejected_naming_the_generator():
    mpc = two_bus(cost_a="2\t0\t0\t4\t1\t0.1\t10\t0;")
    with pytest.raises(InputError, match=r"generator 1 has a polynomial cost of degree 3"):
        generator_offers(mpc)


def test_missing_file_and_unknown_library_case():
    with pytest.raises(InputError, match="not found"):
        read_matpower("no_such_case.m")
    with pytest.raises(InputError, match="no MATPOWER file 'case9999.m'"):
        load_matpower_case("case9999")


def test_case14_matpower_objective_and_uniform_lmp():
    # VALIDATION.md: MATPOWER case14 (quadratic costs) DC-OPF 7642.59 $/h, LMP 39.016 $/MWh
    m = build_matpower_market(load_matpower_case("case14"))
    assert ecc.solve(m).objective == pytest.approx(7642.59, abs=0.005)
    lmp = ecc.prices(m).lmp
    assert lmp.min() == pytest.approx(39.016, abs=5e-4) and lmp.max() - lmp.min() < 1e-6


def test_case118_matpower_objective_and_uniform_lmp():
    # VALIDATION.md: MATPOWER case118 DC-OPF 125947.88 $/h, uniform LMP 39.381 $/MWh
    m = build_matpower_market(load_matpower_case("case118"))
    assert ecc.solve(m).objective == pytest.approx(125947.88, abs=0.005)
    lmp = ecc.prices(m).lmp
    assert lmp.min() == pytest.approx(39.381, abs=5e-4) and lmp.max() - lmp.min() < 1e-6


@pytest.mark.parametrize("convention, objective", [
    ("matpower", 7504.44),  # Egret (VALIDATION.md, MATPOWER convention)
    ("dcp", 7472.8),        # pglib-opf v23.07 BASELINE, "DC" column (PowerModels DCP)
])
@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_pglib_case30_objective_under_both_conventions(convention, objective, formulation):
    m = build_matpower_market(load_matpower_case("pglib_opf_case30_ieee"), convention=convention,
                              formulation=formulation)
    digits = 0.005 if convention == "matpower" else 0.05
    assert ecc.solve(m).objective == pytest.approx(objective, abs=digits)


@pytest.mark.parametrize("name, objective, digits", [
    ("pglib_opf_case14_ieee", 2051.5, 0.05),   # BASELINE "DC" column: 2.0515e+03
    ("pglib_opf_case118_ieee", 93101.0, 0.5),  # BASELINE "DC" column: 9.3101e+04
])
def test_pglib_dcp_objectives_from_the_baseline(name, objective, digits):
    """pglib-opf v23.07 BASELINE.md reports PowerModels' DCP objective to 5 significant digits."""
    m = build_matpower_market(load_matpower_case(name), convention="dcp")
    assert ecc.solve(m).objective == pytest.approx(objective, abs=digits)


def test_multi_period_profile_scales_loads():
    mpc = load_matpower_case("case14")
    m = build_matpower_market(mpc, periods=2, load_profile=[0.5, 1.0])
    res = ecc.solve(m)
    one = build_matpower_market(mpc)
    half = build_matpower_market(mpc, load_profile=[0.5])
    assert res.objective == pytest.approx(ecc.solve(one).objective + ecc.solve(half).objective)
    with pytest.raises(InputError, match="load_profile has 1 values for 2 periods"):
        build_matpower_market(mpc, periods=2, load_profile=[1.0])


def test_piecewise_linear_extends_first_segment_down_to_pmin():
    # A: points (20,100), (60,500) but Pmin = 0; MATPOWER's constrained cost variable
    # y >= 100 + 10 (P - 20) extends the first segment below 20 MW. 50 MW load, B at 15:
    # A makes 50 MW at 100 + 10 * 30 = 400 $/h, LMP 10
    m = build_matpower_market(two_bus(load=50.0, pmin_a=0, pmax_a=60,
                                      cost_a="1\t0\t0\t2\t20\t100\t60\t500;", b_b=15))
    assert ecc.solve(m).objective == pytest.approx(400.0)
    assert m.gen_1.p[0].value + m.gen_1.pmin_offset == pytest.approx(50.0)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([10.0, 10.0])


def test_piecewise_linear_extends_last_segment_up_to_pmax():
    # A: points (0,0), (50,500) (10 $/MWh) with Pmax = 100; MATPOWER's cost constraint
    # y >= 10 P holds beyond the last breakpoint, so A serves all 80 MW at 10 $/MWh rather
    # than stopping at 50 MW and leaving 30 MW to B at 15: cost 800 $/h, LMP 10
    m = build_matpower_market(two_bus(load=80.0, pmax_a=100,
                                      cost_a="1\t0\t0\t2\t0\t0\t50\t500;", b_b=15))
    assert ecc.solve(m).objective == pytest.approx(800.0)
    assert m.gen_1.p[0].value == pytest.approx(80.0)
    assert ecc.prices(m).lmp.tolist() == pytest.approx([10.0, 10.0])


def test_piecewise_linear_with_one_point_is_rejected_naming_the_generator():
    mpc = two_bus(cost_a="1\t0\t0\t1\t0\t0;")
    with pytest.raises(InputError, match=r"generator 1: a piecewise-linear cost needs at least 2"):
        generator_offers(mpc)


SHIFTER = """function mpc = shifter
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
	1	3	0	0	0	0	1	1	0	135	1	1.05	0.95;
	2	1	80	0	0	0	1	1	0	135	1	1.05	0.95;
	3	1	100	0	20	0	1	1	0	135	1	1.05	0.95;
];
mpc.gen = [
	1	0	0	0	0	1	100	1	500	0	0	0	0	0	0	0	0	0	0	0	0;
];
mpc.branch = [
	1	2	0.05	0.1	0	0	0	0	0	0	1	-360	360;
	2	3	0.02	0.2	0	0	0	0	0	0	1	-360	360;
	1	3	0.01	0.1	0	0	0	0	1.05	-3	1	-360	360;
];
mpc.gencost = [
	2	0	0	2	10	0;
];
"""


@pytest.mark.parametrize("formulation", ["btheta", "ptdf"])
def test_phase_shift_tap_and_shunt_conductance_from_the_file(formulation):
    # MATPOWER makeBdc / dcopf, computed here with numpy: b = 1/(x tau), Pfinj = -b * shift,
    # Pbusinj = A' Pfinj, and bus 3's Gs = 20 MW is a load (generation 80 + 100 + 20 = 200 MW)
    import numpy as np
    m = build_matpower_market(read_matpower(SHIFTER, name="shifter"), formulation=formulation)
    res = ecc.solve(m)
    assert res.objective == pytest.approx(10 * 200.0)
    b = 100.0 * np.array([1 / 0.1, 1 / 0.2, 1 / (0.1 * 1.05)])
    A = np.array([[1, -1, 0], [0, 1, -1], [1, 0, -1]], float)
    pfinj = -b * np.deg2rad([0.0, 0.0, -3.0])
    P = np.array([200.0, -80.0, -120.0])
    B = A.T @ np.diag(b) @ A
    theta = np.zeros(3)
    theta[1:] = np.linalg.solve(B[1:, 1:], (P - A.T @ pfinj)[1:])
    want = np.diag(b) @ A @ theta + pfinj
    got = m.net.flows().p_flow.xs(0, level="t").reindex([1, 2, 3]).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9)
    theta[1:] = np.linalg.solve(B[1:, 1:], P[1:])
    assert abs(want[2] - (np.diag(b) @ A @ theta)[2]) > 5  # the shift moves flow off branch 3


def test_out_of_service_generators_and_branches_are_left_out():
    # SHIFTER plus a generator at 1 $/MWh with status 0 and a strong branch 1-3 with status 0:
    # neither may change the dispatch (all 200 MW from generator 1 at 10 $/MWh) or the flows
    text = SHIFTER.replace(
        "mpc.gen = [\n",
        "mpc.gen = [\n\t3\t0\t0\t0\t0\t1\t100\t0\t500\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;\n"
    ).replace(
        "mpc.branch = [\n", "mpc.branch = [\n\t1\t3\t0\t0.001\t0\t0\t0\t0\t0\t0\t0\t-360\t360;\n"
    ).replace("mpc.gencost = [\n", "mpc.gencost = [\n\t2\t0\t0\t2\t1\t0;\n")
    mpc = read_matpower(text, name="shifter_oos")
    assert len(mpc.gen) == 2 and len(mpc.branch) == 4
    assert list(generator_offers(mpc).index) == [2]
    ref = build_matpower_market(read_matpower(SHIFTER, name="shifter"))
    m = build_matpower_market(mpc)
    assert ecc.solve(m).objective == pytest.approx(ecc.solve(ref).objective)
    assert ecc.solve(m).objective == pytest.approx(2000.0)
    f_ref = ref.net.flows().p_flow.xs(0, level="t").to_dict()
    f = m.net.flows().p_flow.xs(0, level="t").to_dict()
    assert set(f) == {2, 3, 4}  # MATPOWER row numbers; row 1 is out of service
    assert [f[k + 1] for k in (1, 2, 3)] == pytest.approx([f_ref[k] for k in (1, 2, 3)])
