r"""Bidding agents behind one interface.

An agent plays one unit. Each day it receives an :class:`Observation` (the load forecast, the
previous day's LMPs at its bus, its own output and profit, the carbon price, its allowance
position) and returns an :class:`~pyomo_ecc.simulation.market.Offer`; after the day it gets
:meth:`Agent.feedback` with its eq. 22 profit, and :meth:`Agent.carbon_order` places its
allowance order. Every agent draws randomness only from the ``numpy.random.Generator`` it is
bound to (:meth:`Agent.bind`).

Rule-based agents (marginal cost :math:`mc_i = c^v_i + (\rho_i - A_i)\,p^{carbon}`, capacity
:math:`\bar q`):

* :class:`Truthful`: all capacity at :math:`mc_i` (five equal segments).
* :class:`Markup`: five equal segments at :math:`\min(p_u,\ mc_i (1 + m\,k/4))`,
  :math:`k = 0..4`.
* :class:`Withholding`: :math:`(1-w)\bar q` at :math:`mc_i` (four equal segments), the last
  :math:`w\bar q` at the price cap :math:`p_u`.

Learners choose among a grid of strategies :math:`j = (m_j, w_j)`
(:func:`strategy_offer`: markup :math:`m_j` on the offered part, share :math:`w_j` at the cap):

* :class:`RothErev` (modified Roth-Erev, Nicolaisen, Petrov & Tesfatsion 2001): propensities
  :math:`\theta_j`, choice probabilities :math:`\pi_j = \theta_j / \sum_l \theta_l`; after
  playing :math:`k` with reward :math:`R \ge 0`,

  .. math:: \theta_j \leftarrow (1 - r)\,\theta_j + \begin{cases} R\,(1 - e) & j = k \\
            \theta_j\, e / (N - 1) & j \ne k \end{cases}

  with recency :math:`r`, experimentation :math:`e`, :math:`N` strategies. The reward is the
  operating profit :math:`(R_i + 24 c^f_i)^+ / s` (eq. 22 plus the fixed cost, which no offer
  changes, floored at 0, scaled by :math:`s`), so propensities stay non-negative.
* :class:`QLearning`: :math:`Q(s,a) \leftarrow Q(s,a) + \alpha\,(r + \gamma \max_b Q(s',b) -
  Q(s,a))`, :math:`\varepsilon`-greedy with :math:`\varepsilon \leftarrow \max(\varepsilon_{min},
  \varepsilon\,\delta)` per day; reward :math:`R_i / s`; the state is the carbon-price band
  (below / within / above 5 % of the opening price).

Seats:

* :class:`Human`: a terminal prompt that shows the previous day, validates the curve and
  explains a rejection, then asks again.
* :class:`Scripted`: offers from a table (e.g. a recorded offer log, CSV or Parquet), a dict
  ``{round: Offer}`` or a callable; a scripted offer that breaks a rule raises
  :class:`~pyomo_ecc.simulation.market.OfferRejected` naming the round.
* :class:`~pyomo_ecc.simulation.generative.Generative`: a model fitted to recorded decisions.

=============================  ===========================  ===============================
symbol                         attribute                    meaning
=============================  ===========================  ===============================
:math:`\theta_j`               ``RothErev.propensity``      propensities
:math:`r, e, s`                ``recency``,                 Roth-Erev parameters
                               ``experimentation``,
                               ``scale``
:math:`Q(s, a)`                ``QLearning.q``              action values (states x actions)
:math:`\alpha, \gamma`         ``alpha``, ``gamma``         Q-learning step and discount
:math:`\varepsilon`            ``epsilon``                  exploration rate
:math:`(m_j, w_j)`             ``strategies``               the learners' strategy grid
=============================  ===========================  ===============================
"""
import itertools
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.simulation.carbon import default_carbon_order
from pyomo_ecc.simulation.market import (N_SEGMENTS, PRICE_CAP, PRICE_FLOOR, Offer, OfferRejected,
                                         check_offer)

#: the observation features (generative agents and logs): name -> meaning
FEATURES = {
    "carbon_price": "carbon price of the day (yuan/t)",
    "forecast_total_peak": "peak of the system load forecast (MW)",
    "forecast_bus_mean": "mean load forecast at the unit's bus (MW)",
    "last_lmp_mean": "mean LMP at the unit's bus the day before (yuan/MWh; 0 on day 1)",
    "last_lmp_max": "largest LMP at the unit's bus the day before (yuan/MWh; 0 on day 1)",
    "last_load_factor": "output / (24 x capacity) the day before (0 on day 1)",
    "last_profit_per_mwh": "eq. 22 profit per MWh the day before (yuan/MWh; 0 if none)",
    "position": "allowance position (A - rho) E after the day before (t)",
}


