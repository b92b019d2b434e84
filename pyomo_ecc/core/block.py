"""The block base class: a Pyomo custom block whose options go through a validated ``CONFIG``.

Write the data class, decorate it with :func:`declare_block`, and the decorator makes the
component::

    @declare_block("Producer")
    class ProducerData(EccBlockData):
        CONFIG = EccBlockData.CONFIG()
        CONFIG.declare("p_max", ConfigValue(domain=nonnegative_series))

        def build(self):
            ...

    m.g1 = Producer(bus="A", p_max=100)

Keyword arguments that are not Pyomo's own block options are validated against ``CONFIG``; a
wrong value raises :class:`~pyomo_ecc.errors.InputError` naming the block and the option. The
block keeps the default Block ctype, so every Pyomo writer and solver sees its contents.
"""
import logging
import sys
import weakref

from pyomo.common.config import ConfigDict
from pyomo.common.gc_manager import PauseGC
from pyomo.core.base.block import BlockData, CustomBlock, declare_custom_block
from pyomo.core.base.initializer import Initializer

from pyomo_ecc.errors import EccError, InputError, ModelError, RetiredNameError

_PYOMO_BLOCK_OPTIONS = {"rule", "concrete", "dense", "name", "doc", "ctype", "options"}


class _OwnErrorsOnce(logging.Filter):
    """Drop Pyomo's "Constructing component ... failed" log record when the error is one of
    ours: the exception itself reaches the caller with a message that names the item, so the
    log would only repeat it (once per enclosing block)."""

    def filter(self, record):
        if str(record.msg).startswith("Constructing component"):
            err = sys.exc_info()[1]
            if isinstance(err, EccError):
                return False
        return True


if not any(isinstance(f, _OwnErrorsOnce) for f in logging.getLogger("pyomo.core").filters):
    logging.getLogger("pyomo.core").addFilter(_OwnErrorsOnce())


class EccBlockData(BlockData):
    """Base data class of every pyomo_ecc block.

    Subclasses extend ``CONFIG`` (copy the parent's: ``CONFIG = Parent.CONFIG()``) and implement
    :meth:`build`. After construction the validated options are in ``self.config``.
    """

    CONFIG = ConfigDict()

    def build(self):  # pragma: no cover - overridden
        pass

    def _ecc_build(self, *index):
        opts = getattr(self.parent_component(), "_ecc_options", {})
        kind = self.block_kind()
        for k in opts:
            if k in self.RETIRED and k not in self.CONFIG:
                raise InputError(f"{kind} '{self.name}': option '{k}' was renamed "
                                 f"'{self.RETIRED[k]}'; write {self.RETIRED[k]}=...")
        unknown = [k for k in opts if k not in self.CONFIG]
        if unknown:
            raise InputError(
                f"{kind} '{self.name}': unknown option(s) {unknown}; "
                f"options are {sorted(self.CONFIG.keys())}"
            )
        config = self.CONFIG()
        for key, val in opts.items():
            try:
                config[key] = val
            except (ValueError, TypeError) as e:
                msg = str(e).split("\n")[-1].strip() or str(e)
                raise InputError(f"{kind} '{self.name}': option '{key}': {_root_cause(e) or msg}") from None
        self.config = config
        with PauseGC():   # a build allocates many small objects and frees none of them
            self.build()
        _freeze(config, self)

    #: options read whenever they are used (not only by ``build``): these may still be changed
    #: through ``config`` after the block is built
    LIVE_OPTIONS = ()

    #: retired names of options and components, ``{old: new}`` (see the vocabulary table in
    #: :mod:`pyomo_ecc.network.base`): an old option given to the block, or an old component
    #: read from it, raises :class:`~pyomo_ecc.errors.RetiredNameError` naming the new one
    RETIRED = {}

    def __getattr__(self, name):
        new = type(self).RETIRED.get(name)
        if new is not None:
            raise RetiredNameError(retired_message(self, name))
        return super().__getattr__(name)

    #: domains of mutable parameters whose name is not a ``CONFIG`` option (see
    #: :mod:`pyomo_ecc.core.params`)
    PARAM_DOMAINS = {}

    # -- the block contract (pyomo_ecc.core.contract) ------------------------------------------
    def objective_cost(self):
        """This block's term of its market's objective (currency, minimised): the market sums
        these over its blocks. None by default."""
        return 0.0

    def price_declarations(self):
        """This block's price-forming constraints (:class:`~pyomo_ecc.core.contract.PriceDecl`).
        None by default."""
        return []

    def check_params(self):
        """Cross-parameter rules for values set after build (e.g. a curve stays monotone); raise
        :class:`InputError` through :meth:`fail`. Called before every solve and by what-ifs."""

    def block_kind(self):
        """The component class name, e.g. ``'Producer'``."""
        return type(self.parent_component()).__name__.replace("Scalar", "").replace("Indexed", "")

    def fail(self, message):
        """Raise an :class:`InputError` that names this block."""
        raise InputError(f"{self.block_kind()} '{self.name}': {message}")


#: built block of every frozen configuration (by id; entries go with their blocks)
_OWNERS = weakref.WeakValueDictionary()


