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
import scipy.sparse as sp
from pyomo.common.collections import ComponentMap
from pyomo.contrib.solver.common.factory import SolverFactory as _NewSolverFactory
from pyomo.contrib.solver.common.results import TerminationCondition as TC
from pyomo.contrib.solver.common.util import IncompatibleModelError
from pyomo.core.expr.visitor import identify_variables, polynomial_degree
from pyomo.opt import TerminationCondition as LegacyTC

from pyomo_ecc.core.config import finite_float
from pyomo_ecc.core.heap import frozen_heap
from pyomo_ecc.core.market import assemble_all, markets_in
from pyomo_ecc.core.params import validate_parameters
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
    inactive = [p for p in market.participants(active=False) if not p.active]
    if not inactive:
        return
    balanced = {d.t for d in net.price_declarations() if d.price == "lmp" and d.constraint.active}
    for p in inactive:
        for t in (t for t in market.T if t in balanced):
            free = [v.name for v in identify_variables(p.p_inj[t].expr) if not v.fixed]
            if free or abs(pyo.value(p.p_inj[t])) > 1e-12:
                raise ModelError(
                    f"participant '{p.name}' is deactivated but still injects in period {t} "
                    f"({'free variables ' + ', '.join(free[:3]) if free else 'a non-zero constant'}): "
                    f"the market's balance was built with it. To withdraw it, also fix its variables "
                    f"(and set its loads) to zero: pyomo_ecc.withdraw(participant) does")


