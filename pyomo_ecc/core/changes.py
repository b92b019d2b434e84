r"""Changes to a built model, applied and undone exactly: the vocabulary of what-ifs.

==========================================  ====================================================
change                                      effect (undone exactly afterwards)
==========================================  ====================================================
:class:`SetParam` ``(param, value)``        a mutable parameter (one index, or every index),
                                            validated by its block (:mod:`~pyomo_ecc.core.params`)
:class:`Fix` ``(var, value)`` / ``Unfix``   fix a variable (at its value, or at ``value``) / free it
:func:`withdraw` ``(participant)``          the participant's own rule (``withdrawal()``): its
                                            variables at 0, its loads at 0, its block deactivated
:class:`MoveRHS` ``(constraint, delta)``    both bounds of a constraint moved by ``delta``
:class:`Deactivate` / ``Activate``          a constraint or a block leaves / rejoins the model
==========================================  ====================================================

:func:`applied` applies a list of changes for the duration of a ``with`` block and restores the
model afterwards (parameters, fixed flags, bounds, active flags, values and duals). This module
depends on ``core`` only, so every layer may use it (the solver layer fixes a MILP's integers
with it); the engine that compiles a model once and re-solves what-ifs on it is
:mod:`pyomo_ecc.whatif`, above the solver layer.
"""
import math
import operator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import pyomo.environ as pyo

from pyomo_ecc.core.params import checked_value, owner
from pyomo_ecc.errors import InputError


_VALUE = operator.attrgetter("_value")   # a ParamData's value, read without the property


# -- changes ---------------------------------------------------------------------------------
def _name(component):
    return component if isinstance(component, str) else component.name


def _find(model, name, kind):
    cache = model.__dict__.setdefault("_ecc_find_cache", {})
    comp = cache.get(name)
    if comp is None or comp.parent_block() is None:   # not cached, or deleted since
        comp = model.find_component(name)
        if comp is None:
            comp = _participant_named(model, name)
        if comp is None:
            from pyomo_ecc.core.block import retired_component
            retired = retired_component(model, name)
            if retired:
                raise InputError(f"what-if: {retired}")
            raise InputError(f"what-if: model '{model.name}' has no {kind} called '{name}'")
        cache[name] = comp
    return comp


def _participant_named(model, name):
    """The participant called ``name`` that is not a component of its own (a fleet's unit,
    ``fleet[unit]``), or None."""
    from pyomo_ecc.core.market import markets_in
    try:
        markets = markets_in(model)
    except Exception:   # not a model with markets
        return None
    for mk in markets:
        for p in mk.participants(active=False):
            if p.name == name:
                return p
    return None


@dataclass(frozen=True)
class _Change:
    """A change names its component (its first field): objects are stored by name, so that a
    change pickles and applies to the same model rebuilt elsewhere."""

    def __post_init__(self):
        first = fields(self)[0].name
        val = getattr(self, first)
        if not isinstance(val, str):   # kept for this process (not pickled): no lookup by name
            object.__setattr__(self, "_ref", val)
        object.__setattr__(self, first, _name(val))

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_ref", None)
        return state

    def _component(self, model, kind):
        ref = self.__dict__.get("_ref")
        if ref is not None and ref.model() is model:
            return ref
        return _find(model, getattr(self, fields(self)[0].name), kind)


@dataclass(frozen=True)
class SetParam(_Change):
    """Set a mutable parameter: one entry (``m.g.p_max[0]``) or every entry of an indexed one
    (``m.g.p_max`` with a number, or a dict ``{index: value}``)."""

    param: object
    value: object


    def ops(self, model):
        comp = self._component(model, "parameter")
        if not isinstance(comp.parent_component(), pyo.Param):
            raise InputError(f"what-if: '{self.param}' is not a parameter")
        if comp.is_indexed():
            vals = self.value if isinstance(self.value, dict) else {k: self.value for k in comp}
            unknown = [k for k in vals if k not in comp]
            if unknown:
                raise InputError(f"what-if: parameter '{self.param}' has no index {unknown[0]!r}")
            return [("param", comp[k], checked_value(comp[k], v)) for k, v in vals.items()]
        return [("param", comp, checked_value(comp, self.value))]


@dataclass(frozen=True)
class Fix(_Change):
    """Fix a variable at ``value`` (default: its current value); an indexed one entry by entry."""

    var: object
    value: object = None


    def ops(self, model):
        comp = self._component(model, "variable")
        datas = comp.values() if comp.is_indexed() else [comp]
        out = []
        for v in datas:
            val = v.value if self.value is None else self.value
            if val is None or not math.isfinite(float(val)):
                raise InputError(f"what-if: cannot fix '{v.name}' at {val!r}")
            out.append(("fix", v, float(val)))
        return out


@dataclass(frozen=True)
class Unfix(_Change):
    """Free a fixed variable."""

    var: object


    def ops(self, model):
        comp = self._component(model, "variable")
        return [("unfix", v, None) for v in (comp.values() if comp.is_indexed() else [comp])]


