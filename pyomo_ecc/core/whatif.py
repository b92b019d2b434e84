r"""What-ifs: solve the same model many times with small changes, fast, and never lose it.

A what-if is a list of typed *changes* applied to a built model, solved, and undone:

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

Changes name their component (``m.g.p_max`` or the string ``"g.p_max"``), so they can be sent to
worker processes. :class:`WhatIf` compiles the model once into its standard form
(:mod:`~pyomo_ecc.core.standard_form`) and a live HiGHS model; each what-if pushes only the
numbers it changes and re-solves warm from the base solution's basis, so the result of a
what-if never depends on which ran before it (serial and parallel runs agree). Each what-if
gives an :class:`Outcome` (status, objective, requested prices and values, or the reason it has
none): an infeasible or failed what-if is a record, and the loop goes on. The model itself is
left exactly as it was: values, duals, parameters, bounds, fixed and active flags.

A what-if in three lines::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.core.whatif import WhatIf, SetParam, withdraw
    >>> m = ecc.load_case("seed001_3bus").build()
    >>> w = WhatIf(m)                                            # compile and solve once
    >>> out = w.run([withdraw(m.G6)], prices=["lmp"])            # G6 out of the market
    >>> out.status, round(out.objective - w.base.objective, 2)  # the cost rises (yuan)
    ('optimal', 2197050.85)

Independent what-ifs fan out with :meth:`WhatIf.run_many` (``backend="serial"``,
``"processes"`` or ``"dask"``); workers rebuild the model from a *recipe* (a picklable callable
that returns the built model, e.g. :class:`CaseRecipe`). Models other solvers take (Ipopt, or any
Pyomo solver) are solved afresh per what-if inside :func:`applied`, which restores the model.
"""
import math
import operator
import pickle
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.params import checked_value, owner
from pyomo_ecc.errors import EccError, InfeasibleMarketError, InputError, ModelError, SolverError


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
            from pyomo_ecc.core.block import retired_component
            retired = retired_component(model, name)
            if retired:
                raise InputError(f"what-if: {retired}")
            raise InputError(f"what-if: model '{model.name}' has no {kind} called '{name}'")
        cache[name] = comp
    return comp


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
        # its own deactivation is a "retire": the rule fixed what it injects (no check needed)
        ops = [("retire", op[1], False) if op[0] == "active" and op[1] is blk else op
               for ch in rule() for op in ch.ops(model)]
        blk.__dict__["_ecc_withdrawal"] = ops
        return ops


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


# -- outcomes --------------------------------------------------------------------------------
@dataclass
class Outcome:
    """The record of one what-if.

    ``status``: ``"optimal"``, ``"infeasible"`` or ``"error"``; ``objective`` in the model's own
    sense (NaN without a solution); ``prices``: ``{name: Series}`` indexed as
    :func:`~pyomo_ecc.pricing.prices.price_frame`; ``values``: ``{key: float}`` of the requested
    expressions; ``reason``: why there is no solution (the solver's own words, or the conflicting
    constraints), empty when optimal; ``route``: how it was solved.
    """

    name: object = None
    status: str = "optimal"
    objective: float = float("nan")
    prices: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    reason: str = ""
    route: str = ""
    solution: object = field(default=None, repr=False)

    @property
    def ok(self):
        return self.status == "optimal"


def outcomes_frame(outcomes):
    """Outcomes as a DataFrame indexed ``whatif`` (status, objective, reason, route, values)."""
    rows = []
    for o in outcomes:
        row = {"whatif": o.name, "status": o.status, "objective": o.objective, "reason": o.reason,
               "route": o.route}
        row.update(o.values)
        rows.append(row)
    return pd.DataFrame(rows).set_index("whatif")


# -- the engine ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseRecipe:
    """A picklable recipe that builds a case of the library (or a case file) for workers."""

    case: str

    def __call__(self):
        from pyomo_ecc.io.cases import load_case
        return load_case(self.case).build()


