r"""Loss-aware linear prices: iterate LinDistFlow with losses to the AC DistFlow operating point.

:class:`~pyomo_ecc.network.lindistflow.LinDistFlowLosses` is the DistFlow model with its two
nonlinear constraints (squared current, rating circle) linearised at an operating point
:math:`\hat x`. :func:`solve_losses` solves it (an LP, or a convex QP with quadratic offers; HiGHS),
moves the operating point to the solution, and solves again, until

.. math::

    \max_{j,t} \frac{r_j}{s}\,\Big|\ell_{j,t} - \frac{s^2 (P_{j,t}^2 + Q_{j,t}^2)}{v_{\pi(j),t}}\Big|
        \le \epsilon_{loss}, \qquad
    \max_{j,t} \big(\sqrt{P_{j,t}^2+Q_{j,t}^2} - \overline{S}_j\big) \le \epsilon_{loss}, \qquad
    \max_{i,t} |\lambda^{(k)}_{i,t} - \lambda^{(k-1)}_{i,t}| \le \epsilon_{price}

(losses in MW, prices in currency per MWh). At such a fixed point the linearised constraints
and their gradients are AC DistFlow's, so the solution and its duals satisfy the AC KKT
conditions: the nodal prices are AC DistFlow prices (to the stated tolerances), each computed
by a linear solver, and :func:`~pyomo_ecc.pricing.dlmp.dlmp` splits them into energy, loss,
congestion and voltage. Each re-solve changes mutable Params only. With HiGHS the model is
compiled once (:class:`CompiledLosses`, ``engine="whatif"``): the operating point enters the
matrices at known places (nine entries per branch and period, two per rated branch, the
second-order term's diagonal), which are written from closed forms each iteration and the LP
re-solved warm; otherwise (``engine="solve"``) each re-solve goes through one
:class:`~pyomo_ecc.solvers.Solver` (:func:`resolve`), which compiles the model afresh.

Plain successive linearisation neglects the curvature of the losses; it converges in a few
iterations on most feeders, but with storage and near-linear offers it can cycle between
vertices. Then (``curvature="auto"``, the default: from the second iteration when some offer
is quadratic, the iterates being QPs anyway, else as soon as the price change stops halving;
``True``: from the second iteration) each iterate also carries the second-order term of the losses in the
Lagrangian,

.. math::

    \tfrac12 \sum_{j,t} \rho_{j,t}\big((P_{j,t} - \hat P_{j,t})^2 + (Q_{j,t} - \hat Q_{j,t})^2\big),
    \qquad \rho_{j,t} = \frac{2 s\,(\omega^p_{j,t} r_j + \omega^q_{j,t} x_j)^+}{\hat v_{\pi(j),t}}

(:math:`\omega` the balance multipliers of the last solve): a convex QP whose term and
gradient vanish at the fixed point, so the prices there are unchanged, and the iteration is a
sequential QP (5 iterations on the 33-bus day with a battery and an EV load, where the plain
iteration cycles). The plain iterates stay LPs while they contract, which matters at scale:
HiGHS's QP solver is slower than its simplex, and fails on some large QPs (the solver layer
then falls back to a regularisation or to Ipopt on the same matrices). It stops with a
:class:`~pyomo_ecc.errors.SolverError` after ``max_iter`` iterations.

Example (two buses, 2 MW at the end of the line: the loss component is positive)::

    >>> import networkx as nx, pyomo_ecc as ecc
    >>> from pyomo_ecc.network.lindistflow import LinDistFlowLosses
    >>> g = nx.Graph(); g.add_edge(0, 1, r=0.05, x=0.02)
    >>> g.nodes[1]["load"] = 2.0
    >>> m = ecc.Market()
    >>> m.grid = ecc.Producer(bus=0, b=40.0, p_max=10)
    >>> m.net = LinDistFlowLosses(graph=g, ref_bus=0, base_mva=10.0)
    >>> it = solve_losses(m)
    >>> bool(it.converged.iloc[-1]), len(it) < 10
    (True, True)
    >>> d = ecc.dlmp(m)
    >>> round(float(d.loc[(1, 0), "loss"]), 4) > 0
    True
"""
import time