def _active_objective(model):
    from pyomo_ecc.core.standard_form import active_objective
    return active_objective(model, SolverError)


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

        Raises :class:`SolverError` (or :class:`InfeasibleMarketError`) unless optimal. The
        objects that exist on entry (the model) are left out of the cyclic garbage collector
        until it returns (:func:`~pyomo_ecc.core.heap.frozen_heap`).
        """
        with frozen_heap():
            return self._solve(model, diagnose)

    def _solve(self, model, diagnose):
        markets = markets_in(model)
        for mk in markets:
            mk._pricing_basis = None   # until this solve is verified, nothing is published
        assemble_all(model)
        validate_parameters(model)   # values set on mutable parameters since build
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
        if self.name == "highs" and not self.persistent:
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
        """LP / QP / MILP straight to highspy from the model's standard form
        (:mod:`pyomo_ecc.core.standard_form`, built by Pyomo's standard-form compiler: much
        faster than a term-by-term translation); values and row duals are mapped back. Returns
        None for a model that has no standard form (nonlinear): the persistent interface then
        reports on it."""
        from pyomo_ecc.core.standard_form import NotStandardForm, standard_form
        try:
            sf = standard_form(model, track=False)
        except NotStandardForm:
            return None
        self._last_form = sf   # the solution check reuses the matrices
        with _quiet(self.tee):   # HiGHS prints its banner when the first instance is created
            live = HighsModel(sf, self.options, self.tee)
            out = live.run()
        if out.status != "optimal":
            return out.status, live
        sf.load(out.x)
        if want_duals:
            if out.row_dual is None:
                return "no duals", live
            self._store_duals(model, out.duals_by_constraint(sf), DUAL_SIGN["highs"])
        return "optimal", live

    @staticmethod
    def _store_duals(model, duals, sign):
        suffix = model.component("dual")
        if not isinstance(suffix, pyo.Suffix):
            model.dual = suffix = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        suffix.clear()
        for c, val in duals.items():
            suffix[c] = sign * val

    def _fixed_integer_duals(self, model, obj, ints):
        """Fix the integers at the MILP solution, re-solve the LP for duals, restore the fixings
        (a what-if: :func:`pyomo_ecc.core.changes.applied`; the LP's values and duals are kept).
        The duals are verified while the integers are fixed (their KKT conditions are the LP's)."""
        from pyomo_ecc.core.changes import Fix, applied
        with applied(model, [Fix(v, round(v.value)) for v in ints], keep_solution=True):
            term, raw = self._run(model, obj, want_duals=True)
            if term == "optimal" and self.verify:
                verify_solution(model, solver=self.name, termination=self._status(term, raw),
                                tol=self.verify_tol, standard_form=self._last_form)
        if term != "optimal":
            raise SolverError(f"the LP with integers fixed ended '{term}'; no prices", term)

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
    from pyomo_ecc.core.standard_form import NotStandardForm, StandardFormData, standard_form
    try:
        sf = standard_form(model, track=False)
    except NotStandardForm:
        return _diagnose_nonlinear(model, solver, tol)
    # min w's + w'r  s.t.  lo <= A x + s - r <= up, s, r >= 0 (only rows with a finite bound);
    # w = 1, a little more on equations (balances), so that of equally short relaxations the
    # limit (a capacity, a cap) is named rather than the balance it starves
    rows = np.flatnonzero(np.isfinite(sf.row_lower) | np.isfinite(sf.row_upper))
    k = len(rows)
    w = np.where(sf.row_lower[rows] == sf.row_upper[rows], 1.0 + 1e-4, 1.0)
    E = sp.csr_array((np.ones(k), (rows, np.arange(k))), shape=(sf.m, k))
    elastic = StandardFormData(
        A=sp.hstack([sf.A, E, -E], format="csr"), row_lower=sf.row_lower, row_upper=sf.row_upper,
        col_lower=np.concatenate([sf.col_lower, np.zeros(2 * k)]),
        col_upper=np.concatenate([sf.col_upper, np.full(2 * k, np.inf)]),
        integer=np.concatenate([sf.integer, np.zeros(2 * k, dtype=bool)]),
        c=np.concatenate([np.zeros(sf.n), w, w]))
    for c in sf.constant_rows:
        val = pyo.value(c.body)
        lo = -np.inf if c.lower is None else pyo.value(c.lower)
        up = np.inf if c.upper is None else pyo.value(c.upper)
        if not lo - tol <= val <= up + tol:
            return pd.DataFrame([(c.name, max(lo - val, val - up))], columns=["constraint", "violation"]
                                ).set_index("constraint")
    out = HighsModel(elastic).run()
    if out.status != "optimal":
        log.warning("elastic relaxation ended '%s'; no diagnosis", out.status)
        return None
    slack = out.x[sf.n:sf.n + k] + out.x[sf.n + k:]
    found = [(sf.rows[i].name, float(v)) for i, v in zip(rows, slack) if v > tol]
    df = pd.DataFrame(found, columns=["constraint", "violation"]).set_index("constraint")
    return df.sort_values("violation", ascending=False)


def _diagnose_nonlinear(model, solver, tol):
    """The elastic relaxation of a model without a standard form, on a clone (with its solver)."""
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
    s = Solver("highs") if solver is None else Solver(solver.name, solver.options)
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


class HighsRun:
    """One HiGHS run of a :class:`HighsModel`: ``status`` ('optimal', 'infeasible' or HiGHS's
    own status text), column values ``x``, row duals (d objective / d row bound, in the model's
    own sense), objective in the model's own sense, and HiGHS's status text.

    ``duals``: instead of ``row_dual``, a function that reads them (called once, on the first
    access of :attr:`row_dual`): a what-if that asks for no prices never pays for reading
    thousands of duals out of HiGHS."""

    __slots__ = ("status", "x", "_row_dual", "_duals", "objective", "highs_status")

    def __init__(self, status, x=None, row_dual=None, objective=float("nan"), highs_status="",
                 duals=None):
        self.status, self.x, self.objective, self.highs_status = status, x, objective, highs_status
        self._row_dual, self._duals = row_dual, duals

    @property
    def row_dual(self):
        if self._duals is not None:
            self._row_dual, self._duals = self._duals(), None
        return self._row_dual

    def __repr__(self):
        return (f"HighsRun(status={self.status!r}, objective={self.objective!r}, "
                f"highs_status={self.highs_status!r})")

    def duals_by_constraint(self, sf):
        duals = ComponentMap(zip(sf.rows, (float(y) for y in self.row_dual)))
        for c in sf.constant_rows:
            duals[c] = 0.0
        return duals


class HighsModel:
    """A live HiGHS model of a :class:`~pyomo_ecc.core.standard_form.StandardForm`: compiled
    once, changed in place (:meth:`apply` pushes a :class:`~pyomo_ecc.core.standard_form.Delta`:
    bounds, right-hand sides, costs, coefficients, the Hessian) and re-solved warm from a basis
    (:meth:`run`). LP, convex QP and MILP."""

    #: regularisations tried, smallest first, when HiGHS's QP solver fails unregularised (then
    #: Ipopt on the same matrices, :func:`ipopt_qp`); their duals are exact to about that size
    QP_REGULARISATION = (1e-9, 1e-8)

    def __init__(self, sf, options=None, tee=False):
        import highspy

        self.sf = sf
        self._hs = highspy
        self.options = dict(options or {})
        self.tee = tee
        self.h = self._new()
        self._aid = np.zeros(0, dtype=int)   # columns passed without their aid bounds
        self._pass()

    def _new(self):
        hs = self._hs
        with _quiet(self.tee):   # the banner of the first instance (what-if engines create them)
            h = hs.Highs()
        h.setOptionValue("output_flag", bool(self.tee))
        opts = dict(self.options)
        if self.sf.quadratic and not self._integers().any():
            opts.setdefault("qp_regularization_value", 0.0)   # exact QP duals
        for key, val in opts.items():
            if h.setOptionValue(key, val) != hs.HighsStatus.kOk:
                raise SolverError(f"HiGHS rejected option {key}={val!r} (unknown name or bad value)")
        return h

    #: HiGHS statuses that end a run without a verdict on the problem: a solve without the aid
    #: bounds that stops so is not repeated with them (a time limit is the user's)
    _LIMITS = ("kTimeLimit", "kIterationLimit", "kInterrupt", "kSolutionLimit", "kObjectiveBound",
               "kObjectiveTarget", "kMemoryLimit")

    def _retry_with_aid(self, status, S, sol=None):
        """True when the run without the aid bounds is to be repeated with them: it failed
        (other than at a limit), or it is optimal with a column outside an aid bound (``sol``:
        the run's ``getSolution()``, read here when not given)."""
        if status != S.kOptimal:
            return not any(status == getattr(S, name, None) for name in self._LIMITS)
        j = self._aid
        sol = self.h.getSolution() if sol is None else sol
        x = np.asarray(sol.col_value, dtype=float)[j]
        return bool(np.any((x < self.sf.col_lower[j]) | (x > self.sf.col_upper[j])))

    def _pass(self):
        hs, sf, h = self._hs, self.sf, self.h
        lp = hs.HighsLp()
        lp.num_col_, lp.num_row_ = sf.n, sf.m
        lp.col_cost_ = np.asarray(sf.c, dtype=float)
        lp.offset_ = float(sf.c0)
        lp.col_lower_ = sf.col_lower
        lp.col_upper_ = sf.col_upper
        aid = getattr(sf, "aid_columns", None)
        lo_aid, up_aid = aid() if aid is not None else (np.zeros(sf.n, bool), np.zeros(sf.n, bool))
        self._aid = np.flatnonzero(lo_aid | up_aid)
        if len(self._aid):   # bounds that are only a solver aid: tried without them first
            lo, up = sf.col_lower.copy(), sf.col_upper.copy()
            lo[lo_aid], up[up_aid] = -np.inf, np.inf
            lp.col_lower_, lp.col_upper_ = lo, up
        lp.row_lower_ = sf.row_lower
        lp.row_upper_ = sf.row_upper
        A = sf.A.tocsc()
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr
        lp.a_matrix_.index_ = A.indices
        lp.a_matrix_.value_ = A.data.astype(float)
        ints = self._integers()
        if ints.any():
            lp.integrality_ = [hs.HighsVarType.kInteger if k else hs.HighsVarType.kContinuous
                               for k in ints]
        if sf.quadratic:
            model = hs.HighsModel()
            model.lp_ = lp
            model.hessian_ = self._hessian()
            h.passModel(model)
        else:
            h.passModel(lp)

    def _integers(self):
        """Integer columns that are not fixed (a fixed integer is a constant: the LP with
        integers fixed has duals)."""
        sf = self.sf
        return sf.integer & (sf.col_lower < sf.col_upper)

    def _hessian(self):
        hs = self._hs
        L = sp.tril(self.sf.Q, format="csc")
        H = hs.HighsHessian()
        H.dim_ = self.sf.n
        H.format_ = hs.HessianFormat.kTriangular
        H.start_ = L.indptr
        H.index_ = L.indices
        H.value_ = L.data.astype(float)
        return H

    def apply(self, delta):
        """Push what changed in the standard form to HiGHS (nothing is recompiled)."""
        sf, h = self.sf, self.h
        if len(delta.col_bounds):
            j = delta.col_bounds
            h.changeColsBounds(len(j), j, sf.col_lower[j], sf.col_upper[j])
            ji = j[sf.integer[j]]
            if len(ji):
                hs = self._hs
                kinds = [hs.HighsVarType.kInteger if k else hs.HighsVarType.kContinuous
                         for k in self._integers()[ji]]
                h.changeColsIntegrality(len(ji), ji, kinds)
        if len(delta.row_bounds):
            i = delta.row_bounds
            h.changeRowsBounds(len(i), i, sf.row_lower[i], sf.row_upper[i])
        if len(delta.cost):
            j = delta.cost
            h.changeColsCost(len(j), j, sf.c[j])
        for i, j, val in delta.coefs:
            h.changeCoeff(int(i), int(j), float(val))
        if delta.hessian:
            h.passHessian(self._hessian())
        if delta.offset:
            h.changeObjectiveOffset(float(sf.c0))

    def basis(self):
        return self.h.getBasis()

    def run(self, basis=None, regularise=True):
        """Solve (from ``basis`` when given); return a :class:`HighsRun`."""
        hs, sf, h = self._hs, self.sf, self.h
        for c in sf.constant_rows:   # rows without variables: they hold or the model is infeasible
            lo, body, up = c.lower, c.body, c.upper
            val = pyo.value(body)
            if (lo is not None and val < pyo.value(lo) - 1e-9) or (up is not None and val > pyo.value(up) + 1e-9):
                return HighsRun("infeasible", highs_status=f"constraint '{c.name}' without variables fails")
        if sf.n == 0:
            return HighsRun("optimal", np.zeros(0), np.zeros(sf.m), sf.objective_value(np.zeros(0)), "empty")
        if basis is not None:
            h.setBasis(basis)
        h.run()
        status = h.getModelStatus()
        S = hs.HighsModelStatus
        sol = h.getSolution() if len(self._aid) and status == S.kOptimal else None
        if len(self._aid) and self._retry_with_aid(status, S, sol):
            # not solved without the aid bounds (StandardForm.aid_columns), or solved with a
            # column beyond one of them: put them back (the problem is the same where they do
            # not bind, and the solution check says so where they do) and solve again
            j, self._aid = self._aid, np.zeros(0, dtype=int)
            h.changeColsBounds(len(j), j, sf.col_lower[j], sf.col_upper[j])
            h.run()
            status, sol = h.getModelStatus(), None
        text = h.modelStatusToString(status)
        if status in (S.kInfeasible, S.kUnboundedOrInfeasible):
            return HighsRun("infeasible", highs_status=text)
        if status != S.kOptimal and regularise and sf.quadratic and not self._integers().any():
            # HiGHS's QP solver can fail ("Solve error") on a QP whose Hessian is singular on many
            # free columns (e.g. B-theta angles); the smallest regularisation that it solves is
            # used, and said: its duals are exact to about that relative size
            for reg in self.QP_REGULARISATION:
                alt = HighsModel(sf, {**self.options, "qp_regularization_value": reg}, self.tee)
                out = alt.run(regularise=False)
                if out.status == "optimal":
                    out.highs_status = f"Optimal with QP regularisation {reg:g} (unregularised: {text})"
                    return out
            out = ipopt_qp(sf)   # an interior point on the same matrices, when Ipopt is installed
            if out.status == "optimal":
                out.highs_status = f"Optimal by Ipopt on the same QP (HiGHS: {text})"
                return out
        if status != S.kOptimal:
            return HighsRun(text, highs_status=text)
        if sol is None:   # a copy: its duals are read only if asked for (HighsRun.row_dual)
            sol = h.getSolution()
        x = np.fromiter(sol.col_value, dtype=float, count=sf.n)
        duals = None
        if sol.dual_valid:
            def duals(sol=sol, m=sf.m, sense=sf.sense):
                return np.fromiter(sol.row_dual, dtype=float, count=m) * sense
        return HighsRun("optimal", x, None, sf.objective_value(x), text, duals=duals)


def ipopt_qp(sf, tol=1e-10):
    r"""Solve the convex QP of a standard form with Ipopt (``cyipopt``) straight from its matrices:
    :math:`\min c_0 + c^\top x + \tfrac12 x^\top Q x` s.t. :math:`r^{lo} \le Ax \le r^{up}`,
    :math:`l \le x \le u`. The fallback for a QP that HiGHS's active-set solver fails on (it
    needs no Pyomo model, so no ASL). Row duals come back in the solver layer's convention
    (d objective / d row bound). Returns a :class:`HighsRun` (status ``"unavailable"`` without
    cyipopt)."""
    try:
        import cyipopt
    except ImportError:
        return HighsRun("unavailable", highs_status="cyipopt is not installed")
    A = sf.A.tocoo()
    L = sp.tril(sf.Q, format="coo")
    arow, acol, aval = A.row, A.col, A.data.astype(float)
    hrow, hcol, hval = L.row, L.col, L.data.astype(float)
    c, Q = np.asarray(sf.c, float), sf.Q.tocsr()

    class _QP:
        def objective(self, x):
            return float(c @ x + 0.5 * x @ (Q @ x))

        def gradient(self, x):
            return c + Q @ x

        def constraints(self, x):
            return sf.A @ x

        def jacobian(self, x):
            return aval

        def jacobianstructure(self):
            return arow, acol

        def hessian(self, x, lagrange, obj_factor):
            return obj_factor * hval

        def hessianstructure(self):
            return hrow, hcol

    big = 1e20
    lo = np.where(np.isfinite(sf.col_lower), sf.col_lower, -big)
    up = np.where(np.isfinite(sf.col_upper), sf.col_upper, big)
    cl = np.where(np.isfinite(sf.row_lower), sf.row_lower, -big)
    cu = np.where(np.isfinite(sf.row_upper), sf.row_upper, big)
    nlp = cyipopt.Problem(n=sf.n, m=sf.m, problem_obj=_QP(), lb=lo, ub=up, cl=cl, cu=cu)
    for key, val in (("print_level", 0), ("sb", "yes"), ("tol", tol), ("hessian_constant", "yes"),
                     ("jac_c_constant", "yes"), ("jac_d_constant", "yes"), ("mu_strategy", "adaptive")):
        nlp.add_option(key, val)
    x0 = np.clip(np.zeros(sf.n), lo, up)
    x, info = nlp.solve(x0)
    if info["status"] not in (0, 1):
        return HighsRun(f"Ipopt: {info['status_msg']!s}", highs_status=str(info["status_msg"]))
    # Ipopt's Lagrangian is f + g'lambda: d f*/d(bound) = -lambda
    duals = -np.asarray(info["mult_g"], dtype=float) * sf.sense
    return HighsRun("optimal", np.asarray(x, float), duals, sf.objective_value(np.asarray(x, float)),
                    "Optimal (Ipopt)")
