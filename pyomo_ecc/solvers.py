r"""The solver layer: the only module that creates or configures solver interfaces.

* ``"highs"`` (default): HiGHS through ``highspy``; LP, convex QP and MILP, with duals. An LP or
  MILP goes to HiGHS as a sparse matrix built by Pyomo's standard-form compiler (fast on large
  networks); a QP (or ``Solver("highs", persistent=True)``) through Pyomo's persistent HiGHS
  interface, with QP regularisation switched off so that duals are exact.
* ``"ipopt"`` / ``"cyipopt"``: Ipopt through Pyomo's ``cyipopt`` interface (needs the
  ``nlp`` extra and PyNumero's ASL library, which ``bash ecc.sh test`` builds).
* any other name: ``pyomo.environ.SolverFactory(name)`` with a ``dual`` suffix.

Dual convention: after :func:`solve`, ``model.dual[c]`` is
:math:`\partial\,\mathrm{objective}/\partial\,\mathrm{rhs}(c)` for the model's objective in its
own sense (a market's objective is always minimised), whatever the solver (Ipopt's multipliers
have the opposite sign and are flipped here). Prices are built from these duals by
:mod:`pyomo_ecc.pricing` alone.

Problem classes a solver cannot take are refused before solving with a message naming them:
integer variables with Ipopt, a mixed-integer QP with HiGHS.

A MILP is solved, then its integer variables are fixed at the solution and the LP is re-solved
for duals; the market records ``pricing_basis = "LP with integers fixed"``.

A result that is not optimal raises :class:`~pyomo_ecc.errors.SolverError` naming the
termination condition; an infeasible market raises
:class:`~pyomo_ecc.errors.InfeasibleMarketError` listing the constraints that conflict and by how
much (an elastic relaxation of the same model: every active constraint gets non-negative
slacks, their sum is minimised, the constraints with positive slack are reported).
"""
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.contrib.solver.common.factory import SolverFactory as _NewSolverFactory
from pyomo.contrib.solver.common.results import TerminationCondition as TC
from pyomo.contrib.solver.common.util import IncompatibleModelError
from pyomo.core.expr.visitor import identify_variables, polynomial_degree
from pyomo.opt import TerminationCondition as LegacyTC
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from pyomo_ecc.core.config import finite_float
from pyomo_ecc.core.market import assemble_all, markets_in
from pyomo_ecc.errors import InfeasibleMarketError, ModelError, SolverError
from pyomo_ecc.verify import TOL as VERIFY_TOL
from pyomo_ecc.verify import verify_solution

log = logging.getLogger(__name__)

#: sign that turns a solver's reported dual into d(objective)/d(rhs) for a minimisation
DUAL_SIGN = {"highs": 1.0, "cyipopt": -1.0}
#: option sets tried in turn when HiGHS's QP solver does not finish a convex QP as optimal: its
#: own default Hessian regularisation (the first attempt switches it off for exact duals; the
#: duals of the regularised problem differ by about 1e-7 times the dispatch, well inside the
#: solution check's tolerance)
HIGHS_QP_FALLBACKS = ({"qp_regularization_value": 1e-7},)
_ALIASES = {"ipopt": "cyipopt"}
_INFEASIBLE_NEW = {TC.provenInfeasible, TC.locallyInfeasible, TC.infeasibleOrUnbounded}
_INFEASIBLE_OLD = {LegacyTC.infeasible, LegacyTC.infeasibleOrUnbounded, LegacyTC.invalidProblem}
_OPTIMAL_OLD = {LegacyTC.optimal, LegacyTC.locallyOptimal, LegacyTC.globallyOptimal}


@dataclass
class SolveResult:
    """What :func:`solve` returns."""

    solver: str
    termination: str
    objective: float
    pricing_basis: str = "LP/QP duals"
    raw: object = field(default=None, repr=False)


def _integer_vars(model):
    return [v for v in model.component_data_objects(pyo.Var, active=True, descend_into=True)
            if not v.fixed and not v.is_continuous()]


