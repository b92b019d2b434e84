"""Seed 001 CGE experiment (Table 5 layout) on the synthetic SAM: baseline reproduces the seed's
baseline inputs/outputs (GDP 91.9 trillion yuan, electricity 68.45e8 MWh, Table 5 emissions),
caps at 92 % hold, a high carbon price makes the caps slack, and the electricity price can be set
from an electricity-market run."""
import io

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest
from conftest import requires_ipopt

import pyomo_ecc as ecc
from pyomo_ecc import cge
from pyomo_ecc.models import MODELS, REPORTS
from pyomo_ecc.models import cge_seed001 as s1

pytestmark = [pytest.mark.integration, requires_ipopt]

# seed 001, Table 5, baseline column (1e8 t)
TABLE5_BASE = {"paper": 1.30, "petrochemical": 5.48, "chemical": 10.70, "building materials": 4.40,
               "steel": 17.50, "non-ferrous metals": 1.74, "power generation": 33.40, "aviation": 0.39}


@pytest.fixture(scope="module")
def table():
    return s1.run_experiment()


def test_csv_is_the_documented_generator_output():
    csv = cge.SAM.from_csv("seed001_cge_sam.csv")
    gen = s1.make_synthetic_sam()
    assert np.allclose(csv.table.to_numpy(), gen.table.to_numpy(), atol=1e-9)
    assert (csv.roles == gen.roles).all()
    csv.check_balance()
    assert csv.gdp() == pytest.approx(91.9, abs=1e-9)


def test_baseline_column_reproduces_table5_inputs(table):
    base = table["baseline"]
    assert base["GDP (trillion yuan)"] == pytest.approx(91.9, abs=1e-6)
    # 6.45 trillion yuan of electricity at 942.29 yuan/MWh
    assert base["electricity use (1e8 MWh)"] == pytest.approx(6.45e12 / 942.29 / 1e8, rel=1e-9)
    for name, v in TABLE5_BASE.items():
        assert base[f"{name} emissions (1e8 t)"] == pytest.approx(v, rel=1e-9)
    assert base["total emissions (1e8 t)"] == pytest.approx(74.91, rel=1e-9)


def test_caps_and_prices(table):
    assert table.index.name == "variable" and table.columns.name == "scenario"
    low, high = table["carbon price 55"], table["carbon price 1000"]
    for name, v in TABLE5_BASE.items():
        e55, e1000 = low[f"{name} emissions (1e8 t)"], high[f"{name} emissions (1e8 t)"]
        assert e55 <= 0.92 * v * (1 + 1e-7)
        assert e1000 <= 0.92 * v * (1 + 1e-7)
        # price 55 is too low to meet the caps: they bind, the sector pays 55 plus a premium
        assert e55 == pytest.approx(0.92 * v, rel=1e-6)
        assert low[f"{name} carbon price paid (yuan/t)"] > 55.0
        # price 1000 over-achieves: caps slack, the sector pays exactly 1000
        assert e1000 < 0.92 * v
        assert high[f"{name} carbon price paid (yuan/t)"] == pytest.approx(1000.0, rel=1e-6)
    gdp = table.loc["GDP (trillion yuan)"]
    ele = table.loc["electricity use (1e8 MWh)"]
    assert gdp["baseline"] > gdp["carbon price 55"] > gdp["carbon price 1000"]
    assert ele["baseline"] > ele["carbon price 55"] > ele["carbon price 1000"]


def test_electricity_price_from_a_market_run():
    mk = ecc.Market(periods=2)
    mk.cheap = ecc.Producer(bus="A", b=300.0, p_max=100)
    mk.peak = ecc.Producer(bus="A", b=1100.0, p_max=100)
    mk.load = ecc.FixedLoad(bus="A", p=[80.0, 150.0])
    ecc.solve(mk)
    w = pd.Series([80.0, 150.0], index=ecc.prices(mk).index)
    p = s1.electricity_price_from_market(mk, weights=w)
    assert p == pytest.approx((80 * 300 + 150 * 1100) / 230)
    assert s1.electricity_price_from_market(mk) == pytest.approx(700.0)
    df = s1.run_experiment(electricity_price=p)
    col = [c for c in df.columns if "carbon price 55" in c][0]
    assert "electricity" in col
    m = MODELS["cge_seed001"](ecc.load_case("seed001_cge"))
    s1.set_scenario(m, 55.0, 0.92)
    s1.set_electricity_price(m, p)
    cge.solve(m)
    # the electricity producer price relative to the numeraire (CPI) is the market's, relative to base
    assert pyo.value(m.pz["ELE"]) / pyo.value(m.numeraire_level) == pytest.approx(p / 942.29, rel=1e-9)
    assert df.loc["electricity use (1e8 MWh)", col] == pytest.approx(s1.indicators(m)["electricity use (1e8 MWh)"])


def test_model_registry_report_and_cli():
    m = MODELS["cge_seed001"](ecc.load_case("seed001_cge"))
    ecc.solve(m, "ipopt")
    tables = REPORTS["cge_seed001"](m)
    ets = tables["ETS sectors"]
    assert ets.index.name == "sector" and len(ets) == 8
    out = io.StringIO()
    df = s1.cli([], out=out)
    text = out.getvalue()
    assert "SYNTHETIC" in text and "carbon price 1000" in text and df.shape == (19, 3)


@pytest.mark.skipif("dc_market" not in MODELS, reason="the dc_market model is not installed")
def test_electricity_price_from_the_seed001_market_model():
    market = ecc.load_case("seed001_3bus")
    mk = ecc.load_case("seed001_cge").data["experiment"]["market"]
    base = s1.market_average_lmp(market, 0.0, mk["intensity"], mk["allocation"])
    # independent: solve the unchanged market case and weight its LMPs by the bus loads
    m = market.build()
    ecc.solve(m)
    lmp = ecc.prices(m)["lmp"]
    w = {(b["id"], t): v for b in market.data["bus"] for t, v in zip(market.meta["periods"], b["load"])}
    assert base == pytest.approx(sum(lmp[k] * v for k, v in w.items()) / sum(w.values()), rel=1e-12)
    prices = s1.market_electricity_prices()
    # coal units emit more than their allocation: carbon cost raises the market price
    assert 942.29 < prices["carbon price 55"] < prices["carbon price 1000"]
    df = s1.run_experiment(electricity_price="market")
    assert df.shape == (19, 3)
