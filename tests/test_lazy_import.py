"""``import pyomo_ecc`` is light: the public names are imported on first use (PEP 562), and
every one of them still resolves to the object its module defines."""
import importlib
import json
import subprocess
import sys

import pytest

import pyomo_ecc as ecc

pytestmark = pytest.mark.unit

HEAVY = ("pyomo", "pandas", "scipy", "scipy.stats", "matplotlib", "networkx", "highspy")


def _fresh(code):
    """Run ``code`` in a new interpreter; it prints a JSON value, returned here."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_no_heavy_module():
    loaded = _fresh("import sys, json, pyomo_ecc\n"
                    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == []


def test_help_of_the_command_loads_neither_pyomo_nor_scipy_stats():
    loaded = _fresh("import sys, json, contextlib, io\n"
                    "from pyomo_ecc.cli import main\n"
                    "with contextlib.redirect_stdout(io.StringIO()):\n"
                    "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
                    "print(json.dumps([m for m in ('pyomo', 'scipy.stats', 'matplotlib', 'highspy')"
                    " if m in sys.modules]))")
    assert loaded == []


#: the public names (``ecc.NAME``) and the module that defines each: a fixed list, so that a
#: name dropped from the lazy table fails here
PUBLIC = {
    "pyomo_ecc.core.market": "Market MarketData",
    "pyomo_ecc.core.standard_form": "standard_form",
    "pyomo_ecc.core.changes": "Activate Deactivate Fix MoveRHS SetParam Unfix Withdraw applied "
                              "withdraw",
    "pyomo_ecc.whatif": "CaseRecipe WhatIf outcomes_frame scale_loads",
    "pyomo_ecc.errors": "EccError InfeasibleMarketError InputError ModelError PriceError "
                        "SolverError",
    "pyomo_ecc.io.cases": "Case list_cases load_case",
    "pyomo_ecc.mechanisms.auction": "double_auction",
    "pyomo_ecc.mechanisms.orderbook": "OrderBook",
    "pyomo_ecc.mechanisms.p2p": "P2PNetwork",
    "pyomo_ecc.mechanisms.vcg": "vcg_payments",
    "pyomo_ecc.network.ac_distflow": "ACDistFlow",
    "pyomo_ecc.network.copperplate": "CopperPlate",
    "pyomo_ecc.network.dc": "DCNetwork",
    "pyomo_ecc.network.lindistflow": "LinDistFlow LinDistFlowLosses",
    "pyomo_ecc.participants.flexible_load": "FlexibleLoad",
    "pyomo_ecc.participants.load": "FixedLoad",
    "pyomo_ecc.participants.producer": "Consumer Producer",
    "pyomo_ecc.participants.fleet": "ProducerFleet",
    "pyomo_ecc.participants.prosumer": "Prosumer",
    "pyomo_ecc.participants.storage": "Storage",
    "pyomo_ecc.policy": "CarbonCap CarbonCost CertificateCap CertificatePrice CertificateQuota "
                        "IntensityStandard",
    "pyomo_ecc.pricing.components": "lmp_components",
    "pyomo_ecc.pricing.dlmp": "dlmp loss_factors",
    "pyomo_ecc.analysis.losses": "solve_losses",
    "pyomo_ecc.pricing.prices": "declare_price price_frame price_names prices",
    "pyomo_ecc.analysis.price_ranges": "price_range",
    "pyomo_ecc.results": "dispatch merchandising_surplus settlement summary surplus welfare",
    "pyomo_ecc.solvers": "Solver SolveResult diagnose_infeasibility solve",
}
NAMES = sorted((n, mod) for mod, names in PUBLIC.items() for n in names.split())


@pytest.mark.parametrize("name, module", NAMES)
def test_every_public_name_resolves_to_its_module_object(name, module):
    assert getattr(ecc, name) is getattr(importlib.import_module(module), name)
    assert name in dir(ecc) and name in ecc.__all__


def test_the_renamed_and_the_submodule_names_resolve():
    from pyomo_ecc.mechanisms.auction_rules import clear
    from pyomo_ecc.whatif import WhatIf
    assert ecc.auction_rule is clear
    assert ecc.whatif.WhatIf is WhatIf and "whatif" in dir(ecc)
    assert ecc.network.dc.DCNetwork is ecc.DCNetwork
    assert set(ecc.__all__) == {n for n, _ in NAMES} | {"auction_rule"}


def test_a_default_network_or_a_model_the_user_registers_first_is_kept():
    """The built-in registrations run on first need, after the user's: they do not replace them."""
    got = _fresh("import json\n"
                 "from pyomo_ecc.core.market import Market, default_network, set_default_network\n"
                 "from pyomo_ecc.network.lindistflow import LinDistFlow\n"
                 "from pyomo_ecc.io.cases import MODELS, load_case\n"
                 "set_default_network(LinDistFlow)\n"
                 "import pyomo_ecc as ecc\n"
                 "ecc.CopperPlate\n"
                 "calls = []\n"
                 "MODELS['market'] = lambda case: calls.append(case.name) or Market()\n"
                 "load_case('seed000_community').build()\n"
                 "load_case('case33bw').build()\n"
                 "load_case('seed000_community').build()\n"
                 "print(json.dumps([default_network().__name__, calls]))")
    assert got == ["LinDistFlow", ["seed000_community", "seed000_community"]]


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no_such_name"):
        ecc.no_such_name     # noqa: B018
    assert not hasattr(ecc, "Producers")


def test_simulation_names_resolve():
    import pyomo_ecc.simulation as sim
    from pyomo_ecc.simulation.engine import Simulator
    assert sim.Simulator is Simulator
    assert set(sim.__all__) <= set(dir(sim))
    with pytest.raises(AttributeError, match="Nope"):
        sim.Nope     # noqa: B018


def test_a_market_from_the_core_module_alone_gets_the_default_network():
    """Without ``pyomo_ecc.NAME`` ever being read, the copper plate still registers itself when a
    market with no network is assembled; the price is the marginal offer, 10 /MWh."""
    got = _fresh("import json\n"
                 "from pyomo_ecc.core.market import Market\n"
                 "from pyomo_ecc.participants.producer import Producer\n"
                 "from pyomo_ecc.participants.load import FixedLoad\n"
                 "from pyomo_ecc.solvers import solve\n"
                 "from pyomo_ecc.pricing.prices import prices\n"
                 "m = Market(); m.g = Producer(bus='A', b=10.0, p_max=100); m.d = FixedLoad(bus='A', p=60)\n"
                 "solve(m)\n"
                 "print(json.dumps([type(m.get_network()).__name__, float(prices(m).lmp.iloc[0])]))")
    assert got[0].endswith("CopperPlate") and got[1] == pytest.approx(10.0)


def test_a_case_loaded_from_its_module_alone_builds_its_model():
    """The reference models register themselves with the case reader on first need."""
    got = _fresh("import json\n"
                 "from pyomo_ecc.io.cases import load_case\n"
                 "m = load_case('seed000_community').build()\n"
                 "print(json.dumps(type(m).__name__))")
    assert "Market" in got
