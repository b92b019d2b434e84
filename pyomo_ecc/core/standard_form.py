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
what-ifs of :mod:`pyomo_ecc.core.whatif`. Mutable parameters stay symbolic: the form remembers
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
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.common.collections import ComponentMap, ComponentSet
from pyomo.core.expr.numvalue import is_constant
from pyomo.core.expr.visitor import identify_mutable_parameters
from pyomo.repn import generate_standard_repn
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from pyomo_ecc.errors import ModelError

INF = np.inf


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


def _active_objective(model):
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objs) != 1:
        raise ModelError(f"model '{model.name}' has {len(objs)} active objectives; need exactly one "
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
        return self.sense * float(self.c0 + self.c @ x + 0.5 * x @ (self.Q @ x))

    def worst_violation(self, x):
        """``(scaled violation, what)`` of the worst row or column bound at ``x``: the violation
        divided by max(1, |bound|), and the row (``("row", i)``) or column (``("col", j)``)."""
        best = (0.0, None)
        if self.m:
            ax = self.A @ x
            for bound, gap in ((self.row_lower, self.row_lower - ax), (self.row_upper, ax - self.row_upper)):
                scale = np.maximum(1.0, np.abs(np.where(np.isfinite(bound), bound, 0.0)))
                v = np.where(np.isfinite(bound), gap, 0.0) / scale
                i = int(np.argmax(v))
                if v[i] > best[0]:
                    best = (float(v[i]), ("row", i))
        if self.n:
            for bound, gap in ((self.col_lower, self.col_lower - x), (self.col_upper, x - self.col_upper)):
                scale = np.maximum(1.0, np.abs(np.where(np.isfinite(bound), bound, 0.0)))
                v = np.where(np.isfinite(bound), gap, 0.0) / scale
                j = int(np.argmax(v))
                if v[j] > best[0]:
                    best = (float(v[j]), ("col", j))
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
        self.objective = _active_objective(model)
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
        if track:
            self._build_deps()

    # -- compile -------------------------------------------------------------------------------
    def _init_columns(self, cols):
        self.columns = cols
        self.col_index = ComponentMap((v, j) for j, v in enumerate(cols))

    def _add_column(self, v):
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

    def _term_repn(self, expr):
        repn = generate_standard_repn(expr, quadratic=True, compute_values=True)
        if repn.nonlinear_expr is not None:
            raise NotStandardForm(f"the objective of model '{self.model.name}' is not quadratic")
        return repn

    def _init_objective(self):
        expr = self.objective.expr
        from pyomo.core.expr.numeric_expr import SumExpression
        terms = list(expr.args) if isinstance(expr, SumExpression) else [expr]
        self._terms = terms
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
        qi, qj, qv = [], [], []
        for const, lin, quad in self._term_parts:
            c0 += const
            for j, a in lin.items():
                c[j] += a
            for (i, j), a in quad.items():
                if i == j:
                    qi.append(i), qj.append(i), qv.append(2.0 * a)
                else:
                    qi += [i, j]
                    qj += [j, i]
                    qv += [a, a]
        self.c = s * c
        self.c0 = s * c0
        Q = sp.coo_array((np.array(qv, dtype=float) * s, (qi, qj)), shape=(n, n)).tocsr()
        Q.sum_duplicates()
        self.Q = Q

    # -- reading ------------------------------------------------------------------------------
    def expression(self, expr):
        """``(c0, c, Q)`` of a linear or quadratic expression in the form's column space:
        :math:`c_0 + c^\\top x + \\tfrac12 x^\\top Q x` (not sense-adjusted)."""
        const, lin, quad = self._parts(expr)
        n = self.n
        c = np.zeros(n)
        for j, a in lin.items():
            c[j] = a
        qi, qj, qv = [], [], []
        for (i, j), a in quad.items():
            if i == j:
                qi.append(i), qj.append(i), qv.append(2.0 * a)
            else:
                qi += [i, j]
                qj += [j, i]
                qv += [a, a]
        Q = sp.coo_array((np.array(qv, dtype=float), (qi, qj)), shape=(n, n)).tocsr()
        return const, c, Q

    def evaluate(self, parts, x):
        """Value of ``parts = expression(expr)`` at the column values ``x``."""
        c0, c, Q = parts
        return float(c0 + c @ x + 0.5 * x @ (Q @ x))

    def values(self):
        """Current values of the columns (NaN where a variable has none)."""
        return np.array([np.nan if v.value is None else float(v.value) for v in self.columns])

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
        for k, t in enumerate(self._terms):
            note(terms, identify_mutable_parameters(t), k)
        for j, v in enumerate(self.columns):
            for b in (v._lb, v._ub):
                if b is not None and not is_constant(b):
                    note(cols, identify_mutable_parameters(b), j)
        self._deps = (rows, terms, cols)
        params = ComponentSet(rows) | ComponentSet(terms) | ComponentSet(cols)
        self._param_values = ComponentMap((p, p.value) for p in params)

    def update(self, params=None, variables=None, constraints=None, blocks=None):
        """Bring the form up to date with the model; return the :class:`Delta`.

        With no argument every parameter, column and row is compared with what was compiled (a
        full scan); a what-if that knows what it touched passes ``params`` (ParamData),
        ``variables`` (VarData: fixing, unfixing, bounds), ``constraints`` (ConstraintData:
        activation, a rewritten right-hand side) and ``blocks`` (activation of every row inside).
        """
        if self._deps is None:
            raise ModelError("this standard form was compiled with track=False: it cannot follow changes")
        rows_dep, terms_dep, cols_dep = self._deps
        numbers, activity, dirty_terms, dirty_cols = set(), set(), set(), set()
        cache = {}
        if params is None and variables is None and constraints is None and blocks is None:
            self._check_new_constraints()
            params = [p for p, old in self._param_values.items() if p.value != old]
            dirty_cols = set(range(self.n))
            for i, con in enumerate(self.rows):
                if id(con.expr) != self._row_expr[i]:
                    numbers.add(i)
            activity |= {i for i, con in enumerate(self.rows)
                         if self._row_on[i] != bool(con.active and _effective_active(con.parent_block(), cache))}
        for p in params or ():
            numbers |= rows_dep.get(p, set())
            dirty_terms |= terms_dep.get(p, set())
            dirty_cols |= cols_dep.get(p, set())
            if p in self._param_values:
                self._param_values[p] = p.value
        for v in variables or ():
            j = self.col_index.get(v)
            if j is not None:   # a variable outside the active model changes nothing
                dirty_cols.add(j)
        for c in constraints or ():
            i = self.row_index.get(c)
            if i is None:
                if c.active and _effective_active(c.parent_block(), cache):
                    raise StructureChanged(f"constraint '{c.name}' was not active when the form was compiled")
                continue
            numbers.add(i)
        for b in blocks or ():
            for c in b.component_data_objects(pyo.Constraint, descend_into=True):
                i = self.row_index.get(c)
                if i is not None:
                    activity.add(i)
                elif c.active and _effective_active(c.parent_block(), cache):
                    raise StructureChanged(f"constraint '{c.name}' was not active when the form was compiled")
        delta = Delta()
        delta.col_bounds = self._update_cols(sorted(dirty_cols))
        delta.row_bounds, delta.coefs = self._update_rows(sorted(numbers), sorted(activity - numbers), cache)
        delta.cost, delta.hessian, delta.offset = self._update_terms(sorted(dirty_terms))
        return delta

    def _check_new_constraints(self):
        n = sum(1 for _ in self.model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
        if n > self._ncons:
            raise StructureChanged(f"model '{self.model.name}' has {n - self._ncons} active constraint(s) "
                                   f"more than when its form was compiled")
        if _active_objective(self.model) is not self.objective:
            raise StructureChanged(f"the active objective of model '{self.model.name}' changed")

    def _update_cols(self, js):
        changed = []
        for j in js:
            lo, up = self._col_bounds(self.columns[j])
            if lo != self.col_lower[j] or up != self.col_upper[j]:
                self.col_lower[j], self.col_upper[j] = lo, up
                changed.append(j)
        return np.array(changed, dtype=int)

    def _update_rows(self, numbers, activity, cache):
        """Re-evaluate the rows in ``numbers`` (coefficients and bounds) and the activity of those
        in ``activity``; return (rows whose bounds changed, coefficient changes)."""
        changed, coefs = [], []
        A = self.A
        for i in numbers:
            con = self.rows[i]
            lo, up, new = self._row_numbers(con, i)
            for k in range(A.indptr[i], A.indptr[i + 1]):
                j = A.indices[k]
                val = new.pop(j, 0.0)
                if val != A.data[k]:
                    A.data[k] = val
                    coefs.append((i, int(j), val))
            if new:
                names = ", ".join(self.columns[j].name for j in new)
                raise StructureChanged(f"constraint '{con.name}' now involves {names}")
            self._row_lo_on[i], self._row_up_on[i] = lo, up
        for i in list(numbers) + list(activity):
            con = self.rows[i]
            on = bool(con.active and _effective_active(con.parent_block(), cache))
            self._row_on[i] = on
            lo, up = (self._row_lo_on[i], self._row_up_on[i]) if on else (-INF, INF)
            if lo != self.row_lower[i] or up != self.row_upper[i]:
                self.row_lower[i], self.row_upper[i] = lo, up
                changed.append(i)
        return np.array(sorted(set(changed)), dtype=int), coefs

    def _row_numbers(self, con, i):
        """(lower, upper, {col: coef}) of an active constraint, constant moved to the bounds."""
        repn = generate_standard_repn(con.body, compute_values=True)
        if not repn.is_linear():
            raise StructureChanged(f"constraint '{con.name}' is no longer linear")
        coef = {}
        for v, a in zip(repn.linear_vars, repn.linear_coefs):
            j = self.col_index.get(v)
            if j is None:
                raise StructureChanged(f"constraint '{con.name}' now involves '{v.name}', not a column")
            coef[j] = coef.get(j, 0.0) + float(a)
        const = float(repn.constant)
        lo = -INF if con.lower is None else float(pyo.value(con.lower)) - const
        up = INF if con.upper is None else float(pyo.value(con.upper)) - const
        self._row_expr[i] = id(con.expr)
        return lo, up, coef

    def _update_terms(self, ks):
        if not ks:
            return np.zeros(0, dtype=int), False, False
        old_c, old_Q, old_c0 = self.c.copy(), self.Q, self.c0
        for k in ks:
            self._term_parts[k] = self._parts(self._terms[k])
        self._assemble_objective()
        cost = np.flatnonzero(self.c != old_c)
        hess = (self.Q != old_Q).nnz > 0 if (self.Q.nnz or old_Q.nnz) else False
        return cost, bool(hess), self.c0 != old_c0


def standard_form(model, track=True):
    """Compile ``model`` (markets are assembled first) to a :class:`StandardForm`; with
    ``track=False`` the form is a one-off snapshot (it skips indexing which parameters enter
    where, and cannot :meth:`~StandardForm.update`)."""
    return StandardForm(model, track=track)
