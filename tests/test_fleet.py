"""ProducerFleet: a fleet's units behave as the same units built as their own Producer blocks,
number by number (prices, dispatch, settlement, surplus, policies, VCG payments, a single
unit's withdrawal, a what-if on a unit's offer), and bad tables are refused naming the unit."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

import pyomo_ecc as ecc
from pyomo_ecc.errors import InputError
from pyomo_ecc.whatif import SetParam, WhatIf, withdraw

pytestmark = pytest.mark.component

#: five units on a three-bus DC network: quadratic and linear offers, a minimum output, a
#: no-load constant, emissions on three of them, free allocation on one, certificates on one
UNITS = pd.DataFrame(
    {"bus": [1, 1, 2, 3, 3],
     "a": [0.02, 0.0, 0.01, 0.0, 0.05],
     "b": [20.0, 35.0, 45.0, 60.0, 15.0],
     "c": [5.0, 0.0, 0.0, 2.0, 0.0],
     "p_max": [120.0, 80.0, 90.0, 50.0, 40.0],
     "p_min": [10.0, 0.0, 0.0, 0.0, 5.0],
     "emission_intensity": [0.9, 0.5, np.nan, np.nan, 1.1],
     "allocation": [np.nan, 0.3, np.nan, np.nan, np.nan],
     "certificate_rate": [np.nan, np.nan, 1.0, np.nan, np.nan]},
    index=pd.Index(["coal", "gas", "wind", "peak", "lignite"], name="unit"))
LOADS = {1: [60.0, 80.0], 2: [80.0, 100.0], 3: [70.0, 90.0]}


def _graph():
    G = nx.MultiGraph()
    for b in (1, 2, 3):
        G.add_node(b, ref=(b == 1))
    G.add_edge(1, 2, x=0.1, rating=60.0)
    G.add_edge(2, 3, x=0.1, rating=200.0)
    G.add_edge(1, 3, x=0.2, rating=200.0)
    return G


def _market(fleet, policy=None, drop=()):
    m = ecc.Market(periods=2, dt=[1.0, 0.5])
    table = UNITS.drop(index=list(drop))
    if fleet:
        m.gens = ecc.ProducerFleet(units=table)
    else:
        for u, r in table.iterrows():
            opts = {k: float(r[k]) for k in ("a", "b", "c", "p_max", "p_min")}
            opts.update({k: float(r[k]) for k in ("emission_intensity", "allocation", "certificate_rate")
                         if not np.isnan(r[k])})
            m.add_component(u, ecc.Producer(bus=int(r["bus"]), **opts))
    for b, p in LOADS.items():
        m.add_component(f"load{b}", ecc.FixedLoad(bus=b, p=p))
    m.buyer = ecc.Consumer(bus=2, b=70.0, d_max=30.0)
    m.net = ecc.DCNetwork(graph=_graph())
    if policy == "cap":
        m.cap = ecc.CarbonCap(cap=150.0)
    elif policy == "cost":
        m.tax = ecc.CarbonCost(price=12.0)
    elif policy == "quota":
        m.quota = ecc.CertificateQuota(alpha=0.3)
    return m


def _label(name, fleet):
    """The unit label of a participant name in either build (``gens[coal]`` or ``coal``)."""
    return name[5:-1] if fleet and name.startswith("gens[") else name


def _relabel(df, fleet):
    out = df.copy()
    level = out.index.names[0]
    out.index = out.index.set_levels(
        [_label(str(v), fleet) for v in out.index.levels[0]], level=level) \
        if isinstance(out.index, pd.MultiIndex) else pd.Index(
            [_label(str(v), fleet) for v in out.index], name=out.index.name)
    return out.sort_index()


@pytest.mark.parametrize("policy", [None, "cap", "cost", "quota"])
def test_units_give_the_numbers_of_individual_producers(policy):
    ms = {}
    for fleet in (False, True):
        m = _market(fleet, policy)
        res = ecc.solve(m)
        ms[fleet] = (m, res)
    (a, ra), (b, rb) = ms[False], ms[True]
    assert rb.objective == pytest.approx(ra.objective, rel=1e-9)
    pa, pb = ecc.prices(a), ecc.prices(b)
    assert np.allclose(pb["lmp"].to_numpy(), pa["lmp"].to_numpy(), atol=1e-6)
    # every unit dispatched as its own Producer, listed under gens[<unit>]
    da, db = _relabel(ecc.dispatch(a), False), _relabel(ecc.dispatch(b), True)
    assert list(db.index) == list(da.index)
    assert np.allclose(db["p_inj"], da["p_inj"], atol=1e-6)
    assert "gens[coal]" in ecc.dispatch(b).index.get_level_values("participant")
    sa, sb = _relabel(ecc.settlement(a), False), _relabel(ecc.settlement(b), True)
    parts = [i for i in sa.index if sa.at[i, "role"] == "participant"]
    cols = ["energy", "carbon", "certificates", "cost", "net"]
    assert np.allclose(sb.loc[parts, cols].to_numpy(float), sa.loc[parts, cols].to_numpy(float),
                       atol=1e-6)
    assert sb.attrs["welfare"] == pytest.approx(sa.attrs["welfare"], rel=1e-9)
    ua, ub = _relabel(ecc.surplus(a), False), _relabel(ecc.surplus(b), True)
    assert np.allclose(ub["surplus"].to_numpy(float), ua["surplus"].to_numpy(float), atol=1e-6)
    if policy is not None:
        name = {"cap": "carbon_price", "cost": None, "quota": "certificate_price"}[policy]
        if name is not None:
            qa, qb = ecc.price_frame(a, name), ecc.price_frame(b, name)
            assert np.allclose(qb.to_numpy(float), qa.to_numpy(float), atol=1e-6)
            assert abs(float(qa.to_numpy(float).max())) > 1e-3     # the policy binds


def test_vcg_payments_and_a_single_units_withdrawal_equal_individual_producers():
    from pyomo_ecc.mechanisms.vcg import vcg_payments
    va = _relabel(vcg_payments(_market(False, "cap")), False)
    vb = _relabel(vcg_payments(_market(True, "cap")), True)
    assert list(vb.index) == list(va.index)
    assert (vb["status"] == va["status"]).all()
    ok = va["status"] == "defined"
    assert ok.sum() >= 5
    assert np.allclose(vb.loc[ok, "payment"].astype(float), va.loc[ok, "payment"].astype(float),
                       atol=1e-5)
    # withdrawing one unit (by the unit or its name) = the market built without it
    m = _market(True)
    eng = WhatIf(m)
    fresh = ecc.solve(_market(False, drop=["gas"])).objective
    for change in (withdraw(m.gens.unit("gas")), withdraw("gens[gas]")):
        out = eng.run([change])
        assert out.ok and out.objective == pytest.approx(fresh, rel=1e-9)
    assert eng.run([]).objective == pytest.approx(ecc.solve(_market(False)).objective, rel=1e-9)


def test_a_what_if_on_a_units_offer_and_an_applied_withdrawal():
    a, b = _market(False), _market(True)
    ea, eb = WhatIf(a), WhatIf(b)
    oa = ea.run([SetParam(a.gas.b, 22.0), SetParam(a.coal.p_max, 70.0)])
    ob = eb.run([SetParam(b.gens.b["gas"], 22.0), SetParam(b.gens.p_max["coal", 0], 70.0),
                 SetParam(b.gens.p_max["coal", 1], 70.0)])
    assert ob.ok and ob.objective == pytest.approx(oa.objective, rel=1e-9)
    from pyomo_ecc.core.changes import applied
    unit = b.gens.unit("lignite")
    with applied(b, [withdraw(unit)]):
        assert not unit.active
        assert unit not in b.participants()
        res = ecc.solve(b)
        assert res.objective == pytest.approx(ecc.solve(_market(False, drop=["lignite"])).objective,
                                              rel=1e-9)
        assert b.gens.p["lignite", 0].value == 0.0
    assert unit.active and unit in b.participants()


def test_matpower_fleet_equals_generator_blocks():
    from pyomo_ecc.io.matpower import build_matpower_market, load_matpower_case
    mpc = load_matpower_case("case30")
    a = build_matpower_market(mpc, periods=2, load_profile=[1.0, 1.2])
    b = build_matpower_market(mpc, periods=2, load_profile=[1.0, 1.2], generators="fleet")
    ra, rb = ecc.solve(a), ecc.solve(b)
    assert rb.objective == pytest.approx(ra.objective, rel=1e-9)
    assert np.allclose(ecc.prices(b)["lmp"], ecc.prices(a)["lmp"], atol=1e-6)
    assert hasattr(b, "gens") and not hasattr(b, "gen_1")
    assert b.gens.p["gen_1", 0].value + b.gens.unit("gen_1").pmin_offset == pytest.approx(
        a.gen_1.p[0].value + a.gen_1.pmin_offset)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(p_max=[-1.0, 80, 90, 50, 40]), "unit 'coal': column 'p_max' must be >= 0"),
    (lambda t: t.assign(b=[20.0, np.nan, 25, 60, 15]), "unit 'gas': column 'b' must be a finite"),
    (lambda t: t.assign(a=[0.02, 0, -0.01, 0, 0.05]), "unit 'wind': column 'a' must be >= 0"),
    (lambda t: t.assign(b=[20.0, "35", 25, 60, 15]), "unit 'gas': column 'b': expected a number"),
    (lambda t: t.assign(p_min=[10.0, 0, 0, 60, 5]), "unit 'peak': p_min = 60.0 exceeds p_max = 50.0"),
    (lambda t: t.assign(bus=pd.Series([1, 1, None, 3, 3], index=t.index, dtype=object)),
     "unit 'wind': column 'bus'"),
    (lambda t: t.assign(cost=1.0), "unknown column(s) ['cost']"),
    (lambda t: t.drop(columns="p_max"), "needs a column 'p_max'"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "unit 'coal' appears more than once"),
    (lambda t: t.iloc[:0], "has no unit"),
])
def test_bad_tables_are_refused_naming_the_unit(change, message):
    m = ecc.Market()
    with pytest.raises(InputError) as e:
        m.gens = ecc.ProducerFleet(units=change(UNITS))
    assert message in str(e.value) and "ProducerFleet 'gens'" in str(e.value)


def test_a_unit_at_an_unknown_bus_and_later_parameter_rules():
    m = _market(True)
    m.gens.a["gas"] = 0.01          # built linear: a quadratic term would be ignored
    with pytest.raises(InputError, match=r"a\['gas'\].*built linear"):
        ecc.solve(m)
    m = _market(True)
    m.gens.p_min["coal", 0] = 200.0
    with pytest.raises(InputError, match=r"p_min\['coal',0\]' = 200.0 exceeds"):
        ecc.solve(m)
    m = ecc.Market()
    m.gens = ecc.ProducerFleet(units=UNITS.assign(bus=["A", "A", "B", "B", "Z"]))
    m.d = ecc.FixedLoad(bus="A", p=10)
    m.net = ecc.DCNetwork(graph=nx.Graph([("A", "B", {"x": 0.1})]))
    with pytest.raises(InputError, match=r"gens\[lignite\]"):
        ecc.solve(m)
    with pytest.raises(AttributeError, match="unit of the ProducerFleet 'gens'.*own Producer"):
        m.gens.unit("coal").component_objects


def test_readme_fleet_example_runs_as_written():
    import contextlib
    import io
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sec = text[text.index("Many producers build fastest"):]
    block = re.search(r"```python\n(.*?)```", sec, flags=re.S).group(1)
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(block, "README.md", "exec"), ns)
    m = ns["m"]
    d = ecc.dispatch(m)["p_inj"].round(9).to_dict()
    assert d == {("gens[coal]", 0): 60.0, ("gens[gas]", 0): 20.0, ("town", 0): -80.0}
    assert float(ecc.prices(m).lmp.iloc[0]) == pytest.approx(30.0 + 2 * 0.01 * 20)
    assert float(m.gens.emissions["coal", 0].expr()) == pytest.approx(0.9 * 60)
    assert not hasattr(m.gens.unit("gas"), "emissions")


def test_values_set_later_go_through_the_tables_rules():
    m = _market(True)
    m.gens.p_max["gas", 0] = -5.0
    with pytest.raises(InputError, match=r"gens.p_max\[gas,0\]' = -5.0: must be >= 0"):
        ecc.solve(m)
    m = _market(True)
    eng = WhatIf(m)
    with pytest.raises(InputError, match=r"emission_intensity\[coal\]' = -1: must be >= 0"):
        eng.run([SetParam(m.gens.emission_intensity["coal"], -1)])
    m.gens.a["coal"] = -0.01
    with pytest.raises(InputError, match=r"a\[coal\]' = -0.01: must be >= 0"):
        ecc.solve(m)