class BuiltConfig(ConfigDict):
    """The configuration of a built block: its options were used to build the model, so changing
    them afterwards would be silently ignored. Setting one raises :class:`ModelError` saying what
    to do instead (set the block's mutable Param of that name, or build a new block); the
    options in the block's ``LIVE_OPTIONS`` stay settable."""

    __slots__ = ()

    def _refuse(self, key):
        blk = _OWNERS.get(id(self))
        if blk is None or key in getattr(blk, "LIVE_OPTIONS", ()):
            return False
        from pyomo.environ import Param
        param = blk.component(key)
        if isinstance(param, Param) and param.mutable:
            idx = next(iter(param.keys()), None)
            where = f"{param.name}[{idx!r}]" if param.is_indexed() else param.name
            todo = (f"set the mutable Param instead, e.g. {where} = value (every solve reads it), "
                    f"or build a new block")
        else:
            todo = ("build a new block with the option you want (and a new market, if this one has "
                    "been solved)")
        raise ModelError(f"{blk.block_kind()} '{blk.name}': option '{key}' was used when the block "
                         f"was built; changing it through config afterwards would be ignored: {todo}")

    def __setitem__(self, key, val):
        if not self._refuse(str(key)):
            ConfigDict.__setitem__(self, key, val)

    def __setattr__(self, name, value):
        if name in ConfigDict._reserved_words or not self._refuse(name):
            ConfigDict.__setattr__(self, name, value)

    def set_value(self, value, skip_implicit=False):
        if value is not None and _OWNERS.get(id(self)) is not None:
            for key in (value.keys() if hasattr(value, "keys") else ()):
                self._refuse(str(key))
        return ConfigDict.set_value(self, value, skip_implicit)

    def reset(self):
        blk = _OWNERS.get(id(self))
        if blk is not None:
            raise ModelError(f"{blk.block_kind()} '{blk.name}': its options were used when the block "
                             f"was built and cannot be reset; build a new block")
        ConfigDict.reset(self)


def _freeze(config, blk):
    if type(config) is ConfigDict:
        config.__class__ = BuiltConfig
    _OWNERS[id(config)] = blk


def _root_cause(e):
    """The message of the innermost exception that ``e`` was raised from (the domain's own)."""
    cause = e
    while True:
        nxt = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
        if nxt is None:
            break
        cause = nxt
    return str(cause) if cause is not e else ""


def retired_message(blk, name):
    """The message for the retired name ``name`` of block ``blk`` (``blk.RETIRED[name]``)."""
    new = type(blk).RETIRED[name]
    return (f"{blk.block_kind()} '{blk.name}': '{name}' was renamed '{new}'; use "
            f"{blk.name}.{new}")


def retired_component(model, name):
    """The :class:`~pyomo_ecc.errors.RetiredNameError` message for a dotted component name
    ``name`` of ``model`` whose last part is a retired name of its block (else None): lookups by
    name (``model.find_component``) give None for a retired name, and this says why."""
    head, _, last = name.rpartition(".")
    blk = model.find_component(head) if head else model
    if isinstance(blk, EccBlockData) and last.split("[")[0] in type(blk).RETIRED:
        return retired_message(blk, last.split("[")[0])
    return None


def from_table(table):
    """The initialiser of an indexed component from ``table``, a dict that has every index of
    the component (a tuple for a product index): Pyomo calls it once per index of the
    component's own index set, so the keys are not validated against the set one by one (as a
    dict initialiser's are). That is most of the cost of a network's tables over (branch, t).
    Use a plain dict for a component with few indices: a function is classified once per
    component."""
    def rule(_block, *index):
        return table[index[0] if len(index) == 1 else index]
    return rule


def find_enclosing(blk, cls, what):
    """The nearest block above ``blk`` whose data class is ``cls``; raises naming ``blk`` and
    ``what`` (the kind of container it must be placed in) when there is none."""
    b = blk.parent_block()
    while b is not None:
        if isinstance(b, cls):
            return b
        b = b.parent_block()
    kind = type(blk.parent_component()).__name__.replace("Scalar", "")
    raise ModelError(f"{kind} '{blk.name}' must be placed inside {what}")


def config_table(config):
    """The options of a ``CONFIG`` as a reStructuredText list (added to component docstrings)."""
    lines = ["Options (keyword arguments, validated):", ""]
    for key in config.keys():
        item = config.get(key)
        default = item.value() if not isinstance(item, ConfigDict) else "{...}"
        lines.append(f"* ``{key}`` (default ``{default!r}``): {getattr(item, '_doc', None) or ''}")
    return "\n".join(lines)


def declare_block(name, concrete=False):
    """Class decorator: make the Pyomo component ``name`` from an :class:`EccBlockData` class.

    With ``concrete=True`` the component is constructed as soon as it is created, so it can be
    used as a top-level model (as :class:`~pyomo_ecc.core.market.MarketData` is).
    """

    def decorate(data_cls):
        declare_custom_block(name=name, rule="_ecc_build")(data_cls)
        comp = getattr(sys.modules[data_cls.__module__], name)  # the component class it made
        # the construction rule, classified once: Pyomo would inspect its signature again for
        # every block made (a third of the build of a model with many small blocks)
        rule = Initializer(comp._default_rule)

        def __init__(self, *args, **kwargs):
            self._ecc_options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _PYOMO_BLOCK_OPTIONS}
            kwargs.setdefault("rule", rule)
            if concrete:
                kwargs.setdefault("concrete", True)
                kwargs.setdefault("name", name.lower())
            CustomBlock.__init__(self, *args, **kwargs)

        comp.__init__ = __init__
        comp.__doc__ = (data_cls.__doc__ or "") + "\n\n" + config_table(data_cls.CONFIG)
        return data_cls

    return decorate
