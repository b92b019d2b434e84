"""PyPSA interop: a network built in PyPSA, imported into a market, gives PyPSA's own linear
OPF prices and dispatch (``n.optimize()`` with HiGHS); exports in PyPSA's and pandapower's
shapes."""
import logging

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.errors import InputError

pypsa = pytest.importorskip("pypsa")

from pyomo_ecc.io.pypsa_io import (from_pypsa, pypsa_graph, to_pandapower_frames,  # noqa: E402
                                   to_pypsa_frames)

pytestmark = pytest.mark.integration


def two_level_network(co2_limit=None, quadratic=0.0):
    """Five buses on two voltage levels (380 kV, 220 kV) joined by two transformers, one a phase
    shifter with an off-nominal tap; lines in ohms; three snapshots of 1, 2 and 1 hours; wind
    with a varying availability; the 220 kV ring is congested in the second snapshot."""
    n = pypsa.Network()
    n.set_snapshots(pd.Index(["00:00", "01:00", "03:00"], name="snapshot"))
    n.snapshot_weightings.loc[:, :] = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    for b, v, x, y in (("N1", 380, 0, 0), ("N2", 380, 1, 0), ("S1", 220, 0, -1),
                       ("S2", 220, 1, -1), ("S3", 220, 2, -1)):
        n.add("Bus", b, v_nom=v, x=x, y=y)
    n.add("Carrier", "coal", co2_emissions=0.34)
    n.add("Carrier", "gas", co2_emissions=0.2)
    n.add("Carrier", "wind", co2_emissions=0.0)
    n.add("Line", "N1-N2", bus0="N1", bus1="N2", x=30.0, r=3.0, s_nom=900)
    n.add("Line", "S1-S2", bus0="S1", bus1="S2", x=20.0, r=2.0, s_nom=250)
    n.add("Line", "S2-S3", bus0="S2", bus1="S3", x=25.0, r=2.5, s_nom=140)
    n.add("Line", "S1-S3", bus0="S1", bus1="S3", x=40.0, r=4.0, s_nom=200, s_max_pu=0.9)
    n.add("Transformer", "T1", bus0="N1", bus1="S1", x=0.12, r=0.002, s_nom=600)
    n.add("Transformer", "T2", bus0="N2", bus1="S3", x=0.10, r=0.002, s_nom=400,
          phase_shift=4.0, tap_ratio=1.02)
    n.add("Generator", "coal", bus="N1", p_nom=800, marginal_cost=18.0, efficiency=0.4,
          carrier="coal")
    n.add("Generator", "gas", bus="S2", p_nom=500, marginal_cost=45.0,
          marginal_cost_quadratic=quadratic, efficiency=0.55, carrier="gas")
    n.add("Generator", "wind", bus="N2", p_nom=400, marginal_cost=0.0, carrier="wind",
          p_max_pu=[0.9, 0.2, 0.6])
    n.add("Generator", "peak", bus="S3", p_nom=300, marginal_cost=80.0, p_min_pu=[0.0, 0.1, 0.0],
          efficiency=0.35, carrier="gas")
    n.add("Load", "city", bus="S3", p_set=[520.0, 640.0, 480.0])
    n.add("Load", "town", bus="S1", p_set=[150.0, 180.0, 120.0])
    n.add("Load", "works", bus="N2", p_set=180.0)
    if co2_limit is not None:
        n.add("GlobalConstraint", "co2", type="primary_energy", carrier_attribute="co2_emissions",
              sense="<=", constant=co2_limit)
    return n


def _pypsa_opf(n):
    logging.getLogger("pypsa").setLevel(logging.WARNING)
    logging.getLogger("linopy").setLevel(logging.WARNING)
    status, condition = n.optimize(solver_name="highs", io_api="direct", log_to_console=False)
    assert (status, condition) == ("ok", "optimal")


@pytest.fixture(scope="module")
def solved_pair():
    n = two_level_network()
    _pypsa_opf(n)
    m = from_pypsa(n, phase_shifts="ignore")    # as n.optimize() does
    ecc.solve(m)
    return n, m


