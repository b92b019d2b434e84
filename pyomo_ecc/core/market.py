r"""The market block: time, registries of terms, and the phased build.

A market owns the ordered time set :math:`T` and the period lengths :math:`\Delta t_t` (hours).
Participants register themselves when they are built; the network and the policies are built
from the registered terms when the market is *assembled*, in one fixed order:

1. sets: ``T`` and ``dt`` (at construction);
2. participants build their variables and register (as they are added);
3. the network writes ``eq_p_balance`` from the registered injections;
4. policies write their constraints from registered emissions / certificates;
5. coupled blocks (CGE), when present;
6. the objective :math:`\min \sum_i \mathrm{bid\_cost}_i + \sum_k \mathrm{policy\_cost}_k`;
7. user hooks (``market.add_hook(fn)``; ``fn(market)`` may add constraints).

=====================  ===========================  =====================================
symbol                 attribute                    meaning
=====================  ===========================  =====================================
:math:`T`              ``T``                        ordered set of periods
:math:`\Delta t_t`     ``dt[t]``                    period length in hours
:math:`u`              ``config.power_unit``        power unit of every ``p_inj`` (MW, kW, GW)
objective              ``obj``                      total as-bid cost (currency)
=====================  ===========================  =====================================

Example::

    >>> import pyomo_ecc as ecc
    >>> m = ecc.Market(periods=2, dt=0.5)
    >>> list(m.T), m.dt[1]
    ([0, 1], 0.5)
"""
from dataclasses import dataclass, field

from pyomo.common.config import ConfigValue, In
from pyomo.environ import Objective, Param, Set, minimize

from pyomo_ecc.core.block import EccBlockData, declare_block, find_enclosing
from pyomo_ecc.core.config import per_period, positive_float
from pyomo_ecc.errors import InputError, ModelError

#: megawatts per one unit of each supported power unit
POWER_UNITS = {"W": 1e-6, "kW": 1e-3, "MW": 1.0, "GW": 1e3}


def _periods(x):
    if isinstance(x, bool):
        raise ValueError(f"expected a number of periods or a list of labels, got {x!r}")
    if isinstance(x, int):
        if x < 1:
            raise ValueError(f"a market needs at least one period, got {x}")
        return tuple(range(x))
    labels = tuple(x)
    if not labels:
        raise ValueError("a market needs at least one period")
    if len(set(labels)) != len(labels):
        raise ValueError(f"period labels must be unique, got {labels}")
    return labels


def _dt(x):
    if isinstance(x, (int, float)):
        return positive_float(x)
    return tuple(positive_float(v) for v in x)


@dataclass
class _Registry:
    """Plain references to the market's blocks (kept off the Pyomo component tree)."""

    participants: list = field(default_factory=list)
    network: object = None
    policies: list = field(default_factory=list)
    coupled: list = field(default_factory=list)
    hooks: list = field(default_factory=list)


