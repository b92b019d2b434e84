"""Assembled reference models, one builder per model name (installed as ``pyomo_ecc.models``).

``MODELS[name](case)`` builds the model named by a case file's ``model`` key.
``REPORTS[name](model)`` (optional) returns extra ``{title: DataFrame}`` tables that
``pyomo-ecc run`` prints after the standard summary (welfare, prices, dispatch, surplus).
"""
from pyomo_ecc.models.feeder import build_feeder, feeder_report
from pyomo_ecc.models.coupled import build_coupled, report_coupled
from pyomo_ecc.models.community import build_community, community_report
from pyomo_ecc.models.market import build_market

from pyomo_ecc.io.cases import MODELS  # noqa: E402  (the registry Case.build reads)

#: model name (as in a case file's ``model`` key) -> builder taking a Case
MODELS.update({"market": build_market, "feeder": build_feeder})

#: model name -> function(model) -> {title: DataFrame} of extra tables for the CLI summary
REPORTS = {"feeder": feeder_report}

MODELS["coupled"] = build_coupled
REPORTS["coupled"] = report_coupled
MODELS["community"] = build_community
REPORTS["community"] = community_report

from pyomo_ecc.models.dc_market import build_dc_market, build_matpower_model, dc_report  # noqa: E402
MODELS["dc_market"] = build_dc_market
REPORTS["dc_market"] = dc_report
MODELS["matpower"] = build_matpower_model
REPORTS["matpower"] = dc_report
from pyomo_ecc.models.cge_seed001 import build_cge_seed001, report_cge_seed001  # noqa: E402
MODELS["cge_seed001"] = build_cge_seed001
REPORTS["cge_seed001"] = report_cge_seed001