@dataclass(frozen=True)
class MoveRHS(_Change):
    """Move the bounds of a constraint by ``delta`` (its right-hand side, in its own units)."""

    constraint: object
    delta: float

    def __post_init__(self):
        super().__post_init__()
        if not math.isfinite(float(self.delta)):
            raise InputError(f"what-if: right-hand side shift of '{self.constraint}' must be finite")

    def ops(self, model):
        comp = self._component(model, "constraint")
        return [("rhs", c, float(self.delta)) for c in (comp.values() if comp.is_indexed() else [comp])]


@dataclass(frozen=True)
class Deactivate(_Change):
    """Take a constraint or a block out of the model."""

    component: object


    def ops(self, model):
        return [("active", self._component(model, "component"), False)]


@dataclass(frozen=True)
class Activate(_Change):
    """Bring a deactivated constraint or block back."""

    component: object


    def ops(self, model):
        return [("active", self._component(model, "component"), True)]


@dataclass(frozen=True)
class Withdraw(_Change):
    """Take a participant out of the market by its own withdrawal rule (``withdrawal()``)."""

    participant: object


    def ops(self, model):
        blk = self._component(model, "participant")
        cached = blk.__dict__.get("_ecc_withdrawal")
        if cached is not None:   # the rule's changes, resolved once (they name fixed components)
            return cached
        rule = getattr(blk, "withdrawal", None)
        if rule is None:
            raise InputError(f"what-if: '{self.participant}' is not a participant (it declares no "
                             f"withdrawal rule)")
        if model.parent_block() is None and hasattr(blk, "component_objects"):
            _index_names(model, blk)
        # its own deactivation is a "retire": the rule fixed what it injects (no check needed)
        ops = [("retire", op[1], False) if op[0] == "active" and op[1] is blk else op
               for ch in rule() for op in ch.ops(model)]
        blk.__dict__["_ecc_withdrawal"] = ops
        return ops


def _index_names(model, blk):
    """Put the variables and parameters of block ``blk`` into the model's look-up by name (a
    withdrawal rule names them): each name built as Pyomo builds it (the component's name and
    the index), instead of parsing each name the rule gives. ``model`` is the root, so full
    names are the names :meth:`find_component` takes."""
    from pyomo.core.base.component_namer import index_repr
    cache = model.__dict__.setdefault("_ecc_find_cache", {})
    for comp in blk.component_objects((pyo.Var, pyo.Param), descend_into=True):
        if isinstance(comp, pyo.Param) and not comp.mutable:   # its entries are plain numbers
            continue
        base = comp.name
        if comp.is_indexed():
            for idx, d in comp.items():
                cache.setdefault(base + index_repr(idx), d)
        else:
            cache.setdefault(base, comp)


def withdraw(participant):
    """The change that withdraws ``participant`` (a block or its name): see :class:`Withdraw`."""
    return Withdraw(participant)


def set_param(param, value):
    """The change that sets ``param`` (see :class:`SetParam`)."""
    return SetParam(param, value)


def resolve(model, changes):
    """The primitive operations of ``changes`` on ``model`` (validated, nothing applied yet)."""
    if not isinstance(changes, (list, tuple)):
        changes = [changes]
    ops = []
    for ch in changes:
        if not hasattr(ch, "ops"):
            raise InputError(f"what-if: {ch!r} is not a change (SetParam, Fix, Unfix, Withdraw, "
                             f"MoveRHS, Activate, Deactivate)")
        ops.extend(ch.ops(model))
    return ops


# -- applying and undoing (the one save / restore routine) -----------------------------------
class Touched:
    """What a set of operations touched, for :meth:`StandardForm.update`."""

    def __init__(self):
        self.params, self.variables, self.constraints, self.blocks = [], [], [], []

    def as_kwargs(self):
        return dict(params=self.params, variables=self.variables, constraints=self.constraints,
                    blocks=self.blocks)

    def merged(self, other):
        """What this and ``other`` touched together (the form reads the model's state, so the
        order does not matter; a block is listed once)."""
        out = Touched()
        out.params = self.params + other.params
        out.variables = self.variables + other.variables
        out.constraints = self.constraints + other.constraints
        out.blocks = list({id(b): b for b in self.blocks + other.blocks}.values())
        return out


def _apply(ops, touched):
    """Apply ``ops``; return the undo log (apply it reversed to restore)."""
    undo = []
    try:
        for kind, obj, arg in ops:
            if kind == "param":
                undo.append(("param", obj, obj.value))
                obj.set_value(arg)
                touched.params.append(obj)
            elif kind == "fix":
                undo.append(("var", obj, (obj.fixed, obj.value)))
                obj.fix(arg)
                touched.variables.append(obj)
            elif kind == "unfix":
                undo.append(("var", obj, (obj.fixed, obj.value)))
                obj.unfix()
                touched.variables.append(obj)
            elif kind == "rhs":
                undo.append(("expr", obj, obj.expr))
                lo, body, up = obj.lower, obj.body, obj.upper
                if obj.equality:
                    obj.set_value(body == lo + arg)
                else:
                    obj.set_value((None if lo is None else lo + arg, body, None if up is None else up + arg))
                touched.constraints.append(obj)
            elif kind in ("active", "retire"):
                datas = list(obj.values()) if obj.is_indexed() else [obj]
                # activating an entry of an indexed component activates the component too
                # (Pyomo): its own flag is restored after the entries'
                parent = obj.parent_component()
                if parent is not obj or obj.is_indexed():
                    undo.append(("flag", parent, parent._active))
                for d in datas:
                    undo.append(("active", d, d.active))
                    d.activate() if arg else d.deactivate()
                    _touch_active(d, touched)
            else:  # pragma: no cover - internal
                raise ValueError(kind)
    except Exception:
        _undo(undo)
        raise
    return undo