@declare_block("Market", concrete=True)
class MarketData(EccBlockData):
    """A market: time set, period lengths, registries and the phased build (see module doc)."""

    #: pyomo_ecc.solve assembles every block with this flag before solving
    assemble_on_solve = True

    CONFIG = EccBlockData.CONFIG()
    CONFIG.declare("periods", ConfigValue(default=1, domain=_periods,
                                          doc="number of periods, or a list of period labels"))
    CONFIG.declare("dt", ConfigValue(default=1.0, domain=_dt,
                                     doc="period length in hours: one number or one per period"))
    CONFIG.declare("power_unit", ConfigValue(default="MW", domain=In(list(POWER_UNITS)),
                                             doc="unit of every power quantity in the model"))
    CONFIG.declare("currency", ConfigValue(default="$", domain=str, doc="currency label"))

    def build(self):
        periods = self.config.periods
        try:
            dt = per_period(self.config.dt, periods, "dt")
        except ValueError as e:
            self.fail(str(e))
        self.T = Set(initialize=periods, ordered=True, doc="periods")
        self.dt = Param(self.T, initialize=dt, doc="period length [h]")
        self._reg = _Registry()
        self._assembled = False
        self._pricing_basis = None

    # -- registries --------------------------------------------------------------------------
    #: component names the market itself creates when it is assembled
    ASSEMBLY_NAMES = ("obj", "network_copperplate")

    def register_participant(self, blk):
        """Called by a participant's ``build``: its ``p_inj`` and ``bid_cost`` join the market."""
        if blk.parent_block() is self and blk.local_name in self.ASSEMBLY_NAMES:
            blk.fail(f"the name '{blk.local_name}' is reserved by the market (it creates "
                     f"{', '.join(self.ASSEMBLY_NAMES)} when assembled); choose another name")
        self._refuse_after_assembly(blk)
        self._reg.participants.append(blk)

    def _refuse_after_assembly(self, blk):
        """A block added after the balance and objective were written would be left out of them."""
        if self._assembled:
            raise ModelError(f"market '{self.name}' is already assembled (it has been solved): "
                             f"'{blk.name}' would be left out of its balance and objective; add every "
                             f"block before the first solve, or build a new market")

    def register_network(self, blk):
        self._refuse_after_assembly(blk)
        if self._reg.network is not None and self._reg.network is not blk:
            raise InputError(f"market '{self.name}' already has a network "
                             f"('{self._reg.network.name}'); cannot add '{blk.name}'")
        self._reg.network = blk

    def register_policy(self, blk):
        self._refuse_after_assembly(blk)
        self._reg.policies.append(blk)

    def register_coupled(self, blk):
        self._refuse_after_assembly(blk)
        self._reg.coupled.append(blk)

    def add_hook(self, fn):
        """Register ``fn(market)`` to run last when the market is assembled (phase 7)."""
        self._reg.hooks.append(fn)

    def participants(self, active=True):
        """The registered participant blocks (only active ones by default)."""
        return [p for p in self._reg.participants if p.active or not active]

    def get_network(self):
        """The network block (None before one is added)."""
        return self._reg.network

    @property
    def power_unit_mw(self):
        """Megawatts in one power unit of this market."""
        return POWER_UNITS[self.config.power_unit]

    # -- phased build ------------------------------------------------------------------------
    def assemble(self):
        """Phases 3-7: network balance, policies, coupled blocks, objective, hooks. Idempotent."""
        if self._assembled:
            return self
        if not self._reg.participants:
            raise ModelError(f"market '{self.name}' is empty: add at least one participant")
        if self._reg.network is None:
            from pyomo_ecc.network.copperplate import CopperPlate
            self.network_copperplate = CopperPlate()
        self._reg.network.assemble()
        for pol in self._reg.policies:
            pol.assemble()
        for blk in self._reg.coupled:
            blk.assemble()
        cost = [p.bid_cost for p in self._reg.participants]
        cost += [pol.policy_cost for pol in self._reg.policies if hasattr(pol, "policy_cost")]
        self.obj = Objective(expr=sum(cost), sense=minimize,
                             doc="total as-bid cost (currency); welfare = -obj")
        for fn in self._reg.hooks:
            fn(self)
        self._assembled = True
        return self

    @property
    def assembled(self):
        return self._assembled

    def price_declarations(self):
        """Every constraint that forms a price: see :mod:`pyomo_ecc.pricing`."""
        decls = list(self._reg.network.price_declarations()) if self._reg.network is not None else []
        for pol in self._reg.policies:
            decls.extend(pol.price_declarations())
        return decls


def find_market(blk):
    """The nearest enclosing :class:`MarketData` block of ``blk``."""
    return find_enclosing(blk, MarketData, f"a Market block (m = pyomo_ecc.Market(...); "
                                          f"m.{blk.local_name} = ...)")


def assemble_all(model):
    """Assemble every block of ``model`` that asks for it (markets, economies), outermost first."""
    for b in model.block_data_objects(descend_into=True, active=True):
        if getattr(b, "assemble_on_solve", False):
            b.assemble()


def markets_in(model):
    """All market blocks in ``model`` (the model itself included), in declaration order."""
    return [b for b in model.block_data_objects(descend_into=True) if isinstance(b, MarketData)]
