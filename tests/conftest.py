"""Shared fixtures and helpers for the test suite (tiers: unit / component / integration)."""
import pytest

import pyomo_ecc as ecc


def ipopt_available():
    try:
        ecc.Solver("ipopt")._interface()
        return True
    except ecc.SolverError:
        return False


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
