r"""The coupled electricity-carbon-certificate market of seed 000 (Peng & Han 2025, eqs. 4-8).

Social welfare (eq. 6), maximised (the market minimises its negative):

.. math::

    sw^{CECM} = \sum_{j \in \Omega^c} U_j(d_j) - \sum_{i \in \Omega^p} C^E_i(g_i)
              - \sum_{i \in \Omega^p} C^T_i(g'_i) + \sum_{i \in \Omega^p} B^G_i(g''_i)

subject to the demand and output limits and the power balance (eq. 5), the carbon cap (eq. 7)
and the certificate constraint (eq. 8):

.. math::

    \sum_{i} E_i\,g'_i \le \Pi, \qquad \sum_i \alpha\,g''_i \le Z^{cap}

built from the library's blocks:

=================================  ==========================================  ==========================
term                               block (attribute on the model)              case key
=================================  ==========================================  ==========================
:math:`U_j`, :math:`C^E_i`, (5)    ``Consumer``, ``Producer``,                 ``[[consumer]]``,
                                   ``CopperPlate`` (``network``)               ``[[producer]]``
:math:`C^T_i = p_c E_i g'_i`       ``CarbonCost`` (``carbon_cost``)            ``[policy.carbon] price``
(7)                                ``CarbonCap`` (``carbon_cap``)              ``[policy.carbon] cap``
:math:`B^G_i = \pi^G z_i`          ``CertificatePrice``                        ``[policy.certificates]
                                   (``certificate_value``)                     price``
(8)                                ``CertificateCap`` (``certificate_cap``)    ``form = "cap"``,
                                                                               ``alpha``, ``cap``
quota instead of (8)               ``CertificateQuota``                        ``form = "quota"``,
                                   (``certificate_quota``)                     ``alpha``
=================================  ==========================================  ==========================

:math:`E_i` is a producer's ``emission_intensity`` (t/MWh; :math:`g'_i` is the output of a unit
with :math:`E_i > 0`), :math:`g''_i` the output of a unit with a ``certificate_rate``
(certificates per MWh, :math:`z_i = \kappa_i g''_i \Delta t`).

**What the paper does not give** (a case must state its own values, see
``case_library/seed000_coupled.toml``): which units are thermal and which renewable, the
emission factors :math:`E_i`, the cap :math:`\Pi`, the weight :math:`\alpha` and
:math:`Z^{cap}`, and the functional forms of :math:`C^T` and :math:`B^G` (the paper says the
carbon price is not cleared in real time and there is no free allocation; we take both terms
linear at exogenous prices :math:`p_c` and :math:`\pi^G`).

Prices (:func:`coupled_prices`, printed by :func:`report_coupled`): the LMP :math:`\lambda`,
the carbon price :math:`p_c + \pi^{cap}` (exogenous part plus the cap's shadow price: the
marginal value of a tonne seen by every emitter) and the certificate price
:math:`\pi^G + \pi^{quota} - \pi^{Zcap}` (marginal value of a certificate seen by every issuer;
:math:`\pi^{Zcap}` is :math:`\alpha` times the dual of eq. 8). When interior, a thermal unit
produces where :math:`C^{E\prime}_i = \lambda - E_i(p_c + \pi^{cap})` and a renewable unit
where :math:`C^{E\prime}_i = \lambda + \kappa_i(\pi^G + \pi^{quota} - \pi^{Zcap})`.
"""
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.errors import InputError
from pyomo_ecc.models.market import build_market
from pyomo_ecc.policy import (CarbonCap, CarbonCost, CertificateCap, CertificatePrice,
                              CertificateQuota, policy_terms)
from pyomo_ecc.pricing.prices import price_frame, prices