class WhatIf:
    """Solve ``model`` once, then what-ifs on it (module doc).

    ``model``: a built model, or a recipe (a callable returning one; needed to fan out over
    processes or Dask unless the model pickles). ``solver``: ``"highs"`` (incremental, the
    default) or any name :func:`pyomo_ecc.solve` takes (solved afresh per what-if).
    ``fallback``: solver names tried, in order, when HiGHS fails on a what-if (e.g. its QP
    solver on a badly scaled model); the outcome's ``route`` says which one answered.

    A parameter set on the model between what-ifs (outside the engine) is followed: a what-if
    solves the model as it stands. Bounds, fixings, activity or constraints changed outside the
    engine are not seen until :meth:`sync`.
    """

    def __init__(self, model, solver="highs", options=None, fallback=("highs-cold", "ipopt")):
        self.recipe = None if hasattr(model, "component_data_objects") else model
        self.model = model if self.recipe is None else model()
        self.solver = solver
        self.options = dict(options or {})
        self.fallback = tuple(fallback)
        self.sf = self.live = self._basis = None
        self.recompiles = 0
        from pyomo_ecc.core.market import assemble_all
        assemble_all(self.model)
        self._compile()
        self.base = self.run([], name="base")
        if not self.base.ok:
            raise SolverError(f"the base model '{self.model.name}' has no solution "
                              f"({self.base.status}: {self.base.reason})", termination=self.base.status)

    # -- compile ---------------------------------------------------------------------------
    def _compile(self):
        from pyomo_ecc.core.standard_form import NotStandardForm, standard_form
        from pyomo_ecc.solvers import HighsModel
        self.sf = self.live = self._basis = None
        self._parts, self._stacked, self._price_maps = {}, {}, {}
        if self.solver != "highs":
            return
        try:
            self.sf = standard_form(self.model)
        except NotStandardForm:
            return
        self.live = HighsModel(self.sf, self.options)

    @property
    def incremental(self):
        """True when what-ifs are solved on the live HiGHS model."""
        return self.live is not None

    # -- running ---------------------------------------------------------------------------
    def run(self, changes=(), prices=(), values=None, name=None, diagnose=False, keep_solution=False):
        """Apply ``changes``, solve, record, undo: an :class:`Outcome`.

        ``prices``: price names (``"lmp"``, ``"carbon_price"``, ...) to report; ``values``:
        ``{key: expression}`` (e.g. participants' ``bid_cost``) evaluated at the solution;
        ``diagnose``: name the conflicting constraints of an infeasible what-if (costs an
        elastic solve); ``keep_solution``: keep the solution in the outcome (for
        :meth:`evaluate`). Invalid changes raise :class:`~pyomo_ecc.errors.InputError`.
        """
        values = dict(values or {})
        ops = resolve(self.model, changes)
        if self.incremental:
            self._follow_outside_changes()
        touched = Touched()
        undo = _apply(ops, touched)
        try:
            _check_blocks(ops)
            out = self._solve(touched, prices, values, diagnose, keep_solution)
        finally:
            back = Touched()
            _undo(undo, back)
            if self.incremental:
                self._push(back)
        if self.incremental and self._basis is None:   # the base solution's basis, for warm starts
            if ops or not out.ok:
                self.live.run()
            self._basis = self.live.basis()
        out.name = name
        return out

    def _follow_outside_changes(self):
        """Push parameters set on the model since the last what-if (outside the engine), so a
        what-if always solves the model as it stands. Other changes made outside the engine
        (bounds, fixings, activity, rewritten constraints) need :meth:`sync`."""
        moved = self.sf.moved_params()
        if moved:
            t = Touched()
            t.params = moved
            self._push(t)
            self._basis = None   # the base changed: its basis is re-read after this what-if

    def sync(self):
        """Follow every change made to the model outside the engine (a full comparison of the
        compiled form with the model; recompiles when the structure changed) and solve the new
        base; returns it (also :attr:`base`)."""
        from pyomo_ecc.core.standard_form import StructureChanged
        if self.incremental:
            try:
                self.live.apply(self.sf.update())
            except StructureChanged:
                self.recompiles += 1
                self._compile()
            self._basis = None
        self.base = self.run([], name="base")
        return self.base

    def _push(self, touched):
        from pyomo_ecc.core.standard_form import StructureChanged
        try:
            delta = self.sf.update(**touched.as_kwargs())
        except StructureChanged:
            self.recompiles += 1
            self._compile()
            return
        self.live.apply(delta)

    def _solve(self, touched, prices, values, diagnose, keep=False):
        if not self.incremental:
            return self._solve_fresh(self.solver, prices, values, diagnose, keep)
        self._push(touched)
        if not self.incremental:   # the recompile found no standard form
            return self._solve_fresh(self.solver, prices, values, diagnose, keep)
        run = self.live.run(self._basis)
        route = "highs-incremental"
        if run.status not in ("optimal", "infeasible"):
            first = run.highs_status
            tried = [f"highs: {first}"]
            for alt in self.fallback:
                if alt == "highs-cold":
                    from pyomo_ecc.solvers import HighsModel
                    run = HighsModel(self.sf, self.options).run()
                    route = "highs-cold"
                    if run.status in ("optimal", "infeasible"):
                        break
                    tried.append(f"highs-cold: {run.highs_status}")
                else:
                    out = self._solve_fresh(alt, prices, values, diagnose, keep)
                    if out.status != "error":
                        out.route = f"{alt} (HiGHS: {first})"
                        return out
                    tried.append(f"{alt}: {out.reason}")
            else:
                return Outcome(status="error", reason="no solver answered: " + "; ".join(tried),
                               route=route)
        if run.status == "infeasible":
            return Outcome(status="infeasible", reason=self._why_infeasible(diagnose, run.highs_status),
                           route=route)
        bad = self._violated(run.x, run.highs_status)
        if bad:
            return Outcome(status="error", reason=bad, route=route)
        if prices and run.row_dual is None:
            # a MILP has no row duals: its prices are those of the LP with the integers fixed,
            # which the solver layer computes (and verifies) on the changed model
            out = self._solve_fresh(self.solver, prices, values, diagnose, keep)
            out.route = f"{self.solver} (MILP: LP with integers fixed)"
            return out
        if run.highs_status.startswith("Optimal with"):
            route += f" ({run.highs_status})"
        x = run.x
        out = Outcome(status="optimal", objective=run.objective, route=route,
                      solution=x.copy() if keep else None)
        out.values = self._values(values, x)
        for name in ([prices] if isinstance(prices, str) else prices):
            out.prices[name] = self._prices(name, run.row_dual)
        return out

    def evaluate(self, expr, outcome):
        """Value of ``expr`` (with the parameters' current values) at the solution of
        ``outcome`` (run with ``keep_solution=True``)."""
        if outcome.solution is None:
            raise ModelError("the outcome keeps no solution: run the what-if with keep_solution=True")
        if isinstance(outcome.solution, np.ndarray):
            return self.sf.evaluate(self.sf.expression(expr), outcome.solution)
        saved = [(v, v.value) for v, _ in outcome.solution]
        try:
            for v, x in outcome.solution:
                v.set_value(x, skip_validation=True)
            return float(pyo.value(expr))
        finally:
            for v, x in saved:
                v.set_value(x, skip_validation=True)

    #: largest accepted violation of a row or bound, relative to max(1, |bound|)
    FEASIBILITY_TOL = 1e-6

    def _violated(self, x, status):
        """Why the solution ``x`` is not accepted (empty when it satisfies every row and bound)."""
        v, what = self.sf.worst_violation(x)
        if v <= self.FEASIBILITY_TOL:
            return ""
        kind, k = what
        name = self.sf.rows[k].name if kind == "row" else f"the bounds of {self.sf.columns[k].name}"
        return (f"the solver reported '{status}' but its solution violates {name} by {v:.3g} "
                f"(relative); not accepted")

    def _values(self, values, x):
        """``{key: value of expr at x}`` for ``values = {key: expr}``: one sparse product for the
        linear parts of all of them, cached while their parameters keep their values."""
        if not values:
            return {}
        from pyomo.core.expr.visitor import identify_mutable_parameters
        exprs = list(values.values())
        key = tuple(id(e) for e in exprs)
        hit = self._stacked.get(key)
        if hit is None or list(map(_VALUE, hit[0])) != hit[1]:
            import scipy.sparse as sp
            parts = [self.sf.expression(e) for e in exprs]
            params = list({id(p): p for e in exprs for p in identify_mutable_parameters(e)}.values())
            C = sp.csr_array(np.vstack([p[1] for p in parts]))
            quad = [(k, p[2]) for k, p in enumerate(parts) if p[2].nnz]
            hit = self._stacked[key] = (params, list(map(_VALUE, params)), C,
                                        np.array([p[0] for p in parts]), quad)
        _, _, C, c0, quad = hit
        v = c0 + C @ x
        for k, Q in quad:
            v[k] += 0.5 * x @ (Q @ x)
        return dict(zip(values.keys(), (float(a) for a in v)))

    def _expression(self, expr):
        """The standard-form parts of ``expr``, cached while its parameters keep their values."""
        from pyomo.core.expr.visitor import identify_mutable_parameters
        key = id(expr)
        hit = self._parts.get(key)
        if hit is not None and all(p.value == v for p, v in hit[2]):
            return hit[1]
        params = hit[3] if hit is not None else list(identify_mutable_parameters(expr))
        parts = self.sf.expression(expr)
        self._parts[key] = (expr, parts, [(p, p.value) for p in params], params)
        return parts

    def _prices(self, name, row_dual):
        """The prices ``name`` from the row duals: the normalisation of
        :func:`~pyomo_ecc.pricing.prices.price_series`, read once (a unit dual gives each
        price's factor sign / weight) and applied as one vector product afterwards."""
        hit = self._price_maps.get(name)
        if hit is None:
            from pyomo_ecc.pricing.prices import price_series
            order = []
            unit = price_series(self.model, name, lambda c: (order.append(c), 1.0)[1])
            rows = np.array([self.sf.row_index.get(c, -1) for c in order], dtype=int)
            hit = self._price_maps[name] = (rows, unit.to_numpy(dtype=float), unit.index)
        rows, factor, index = hit
        duals = np.where(rows >= 0, row_dual[np.maximum(rows, 0)], 0.0) if len(rows) else np.zeros(0)
        return pd.Series(factor * duals, index=index, name=name)

    def _why_infeasible(self, diagnose, status):
        if not diagnose:
            return f"infeasible ({status})"
        from pyomo_ecc.solvers import diagnose_infeasibility
        conflicts = diagnose_infeasibility(self.model)
        if conflicts is None or conflicts.empty:
            return f"infeasible ({status}); no diagnosis found"
        return "infeasible: " + "; ".join(f"{c} by {v:.6g}" for c, v in conflicts["violation"].items())

    def _solve_fresh(self, solver, prices, values, diagnose, keep=False):
        """Solve the changed model with ``solver`` through :func:`pyomo_ecc.solve`; the model's
        values and duals are restored by the caller's undo and here."""
        from pyomo_ecc.solvers import Solver
        snap = snapshot(self.model)
        try:
            try:
                res = Solver(solver, options=self.options if solver == self.solver else None).solve(
                    self.model, diagnose=diagnose)
            except InfeasibleMarketError as e:
                return Outcome(status="infeasible", reason=str(e).split("\n", 1)[-1].strip()
                               if diagnose else "infeasible", route=solver)
            except SolverError as e:
                if e.termination == "infeasible":
                    return Outcome(status="infeasible", reason=str(e), route=solver)
                return Outcome(status="error", reason=str(e), route=solver)
            except EccError as e:
                return Outcome(status="error", reason=str(e), route=solver)
            if self.sf is not None:
                bad = self._violated(self.sf.values(), res.termination)
                if bad:
                    return Outcome(status="error", reason=f"{solver}: {bad}", route=solver)
            out = Outcome(status="optimal", objective=res.objective, route=solver)
            if keep:
                out.solution = [(v, v.value) for v in self.model.component_data_objects(
                    pyo.Var, descend_into=True)]
            for key, expr in values.items():
                out.values[key] = float(pyo.value(expr))
            from pyomo_ecc.pricing.prices import price_series
            for name in ([prices] if isinstance(prices, str) else prices):
                out.prices[name] = price_series(self.model, name)
            return out
        finally:
            restore(self.model, snap)

    # -- fan-out ---------------------------------------------------------------------------
    def run_many(self, scenarios, prices=(), values=None, backend="serial", workers=None,
                 address=None, progress=True, diagnose=False):
        """Run independent what-ifs: ``scenarios`` is ``{name: changes}`` (or a list of change
        lists, named by position). ``backend``: ``"serial"``, ``"processes"`` (``workers`` local
        processes) or ``"dask"`` (a Dask distributed cluster at ``address``, or a
        ``LocalCluster`` with ``workers`` workers started here). ``values`` are given by name
        (``{key: "g.bid_cost"}``) or as expressions of this model. Returns outcomes in the order
        of ``scenarios``; every backend gives the same numbers."""
        items = list(scenarios.items()) if isinstance(scenarios, dict) else list(enumerate(scenarios))
        values = {k: _name(v) for k, v in (values or {}).items()}
        prices = [prices] if isinstance(prices, str) else list(prices)
        if backend == "serial":
            from pyomo_ecc.core.progress import tqdm
            named = {k: self.model.find_component(v) for k, v in values.items()}
            return [self.run(ch, prices, named, name, diagnose)
                    for name, ch in tqdm(items, desc="what-ifs", disable=not progress)]
        recipe = self._recipe()
        job = _Job(recipe, self.solver, self.options, self.fallback, prices, values, diagnose)
        chunks = _chunks(items, workers or 2)
        if backend == "processes":
            from concurrent.futures import ProcessPoolExecutor
            from pyomo_ecc.core.progress import tqdm
            with ProcessPoolExecutor(max_workers=workers or 2) as ex:
                futs = [ex.submit(job, c) for c in chunks]
                done = [f.result() for f in tqdm(futs, desc="what-ifs", disable=not progress)]
        elif backend == "dask":
            done = _dask_map(job, chunks, address, workers, progress)
        else:
            raise InputError(f"unknown backend {backend!r}; choose 'serial', 'processes' or 'dask'")
        return [o for chunk in done for o in chunk]

    def _recipe(self):
        if self.recipe is not None:
            return self.recipe
        try:
            pickle.dumps(self.model)
        except Exception as e:
            raise ModelError(f"model '{self.model.name}' cannot be sent to worker processes ({e}); "
                             f"give WhatIf a recipe instead: a picklable callable that builds it, "
                             f"e.g. WhatIf(CaseRecipe('seed001_3bus'))") from None
        return _Pickled(pickle.dumps(self.model))