@dataclass
class Observation:
    """What an agent sees before offering on day ``day`` (1-based)."""

    day: int
    unit: object
    forecast: pd.DataFrame                  # MW, t x bus
    carbon_price: float
    last_lmp: pd.Series = None              # yuan/MWh at the unit's bus, by t
    last_output: pd.Series = None           # MW by t
    last_profit: float = None               # yuan (eq. 22)
    last_profit_per_mwh: float = None
    position: float = 0.0                   # t
    last_offer: Offer = None
    opening_price: float = 48.0             # the carbon book's day-1 opening price

    @property
    def marginal_cost(self):
        return self.unit.marginal_cost(self.carbon_price)

    def features(self):
        """The observation as a feature vector (order of :data:`FEATURES`)."""
        u = self.unit
        lmp = self.last_lmp
        out = self.last_output
        ppm = self.last_profit_per_mwh
        return np.array([
            self.carbon_price,
            float(self.forecast.sum(axis=1).max()),
            float(self.forecast[u.bus].mean()),
            0.0 if lmp is None else float(lmp.mean()),
            0.0 if lmp is None else float(lmp.max()),
            0.0 if out is None else float(out.sum()) / (len(out) * u.capacity),
            0.0 if ppm is None or not np.isfinite(ppm) else float(ppm),
            float(self.position),
        ])


class Agent:
    """The interface every agent implements (see module doc)."""

    kind = "agent"

    def __init__(self):
        self.unit = None
        self.rng = None

    def bind(self, unit, rng):
        """Attach the agent to ``unit`` with its own generator; called by the engine."""
        if not isinstance(rng, np.random.Generator):
            raise InputError(f"agent for {unit.name}: needs a numpy.random.Generator")
        self.unit, self.rng = unit, rng
        self.reset()
        return self

    def reset(self):
        """Forget what was learnt (a new experiment)."""

    def offer(self, obs):
        raise NotImplementedError

    def feedback(self, obs, offer, result):
        """After the day: ``result`` is the unit's row of the settlement (eq. 22)."""

    def carbon_order(self, position, opening_price, band, rng):
        """The allowance order after the day: ``(side, price, quantity)`` or None; ``rng`` is the
        unit's allowance-order generator (apart from :attr:`rng`, so that the offers an agent
        draws never shift its allowance orders)."""
        return default_carbon_order(position, opening_price, band, rng)

    def describe(self):
        return self.kind


def _ensure_valid(unit, offer, where):
    reasons = check_offer(offer, unit.capacity)
    if reasons:
        raise OfferRejected(unit.name, [f"{where}: {r}" for r in reasons])
    return offer


def strategy_offer(unit, mc, markup=0.0, withhold=0.0):
    """The offer of strategy (markup, withhold): ``(1 - withhold)`` of capacity in four equal
    segments at ``mc * (1 + markup * k / 3)``, k = 0..3, the rest at the cap; prices clipped to
    [floor, cap]."""
    if not 0 <= withhold <= 1 or markup < 0:
        raise InputError(f"strategy needs markup >= 0 and 0 <= withhold <= 1, got {markup}, {withhold}")
    c = unit.capacity
    p = [min(PRICE_CAP, max(PRICE_FLOOR, mc * (1 + markup * k / 3))) for k in range(N_SEGMENTS - 1)]
    q = [(1 - withhold) * c / (N_SEGMENTS - 1)] * (N_SEGMENTS - 1)
    return Offer(tuple(p) + (PRICE_CAP,), tuple(q) + (c - sum(q),))


class Truthful(Agent):
    """All capacity at marginal cost (variable cost + net carbon cost)."""

    kind = "truthful"

    def offer(self, obs):
        mc = min(PRICE_CAP, max(PRICE_FLOOR, obs.marginal_cost))
        return Offer.flat(mc, self.unit.capacity)


class Markup(Agent):
    """Five equal segments at ``min(cap, mc (1 + markup k / 4))``, k = 0..4."""

    kind = "markup"

    def __init__(self, markup=1.0):
        super().__init__()
        if markup < 0:
            raise InputError(f"markup must be >= 0, got {markup}")
        self.markup = float(markup)

    def offer(self, obs):
        mc = max(PRICE_FLOOR, obs.marginal_cost)
        p = [min(PRICE_CAP, mc * (1 + self.markup * k / (N_SEGMENTS - 1))) for k in range(N_SEGMENTS)]
        return Offer(tuple(p), (self.unit.capacity / N_SEGMENTS,) * N_SEGMENTS)

    def describe(self):
        return f"markup:{self.markup:g}"


