r"""Base class of policy blocks: registration, scopes and the terms policies read.

A policy block registers with its market when it is built and writes its constraints when the
market is assembled (phase 4, after the network), from the terms the participants in its
*scope* expose (see :mod:`pyomo_ecc.participants.base`):

=========================  ========================  ============================================
symbol                     participant attribute     meaning
=========================  ========================  ============================================
:math:`e_{i,t}`            ``emissions[t]``          emissions (tCO2)
:math:`a_{i,t}`            ``free_allocation[t]``    free allowances earned by output (tCO2)
:math:`z_{i,t}`            ``certificates[t]``       green certificates issued
:math:`E_{i,t}`            ``energy_mwh(t)``         net energy injected (MWh)
=========================  ========================  ============================================

A scope is a set of participants (by name; default: every participant that has the term the
policy needs) and a set of periods (default: all of the market's periods). A policy may add a
``policy_cost`` Expression (currency), its ``objective_cost()`` (the block contract,
:mod:`pyomo_ecc.core.contract`) which the market sums into its objective, and declares its
price-forming constraints through :meth:`PolicyData.price_declarations`
(:class:`~pyomo_ecc.core.contract.PriceDecl` with ``kind="quantity"``: prices in currency
per tonne or per certificate).
"""
import pandas as pd
import pyomo.environ as pyo
from pyomo.common.config import ConfigValue

from pyomo_ecc.core.block import EccBlockData
from pyomo_ecc.core.config import finite_float
from pyomo_ecc.core.market import find_market, require_markets


def name_list(x):
    """``None`` (everyone) or a list of participant names."""
    if x is None:
        return None
    if isinstance(x, (str, bytes)):
        return (x,)
    names = tuple(x)
    for n in names:
        if not isinstance(n, str):
            raise ValueError(f"participants are named by strings, got {n!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"participant names must be unique, got {list(names)}")
    return names


def period_list(x):
    """``None`` (all periods) or a list of period labels."""
    if x is None:
        return None
    if isinstance(x, (str, bytes, int)):
        return (x,)
    labels = tuple(x)
    if not labels:
        raise ValueError("a scope needs at least one period")
    return labels


def unit_interval(x):
    """A number in [0, 1] (a quota share)."""
    v = finite_float(x)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"must be in [0, 1], got {v}")
    return v


class PolicyData(EccBlockData):
    """Shared parts of every policy: registration, scope resolution, no price by default."""

    CONFIG = EccBlockData.CONFIG()
    CONFIG.declare("periods", ConfigValue(default=None, domain=period_list,
                                          doc="periods in the scope (default: all)"))

    def build(self):
        market = self.market()
        if market.assembled:
            self.fail(f"market '{market.name}' is already assembled (solved); add policies "
                      f"before the first solve")
        self.build_policy(market)
        market.register_policy(self)

    def build_policy(self, market):  # pragma: no cover - overridden
        pass

    def market(self):
        return find_market(self)

    # -- scope --------------------------------------------------------------------------------
    def scope_periods(self):
        """The periods in the scope, in the market's order; unknown labels are refused."""
        market = self.market()
        if self.config.periods is None:
            return list(market.T)
        known = set(market.T)
        bad = [t for t in self.config.periods if t not in known]
        if bad:
            self.fail(f"unknown period(s) {bad} in option 'periods'; the market's periods are "
                      f"{list(market.T)}")
        wanted = set(self.config.periods)
        return [t for t in market.T if t in wanted]

    def resolve(self, option, names, default, need=(), what="", role=None):
        """Participants of a scope option.

        ``names``: the option's value (None: ``default(p)`` picks them among the active
        participants); ``need``: attributes each named participant must have; ``what`` explains
        the requirement in the error message; ``role``: the ``policy_role()`` each named
        participant must have (``"supply"`` or ``"demand"``), if any.
        """
        market = self.market()
        active = market.participants()
        if names is None:
            chosen = [p for p in active if default(p)]
        else:
            by_name = {}
            for p in market.participants(active=False):
                by_name.setdefault(p.local_name, p)
                by_name.setdefault(p.name, p)
            unknown = [n for n in names if n not in by_name]
            if unknown:
                self.fail(f"unknown participant(s) {unknown} in option '{option}'; the market's "
                          f"participants are {sorted(p.local_name for p in market.participants(False))}")
            chosen = [by_name[n] for n in names if by_name[n].active]
            for p in chosen:
                missing = [a for a in need if not hasattr(p, a)]
                if missing:
                    self.fail(f"participant '{p.local_name}' in option '{option}' has no "
                              f"{' / '.join(missing)}{what}")
                if role is not None and p.policy_role() != role:
                    self.fail(f"participant '{p.local_name}' in option '{option}' is not a "
                              f"{role} participant (its role is {p.policy_role()!r})")
        return chosen


def term(p, attr, t):
    """``p.attr[t]`` or 0 when the participant does not have that term."""
    comp = getattr(p, attr, None)
    return 0.0 if comp is None else comp[t]


def policy_terms(model):
    """The policy terms of every participant in a solved model.

    DataFrame indexed (``participant``, ``t``) with columns ``energy_mwh`` (net injection, MWh),
    ``emissions`` (tCO2), ``free_allocation`` (tCO2) and ``certificates``; a participant
    without a term has 0 in that column.
    """
    rows = []
    mks = require_markets(model)
    for mk in mks:
        for p in mk.participants():
            label = p.local_name if mk is model else p.name
            for t in mk.T:
                rows.append((label, t, pyo.value(p.energy_mwh(t)) + 0.0,
                             *(pyo.value(term(p, a, t)) + 0.0
                               for a in ("emissions", "free_allocation", "certificates"))))
    return pd.DataFrame(rows, columns=["participant", "t", "energy_mwh", "emissions",
                                       "free_allocation", "certificates"]
                        ).set_index(["participant", "t"])
