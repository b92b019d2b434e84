"""pyomo_ecc: composable Pyomo blocks for electricity, carbon and green-certificate markets.

Compose a market, solve it with any Pyomo solver (HiGHS by default) and read prices from the
duals::

    import pyomo_ecc as ecc
    m = ecc.Market(periods=1)
    m.g = ecc.Producer(bus="A", a=0.01, b=10, p_max=100)
    m.load = ecc.FixedLoad(bus="A", p=60)
    ecc.solve(m)
    ecc.prices(m)          # DataFrame indexed (bus, t), column lmp in currency/MWh

The public names are imported on first use (:pep:`562`): ``import pyomo_ecc`` loads neither
Pyomo nor pandas, scipy or matplotlib, so a command such as ``pyomo-ecc --help`` starts at
once. ``ecc.NAME`` (and ``from pyomo_ecc import NAME``) imports the module of ``NAME`` from
:data:`_LAZY` the first time; ``dir(pyomo_ecc)`` lists every public name.
"""
import importlib

__version__ = "0.1.0"

#: public name -> (module, attribute in it)
_LAZY = {}


def _export(module, *names, **renamed):
    for n in names:
        _LAZY[n] = (module, n)
    for n, attr in renamed.items():
        _LAZY[n] = (module, attr)


_export("pyomo_ecc.core.market", "Market", "MarketData")
_export("pyomo_ecc.core.standard_form", "standard_form")
_export("pyomo_ecc.whatif", "Activate", "CaseRecipe", "Deactivate", "Fix", "MoveRHS", "SetParam",
        "Unfix", "WhatIf", "Withdraw", "applied", "outcomes_frame", "scale_loads", "withdraw")
_export("pyomo_ecc.errors", "EccError", "InfeasibleMarketError", "InputError", "ModelError",
        "PriceError", "SolverError")
_export("pyomo_ecc.io.cases", "Case", "list_cases", "load_case")
_export("pyomo_ecc.mechanisms.auction", "double_auction")
_export("pyomo_ecc.mechanisms.auction_rules", auction_rule="clear")
_export("pyomo_ecc.mechanisms.orderbook", "OrderBook")
_export("pyomo_ecc.mechanisms.p2p", "P2PNetwork")
_export("pyomo_ecc.mechanisms.vcg", "vcg_payments")
_export("pyomo_ecc.network.ac_distflow", "ACDistFlow")
_export("pyomo_ecc.network.copperplate", "CopperPlate")
_export("pyomo_ecc.network.dc", "DCNetwork")
_export("pyomo_ecc.network.lindistflow", "LinDistFlow", "LinDistFlowLosses")
_export("pyomo_ecc.participants.flexible_load", "FlexibleLoad")
_export("pyomo_ecc.participants.load", "FixedLoad")
_export("pyomo_ecc.participants.producer", "Consumer", "Producer")
_export("pyomo_ecc.participants.fleet", "ProducerFleet")
_export("pyomo_ecc.participants.prosumer", "Prosumer")
_export("pyomo_ecc.participants.storage", "Storage")
_export("pyomo_ecc.policy", "CarbonCap", "CarbonCost", "CertificateCap", "CertificatePrice",
        "CertificateQuota", "IntensityStandard")
_export("pyomo_ecc.pricing.components", "lmp_components")
_export("pyomo_ecc.pricing.dlmp", "dlmp", "loss_factors")
_export("pyomo_ecc.analysis.losses", "solve_losses")
_export("pyomo_ecc.pricing.prices", "declare_price", "price_frame", "price_names", "prices")
_export("pyomo_ecc.analysis.price_ranges", "price_range")
_export("pyomo_ecc.results", "dispatch", "merchandising_surplus", "settlement", "summary",
        "surplus", "welfare")
_export("pyomo_ecc.solvers", "Solver", "SolveResult", "diagnose_infeasibility", "solve")

#: the subpackages and modules reachable as attributes (``ecc.whatif.WhatIf``), imported on first use
_SUBMODULES = ("analysis", "cge", "core", "errors", "io", "mechanisms", "models", "network",
               "participants", "plot", "policy", "pricing", "results", "simulation", "solvers",
               "verify", "whatif")


def __getattr__(name):
    if name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        try:
            module, attr = _LAZY[name]
        except KeyError:
            raise AttributeError(f"module 'pyomo_ecc' has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attr)
    globals()[name] = value          # later look-ups do not come here again
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = sorted(_LAZY)
