r"""Market-power indicators: HHI, Lerner index, residual supply index, Cournot equilibrium.

=====================================  ================================================  =====================
indicator                              formula                                           function
=====================================  ================================================  =====================
Herfindahl-Hirschman index             :math:`\mathrm{HHI} = \sum_i s_i^2`,              :func:`hhi`
                                       shares :math:`s_i` summing to 1
Lerner index of firm :math:`i`         :math:`L_i = (P - MC_i)/P`                        :func:`lerner`
share-weighted Lerner index            :math:`\bar L = \sum_i s_i L_i`                   :func:`lerner`
residual supply index                  :math:`\mathrm{RSI}_i = (\sum_j K_j - K_i)/D`;    :func:`residual_supply`
                                       firm :math:`i` is *pivotal* when
                                       :math:`\mathrm{RSI}_i < 1`
Cournot equilibrium                    :math:`P(Q) + P'(Q)\,q_i = C_i'(q_i)` or          :func:`cournot`
                                       :math:`q_i = 0`
=====================================  ================================================  =====================

:func:`market_power` computes shares, HHI, Lerner indices and RSI of the producers of a solved
pyomo_ecc market (units grouped into firms).

At an interior Cournot equilibrium the first-order conditions give
:math:`L_i = s_i / |\varepsilon|` with :math:`\varepsilon = P/(Q P'(Q))` the demand elasticity at
the equilibrium, hence :math:`\bar L = \mathrm{HHI} / |\varepsilon|` (seed 002: shares 40/30/20/10 %
give HHI = 0.30 and, with :math:`|\varepsilon| = 5`, :math:`\bar L = 0.06`).

    >>> from pyomo_ecc.analysis.market_power import hhi
    >>> round(hhi([0.4, 0.3, 0.2, 0.1]), 12)
    0.3
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError

_SHARE_TOL = 1e-6


def _names(n, names):
    if names is None:
        return [f"firm{i}" for i in range(n)]
    names = list(names)
    if len(names) != n:
        raise InputError(f"{len(names)} names given for {n} firms")
    return names


def _vector(x, what):
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        raise InputError(f"{what}: need at least one firm")
    if not np.all(np.isfinite(v)):
        raise InputError(f"{what}: values must be finite, got {list(v)}")
    return v


def check_shares(shares, tol=_SHARE_TOL):
    """Validate market shares: each in [0, 1] and summing to 1 (else :class:`InputError`)."""
    s = _vector(shares, "shares")
    bad = [i for i, x in enumerate(s) if x < 0 or x > 1]
    if bad:
        raise InputError(f"shares: entry {bad[0]} = {s[bad[0]]} is outside [0, 1]")
    if abs(s.sum() - 1.0) > tol:
        raise InputError(f"shares must sum to 1, they sum to {s.sum():.10g} (give fractions, or "
                         f"quantities to market_shares())")
    return s


def market_shares(quantities, names=None):
    """Shares :math:`s_i = q_i / \\sum_j q_j` of non-negative quantities, as a named Series."""
    q = _vector(quantities, "quantities")
    if np.any(q < 0):
        raise InputError(f"quantities must be >= 0, got {list(q)}")
    if q.sum() <= 0:
        raise InputError("quantities sum to zero: no market to share")
    return pd.Series(q / q.sum(), index=pd.Index(_names(q.size, names), name="firm"), name="share")


def hhi(shares):
    """Herfindahl-Hirschman index :math:`\\sum_i s_i^2` of shares that sum to 1 (fractions;
    multiply by 10,000 for the percentage-point convention)."""
    s = check_shares(shares)
    return float(np.sum(s ** 2))


def lerner(price, marginal_costs, shares=None, names=None):
    """Lerner index per firm :math:`(P - MC_i)/P`; with ``shares`` also the share-weighted index.

    Returns a DataFrame indexed ``firm`` with columns ``marginal_cost``, ``lerner`` (and
    ``share``) and, in ``df.attrs["weighted"]``, :math:`\\sum_i s_i L_i` when shares are given.
    """
    if not np.isfinite(price) or price <= 0:
        raise InputError(f"the Lerner index needs a positive price, got {price}")
    mc = _vector(marginal_costs, "marginal_costs")
    df = pd.DataFrame({"marginal_cost": mc, "lerner": (price - mc) / price},
                      index=pd.Index(_names(mc.size, names), name="firm"))
    if shares is not None:
        s = check_shares(shares)
        if s.size != mc.size:
            raise InputError(f"{s.size} shares for {mc.size} marginal costs")
        df["share"] = s
        df.attrs["weighted"] = float(np.sum(s * df["lerner"].to_numpy()))
    return df


def residual_supply(capacities, demand, names=None):
    """Residual supply index of each firm and whether it is pivotal.

    :math:`\\mathrm{RSI}_i = (\\sum_j K_j - K_i)/D`; pivotal when :math:`\\mathrm{RSI}_i < 1`
    (demand cannot be met without firm :math:`i`). DataFrame indexed ``firm`` with columns
    ``capacity``, ``rsi``, ``pivotal``; ``df.attrs["rsi_min"]`` is the market's RSI.
    """
    k = _vector(capacities, "capacities")
    if np.any(k < 0):
        raise InputError(f"capacities must be >= 0, got {list(k)}")
    if not np.isfinite(demand) or demand <= 0:
        raise InputError(f"demand must be > 0, got {demand}")
    rsi = (k.sum() - k) / demand
    df = pd.DataFrame({"capacity": k, "rsi": rsi, "pivotal": rsi < 1.0},
                      index=pd.Index(_names(k.size, names), name="firm"))
    df.attrs["rsi_min"] = float(rsi.min())
    return df


def pivotal_suppliers(capacities, demand, names=None):
    """Names of the pivotal firms (:math:`\\mathrm{RSI}_i < 1`)."""
    df = residual_supply(capacities, demand, names)
    return list(df.index[df["pivotal"]])


# -- Cournot -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinearDemand:
    r"""Inverse demand :math:`P(Q) = \alpha - \beta Q` (:math:`\alpha, \beta > 0`)."""

    alpha: float
    beta: float

    def __post_init__(self):
        for name in ("alpha", "beta"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise InputError(f"LinearDemand: {name} must be finite and > 0, got {v}")

    def price(self, q):
        return self.alpha - self.beta * q

    def slope(self, q):
        return -self.beta

    def q_max(self):
        return self.alpha / self.beta


@dataclass(frozen=True)
class ConstantElasticityDemand:
    r"""Inverse demand :math:`P(Q) = A\,Q^{-1/|\varepsilon|}`: elasticity :math:`-|\varepsilon|`
    everywhere."""

    scale: float
    elasticity: float

    def __post_init__(self):
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"ConstantElasticityDemand: scale must be finite and > 0, got "
                             f"{self.scale}")
        if not (np.isfinite(self.elasticity) and self.elasticity != 0):
            raise InputError(f"ConstantElasticityDemand: elasticity must be finite and non-zero, "
                             f"got {self.elasticity}")

    def price(self, q):
        return self.scale * q ** (-1.0 / abs(self.elasticity))

    def slope(self, q):
        e = abs(self.elasticity)
        return -self.scale / e * q ** (-1.0 / e - 1.0)

    def q_max(self):
        return np.inf


@dataclass
class CournotResult:
    """Cournot equilibrium: ``firms`` (quantity, share, marginal_cost, lerner by ``firm``),
    ``price``, ``quantity``, ``elasticity`` (at the equilibrium), ``hhi``, ``lerner`` (share
    weighted) and ``residual`` (largest violation of the first-order conditions)."""

    firms: pd.DataFrame
    price: float
    quantity: float
    elasticity: float
    hhi: float
    lerner: float
    residual: float


def cournot(demand, c, d=None, names=None, tol=1e-12, max_iter=500):
    r"""Cournot-Nash equilibrium of firms with costs :math:`C_i(q) = c_i q + \tfrac12 d_i q^2`.

    Method: for a trial total :math:`Q`, each firm's first-order condition gives
    :math:`q_i(Q) = \max\{0, (P(Q) - c_i)/(d_i - P'(Q))\}`; the equilibrium total solves
    :math:`\sum_i q_i(Q) = Q`, found by bisection (the left side minus :math:`Q` is decreasing).
    ``demand`` is a :class:`LinearDemand` or :class:`ConstantElasticityDemand`.
    """
    missing = [k for k in ("price", "slope", "q_max") if not callable(getattr(demand, k, None))]
    if missing:
        raise InputError(f"demand: a {type(demand).__name__} has no method(s) {missing}; use a "
                         f"LinearDemand, a ConstantElasticityDemand or an object with price(Q), "
                         f"slope(Q) and q_max()")
    c = _vector(c, "c")
    d = np.zeros_like(c) if d is None else _vector(d, "d")
    if d.size != c.size:
        raise InputError(f"{d.size} values of d for {c.size} firms")
    if np.any(d < 0):
        raise InputError(f"cost curvature d must be >= 0, got {list(d)}")

    def best(q_tot):
        p, dp = demand.price(q_tot), demand.slope(q_tot)
        return np.maximum(0.0, (p - c) / (d - dp))

    lo = 1e-12
    hi = demand.q_max()
    if not np.isfinite(hi):
        hi = 1.0
        while best(hi).sum() > hi:
            hi *= 2.0
            if hi > 1e15:
                raise InputError("no Cournot equilibrium found: output grows without bound")
    if best(lo).sum() <= lo:
        raise InputError("no firm produces: every marginal cost is above the demand's choke price")
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        if best(mid).sum() > mid:
            lo = mid
        else:
            hi = mid
        if hi - lo <= tol * max(1.0, hi):
            break
    q_tot = 0.5 * (lo + hi)
    q = best(q_tot)
    q_tot = q.sum()
    p = demand.price(q_tot)
    dp = demand.slope(q_tot)
    foc = np.where(q > 0, p + dp * q - (c + d * q), np.minimum(0.0, -(p - c)))
    mc = c + d * q
    s = q / q_tot
    firms = pd.DataFrame({"quantity": q, "share": s, "marginal_cost": mc, "lerner": (p - mc) / p},
                         index=pd.Index(_names(c.size, names), name="firm"))
    eps = p / (q_tot * dp)
    return CournotResult(firms, float(p), float(q_tot), float(eps), float(np.sum(s ** 2)),
                         float(np.sum(s * (p - mc) / p)), float(np.max(np.abs(foc))))


# -- indicators of a solved market ---------------------------------------------------------------
def market_power(model, t=None, owners=None):
    r"""Market-power indicators of the producers of a solved market in period ``t``.

    Units are :class:`~pyomo_ecc.participants.producer.Producer` blocks, grouped into firms by
    ``owners`` (``{unit local name: firm}``; default: one firm per unit). Per firm: output
    :math:`q_f` and share :math:`s_f`, capacity :math:`K_f = \sum \overline{P}`, the
    output-weighted Lerner index of its units :math:`(\lambda_{b,t} - MC_u)/\lambda_{b,t}` at
    their bus prices (:math:`MC_u` the offer curve's marginal value at the dispatch), and the
    residual supply index against the period's total withdrawal :math:`D_t`. ``df.attrs`` holds
    ``hhi``, ``lerner`` (share weighted), ``rsi_min`` and ``demand``.
    """
    import pyomo.environ as pyo

    from pyomo_ecc.core.market import require_markets
    from pyomo_ecc.participants.curves import curve_marginal
    from pyomo_ecc.participants.producer import ProducerData
    from pyomo_ecc.pricing.prices import prices

    mks = require_markets(model)
    mk = mks[0]
    t = mk.T.first() if t is None else t
    if t not in mk.T:
        raise InputError(f"period {t!r} is not in the market's periods {list(mk.T)}")
    lam = prices(model)["lmp"]
    owners = dict(owners or {})
    units = [p for p in mk.participants() if isinstance(p, ProducerData)]
    if not units:
        raise InputError(f"market '{mk.name}' has no producers")
    unknown = sorted(set(owners) - {u.local_name for u in units})
    if unknown:
        raise InputError(f"owners: unknown producer(s) {unknown}")
    demand = -sum(min(0.0, pyo.value(p.p_inj[t])) for p in mk.participants())
    firms = {}
    for u in units:
        f = owners.get(u.local_name, u.local_name)
        q = pyo.value(u.p[t])
        price = float(lam[(u.bus, t)])
        mc = curve_marginal(u, q, t)
        row = firms.setdefault(f, {"quantity": 0.0, "capacity": 0.0, "lq": 0.0})
        row["quantity"] += q
        row["capacity"] += pyo.value(u.p_max[t])
        if price <= 0:
            raise InputError(f"the Lerner index needs a positive price; bus {u.bus!r} has {price} "
                             f"in period {t!r}")
        row["lq"] += q * (price - mc) / price
    names = list(firms)
    q = np.array([firms[f]["quantity"] for f in names])
    if q.sum() <= 0:
        raise InputError(f"no producer output in period {t!r}: shares are undefined")
    s = q / q.sum()
    lern = np.array([firms[f]["lq"] / firms[f]["quantity"] if firms[f]["quantity"] > 0 else 0.0
                     for f in names])
    df = pd.DataFrame({"quantity": q, "share": s, "lerner": lern},
                      index=pd.Index(names, name="firm"))
    rsi = residual_supply([firms[f]["capacity"] for f in names], demand, names)
    df["capacity"] = rsi["capacity"]
    df["rsi"] = rsi["rsi"]
    df["pivotal"] = rsi["pivotal"]
    df.attrs.update(hhi=float(np.sum(s ** 2)), lerner=float(np.sum(s * lern)),
                    rsi_min=rsi.attrs["rsi_min"], demand=float(demand))
    return df
