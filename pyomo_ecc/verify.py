r"""Check a loaded solution against the model before anything is published from it.

:func:`check_solution` measures, at the values and duals loaded into ``model``:

* **primal feasibility** of every active constraint :math:`l_i \le g_i(x) \le u_i` and every
  variable bound :math:`\underline{x}_j \le x_j \le \overline{x}_j` (and integrality
  :math:`|x_j - \mathrm{round}(x_j)|` of integer variables), scaled by the size of the bound:

  .. math:: v^{P}_i = \frac{\max(l_i - g_i(x),\; g_i(x) - u_i,\; 0)}{\max(1, |l_i|, |u_i|)}

and, for a continuous model (no free integer variable) whose duals are loaded (``model.dual``
in the solver layer's convention, :math:`y_i = \partial f^\star / \partial\,\mathrm{rhs}_i`, see
:mod:`pyomo_ecc.solvers`), the KKT conditions of an optimum, with :math:`\sigma = +1` for a
minimisation and :math:`-1` for a maximisation:

* **dual feasibility** (the sign of each inequality's dual): :math:`\sigma y_i \le 0` for a
  :math:`g_i \le u_i` row, :math:`\sigma y_i \ge 0` for a :math:`g_i \ge l_i` row (a ranged row
  takes the sign of the side it is nearer), scaled by :math:`\max(1, \max_k |y_k|)`;
* **complementarity**: with slack :math:`s_i \ge 0` to the bound the dual belongs to,
  :math:`v^{C}_i = \frac{|y_i|}{1 + |y_i|}\cdot\frac{s_i}{\max(1, |b_i|)}`
  (zero when either the dual or the scaled slack is zero);
* **stationarity** (reduced costs; when every constraint is linear, as in an LP or QP):
  :math:`r = \nabla f(x) - A^\top y`; :math:`\sigma r_j > 0` needs :math:`x_j` at its lower
  bound, :math:`\sigma r_j < 0` at its upper bound (an interior variable needs :math:`r_j = 0`):
  :math:`v^{S}_j = \min\big(|r_j| / \max(1, |\nabla_j f|, \max_i |y_i A_{ij}|),\;
  d_j / \max(1, |x_j|)\big)` with :math:`d_j` the distance to that bound.

The constraint matrix :math:`A` comes from Pyomo's linear standard-form compiler (or from the
caller, who has often just built it to solve); every measure is vectorised over rows and
columns. :func:`check_solution` returns a report frame; :func:`verify_solution` raises
:class:`~pyomo_ecc.errors.SolverError` naming the worst items, the violation and the solver's
own status.

=============================  ===================  ==============================================
symbol                         column / argument    meaning
=============================  ===================  ==============================================
:math:`v^P, v^C`, ...          ``violation``        scaled violation (dimensionless)
                               ``kind``             ``primal``, ``bound``, ``integrality``,
                                                    ``dual sign``, ``complementarity``,
                                                    ``stationarity``
                               ``absolute``         the same violation before scaling
:math:`\tau`                   ``tol``              tolerance on every scaled violation
=============================  ===================  ==============================================

>>> import pyomo_ecc as ecc
>>> m = ecc.Market()
>>> m.g = ecc.Producer(bus=1, b=30.0, p_max=10)
>>> m.l = ecc.FixedLoad(bus=1, p=4)
>>> _ = ecc.solve(m)                      # verified inside solve
>>> check_solution(m).empty               # nothing above the tolerance
True
>>> float(check_solution(m, report_all=True)["violation"].max()) < 1e-9
True
"""
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.core.expr.calculus.derivatives import Modes, differentiate
from pyomo.core.expr.visitor import polynomial_degree
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from pyomo_ecc.errors import SolverError
from pyomo_ecc.pricing.prices import _dual_suffix

#: default tolerance on every scaled violation (HiGHS and Ipopt work to 1e-7 .. 1e-8)
TOL = 1e-6

_COLUMNS = ["item", "kind", "violation", "absolute"]


def _empty():
    return pd.DataFrame(columns=_COLUMNS).set_index("item")




def _frame(items, kind, scaled, absolute, tol_report):
    keep = np.flatnonzero(scaled > tol_report)
    return pd.DataFrame({"item": [items[k].name for k in keep], "kind": kind,
                         "violation": scaled[keep], "absolute": absolute[keep]})


