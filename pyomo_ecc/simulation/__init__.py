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
import importlib

#: public name -> module (imported on first use, :pep:`562`: ``pyomo-ecc --help`` reads the
#: options of ``pyomo-ecc cosim`` from :mod:`pyomo_ecc.simulation.cli` without loading the rest)
_LAZY = {
    **dict.fromkeys(("Agent", "Human", "Markup", "Observation", "QLearning", "RothErev", "Scripted",
                     "Truthful", "Withholding", "make_agent", "parse_agents", "strategy_offer"),
                    "pyomo_ecc.simulation.agents"),
    **dict.fromkeys(("CarbonMarket", "positions", "trade_table"), "pyomo_ecc.simulation.carbon"),
    **dict.fromkeys(("Experiment", "ExperimentLog", "Simulator", "run_many"),
                    "pyomo_ecc.simulation.engine"),
    **dict.fromkeys(("Offer", "OfferRejected", "Unit", "build_market", "check_offer", "clear_round",
                     "seed001_units", "validate_offer"), "pyomo_ecc.simulation.market"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'pyomo_ecc.simulation' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