@dataclass(frozen=True)
class _Pickled:
    data: bytes

    def __call__(self):
        return pickle.loads(self.data)


_WORKER_ENGINES = {}


@dataclass(frozen=True)
class _Job:
    """What a worker runs: build (once per worker) the engine from the recipe, run a chunk."""

    recipe: object
    solver: str
    options: dict
    fallback: tuple
    prices: list
    values: dict
    diagnose: bool

    def __call__(self, chunk):
        key = pickle.dumps((self.recipe, self.solver, sorted(self.options.items()), self.fallback))
        eng = _WORKER_ENGINES.get(key)
        if eng is None:
            eng = _WORKER_ENGINES[key] = WhatIf(self.recipe, self.solver, self.options, self.fallback)
        named = {k: eng.model.find_component(v) for k, v in self.values.items()}
        return [eng.run(ch, self.prices, named, name, self.diagnose) for name, ch in chunk]


def _chunks(items, k):
    """``items`` in ``k`` contiguous chunks (concatenated back in order)."""
    k = max(1, min(k, len(items)))
    bounds = np.linspace(0, len(items), k + 1).round().astype(int)
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _dask_map(job, chunks, address, workers, progress):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ModelError("backend='dask' needs the 'dist' extra (pip install pyomo_ecc[dist])") from None
    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futs = client.map(job, chunks, pure=False)
        if progress:
            from pyomo_ecc.core.progress import tqdm
            from distributed import as_completed
            for _ in tqdm(as_completed(futs), total=len(futs), desc="what-ifs"):
                pass
        return client.gather(futs)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