def _touch_active(obj, touched):
    if isinstance(obj, pyo.Block) or hasattr(obj, "component_data_objects"):
        touched.blocks.append(obj)
    else:
        touched.constraints.append(obj)


def _undo(undo, touched=None):
    for kind, obj, old in reversed(undo):
        if kind == "param":
            obj.set_value(old)
            if touched is not None:
                touched.params.append(obj)
        elif kind == "var":
            fixed, value = old
            obj.set_value(value, skip_validation=True)
            obj.fixed = fixed
            if touched is not None:
                touched.variables.append(obj)
        elif kind == "expr":
            obj.set_value(old)
            if touched is not None:
                touched.constraints.append(obj)
        elif kind == "active":
            obj.activate() if old else obj.deactivate()
            if touched is not None:
                _touch_active(obj, touched)
        elif kind == "flag":   # an indexed component's own flag (its entries are restored)
            obj._active = old


def _check_blocks(ops):
    """Cross-parameter rules of every block whose parameters the operations change, and no
    participant deactivated with a free injection (it stays in the balance the market built:
    it must inject nothing, which its withdrawal rule ensures)."""
    seen = {}
    for kind, obj, arg in ops:
        if kind == "param":
            blk = owner(obj.parent_component())
            if blk is not None:
                seen[id(blk)] = blk
        elif kind == "active" and not arg and hasattr(obj, "withdrawal"):
            from pyomo.core.expr.visitor import identify_variables
            for t in obj.p_inj:
                free = [v.name for v in identify_variables(obj.p_inj[t].expr) if not v.fixed]
                if free or abs(pyo.value(obj.p_inj[t])) > 1e-12:
                    raise InputError(f"what-if: deactivating participant '{obj.name}' leaves it injecting "
                                     f"in period {t} (free: {', '.join(free[:3]) or 'a constant'}); use "
                                     f"withdraw({obj.name!r}), its withdrawal rule")
    for blk in seen.values():
        blk.check_params()


def snapshot(model):
    """Every variable's value and fixed flag and the ``dual`` suffix of ``model``."""
    vals = [(v, v.value, v.fixed) for v in model.component_data_objects(pyo.Var, descend_into=True)]
    duals = []
    b = model
    while b is not None:   # the suffix may live on an enclosing block
        suffix = b.component("dual")
        if isinstance(suffix, pyo.Suffix):
            duals = (suffix, list(suffix.items()))
            break
        b = b.parent_block()
    basis = {mk: mk._pricing_basis for mk in _markets(model)}
    return vals, duals, basis


def restore(model, snap):
    """Put back what :func:`snapshot` saved (a suffix created since is emptied)."""
    vals, duals, basis = snap
    for v, x, fixed in vals:
        v.set_value(x, skip_validation=True)
        v.fixed = fixed
    suffix = model.component("dual")
    if duals:
        suffix, items = duals
        suffix.clear()
        for c, d in items:
            suffix[c] = d
    elif isinstance(suffix, pyo.Suffix):
        suffix.clear()
    for mk, b in basis.items():
        mk._pricing_basis = b


def _markets(model):
    from pyomo_ecc.core.market import markets_in
    return markets_in(model)


@contextmanager
def applied(model, changes, keep_solution=False):
    """Apply ``changes`` to ``model`` for the duration of the block; restore everything after
    (parameters, fixed flags, bounds, active flags, constraint expressions, and — unless
    ``keep_solution`` — every variable value and the duals).

    >>> import pyomo_ecc as ecc
    >>> m = ecc.Market()
    >>> m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
    >>> m.d = ecc.FixedLoad(bus="A", p=60)
    >>> with applied(m, [SetParam(m.d.p_load, 80)]):
    ...     _ = ecc.solve(m)
    ...     m.g.p[0].value
    80.0
    >>> m.d.p_load[0].value, m.g.p[0].value
    (60.0, 0.0)
    """
    ops = resolve(model, changes)
    snap = None if keep_solution else snapshot(model)
    undo = _apply(ops, Touched())
    try:
        _check_blocks(ops)
        yield ops
    finally:
        _undo(undo)
        if snap is not None:
            restore(model, snap)


__all__ = ["SetParam", "Fix", "Unfix", "MoveRHS", "Activate", "Deactivate", "Withdraw", "withdraw",
           "set_param", "applied", "snapshot", "restore", "resolve", "Touched"]