def _check_withdrawn(market):
    """A participant deactivated after its market was assembled is still in the balance and the
    objective (they are built once): it must inject nothing, with its variables fixed, or the
    solve would quietly use a participant without its limits."""
    net = market.get_network()
    if net is None or not net.active:
        return
    balanced = {d.t for d in net.price_declarations() if d.price == "lmp" and d.constraint.active}
    for p in market.participants(active=False):
        if p.active:
            continue
        for t in (t for t in market.T if t in balanced):
            free = [v.name for v in identify_variables(p.p_inj[t].expr) if not v.fixed]
            if free or abs(pyo.value(p.p_inj[t])) > 1e-12:
                raise ModelError(
                    f"participant '{p.name}' is deactivated but still injects in period {t} "
                    f"({'free variables ' + ', '.join(free[:3]) if free else 'a non-zero constant'}): "
                    f"the market's balance was built with it. To withdraw it, also fix its variables "
                    f"(and set its loads) to zero, as pyomo_ecc.mechanisms.properties.withdraw_resolve does")


def _active_objective(model):
    objs = list(model.component_data_objects(pyo.Objective, active=True, descend_into=True))
    if len(objs) != 1:
        raise SolverError(f"model '{model.name}' has {len(objs)} active objectives; need exactly one "
                          f"(did you assemble the market? pyomo_ecc.solve assembles it)")
    return objs[0]