class Withholding(Agent):
    """``(1 - share)`` of capacity at marginal cost, the last ``share`` at the price cap."""

    kind = "withhold"

    def __init__(self, share=0.9):
        super().__init__()
        if not 0 <= share <= 1:
            raise InputError(f"withholding share must be in [0, 1], got {share}")
        self.share = float(share)

    def offer(self, obs):
        mc = min(PRICE_CAP, max(PRICE_FLOOR, obs.marginal_cost))
        return strategy_offer(self.unit, mc, 0.0, self.share)

    def describe(self):
        return f"withhold:{self.share:g}"


DEFAULT_MARKUPS = (0.0, 0.25, 0.5, 1.0)
DEFAULT_WITHHOLDS = (0.0, 0.3, 0.6, 0.9)


class _Learner(Agent):
    """Shared strategy grid of the learners."""

    def __init__(self, markups=DEFAULT_MARKUPS, withholds=DEFAULT_WITHHOLDS, scale=1e5):
        super().__init__()
        self.strategies = list(itertools.product(markups, withholds))
        if not self.strategies:
            raise InputError("a learner needs at least one strategy")
        if not scale > 0:
            raise InputError(f"reward scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.last_action = None

    def _offer_for(self, obs, j):
        m, w = self.strategies[j]
        mc = min(PRICE_CAP, max(PRICE_FLOOR, obs.marginal_cost))
        return strategy_offer(self.unit, mc, m, w)


class RothErev(_Learner):
    """Modified Roth-Erev reinforcement learning over the strategy grid (see module doc)."""

    kind = "roth-erev"

    def __init__(self, recency=0.1, experimentation=0.05, initial=1.0, scale=1e6, **kw):
        super().__init__(scale=scale, **kw)
        if not (0 <= recency <= 1 and 0 <= experimentation <= 1 and initial > 0):
            raise InputError("Roth-Erev needs 0 <= recency, experimentation <= 1 and initial > 0")
        self.recency, self.experimentation, self.initial = recency, experimentation, float(initial)
        self.reset()

    def reset(self):
        self.propensity = np.full(len(self.strategies), self.initial)
        self.last_action = None

    def probabilities(self):
        s = self.propensity.sum()
        n = len(self.propensity)
        return np.full(n, 1.0 / n) if s <= 0 else self.propensity / s

    def update(self, action, reward):
        """One modified Roth-Erev update with reward ``reward`` (>= 0) for ``action``."""
        if reward < 0:
            raise InputError(f"Roth-Erev reward must be >= 0, got {reward}")
        n = len(self.propensity)
        e, r = self.experimentation, self.recency
        spill = self.propensity * e / (n - 1) if n > 1 else np.zeros(n)
        new = (1 - r) * self.propensity + spill
        new[action] = (1 - r) * self.propensity[action] + reward * (1 - e)
        self.propensity = new

    def offer(self, obs):
        self.last_action = int(self.rng.choice(len(self.strategies), p=self.probabilities()))
        return self._offer_for(obs, self.last_action)

    def reward(self, result):
        return max(0.0, float(result["profit"]) + float(result["fixed_cost"])) / self.scale

    def feedback(self, obs, offer, result):
        if self.last_action is not None:
            self.update(self.last_action, self.reward(result))


class QLearning(_Learner):
    """Tabular epsilon-greedy Q-learning over the strategy grid (see module doc)."""

    kind = "q-learning"

    def __init__(self, alpha=0.3, gamma=0.0, epsilon=0.3, epsilon_decay=0.93, epsilon_min=0.02, **kw):
        super().__init__(**kw)
        if not (0 < alpha <= 1 and 0 <= gamma < 1 and 0 <= epsilon <= 1):
            raise InputError("Q-learning needs 0 < alpha <= 1, 0 <= gamma < 1, 0 <= epsilon <= 1")
        self.alpha, self.gamma = alpha, gamma
        self.epsilon0, self.epsilon_decay, self.epsilon_min = epsilon, epsilon_decay, epsilon_min
        self.reset()

    def reset(self):
        self.q = np.zeros((3, len(self.strategies)))
        self.epsilon = self.epsilon0
        self.last_action, self.last_state = None, None

    @staticmethod
    def state(obs):
        rel = obs.carbon_price / obs.opening_price
        return 0 if rel < 0.95 else (2 if rel > 1.05 else 1)

    def offer(self, obs):
        s = self.state(obs)
        if self.rng.random() < self.epsilon:
            a = int(self.rng.integers(len(self.strategies)))
        else:
            row = self.q[s]
            a = int(self.rng.choice(np.flatnonzero(row == row.max())))
        self.last_action, self.last_state = a, s
        return self._offer_for(obs, a)

    def feedback(self, obs, offer, result, next_state=None):
        if self.last_action is None:
            return
        s, a = self.last_state, self.last_action
        r = float(result["profit"]) / self.scale
        nxt = 0.0 if next_state is None else self.q[next_state].max()
        self.q[s, a] += self.alpha * (r + self.gamma * nxt - self.q[s, a])
        self.epsilon = max(self.epsilon_min, self.epsilon * self.epsilon_decay)


# -- seats ---------------------------------------------------------------------------------------
def _parse_numbers(text, what):
    parts = [x for x in text.replace(";", ",").replace(" ", ",").split(",") if x.strip()]
    try:
        return [float(x) for x in parts]
    except ValueError:
        raise InputError(f"{what}: numbers separated by commas or spaces, got {text!r}") from None


class Human(Agent):
    """A person at the terminal. Shows the previous day (own output by hour, LMP at the unit's
    bus, eq. 22 profit and profit per MWh, carbon price and position), asks for five prices and
    five quantities, checks the curve and explains a rejection, then asks again.

    ``input_fn`` (default :func:`input`) and ``out`` (default stdout) can be replaced, e.g. by a
    list of answers for a scripted run. Answers: ``mc`` = all at marginal cost; an empty
    answer repeats the previous offer (prices) or gives equal segments (quantities).
    """

    kind = "human"

    def __init__(self, input_fn=None, out=None, max_attempts=20):
        super().__init__()
        if isinstance(input_fn, (list, tuple)):
            answers = iter(input_fn)
            input_fn = lambda prompt="": next(answers)  # noqa: E731
        self.input_fn = input if input_fn is None else input_fn
        self.out = out
        self.max_attempts = max_attempts

    def _w(self, text):
        (self.out or sys.stdout).write(text + "\n")

    def _ask(self, prompt):
        try:
            return self.input_fn(prompt)
        except (EOFError, StopIteration):
            raise InputError(f"human seat {self.unit.name}: no more input") from None

    def show(self, obs):
        u = self.unit
        self._w(f"\n=== day {obs.day} - unit {u.name} ({u.fuel}, {u.capacity:g} MW at bus {u.bus}; "
                f"variable cost {u.variable_cost:g} yuan/MWh, fixed {u.fixed_cost:g} yuan/h) ===")
        self._w(f"carbon price {obs.carbon_price:.2f} yuan/t; net carbon rate {u.net_carbon_rate:+.2f} t/MWh; "
                f"marginal cost {obs.marginal_cost:.2f} yuan/MWh; allowance position {obs.position:+.1f} t")
        fc = obs.forecast.sum(axis=1)
        self._w(f"load forecast: system peak {fc.max():.0f} MW at hour {fc.idxmax()}, "
                f"bus {u.bus} mean {obs.forecast[u.bus].mean():.0f} MW")
        if obs.last_lmp is not None:
            tab = pd.DataFrame({"LMP": obs.last_lmp.round(1), "output": obs.last_output.round(1)}).T
            with pd.option_context("display.width", 250, "display.max_columns", 30):
                self._w("yesterday at your bus (yuan/MWh, MW) by hour:\n" + tab.to_string())
            ppm = obs.last_profit_per_mwh
            self._w(f"yesterday's profit (eq. 22): {obs.last_profit:,.0f} yuan, " +
                    (f"{ppm:.2f} yuan/MWh" if np.isfinite(ppm) else "no output, so no profit per MWh"))
            if obs.last_offer is not None:
                self._w(f"your last offer: prices {list(obs.last_offer.prices)}, "
                        f"quantities {[round(q, 3) for q in obs.last_offer.quantities]}")

    def offer(self, obs):
        self.show(obs)
        u = self.unit
        for _ in range(self.max_attempts):
            ans = self._ask(f"{u.name}: 5 prices in [0, 1000] yuan/MWh, non-decreasing "
                            f"('mc' = all at marginal cost, Enter = as last time): ").strip()
            if ans.lower() == "mc":
                return Offer.flat(min(PRICE_CAP, max(PRICE_FLOOR, obs.marginal_cost)), u.capacity)
            try:
                if ans == "":
                    if obs.last_offer is None:
                        raise InputError("there is no previous offer to repeat")
                    prices = list(obs.last_offer.prices)
                else:
                    prices = _parse_numbers(ans, "prices")
                ans_q = self._ask(f"{u.name}: 5 quantities in MW summing to {u.capacity:g} "
                                  f"(Enter = 5 x {u.capacity / N_SEGMENTS:g}): ").strip()
                qty = ([u.capacity / N_SEGMENTS] * N_SEGMENTS if ans_q == ""
                       else _parse_numbers(ans_q, "quantities"))
                offer = Offer(tuple(prices), tuple(qty))
            except InputError as e:
                self._w(f"rejected: {e}")
                continue
            reasons = check_offer(offer, u.capacity)
            if not reasons:
                self._w("offer accepted.")
                return offer
            self._w("rejected: " + "; ".join(reasons))
        raise InputError(f"human seat {u.name}: no valid offer after {self.max_attempts} attempts")


class Scripted(Agent):
    """Offers from a script: a DataFrame / CSV / Parquet file in the layout of the experiment's
    offer log (columns ``round``, ``unit``, ``segment``, ``price``, ``quantity``), a dict
    ``{round: Offer}``, or a callable ``f(obs) -> Offer``. A missing round or an offer that
    breaks a rule raises an error naming the round."""

    kind = "scripted"

    def __init__(self, script, unit=None):
        super().__init__()
        self.script, self._for_unit = script, unit
        self._table = None

    def bind(self, unit, rng):
        super().bind(unit, rng)
        s = self.script
        if isinstance(s, (str,)) or hasattr(s, "__fspath__"):
            path = str(s)
            s = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
        if isinstance(s, pd.DataFrame):
            df = s.reset_index() if "round" not in s.columns else s
            need = {"round", "unit", "segment", "price", "quantity"}
            if not need <= set(df.columns):
                raise InputError(f"scripted seat {unit.name}: the table needs columns {sorted(need)}")
            df = df[df["unit"].astype(str) == str(self._for_unit or unit.name)]
            self._table = {int(r): Offer(tuple(g.sort_values("segment")["price"]),
                                         tuple(g.sort_values("segment")["quantity"]))
                           for r, g in df.groupby("round")}
        return self

    def offer(self, obs):
        if self._table is not None:
            if obs.day not in self._table:
                raise InputError(f"scripted seat {self.unit.name}: no offer for round {obs.day}")
            o = self._table[obs.day]
        elif isinstance(self.script, dict):
            if obs.day not in self.script:
                raise InputError(f"scripted seat {self.unit.name}: no offer for round {obs.day}")
            o = self.script[obs.day]
        elif callable(self.script):
            o = self.script(obs)
        else:
            raise InputError(f"scripted seat {self.unit.name}: unsupported script {type(self.script)}")
        return _ensure_valid(self.unit, o, f"round {obs.day}")


AGENT_KINDS = {"truthful": Truthful, "markup": Markup, "withhold": Withholding,
               "roth-erev": RothErev, "q-learning": QLearning}


def make_agent(spec):
    """An agent from a short spec: ``truthful``, ``markup[:m]``, ``withhold[:share]``,
    ``roth-erev``, ``q-learning``."""
    name, _, arg = spec.strip().partition(":")
    name = name.lower()
    if name not in AGENT_KINDS:
        raise InputError(f"unknown agent kind {name!r}; known: {sorted(AGENT_KINDS)} "
                         f"(and the seats human, scripted, generative)")
    cls = AGENT_KINDS[name]
    if arg:
        if name not in ("markup", "withhold"):
            raise InputError(f"agent kind {name!r} takes no argument (got {spec!r})")
        try:
            return cls(float(arg))
        except ValueError:
            raise InputError(f"agent spec {spec!r}: the argument must be a number") from None
    return cls()


def parse_agents(spec, units):
    """``{unit: Agent}`` from ``"G1=truthful,G3=withhold:0.9,*=roth-erev"`` (``*`` = every unit
    not named; a bare kind such as ``"q-learning"`` applies to all)."""
    units = list(units)
    out, default = {}, None
    for part in [p for p in (spec or "").split(",") if p.strip()]:
        if "=" in part:
            who, kind = (x.strip() for x in part.split("=", 1))
        else:
            who, kind = "*", part.strip()
        if who == "*":
            default = kind
        elif who not in units:
            raise InputError(f"agent spec: unknown unit {who!r}; units are {units}")
        else:
            out[who] = make_agent(kind)
    for u in units:
        if u not in out:
            out[u] = make_agent(default or "truthful")
    return out
