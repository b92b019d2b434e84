"""Assembled reference models, one builder per model name (installed as ``pyomo_ecc.models``).

``MODELS[name](case)`` builds the model named by a case file's ``model`` key.
``REPORTS[name](model)`` (optional) returns extra ``{title: DataFrame}`` tables that
``pyomo-ecc run`` prints after the standard summary (welfare, prices, dispatch, surplus).
"""
from pyomo_ecc.io.cases import MODELS  # (the registry Case.build reads)
from pyomo_ecc.models.cge_seed001 import build_cge_seed001, report_cge_seed001
from pyomo_ecc.models.community import build_community, community_report
from pyomo_ecc.models.coupled import build_coupled, report_coupled
from pyomo_ecc.models.dc_market import build_dc_market, build_matpower_model, dc_report
from pyomo_ecc.models.feeder import build_feeder, feeder_report
from pyomo_ecc.models.market import build_market

#: model name (as in a case file's ``model`` key) -> builder taking a Case; the reference models
#: are registered on first need (``Case.build``), after any model the user registered under the
#: same name, which is kept
for _name, _builder in {"market": build_market, "feeder": build_feeder, "coupled": build_coupled,
                        "community": build_community, "dc_market": build_dc_market,
                        "matpower": build_matpower_model, "cge_seed001": build_cge_seed001}.items():
    MODELS.setdefault(_name, _builder)

#: model name -> function(model) -> {title: DataFrame} of extra tables for the CLI summary
REPORTS = {"feeder": feeder_report, "coupled": report_coupled, "community": community_report,
           "dc_market": dc_report, "matpower": dc_report, "cge_seed001": report_cge_seed001}