CARBON_KEYS = {"price", "cap", "participants", "periods"}
CERTIFICATE_KEYS = {"form", "price", "alpha", "cap", "producers", "consumers", "periods"}
FORMS = ("cap", "quota", "none")
#: keys of [policy.certificates] that each form uses (any other key would be silently ignored)
FORM_KEYS = {"cap": {"price", "alpha", "cap", "producers", "periods"},
             "quota": {"price", "alpha", "producers", "consumers", "periods"},
             "none": {"price", "producers", "periods"}}


def _table(case, key, allowed):
    pol = case.data.get("policy", {})
    if not isinstance(pol, dict):
        raise InputError(f"case '{case.name}': [policy] must be a table")
    unknown = [k for k in pol if k not in ("carbon", "certificates")]
    if unknown:
        raise InputError(f"case '{case.name}': unknown table(s) {unknown} in [policy]; "
                         f"allowed are ['carbon', 'certificates']")
    tab = pol.get(key, {})
    if not isinstance(tab, dict):
        raise InputError(f"case '{case.name}': [policy.{key}] must be a table")
    bad = sorted(k for k in tab if k not in allowed)
    if bad:
        raise InputError(f"case '{case.name}': unknown key(s) {bad} in [policy.{key}]; "
                         f"allowed are {sorted(allowed)}")
    return dict(tab)


def _scope(tab, keys):
    return {k: tab[k] for k in keys if k in tab}


def build_coupled(case):
    """Build the coupled market of ``case`` (not yet assembled); see the module doc."""
    carbon = _table(case, "carbon", CARBON_KEYS)
    cert = _table(case, "certificates", CERTIFICATE_KEYS)
    if carbon and "price" not in carbon and "cap" not in carbon:
        raise InputError(f"case '{case.name}': [policy.carbon] needs 'price' and/or 'cap' "
                         f"(got only {sorted(carbon)})")
    m = build_market(case)
    scope = _scope(carbon, ("participants", "periods"))
    if "price" in carbon:
        m.carbon_cost = CarbonCost(price=carbon["price"], **scope)
    if "cap" in carbon:
        m.carbon_cap = CarbonCap(cap=carbon["cap"], **scope)
    form = cert.pop("form", "cap" if "cap" in cert else "none")
    if form not in FORMS:
        raise InputError(f"case '{case.name}': [policy.certificates] form = {form!r}; "
                         f"use one of {list(FORMS)}")
    unused = sorted(k for k in cert if k not in FORM_KEYS[form])
    if unused:
        raise InputError(f"case '{case.name}': [policy.certificates] key(s) {unused} are not "
                         f"used by form = {form!r} (it takes {sorted(FORM_KEYS[form])})")
    if form == "none" and "price" not in cert and cert:
        raise InputError(f"case '{case.name}': [policy.certificates] form = 'none' needs "
                         f"'price' (got only {sorted(cert)})")
    if "price" in cert:
        m.certificate_value = CertificatePrice(price=cert["price"],
                                               **_scope(cert, ("producers", "periods")))
    if form == "cap":
        if "cap" not in cert:
            raise InputError(f"case '{case.name}': [policy.certificates] form = 'cap' needs 'cap'")
        m.certificate_cap = CertificateCap(cap=cert["cap"],
                                           **_scope(cert, ("alpha", "producers", "periods")))
    elif form == "quota":
        if "alpha" not in cert:
            raise InputError(f"case '{case.name}': [policy.certificates] form = 'quota' needs "
                             f"'alpha'")
        m.certificate_quota = CertificateQuota(
            alpha=cert["alpha"], **_scope(cert, ("producers", "consumers", "periods")))
    return m


def _dual_price(model, blk, name):
    df = price_frame(model, name)
    return float(df.loc[blk.local_name, name])