def check_solution(model, tol=TOL, duals=True, standard_form=None, report_all=False):
    """Violations of the solution loaded in ``model`` (see the module doc).

    Returns a DataFrame indexed by ``item`` (constraint or variable name) with ``kind``,
    ``violation`` (scaled) and ``absolute``, largest first. Only items above ``tol / 10`` are
    listed (every item with ``report_all=True``); an empty frame means the solution checks out.
    ``duals=False`` skips the dual checks; ``standard_form`` is the result of
    ``LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)`` when the
    caller already has it.
    """
    floor = -np.inf if report_all else tol / 10.0
    parts = []
    suffix = _dual_suffix(model) if duals else None
    if suffix is not None and not len(suffix):
        suffix = None
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    info = standard_form if standard_form is not None else _compile(model, objs)
    cons = body = lo = up = None
    if info is not None and hasattr(info, "row_lower"):   # pyomo_ecc.core.standard_form
        parts.extend(_standard_form_checks(model, info, objs, suffix, floor))
    elif info is not None:   # linear constraints: every measure on the sparse matrix at once
        parts.extend(_matrix_checks(model, info, objs, suffix, floor))
    else:
        cons = list(model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    # -- primal: constraints (nonlinear models: one evaluation per constraint)
    if cons:
        body = np.empty(len(cons))
        lo = np.full(len(cons), -np.inf)
        up = np.full(len(cons), np.inf)
        for k, c in enumerate(cons):
            try:
                val = pyo.value(c.body, exception=False)
            except (ValueError, ZeroDivisionError, OverflowError):
                val = None
            body[k] = np.nan if val is None else val
            if c.has_lb():
                lo[k] = pyo.value(c.lower)
            if c.has_ub():
                up[k] = pyo.value(c.upper)
        viol = np.maximum.reduce([lo - body, body - up, np.zeros(len(cons))])
        viol = np.where(np.isnan(body), np.inf, viol)
        scale = np.maximum.reduce([np.ones(len(cons)), np.where(np.isfinite(lo), np.abs(lo), 0),
                                   np.where(np.isfinite(up), np.abs(up), 0)])
        parts.append(_frame(cons, "primal", viol / scale, viol, floor))
    # -- primal: variable bounds
    vars_ = [v for v in model.component_data_objects(pyo.Var, descend_into=True)
             if not v.fixed and v.value is not None]
    # (a variable without a value that a constraint uses makes that constraint's body NaN: the
    # constraint is reported with an infinite violation)
    if vars_:
        x = np.array([v.value for v in vars_], dtype=float)
        vlo = np.array([-np.inf if v.lb is None else v.lb for v in vars_], dtype=float)
        vup = np.array([np.inf if v.ub is None else v.ub for v in vars_], dtype=float)
        viol = np.maximum.reduce([vlo - x, x - vup, np.zeros(len(x))])
        viol = np.where(np.isfinite(x), viol, np.inf)
        scale = np.maximum.reduce([np.ones(len(x)), np.where(np.isfinite(vlo), np.abs(vlo), 0),
                                   np.where(np.isfinite(vup), np.abs(vup), 0)])
        parts.append(_frame(vars_, "bound", viol / scale, viol, floor))
        discrete = [k for k, v in enumerate(vars_) if not v.is_continuous()]
        if discrete:
            xi = x[discrete]
            gap = np.where(np.isfinite(xi), np.abs(xi - np.round(xi)), np.inf)
            parts.append(_frame([vars_[k] for k in discrete], "integrality", gap, gap, floor))
    # -- duals of a nonlinear model: sign and complementarity (its KKT conditions)
    if suffix is not None and cons and _continuous(model) and len(objs) == 1:
        parts.extend(_dual_checks(objs[0], cons, body, lo, up, suffix, floor))
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True).set_index("item")
    return out.sort_values("violation", ascending=False, kind="stable")


def _continuous(model):
    return not any(not v.fixed and not v.is_continuous()
                   for v in model.component_data_objects(pyo.Var, active=True, descend_into=True))


def _compile(model, objs):
    """The linear standard form of the constraints (objectives left out: they may be
    quadratic), or None when a constraint is nonlinear."""
    for o in objs:
        o.deactivate()
    try:
        return LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    except (InfeasibleConstraintException, ValueError, TypeError, NotImplementedError,
            RuntimeError, KeyError):
        return None
    finally:
        for o in objs:
            o.activate()


