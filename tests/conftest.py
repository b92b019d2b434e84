"""Shared fixtures and helpers for the test suite (tiers: unit / component / integration).

Every test declares exactly one tier marker (``pytestmark`` at module level or a decorator; see
``[tool:pytest] markers`` in setup.cfg). A test with none, or with two different tiers, fails
with a message naming it and the markers it has.
"""
from pathlib import Path

import pytest

import pyomo_ecc as ecc


def ipopt_available():
    try:
        ecc.Solver("ipopt")._interface()
        return True
    except ecc.SolverError:
        return False


#: the tiers of the suite: exactly one per test
TIERS = ("unit", "component", "integration")
_HERE = Path(__file__).resolve().parent


def tier_problem(nodeid, marker_names):
    """Why a test's markers do not name exactly one tier (None when they do)."""
    tiers = sorted({m for m in marker_names if m in TIERS})
    if len(tiers) == 1:
        return None
    if not tiers:
        return (f"{nodeid} declares no tier marker: mark it (or its module, with pytestmark) "
                f"with exactly one of {', '.join('pytest.mark.' + t for t in TIERS)}")
    return f"{nodeid} declares {len(tiers)} tier markers ({', '.join(tiers)}): keep exactly one"


_TIER_PROBLEM = pytest.StashKey[str]()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE not in Path(str(item.path)).resolve().parents:
            continue   # the library's doctests: see the conftest at the top of the tree
        problem = tier_problem(item.nodeid, [m.name for m in item.iter_markers()])
        if problem is not None:
            item.stash[_TIER_PROBLEM] = problem


def pytest_runtest_setup(item):
    problem = item.stash.get(_TIER_PROBLEM, None)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


requires_ipopt = pytest.mark.skipif(not ipopt_available(),
                                    reason="Ipopt (cyipopt + PyNumero ASL) not available")


def two_bus_market(dt=1.0, periods=2, unit="MW", scale=1.0, load=(120.0, 170.0)):
    """A small copper-plate market used across tests; ``scale`` = power units per MW."""
    m = ecc.Market(periods=periods, dt=dt, power_unit=unit)
    s = scale
    m.cheap = ecc.Producer(bus="north", a=0.02 / s**2, b=20.0 / s, p_max=150 * s)
    m.mid = ecc.Producer(bus="south", a=0.05 / s**2, b=30.0 / s, p_max=200 * s, p_min=5 * s)
    m.town = ecc.FixedLoad(bus="south", p=[v * s for v in load[:periods]])
    m.plant = ecc.Consumer(bus="north", a=-0.05 / s**2, b=80.0 / s, d_max=60 * s)
    return m
