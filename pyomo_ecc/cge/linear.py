r"""Linearised solution of a square equilibrium system: Johansen (one step), multi-step Euler and
Richardson extrapolation (as in GEMPACK), with scipy sparse linear algebra.

The model is :math:`F(y, x) = 0` with endogenous :math:`y` (free variables) and exogenous
:math:`x` (fixed variables, the shocked ones listed in ``shocks``). Along the path
:math:`x(s) = x^0 + s\,\Delta x`, :math:`s \in [0,1]`,

.. math::

    F_y\, \frac{dy}{ds} = -F_x\, \Delta x ,

solved with :math:`n` Euler steps :math:`y_{k+1} = y_k - F_y(y_k,x_k)^{-1} F_x(y_k,x_k)\,\Delta x/n`
(one sparse LU per step, Jacobians from the same Pyomo model through PyNumero). The Johansen
solution is :math:`n = 1`. Euler's error is :math:`O(1/n)`; Richardson extrapolation over
:math:`n, 2n, 4n, \dots` (:math:`T_{k,j} = T_{k,j-1} + (T_{k,j-1} - T_{k-1,j-1})/(2^j-1)`) removes
the leading error terms.

Example::

    from pyomo_ecc.cge.linear import linear_solve
    res = linear_solve(m, [(m.FS["labour"], 1.1 * 4.0)], steps=[2, 4, 8])   # extrapolated
    res.loc["X[s1]", "change_pct"]      # 5.88529 (exact: 100 (1.1^0.6 - 1) = 5.885285)
"""
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import scipy.sparse.linalg as spla

from pyomo_ecc.errors import InputError, ModelError


def _jacobian_nlp(model):
    from pyomo.contrib.pynumero.interfaces.pyomo_nlp import PyomoNLP
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    tmp = None
    if not objs:
        tmp = pyo.Objective(expr=0.0)
        model.add_component("_linear_obj", tmp)
    try:
        return PyomoNLP(model)
    finally:
        if tmp is not None:
            model.del_component(tmp)


def _euler(nlp, x0, endo, exo, dx, n):
    x = x0.copy()
    for _ in range(n):
        nlp.set_primals(x)
        jac = nlp.evaluate_jacobian_eq().tocsc()
        jy, jx = jac[:, endo], jac[:, exo]
        rhs = -(jx @ (dx / n))
        try:
            lu = spla.splu(jy)
        except RuntimeError as e:
            raise ModelError(f"linearised system is singular ({e}): check closure and numeraire") from None
        x[endo] += lu.solve(rhs)
        x[exo] += dx / n
    return x


def linear_solve(model, shocks, steps=1, store=True):
    """Move ``model`` from its current (solved) point to the new values of the exogenous
    variables in ``shocks`` (a ``pyomo.common.collections.ComponentMap`` or a list of
    ``(fixed VarData, new value)`` pairs) along the linearised path.

    ``steps``: an int (Euler with that many steps; 1 = Johansen) or a list ``[n, 2n, 4n, ...]``
    (Euler for each, then Richardson extrapolation). Returns a DataFrame indexed ``variable``
    with ``initial``, ``final`` and ``change_pct`` (100 (final/initial - 1); NaN where initial
    is 0). With ``store=True`` the final point is written into the model's variables.
    """
    items = list(shocks.items()) if hasattr(shocks, "items") else list(shocks)
    if not items:
        raise InputError("linear_solve: no shocks given")
    shocks = [v for v, _ in items]
    for v in shocks:
        if not v.fixed:
            raise InputError(f"linear_solve: shocked variable '{v.name}' must be fixed (exogenous)")
    ncons = [c for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True)
             if not c.equality]
    if ncons:
        raise ModelError(f"linear_solve: inequality constraints are not supported: {[c.name for c in ncons][:5]}")
    seq = [steps] if isinstance(steps, int) else list(steps)
    if not seq or any((not isinstance(n, int)) or n < 1 for n in seq):
        raise InputError(f"linear_solve: steps must be a positive int or a list of them, got {steps!r}")
    if len(seq) > 1 and any(b != 2 * a for a, b in zip(seq, seq[1:])):
        raise InputError(f"linear_solve: extrapolation needs doubling step counts (n, 2n, 4n, ...), got {seq}")
    from pyomo_ecc.core.changes import Unfix, applied
    with applied(model, [Unfix(v) for v in shocks], keep_solution=True):   # the Jacobian in them too
        nlp = _jacobian_nlp(model)
    pvars = nlp.get_pyomo_variables()
    pos = {id(v): k for k, v in enumerate(pvars)}
    exo = np.array([pos[id(v)] for v in shocks])
    endo = np.array([k for k in range(len(pvars)) if k not in set(exo.tolist())])
    if nlp.n_eq_constraints() != len(endo):
        raise ModelError(f"linear_solve: {len(endo)} endogenous variables and {nlp.n_eq_constraints()} "
                         f"equations: degrees of freedom = {len(endo) - nlp.n_eq_constraints()}")
    x0 = np.array([pyo.value(v) for v in pvars], dtype=float)
    dx = np.array([float(val) for _, val in items]) - x0[exo]
    results = [_euler(nlp, x0, endo, exo, dx, n) for n in seq]
    table = [results]
    for j in range(1, len(results)):
        prev = table[-1]
        table.append([prev[k] + (prev[k] - prev[k - 1]) / (2 ** j - 1) for k in range(1, len(prev))])
    final = table[-1][-1]
    if store:
        for v, val in zip(pvars, final):
            v.set_value(float(val), skip_validation=True)
    names = [v.name for v in pvars]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(x0 != 0, 100.0 * (final / x0 - 1.0), np.nan)
    df = pd.DataFrame({"initial": x0, "final": final, "change_pct": pct}, index=pd.Index(names, name="variable"))
    return df
