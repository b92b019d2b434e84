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
import sys

from pyomo.common.config import ConfigDict
from pyomo.core.base.block import BlockData, CustomBlock, declare_custom_block

from pyomo_ecc.errors import InputError, ModelError

_PYOMO_BLOCK_OPTIONS = {"rule", "concrete", "dense", "name", "doc", "ctype", "options"}


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
        self.build()

    #: domains of mutable parameters whose name is not a ``CONFIG`` option (see
    #: :mod:`pyomo_ecc.core.params`)
    PARAM_DOMAINS = {}

    def check_params(self):
        """Cross-parameter rules for values set after build (e.g. a curve stays monotone); raise
        :class:`InputError` through :meth:`fail`. Called before every solve and by what-ifs."""

    def block_kind(self):
        """The component class name, e.g. ``'Producer'``."""
        return type(self.parent_component()).__name__.replace("Scalar", "").replace("Indexed", "")

    def fail(self, message):
        """Raise an :class:`InputError` that names this block."""
        raise InputError(f"{self.block_kind()} '{self.name}': {message}")


def _root_cause(e):
    """The message of the innermost exception that ``e`` was raised from (the domain's own)."""
    cause = e
    while True:
        nxt = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
        if nxt is None:
            break
        cause = nxt
    return str(cause) if cause is not e else ""


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

        def __init__(self, *args, **kwargs):
            self._ecc_options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _PYOMO_BLOCK_OPTIONS}
            if concrete:
                kwargs.setdefault("concrete", True)
                kwargs.setdefault("name", name.lower())
            CustomBlock.__init__(self, *args, **kwargs)

        comp.__init__ = __init__
        comp.__doc__ = (data_cls.__doc__ or "") + "\n\n" + config_table(data_cls.CONFIG)
        return data_cls

    return decorate