def _sign_and_complementarity(items, y, side, slack, b, sigma, floor):
    """Dual sign and complementarity for rows whose active side is ``side`` (+1 upper bound,
    -1 lower bound, 0 equality), with slack ``slack`` to bound ``b``."""
    wrong = np.where(side == 1, np.maximum(sigma * y, 0.0),
                     np.where(side == -1, np.maximum(-sigma * y, 0.0), 0.0))
    yscale = max(1.0, float(np.abs(y).max()) if len(y) else 1.0)
    slack = np.where(side == 0, 0.0, np.maximum(slack, 0.0))
    bscale = np.maximum(1.0, np.where(np.isfinite(b), np.abs(b), 0.0))
    comp = np.abs(y) / (1.0 + np.abs(y)) * slack / bscale
    return [_frame(items, "dual sign", wrong / yscale, wrong, floor),
            _frame(items, "complementarity", comp, np.abs(y) * slack, floor)]


def _dual_checks(obj, cons, body, lo, up, suffix, floor):
    sigma = 1.0 if obj.sense == pyo.minimize else -1.0
    y = np.array([suffix.get(c, 0.0) or 0.0 for c in cons], dtype=float)
    has_lo, has_up = np.isfinite(lo), np.isfinite(up)
    eq = has_lo & has_up & (up - lo <= 1e-12 * np.maximum(1.0, np.abs(up)))
    near_up = has_up & (~has_lo | (np.abs(up - body) <= np.abs(body - lo)))
    side = np.where(eq, 0, np.where(near_up, 1, -1))
    b = np.where(side == 1, up, lo)
    slack = np.where(side == 1, up - body, body - lo)
    return _sign_and_complementarity(cons, y, side, slack, b, sigma, floor)


def _matrix_checks(model, info, objs, suffix, floor):
    """Primal rows, and with duals: sign, complementarity and stationarity, on the matrix."""
    cols, A = info.columns, info.A.tocsr()
    parts = []
    x = np.array([np.nan if v.value is None else v.value for v in cols], dtype=float)
    kind = np.array([r.bound_type for r in info.rows], dtype=int)   # 0 '==', -1 '>=', +1 '<='
    rhs = np.asarray(info.rhs, dtype=float)
    rows = [r.constraint for r in info.rows]
    val = A @ x if len(cols) else np.zeros(len(rows))
    gap = val - rhs                                                  # > 0 above, < 0 below
    viol = np.where(kind == 0, np.abs(gap), np.where(kind > 0, np.maximum(gap, 0.0),
                                                     np.maximum(-gap, 0.0)))
    viol = np.where(np.isnan(viol), np.inf, viol)
    scale = np.maximum(1.0, np.abs(rhs))
    parts.append(_frame(rows, "primal", viol / scale, viol, floor))
    if suffix is None or len(objs) != 1 or not _continuous(model) or not len(rows):
        return parts
    obj = objs[0]
    sigma = 1.0 if obj.sense == pyo.minimize else -1.0
    # one entry per constraint: the row nearest to its bound carries the constraint's dual
    slack = np.where(kind > 0, -gap, gap)
    first = {}
    for r, c in enumerate(rows):
        k = first.setdefault(id(c), r)
        if k != r and kind[r] != 0 and slack[r] < slack[k]:
            first[id(c)] = r
    active = np.array(sorted(first.values()), dtype=int)
    y_con = np.array([suffix.get(rows[r], 0.0) or 0.0 for r in active], dtype=float)
    items = [rows[r] for r in active]
    side = kind[active]
    parts.extend(_sign_and_complementarity(items, y_con, side, slack[active], rhs[active],
                                           sigma, floor))
    # stationarity: r = grad f - A^T y (a ranged constraint's dual on one of its rows)
    if not len(cols):
        return parts
    yrow = np.zeros(len(rows))
    yrow[active] = y_con
    c = getattr(info, "c", None)
    if c is not None and c.shape[0] == 1 and polynomial_degree(obj.expr) in (0, 1):
        grad = np.asarray(c.toarray()[0], dtype=float)   # the compiled (linear) objective
    else:
        grad = _gradient(obj, cols)
    lb = np.array([-np.inf if v.lb is None else v.lb for v in cols], dtype=float)
    ub = np.array([np.inf if v.ub is None else v.ub for v in cols], dtype=float)
    parts.append(_reduced_cost_violation(cols, x, lb, ub, grad, A, yrow, sigma, floor))
    return parts


