r"""Generative agents: models fitted (scikit-learn) to recorded decisions that replace a seat
(seed 001 sec. 2, Fig. 4).

Training data are the rounds of an experiment log in which a seat (a person, or any agent)
played unit :math:`i`: the features :math:`x_r` it saw (:data:`~pyomo_ecc.simulation.agents.FEATURES`,
the ``decisions`` table) and the offer it made, written as
:math:`y_r = (p_{r,1..5},\ q_{r,1..5}/\bar q)`. A regressor :math:`\hat f` (default: standardised
features, :math:`k`-nearest neighbours with distance weights) is fitted to :math:`(x_r, y_r)`;
the agent offers

.. math:: \tilde y = \hat f(x) + \eta\,\sigma \odot z, \qquad z \sim N(0, I),

with :math:`\sigma` the per-target spread of the training offers around the fit (leave-one-out)
and :math:`\eta` the ``noise`` option (0: the deterministic prediction), projected onto the
market rules (:func:`~pyomo_ecc.simulation.market.project_offer`: prices clipped to
[0, 1000] and sorted, widths scaled to the capacity).

Closeness on held-out rounds (:func:`closeness`): per round, the mean absolute difference of
the segment prices (yuan/MWh) and widths (MW), and the **curve distance**

.. math:: D(S, S') = \frac{1}{\bar q}\int_0^{\bar q} |P_S(q) - P_{S'}(q)|\,dq \quad\text{(yuan/MWh)},

the mean gap between the two inverse supply curves :math:`P_S(q)`, next to the same distance
for a naive predictor (the mean training offer), so a fitted model is judged against doing
nothing clever.

:class:`Handover` records a seat's first rounds within one experiment and hands the seat to a
:class:`Generative` fitted to them.

=========================  ==================================  ===============================
symbol                     attribute                           meaning
=========================  ==================================  ===============================
:math:`x_r`                ``decisions`` table, ``FEATURES``   what the seat saw
:math:`y_r`                :func:`training_data`               offer as prices + width shares
:math:`\hat f`             ``Generative.estimator``            the fitted regressor
:math:`\sigma`             ``Generative.sigma``                leave-one-out spread per target
:math:`\eta`               ``Generative.noise``                noise scale (0: deterministic)
:math:`D(S, S')`           :func:`curve_distance`              curve distance (yuan/MWh)
=========================  ==================================  ===============================
"""
import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.simulation.agents import FEATURES, Agent
from pyomo_ecc.simulation.market import N_SEGMENTS, project_offer


def curve_distance(a, b, capacity):
    """:math:`D(S, S')` of two offers of a unit with ``capacity`` MW (yuan/MWh, exact)."""
    edges = np.unique(np.concatenate([[0.0, capacity], np.cumsum(a.quantities),
                                      np.cumsum(b.quantities)]))
    edges = edges[(edges >= 0) & (edges <= capacity + 1e-9)]
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi - lo <= 1e-12:
            continue
        mid = 0.5 * (lo + hi)
        total += abs(a.price_at(mid) - b.price_at(mid)) * (hi - lo)
    return total / capacity


def training_data(log, unit, rounds=None):
    """``(X, Y, rounds)`` of ``unit`` from an :class:`~pyomo_ecc.simulation.engine.ExperimentLog`
    (features, targets prices + width shares, round numbers)."""
    dec = log.decisions.xs(unit, level="unit")
    off = log.offers.xs(unit, level="unit")
    if rounds is not None:
        dec = dec.loc[[r for r in rounds if r in dec.index]]
    if dec.empty:
        raise InputError(f"no recorded decisions of unit {unit!r} in the chosen rounds")
    X = dec[list(FEATURES)].to_numpy(dtype=float)
    Y = []
    cap = None
    for r in dec.index:
        o = off.loc[r].sort_index()
        q = o["quantity"].to_numpy(dtype=float)
        cap = q.sum() if cap is None else cap
        Y.append(np.concatenate([o["price"].to_numpy(dtype=float), q / q.sum()]))
    return X, np.array(Y), list(dec.index)


def _default_estimator(n):
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=max(1, min(3, n - 1)),
                                                               weights="distance"))


