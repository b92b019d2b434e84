r"""The co-simulation as standard RL environments: a PettingZoo parallel environment (every unit
an agent) and a Gymnasium single-agent wrapper (one unit learns, the others are
:mod:`~pyomo_ecc.simulation.agents` agents), so any RL library can train against the market.

One step is one day (:class:`~pyomo_ecc.simulation.engine.Simulator`); an episode has
``rounds`` days and ends by truncation.

* **action** (``Box``, 10 numbers): the five segment prices (yuan/MWh, in [0, 1000]) and the
  five segment widths (MW, in [0, capacity]). The environment turns any action into a valid
  offer by :func:`~pyomo_ecc.simulation.market.project_offer` (prices sorted, widths scaled to
  the capacity; equal widths when all are 0); ``info["offer"]`` is the offer that was cleared.
* **observation** (``Box``, float32, :math:`24 B + 26` numbers for :math:`B` buses): the load
  forecast by hour and bus (MW, hour-major), the previous day's LMPs at the unit's bus by hour
  (yuan/MWh; 0 before day 1), the carbon price of the day (yuan/t) and the allowance position
  after the previous day (t).
* **reward**: the unit's eq. 22 profit of the day (yuan), divided by ``reward_scale``.

Allowance orders follow the default rule
(:func:`~pyomo_ecc.simulation.carbon.default_carbon_order`).
"""
import functools

import numpy as np

from pyomo_ecc.errors import InputError
from pyomo_ecc.simulation.agents import Agent, parse_agents
from pyomo_ecc.simulation.engine import Simulator
from pyomo_ecc.simulation.market import N_SEGMENTS, PRICE_CAP, PRICE_FLOOR, project_offer


def _obs_vector(sim, unit):
    o = sim.observation(unit)
    lmp = np.zeros(len(sim.market.hours)) if o.last_lmp is None else o.last_lmp.to_numpy(dtype=float)
    return np.concatenate([sim.market.forecast.to_numpy(dtype=float).ravel(), lmp,
                           [o.carbon_price, o.position]]).astype(np.float32)


def _spaces(sim, unit):
    from gymnasium import spaces
    nh, nb = len(sim.market.hours), len(sim.market.buses)
    inf = np.inf
    low = np.concatenate([np.full(nh * nb, -inf), np.full(nh, -inf), [0.0, -inf]]).astype(np.float32)
    high = np.full(nh * nb + nh + 2, inf, dtype=np.float32)
    cap = sim.market.units[unit].capacity
    act_low = np.array([PRICE_FLOOR] * N_SEGMENTS + [0.0] * N_SEGMENTS, dtype=np.float32)
    act_high = np.array([PRICE_CAP] * N_SEGMENTS + [cap] * N_SEGMENTS, dtype=np.float32)
    return (spaces.Box(low, high, dtype=np.float32), spaces.Box(act_low, act_high, dtype=np.float32))


def _parallel_base():
    from pettingzoo import ParallelEnv
    return ParallelEnv


class CosimParallelEnv(_parallel_base()):
    """PettingZoo parallel environment of the seed 001 market (see module doc)."""

    metadata = {"name": "pyomo_ecc_cosim_v0", "render_modes": []}

    def __init__(self, rounds=30, seed=0, reward_scale=1.0, simulator=None, **sim_kw):
        if int(rounds) != rounds or rounds < 1:
            raise InputError(f"rounds must be a positive integer, got {rounds!r}")
        self.rounds, self.reward_scale = int(rounds), float(reward_scale)
        self.sim = Simulator(seed=seed, **sim_kw) if simulator is None else simulator
        self.possible_agents = list(self.sim.units)
        self.agents = []
        self._spaces = {u: _spaces(self.sim, u) for u in self.possible_agents}
        self.render_mode = None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return self._spaces[agent][0]

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return self._spaces[agent][1]

    def reset(self, seed=None, options=None):
        self.sim.reset(seed)
        self.agents = list(self.possible_agents)
        return ({u: _obs_vector(self.sim, u) for u in self.agents},
                {u: {"day": 0} for u in self.agents})

    def step(self, actions):
        if not self.agents:
            raise InputError("step() after the episode ended; call reset()")
        missing = [u for u in self.agents if u not in actions]
        if missing:
            raise InputError(f"no action for agent(s) {missing}")
        offers = {u: project_offer(actions[u], self.sim.market.units[u].capacity) for u in self.agents}
        res = self.sim.step(offers)
        done = self.sim.day >= self.rounds
        obs = {u: _obs_vector(self.sim, u) for u in self.agents}
        rew = {u: float(res.settlement.at[u, "profit"]) / self.reward_scale for u in self.agents}
        term = {u: False for u in self.agents}
        trunc = {u: done for u in self.agents}
        info = {u: {"day": res.day, "offer": offers[u],
                    "profit_per_mwh": float(res.settlement.at[u, "profit_per_mwh"]),
                    "carbon_price": res.carbon_close} for u in self.agents}
        if done:
            self.agents = []
        return obs, rew, term, trunc, info

    def render(self):
        return None

    def close(self):
        pass


def _gym_base():
    import gymnasium
    return gymnasium.Env


class SingleUnitEnv(_gym_base()):
    """Gymnasium environment: ``unit`` is the learner; the other units are played by ``others``
    (``{unit: Agent}`` or a spec string, default truthful), bound to the simulator's generators."""

    metadata = {"render_modes": []}

    def __init__(self, unit="G3", others="truthful", rounds=30, seed=0, reward_scale=1.0,
                 simulator=None, **sim_kw):
        self.sim = Simulator(seed=seed, **sim_kw) if simulator is None else simulator
        if unit not in self.sim.units:
            raise InputError(f"unknown unit {unit!r}; units are {self.sim.units}")
        self.unit, self.rounds, self.reward_scale = unit, int(rounds), float(reward_scale)
        rest = [u for u in self.sim.units if u != unit]
        agents = parse_agents(others, self.sim.units) if isinstance(others, str) else dict(others)
        self.others = {u: agents[u] for u in rest}
        bad = [u for u in rest if not isinstance(self.others.get(u), Agent)]
        if bad:
            raise InputError(f"no agent for unit(s) {bad}")
        self.observation_space, self.action_space = _spaces(self.sim, unit)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.sim.reset(seed)
        for u, a in self.others.items():
            a.bind(self.sim.market.units[u], self.sim.agent_rngs[u])
        return _obs_vector(self.sim, self.unit), {"day": 0}

    def step(self, action):
        obs = {u: self.sim.observation(u) for u in self.others}
        offers = {u: a.offer(obs[u]) for u, a in self.others.items()}
        offers[self.unit] = project_offer(action, self.sim.market.units[self.unit].capacity)
        res = self.sim.step(offers)
        for u, a in self.others.items():
            a.feedback(obs[u], offers[u], res.settlement.loc[u])
        reward = float(res.settlement.at[self.unit, "profit"]) / self.reward_scale
        trunc = self.sim.day >= self.rounds
        info = {"day": res.day, "offer": offers[self.unit], "carbon_price": res.carbon_close}
        return _obs_vector(self.sim, self.unit), reward, False, trunc, info
