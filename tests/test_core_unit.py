"""Unit tests: option validation and bad input, each error naming the offending item."""
import math

import pytest

import pyomo_ecc as ecc
from pyomo_ecc.core.config import per_period, series, steps

pytestmark = pytest.mark.unit


def test_series_accepts_numbers_and_lists():
    assert series(3) == 3.0
    assert series([1, 2.5]) == (1.0, 2.5)
    assert per_period((1.0, 2.0), [0, 1], "x") == {0: 1.0, 1: 2.0}
    with pytest.raises(ValueError, match="3 values but the market has 2 periods"):
        per_period((1.0, 2.0, 3.0), [0, 1], "x")


def test_tiny_values_are_snapped_to_zero():
    assert series(-1e-12) == 0.0


def test_steps_validation():
    assert steps([(1, 5), (2, 7)]) == ((1.0, 5.0), (2.0, 7.0))
    with pytest.raises(ValueError, match="segment 1: quantity must be > 0"):
        steps([(1, 5), (0, 7)])


def test_negative_capacity_names_the_producer():
    m = ecc.Market()
    with pytest.raises(ecc.InputError, match=r"Producer 'g1'.*p_max.*must be >= 0"):
        m.g1 = ecc.Producer(bus="A", b=10, p_max=-5)


def test_min_above_max_names_block_and_period():
    m = ecc.Market(periods=2)
    with pytest.raises(ecc.InputError, match=r"Producer 'g1'.*p_min = 50.0 exceeds p_max = 40.0 in period 1"):
        m.g1 = ecc.Producer(bus="A", b=10, p_max=[60, 40], p_min=50)


def test_nan_is_refused():
    m = ecc.Market()
    with pytest.raises(ecc.InputError, match=r"Consumer 'd'.*option 'b'.*finite"):
        m.d = ecc.Consumer(bus="A", a=-0.1, b=math.nan, d_max=10)
    with pytest.raises(ecc.InputError, match=r"FixedLoad 'l'.*entry 1.*finite"):
        m.l = ecc.FixedLoad(bus="A", p=[1.0, float("nan")])


def test_non_convex_costs_are_refused():
    m = ecc.Market()
    with pytest.raises(ecc.InputError, match=r"Producer 'g'.*non-convex.*a = -0.1"):
        m.g = ecc.Producer(bus="A", a=-0.1, b=10, p_max=10)
    with pytest.raises(ecc.InputError, match=r"Consumer 'd'.*non-convex.*a = 0.1"):
        m.d = ecc.Consumer(bus="A", a=0.1, b=10, d_max=10)
    with pytest.raises(ecc.InputError, match=r"Producer 'g2'.*non-decreasing.*segment 1"):
        m.g2 = ecc.Producer(bus="A", steps=[(10, 30), (10, 20)])
    with pytest.raises(ecc.InputError, match=r"Consumer 'd2'.*non-increasing"):
        m.d2 = ecc.Consumer(bus="A", steps=[(10, 20), (10, 30)])


def test_unknown_option_and_missing_bus():
    m = ecc.Market()
    with pytest.raises(ecc.InputError, match=r"Producer 'g'.*unknown option\(s\) \['pmax'\]"):
        m.g = ecc.Producer(bus="A", b=10, pmax=10)
    with pytest.raises(ecc.InputError, match=r"Producer 'h'.*'bus' is required"):
        m.h = ecc.Producer(b=10, p_max=10)
    with pytest.raises(ecc.InputError, match=r"Producer 'k'.*'p_max' is required"):
        m.k = ecc.Producer(bus="A", b=10)


def test_wrong_number_of_period_values():
    m = ecc.Market(periods=3)
    with pytest.raises(ecc.InputError, match=r"FixedLoad 'l'.*option 'p' has 2 values but the market has 3"):
        m.l = ecc.FixedLoad(bus="A", p=[1, 2])


def test_unknown_bus_is_named():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10, p_max=10)
    m.l = ecc.FixedLoad(bus="Z", p=5)
    m.net = ecc.CopperPlate(buses=["A", "B"])
    with pytest.raises(ecc.InputError, match=r"FixedLoad 'l'.*unknown bus 'Z'"):
        ecc.solve(m)


def test_empty_market_is_refused():
    m = ecc.Market()
    with pytest.raises(ecc.ModelError, match="empty"):
        ecc.solve(m)


def test_participant_outside_a_market():
    import pyomo.environ as pyo
    m = pyo.ConcreteModel()
    with pytest.raises(ecc.ModelError, match="must be placed inside a Market"):
        m.g = ecc.Producer(bus="A", b=10, p_max=10)


def test_bad_market_options():
    with pytest.raises(ecc.InputError, match="Market.*dt"):
        ecc.Market(periods=2, dt=[1.0, -1.0])
    with pytest.raises(ecc.InputError, match="Market.*dt has 3 values"):
        ecc.Market(periods=2, dt=[1.0, 1.0, 1.0])
    with pytest.raises(ecc.InputError, match="Market.*power_unit"):
        ecc.Market(power_unit="MJ")


def test_prices_before_solving_raise():
    m = ecc.Market()
    m.g = ecc.Producer(bus="A", b=10, p_max=10)
    m.l = ecc.FixedLoad(bus="A", p=5)
    with pytest.raises(ecc.PriceError, match="not been solved"):
        ecc.prices(m)