class Solver:
    """A reusable solver: keep one for outer loops so the persistent interface sees only changes.

    >>> import pyomo_ecc as ecc
    >>> s = ecc.Solver("highs")
    >>> s.name
    'highs'
    """

    def __init__(self, name="highs", options=None, tee=False, persistent=False, verify=True,
                 verify_tol=VERIFY_TOL):
        if not isinstance(name, str) or not name:
            raise SolverError(f"a solver is named by a string such as 'highs' or 'ipopt', got {name!r}")
        if name not in _ALIASES and name not in _registered_solvers():
            raise SolverError(_unknown_solver_message(name))
        if options is not None and not isinstance(options, Mapping):
            raise SolverError(f"solver options must be a mapping name -> value, got {options!r}")
        bad = [k for k in (options or {}) if not isinstance(k, str)]
        if bad:
            raise SolverError(f"solver option names must be strings, got {bad[0]!r}")
        for flag_name, val in (("tee", tee), ("persistent", persistent), ("verify", verify)):
            if not isinstance(val, (bool, np.bool_)):
                raise SolverError(f"{flag_name} must be True or False, got {val!r}")
        try:
            verify_tol = finite_float(verify_tol)
        except ValueError:
            verify_tol = -1.0
        if verify_tol <= 0:
            raise SolverError(f"verify_tol must be a finite number > 0, got {verify_tol!r}")
        self.name = _ALIASES.get(name, name)
        if self.name == "highs" and options:
            _check_highs_options(options)
        self.persistent = persistent
        self.options = dict(options or {})
        self.tee = tee
        self.verify = verify
        self.verify_tol = verify_tol
        self._iface = None
        self._last_form = None
        self._fallback = None

    # -- interfaces ----------------------------------------------------------------------------
    def _interface(self):
        if self._iface is None:
            if self.name == "highs":
                self._iface = _NewSolverFactory("highs")
            else:
                with _pyomo_log_off():
                    self._iface = pyo.SolverFactory(self.name)
            try:
                with _pyomo_log_off():
                    ok = self._iface.available()
            except Exception:  # some interfaces raise instead of answering
                ok = False
            if not ok:
                self._iface = None
                hint = (" (install the 'nlp' extra and build PyNumero's ASL library: bash ecc.sh test)"
                        if self.name == "cyipopt" else "")
                raise SolverError(f"solver '{self.name}' is not available on this machine{hint}; "
                                  f"available: {', '.join(_available_solvers()) or 'none'}")
        return self._iface

    # -- solving ------------------------------------------------------------------------------
    def solve(self, model, diagnose=True):
        """Assemble every market (and economy) in ``model``, solve, load primal values and
        normalised duals.

        Raises :class:`SolverError` (or :class:`InfeasibleMarketError`) unless optimal.
        """
        markets = markets_in(model)
        for mk in markets:
            mk._pricing_basis = None   # until this solve is verified, nothing is published
        assemble_all(model)
        for mk in markets:
            _check_withdrawn(mk)
        obj = _active_objective(model)
        ints = _integer_vars(model)
        self._check_supported(model, obj, ints)
        term, raw = self._run(model, obj, want_duals=not ints)
        if term == "infeasible":
            if diagnose:
                raise self._infeasible(model)
            raise SolverError(f"model '{model.name}' is infeasible", termination=term)
        if term.startswith("error:") and diagnose:
            # an interface that raises on infeasibility (e.g. when it cannot skip loading the
            # solution of a block): the elastic relaxation tells whether the model is infeasible
            conflicts = diagnose_infeasibility(model, self)
            if conflicts is not None and not conflicts.empty:
                raise self._infeasible(model, conflicts)
        if term != "optimal":
            raise SolverError(f"solver '{self.name}' stopped with termination condition '{term}' "
                              f"on model '{model.name}'; no prices are available", termination=term)
        basis = "LP/QP duals"
        if ints:
            basis = "LP with integers fixed"
            self._fixed_integer_duals(model, obj, ints)
        for mk in markets:
            net = mk.get_network()
            if net is not None and hasattr(net, "check_solution"):
                net.check_solution()
        if self.verify:
            verify_solution(model, solver=self.name, termination=self._status(term, raw),
                            tol=self.verify_tol, standard_form=self._last_form)
        for mk in markets:
            mk._pricing_basis = basis
        name = self.name if not self._fallback else f"{self.name} (then {self._fallback})"
        return SolveResult(name, term, float(pyo.value(obj)), basis, raw)

    def _check_supported(self, model, obj, ints):
        """Refuse, with a clear message, the problem classes a solver cannot take (PyNumero's ASL
        interface would end the Python process on an integer variable; HiGHS has no MIQP)."""
        if self.name == "appsi_highs" and polynomial_degree(obj.expr) not in (0, 1):
            raise SolverError(f"appsi_highs cannot solve model '{model.name}': its objective is "
                              f"quadratic and that interface takes LP and MILP only; use "
                              f"solver='highs' (LP, convex QP, MILP) or solver='ipopt'")
        if not ints:
            return
        names = ", ".join(v.name for v in ints[:3]) + (", ..." if len(ints) > 3 else "")
        if self.name == "cyipopt":
            raise SolverError(f"Ipopt cannot solve model '{model.name}': it has {len(ints)} integer "
                              f"variable(s) ({names}); use solver='highs' for a MILP")
        if self.name == "highs" and polynomial_degree(obj.expr) not in (0, 1):
            raise SolverError(f"HiGHS cannot solve model '{model.name}': a quadratic objective with "
                              f"{len(ints)} integer variable(s) ({names}) is a MIQP; give linear or "
                              f"stepwise offers to units with commitment, or use a MIQP solver")

    def _run(self, model, obj, want_duals=True):
        """Solve once; return ('optimal' | 'infeasible' | other, raw results); load values."""
        self._last_form = None
        self._fallback = None
        if self.name == "cyipopt":
            self._interface()   # availability, with the install hint
            return self._run_cyipopt(model, obj, want_duals)
        if self.name == "highs" and not self.persistent and polynomial_degree(obj.expr) in (0, 1):
            out = self._run_highs_matrix(model, obj, want_duals)
            if out is not None:
                return out
        iface = self._interface()
        if self.name == "highs":
            return self._run_highs_persistent(model, obj, want_duals)
        if want_duals:
            if not isinstance(model.component("dual"), pyo.Suffix):
                model.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
            model.dual.clear()   # no stale value survives (nor is flipped twice) below
        kwargs = {"tee": self.tee}
        if hasattr(model, "solutions"):   # a Model can load a solution after the check
            kwargs["load_solutions"] = False
        if self.options:
            kwargs["options"] = self.options
        try:
            try:
                res = iface.solve(model, **kwargs)
            except (TypeError, ValueError) as e:  # an interface without load_solutions
                if "load_solutions" not in str(e):
                    raise
                kwargs.pop("load_solutions")
                res = iface.solve(model, **kwargs)
        except Exception as e:  # an interface that raises instead of reporting
            return f"error: {e}", None
        tc = res.solver.termination_condition
        if tc in _INFEASIBLE_OLD:
            return "infeasible", res
        if tc not in _OPTIMAL_OLD:
            return str(tc), res
        if "load_solutions" in kwargs:
            model.solutions.load_from(res)
        sign = DUAL_SIGN.get(self.name, 1.0)
        if self.name == "cyipopt" and obj.sense == pyo.maximize:
            sign = -sign   # PyNumero minimises -f: its flipped multipliers are d(-f)/d(rhs)
        if sign != 1.0 and want_duals:
            for c in list(model.dual):
                model.dual[c] = sign * model.dual[c]
        return "optimal", res

    def _run_highs_persistent(self, model, obj, want_duals):
        """HiGHS through Pyomo's interface (QP, or ``persistent=True``). A QP that HiGHS does not
        finish as optimal is tried again with the settings of :data:`HIGHS_QP_FALLBACKS` in turn,
        and then with Ipopt (a convex QP has one optimum, so the prices are the same); if every
        attempt fails, the error quotes each attempt's status."""
        quadratic = polynomial_degree(obj.expr) == 2 and not _integer_vars(model)
        attempts = [{}] + ([dict(f) for f in HIGHS_QP_FALLBACKS] if quadratic else [])
        tried = []
        for extra in attempts:
            opts = dict(self.options)
            if quadratic:
                opts.setdefault("qp_regularization_value", 0.0)
            opts.update({k: v for k, v in extra.items() if k not in self.options})
            term, res = self._highs_once(model, want_duals, opts)
            if term in ("optimal", "infeasible"):
                if tried:
                    log.info("HiGHS QP: %s; solved with %s", "; ".join(tried), extra)
                return term, res
            tried.append(f"{extra or 'default settings'}: {term}")
        if quadratic and _ipopt_available():
            term, res = Solver("ipopt", tee=self.tee, verify=False)._run(model, obj, want_duals)
            if term == "optimal":
                log.info("HiGHS QP: %s; solved with Ipopt", "; ".join(tried))
                self._fallback = "ipopt"
                return term, res
            tried.append(f"Ipopt: {term}")
        return "HiGHS " + "; ".join(tried), None

    def _highs_once(self, model, want_duals, opts):
        iface = self._interface()
        try:
            with _quiet(self.tee):
                res = iface.solve(model, tee=self.tee, load_solutions=False,
                                  raise_exception_on_nonoptimal_result=False, solver_options=opts)
        except IncompatibleModelError as e:
            raise SolverError(f"HiGHS cannot solve model '{model.name}': {e}; it takes LP, convex QP "
                              f"and MILP only: use solver='ipopt' for a nonlinear model") from None
        tc = res.termination_condition
        if tc in _INFEASIBLE_NEW:
            return "infeasible", res
        if tc != TC.convergenceCriteriaSatisfied:
            return _highs_status(iface, tc), res
        res.solution_loader.load_vars()
        if want_duals:
            self._store_duals(model, res.solution_loader.get_duals(), DUAL_SIGN["highs"])
        return "optimal", res

    def _run_cyipopt(self, model, obj, want_duals):
        """Ipopt through PyNumero's NLP interface, written without "defined variables".

        Pyomo's NL writer exports named Expressions as AMPL defined variables; a linear named
        Expression with a constant part (a fixed variable, a mutable Param or a number, e.g. a
        B-theta flow :math:`\\beta(\\theta_i - \\theta_r)` to a reference bus whose angle is
        fixed) that is used by several constraints is then written with the wrong coefficients
        in all but the first, and Ipopt solves a different problem. Substituting the Expressions
        (``export_defined_variables=False``) writes the model as Pyomo evaluates it. The solver's
        banner and log go to the terminal only with ``tee=True``.
        """
        import sys

        from pyomo.common.tee import capture_output
        from pyomo.contrib.pynumero.algorithms.solvers import cyipopt_solver as cys
        from pyomo.contrib.pynumero.interfaces.cyipopt_interface import CyIpoptNLP
        from pyomo.contrib.pynumero.interfaces.pyomo_nlp import PyomoNLP

        try:
            nlp = PyomoNLP(model, nl_file_options={"export_defined_variables": False})
        except Exception as e:   # the writer refuses the model (e.g. an unsupported expression)
            return f"error: {e}", None
        problem = CyIpoptNLP(nlp)
        for k, v in self.options.items():
            try:
                with _quiet(False):   # Ipopt prints its complaint on stdout
                    problem.add_option(k, v)
            except Exception as e:   # cyipopt raises TypeError on an unknown name or bad value
                problem.close()
                raise SolverError(f"Ipopt rejected option {k}={v!r} ({e}); see Ipopt's options "
                                  f"list (https://coin-or.github.io/Ipopt/OPTIONS.html)") from None
        try:
            with capture_output(sys.stdout if self.tee else None, capture_fd=True):
                x, info = problem.solve(problem.x_init())
        except Exception as e:
            return f"error: {e}", None
        finally:
            problem.close()
        msg = info["status_msg"]
        status = cys._cyipopt_status_enum.get(msg)
        tc = cys._ipopt_term_cond.get(status, LegacyTC.unknown)
        raw = {"status": info["status"], "status_msg": msg.decode() if isinstance(msg, bytes) else msg,
               "obj_val": info["obj_val"]}
        if tc in _INFEASIBLE_OLD:
            return "infeasible", raw
        if tc not in _OPTIMAL_OLD:
            return f"{tc} ({raw['status_msg']})", raw
        nlp.set_primals(x)
        for var, val in zip(nlp.get_pyomo_variables(), x):
            var.set_value(val, skip_validation=True)
        if want_duals:
            sign = DUAL_SIGN["cyipopt"]
            if obj.sense == pyo.maximize:
                sign = -sign   # PyNumero minimises -f: its flipped multipliers are d(-f)/d(rhs)
            self._store_duals(model, ComponentMap(zip(nlp.get_pyomo_constraints(), info["mult_g"])),
                              sign)
        return "optimal", raw

    @staticmethod
    def _status(term, raw):
        """The solver's own status line for messages: HiGHS's model status, Ipopt's message."""
        if isinstance(raw, dict) and "status_msg" in raw:
            return f"{term}: {raw['status_msg']}"
        try:
            import highspy
            if isinstance(raw, highspy.Highs):
                return f"{term}: HiGHS model status '{raw.modelStatusToString(raw.getModelStatus())}'"
        except ImportError:  # pragma: no cover
            pass
        tc = getattr(raw, "termination_condition", None)   # Pyomo's HiGHS interface
        if tc is not None:
            return f"{term}: termination condition '{getattr(tc, 'name', tc)}'"
        return term

    def _run_highs_matrix(self, model, obj, want_duals):
        """LP / MILP straight to highspy: Pyomo's standard-form compiler builds the sparse
        matrix (much faster than the persistent interface's term-by-term translation), HiGHS
        solves, values and row duals are mapped back. Returns None for a model the compiler
        does not take (nonlinear constraints): the persistent interface then reports on it."""
        try:
            info = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
        except InfeasibleConstraintException:   # a constraint without variables that fails
            return "infeasible", None
        except Exception:  # nonlinear or otherwise not a linear standard form
            return None
        import highspy
        self._last_form = info   # the solution check reuses the matrix
        inf = highspy.kHighsInf
        cols, A = info.columns, info.A
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(cols), A.shape[0]
        lp.col_cost_ = (info.c.toarray()[0] if info.c.shape[0] else np.zeros(len(cols))).astype(float)
        lp.offset_ = float(info.c_offset[0]) if len(info.c_offset) else 0.0
        if obj.sense == pyo.maximize:
            lp.sense_ = highspy.ObjSense.kMaximize
        lp.col_lower_ = np.array([-inf if v.lb is None else v.lb for v in cols], dtype=float)
        lp.col_upper_ = np.array([inf if v.ub is None else v.ub for v in cols], dtype=float)
        kind = np.array([r.bound_type for r in info.rows], dtype=int)
        rhs = np.asarray(info.rhs, dtype=float)
        lp.row_lower_ = np.where(kind <= 0, rhs, -inf)   # bound_type: 0 '==', -1 '>=', +1 '<='
        lp.row_upper_ = np.where(kind >= 0, rhs, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr
        lp.a_matrix_.index_ = A.indices
        lp.a_matrix_.value_ = A.data.astype(float)
        integer = [k for k, v in enumerate(cols) if not v.is_continuous()]
        if integer:
            flags = [highspy.HighsVarType.kContinuous] * len(cols)
            for k in integer:
                flags[k] = highspy.HighsVarType.kInteger
            lp.integrality_ = flags
        with _quiet(self.tee):   # HiGHS prints its banner when the first instance is created
            h = highspy.Highs()
        h.setOptionValue("output_flag", bool(self.tee))
        for key, val in self.options.items():
            if h.setOptionValue(key, val) != highspy.HighsStatus.kOk:
                raise SolverError(f"HiGHS rejected option {key}={val!r} (unknown name or bad value)")
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        S = highspy.HighsModelStatus
        if status == S.kModelEmpty:
            # no column left (e.g. every variable fixed): the compiler has already dropped the
            # constant rows that hold and raised InfeasibleConstraintException for any that fails
            if want_duals:
                self._store_duals(model, ComponentMap(
                    (c, 0.0) for c in model.component_data_objects(
                        pyo.Constraint, active=True, descend_into=True)), DUAL_SIGN["highs"])
            return "optimal", h
        if status in (S.kInfeasible, S.kUnboundedOrInfeasible):
            return "infeasible", h
        if status != S.kOptimal:
            return f"HiGHS model status '{h.modelStatusToString(status)}'", h
        sol = h.getSolution()
        for v, x in zip(cols, sol.col_value):
            v.set_value(round(x) if not v.is_continuous() else x, skip_validation=True)
        for v, expr in info.eliminated_vars:
            v.set_value(pyo.value(expr), skip_validation=True)
        if want_duals:
            if not sol.dual_valid:
                return "no duals", h
            duals = ComponentMap()
            for row, y in zip(info.rows, sol.row_dual):
                duals[row.constraint] = duals.get(row.constraint, 0.0) + y
            for c in model.component_data_objects(pyo.Constraint, active=True, descend_into=True):
                duals.setdefault(c, 0.0)   # a constraint with no variable left has dual 0
            self._store_duals(model, duals, DUAL_SIGN["highs"])
        return "optimal", h

    @staticmethod
    def _store_duals(model, duals, sign):
        suffix = model.component("dual")
        if not isinstance(suffix, pyo.Suffix):
            model.dual = suffix = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        suffix.clear()
        for c, val in duals.items():
            suffix[c] = sign * val

    def _fixed_integer_duals(self, model, obj, ints):
        """Fix the integers at the MILP solution, re-solve the LP for duals, restore."""
        saved = [(v, v.domain) for v in ints]   # bounds (maybe mutable Params) stay untouched
        try:
            for v in ints:
                val = round(v.value)
                v.domain = pyo.Reals
                v.fix(val)
            term, raw = self._run(model, obj, want_duals=True)
            if term != "optimal":
                raise SolverError(f"the LP with integers fixed ended '{term}'; no prices", term)
            if self.verify:   # the duals' KKT conditions hold for the LP with integers fixed
                verify_solution(model, solver=self.name, termination=self._status(term, raw),
                                tol=self.verify_tol, standard_form=self._last_form)
        finally:
            for v, dom in saved:
                v.unfix()
                v.domain = dom

    def _infeasible(self, model, conflicts=None):
        if conflicts is None:
            conflicts = diagnose_infeasibility(model, self)
        if conflicts is None or conflicts.empty:
            return InfeasibleMarketError(f"model '{model.name}' is infeasible (no diagnosis found)",
                                         conflicts)
        lines = [f"  {name}{_described(model, name)}: violated by {row.violation:.6g}"
                 for name, row in conflicts.iterrows()]
        return InfeasibleMarketError(
            f"model '{model.name}' is infeasible; these constraints conflict (an elastic relaxation "
            f"restores feasibility by relaxing them by the amounts shown):\n" + "\n".join(lines),
            conflicts)


#: solvers named in "available ones" messages, when installed
_COMMON_SOLVERS = ("highs", "appsi_highs", "ipopt", "glpk", "cbc", "scip", "gurobi", "cplex",
                   "xpress", "mosek")


def _check_highs_options(options):
    """Refuse an unknown HiGHS option or a bad value before solving (Pyomo's interface would
    pass over it), naming it."""
    import highspy
    with _quiet(False):
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for key, val in options.items():
        if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, float, str, np.integer,
                                                                     np.floating)):
            ok = isinstance(val, (bool, np.bool_)) and h.setOptionValue(key, bool(val)) == \
                highspy.HighsStatus.kOk
        else:
            ok = h.setOptionValue(key, val) == highspy.HighsStatus.kOk
        if not ok:
            raise SolverError(f"HiGHS rejected option {key}={val!r} (unknown name or bad value; "
                              f"see https://ergo-code.github.io/HiGHS/stable/options/definitions/)")


