"""Agents and the multi-round carbon-electricity co-simulation of seed 001 (see
:mod:`pyomo_ecc.simulation.engine`)."""
from pyomo_ecc.simulation.agents import (Agent, Human, Markup, Observation, QLearning,  # noqa: F401
                                         RothErev, Scripted, Truthful, Withholding, make_agent,
                                         parse_agents, strategy_offer)
from pyomo_ecc.simulation.carbon import CarbonMarket, positions, trade_table  # noqa: F401
from pyomo_ecc.simulation.engine import Experiment, ExperimentLog, Simulator, run_many  # noqa: F401
from pyomo_ecc.simulation.market import (Offer, OfferRejected, Unit, build_market,  # noqa: F401
                                         check_offer, clear_round, seed001_units, validate_offer)
