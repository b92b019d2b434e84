r"""Equilibrium search for bidding games on any composed market.

Each strategic participant :math:`i` chooses one bid parameter :math:`s_i` in a compact interval
:math:`S_i = [\underline s_i, \overline s_i]`; the market is cleared (each profile is a
what-if of :class:`~pyomo_ecc.whatif.WhatIf` on the same compiled model, re-solved
incrementally by HiGHS; ``engine="resolve"`` sets the mutable parameters and re-solves with one
:class:`~pyomo_ecc.solvers.Solver`) and :math:`i` earns its profit at the cleared prices with
its *true* costs:

.. math::

    u_i(s) = \sum_t \Delta t_t\,\lambda_{b(i),t}(s)\,p^{inj}_{i,t}(s)
             - \mathrm{BC}_i\big(x_i(s);\ \theta_i\big)

(:math:`\lambda` the LMPs, :math:`\theta_i` the parameters the participant had when the game
was built, i.e. its true costs). Strategies (one of them per player):

======================  ===================================================  ======================
strategy                what :math:`s_i` sets                                function
======================  ===================================================  ======================
markup                  offer prices :math:`(1 + s_i)` times the true ones   :func:`markup`
                        (``b`` and ``a``, or every step price)
supply-function slope   the quadratic offer coefficient :math:`a_i = s_i`    :func:`slope`
                        (supply function :math:`q = (p - b_i)/(2 s_i)`)
withheld capacity       :math:`\overline P_{i,t} = (1 - s_i)` times the true  :func:`withhold`
                        capacity
offer price             the offer price :math:`b_i = s_i` (or every step      :func:`offer_price`
                        price shifted to start at :math:`s_i`)
step prices (a vector)  the step prices :math:`s_i \in [lo, hi]^K`; step     :func:`step_prices`
                        :math:`k` offered at :math:`\max(s_{i1}, \dots, s_{ik})`
======================  ===================================================  ======================

A vector strategy's best response is coordinate ascent (the line search below along each
coordinate in turn, until no coordinate moves); the certificate starts it from the current
strategy and from random points of the box; the Debreu-Glicksberg-Fan samples run along each
coordinate; the history has one column ``name[k]`` per coordinate.

Dynamics (:meth:`BiddingGame.solve`): ``"best_response"`` (players in turn, Gauss-Seidel),
``"damped"`` (simultaneous, :math:`s \leftarrow (1-\delta)s + \delta\,\mathrm{BR}(s)`) and
``"fictitious"`` (each round every player best-responds to its belief, the mean of the others'
past play; exact fictitious play when a payoff is linear in the others' strategies, as in
Cournot with a linear demand; it stops when the best responses reproduce the belief and answers
the belief).
A best response is a grid search on :math:`S_i` refined by a bounded scalar search around the
best grid point.

Certificate (:meth:`BiddingGame.certificate`): an *independent* search (a finer grid, random
points from the ``rng`` you pass, local refinement) for each player's best unilateral deviation;
:math:`\varepsilon = \max_i \max_{s_i'} u_i(s_i', s_{-i}) - u_i(s)` and the profile is an
:math:`\varepsilon`-Nash equilibrium for the deviations searched.

Existence (Debreu-Glicksberg-Fan, :meth:`BiddingGame.dgf_conditions`): a pure equilibrium exists
when every :math:`S_i` is compact and convex and every :math:`u_i` is continuous in :math:`s`
and quasi-concave in :math:`s_i`. The sets are intervals (checked exactly); continuity and
quasi-concavity are sampled: along each own axis at sampled profiles, a change across a grid
cell that does not shrink when the cell is bisected (the half with the larger change kept) is
a discontinuity; :math:`u_i(y) < \min(u_i(x), u_i(z))`
for :math:`x < y < z` is a quasi-concavity violation. Linear (LP) offers usually fail
continuity: prices jump when a unit's offer crosses another's.

Cournot in closed form (``tests/test_equilibrium.py``): with withheld capacity as the strategy,
quantities offered at price 0 (true costs :math:`c_i` given in ``true_params``) and a linear
demand :math:`P = \alpha - \beta Q`, the cleared price is
:math:`P(\sum_j q_j)` and :math:`u_i = (P - c_i) q_i`: the equilibrium is Cournot's,
:math:`q_i = (\alpha - (n+1) c_i + \sum_j c_j)/((n+1)\beta)`.

Example (two firms, costs 10 and 20, demand :math:`P = 100 - Q`)::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.analysis import equilibrium as eq
    >>> m = ecc.Market()
    >>> m.f1 = ecc.Producer(bus="A", b=0, p_max=100)      # quantities offered at price 0
    >>> m.f2 = ecc.Producer(bus="A", b=0, p_max=100)
    >>> m.town = ecc.Consumer(bus="A", a=-0.5, b=100, d_max=200)
    >>> g = eq.BiddingGame(m, [eq.withhold(m.f1), eq.withhold(m.f2)],
    ...                    true_params={"f1": {"b": 10}, "f2": {"b": 20}})
    >>> r = g.solve(grid=21, tol=1e-5, cert_grid=11)
    >>> [round(100 * (1 - r.profile[f]), 2) for f in ("f1", "f2")]   # Cournot 33.33, 23.33
    [33.33, 23.33]
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.errors import InputError, ModelError


@dataclass
class Strategy:
    """A player's strategy: ``assign(s)`` lists the ``(parameter entry, value)`` pairs that
    write the bid parameter ``s`` in ``[lo, hi]`` (with ``dim > 1``: a tuple ``s`` in the box
    ``[lo, hi]^dim``) into the model's mutable parameters; ``kind`` names it; ``truthful`` is
    the value that reproduces the true offer (when there is one)."""

    block: object
    lo: float
    hi: float
    assign: object
    kind: str
    truthful: object = float("nan")
    dim: int = 1

    @property
    def player(self):
        return self.block.local_name

    def apply(self, s):
        for prm, v in self.assign(s):
            prm.set_value(v)

    # -- values as arrays (one entry per coordinate) --------------------------------------------
    def arr(self, v):
        a = np.atleast_1d(np.asarray(v, dtype=float))
        if a.shape != (self.dim,):
            raise InputError(f"strategy of '{self.player}' needs {self.dim} value(s), got {v!r}")
        return a

    def value(self, a):
        """An array of coordinates as a strategy value (a float, or a tuple when ``dim > 1``)."""
        a = np.clip(np.asarray(a, dtype=float), self.lo, self.hi)
        return float(a[0]) if self.dim == 1 else tuple(float(x) for x in a)

    def start(self):
        t = np.atleast_1d(np.asarray(self.truthful, dtype=float))
        if t.shape == (self.dim,) and np.isfinite(t).all() and (t >= self.lo).all() and (t <= self.hi).all():
            return self.value(t)
        return self.value(np.full(self.dim, self.lo))


def _mutables(blk):
    return [c for c in blk.component_objects(pyo.Param, descend_into=True) if c.mutable]


def _check_interval(lo, hi, what):
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InputError(f"{what}: the strategy set must be a compact interval lo < hi, got "
                         f"[{lo}, {hi}]")


def markup(block, lo=0.0, hi=1.0):
    """Offer prices scaled by ``1 + s`` (``b`` and ``a`` of a quadratic offer, or the step
    prices), ``s`` in ``[lo, hi]``; ``s = 0`` is truthful."""
    _check_interval(lo, hi, f"markup of '{block.name}'")
    if lo <= -1:
        raise InputError(f"markup of '{block.name}': lo must be > -1, got {lo}")
    if hasattr(block, "step_price"):
        true = {k: block.step_price[k].value for k in block.step_price}

        def apply(s):
            return [(block.step_price[k], (1.0 + s) * v) for k, v in true.items()]
    elif hasattr(block, "b"):
        ta, tb = block.a.value, block.b.value

        def apply(s):
            return [(block.a, (1.0 + s) * ta), (block.b, (1.0 + s) * tb)]
    else:
        raise InputError(f"'{block.name}' has no offer curve (a, b or steps) to mark up")
    return Strategy(block, float(lo), float(hi), apply, "markup", 0.0)


def slope(block, lo, hi):
    """Supply-function slope: the quadratic offer coefficient ``a = s`` in ``[lo, hi]``
    (``lo > 0``), i.e. the supply function :math:`q = (p - b)/(2s)`."""
    _check_interval(lo, hi, f"slope of '{block.name}'")
    if lo <= 0 or not hasattr(block, "a"):
        raise InputError(f"slope of '{block.name}': needs a quadratic offer (a, b) built with "
                         f"a > 0 and lo > 0 (got lo = {lo})")
    if block.a.value == 0:
        raise InputError(f"slope of '{block.name}': its offer is linear (a = 0), so the market "
                         f"was built without the quadratic term; give it a > 0")
    ta = block.a.value

    def apply(s):
        return [(block.a, s)]
    return Strategy(block, float(lo), float(hi), apply, "slope", float(ta))


def withhold(block, lo=0.0, hi=1.0):
    """Withheld share of capacity: :math:`\\overline P_t = (1 - s)` times the true one,
    ``s`` in ``[lo, hi]`` within [0, 1]; ``s = 0`` is truthful."""
    _check_interval(lo, hi, f"withheld capacity of '{block.name}'")
    if lo < 0 or hi > 1 or not hasattr(block, "p_max"):
        raise InputError(f"withheld capacity of '{block.name}': needs a producer (p_max) and "
                         f"0 <= lo < hi <= 1, got [{lo}, {hi}]")
    true = {t: block.p_max[t].value for t in block.p_max}
    lows = {t: block.p_min[t].value for t in block.p_min}

    def apply(s):
        return [(block.p_max[t], max(lows[t], (1.0 - s) * v)) for t, v in true.items()]
    return Strategy(block, float(lo), float(hi), apply, "withhold", 0.0)


def offer_price(block, lo, hi):
    """Offer price ``s`` in ``[lo, hi]``: ``b = s`` for a quadratic / linear offer; for a step
    offer every step price is shifted so that the first step is offered at ``s``."""
    _check_interval(lo, hi, f"offer price of '{block.name}'")
    if hasattr(block, "step_price"):
        true = {k: block.step_price[k].value for k in block.step_price}
        first = true[min(true)]

        def apply(s):
            return [(block.step_price[k], v - first + s) for k, v in true.items()]
        t0 = first
    elif hasattr(block, "b"):
        def apply(s):
            return [(block.b, s)]
        t0 = block.b.value
    else:
        raise InputError(f"'{block.name}' has no offer curve (b or steps)")
    return Strategy(block, float(lo), float(hi), apply, "offer_price", float(t0))


def step_prices(block, lo, hi):
    r"""Offer prices of every step of a step offer: a vector :math:`s \in [lo, hi]^K` (K steps,
    a compact convex box); step :math:`k` is offered at :math:`\max(s_1, \dots, s_k)`, so the
    curve stays non-decreasing (as offer rules require) and every non-decreasing curve with
    prices in ``[lo, hi]`` is reached (:math:`s` = the prices themselves). The step widths stay
    the true ones; ``s`` = the true prices is truthful."""
    _check_interval(lo, hi, f"step prices of '{block.name}'")
    if not hasattr(block, "step_price"):
        raise InputError(f"step prices of '{block.name}': needs a step offer (steps=...)")
    keys = sorted(block.step_price.keys())
    true = tuple(float(block.step_price[k].value) for k in keys)

    def apply(s):
        run = np.maximum.accumulate(np.asarray(s, dtype=float))
        return [(block.step_price[k], float(v)) for k, v in zip(keys, run)]
    return Strategy(block, float(lo), float(hi), apply, "step_prices", true, dim=len(keys))


@dataclass
class EquilibriumResult:
    """Outcome of :meth:`BiddingGame.solve`: ``profile`` and ``payoffs`` by player,
    ``converged``, ``iterations``, ``history`` (DataFrame indexed ``iteration`` with one
    column per player) and ``certificate`` (from :meth:`BiddingGame.certificate`; its
    ``attrs["eps"]`` is the largest unilateral gain found)."""

    profile: dict
    payoffs: dict
    converged: bool
    iterations: int
    history: pd.DataFrame = field(repr=False)
    certificate: pd.DataFrame = field(repr=False)

    @property
    def eps(self):
        return float(self.certificate.attrs["eps"])


class BiddingGame:
    """A bidding game on a built market ``model`` (see the module doc).

    ``strategies``: one :class:`Strategy` per strategic player (made with :func:`markup`,
    :func:`slope`, :func:`withhold` or :func:`offer_price`); everyone else bids as built.
    ``solver``: a :class:`~pyomo_ecc.solvers.Solver` or a name (HiGHS by default); the same
    object re-solves every profile. ``true_params``: ``{player: {param name: value}}`` where a
    player's true cost differs from the offer it was built with (e.g. a Cournot firm that
    offers its quantity at price 0 but produces at cost ``b``); by default the built
    parameters are the true ones. ``engine``: ``"whatif"`` (default: the model is compiled
    once and every profile is a what-if of :class:`~pyomo_ecc.whatif.WhatIf`, re-solved
    incrementally by HiGHS) or ``"resolve"`` (parameters set on the model, one
    :class:`~pyomo_ecc.solvers.Solver` object re-solves it; any solver).
    """

    def __init__(self, model, strategies, solver=None, true_params=None, engine="whatif"):
        from pyomo_ecc.core.market import require_markets
        from pyomo_ecc.solvers import Solver

        if not strategies:
            raise InputError("a bidding game needs at least one strategy")
        names = [s.player for s in strategies]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"one strategy per player; {dup} have more than one")
        require_markets(model)
        self.model = model
        self.strategies = {s.player: s for s in strategies}
        self.players = names
        if engine not in ("whatif", "resolve"):
            raise InputError(f"unknown engine {engine!r}; choose 'whatif' or 'resolve'")
        self.engine = engine
        self.solver = solver if isinstance(solver, Solver) else Solver(solver or "highs")
        self._whatif = None
        self._lmp = None
        self._built = {n: [(p, k, p[k].value) for p in _mutables(s.block) for k in p]
                       for n, s in self.strategies.items()}
        self._true = {n: list(v) for n, v in self._built.items()}
        for n, params in (true_params or {}).items():
            if n not in self.strategies:
                raise InputError(f"true_params: '{n}' is not a strategic player {self.players}")
            blk = self.strategies[n].block
            for pname, val in params.items():
                prm = blk.component(pname)
                if not isinstance(prm, pyo.Param) or not prm.mutable:
                    raise InputError(f"true_params: '{n}' has no mutable parameter {pname!r}")
                self._true[n] = [(p, k, (val[k] if isinstance(val, dict) else float(val))
                                  if p is prm else v) for p, k, v in self._true[n]]
        self.n_solves = 0

    # -- one re-solve (the only place that solves) --------------------------------------------
    def _resolve(self, profile):
        """Clear the market at ``profile``: the model's variables hold the dispatch and
        ``self._lmp`` the LMPs (Series indexed (bus, t))."""
        from pyomo_ecc.errors import SolverError
        from pyomo_ecc.pricing.prices import prices

        assignments = []
        for n, s in self.strategies.items():
            a = s.arr(profile[n])
            if not ((s.lo - 1e-12 <= a) & (a <= s.hi + 1e-12)).all():
                raise InputError(f"strategy of '{n}' = {profile[n]} is outside [{s.lo}, {s.hi}]")
            assignments += s.assign(s.value(a))
        self.n_solves += 1
        if self.engine == "resolve":
            for prm, v in assignments:
                prm.set_value(v)
            self.solver.solve(self.model)
            self._lmp = prices(self.model)["lmp"]
            return
        from pyomo_ecc.whatif import SetParam, WhatIf
        if self._whatif is None:
            self._whatif = WhatIf(self.model, self.solver.name)
        out = self._whatif.run([SetParam(prm, v) for prm, v in assignments], prices=["lmp"],
                               keep_solution=True)
        if not out.ok:
            raise SolverError(f"bidding game: the market at profile {profile} is {out.status}: "
                              f"{out.reason}")
        sol = out.solution
        if isinstance(sol, np.ndarray):
            self._whatif.sf.load(sol)
        else:
            for v, x in sol:
                v.set_value(x, skip_validation=True)
        lam = out.prices["lmp"]
        self._lmp = lam["lmp"] if isinstance(lam, pd.DataFrame) else lam

    @property
    def lmp(self):
        """LMPs of the last cleared profile (Series indexed (bus, t), currency/MWh)."""
        if self._lmp is None:
            raise ModelError("no profile has been cleared yet: call payoffs() first")
        return self._lmp

    def _profit_by_period(self, name):
        blk = self.strategies[name].block
        mk = blk.market()
        lam = self._lmp
        rev = {t: mk.dt[t] * mk.power_unit_mw * float(lam[(blk.bus, t)]) * pyo.value(blk.p_inj[t])
               for t in mk.T}
        bid = [p[k].value for p, k, _ in self._true[name]]
        try:
            for p, k, v in self._true[name]:
                p[k] = v
            cost = _cost_by_period(blk, mk)
        finally:
            for (p, k, _), v in zip(self._true[name], bid):
                p[k] = v
        return {t: rev[t] - cost[t] for t in mk.T}

    def payoffs(self, profile, by_period=False):
        """Profits ``{player: u_i}`` at ``profile`` (``{player: s_i}``); with ``by_period`` a
        DataFrame indexed ``t`` with one column per player."""
        self._resolve(profile)
        per = {n: self._profit_by_period(n) if by_period else None for n in self.players}
        if by_period:
            df = pd.DataFrame(per)
            df.index.name = "t"
            return df
        return {n: self._profit_total(n) for n in self.players}

    def _profit_total(self, name):
        blk = self.strategies[name].block
        mk = blk.market()
        lam = self._lmp
        rev = sum(mk.dt[t] * mk.power_unit_mw * float(lam[(blk.bus, t)]) * pyo.value(blk.p_inj[t])
                  for t in mk.T)
        bid = [p[k].value for p, k, _ in self._true[name]]
        try:
            for p, k, v in self._true[name]:
                p[k] = v
            cost = pyo.value(blk.bid_cost)
        finally:
            for (p, k, _), v in zip(self._true[name], bid):
                p[k] = v
        return rev - cost

    def payoff(self, name, profile):
        """Player ``name``'s profit at ``profile``."""
        self._resolve(profile)
        return self._profit_total(name)

    def _flat(self, profile):
        """A profile with vector strategies spread over columns ``name[k]`` (k from 1)."""
        out = {}
        for n in self.players:
            s = self.strategies[n]
            if s.dim == 1:
                out[n] = float(s.arr(profile[n])[0])
            else:
                out.update({f"{n}[{k + 1}]": float(x) for k, x in enumerate(s.arr(profile[n]))})
        return out

    def restore(self):
        """Put every strategic player's parameters back as built."""
        for lst in self._built.values():
            for p, k, v in lst:
                p[k] = v

    # -- best responses -------------------------------------------------------------------------
    def best_response(self, name, profile, grid=11, refine=True, points=None, against=None,
                      max_sweeps=20):
        """``(s_i, u_i)`` maximising player ``name``'s profit with the others at ``profile``
        (or, with ``against`` = a list of profiles, its mean profit over them: fictitious play).
        Grid of ``grid`` points (plus ``points``), then a bounded scalar search between the
        best grid point's neighbours. A vector strategy (``dim > 1``): the best of its current
        value and ``points`` (vectors), then coordinate ascent with that line search, at most
        ``max_sweeps`` sweeps."""
        s = self.strategies[name]
        profs = against if against is not None else [profile]

        def u(x):
            tot = 0.0
            for pr in profs:
                q = dict(pr)
                q[name] = x
                tot += self.payoff(name, q)
            return tot / len(profs)

        if s.dim == 1:
            return self._line_search(s, u, float(s.arr(profile[name])[0]), grid, refine, points)
        # a vector strategy: the best of the current point and the given points, then
        # coordinate ascent (a line search along each coordinate in turn) until no coordinate moves
        cands = [s.arr(profile[name])] + [s.arr(p) for p in ([] if points is None else points)]
        vals = [u(s.value(c)) for c in cands]
        x = np.clip(cands[int(np.argmax(vals))], s.lo, s.hi)
        best_u = float(max(vals))
        for _ in range(max_sweeps):
            moved = 0.0
            for c in range(s.dim):
                def along(t, c=c):
                    y = x.copy()
                    y[c] = t
                    return u(s.value(y))
                t, ut = self._line_search(s, along, float(x[c]), grid, refine, None)
                if ut > best_u:
                    moved = max(moved, abs(t - x[c]))
                    x[c], best_u = t, ut
            if moved <= 1e-9 * (s.hi - s.lo):
                break
        return s.value(x), best_u

    @staticmethod
    def _line_search(s, u, x0, grid, refine, points):
        """Best point of ``u`` on ``[s.lo, s.hi]``: a grid (plus ``points`` and ``x0``), then a
        bounded scalar search between the best grid point's neighbours."""
        from scipy.optimize import minimize_scalar

        xs = np.unique(np.concatenate([np.linspace(s.lo, s.hi, int(grid)),
                                       np.asarray([] if points is None else points, dtype=float),
                                       [x0]]))
        xs = xs[(xs >= s.lo) & (xs <= s.hi)]
        vals = np.array([u(x) for x in xs])
        k = int(np.argmax(vals))
        best_x, best_u = float(xs[k]), float(vals[k])
        if refine and xs.size > 2:
            a, b = xs[max(k - 1, 0)], xs[min(k + 1, xs.size - 1)]
            if b > a:
                res = minimize_scalar(lambda x: -u(x), bounds=(a, b), method="bounded",
                                      options={"xatol": 1e-9 * max(1.0, abs(b - a))})
                if -res.fun > best_u:
                    best_x, best_u = float(res.x), float(-res.fun)
        return best_x, best_u

    # -- dynamics -------------------------------------------------------------------------------------
    def solve(self, method="best_response", start=None, damping=0.5, grid=11, max_iter=50,
              tol=1e-6, rng=None, certify=True, refine=True, cert_grid=41, progress=False):
        """Search an equilibrium (module doc); returns an :class:`EquilibriumResult`.

        ``start``: initial profile (default: truthful where defined, else the lower bound);
        ``tol``: stop when no strategy moves more than ``tol`` times its interval's width;
        ``refine``: local search after the grid in each best response; ``cert_grid``: grid of
        the certificate's independent search.
        """
        from pyomo_ecc.core.progress import tqdm

        if method not in ("best_response", "damped", "fictitious"):
            raise InputError(f"unknown method {method!r}; choose 'best_response', 'damped' or "
                             f"'fictitious'")
        if not 0 < damping <= 1:
            raise InputError(f"damping must be in (0, 1], got {damping}")
        prof = {n: s.start() for n, s in self.strategies.items()}
        if start is not None:
            unknown = sorted(set(start) - set(self.players))
            if unknown:
                raise InputError(f"start: unknown player(s) {unknown}")
            prof.update({n: self.strategies[n].value(self.strategies[n].arr(v)) for n, v in start.items()})
        S = self.strategies
        width = {n: s.hi - s.lo for n, s in S.items()}

        def dist(a, b, n):
            return float(np.max(np.abs(S[n].arr(a) - S[n].arr(b)))) / width[n]
        hist = [dict(prof)]
        played = []
        belief = dict(prof)
        move_fp = 0.0
        converged = False
        it = 0
        try:
            for it in tqdm(range(1, max_iter + 1), desc=f"{method} dynamics", disable=not progress):
                old = dict(prof)
                if method == "best_response":
                    for n in self.players:
                        prof[n] = self.best_response(n, prof, grid, refine)[0]
                elif method == "damped":
                    br = {n: self.best_response(n, old, grid, refine)[0] for n in self.players}
                    prof = {n: S[n].value((1 - damping) * S[n].arr(old[n]) + damping * S[n].arr(br[n]))
                            for n in self.players}
                else:
                    played.append(dict(old))
                    belief = {n: S[n].value(np.mean([S[n].arr(h[n]) for h in played], axis=0))
                              for n in self.players}
                    br = {n: self.best_response(n, belief, grid, refine)[0] for n in self.players}
                    prof = br
                    move_fp = max(dist(br[n], belief[n], n) for n in self.players)
                hist.append(dict(prof))
                move = (move_fp if method == "fictitious"
                        else max(dist(prof[n], old[n], n) for n in self.players))
                if move <= tol:
                    converged = True
                    break
            if method == "fictitious":
                prof = belief
            history = pd.DataFrame([self._flat(h) for h in hist]).rename_axis("iteration")
            cert = (self.certificate(prof, grid=cert_grid, rng=rng) if certify
                    else pd.DataFrame(index=pd.Index([], name="player")))
            if not certify:
                cert.attrs["eps"] = float("nan")
            pay = self.payoffs(prof)
        finally:
            self.restore()
        return EquilibriumResult(prof, pay, converged, it, history, cert)

    # -- certificate --------------------------------------------------------------------------------
    def certificate(self, profile, grid=41, n_random=10, rng=None):
        """Largest unilateral gain of each player at ``profile`` by an independent search (a
        ``grid``-point grid, ``n_random`` uniform points from ``rng`` when one is given, and
        local refinement).
        DataFrame indexed ``player`` with ``strategy``, ``payoff``, ``best_deviation``,
        ``best_payoff``, ``gain``; ``attrs["eps"]`` = the largest gain (>= 0)."""
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise InputError("rng must be a numpy.random.Generator (or None: grid points only)")
        rows = []
        try:
            base = self.payoffs(profile)
            for n in self.players:
                s = self.strategies[n]
                pts = (rng.uniform(s.lo, s.hi, n_random if s.dim == 1 else (n_random, s.dim))
                       if (n_random and rng is not None) else None)
                x, u = self.best_response(n, profile, grid, refine=True, points=pts)
                rows.append((n, s.value(s.arr(profile[n])), base[n], x, u, max(0.0, u - base[n])))
        finally:
            self.restore()
        df = pd.DataFrame(rows, columns=["player", "strategy", "payoff", "best_deviation",
                                         "best_payoff", "gain"]).set_index("player")
        df.attrs["eps"] = float(df["gain"].max())
        return df

    # -- Debreu-Glicksberg-Fan --------------------------------------------------------------------
    def dgf_conditions(self, profiles=None, n_profiles=3, n_points=9, rng=None, tol=1e-6,
                       bisections=8):
        """Sample the Debreu-Glicksberg-Fan conditions (module doc) at ``profiles`` (default:
        ``n_profiles`` random profiles from ``rng``). DataFrame indexed ``player`` with
        ``compact_convex``, ``continuous``, ``max_jump``, ``quasi_concave``, ``qc_violation``;
        ``attrs["holds"]`` is True when every column holds for every player (as sampled)."""
        if profiles is None:
            if not isinstance(rng, np.random.Generator):
                raise InputError("dgf_conditions needs profiles or rng=numpy.random.Generator")
            profiles = [{n: s.value(rng.uniform(s.lo, s.hi, s.dim)) for n, s in self.strategies.items()}
                        for _ in range(n_profiles)]
        rows = []
        try:
            for n in self.players:
                s = self.strategies[n]
                cc = bool(np.isfinite(s.lo) and np.isfinite(s.hi) and s.lo < s.hi)
                jump, qc_viol = 0.0, 0.0
                for pr, c in ((pr, c) for pr in profiles for c in range(s.dim)):
                    base_x = s.arr(pr[n])

                    def at(x, pr=pr, c=c, base_x=base_x):   # the profile with coordinate c at x
                        y = base_x.copy()
                        y[c] = x
                        q = dict(pr)
                        q[n] = s.value(y)
                        return q
                    xs = np.linspace(s.lo, s.hi, n_points)
                    us = []
                    for x in xs:
                        us.append(self.payoff(n, at(float(x))))
                    us = np.array(us)
                    scale = max(1.0, float(np.abs(us).max()))
                    for j in range(1, n_points - 1):   # quasi-concavity on triples
                        lo_side = us[:j].max()
                        hi_side = us[j + 1:].max()
                        qc_viol = max(qc_viol, (min(lo_side, hi_side) - us[j]) / scale)
                    for j in range(n_points - 1):      # continuity: bisect the cell
                        d0 = abs(us[j + 1] - us[j])
                        if d0 <= 1e-3 * scale:
                            continue
                        lo_x, hi_x, lo_u, hi_u = float(xs[j]), float(xs[j + 1]), us[j], us[j + 1]
                        for _ in range(bisections):
                            mid = 0.5 * (lo_x + hi_x)
                            um = self.payoff(n, at(mid))
                            if abs(um - lo_u) >= abs(hi_u - um):
                                hi_x, hi_u = mid, um
                            else:
                                lo_x, lo_u = mid, um
                        d = abs(hi_u - lo_u)
                        if d > 0.25 * d0 and d > 1e-3 * scale:
                            jump = max(jump, d / scale)
                rows.append((n, cc, jump == 0.0, jump, qc_viol <= tol, max(qc_viol, 0.0)))
        finally:
            self.restore()
        df = pd.DataFrame(rows, columns=["player", "compact_convex", "continuous", "max_jump",
                                         "quasi_concave", "qc_violation"]).set_index("player")
        df.attrs["holds"] = bool(df[["compact_convex", "continuous", "quasi_concave"]].all().all())
        return df


