r"""What-ifs: solve the same model many times with small changes, fast, and never lose it.

A what-if is a list of typed *changes* applied to a built model, solved, and undone: the
changes (:class:`SetParam`, :class:`Fix`, :class:`Unfix`, :func:`withdraw`, :class:`MoveRHS`,
:class:`Deactivate`, :class:`Activate`) are those of :mod:`pyomo_ecc.core.changes`, which
lists what each one does; they are re-exported here.

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
    >>> from pyomo_ecc.whatif import WhatIf, SetParam, withdraw
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

import pickle
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.changes import (Activate, Deactivate, Fix, MoveRHS, SetParam, Touched,  # noqa: F401
                                    Unfix, Withdraw, _apply, _check_blocks, _name, _undo, _VALUE,
                                    applied, resolve, restore, set_param, snapshot, withdraw)
from pyomo_ecc.errors import EccError, InfeasibleMarketError, InputError, ModelError, SolverError


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
        self._batch = None     # while run_many runs a batch: {"memo": rows of each block}
        self._pending = None   # the last what-if's undo, not yet pushed (inside a batch)
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
        self._pending = None   # the new form is compiled from the model as it stands
        if self._batch is not None:
            self._batch["memo"] = {}
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
        if self.incremental and self._batch is None:   # a batch checks once, at its start
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
                if self._batch is not None and self._basis is not None:
                    # inside a batch the live model stays at this what-if: the next one pushes
                    # the difference (this undo and its own changes, in one update)
                    self._pending = back if self._pending is None else self._pending.merged(back)
                else:
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
        """Bring the form and the live model up to date with what ``touched`` lists (and the
        pending undo of the previous what-if of a batch)."""
        from pyomo_ecc.core.standard_form import StructureChanged
        if self._pending is not None:
            touched, self._pending = self._pending.merged(touched), None
        memo = None if self._batch is None else self._batch["memo"]
        try:
            delta = self.sf.update(**touched.as_kwargs(), memo=memo)
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
        v, what = self.sf.worst_violation(x, tol=self.FEASIBILITY_TOL)
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
        key = tuple(map(id, exprs))
        hit = self._stacked.get(key)   # it keeps its expressions: their ids stay theirs
        if hit is None or list(map(_VALUE, hit[0])) != hit[1]:
            import scipy.sparse as sp
            from pyomo_ecc.core.standard_form import _hessian
            parts = [self.sf.expression_parts(e) for e in exprs]
            params = list({id(p): p for e in exprs for p in identify_mutable_parameters(e)}.values())
            rows = [k for k, p in enumerate(parts) for _ in p[1]]
            cols = [j for p in parts for j in p[1]]
            coef = [a for p in parts for a in p[1].values()]
            C = sp.csr_array((np.array(coef, dtype=float), (np.array(rows, dtype=int), np.array(cols, dtype=int))),
                             shape=(len(parts), self.sf.n))
            C.sum_duplicates()
            quad = [(k, _hessian(p[2], self.sf.n)) for k, p in enumerate(parts) if p[2]]
            hit = self._stacked[key] = (params, list(map(_VALUE, params)), C,
                                        np.array([p[0] for p in parts], dtype=float), quad, exprs)
        _, _, C, c0, quad, _ = hit
        v = c0 + C @ x
        for k, Q in quad:
            v[k] += 0.5 * x @ (Q @ x)
        return dict(zip(values.keys(), v.tolist()))

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
        of ``scenarios``; every backend gives the same numbers. Serially (and in each worker)
        the what-ifs run as one batch: parameters set outside the engine are looked for once, and
        each undo is pushed with the next what-if's changes (:meth:`_run_batch`)."""
        items = list(scenarios.items()) if isinstance(scenarios, dict) else list(enumerate(scenarios))
        values = {k: _name(v) for k, v in (values or {}).items()}
        prices = [prices] if isinstance(prices, str) else list(prices)
        if backend == "serial":
            named = {k: self.model.find_component(v) for k, v in values.items()}
            return self._run_batch(items, prices, named, diagnose, progress)
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

    def _run_batch(self, items, prices, values, diagnose, progress=False):
        """Run the what-ifs ``items`` (``[(name, changes)]``) as one batch.

        Between two what-ifs of a batch only the engine runs: each what-if's changes are applied
        and undone by :func:`_apply` / :func:`_undo`, which report everything they touch, so
        nothing else can move in the model. Hence (i) parameters set outside the engine are
        looked for once, before the batch, not before every what-if; (ii) a what-if's undo is
        not pushed on its own: the next what-if pushes the difference between the two (its
        changes and the undo, one update of the form and one push to HiGHS; the live model is
        the same as after base -> what-if -> base -> next what-if, and every solve starts from
        the base basis); (iii) the rows of a block are looked up once. After the batch the last
        undo is pushed and the parameters are compared once more: if any moved during the batch
        (a change whose ``ops`` sets parameters itself), the batch is run again what-if by
        what-if, each checking first."""
        from pyomo_ecc.core.progress import tqdm
        loop = tqdm(items, desc="what-ifs", disable=not progress)
        if not self.incremental:
            return [self.run(ch, prices, values, name, diagnose) for name, ch in loop]
        self._follow_outside_changes()
        self._batch = {"memo": {}}
        try:
            outs = [self.run(ch, prices, values, name, diagnose) for name, ch in loop]
        finally:
            self._batch = None
            if self.incremental:
                self._push(Touched())   # the last what-if's undo
        if self.incremental and self.sf.moved_params():
            outs = [self.run(ch, prices, values, name, diagnose) for name, ch in items]
        return outs

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
        return eng._run_batch(chunk, self.prices, named, self.diagnose)


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
