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


def test_small_cost_coefficients_are_kept():
    """A quadratic coefficient in W units (0.02 $/MW^2h = 2e-14 $/W^2h) is a real cost, not noise."""
    m = ecc.Market(power_unit="W")
    m.g = ecc.Producer(bus=1, a=2e-14, b=2e-5, p_max=150e6)
    assert m.g.a.value == 2e-14


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


def _closure(requirements):
    """Distributions named by ``requirements`` and, transitively, everything they require."""
    import re
    from importlib import metadata
    seen, todo = set(), list(requirements)
    while todo:
        req = todo.pop()
        if ";" in req and "extra ==" in req.split(";", 1)[1]:
            continue
        name = re.split(r"[\s;<>=!~\[(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            todo.extend(metadata.requires(name) or [])
        except metadata.PackageNotFoundError:
            pass
    return seen


def test_import_needs_only_the_core_requirements():
    """Every third-party module loaded by ``import pyomo_ecc`` (and by the CLI) comes from a
    distribution in ``install_requires`` or one of their own requirements: a core install works."""
    import configparser
    import subprocess
    import sys
    from importlib import metadata
    from pathlib import Path
    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    core = [r for r in cfg["options"]["install_requires"].splitlines() if r.strip()]
    # pandas imports numexpr / bottleneck / pyarrow when present (pyarrow then imports
    # cloudpickle when present); setuptools ships with every venv
    allowed = _closure(core) | {"pyomo-ecc", "setuptools", "numexpr", "bottleneck", "pyarrow",
                                "cloudpickle"}
    code = "import sys, pyomo_ecc, pyomo_ecc.cli; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split()
    dists = metadata.packages_distributions()
    used = {d.lower().replace("_", "-") for m in mods for d in dists.get(m, [])}
    assert used - allowed == set()


def test_a_participant_cannot_take_a_name_the_market_assembles():
    m = ecc.Market()
    with pytest.raises(ecc.InputError, match="Producer 'obj': the name 'obj' is reserved"):
        m.obj = ecc.Producer(bus=1, b=1, p_max=3)


def test_a_block_added_after_solving_is_refused():
    """It would be missing from the balance and the objective: a cheaper producer would be ignored."""
    m = ecc.Market()
    m.g = ecc.Producer(bus=1, b=30.0, p_max=10)
    m.l = ecc.FixedLoad(bus=1, p=4)
    ecc.solve(m)
    assert ecc.prices(m).loc[(1, 0), "lmp"] == pytest.approx(30.0)
    with pytest.raises(ecc.ModelError, match="already assembled.*'g2' would be left out"):
        m.g2 = ecc.Producer(bus=1, b=10.0, p_max=10)