def _cost_by_period(blk, mk):
    r"""Split ``bid_cost`` (a sum over periods) by period: :math:`V_t` from the period's own
    variables, the part that depends on no variable (fixed costs) spread evenly."""
    vars_ = list(blk.component_data_objects(pyo.Var, descend_into=True))
    keep = [v.value for v in vars_]

    def period(v):
        idx = v.index()
        return idx[0] if isinstance(idx, tuple) else idx

    per = [period(v) for v in vars_]
    try:
        for v in vars_:
            v.set_value(0.0, skip_validation=True)
        fixed = pyo.value(blk.bid_cost)
        out = {}
        for t in mk.T:
            for v, x, tt in zip(vars_, keep, per):
                if tt == t:
                    v.set_value(x, skip_validation=True)
            out[t] = pyo.value(blk.bid_cost) - fixed + fixed / len(mk.T)
            for v, tt in zip(vars_, per):
                if tt == t:
                    v.set_value(0.0, skip_validation=True)
    finally:
        for v, x in zip(vars_, keep):
            v.set_value(x, skip_validation=True)
    return out


def unilateral_gains(game, values, by_period=True, progress=False):
    """Gain of each player from each unilateral strategy in ``values`` (others truthful).

    A vector strategy (:func:`step_prices`) plays each value as a flat offer (every
    coordinate at the value). Returns a DataFrame indexed (``player``, ``strategy``, ``t``) with
    column ``gain`` (profit
    minus the truthful profit, per period with ``by_period``): which units gain by raising
    offers, and in which hours.
    """
    from pyomo_ecc.core.progress import tqdm

    truthful = {n: s.start() for n, s in game.strategies.items()}
    rows = []
    try:
        base = game.payoffs(truthful, by_period=True)
        for n in tqdm(game.players, desc="unilateral deviations", disable=not progress):
            for v in values:
                prof = dict(truthful)
                s = game.strategies[n]
                prof[n] = s.value(np.full(s.dim, float(v)))
                df = game.payoffs(prof, by_period=True)
                for t in df.index:
                    rows.append((n, float(v), t, float(df.loc[t, n] - base.loc[t, n])))
    finally:
        game.restore()
    out = pd.DataFrame(rows, columns=["player", "strategy", "t", "gain"]).set_index(
        ["player", "strategy", "t"])
    if not by_period:
        out = out.groupby(level=["player", "strategy"]).sum()
    return out


def plot_gains(gains, ax=None, cmap="Reds"):
    """Heat map of :func:`unilateral_gains`: the best gain of each player (rows) in each period
    (columns) over the strategies tried, zero where no raise pays (needs matplotlib). Returns
    the axes; the picture's data is ``best_gains(gains)``."""
    import matplotlib.pyplot as plt

    table = best_gains(gains)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.4 * table.shape[1]), 0.5 * table.shape[0] + 1.5))
    im = ax.imshow(table.to_numpy(), aspect="auto", cmap=cmap, vmin=0.0)
    ax.set_xticks(range(table.shape[1]), [str(t) for t in table.columns])
    ax.set_yticks(range(table.shape[0]), list(table.index))
    ax.set_xlabel("period")
    ax.set_title("gain from raising the offer alone (best strategy tried)")
    ax.figure.colorbar(im, ax=ax, label="gain (currency)")
    return ax


def best_gains(gains):
    """Best gain of each player in each period over the strategies of :func:`unilateral_gains`
    (DataFrame indexed ``player``, columns ``t``), zero where no strategy gains."""
    best = gains["gain"].groupby(level=["player", "t"]).max().unstack("t")
    return best.clip(lower=0.0)