import numpy as np
import pandas as pd

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import ModelError, SolverError
from pyomo_ecc.pricing.prices import _dual_suffix


def _lossy_networks(model):
    nets = [mk.get_network() for mk in markets_in(model)]
    nets = [n for n in nets if n is not None and n.linearised]
    if not nets:
        raise ModelError(f"'{model.name}' has no LinDistFlowLosses network: solve_losses "
                         f"iterates the loss-aware linear feeder model (pyomo_ecc.LinDistFlowLosses)")
    return nets


def _quadratic_offers(nets):
    """Whether any participant's as-bid cost is quadratic (the iterates are QPs anyway)."""
    from pyomo.core.expr.visitor import polynomial_degree
    return any(polynomial_degree(p.bid_cost) == 2 for net in nets
               for p in net.market().participants())


def resolve(solver, model):
    """One re-solve of the same model after its mutable Params changed (the plain route:
    :func:`pyomo_ecc.solve` compiles the model afresh each time)."""
    return solver.solve(model)


class CompiledLosses:
    r"""The ``engine="whatif"`` route: the model compiled once into the what-if engine's
    standard form (:mod:`~pyomo_ecc.core.standard_form`), solved on a HiGHS model
    (:class:`~pyomo_ecc.solvers.HighsModel`) warm from the last basis. What the operating point
    sets is known in closed form (:meth:`~pyomo_ecc.network.lindistflow.LinDistFlowLossesData.point_values`:
    nine matrix entries per branch and period, two per rated branch, and the second-order
    term's Hessian diagonal, costs and constant), so each iteration writes those arrays into
    the compiled matrices instead of re-reading any expression.

    When the form is compiled, the closed-form entries are checked against the compiled
    matrix (the same numbers at every entry the compiler kept, zero where it dropped one; a
    row's sign as the compiler wrote it): a network whose formulae and compiled model disagree
    is refused (:class:`~pyomo_ecc.errors.ModelError`) before any solve.

    Nothing is accepted on the solver's word: every iterate's primal solution is checked
    against every row and bound (a violation above :attr:`FEASIBILITY_TOL`, e.g. a QP reported
    optimal with primal infeasibilities, raises :class:`~pyomo_ecc.errors.SolverError`), and
    :meth:`verify` runs the solver layer's full check (primal, dual and complementarity,
    :func:`pyomo_ecc.verify.verify_solution`, on a fresh compilation of the model as it stands)
    on the iterate whose prices are published. A solve HiGHS does not finish as optimal goes
    through the plain route (:func:`pyomo_ecc.solve`, with its own fallbacks and checks)."""

    #: largest accepted violation of a row or bound, relative to max(1, |bound|)
    FEASIBILITY_TOL = 1e-6

    def __init__(self, model, solver, nets):
        import scipy.sparse as sp
        from pyomo_ecc.core.standard_form import StandardFormData, standard_form
        self.model, self.solver, self.nets = model, solver, nets
        sf = self.sf = standard_form(model, track=False)
        if sf.sense != 1.0:
            raise ModelError(f"model '{model.name}': the loss iteration minimises cost")
        rows, cols, prox, vals = [], [], [], []
        for net in nets:
            r, c, p = net.point_entries()
            rows += r
            cols += c
            prox += p
        self.ri = np.array([sf.row_index[c] for c in rows], dtype=int)
        self.ci = np.array([sf.col_index[v] for v in cols], dtype=int)
        self.pi = np.array([sf.col_index[v] for v in prox], dtype=int)
        entries, rho, rp, rq, off = self._values()
        A = sp.csr_array(sf.A)
        compiled = np.asarray(A[self.ri, self.ci]).ravel()
        # each row's sign as compiled: from its entry of largest closed-form magnitude
        order = np.lexsort((-np.abs(entries), self.ri))
        first = np.r_[True, self.ri[order][1:] != self.ri[order][:-1]]
        lead = order[first]
        sign_of_row = dict(zip(self.ri[lead].tolist(),
                               np.where(compiled[lead] * entries[lead] < 0, -1.0, 1.0).tolist()))
        self.sign = np.array([sign_of_row[i] for i in self.ri.tolist()])
        expect = self.sign * entries
        bad = np.abs(compiled - expect) > 1e-9 * np.maximum(1.0, np.abs(expect))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ModelError(f"the operating point's entry of {cols[k].name} in {rows[k].name} is "
                             f"{compiled[k]:.12g} in the compiled model but {expect[k]:.12g} by "
                             f"the network's formula; the compiled loss iteration cannot be used")
        # the matrix with every one of those entries stored (zeros included), and the position
        # of each in its data: the same coordinates give the same canonical order
        mask = sp.csr_array((np.ones(len(self.ri)), (self.ri, self.ci)), shape=A.shape)
        rest = sp.coo_array(A - A.multiply(mask))
        rest.eliminate_zeros()
        rr = np.concatenate([rest.row, self.ri])
        cc = np.concatenate([rest.col, self.ci])
        data = sp.coo_array((np.concatenate([rest.data, np.zeros(len(self.ri))]), (rr, cc)),
                            shape=A.shape).tocsr()
        tags = sp.coo_array((np.concatenate([np.zeros(rest.nnz), np.arange(1, len(self.ri) + 1)]),
                             (rr, cc)), shape=A.shape).tocsr()
        data.sort_indices()
        tags.sort_indices()
        at = np.flatnonzero(tags.data)
        self.pos = np.empty(len(self.ri), dtype=int)
        self.pos[tags.data[at].astype(int) - 1] = at
        self.A = data
        # the objective without the second-order term
        self.c_base = sf.c.copy()
        np.add.at(self.c_base, self.pi, np.concatenate([rp, rq]))
        Q = sp.csr_array(sf.Q).tolil()
        for j, h in zip(self.pi.tolist(), rho.tolist()):
            Q[j, j] = Q[j, j] - h
        self.Q_base = sp.csr_array(Q)
        self.c0_base = sf.c0 - off
        self.form = StandardFormData(self.A, sf.row_lower.copy(), sf.row_upper.copy(),
                                     sf.col_lower.copy(), sf.col_upper.copy(), self.c_base,
                                     integer=sf.integer, Q=self.Q_base, c0=self.c0_base)
        self.basis = None
        self.fallbacks = 0

    def _values(self):
        parts = [net.point_values() for net in self.nets]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]),
                float(sum(p[4] for p in parts)))

    def _write(self):
        """The point's numbers into the form (matrix entries, objective)."""
        import scipy.sparse as sp
        entries, rho, rp, rq, off = self._values()
        f = self.form
        f.A.data[self.pos] = self.sign * entries
        c = self.c_base.copy()
        np.add.at(c, self.pi, -np.concatenate([rp, rq]))
        f.c = c
        f.c0 = self.c0_base + off
        if rho.any() or f.Q.nnz != self.Q_base.nnz:
            f.Q = sp.csr_array(self.Q_base + sp.csr_array((rho, (self.pi, self.pi)), shape=f.Q.shape))

    def solve(self):
        """Write the point, solve, check, load values and duals; returns the objective."""
        from pyomo_ecc.solvers import DUAL_SIGN, HighsModel
        sf, model = self.sf, self.model
        self._write()
        for mk in markets_in(model):
            mk._pricing_basis = None   # until this iterate is checked, nothing is published
        live = HighsModel(self.form, self.solver.options)
        run = live.run(self.basis)
        if run.status != "optimal" and self.basis is not None:
            live = HighsModel(self.form, self.solver.options)
            run = live.run()   # cold, from scratch
        if run.status != "optimal":
            self.fallbacks += 1
            self.basis = None
            return self.solver.solve(model).objective
        v, what = self.form.worst_violation(run.x, tol=self.FEASIBILITY_TOL)
        if v > self.FEASIBILITY_TOL:
            kind, k = what
            name = sf.rows[k].name if kind == "row" else f"the bounds of {sf.columns[k].name}"
            raise SolverError(f"HiGHS reported '{run.highs_status}' on model '{model.name}' but its "
                              f"solution violates {name} by {v:.3g} (relative); not accepted",
                              termination=f"unverified ({run.highs_status})")
        self.basis = live.basis()
        sf.load(run.x)
        suffix = _dual_suffix(model)
        if suffix is None:
            import pyomo.environ as pyo
            model.dual = suffix = pyo.Suffix(direction=pyo.Suffix.IMPORT)
        suffix.clear()
        sign = DUAL_SIGN["highs"]
        for c, y in run.duals_by_constraint(sf).items():
            suffix[c] = sign * y
        for mk in markets_in(model):
            mk._pricing_basis = "LP/QP duals"
        return run.objective

    def verify(self):
        """The solver layer's full check of the loaded iterate on a fresh compilation of the
        model (raises :class:`~pyomo_ecc.errors.SolverError`; nothing is published then)."""
        from pyomo_ecc.verify import verify_solution
        try:
            verify_solution(self.model, solver="highs (compiled once)", tol=self.solver.verify_tol)
        except SolverError:
            for mk in markets_in(self.model):
                mk._pricing_basis = None
            raise


