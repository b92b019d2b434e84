"""Assembled reference models, one builder per model name (installed as ``pyomo_ecc.models``)."""
from pyomo_ecc.models.market import build_market

#: model name (as in a case file's ``model`` key) -> builder taking a Case
MODELS = {"market": build_market}
