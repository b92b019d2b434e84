"""The general market model: participants from a case on a copper plate (or the case's network).

``build_market(case)`` returns a :class:`pyomo_ecc.Market` with one block per ``[[producer]]``,
``[[consumer]]`` and ``[[load]]`` entry, named as in the case, and the network of the
``[network]`` table (``type = "copperplate"``, the default).
"""
from pyomo_ecc.core.market import Market
from pyomo_ecc.errors import InputError
from pyomo_ecc.network.copperplate import CopperPlate
from pyomo_ecc.participants.load import FixedLoad
from pyomo_ecc.participants.producer import Consumer, Producer

PARTICIPANT_BLOCKS = {"producer": Producer, "consumer": Consumer, "load": FixedLoad}
MARKET_KEYS = ("periods", "dt", "power_unit", "currency")


def build_market(case):
    """Build the case's market (not yet assembled)."""
    meta = case.meta
    m = Market(name=case.name, **{k: meta[k] for k in MARKET_KEYS if k in meta})
    net = dict(case.data.get("network", {}))
    kind = net.pop("type", "copperplate")
    if kind != "copperplate":
        raise InputError(f"case '{case.name}': network type {kind!r} is not supported by the "
                         f"'market' model; use 'copperplate'")
    for section, block in PARTICIPANT_BLOCKS.items():
        for name, opts in case.participants(section):
            if name == "network" or name in m.ASSEMBLY_NAMES or hasattr(m, name):
                raise InputError(f"case '{case.name}': [[{section}]] name {name!r} is taken by the "
                                 f"market itself (its time set, parameters, network or methods); "
                                 f"choose another name")
            m.add_component(name, block(**opts))
    m.network = CopperPlate(**net)
    return m