def _lmps(model):
    from pyomo_ecc.pricing.prices import price_frame
    return price_frame(model, "lmp")["lmp"].to_numpy()


def solve_losses(model, tol=1e-7, price_tol=1e-6, max_iter=50, solver="highs", curvature="auto",
                 progress=False, engine="auto"):
    """Solve a market with a :class:`~pyomo_ecc.network.lindistflow.LinDistFlowLosses`
    network to the AC DistFlow operating point (see the module doc).

    ``tol``: largest error of a branch loss and largest rating excess (MW); ``price_tol``:
    largest change of any nodal price between the last two iterations (currency per MWh);
    ``solver``: a solver name or a :class:`~pyomo_ecc.solvers.Solver` (kept for every re-solve);
    ``curvature``: add the losses' second-order term (see the module doc): ``True`` from the
    second iteration on, ``False`` never, ``"auto"`` (default) like ``True`` when an offer is
    quadratic, else once the plain iteration stops contracting (a price change larger than half
    the one before; the iterates stay LPs while it contracts); ``progress``: a tqdm bar;
    ``engine``: ``"whatif"`` (compile the model once and write only what the operating point
    sets into its matrices, :class:`CompiledLosses`; HiGHS only), ``"solve"`` (each iterate through
    :func:`pyomo_ecc.solve`, which compiles it afresh) or ``"auto"`` (default: ``"whatif"`` with
    HiGHS, else ``"solve"``). Both give the same iterates and prices.

    Returns a DataFrame indexed ``iteration`` (1 = the first solve) with ``objective``,
    ``losses_mw`` (total active losses, MW, summed over periods), ``loss_residual_mw``,
    ``rating_excess_mw``, ``price_change`` (currency per MWh; NaN at the first iteration),
    ``curvature`` (whether the iterate carried the second-order term), ``solve_s`` and
    ``update_s`` (seconds solving, and re-linearising plus measuring), and
    ``converged``. The model is left at the last solution (values and duals).
    """
    from pyomo_ecc.solvers import Solver
    if curvature not in (True, False, "auto"):
        raise ValueError(f"curvature must be True, False or 'auto', got {curvature!r}")
    if not (tol > 0 and price_tol > 0):
        raise ValueError(f"tol and price_tol must be > 0, got {tol!r}, {price_tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if engine not in ("auto", "whatif", "solve"):
        raise ValueError(f"engine must be 'auto', 'whatif' or 'solve', got {engine!r}")
    if isinstance(solver, Solver):
        slv = solver
    else:   # quiet HiGHS: its coefficient updates below 1e-9 would each print a warning
        slv = Solver(solver, options={"output_flag": False} if solver == "highs" else None)
    if engine == "whatif" and (slv.name != "highs" or slv.persistent):
        raise ValueError(f"engine='whatif' re-solves a live HiGHS model; solver {slv.name!r} "
                         f"needs engine='solve'")
    compiled = None
    use_compiled = engine in ("whatif", "auto") and slv.name == "highs" and not slv.persistent
    if use_compiled:
        _lossy_networks(model)
    from pyomo_ecc.core.progress import tqdm
    steps = tqdm(range(1, int(max_iter) + 1), disable=not progress, desc="loss iterations")
    bar = steps if progress and hasattr(steps, "set_postfix") else None   # tqdm installed
    rows, prev, prev_change = [], None, None
    nets = None
    use_curvature = curvature is True
    carried = False                 # whether the next iterate carries the second-order term
    try:
        for k in steps:
            t0 = time.perf_counter()
            if use_compiled and compiled is None:   # compiled once (timed with the first solve)
                from pyomo_ecc.core.standard_form import NotStandardForm
                try:
                    compiled = CompiledLosses(model, slv, _lossy_networks(model))
                except NotStandardForm:
                    if engine == "whatif":
                        raise
                    use_compiled = False
            objective = compiled.solve() if compiled is not None else resolve(slv, model).objective
            t1 = time.perf_counter()
            if nets is None:
                nets = _lossy_networks(model)
                if curvature == "auto" and _quadratic_offers(nets):
                    use_curvature = True   # a QP already: the term costs no change of solver
            lmp = _lmps(model)
            change = float(np.max(np.abs(lmp - prev))) if prev is not None else float("nan")
            cur, rat = 0.0, 0.0
            loss = 0.0
            for net in nets:
                c, r = net.ac_residuals()
                cur, rat = max(cur, c), max(rat, r)
                loss += net.total_loss_mw()
            done = prev is not None and cur <= tol and rat <= tol and change <= price_tol
            if done and compiled is not None and slv.verify:
                compiled.verify()          # the published iterate: the solver layer's full check
            curved = carried
            if (curvature == "auto" and not use_curvature and prev_change is not None
                    and change > 0.5 * prev_change):
                use_curvature = True       # the plain iteration does not contract: add the term
            if not done:
                for net in nets:
                    net.relinearise()
                    if use_curvature:
                        net.set_curvature(_dual_suffix(net))
                carried = use_curvature
            t2 = time.perf_counter()
            rows.append((k, objective, loss, cur, max(rat, 0.0), change, curved, t1 - t0,
                         t2 - t1, done))
            prev = lmp
            if k > 1:
                prev_change = change
            if bar is not None:
                bar.set_postfix(loss_residual=f"{cur:.1e}", price_change=f"{change:.1e}")
            if done:
                break
    finally:
        if bar is not None:
            bar.close()
    out = pd.DataFrame(rows, columns=["iteration", "objective", "losses_mw", "loss_residual_mw",
                                      "rating_excess_mw", "price_change", "curvature", "solve_s",
                                      "update_s", "converged"]).set_index("iteration")
    model._loss_iterations = out
    if not out.converged.iloc[-1]:
        last = out.iloc[-1]
        raise SolverError(f"loss iteration on '{model.name}' did not converge in {max_iter} "
                          f"iterations: loss residual {last.loss_residual_mw:.3g} MW, rating "
                          f"excess {last.rating_excess_mw:.3g} MW, price change "
                          f"{last.price_change:.3g}/MWh (tolerances {tol:g} MW, {price_tol:g})")
    return out