def coupled_prices(model):
    r"""LMP, carbon price and certificate price of a solved coupled market in one frame.

    Indexed (``bus``, ``t``); columns ``lmp`` (currency/MWh), ``carbon_price`` (currency/tCO2)
    = ``carbon_price_exogenous`` + ``carbon_cap_price``, ``certificate_price``
    (currency/certificate) = ``certificate_price_exogenous`` + ``certificate_quota_price`` -
    ``certificate_cap_rent``, where the rent is :math:`\alpha` times the issuance cap's price (the
    cap counts :math:`\alpha` per certificate). Components absent from the model are 0, and so
    is a policy's component in the periods outside its scope (option ``periods``).
    """
    lmp = prices(model)
    t_level = lmp.index.get_level_values("t")

    def part(attr, value):
        """``value`` of policy block ``attr`` in the periods of its scope, 0 elsewhere."""
        if not hasattr(model, attr):
            return 0.0
        blk = getattr(model, attr)
        inside = t_level.isin(blk.scope_periods())
        return pd.Series([value(blk) if x else 0.0 for x in inside], index=lmp.index)

    ex_c = part("carbon_cost", lambda b: pyo.value(b.price))
    cap_c = part("carbon_cap", lambda b: _dual_price(model, b, "carbon_price"))
    ex_g = part("certificate_value", lambda b: pyo.value(b.price))
    quota = part("certificate_quota", lambda b: _dual_price(model, b, "certificate_price"))
    zcap = part("certificate_cap", lambda b: pyo.value(b.alpha)
                * _dual_price(model, b, "certificate_cap_price"))
    df = lmp.copy()
    df["carbon_price"] = ex_c + cap_c
    df["certificate_price"] = ex_g + quota - zcap
    df["carbon_price_exogenous"] = ex_c
    df["carbon_cap_price"] = cap_c
    df["certificate_price_exogenous"] = ex_g
    df["certificate_quota_price"] = quota
    df["certificate_cap_rent"] = zcap
    return df + 0.0


def coupled_welfare(model):
    """The terms of sw^CECM (eq. 6) in currency: Series indexed ``term``."""
    util = sum(-pyo.value(p.bid_cost) for p in model.participants() if p.policy_role() == "demand")
    gen = sum(pyo.value(p.bid_cost) for p in model.participants() if p.policy_role() != "demand")
    carbon = pyo.value(model.carbon_cost.policy_cost) if hasattr(model, "carbon_cost") else 0.0
    benefit = -pyo.value(model.certificate_value.policy_cost) if hasattr(model, "certificate_value") else 0.0
    s = pd.Series({"utility": util, "generation_cost": gen, "carbon_cost": carbon,
                   "certificate_benefit": benefit,
                   "sw_CECM": util - gen - carbon + benefit}, name="value")
    s.index.name = "term"
    return s + 0.0


def report_coupled(model):
    """Extra tables printed by ``pyomo-ecc run`` for the coupled model."""
    cur = model.config.currency
    terms = policy_terms(model).groupby(level="participant", sort=False).sum()
    limits = []
    if hasattr(model, "carbon_cap"):
        limits.append(("carbon cap (tCO2)", pyo.value(model.carbon_cap.emissions),
                       pyo.value(model.carbon_cap.cap)))
    if hasattr(model, "certificate_cap"):
        limits.append(("alpha x certificates <= Z^cap", pyo.value(
            model.certificate_cap.alpha * model.certificate_cap.certificates),
            pyo.value(model.certificate_cap.cap)))
    if hasattr(model, "certificate_quota"):
        limits.append(("certificates >= alpha x consumption",
                       pyo.value(model.certificate_quota.certificates),
                       pyo.value(model.certificate_quota.alpha * model.certificate_quota.consumption)))
    lim = pd.DataFrame(limits, columns=["constraint", "value", "limit"]).set_index("constraint")
    return {
        f"coupled prices: lmp [{cur}/MWh], carbon [{cur}/tCO2], certificate [{cur}/certificate]":
            coupled_prices(model),
        f"welfare terms sw^CECM (eq. 6) [{cur}]": coupled_welfare(model).to_frame(),
        "emissions [tCO2] and certificates by participant (horizon totals)": terms,
        "policy constraints": lim,
    }
