"""Base class of network formulations: one interface, interchangeable formulations (the
network part of the block contract, :mod:`pyomo_ecc.core.contract`).

A network block registers with its market when it is built and writes its balance
``eq_p_balance`` when the market is assembled (phase 3), from the participants' registered
``p_inj``. It declares the balance constraints as ``lmp`` prices
(:class:`~pyomo_ecc.core.contract.PriceDecl`).

**Vocabulary.** Every network formulation and participant uses the same names for the same
things; the retired names (right column) raise :class:`~pyomo_ecc.errors.InputError` naming the
new one, as options and as components (``EccBlockData.RETIRED``).

=============================  =========================  ===================================
meaning                        name                       retired names
=============================  =========================  ===================================
active / reactive bus load     ``p_load``, ``q_load``     ``load`` (DCNetwork, FixedLoad)
set of buses                   ``bus``                    ``B`` (radial feeders)
set of branches                ``branch``                 ``E`` (radial feeders)
branches with a rating         ``branch_limited``         ``E_rated`` (radial feeders)
branch rating (power units)    ``rating``                 ``s_max`` (radial feeders)
buses with a voltage limit     ``bus_v_min``,             ``B_vmin``, ``B_vmax``
                               ``bus_v_max``
sides of a rating polygon      ``side``                   ``K`` (LinDistFlow)
reference (slack) bus option   ``ref_bus``                ``root`` (radial feeders)
per-unit base option (MVA)     ``base_mva`` (DC and       (an option of the radial feeders only)
                               radial networks)
active / reactive branch flow  ``p_flow``, ``q_flow``     ``f`` (DCNetwork), ``p``, ``q``
                                                          (radial feeders)
net injection / net trade      ``p_inj``, ``p_net``       ``q`` (Prosumer)
bilateral trade (P2P)          ``p_trade``, ``p_sell``,   ``q``, ``q_sell``, ``q_buy``
                               ``p_buy``                  (P2PNetwork)
=============================  =========================  ===================================

``p`` is active power and ``q`` reactive power, everywhere; a participant's own output stays
``p`` (a producer's dispatch), its injections are ``p_inj`` and ``q_inj``. The graph data keep
the names of :mod:`pyomo_ecc.network.graph` (node attributes ``load``, ``q_load``, edge attribute
``rating``). Result frames use the component names: ``flows()`` / ``branch_flows()`` have
columns ``p_flow`` (and ``q_flow``).
"""
from pyomo.common.config import ConfigValue

from pyomo_ecc.core.block import EccBlockData
from pyomo_ecc.core.config import optional, positive_float
from pyomo_ecc.core.market import find_market
from pyomo_ecc.errors import ModelError


def _bus_list(x):
    if x is None:
        return None
    labels = list(x)
    if len(set(labels)) != len(labels):
        raise ValueError(f"bus labels must be unique, got {labels}")
    return tuple(labels)


def declare_base_mva(config):
    """Declare the option ``base_mva`` (the per-unit base of a graph's impedances) in ``config``."""
    config.declare("base_mva", ConfigValue(default=None, domain=optional(positive_float),
                                           doc="per-unit base of the graph's r, x in MVA (default: "
                                               "graph.graph['base_mva'], else 100)"))


def base_mva_of(net, default):
    """The per-unit base of network ``net``: its option ``base_mva``, else ``default`` (the
    graph's), validated (> 0)."""
    base = net.config.base_mva if net.config.base_mva is not None else default
    try:
        return positive_float(base)
    except ValueError as e:
        net.fail(f"base_mva: {e}")


class NetworkData(EccBlockData):
    """Shared parts of every network formulation."""

    CONFIG = EccBlockData.CONFIG()
    CONFIG.declare("buses", ConfigValue(default=None, domain=_bus_list,
                                        doc="the buses (default: the participants' buses)"))

    def build(self):
        self.market().register_network(self)

    def market(self):
        return find_market(self)

    def buses(self):
        """The network's buses: configured, or those of the participants in first-seen order."""
        if self.config.buses is not None:
            return list(self.config.buses)
        seen = {}
        for p in self.market().participants(active=False):
            seen.setdefault(p.bus, None)
        return list(seen)

    def check_buses(self):
        """Every participant must connect to a known bus."""
        known = set(self.buses())
        for p in self.market().participants(active=False):
            if p.bus not in known:
                raise_unknown_bus(p, sorted(map(str, known)))

    def injections_at(self, t):
        """``{bus: ([variable p_inj terms], [fixed p_inj terms])}`` in period t (active only)."""
        by_bus = {b: ([], []) for b in self.buses()}
        for p in self.market().participants():
            by_bus[p.bus][1 if p.fixed_injection else 0].append(p.p_inj[t])
        return by_bus

    def held_withdrawals(self, t):
        """``{bus: withdrawal}`` (power units) that the network itself holds in period t: bus loads
        given with the graph, shunts. They pay the nodal price like any load
        (:func:`pyomo_ecc.results.summary` counts them in the merchandising surplus)."""
        return {}

    def assemble(self):  # pragma: no cover - overridden
        raise NotImplementedError

    # -- price decomposition and sensitivities (the block contract, pyomo_ecc.core.contract) ----
    #: the published prices :meth:`price_components` reads
    component_prices = ()

    #: True for a formulation linearised at an operating point that
    #: :func:`pyomo_ecc.solve_losses` moves (:meth:`relinearise`)
    linearised = False

    #: name of the formulation in messages (default: the block kind)
    formulation = None

    def price_components(self, prices, price="lmp", method="auto"):
        """The nodal prices ``price`` and their components, from the published ``prices``
        (:class:`~pyomo_ecc.core.contract.DeclaredPrices`): a DataFrame indexed (``bus``,
        ``t``) whose ``attrs["components"]`` columns sum to its ``attrs["price"]`` column."""
        raise ModelError(f"{self.block_kind()} '{self.name}' has no price decomposition: LMP "
                         f"components need a DCNetwork, DLMPs a radial feeder network "
                         f"(LinDistFlow, LinDistFlowLosses or ACDistFlow)")

    def loss_factors(self):
        """Marginal loss factors of every bus and period at the solution (radial feeders)."""
        raise ModelError(f"{self.block_kind()} '{self.name}' has no loss factors: they need a "
                         f"radial feeder network (LinDistFlow, LinDistFlowLosses or ACDistFlow)")

    def sensitivities(self):
        """The network's :class:`~pyomo_ecc.core.contract.Sensitivities` at the solution."""
        raise ModelError(f"{self.block_kind()} '{self.name}' has no sensitivities")

    def relinearise(self):
        """Move the operating point of a linearised formulation to the current solution."""
        raise ModelError(f"{self.block_kind()} '{self.name}' is not linearised at an operating point")


def raise_unknown_bus(participant, known):
    participant.fail(f"unknown bus {participant.bus!r}; the network's buses are {known}")