class Generative(Agent):
    """An agent that offers like the recorded seat (see module doc). Build with :meth:`fit`."""

    kind = "generative"

    def __init__(self, estimator, sigma, noise=1.0, source_unit=None, trained_rounds=()):
        super().__init__()
        self.estimator, self.sigma, self.noise = estimator, np.asarray(sigma, dtype=float), float(noise)
        self.source_unit, self.trained_rounds = source_unit, list(trained_rounds)

    @classmethod
    def fit(cls, log, unit, rounds=None, estimator=None, noise=1.0):
        """Fit to the decisions of ``unit`` in ``log`` (optionally only ``rounds``)."""
        X, Y, used = training_data(log, unit, rounds)
        return cls.fit_arrays(X, Y, estimator, noise, unit, used)

    @classmethod
    def fit_arrays(cls, X, Y, estimator=None, noise=1.0, source_unit=None, rounds=()):
        """Fit to features ``X`` (rows of :data:`FEATURES`) and targets ``Y`` (prices, width
        shares)."""
        from sklearn.base import clone
        X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
        unit, used = source_unit, list(rounds)
        n = len(X)
        if n < 2:
            raise InputError(f"a generative agent needs at least 2 recorded rounds of {unit!r}, got {n}")
        est = _default_estimator(n) if estimator is None else clone(estimator)
        est.fit(X, Y)
        # leave-one-out residual spread: honest even for a k-NN that fits its data exactly
        res = []
        for k in range(n):
            keep = np.arange(n) != k
            e = _default_estimator(n - 1) if estimator is None else clone(estimator)
            e.fit(X[keep], Y[keep])
            res.append(Y[k] - e.predict(X[k:k + 1])[0])
        sigma = np.sqrt(np.mean(np.square(res), axis=0))
        return cls(est, sigma, noise=noise, source_unit=unit, trained_rounds=used)

    def predict(self, features, capacity):
        """The deterministic offer (no noise) for a feature vector."""
        y = self.estimator.predict(np.asarray(features, dtype=float).reshape(1, -1))[0]
        return self._to_offer(y, capacity)

    @staticmethod
    def _to_offer(y, capacity):
        return project_offer(np.concatenate([y[:N_SEGMENTS], y[N_SEGMENTS:] * capacity]), capacity)

    def offer(self, obs):
        y = self.estimator.predict(obs.features().reshape(1, -1))[0]
        if self.noise > 0:
            y = y + self.noise * self.sigma * self.rng.standard_normal(y.shape)
        return self._to_offer(y, self.unit.capacity)

    def describe(self):
        return f"generative({self.source_unit})"


def closeness(agent, log, unit, rounds):
    """How close ``agent``'s deterministic offers are to the recorded ones of ``unit`` on the
    held-out ``rounds``: DataFrame indexed ``round`` with ``price_mae`` (yuan/MWh),
    ``quantity_mae`` (MW), ``curve_distance`` and ``baseline_curve_distance`` (yuan/MWh, the
    mean training offer as predictor); ``df.attrs["summary"]`` has the means."""
    X, Y, used = training_data(log, unit, rounds)
    off = log.offers.xs(unit, level="unit")
    cap = float(off.loc[used[0]]["quantity"].sum())
    Xt, Yt, _ = training_data(log, unit, agent.trained_rounds)
    base = Generative._to_offer(Yt.mean(axis=0), cap)
    rows = []
    for x, y, r in zip(X, Y, used):
        rec = Generative._to_offer(y, cap)
        gen = agent.predict(x, cap)
        rows.append((r, float(np.mean(np.abs(np.subtract(gen.prices, rec.prices)))),
                     float(np.mean(np.abs(np.subtract(gen.quantities, rec.quantities)))),
                     curve_distance(gen, rec, cap), curve_distance(base, rec, cap)))
    df = pd.DataFrame(rows, columns=["round", "price_mae", "quantity_mae", "curve_distance",
                                     "baseline_curve_distance"]).set_index("round")
    df.attrs["summary"] = df.mean().to_dict()
    return df


class Handover(Agent):
    """A seat that hands over to a generative agent: ``seat`` (e.g. a
    :class:`~pyomo_ecc.simulation.agents.Human`) plays rounds 1..``after``; its decisions are
    recorded, a :class:`Generative` is fitted to them and plays every later round (seed 001
    sec. 2: generative models replace people in later rounds)."""

    kind = "handover"

    def __init__(self, seat, after, noise=1.0, estimator=None):
        super().__init__()
        if int(after) != after or after < 2:
            raise InputError(f"handover needs at least 2 recorded rounds, got after={after!r}")
        self.seat, self.after, self.noise, self.estimator = seat, int(after), noise, estimator
        self.model, self.records = None, []

    def bind(self, unit, rng):
        super().bind(unit, rng)
        self.seat.bind(unit, rng)
        self.model, self.records = None, []
        return self

    def offer(self, obs):
        if obs.day <= self.after:
            o = self.seat.offer(obs)
            q = np.asarray(o.quantities)
            self.records.append((obs.day, obs.features(), np.concatenate([o.prices, q / q.sum()])))
            return o
        if self.model is None:
            days, X, Y = zip(*self.records)
            self.model = Generative.fit_arrays(X, Y, self.estimator, self.noise, self.unit.name, days)
            self.model.bind(self.unit, self.rng)
        return self.model.offer(obs)

    def feedback(self, obs, offer, result):
        if obs.day <= self.after:
            self.seat.feedback(obs, offer, result)

    def describe(self):
        return f"{self.seat.describe()} (rounds 1-{self.after}), then generative"