def _reduced_cost_violation(cols, x, lb, ub, grad, A, yrow, sigma, floor):
    red = grad - A.T @ yrow
    contrib = (abs(A.multiply(yrow[:, None])).max(axis=0).toarray().ravel() if A.nnz
               else np.zeros(len(cols)))
    width = np.maximum(1.0, np.abs(x))
    with np.errstate(invalid="ignore"):
        dist_lo = np.where(np.isfinite(lb), np.maximum(x - lb, 0.0) / width, np.inf)
        dist_up = np.where(np.isfinite(ub), np.maximum(ub - x, 0.0) / width, np.inf)
    s = sigma * red
    scale = np.maximum.reduce([np.ones(len(cols)), np.abs(grad), contrib])
    # a positive reduced cost needs the variable at its lower bound, a negative one at its
    # upper bound: the violation is the smaller of the scaled reduced cost and the relative
    # distance from that bound (an interior variable needs r = 0)
    scaled = np.minimum(np.abs(s) / scale, np.where(s > 0, dist_lo, dist_up))
    scaled = np.where(np.isnan(scaled), np.inf, scaled)
    return _frame(cols, "stationarity", scaled, np.abs(s), floor)


def _standard_form_checks(model, sf, objs, suffix, floor):
    r"""The checks on a :class:`pyomo_ecc.core.standard_form.StandardForm` (one row per
    constraint, ranged rows included; fixed variables are columns with equal bounds; objective
    :math:`\sigma(c_0 + c^\top x + \frac12 x^\top Q x)`)."""
    rows, cols = list(sf.rows), list(sf.columns)
    x = sf.values()
    A = sp.csr_array(sf.A)
    ax = A @ x if len(cols) else np.zeros(len(rows))
    lo, up = sf.row_lower, sf.row_upper
    viol = np.maximum.reduce([lo - ax, ax - up, np.zeros(len(rows))]) if len(rows) else np.zeros(0)
    viol = np.where(np.isnan(viol), np.inf, viol)
    scale = np.maximum.reduce([np.ones(len(rows)), np.where(np.isfinite(lo), np.abs(lo), 0),
                               np.where(np.isfinite(up), np.abs(up), 0)]) if len(rows) else np.ones(0)
    parts = [_frame(rows, "primal", viol / scale, viol, floor)]
    if suffix is None or len(objs) != 1 or not _continuous(model) or not len(rows):
        return parts
    obj = objs[0]
    parts.extend(_dual_checks(obj, rows, ax, lo, up, suffix, floor))
    if not len(cols):
        return parts
    sigma = 1.0 if obj.sense == pyo.minimize else -1.0
    y = np.array([suffix.get(c, 0.0) or 0.0 for c in rows], dtype=float)
    grad = sf.sense * (np.asarray(sf.c, float) + sf.Q @ x)
    parts.append(_reduced_cost_violation(cols, x, sf.col_lower, sf.col_upper, grad, A, y, sigma,
                                         floor))
    return parts


def _gradient(obj, cols):
    """:math:`\\nabla f` at the loaded values over ``cols`` (exact: reverse-mode, numeric)."""
    deg = polynomial_degree(obj.expr)
    if deg == 0:
        return np.zeros(len(cols))
    ders = differentiate(obj.expr, wrt_list=cols, mode=Modes.reverse_numeric)
    return np.array([float(d) for d in ders], dtype=float)


def verify_solution(model, solver="", termination="optimal", tol=TOL, duals=True,
                    standard_form=None, show=5):
    """Raise :class:`~pyomo_ecc.errors.SolverError` if :func:`check_solution` finds a scaled
    violation above ``tol``; the message names the ``show`` worst items, their violations and the
    solver's own status. Returns the report frame otherwise."""
    report = check_solution(model, tol=tol, duals=duals, standard_form=standard_form)
    bad = report[report["violation"] > tol]
    if bad.empty:
        return report
    lines = [f"  {name} ({row.kind}): scaled violation {row.violation:.3g} (absolute {row.absolute:.3g})"
             for name, row in bad.head(show).iterrows()]
    more = f"\n  ... and {len(bad) - show} more" if len(bad) > show else ""
    raise SolverError(
        f"solver '{solver}' reported '{termination}' on model '{model.name}', but the loaded "
        f"solution fails the check at tolerance {tol:g} ({len(bad)} item(s)); no prices are "
        f"published:\n" + "\n".join(lines) + more, termination=f"unverified ({termination})")
