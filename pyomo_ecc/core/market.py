r"""The market block: time, registries of terms, and the phased build.

A market owns the ordered time set :math:`T` and the period lengths :math:`\Delta t_t` (hours).
Participants register themselves when they are built; the network and the policies are built
from the registered terms when the market is *assembled*, in one fixed order:

1. sets: ``T`` and ``dt`` (at construction);
2. participants build their variables and register (as they are added);
3. the network writes ``eq_p_balance`` from the registered injections;
4. policies write their constraints from registered emissions / certificates;
5. the objective :math:`\min \sum_b \mathrm{objective\_cost}_b` over every block (participants'
   ``bid_cost``, the network's and the policies' terms: the block contract,
   :mod:`pyomo_ecc.core.contract`), plus the user's terms (``market.add_cost(expr)``);
6. user hooks (``market.add_hook(fn)``; ``fn(market)`` may add constraints).

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
import importlib
from dataclasses import dataclass, field

from pyomo.common.config import ConfigValue, In
from pyomo.common.gc_manager import PauseGC
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


#: the network block a market without one gets when it is assembled (set by
#: :mod:`pyomo_ecc.network.copperplate`: the core does not import the networks built on it)
_DEFAULT_NETWORK = [None]


def set_default_network(component):
    """Make ``component()`` (a network block) the network of every market that has none."""
    _DEFAULT_NETWORK[0] = component


def default_network():
    """The network block type a market without one gets (None until one is set)."""
    return _DEFAULT_NETWORK[0]


@dataclass
class _Registry:
    """Plain references to the market's blocks (kept off the Pyomo component tree)."""

    participants: list = field(default_factory=list)
    network: object = None
    policies: list = field(default_factory=list)
    hooks: list = field(default_factory=list)
    prices: list = field(default_factory=list)      # user price declarations (declare_price)
    costs: list = field(default_factory=list)       # the user's objective terms (add_cost)


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

    def add_cost(self, expr):
        """Add the user's own term ``expr`` (a Pyomo expression or Expression component, in
        currency) to the objective the market writes when it is assembled, next to the blocks'
        ``objective_cost()`` (a reserve offer's cost, a constant): nothing rewrites the
        objective afterwards."""
        if self._assembled:
            raise ModelError(f"market '{self.name}' is already assembled (it has been solved): the "
                             f"cost would be left out of its objective; add costs before the "
                             f"first solve, or build a new market")
        self._reg.costs.append(expr)

    def add_hook(self, fn):
        """Register ``fn(market)`` to run last when the market is assembled (phase 6)."""
        if not callable(fn):
            raise InputError(f"market '{self.name}': a hook must be a function fn(market), got {fn!r}")
        if self._assembled:
            raise ModelError(f"market '{self.name}' is already assembled (it has been solved): the hook "
                             f"{getattr(fn, '__name__', fn)!r} would never run; add hooks before the "
                             f"first solve, add the constraint to the model directly "
                             f"(m.extra = pyomo.environ.Constraint(...)), or build a new market")
        self._reg.hooks.append(fn)

    # -- the block tree is the truth -----------------------------------------------------------
    def _registered(self):
        reg = self._reg
        return (reg.participants + ([reg.network] if reg.network is not None else [])
                + reg.policies)

    def _in_tree(self, blk):
        """Is ``blk`` still where it registered: every component on its way up to this market is
        the one its parent holds under that name (a replaced or deleted block is not)."""
        b = blk
        while b is not self:
            comp = b.parent_component()
            parent = comp.parent_block()
            if parent is None or parent.component(comp.local_name) is not comp:
                return False
            b = parent
        return True

    def _forget(self, blocks):
        ids = {id(b) for b in blocks}
        reg = self._reg
        reg.participants = [p for p in reg.participants if id(p) not in ids]
        reg.policies = [p for p in reg.policies if id(p) not in ids]
        if reg.network is not None and id(reg.network) in ids:
            reg.network = None

    def _orphans(self):
        return [b for b in self._registered() if not self._in_tree(b)]

    def check_registry(self):
        """Drop every registered block that is no longer in the block tree (replaced by
        ``m.g = ...`` again, or deleted with ``del_component``) before assembly; after assembly
        (its terms are in the balance and the objective) raise :class:`ModelError` naming it."""
        gone = self._orphans()
        if not gone:
            return
        if self._assembled:
            raise ModelError(self._removed_message(gone[0]))
        self._forget(gone)

    def _removed_message(self, blk):
        return (f"market '{self.name}' is already assembled (it has been solved): '{blk.name}' is in "
                f"its balance and objective and cannot be removed or replaced; deactivate it and fix "
                f"its variables to withdraw it (as pyomo_ecc.mechanisms.properties.withdraw_resolve "
                f"does), change its mutable Params, or build a new market")

    def del_component(self, name_or_object):
        """Pyomo's ``del_component`` (also used when ``m.g = ...`` replaces a component), keeping
        the registries true: a registered block (or one holding registered blocks) leaves them
        before assembly, and is refused after it."""
        comp = (self.component(name_or_object) if isinstance(name_or_object, str)
                else name_or_object)
        if comp is not None and not isinstance(comp, str):
            target = comp.parent_component() if hasattr(comp, "parent_component") else comp
            inside = [b for b in self._registered() if _within(b, target)]
            if inside and self._assembled:
                raise ModelError(self._removed_message(inside[0]))
            self._forget(inside)
        return super().del_component(name_or_object)

    def participants(self, active=True):
        """The market's participants (only active ones by default): every registered
        participant block, a fleet's units in its place (``units()`` of the block contract)."""
        return [u for p in self._reg.participants for u in p.units() if u.active or not active]

    def objective_owners(self):
        """Every registered block, a fleet's units in its place: the owners of the objective's
        terms (``objective_cost()`` of each; a fleet's equals the sum of its units')."""
        return [u for b in self._registered() for u in getattr(b, "units", lambda b=b: (b,))()]

    def get_network(self):
        """The network block (None before one is added)."""
        return self._reg.network

    @property
    def power_unit_mw(self):
        """Megawatts in one power unit of this market."""
        return POWER_UNITS[self.config.power_unit]

    # -- phased build ------------------------------------------------------------------------
    def assemble(self):
        """Phases 3-6: network balance, policies, objective, hooks. Idempotent."""
        self.check_registry()
        if self._assembled:
            return self
        with PauseGC():   # assembly allocates many small objects and frees none of them
            return self._assemble()

    def _assemble(self):
        if not self._reg.participants:
            raise ModelError(f"market '{self.name}' is empty: add at least one participant")
        if self._reg.network is None:
            if _DEFAULT_NETWORK[0] is None:
                # the default network registers itself when its module is imported (the core
                # names no network module in an import statement: the layers stay ordered)
                importlib.import_module("pyomo_ecc.network.copperplate")
            if _DEFAULT_NETWORK[0] is None:   # pragma: no cover - the module above sets it
                raise ModelError(f"market '{self.name}' has no network block and no default "
                                 f"network is set (pyomo_ecc.network.copperplate sets it)")
            self.network_copperplate = _DEFAULT_NETWORK[0]()
        self._reg.network.assemble()
        for pol in self._reg.policies:
            pol.assemble()
        cost = [blk.objective_cost() for blk in self._registered()] + list(self._reg.costs)
        cost = [c for c in cost if not (isinstance(c, (int, float)) and c == 0)]   # no term
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
        """Every constraint that forms a price: the blocks' (:mod:`pyomo_ecc.core.contract`) and
        the user's (:meth:`declare_price`); see :mod:`pyomo_ecc.pricing`."""
        decls = []
        for blk in self._registered():
            decls.extend(blk.price_declarations())
        if self._reg.prices:
            built = {d.price: d.constraint.parent_block().name for d in decls}
            for user in self._reg.prices:
                if user[0].price in built:
                    raise ModelError(f"market '{self.name}': the user price {user[0].price!r} "
                                     f"has the name of a price '{built[user[0].price]}' declares; "
                                     f"declare it under another name")
                if user[0].constraint.parent_block() is not None:     # not deleted since
                    decls.extend(user)
        return decls

    def declare_price(self, constraint, name, sign=None, kind="power", unit=None, levels=None,
                      t=None):
        r"""Publish the dual of the user's ``constraint`` as the price ``name``, normalised like
        every built-in price (:class:`~pyomo_ecc.core.contract.PriceDecl`):
        :math:`\pi = s\,\mu / w`.

        ``constraint``: a Constraint on any block of this market's model, indexed or not (every
        entry becomes one price); ``sign``: +1 when a larger right-hand side means more of the
        priced quantity is required, -1 when it means more room (default: -1 for an upper
        bound ``body <= ub``, +1 for a lower bound or an equality, so that a binding limit or
        requirement has a price >= 0); ``kind``: ``"power"`` (currency per MWh: the constraint is
        in power units in one period), ``"hourly"`` (per unit per hour) or ``"quantity"`` (per
        unit of a quantity summed over periods); ``unit``: a label for :func:`price_names`
        (default from ``kind``); ``levels``: names of the index positions (default: ``"t"``
        for the market's time set, the set's name for a named set, ``"index"`` otherwise);
        ``t``: the period of a ``"power"`` / ``"hourly"`` constraint that is not indexed by the
        time set. Returns the declarations.
        """
        from pyomo.core.base.constraint import ConstraintData
        from pyomo.environ import Constraint

        from pyomo_ecc.core.contract import PRICE_UNITS, PriceDecl

        def refuse(msg):
            raise InputError(f"market '{self.name}': declare_price({name!r}): {msg}")

        if not isinstance(name, str) or not name:
            raise InputError(f"market '{self.name}': a price is named by a non-empty string, "
                             f"got {name!r}")
        if isinstance(constraint, ConstraintData) and not constraint.is_indexed():
            comp = constraint.parent_component()
            entries = [(None if not comp.is_indexed() else constraint.index(), constraint)]
        elif isinstance(constraint, Constraint):
            comp = constraint
            entries = list(constraint.items()) if constraint.is_indexed() else [(None, constraint)]
        else:
            refuse(f"expected a Pyomo Constraint (or one entry of one), got "
                   f"{type(constraint).__name__}")
        if comp.model() is not self.model():
            refuse(f"constraint '{comp.name}' is not part of this market's model")
        if not entries:
            refuse(f"constraint '{comp.name}' has no entries")
        if kind not in PRICE_UNITS:
            refuse(f"unknown kind {kind!r}; use one of {list(PRICE_UNITS)}")
        if sign not in (None, 1, -1):
            refuse(f"sign must be +1 or -1, got {sign!r}")
        taken = [user[0] for user in self._reg.prices if user[0].price == name]
        if taken:
            refuse(f"a price called {name!r} is already declared (on "
                   f"'{taken[0].constraint.parent_component().name}'); choose another name")
        dims = 0
        if comp.is_indexed():
            first = entries[0][0]
            dims = len(first) if isinstance(first, tuple) else 1
        if levels is None:
            sets = list(comp.index_set().subsets()) if comp.is_indexed() else []
            if len(sets) == dims:
                levels = tuple("t" if s is self.T else
                               (s.local_name if not s.local_name.startswith("_") else "index")
                               for s in sets)
            else:
                levels = tuple("index" for _ in range(dims))
            if len(set(levels)) != len(levels):
                levels = tuple(f"{lv}_{k}" if levels.count(lv) > 1 else lv
                               for k, lv in enumerate(levels))
        else:
            levels = (levels,) if isinstance(levels, str) else tuple(levels)
            if len(levels) != max(dims, 1) or not all(isinstance(v, str) for v in levels):
                refuse(f"levels {list(levels)} must name the {dims} index position(s) of "
                       f"'{comp.name}'")
        if not dims:
            levels = levels or ("constraint",)
        t_pos = levels.index("t") if "t" in levels and t is None else None
        if kind in ("power", "hourly") and t_pos is None:
            if t is None:
                refuse(f"kind={kind!r} needs the period of each entry: index '{comp.name}' by "
                       f"the market's time set T, or give t=...")
            if t not in self.T:
                refuse(f"t={t!r} is not a period of the market ({list(self.T)})")
        decls = []
        for idx, con in entries:
            key = () if idx is None else (idx if isinstance(idx, tuple) else (idx,))
            index = key if key else (comp.local_name,)
            s = sign
            if s is None:
                if con.has_ub() and con.has_lb() and not con.equality:
                    refuse(f"'{con.name}' has both bounds: give sign=+1 or -1")
                s = -1 if con.has_ub() and not con.equality else 1
            period = key[t_pos] if t_pos is not None else t
            decls.append(PriceDecl(name, index, levels, con, s, kind, period, unit))
        self._reg.prices.append(tuple(decls))
        return decls


