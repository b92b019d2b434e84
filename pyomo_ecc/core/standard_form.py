r"""The public standard form of a model's active part, kept up to date without recompiling.

.. math::

    \min_x\ c_0 + c^\top x + \tfrac12\,x^\top Q x \quad\text{s.t.}\quad
    r^{lo} \le A x \le r^{up}, \qquad l \le x \le u, \qquad x_j \in \mathbb{Z}\ (j \in I)

=============================  ===========================  ==========================================
symbol                         attribute                    meaning
=============================  ===========================  ==========================================
:math:`x_j`                    ``columns[j]``               the Pyomo variable of column j
:math:`l, u`                   ``col_lower``, ``col_upper``  bounds (:math:`\pm\infty`); a fixed
                                                            variable has :math:`l_j = u_j` = its value
:math:`I`                      ``integer``                  integer columns (bool array)
:math:`A`                      ``A``                        ``scipy.sparse.csr_array`` (m, n)
:math:`r^{lo}, r^{up}`         ``row_lower``, ``row_upper``  row bounds; equal for an equality; free
                                                            (:math:`\pm\infty`) for an inactive row
row i                          ``rows[i]``                  its constraint (one row per constraint)
:math:`c, Q, c_0`              ``c``, ``Q``, ``c0``         objective in *minimisation* sense
                                                            (a maximised objective is negated;
                                                            ``sense`` is -1 then); Q symmetric
=============================  ===========================  ==========================================

Variables are columns whether they are fixed or not (fixing one only moves its bounds), every
active constraint is a row (deactivating one frees its bounds), so the structure survives the
what-ifs of :mod:`pyomo_ecc.whatif`. Mutable parameters stay symbolic: the form remembers
which rows, objective terms and bounds each parameter enters, and :meth:`StandardForm.update`
re-evaluates only those, returning what changed (a :class:`Delta`) for an incremental solver.
A change the form cannot follow (a new constraint or variable, a constraint rewritten with other
variables) raises :class:`StructureChanged`: compile again.

>>> import pyomo_ecc as ecc
>>> m = ecc.Market()
>>> m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
>>> m.d = ecc.FixedLoad(bus="A", p=60)
>>> sf = standard_form(m)
>>> sf.A.shape, float(sf.c[sf.col_index[m.g.p[0]]])
((3, 1), 10.0)
>>> m.g.b = 12.0
>>> delta = sf.update()
>>> float(sf.c[sf.col_index[m.g.p[0]]]), delta.cost.tolist()
(12.0, [0])
"""
import operator
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.common.collections import ComponentMap, ComponentSet
from pyomo.core.expr.numvalue import is_constant
from pyomo.core.expr.visitor import identify_mutable_parameters, identify_variables
from pyomo.repn import generate_standard_repn
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from pyomo_ecc.core.heap import frozen_heap
from pyomo_ecc.errors import ModelError

INF = np.inf
_VALUE = operator.attrgetter("_value")


#: attribute a block sets on a Var component whose bounds are a solver aid only (they never
#: bind at a meaningful solution, e.g. the B-theta angles of :mod:`pyomo_ecc.network.dc`): a
#: solver may try the problem without them first (see :meth:`StandardForm.aid_columns`)
AID_BOUNDS = "_ecc_aid_bounds"


def mark_aid_bounds(var, bounds):
    """Mark the bounds ``(lower, upper)`` that the Var component ``var`` was given as a solver
    aid (:data:`AID_BOUNDS`): a column's lower (upper) bound counts as an aid only while it
    equals ``lower`` (``upper``), so a bound the user sets on one of its variables is kept."""
    lo, up = bounds
    setattr(var, AID_BOUNDS, (float(lo), float(up)))


class StructureChanged(ModelError):
    """The model changed in a way the compiled form cannot follow; compile it again."""


class NotStandardForm(ModelError):
    """The active model is not linear / quadratic (e.g. an AC power flow): no standard form."""


@dataclass
class Delta:
    """What :meth:`StandardForm.update` changed: indices into columns / rows, whether the
    quadratic part changed, and coefficient changes ``(row, col, value)``."""

    col_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    row_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    cost: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    coefs: list = field(default_factory=list)
    hessian: bool = False
    offset: bool = False

    def __bool__(self):
        return bool(len(self.col_bounds) or len(self.row_bounds) or len(self.cost) or self.coefs
                    or self.hessian or self.offset)


def active_objective(model, error=ModelError):
    """The single active objective of ``model``; ``error`` (naming the count) otherwise."""
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objs) != 1:
        raise error(f"model '{model.name}' has {len(objs)} active objectives; need exactly one "
                    f"(did you assemble the market? pyomo_ecc.solve assembles it)")
    return objs[0]


def _effective_active(blk, cache):
    """Is ``blk`` and every block above it active (memoised in ``cache`` by id)."""
    key = id(blk)
    if key not in cache:
        parent = blk.parent_block()
        cache[key] = blk.active and (parent is None or _effective_active(parent, cache))
    return cache[key]


def _bound(x):
    return None if x is None else float(x)