def test_lmps_dispatch_and_flows_equal_pypsas_linear_opf(solved_pair):
    n, m = solved_pair
    frames = to_pypsa_frames(m)
    mp = frames["buses_t.marginal_price"]
    assert list(mp.index) == list(n.snapshots) and list(mp.columns) == list(n.buses.index)
    ours, theirs = mp.to_numpy(), n.buses_t.marginal_price[mp.columns].to_numpy()
    assert np.ptp(ours[1]) > 5.0, "the network must be congested (prices differ by bus)"
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-6)
    gp = frames["generators_t.p"][n.generators.index]
    assert gp.to_numpy() == pytest.approx(n.generators_t.p[gp.columns].to_numpy(), rel=1e-6, abs=1e-5)
    lines = frames["lines_t.p0"]
    assert lines.to_numpy() == pytest.approx(n.lines_t.p0[lines.columns].to_numpy(), rel=1e-6, abs=1e-5)
    trafos = frames["transformers_t.p0"]
    assert trafos.to_numpy() == pytest.approx(n.transformers_t.p0[trafos.columns].to_numpy(),
                                              rel=1e-6, abs=1e-5)
    loads = frames["loads_t.p"][n.loads.index]
    assert loads.to_numpy() == pytest.approx(n.loads_t.p[loads.columns].to_numpy(), abs=1e-9)
    # the objective: PyPSA's sum over snapshots of weight x cost equals the market's
    assert pyo.value(m.obj) == pytest.approx(float(n.objective), rel=1e-7)


def test_quadratic_costs_give_pypsas_prices():
    n = two_level_network(quadratic=0.02)
    _pypsa_opf(n)
    m = from_pypsa(n, phase_shifts="ignore")
    ecc.solve(m)
    assert m.gen_gas.a.value == 0.02
    mp = to_pypsa_frames(m)["buses_t.marginal_price"]
    # PyPSA's QP solution (HiGHS through linopy) is accurate to about 1e-4 $/MWh here; the
    # market's KKT prices are exact (the LP test above agrees to 1e-6)
    assert mp.to_numpy() == pytest.approx(n.buses_t.marginal_price[mp.columns].to_numpy(), rel=1e-5)
    assert pyo.value(m.obj) == pytest.approx(float(n.objective), rel=1e-7)
    # KKT: the interior gas unit's marginal cost b + 2 a p is its bus's price
    p = pyo.value(m.gen_gas.p[1])
    assert 0 < p < 500 and 45.0 + 0.04 * p == pytest.approx(mp.iloc[1]["S2"], rel=1e-9)


def test_phase_shifts_follow_pypsas_linear_power_flow():
    n = two_level_network()
    m = from_pypsa(n)     # phase_shifts="include"
    ecc.solve(m)
    frames = to_pypsa_frames(m)
    # PyPSA's own linear power flow at the market's dispatch gives the market's flows
    n.generators_t.p_set = frames["generators_t.p"][n.generators.index].set_axis(n.snapshots)
    n.lpf()
    for comp in ("lines", "transformers"):
        ours = frames[f"{comp}_t.p0"]
        theirs = getattr(n, f"{comp}_t").p0[ours.columns]
        assert ours.to_numpy() == pytest.approx(theirs.to_numpy(), rel=1e-6, abs=1e-6)
    shifted = from_pypsa(two_level_network(), phase_shifts="ignore")
    ecc.solve(shifted)
    t2 = frames["transformers_t.p0"]["T2"].iloc[0]
    assert abs(t2 - to_pypsa_frames(shifted)["transformers_t.p0"]["T2"].iloc[0]) > 10.0


def test_the_co2_limit_becomes_a_carbon_cap_with_pypsas_price():
    free = from_pypsa(two_level_network(), phase_shifts="ignore")
    ecc.solve(free)
    # emissions: carrier co2 / efficiency per MWh of output (coal 0.34 / 0.4 = 0.85 t/MWh)
    assert free.gen_coal.emission_intensity.value == pytest.approx(0.85)
    em = sum(pyo.value(g.emissions[t]) for g in free.participants() if hasattr(g, "emissions")
             for t in free.T)
    n = two_level_network(co2_limit=0.8 * em)
    _pypsa_opf(n)
    m = from_pypsa(n, phase_shifts="ignore")
    ecc.solve(m)
    pi = float(ecc.price_frame(m, "carbon_price").iloc[0, 0])
    assert pi > 1.0
    assert pi == pytest.approx(abs(float(n.global_constraints.mu["co2"])), rel=1e-6)
    mp = to_pypsa_frames(m)["buses_t.marginal_price"]
    assert mp.to_numpy() == pytest.approx(n.buses_t.marginal_price[mp.columns].to_numpy(),
                                          rel=1e-6, abs=1e-6)