def _within(blk, comp):
    """Is block ``blk`` the component ``comp`` or somewhere inside it."""
    b = blk
    while b is not None:
        if b.parent_component() is comp:
            return True
        b = b.parent_block()
    return False


def find_market(blk):
    """The nearest enclosing :class:`MarketData` block of ``blk``."""
    return find_enclosing(blk, MarketData, f"a Market block (m = pyomo_ecc.Market(...); "
                                          f"m.{blk.local_name} = ...)")


def _require_block(model):
    from pyomo.core.base.block import BlockData
    if not isinstance(model, BlockData):
        raise ModelError(f"expected a Pyomo model or block (e.g. m = pyomo_ecc.Market()), got "
                         f"{type(model).__name__}")


def assemble_all(model):
    """Assemble every block of ``model`` that asks for it (markets, economies), outermost first."""
    _require_block(model)
    for b in model.block_data_objects(descend_into=True, active=True):
        if getattr(b, "assemble_on_solve", False):
            b.assemble()


def markets_in(model):
    """All market blocks in ``model`` (the model itself included), in declaration order."""
    _require_block(model)
    return [b for b in model.block_data_objects(descend_into=True) if isinstance(b, MarketData)]


def require_markets(model):
    """:func:`markets_in`, raising :class:`~pyomo_ecc.errors.ModelError` when there is none (the
    one check behind every result, price and analysis of a model)."""
    mks = markets_in(model)
    if not mks:
        raise ModelError(f"'{model.name}' contains no Market block")
    return mks