def _pyomo_log_off():
    """Silence Pyomo's own log while probing a solver (we raise one clear error instead)."""
    import contextlib

    @contextlib.contextmanager
    def quiet():
        lg = logging.getLogger("pyomo")
        old = lg.level
        lg.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            lg.setLevel(old)
    return quiet()


def _registered_solvers():
    return set(pyo.SolverFactory) | set(_NewSolverFactory) | set(_ALIASES)


def _available_solvers():
    out = []
    for name in _COMMON_SOLVERS:
        try:
            with _pyomo_log_off():
                iface = (_NewSolverFactory(name) if name == "highs"
                         else pyo.SolverFactory(_ALIASES.get(name, name)))
                if iface.available():
                    out.append(name)
        except Exception:  # not installed: interfaces raise in different ways
            continue
    return out


def _unknown_solver_message(name):
    import difflib
    known = sorted(n for n in _registered_solvers() if not n.startswith("_"))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (f"unknown solver {name!r}: not available (Pyomo knows no solver of that name){hint} "
            f"Available on this machine: {', '.join(_available_solvers()) or 'none'}")


def _quiet(tee):
    """Keep a solver's banner and log off stdout (file-descriptor level) unless ``tee``."""
    import contextlib

    from pyomo.common.tee import capture_output
    if tee:
        return contextlib.nullcontext()
    return capture_output(None, capture_fd=True)   # C++ banners write to file descriptor 1


