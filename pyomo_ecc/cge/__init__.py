"""Computable general equilibrium (CGE) blocks: SAM container and calibration, production, trade,
institutions, closures, ETS sectors, levels (Ipopt) and linearised (Johansen / Euler) solution.
"""
from pyomo_ecc.cge.blocks import (Armington, Government, Household, Investment, Production,  # noqa: F401
                                  RestOfWorld, Transformation, ev_hicks)
from pyomo_ecc.cge.calibration import Benchmark, benchmark  # noqa: F401
from pyomo_ecc.cge.closed import closed_economy, solve_closed, two_by_two  # noqa: F401
from pyomo_ecc.cge.economy import Economy, EconomyData  # noqa: F401
from pyomo_ecc.cge.ets import AdministeredPrice, EmissionTrading  # noqa: F401
from pyomo_ecc.cge.interface import EconomyInterface  # noqa: F401
from pyomo_ecc.cge.linear import linear_solve  # noqa: F401
from pyomo_ecc.cge.sam import SAM  # noqa: F401
from pyomo_ecc.cge.solve import solve  # noqa: F401
from pyomo_ecc.cge.stylized_johansen import stylized_johansen  # noqa: F401