class StandardFormData:
    """The matrices of a standard form without a model behind them (e.g. an elastic
    relaxation built from another form); :class:`StandardForm` is one with a model."""

    sense = 1.0
    c0 = 0.0
    constant_rows = ()

    def __init__(self, A, row_lower, row_upper, col_lower, col_upper, c, integer=None, Q=None, c0=0.0):
        n = A.shape[1]
        self.A = sp.csr_array(A)
        self.row_lower, self.row_upper = np.asarray(row_lower, float), np.asarray(row_upper, float)
        self.col_lower, self.col_upper = np.asarray(col_lower, float), np.asarray(col_upper, float)
        self.c = np.asarray(c, dtype=float)
        self.integer = np.zeros(n, dtype=bool) if integer is None else np.asarray(integer, dtype=bool)
        self.Q = sp.csr_array((n, n)) if Q is None else sp.csr_array(Q)
        self.c0 = float(c0)

    @property
    def n(self):
        return self.A.shape[1]

    @property
    def m(self):
        return self.A.shape[0]

    @property
    def quadratic(self):
        return self.Q.nnz > 0

    def objective_value(self, x):
        """The objective (in the model's own sense) at ``x``."""
        quad = 0.5 * x @ (self.Q @ x) if self.Q.nnz else 0.0
        return self.sense * float(self.c0 + self.c @ x + quad)

    def worst_violation(self, x, tol=None):
        """``(scaled violation, what)`` of the worst row or column bound at ``x``: the violation
        divided by max(1, |bound|), and the row (``("row", i)``) or column (``("col", j)``); a
        NaN value against a finite bound counts as an infinite violation.

        With ``tol``: ``(0.0, None)`` as soon as no absolute violation exceeds ``tol`` (the
        scaled violation is at most the absolute one, so nothing above ``tol`` is missed); the
        scaled pass runs only when some bound is violated by more than ``tol``."""
        best = (0.0, None)
        checks = [("col", self.col_lower, self.col_upper, x)] if self.n else []
        if self.m:
            checks.insert(0, ("row", self.row_lower, self.row_upper, self.A @ x))
        if tol is not None:   # -inf / +inf bounds give -inf gaps here, never NaN for finite values
            worst = [float(np.max(np.maximum(lo - val, val - up), initial=-INF))
                     for _, lo, up, val in checks]
            if all(w <= tol for w in worst):   # a NaN value falls through to the scaled pass
                return best
        for what, lower, upper, val in checks:
            for bound, gap in ((lower, lower - val), (upper, val - upper)):
                finite = np.isfinite(bound)
                v = np.where(finite, gap, 0.0) / np.maximum(1.0, np.abs(np.where(finite, bound, 0.0)))
                v[np.isnan(v)] = INF   # a value that is not a number violates every finite bound
                k = int(np.argmax(v))
                if v[k] > best[0]:
                    best = (float(v[k]), (what, k))
        return best

    def violation(self, x):
        """Largest violation of the rows and column bounds at ``x`` (absolute, model units)."""
        v = 0.0
        if self.m:
            ax = self.A @ x
            v = max(v, float(np.max(np.maximum(self.row_lower - ax, ax - self.row_upper), initial=0.0)))
        if self.n:
            v = max(v, float(np.max(np.maximum(self.col_lower - x, x - self.col_upper), initial=0.0)))
        return v


