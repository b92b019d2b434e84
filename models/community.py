"""Prosumer community model: prosumers, storage and flexible loads trading in a community market.

``build_community(case)`` returns a :class:`pyomo_ecc.Market` with one block per ``[[prosumer]]``
(:class:`~pyomo_ecc.participants.prosumer.Prosumer`), ``[[storage]]``
(:class:`~pyomo_ecc.participants.storage.Storage`), ``[[flexible_load]]``
(:class:`~pyomo_ecc.participants.flexible_load.FlexibleLoad`), ``[[producer]]``,
``[[consumer]]`` and ``[[load]]`` entry, on the network of the ``[network]`` table:

* ``type = "community"`` (default): trades through a community pool connected to the grid
  (options of :class:`~pyomo_ecc.mechanisms.p2p.P2PNetwork` with ``community = true``:
  ``import_price``, ``export_price``, ``import_max``, ``export_max``);
* ``type = "p2p"``: bilateral trades (``pairs``, ``preferences``, ``distances``,
  ``network_charge``, ``trade_max``);
* ``type = "copperplate"``.

:func:`community_report` gives the tables printed by ``pyomo-ecc run``: prices, trades and the
transactive equilibrium check (:func:`pyomo_ecc.analysis.transactive.transactive_check`).
"""
import pandas as pd

from pyomo_ecc.analysis.transactive import transactive_check
from pyomo_ecc.core.market import Market
from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.p2p import P2PNetwork
from pyomo_ecc.network.copperplate import CopperPlate
from pyomo_ecc.participants.flexible_load import FlexibleLoad
from pyomo_ecc.participants.load import FixedLoad
from pyomo_ecc.participants.producer import Consumer, Producer
from pyomo_ecc.participants.prosumer import Prosumer
from pyomo_ecc.participants.storage import Storage
from pyomo_ecc.pricing.prices import price_frame

BLOCKS = {"prosumer": Prosumer, "storage": Storage, "flexible_load": FlexibleLoad,
          "producer": Producer, "consumer": Consumer, "load": FixedLoad}
MARKET_KEYS = ("periods", "dt", "power_unit", "currency")


def build_community(case):
    """Build the case's community market (not yet assembled)."""
    meta = case.meta
    m = Market(name=case.name, **{k: meta[k] for k in MARKET_KEYS if k in meta})
    for section, block in BLOCKS.items():
        for name, opts in case.participants(section):
            m.add_component(name, block(**opts))
    net = dict(case.data.get("network", {}))
    kind = net.pop("type", "community")
    if kind == "community":
        m.network = P2PNetwork(community=True, **net)
    elif kind == "p2p":
        m.network = P2PNetwork(**net)
    elif kind == "copperplate":
        m.network = CopperPlate(**net)
    else:
        raise InputError(f"case '{case.name}': network type {kind!r} is not supported by the "
                         f"'community' model; use 'community', 'p2p' or 'copperplate'")
    return m


def community_report(model):
    """Prices, trades and the transactive equilibrium check of a solved community market."""
    out = {}
    net = model.get_network()
    prices = price_frame(model, "lmp")
    if isinstance(net, P2PNetwork):
        out["trades (positive: the peer sells)"] = net.trades()["p_trade"].unstack("t")
        if net.config.community:
            prices = prices["lmp"].unstack("t")
            prices.loc["pool"] = price_frame(model, "community_price")["community_price"]
            out["prices (currency/MWh): peers and community pool"] = prices
            out["grid exchange of the pool"] = pd.DataFrame(
                {"import": [net.g_import[t].value + 0.0 for t in model.T],
                 "export": [net.g_export[t].value + 0.0 for t in model.T]},
                index=pd.Index(list(model.T), name="t"))
        else:
            out["prices (currency/MWh)"] = prices["lmp"].unstack("t")
            out["bilateral prices (currency/MWh)"] = price_frame(model, "p2p_price")["p2p_price"].unstack("t")
    else:
        out["prices (currency/MWh)"] = prices["lmp"].unstack("t")
    chk = transactive_check(model)
    out["transactive equilibrium check"] = pd.DataFrame(
        {"value": [chk.max_deviation, chk.max_profit_gap, chk.passed()]},
        index=pd.Index(["max dispatch deviation (power units)", "max profit gap (currency)",
                        "passed (tolerance 1e-5)"], name="check"))
    return out