def _highs_status(iface, tc):
    """The termination condition and HiGHS's own model status (when the interface has it)."""
    try:
        h = iface._solver_model
        return f"{tc.name} (HiGHS model status '{h.modelStatusToString(h.getModelStatus())}')"
    except Exception:  # an interface without a live highspy model
        return str(tc.name)


def _ipopt_available():
    try:
        return bool(pyo.SolverFactory("cyipopt").available())
    except Exception:
        return False


def _described(model, name):
    """`` (doc)`` of the constraint called ``name``, when it has one (its meaning and unit)."""
    c = model.find_component(name)
    doc = c.parent_component().doc if c is not None else None
    return f" ({doc})" if doc else ""


def diagnose_infeasibility(model, solver=None, tol=1e-7):
    """Elastic relaxation: which constraints must be relaxed, and by how much, to be feasible.

    Returns a DataFrame indexed by constraint name with column ``violation`` (>0), largest first.
    Variable bounds cannot be relaxed: a variable whose lower bound exceeds its upper bound is
    reported alone (by name, violation = lb - ub).
    """
    crossed = [(v.name, v.lb - v.ub) for v in model.component_data_objects(pyo.Var, descend_into=True)
               if not v.fixed and v.lb is not None and v.ub is not None and v.lb > v.ub + tol]
    if crossed:
        return pd.DataFrame(crossed, columns=["constraint", "violation"]).set_index("constraint")
    m = model.clone()
    for o in m.component_data_objects(pyo.Objective, active=True, descend_into=True):
        o.deactivate()
    cons = list(m.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    m._ecc_elastic = pyo.Block()
    b = m._ecc_elastic
    b.idx = pyo.RangeSet(0, len(cons) - 1)
    b.s_up = pyo.Var(b.idx, bounds=(0, None))   # bounds, not a domain: no warnings on -1e-12
    b.s_lo = pyo.Var(b.idx, bounds=(0, None))
    b.rows = pyo.ConstraintList()
    for k, c in enumerate(cons):
        c.deactivate()
        if c.has_ub():
            b.rows.add(c.body - b.s_up[k] <= c.upper)
        if c.has_lb():
            b.rows.add(c.body + b.s_lo[k] >= c.lower)
    b.obj = pyo.Objective(expr=sum(b.s_up[k] + b.s_lo[k] for k in b.idx))
    linear = all(polynomial_degree(c.body) in (0, 1) for c in cons)
    if linear or solver is None:   # a vertex solution names fewest constraints: use HiGHS
        s = Solver("highs")
    else:
        s = Solver(solver.name, solver.options)
    term, _ = s._run(m, b.obj, want_duals=False)
    if term != "optimal":
        log.warning("elastic relaxation ended '%s'; no diagnosis", term)
        return None
    rows = []
    for k, c in enumerate(cons):
        v = max(b.s_up[k].value or 0.0, 0.0) + max(b.s_lo[k].value or 0.0, 0.0)
        if v > tol:
            rows.append((c.name, v))
    df = pd.DataFrame(rows, columns=["constraint", "violation"]).set_index("constraint")
    return df.sort_values("violation", ascending=False)


def solve(model, solver="highs", options=None, tee=False, diagnose=True):
    """Assemble and solve ``model`` with ``solver``; see :class:`Solver`."""
    return Solver(solver, options=options, tee=tee).solve(model, diagnose=diagnose)