class StandardForm(StandardFormData):
    """The standard form of ``model``'s active part (see the module doc)."""

    def __init__(self, model, track=True):
        from pyomo_ecc.core.market import assemble_all

        assemble_all(model)
        self.model = model
        self.objective = active_objective(model)
        self.sense = 1.0 if self.objective.sense == pyo.minimize else -1.0
        fixed = [v for v in model.component_data_objects(pyo.Var, descend_into=True) if v.fixed]
        # compile with every variable free (fixing is a bound) and without the objective (it may
        # be quadratic, which the linear compiler refuses): both are restored in any case
        for v in fixed:
            v.unfix()
        self.objective.deactivate()
        try:
            try:
                info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
            except Exception as e:
                raise NotStandardForm(f"model '{model.name}' is not linear in its constraints: {e}") from None
        finally:
            self.objective.activate()
            for v in fixed:
                v.fix()
        self._init_columns(list(info.columns))
        self._init_rows(info)
        self._init_objective()
        self._deps = None          # parameter -> (rows, terms, cols)
        self._row_sym, self._term_sym = {}, {}   # rows / objective terms kept symbolic, when needed
        self._row_eval = None                    # parameter rows compiled so far, in chunks
        if track:
            self._build_deps()

    # -- compile -------------------------------------------------------------------------------
    def _init_columns(self, cols):
        self.columns = cols
        self.col_index = ComponentMap((v, j) for j, v in enumerate(cols))
        self._col_of = {id(v): j for j, v in enumerate(cols)}   # the form keeps every column alive

    def _add_column(self, v):
        self._col_of[id(v)] = len(self.columns)
        self.col_index[v] = len(self.columns)
        self.columns.append(v)

    def _init_rows(self, info):
        A = info.A.tocsr() if info.A.shape[0] else sp.csr_array((0, len(self.columns)))
        rows, first, lo, up = [], [], [], []
        where = ComponentMap()
        for k, (r, rhs) in enumerate(zip(info.rows, info.rhs)):
            con = r.constraint
            i = where.get(con)
            if i is None:
                i = where[con] = len(rows)
                rows.append(con)
                first.append(k)
                lo.append(-INF)
                up.append(INF)
            if r.bound_type <= 0:
                lo[i] = float(rhs)
            if r.bound_type >= 0:
                up[i] = float(rhs)
        self.rows = rows
        self.row_index = where
        self._row_of = {id(c): i for i, c in enumerate(rows)}   # the form keeps every row alive
        self.A = sp.csr_array(A[first]) if first else sp.csr_array((0, len(self.columns)))
        self.row_lower = np.array(lo, dtype=float)
        self.row_upper = np.array(up, dtype=float)
        # bounds that the compiler folded in: the constant of the body is part of rhs already
        self._row_expr = [id(c.expr) for c in rows]
        self._row_on = np.ones(len(rows), dtype=bool)
        self._row_lo_on, self._row_up_on = self.row_lower.copy(), self.row_upper.copy()
        # active constraints with no variable (constants): checked, not solved
        self.constant_rows = [c for c in self.model.component_data_objects(
            pyo.Constraint, active=True, descend_into=True) if c not in where]
        self._ncons = len(rows) + len(self.constant_rows)

    @staticmethod
    def _free_repn(expr, quadratic=False, compute_values=True):
        """``generate_standard_repn`` with every variable of ``expr`` a variable (a fixed one is a
        column with equal bounds here, not a constant to fold away)."""
        fixed = [v for v in identify_variables(expr, include_fixed=True) if v.fixed]
        for v in fixed:
            v.unfix()
        try:
            return generate_standard_repn(expr, quadratic=quadratic, compute_values=compute_values)
        finally:
            for v in fixed:
                v.fix()

    def _term_repn(self, expr):
        repn = self._free_repn(expr, quadratic=True)
        if repn.nonlinear_expr is not None:
            raise NotStandardForm(f"the objective of model '{self.model.name}' is not quadratic")
        return repn

    def _init_objective(self):
        expr = self.objective.expr
        from pyomo.core.expr.numeric_expr import SumExpression
        terms = list(expr.args) if isinstance(expr, SumExpression) else [expr]
        self._terms = terms
        self._term_of = {id(t): k for k, t in enumerate(terms)}   # the form keeps them alive
        self._term_params = None   # per term: positions of its parameters (with the deps)
        self._term_parts = []
        for t in terms:
            self._term_parts.append(self._parts(t, add_columns=True))
        self._sync_columns_arrays()
        self._assemble_objective()

    def _parts(self, expr, add_columns=False):
        """(c0, {col: coef}, {(i, j): coef}) of ``expr`` (i <= j) in the column space."""
        repn = self._term_repn(expr)
        lin, quad = {}, {}
        for v, a in zip(repn.linear_vars, repn.linear_coefs):
            if v not in self.col_index:
                if not add_columns:
                    raise StructureChanged(f"variable '{v.name}' is not a column of the compiled form")
                self._add_column(v)
            j = self.col_index[v]
            lin[j] = lin.get(j, 0.0) + float(a)
        for (v, w), a in zip(repn.quadratic_vars, repn.quadratic_coefs):
            for x in (v, w):
                if x not in self.col_index:
                    if not add_columns:
                        raise StructureChanged(f"variable '{x.name}' is not a column of the compiled form")
                    self._add_column(x)
            i, j = sorted((self.col_index[v], self.col_index[w]))
            quad[i, j] = quad.get((i, j), 0.0) + float(a)
        return float(repn.constant), lin, quad

    def _sync_columns_arrays(self):
        n = len(self.columns)
        if self.A.shape[1] < n:
            self.A = sp.csr_array((self.A.data, self.A.indices, self.A.indptr), shape=(self.A.shape[0], n))
        self.integer = np.array([not v.is_continuous() for v in self.columns], dtype=bool)
        lo, up = np.empty(n), np.empty(n)
        for j, v in enumerate(self.columns):
            lo[j], up[j] = self._col_bounds(v)
        self.col_lower, self.col_upper = lo, up

    @staticmethod
    def _col_bounds(v):
        if v.fixed:
            if v.value is None:
                raise ModelError(f"variable '{v.name}' is fixed without a value")
            x = float(v.value)
            return x, x
        lb, ub = v.lb, v.ub
        return (-INF if lb is None else float(lb)), (INF if ub is None else float(ub))

    def _assemble_objective(self):
        n = len(self.columns)
        s = self.sense
        c = np.zeros(n)
        c0 = 0.0
        quad = {}
        for const, lin, q in self._term_parts:
            c0 += const
            for j, a in lin.items():
                c[j] += a
            for ij, a in q.items():
                quad[ij] = quad.get(ij, 0.0) + a
        self.c = s * c
        self.c0 = s * c0
        self.Q = _hessian(quad, n, s)

    # -- reading ------------------------------------------------------------------------------
    def expression(self, expr):
        """``(c0, c, Q)`` of a linear or quadratic expression in the form's column space:
        :math:`c_0 + c^\\top x + \\tfrac12 x^\\top Q x` (not sense-adjusted). A term of the
        objective (e.g. a participant's ``bid_cost``) is read from the form's own parts of it
        while its parameters have the values the form last followed."""
        const, lin, quad = self.expression_parts(expr)
        c = np.zeros(self.n)
        for j, a in lin.items():
            c[j] = a
        return const, c, _hessian(quad, self.n)

    def expression_parts(self, expr):
        """``(c0, {column: coefficient}, {(i, j): coefficient of x_i x_j})`` of ``expr`` (i <= j),
        the sparse form of :meth:`expression`."""
        k = self._term_of.get(id(expr))
        if k is not None and self._term_current(k):
            return self._term_parts[k]
        return self._parts(expr)

    def _term_current(self, k):
        """Do the parameters of objective term k have the values the form last followed?"""
        if self._term_params is None:
            return False
        plist, old = self._param_list, self._param_old
        return all(plist[pos].value == old[pos] for pos in self._term_params[k])

    def evaluate(self, parts, x):
        """Value of ``parts = expression(expr)`` at the column values ``x``."""
        c0, c, Q = parts
        return float(c0 + c @ x + 0.5 * x @ (Q @ x))

    def values(self):
        """Current values of the columns (NaN where a variable has none)."""
        return np.array([np.nan if v.value is None else float(v.value) for v in self.columns])

    def aid_columns(self):
        """``(lower, upper)``: boolean arrays of the columns whose lower / upper bound is only a
        solver aid: the column is not fixed and the bound equals the aid value its Var
        component was marked with (:func:`mark_aid_bounds`)."""
        lo_aid = np.full(len(self.columns), np.nan)
        up_aid = np.full(len(self.columns), np.nan)
        marks = {}
        for j, v in enumerate(self.columns):
            comp = v.parent_component()
            mark = marks.get(id(comp), 0)
            if mark == 0:
                mark = marks[id(comp)] = getattr(comp, AID_BOUNDS, None)
            if mark is not None:
                lo_aid[j], up_aid[j] = mark
        free = self.col_lower < self.col_upper
        return free & (self.col_lower == lo_aid), free & (self.col_upper == up_aid)

    def load(self, x):
        """Write ``x`` into the Pyomo variables (integers rounded)."""
        for v, val, integer in zip(self.columns, x, self.integer):
            if not v.fixed:
                v.set_value(round(val) if integer else float(val), skip_validation=True)

    # -- following changes ----------------------------------------------------------------------
    def _build_deps(self):
        rows, terms, cols = ComponentMap(), ComponentMap(), ComponentMap()

        def note(table, params, k):
            for p in params:
                table.setdefault(p, set()).add(k)

        for i, con in enumerate(self.rows):
            note(rows, identify_mutable_parameters(con.expr), i)
        term_params = []
        for k, t in enumerate(self._terms):
            term_params.append(list(identify_mutable_parameters(t)))
            note(terms, term_params[-1], k)
        for j, v in enumerate(self.columns):
            for b in (v._lb, v._ub):
                if b is not None and not is_constant(b):
                    note(cols, identify_mutable_parameters(b), j)
        self._deps = (rows, terms, cols)
        params = ComponentSet(rows) | ComponentSet(terms) | ComponentSet(cols)
        self._param_list = list(params)
        self._param_old = [p.value for p in self._param_list]   # the values last followed
        empty = frozenset()
        # id(param) -> (its rows, objective terms, columns, position): one dict look-up per
        # parameter in update() (the form keeps every parameter alive, so ids stay unique)
        self._param_hits = {id(p): (rows.get(p, empty), terms.get(p, empty), cols.get(p, empty), k)
                            for k, p in enumerate(self._param_list)}
        self._param_arr = self._param_vector()
        self._term_params = [[self._param_hits[id(p)][3] for p in ps] for ps in term_params]

    def _param_vector(self):
        # ParamData keeps its value in ``_value``: read it directly (the ``value`` property costs
        # ten times more, and this runs before every what-if)
        try:
            return np.fromiter(map(_VALUE, self._param_list), dtype=float, count=len(self._param_list))
        except (TypeError, ValueError):   # a None or non-number value: compared one by one
            return np.array([np.nan if not isinstance(p.value, (int, float)) else float(p.value)
                             for p in self._param_list], dtype=float)

    def moved_params(self):
        """The parameters of the form whose value differs from the one it last followed (set
        outside :meth:`update`, e.g. by a user between what-ifs): one vectorised comparison."""
        if self._deps is None or not self._param_list:
            return []
        now = self._param_vector()
        moved = np.flatnonzero((now != self._param_arr) & ~(np.isnan(now) & np.isnan(self._param_arr)))
        return [self._param_list[k] for k in moved]

    def update(self, params=None, variables=None, constraints=None, blocks=None, memo=None):
        """Bring the form up to date with the model; return the :class:`Delta`.

        With no argument every parameter, column and row is compared with what was compiled (a
        full scan); a what-if that knows what it touched passes ``params`` (ParamData),
        ``variables`` (VarData: fixing, unfixing, bounds), ``constraints`` (ConstraintData:
        activation, a rewritten right-hand side) and ``blocks`` (activation of every row inside).
        ``memo``: a dict the caller keeps while no constraint can be added to the model (e.g.
        during a batch of what-ifs): the rows of each block are then looked up once.
        """
        if self._deps is None:
            raise ModelError("this standard form was compiled with track=False: it cannot follow changes")
        numbers, activity, dirty_terms, dirty_cols = set(), set(), set(), set()
        cache = {}
        if params is None and variables is None and constraints is None and blocks is None:
            self._check_new_constraints()
            params = [p for p, old in zip(self._param_list, self._param_old) if p.value != old]
            dirty_cols = set(range(self.n))
            for i, con in enumerate(self.rows):
                if id(con.expr) != self._row_expr[i]:
                    numbers.add(i)
            activity |= {i for i, con in enumerate(self.rows)
                         if self._row_on[i] != bool(con.active and _effective_active(con.parent_block(), cache))}
        by_params = set()
        hits, old, arr = self._param_hits, self._param_old, self._param_arr
        for p in params or ():
            hit = hits.get(id(p))
            if hit is None:   # a parameter that enters nothing of the active model
                continue
            rows, terms, cols, k = hit
            by_params |= rows
            dirty_terms |= terms
            dirty_cols |= cols
            val = p.value
            old[k] = val
            arr[k] = np.nan if val is None else float(val)
        col_of, row_of = self._col_of, self._row_of
        for v in variables or ():
            j = col_of.get(id(v))
            if j is not None:   # a variable outside the active model changes nothing
                dirty_cols.add(j)
        for c in constraints or ():
            i = row_of.get(id(c))
            if i is None:
                if c.active and _effective_active(c.parent_block(), cache):
                    raise StructureChanged(f"constraint '{c.name}' was not active when the form was compiled")
                continue
            numbers.add(i)
        for b in blocks or ():
            rows = None if memo is None else memo.get(id(b))
            if rows is None:
                rows = self._block_rows(b, cache)
                if memo is not None:
                    memo[id(b)] = rows
            activity.update(rows)
        delta = Delta()
        delta.col_bounds = self._update_cols(sorted(dirty_cols))
        delta.row_bounds, delta.coefs = self._update_rows(numbers, activity - numbers, cache, by_params)
        delta.cost, delta.hessian, delta.offset = self._update_terms(sorted(dirty_terms))
        return delta

    def _block_rows(self, b, cache):
        """The rows of the constraints inside block ``b`` (a constraint active there but not a
        row raises :class:`StructureChanged`)."""
        rows, row_of = [], self._row_of
        for c in b.component_data_objects(pyo.Constraint, descend_into=True):
            i = row_of.get(id(c))
            if i is not None:
                rows.append(i)
            elif c.active and _effective_active(c.parent_block(), cache):
                raise StructureChanged(f"constraint '{c.name}' was not active when the form was compiled")
        return rows

    def _check_new_constraints(self):
        n = sum(1 for _ in self.model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
        if n > self._ncons:
            raise StructureChanged(f"model '{self.model.name}' has {n - self._ncons} active constraint(s) "
                                   f"more than when its form was compiled")
        if active_objective(self.model) is not self.objective:
            raise StructureChanged(f"the active objective of model '{self.model.name}' changed")

    def _update_cols(self, js):
        """Re-read the bounds of the columns ``js`` (sorted); return those that changed."""
        if not len(js):
            return np.zeros(0, dtype=int)
        js = np.asarray(js, dtype=int)
        cols, bounds = self.columns, self._col_bounds
        lo, up = np.array([bounds(cols[j]) for j in js.tolist()], dtype=float).reshape(-1, 2).T
        moved = (lo != self.col_lower[js]) | (up != self.col_upper[js])
        self.col_lower[js], self.col_upper[js] = lo, up
        return js[moved]

    def _update_rows(self, numbers, activity, cache, by_params=()):
        """Re-evaluate the rows in ``numbers`` (coefficients and bounds; ``by_params``: those
        dirty because a parameter changed, evaluated together) and the activity of those in
        ``activity``; return (rows whose bounds changed, coefficient changes)."""
        changed, coefs = [], []
        A = self.A
        numbers = set(numbers)
        # every row touched directly (e.g. deactivated) has its activity re-read below, even when
        # the vectorised pass re-evaluates its numbers (which reads the activity compiled before)
        touched = numbers | set(activity)
        if by_params:
            done, ch, cf, stale = self._update_param_rows(set(activity), by_params)
            changed.extend(ch)
            coefs.extend(cf)
            numbers = (numbers - done) | stale   # rows rewritten since: evaluated one by one
            touched |= stale
        for i in numbers:
            sym = self._row_sym.get(i)
            if sym is None or sym[0] != id(self.rows[i].expr):
                expr_id, entries, lists, has_lo, has_up = self._row_symbolic(i)
                sym = self._row_sym[i] = (expr_id, entries, _Coefs(lists), has_lo, has_up)
            _, entries, evaluator, has_lo, has_up = sym
            vals = evaluator.values()
            for (k, j), val in zip(entries, vals[3:]):
                if val != A.data[k]:
                    A.data[k] = val
                    coefs.append((i, j, float(val)))
            c = vals[0]
            self._row_lo_on[i] = vals[1] - c if has_lo else -INF
            self._row_up_on[i] = vals[2] - c if has_up else INF
        if touched:
            idx = np.fromiter(touched, dtype=int, count=len(touched))
            rows = self.rows
            on = np.fromiter((bool(c.active and _effective_active(c.parent_block(), cache))
                              for c in map(rows.__getitem__, idx.tolist())), dtype=bool, count=len(idx))
            self._row_on[idx] = on
            lo = np.where(on, self._row_lo_on[idx], -INF)
            up = np.where(on, self._row_up_on[idx], INF)
            moved = (lo != self.row_lower[idx]) | (up != self.row_upper[idx])
            self.row_lower[idx], self.row_upper[idx] = lo, up
            changed.extend(idx[moved].tolist())
        return np.array(sorted(set(changed)), dtype=int), coefs

    def _param_chunk(self, rows):
        """Rows ``rows`` (parameter rows not compiled yet) kept symbolic in one vectorised
        evaluator: a *chunk*. Rows are compiled when a parameter of theirs first changes, so a
        what-if pays only for the rows it touches; those compiled together are evaluated
        together afterwards."""
        lists, kpos, vpos, cpos, has_lo, has_up, expr_ids, owner = [], [], [], [], [], [], [], []
        for i in rows:
            expr_id, entries, row_lists, lo, up = self._row_symbolic(i)
            cpos.append(len(lists))
            lists.extend(row_lists)
            for n, (k, _) in enumerate(entries):
                kpos.append(k)
                vpos.append(cpos[-1] + 3 + n)
                owner.append(i)
            has_lo.append(lo)
            has_up.append(up)
            expr_ids.append(expr_id)
        cend = cpos[1:] + [len(lists)]
        chunk = dict(rows=np.array(rows, dtype=int), coefs=_Coefs(lists),
                     cpos=np.array(cpos, dtype=int), cend=np.array(cend, dtype=int),
                     kpos=np.array(kpos, dtype=int), vpos=np.array(vpos, dtype=int),
                     owner=np.array(owner, dtype=int), has_lo=np.array(has_lo, dtype=bool),
                     has_up=np.array(has_up, dtype=bool), expr=np.array(expr_ids, dtype=np.int64))
        if self._row_eval is None:   # per row: its chunk and its place there
            self._row_eval = dict(chunks=[], chunk=np.full(self.m, -1, dtype=int),
                                  at=np.full(self.m, -1, dtype=int))
        ev = self._row_eval
        ev["chunk"][chunk["rows"]] = len(ev["chunks"])
        ev["at"][chunk["rows"]] = np.arange(len(rows))
        ev["chunks"].append(chunk)

    def _update_param_rows(self, skip, dirty):
        """Evaluate the rows in ``dirty`` (the rows of the parameters that changed; the others
        cannot have moved) chunk by chunk, each in one vectorised pass; return (rows handled,
        rows whose bounds changed, coefficient changes, rows rewritten since: another
        expression, left to the caller). ``skip``: rows whose activity the caller re-reads."""
        if not dirty:
            return set(), [], [], set()
        dirty = np.fromiter(dirty, dtype=int, count=len(dirty))
        if self._row_eval is None or (self._row_eval["chunk"][dirty] < 0).any():
            new = dirty if self._row_eval is None else dirty[self._row_eval["chunk"][dirty] < 0]
            self._param_chunk(sorted(new.tolist()))
        ev = self._row_eval
        which = ev["chunk"][dirty]
        done, changed, coefs, stale = set(), [], [], set()
        for c in np.unique(which).tolist():
            d, ch, cf, st = self._update_chunk(ev["chunks"][c], np.sort(ev["at"][dirty[which == c]]), skip)
            done |= d
            changed.extend(ch)
            coefs.extend(cf)
            stale |= st
        return done, changed, coefs, stale

    def _update_chunk(self, ev, sel, skip):
        """:meth:`_update_param_rows` on the rows at places ``sel`` (sorted) of chunk ``ev``."""
        rows = ev["rows"][sel]
        # only the entries of the selected rows are evaluated (into their places of ``vals``)
        needed = _ranges(ev["cpos"][sel], ev["cend"][sel])
        vals = np.empty(ev["coefs"].n)
        vals[needed] = ev["coefs"].values(needed)
        current = np.fromiter((id(self.rows[i].expr) for i in rows), dtype=np.int64, count=len(rows))
        ok = current == ev["expr"][sel]
        cpos = ev["cpos"][sel]
        c = vals[cpos]
        lo = np.where(ev["has_lo"][sel], vals[cpos + 1] - c, -INF)
        up = np.where(ev["has_up"][sel], vals[cpos + 2] - c, INF)
        r = rows[ok]
        self._row_lo_on[r], self._row_up_on[r] = lo[ok], up[ok]
        coefs = []
        if len(ev["kpos"]):
            okk = np.isin(ev["owner"], r)
            k, new = ev["kpos"][okk], vals[ev["vpos"][okk]]
            diff = new != self.A.data[k]
            if diff.any():
                self.A.data[k[diff]] = new[diff]
                cols = self.A.indices[k[diff]]
                coefs = list(zip(ev["owner"][okk][diff].tolist(), cols.tolist(), new[diff].tolist()))
        keep = np.array([i not in skip for i in r], dtype=bool) if skip else np.ones(len(r), dtype=bool)
        rk = r[keep]
        on = self._row_on[rk]
        new_lo = np.where(on, self._row_lo_on[rk], -INF)
        new_up = np.where(on, self._row_up_on[rk], INF)
        moved = (new_lo != self.row_lower[rk]) | (new_up != self.row_upper[rk])
        self.row_lower[rk], self.row_upper[rk] = new_lo, new_up
        return set(r[keep].tolist()), rk[moved].tolist(), coefs, set(rows[~ok].tolist())

    def _row_symbolic(self, i):
        """Row i with its parameters kept symbolic: ``(id of the expression, [(position in A.data,
        column)], [constant, lower, upper, coefficient terms...], has lower, has upper)``; only
        entries whose coefficient involves a parameter are listed (the others cannot change)."""
        con = self.rows[i]
        repn = self._free_repn(con.body, compute_values=False)
        if not repn.is_linear():
            raise StructureChanged(f"constraint '{con.name}' is no longer linear")
        A = self.A
        pos = {int(A.indices[k]): k for k in range(A.indptr[i], A.indptr[i + 1])}
        lin = {}
        col_of = self._col_of
        for v, a in zip(repn.linear_vars, repn.linear_coefs):
            j = col_of.get(id(v))
            if j is None:
                raise StructureChanged(f"constraint '{con.name}' now involves '{v.name}', not a column")
            lin.setdefault(j, []).append(a)
        missing = [j for j in lin if j not in pos]
        if missing:
            names = ", ".join(self.columns[j].name for j in missing)
            raise StructureChanged(f"constraint '{con.name}' now involves {names}")
        entries, lists = [], []
        for j, k in pos.items():
            terms = lin.get(j, [])
            if any(not isinstance(a, (int, float)) for a in terms) or _num_list(terms) != A.data[k]:
                entries.append((k, j))
                lists.append(terms)
        lo, up = con.lower, con.upper
        self._row_expr[i] = id(con.expr)
        lists = [[repn.constant], [0.0 if lo is None else lo], [0.0 if up is None else up]] + lists
        return id(con.expr), entries, lists, lo is not None, up is not None

    def _update_terms(self, ks):
        if not ks:
            return np.zeros(0, dtype=int), False, False
        sgn = self.sense
        cost, quad_changed, offset = [], False, False
        for k in ks:
            sym = self._term_sym.get(k)
            if sym is None:
                sym = self._term_sym[k] = self._term_symbolic(k)
            cols, quad_keys, evaluator, last = sym
            vals = evaluator.values()
            nl = len(cols)
            diff = vals[1:1 + nl] - last[1:1 + nl]
            moved = diff != 0
            if moved.any():
                self.c[cols[moved]] += sgn * diff[moved]
                cost.append(cols[moved])
            if vals[0] != last[0]:
                self.c0 += sgn * (vals[0] - last[0])
                offset = True
            if quad_keys and not np.array_equal(vals[1 + nl:], last[1 + nl:]):
                quad_changed = True
            sym[3] = vals
            self._term_parts[k] = (float(vals[0]), dict(zip(cols.tolist(), vals[1:1 + nl].tolist())),
                                   dict(zip(quad_keys, vals[1 + nl:].tolist())))
        if quad_changed:
            c, c0 = self.c, self.c0
            self._assemble_objective()
            self.c, self.c0 = c, c0      # keep the incremental linear part (equal up to round-off)
        changed = np.unique(np.concatenate(cost)) if cost else np.zeros(0, dtype=int)
        return changed, quad_changed, offset

    def _term_symbolic(self, k):
        """Objective term k with its parameters symbolic: ({col: [coef terms]}, {(i, j): [...]},
        constant)."""
        repn = self._free_repn(self._terms[k], quadratic=True, compute_values=False)
        if repn.nonlinear_expr is not None:
            raise StructureChanged("the objective is no longer quadratic")
        lin, quad = {}, {}
        for v, a in zip(repn.linear_vars, repn.linear_coefs):
            if v not in self.col_index:
                raise StructureChanged(f"the objective now involves '{v.name}', not a column")
            lin.setdefault(self.col_index[v], []).append(a)
        for (v, w), a in zip(repn.quadratic_vars, repn.quadratic_coefs):
            if v not in self.col_index or w not in self.col_index:
                raise StructureChanged("the objective now involves a variable that is not a column")
            quad.setdefault(tuple(sorted((self.col_index[v], self.col_index[w]))), []).append(a)
        lk, qk = list(lin), list(quad)
        const, old_lin, old_quad = self._term_parts[k]   # the values it was compiled with
        last = np.array([const] + [old_lin.get(j, 0.0) for j in lk] + [old_quad.get(q, 0.0) for q in qk])
        return [np.array(lk, dtype=int), qk,
                _Coefs([[repn.constant]] + [lin[j] for j in lk] + [quad[q] for q in qk]), last]


def _hessian(quad, n, scale=1.0):
    r"""The symmetric matrix :math:`Q` of :math:`\tfrac12 x^\top Q x` from the coefficients
    ``{(i, j): a}`` (i <= j) of :math:`\sum a\,x_i x_j`."""
    qi, qj, qv = [], [], []
    for (i, j), a in quad.items():
        if i == j:
            qi.append(i), qj.append(i), qv.append(2.0 * a)
        else:
            qi += [i, j]
            qj += [j, i]
            qv += [a, a]
    Q = sp.coo_array((np.array(qv, dtype=float) * scale, (qi, qj)), shape=(n, n)).tocsr()
    Q.sum_duplicates()
    return Q


def _num(e):
    """The value of a number, parameter or expression of parameters."""
    return float(e) if isinstance(e, (int, float)) else float(pyo.value(e))


def _affine(e):
    """``({id: [alpha, param]}, beta)`` with ``e = sum(alpha * param) + beta`` for an expression
    linear in mutable parameters (products by constants, sums, negations, divisions by
    constants); None for anything else (evaluated by Pyomo)."""
    if isinstance(e, (int, float)):
        return {}, float(e)
    if getattr(e, "is_parameter_type", lambda: False)():
        if e.is_constant():
            return {}, float(pyo.value(e))
        return {id(e): [1.0, e]}, 0.0
    if not getattr(e, "is_expression_type", lambda: False)():
        try:
            return {}, float(pyo.value(e))
        except Exception:
            return None
    name = type(e).__name__
    args = [_affine(a) for a in e.args]
    if any(a is None for a in args):
        return None
    if "Negation" in name:
        lin, b = args[0]
        return {k: [-a, p] for k, (a, p) in lin.items()}, -b
    if "Sum" in name:
        out, beta = {}, 0.0
        for lin, b in args:
            beta += b
            for k, (a, p) in lin.items():
                out.setdefault(k, [0.0, p])[0] += a
        return out, beta
    if "Product" in name or "Monomial" in name:
        (l1, b1), (l2, b2) = args
        if l1 and l2:
            return None
        if not l1:
            return {k: [b1 * a, p] for k, (a, p) in l2.items()}, b1 * b2
        return {k: [a * b2, p] for k, (a, p) in l1.items()}, b1 * b2
    if "Division" in name:
        (l1, b1), (l2, b2) = args
        if l2 or b2 == 0:
            return None
        return {k: [a / b2, p] for k, (a, p) in l1.items()}, b1 / b2
    return None


class _Coefs:
    """Fast re-evaluation of a list of sums of parameter expressions: each entry compiled to
    ``sum(alpha * param) + beta`` when it is linear in parameters (the usual case: a price times
    a period length, a sum of loads), evaluated by Pyomo otherwise."""

    def __init__(self, entries):
        self.n = len(entries)
        beta = np.zeros(self.n)
        rows, alphas, which, params, generic = [], [], [], {}, []
        for k, terms in enumerate(entries):
            aff = [_affine(t) for t in terms]
            if any(a is None for a in aff):
                generic.append((k, terms))
                continue
            for lin, b in aff:
                beta[k] += b
                for key, (alpha, par) in lin.items():
                    rows.append(k)
                    alphas.append(alpha)
                    which.append(params.setdefault(key, (len(params), par))[0])
        self.beta, self.generic = beta, generic
        self.params = [p for _, p in sorted(params.values(), key=lambda t: t[0])]
        self.rows = np.array(rows, dtype=int)   # non-decreasing: entry k's terms are contiguous
        self.alpha = np.array(alphas, dtype=float)
        self.cols = np.array(which, dtype=int)
        self.start = np.searchsorted(self.rows, np.arange(self.n + 1))
        self._generic_at = dict(generic)

    def values(self, entries=None):
        """The value of every entry; with ``entries`` (an int array), of those only, in order
        (only their parameters are read)."""
        if entries is not None:
            return self._values_of(np.asarray(entries, dtype=int))
        v = self.beta.copy()
        if len(self.rows):
            try:
                pv = np.fromiter(map(_VALUE, self.params), dtype=float, count=len(self.params))
            except (TypeError, ValueError):
                pv = np.array([p.value for p in self.params], dtype=float)
            v += np.bincount(self.rows, weights=self.alpha * pv[self.cols], minlength=self.n)
        for k, terms in self.generic:
            v[k] = _num_list(terms)
        return v


    def _values_of(self, entries):
        v = self.beta[entries]
        lo, hi = self.start[entries], self.start[entries + 1]
        counts = hi - lo
        idx = _ranges(lo, hi)   # the terms of the entries
        total = len(idx)
        if total:
            params = self.params
            cols = self.cols[idx]
            try:
                pv = np.fromiter((params[c]._value for c in cols.tolist()), dtype=float, count=total)
            except (TypeError, ValueError, AttributeError):
                pv = np.array([params[c].value for c in cols.tolist()], dtype=float)
            v += np.bincount(np.repeat(np.arange(len(entries)), counts), weights=self.alpha[idx] * pv,
                             minlength=len(entries))
        if self._generic_at:
            for pos, k in enumerate(entries.tolist()):
                terms = self._generic_at.get(k)
                if terms is not None:
                    v[pos] = _num_list(terms)
        return v


def _ranges(lo, hi):
    """``concatenate([arange(a, b) for a, b in zip(lo, hi)])`` without the Python loop."""
    counts = hi - lo
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=int)
    first = np.cumsum(counts) - counts
    return np.arange(total) + np.repeat(lo - first, counts)


def _num_list(terms):
    return sum(_num(a) for a in terms) if terms else 0.0


def standard_form(model, track=True):
    """Compile ``model`` (markets are assembled first) to a :class:`StandardForm`; with
    ``track=False`` the form is a one-off snapshot (it skips indexing which parameters enter
    where, and cannot :meth:`~StandardForm.update`). The model's objects are left out of the
    cyclic garbage collector meanwhile (:func:`~pyomo_ecc.core.heap.frozen_heap`)."""
    with frozen_heap():
        return StandardForm(model, track=track)