def test_a_storage_unit_moves_energy_between_snapshots_at_pypsas_prices():
    n = two_level_network()
    n.add("StorageUnit", "bat", bus="S3", p_nom=80.0, max_hours=2.0, efficiency_store=0.9,
          efficiency_dispatch=0.92, state_of_charge_initial=40.0)
    _pypsa_opf(n)
    m = from_pypsa(n, phase_shifts="ignore")
    ecc.solve(m)
    frames = to_pypsa_frames(m)
    p = frames["storage_units_t.p"]["bat"]
    assert p.to_numpy() == pytest.approx(n.storage_units_t.p["bat"].to_numpy(), abs=1e-5)
    assert p.abs().max() > 1.0, "the storage must be used"
    mp = frames["buses_t.marginal_price"]
    assert mp.to_numpy() == pytest.approx(n.buses_t.marginal_price[mp.columns].to_numpy(),
                                          rel=1e-6, abs=1e-6)
    soc = [pyo.value(m.storage_bat.e[t]) for t in m.T]
    assert soc == pytest.approx(n.storage_units_t.state_of_charge["bat"].to_numpy(), abs=1e-5)


def test_pandapower_shaped_results(solved_pair):
    n, m = solved_pair
    with pytest.raises(InputError, match="has 3 periods: give t"):
        to_pandapower_frames(m)
    pp = to_pandapower_frames(m, t=1)
    res_bus = pp["res_bus"]
    assert res_bus.lam_p.to_numpy() == pytest.approx(
        n.buses_t.marginal_price.iloc[1][res_bus.index].to_numpy(), rel=1e-6)
    # the buses' net withdrawals balance (lossless DC)
    assert res_bus.p_mw.sum() == pytest.approx(0.0, abs=1e-6)
    assert pp["res_gen"].loc["wind", "p_mw"] == pytest.approx(n.generators_t.p["wind"].iloc[1], abs=1e-5)
    assert pp["res_load"].loc["city", "p_mw"] == pytest.approx(640.0)
    line = pp["res_line"].loc["S2-S3"]
    assert line.p_from_mw == pytest.approx(n.lines_t.p0["S2-S3"].iloc[1], abs=1e-5)
    assert line.loading_percent == pytest.approx(abs(line.p_from_mw) / 140.0 * 100.0)
    # angles: the reference bus at 0, others from the flows
    assert res_bus.va_degree.iloc[0] == 0.0


def test_graph_keeps_coordinates_and_pypsa_names():
    n = two_level_network()
    G = pypsa_graph(n)
    assert G.nodes["S2"]["pos"] == (1.0, -1.0)
    names = sorted(d["name"] for _, _, d in G.edges(data=True))
    assert names == ["Line:N1-N2", "Line:S1-S2", "Line:S1-S3", "Line:S2-S3",
                     "Transformer:T1", "Transformer:T2"]
    # PyPSA's per-unit reactance on 1 MVA: ohms / v_nom^2; transformers x / s_nom x tap
    x = {d["name"]: d["x"] for _, _, d in G.edges(data=True)}
    assert x["Line:S1-S2"] == pytest.approx(20.0 / 220.0 ** 2)
    assert x["Transformer:T2"] == pytest.approx(0.10 / 400 * 1.02)


@pytest.mark.parametrize("change, words", [
    (lambda n: n.add("Link", "hvdc", bus0="N1", bus1="S3", p_nom=100), "links"),
    (lambda n: n.add("StorageUnit", "bat", bus="S1", p_nom=10, cyclic_state_of_charge=True),
     "StorageUnit 'bat': cyclic_state_of_charge"),
    (lambda n: n.add("StorageUnit", "bat", bus="S1", p_nom=10, marginal_cost=1.0),
     "StorageUnit 'bat': marginal_cost"),
    (lambda n: n.generators.loc.__setitem__(("gas", "p_nom_extendable"), True),
     "Generator 'gas': p_nom_extendable"),
    (lambda n: n.generators.loc.__setitem__(("coal", "committable"), True),
     "Generator 'coal': committable"),
    (lambda n: n.lines.loc.__setitem__(("S1-S2", "s_nom"), 0.0), "Line 'S1-S2': s_nom"),
    (lambda n: n.add("Bus", "dc", carrier="DC"), "carrier 'DC'"),
])
def test_what_the_market_cannot_represent_is_refused_by_name(change, words):
    n = pypsa.Network()
    for b in ("N1", "S1", "S3"):
        n.add("Bus", b, v_nom=220)
    n.add("Line", "S1-S2", bus0="N1", bus1="S1", x=10.0, s_nom=100)
    n.add("Generator", "coal", bus="N1", p_nom=100, marginal_cost=10)
    n.add("Generator", "gas", bus="S1", p_nom=100, marginal_cost=20)
    change(n)
    with pytest.raises(InputError, match=words):
        from_pypsa(n)