#: names of load parameters, on fixed loads and on networks (bus loads)
LOAD_PARAMS = ("p_load", "q_load")


def scale_loads(model, factor):
    """Changes that multiply every load of ``model`` by ``factor``: fixed loads' ``p_load`` and
    the networks' bus loads (``p_load``, ``q_load``)."""
    from pyomo_ecc.core.market import markets_in
    changes = []
    for mk in markets_in(model):
        blocks = [p for p in mk.participants() if p.fixed_injection]
        net = mk.get_network()
        if net is not None:
            blocks.append(net)
        for blk in blocks:
            for name in LOAD_PARAMS:
                prm = blk.component(name)
                if isinstance(prm, pyo.Param) and prm.mutable:
                    changes.append(SetParam(prm, {k: factor * prm[k].value for k in prm}))
    return changes


def sweep(param, values_list):
    """Scenarios ``{value: [SetParam(param, value)]}`` for :meth:`WhatIf.run_many`."""
    return {v: [SetParam(param, v)] for v in values_list}


__all__ = ["SetParam", "Fix", "Unfix", "MoveRHS", "Activate", "Deactivate", "Withdraw", "withdraw",
           "set_param", "applied", "snapshot", "restore", "Outcome", "outcomes_frame", "WhatIf",
           "CaseRecipe", "sweep", "scale_loads", "resolve"]
