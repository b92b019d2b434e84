"""Assembled reference models, one builder per model name (installed as ``pyomo_ecc.models``).

``MODELS[name](case)`` builds the model named by a case file's ``model`` key.
``REPORTS[name](model)`` (optional) returns extra ``{title: DataFrame}`` tables that
``pyomo-ecc run`` prints after the standard summary (welfare, prices, dispatch, surplus).
"""
from pyomo_ecc.models.market import build_market

#: model name (as in a case file's ``model`` key) -> builder taking a Case
MODELS = {"market": build_market}

#: model name -> function(model) -> {title: DataFrame} of extra tables for the CLI summary
REPORTS = {}
