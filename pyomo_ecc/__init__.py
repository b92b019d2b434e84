"""pyomo_ecc: composable Pyomo blocks for electricity, carbon and green-certificate markets.

Compose a market, solve it with any Pyomo solver (HiGHS by default) and read prices from the
duals::

    import pyomo_ecc as ecc
    m = ecc.Market(periods=1)
    m.g = ecc.Producer(bus="A", a=0.01, b=10, p_max=100)
    m.load = ecc.FixedLoad(bus="A", p=60)
    ecc.solve(m)
    ecc.prices(m)          # DataFrame indexed (bus, t), column lmp in currency/MWh
"""
from pyomo_ecc.core.market import Market, MarketData  # noqa: F401
from pyomo_ecc.core.standard_form import standard_form  # noqa: F401
from pyomo_ecc.whatif import (Activate, CaseRecipe, Deactivate, Fix, MoveRHS, SetParam,  # noqa: F401
                                   Unfix, WhatIf, Withdraw, applied, outcomes_frame, scale_loads,
                                   withdraw)
from pyomo_ecc.errors import (EccError, InfeasibleMarketError, InputError, ModelError,  # noqa: F401
                              PriceError, SolverError)
from pyomo_ecc.io.cases import Case, list_cases, load_case  # noqa: F401
from pyomo_ecc.mechanisms.auction import double_auction  # noqa: F401
from pyomo_ecc.mechanisms.auction_rules import clear as auction_rule  # noqa: F401
from pyomo_ecc.mechanisms.orderbook import OrderBook  # noqa: F401
from pyomo_ecc.mechanisms.p2p import P2PNetwork  # noqa: F401
from pyomo_ecc.mechanisms.vcg import vcg_payments  # noqa: F401
from pyomo_ecc.network.ac_distflow import ACDistFlow  # noqa: F401
from pyomo_ecc.network.copperplate import CopperPlate  # noqa: F401
from pyomo_ecc.network.dc import DCNetwork  # noqa: F401
from pyomo_ecc.network.lindistflow import LinDistFlow, LinDistFlowLosses  # noqa: F401
from pyomo_ecc.participants.flexible_load import FlexibleLoad  # noqa: F401
from pyomo_ecc.participants.load import FixedLoad  # noqa: F401
from pyomo_ecc.participants.producer import Consumer, Producer  # noqa: F401
from pyomo_ecc.participants.prosumer import Prosumer  # noqa: F401
from pyomo_ecc.participants.storage import Storage  # noqa: F401
from pyomo_ecc.policy import (CarbonCap, CarbonCost, CertificateCap, CertificatePrice,  # noqa: F401
                              CertificateQuota, IntensityStandard)
from pyomo_ecc.pricing.components import lmp_components  # noqa: F401
from pyomo_ecc.pricing.dlmp import dlmp, loss_factors  # noqa: F401
from pyomo_ecc.analysis.losses import solve_losses  # noqa: F401
from pyomo_ecc.pricing.prices import declare_price, price_frame, price_names, prices  # noqa: F401
from pyomo_ecc.analysis.price_ranges import price_range  # noqa: F401
from pyomo_ecc.results import (dispatch, merchandising_surplus, settlement, summary, surplus,  # noqa: F401
                               welfare)
from pyomo_ecc.solvers import Solver, SolveResult, diagnose_infeasibility, solve  # noqa: F401

from pyomo_ecc import models as _models  # noqa: E402,F401  (registers the case files' models)

__version__ = "0.1.0"
