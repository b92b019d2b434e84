r"""Validation of mutable parameters changed after a block was built.

Inputs that an outer loop changes (offers, limits, loads, caps) are mutable Params. A value set on
one of them after build goes through the same check as the option it came from:

* its *domain*: the owning block's ``PARAM_DOMAINS[name]`` if it declares one, else the domain of
  the ``CONFIG`` option of the same name (``p_max`` -> non-negative), else a finite number;
* the owning block's cross-parameter rules, :meth:`EccBlockData.check_params` (e.g. a stepwise
  offer stays non-decreasing, :math:`\underline{P}_t \le \overline{P}_t`).

:func:`validate_parameters` runs both over a whole model; :func:`pyomo_ecc.solve` calls it before
every solve, and the what-if layer (:mod:`pyomo_ecc.whatif`) on every change it applies.
Errors are :class:`~pyomo_ecc.errors.InputError` naming the block, the parameter and its index.
"""
import pyomo.environ as pyo

from pyomo_ecc.core.block import EccBlockData
from pyomo_ecc.core.config import finite_float
from pyomo_ecc.errors import InputError


def owner(component):
    """The nearest :class:`EccBlockData` above ``component`` (None for a user's own Param)."""
    b = component.parent_block()
    while b is not None and not isinstance(b, EccBlockData):
        b = b.parent_block()
    return b


def domain_of(blk, name):
    """The domain that checks values of the parameter ``name`` of block ``blk``."""
    if blk is None:
        return finite_float
    doms = getattr(blk, "PARAM_DOMAINS", {})
    if name in doms:
        return doms[name]
    # the option of the same name, when it is a number or one number per period (an option given
    # as a mapping, e.g. a value per sector, does not describe one entry)
    if name in blk.CONFIG and isinstance(blk.config[name], (int, float, tuple)):
        dom = blk.CONFIG.get(name)._domain
        if callable(dom):
            return dom
    return finite_float


def checked_value(param_data, value):
    """``value`` cleaned by the domain of ``param_data``'s parameter; InputError naming both."""
    comp = param_data.parent_component()
    if not comp.mutable:
        raise InputError(f"parameter '{comp.name}' is not mutable: it cannot change after build")
    blk = owner(comp)
    dom = domain_of(blk, comp.local_name)
    where = f"{blk.block_kind()} '{blk.name}': " if blk is not None else ""
    if value is None or isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise InputError(f"{where}parameter '{param_data.name}': expected a number, got {value!r}")
    try:
        v = dom(value)
        v = finite_float(v)   # a domain that lets None or a string through still gets a number
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}parameter '{param_data.name}' = {value!r}: {e}") from None
    if isinstance(v, tuple):   # a per-period domain given one value
        v = v[0]
    return v


def eccblocks(model):
    """Every pyomo_ecc block in ``model`` (the model itself included)."""
    return [b for b in model.block_data_objects(descend_into=True) if isinstance(b, EccBlockData)]


def validate_parameters(model, blocks=None):
    """Check every mutable parameter of every pyomo_ecc block in ``model`` (or of ``blocks``)
    against its domain and the block's cross-parameter rules (module doc)."""
    for blk in (eccblocks(model) if blocks is None else blocks):
        for comp in blk.component_objects(pyo.Param, descend_into=False):
            if not comp.mutable:
                continue
            dom = domain_of(blk, comp.local_name)
            for k in comp:
                val = comp[k].value
                try:
                    if val is None or isinstance(val, (bool, str, bytes)):
                        raise ValueError(f"expected a number, got {val!r}")
                    finite_float(dom(val))
                except (TypeError, ValueError) as e:
                    raise InputError(f"{blk.block_kind()} '{blk.name}': parameter '{comp[k].name}' = "
                                     f"{val!r}: {e}") from None
        blk.check_params()
