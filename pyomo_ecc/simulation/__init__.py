"""Agents and the multi-round carbon-electricity co-simulation of seed 001.

=====================================  ==========================================================
module                                 what
=====================================  ==========================================================
:mod:`~pyomo_ecc.simulation.market`    offers and their rules, the one market model, a round's
                                       clearing (:func:`clear_round`), eq. 22 settlement
:mod:`~pyomo_ecc.simulation.carbon`    allowance positions, the daily order book, Table 4 layout
:mod:`~pyomo_ecc.simulation.agents`    the agent interface, rule agents, learners, human and
                                       scripted seats
:mod:`~pyomo_ecc.simulation.generative`  agents fitted to recorded decisions, closeness, handover
:mod:`~pyomo_ecc.simulation.engine`    the simulator, experiments and their logs, fan-out
:mod:`~pyomo_ecc.simulation.env`       PettingZoo and Gymnasium environments
:mod:`~pyomo_ecc.simulation.analysis`  pivotal units by hour
:mod:`~pyomo_ecc.simulation.cge_link`  the hand-off to the seed 001 CGE model (Table 5 layout)
:mod:`~pyomo_ecc.simulation.plots`     pictures of a log
:mod:`~pyomo_ecc.simulation.cli`       ``pyomo-ecc cosim``
=====================================  ==========================================================
"""
from pyomo_ecc.simulation.agents import (Agent, Human, Markup, Observation, QLearning,  # noqa: F401
                                         RothErev, Scripted, Truthful, Withholding, make_agent,
                                         parse_agents, strategy_offer)
from pyomo_ecc.simulation.carbon import CarbonMarket, positions, trade_table  # noqa: F401
from pyomo_ecc.simulation.engine import Experiment, ExperimentLog, Simulator, run_many  # noqa: F401
from pyomo_ecc.simulation.market import (Offer, OfferRejected, Unit, build_market,  # noqa: F401
                                         check_offer, clear_round, seed001_units, validate_offer)
