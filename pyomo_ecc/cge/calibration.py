r"""Benchmark flows from a SAM, and calibration of shares and scale parameters.

All benchmark prices are 1, so SAM values are benchmark quantities. With goods :math:`i, j`,
factors :math:`h` (STDCGE notation, Hosoe, Gasawa & Hashimoto 2010, ch. 6):

.. math::

    F^0_{hj} = S_{h,j},\quad X^0_{ij} = S_{i,j},\quad Y^0_j = \sum_h F^0_{hj},\quad
    Z^0_j = Y^0_j + \sum_i X^0_{ij},\quad \tau^z_j = T^{z0}_j / Z^0_j,\quad
    \tau^m_i = T^{m0}_i / M^0_i,

    Q^0_i = X^{p0}_i + X^{g0}_i + X^{v0}_i + \sum_j X^0_{ij},\qquad
    D^0_i = (1+\tau^z_i) Z^0_i - E^0_i,

    S^{g0} = S_{V,G} - S_{G,V},\qquad S^{f0} = S_{V,W} - S_{W,V}

(net saving: a government deficit or a current-account surplus is a cell in the investment
account :math:`V`'s column, paid to the government :math:`G` or the rest of the world :math:`W`).

Calibrated parameters (benchmark prices 1):

=====================================  =====================================================
formula                                function
=====================================  =====================================================
:math:`\alpha_i = v_i / \sum_k v_k`    :func:`cobb_douglas_shares`
:math:`b = Y^0 / \prod_h (F^0_h)^{\beta_h}`   :func:`cobb_douglas_scale`
CES :math:`\delta_k = p_k x_k^{1-\rho} / \sum_l p_l x_l^{1-\rho}`,
:math:`\gamma = q^0 / (\sum_k \delta_k x_k^{\rho})^{1/\rho}`, :math:`\rho = (\sigma-1)/\sigma`
                                       :func:`ces_calibrate`
CET :math:`\xi_k = x_k^{1-\phi} / \sum_l x_l^{1-\phi}`,
:math:`\theta = z^0 / (\sum_k \xi_k x_k^{\phi})^{1/\phi}`, :math:`\phi = (\psi+1)/\psi`
                                       :func:`cet_calibrate`
=====================================  =====================================================
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError


def cobb_douglas_shares(values):
    """Expenditure shares :math:`v_k / \\sum v` of a pandas Series (or DataFrame by column)."""
    tot = values.sum()
    if np.any(np.asarray(tot) <= 0):
        raise InputError(f"Cobb-Douglas shares: total expenditure must be positive, got {tot}")
    return values / tot


def cobb_douglas_scale(y0, f0, beta):
    r""":math:`b = Y^0 / \prod_h (F^0_h)^{\beta_h}`."""
    return float(y0 / np.prod([f0[h] ** beta[h] for h in f0.index]))


def ces_calibrate(q0, x0, sigma, price=None):
    r"""CES aggregation :math:`q = \gamma(\sum_k \delta_k x_k^\rho)^{1/\rho}`, :math:`\rho=(\sigma-1)/\sigma`.

    ``x0`` (Series) are benchmark input quantities, ``price`` (Series, default 1) the benchmark
    prices the buyer pays per unit (e.g. :math:`1+\tau^m` for imports). Returns
    ``(rho, delta (Series), gamma)``; with the STDCGE Armington convention
    :math:`\delta_m = (1+\tau^m) M^{1-\eta} / ((1+\tau^m) M^{1-\eta} + D^{1-\eta})`.
    """
    check_elasticity(sigma, "elasticity of substitution", ces=True)
    rho = (sigma - 1.0) / sigma
    price = pd.Series(1.0, index=x0.index) if price is None else price
    w = price * x0 ** (1.0 - rho)
    delta = w / w.sum()
    gamma = float(q0 / (delta * x0 ** rho).sum() ** (1.0 / rho))
    return rho, delta, gamma


def cet_calibrate(z0, x0, psi):
    r"""CET transformation :math:`z = \theta(\sum_k \xi_k x_k^\phi)^{1/\phi}`, :math:`\phi=(\psi+1)/\psi`.

    Returns ``(phi, xi (Series), theta)``.
    """
    check_elasticity(psi, "elasticity of transformation", ces=False)
    phi = (psi + 1.0) / psi
    w = x0 ** (1.0 - phi)
    xi = w / w.sum()
    theta = float(z0 / (xi * x0 ** phi).sum() ** (1.0 / phi))
    return phi, xi, theta


def check_elasticity(value, what, ces=True):
    if value is None:
        raise InputError(f"{what} is missing")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise InputError(f"{what} must be positive and finite, got {value!r}")
    if ces and abs(v - 1.0) < 1e-12:
        raise InputError(f"{what} = 1 is the Cobb-Douglas limit of CES; use the Cobb-Douglas form")
    return v


def per_good(value, goods, what):
    """Expand a scalar or a dict ``{good: value}`` to a dict over ``goods``; a missing good is
    refused by name."""
    if isinstance(value, dict):
        missing = [g for g in goods if g not in value]
        if missing:
            raise InputError(f"{what}: no value for {missing}")
        extra = [g for g in value if g not in goods]
        if extra:
            raise InputError(f"{what}: unknown good(s) {extra}; goods are {list(goods)}")
        return {g: value[g] for g in goods}
    if value is None:
        raise InputError(f"{what} is missing (give a number or a dict per good)")
    return {g: value for g in goods}


@dataclass
class Benchmark:
    """Benchmark flows of a SAM (all prices 1), named as in STDCGE; pandas Series indexed by
    ``good`` / ``factor`` and DataFrames indexed (``factor`` or ``good``) x ``good``."""

    goods: list
    factors: list
    F0: pd.DataFrame
    X0: pd.DataFrame
    Y0: pd.Series
    Z0: pd.Series
    Tz0: pd.Series
    Tm0: pd.Series
    M0: pd.Series
    E0: pd.Series
    Xp0: pd.Series
    Xg0: pd.Series
    Xv0: pd.Series
    Q0: pd.Series
    D0: pd.Series
    FF0: pd.Series
    Td0: float
    Sp0: float
    Sg0: float
    Sf0: float

    @property
    def tauz(self):
        return self.Tz0 / self.Z0

    @property
    def taum(self):
        return (self.Tm0 / self.M0).where(self.M0 > 0, 0.0)

    @property
    def income0(self):
        return float(self.FF0.sum())

    @property
    def gdp0(self):
        return float(self.Xp0.sum() + self.Xg0.sum() + self.Xv0.sum() + self.E0.sum() - self.M0.sum())


def _supported_cells(sam):
    """The (row, column) cells the model has a flow for."""
    ok = set()
    G = sam.accounts("good")
    F = sam.accounts("factor")
    hoh, gov, inv, row = (sam.account(x) for x in ("household", "government", "investment", "rest_of_world"))
    for i in G:
        for j in G + [hoh, gov, inv, row]:
            ok.add((i, j))
    for h in F:
        ok.update((h, j) for j in G)
        ok.add((hoh, h))
    for t in sam.accounts("production_tax") + sam.accounts("import_tariff"):
        ok.update((t, j) for j in G)
        ok.add((gov, t))
    ok.update((row, j) for j in G)
    ok.update({(gov, hoh), (inv, hoh), (inv, gov), (inv, row)})
    # dissaving: a government deficit financed by the investment (capital) account, a current
    # account surplus (negative foreign saving) paid into the rest of the world's account
    ok.update({(gov, inv), (row, inv)})
    return ok


def benchmark(sam, check=True, tol=1e-9):
    """The :class:`Benchmark` of a balanced SAM. Raises :class:`InputError` for an unbalanced SAM
    (naming accounts and imbalances), for a non-zero cell the model has no flow for (naming the
    cell) and for a good without imports, exports or domestic sales (CES/CET need all three)."""
    if check:
        sam.check_balance(tol)
    T = sam.table
    ok = _supported_cells(sam)
    bad = [(u, v, T.at[u, v]) for u in T.index for v in T.columns if T.at[u, v] != 0 and (u, v) not in ok]
    if bad:
        cells = ", ".join(f"({u}, {v}) = {x:g}" for u, v, x in bad)
        raise InputError(f"SAM '{sam.name}': cells with no flow in the model: {cells}")
    G = sam.accounts("good")
    F = sam.accounts("factor")
    hoh, gov, inv, row = (sam.account(x) for x in ("household", "government", "investment", "rest_of_world"))
    F0 = T.loc[F, G].copy()
    F0.index.name, F0.columns.name = "factor", "good"
    X0 = T.loc[G, G].copy()
    X0.index.name, X0.columns.name = "good", "sector"
    Y0 = F0.sum(axis=0)
    Z0 = Y0 + X0.sum(axis=0)
    Tz0 = T.loc[sam.accounts("production_tax"), G].sum(axis=0)
    Tm0 = T.loc[sam.accounts("import_tariff"), G].sum(axis=0)
    M0 = T.loc[row, G]
    E0 = T.loc[G, row]
    Xp0, Xg0, Xv0 = T.loc[G, hoh], T.loc[G, gov], T.loc[G, inv]
    Q0 = Xp0 + Xg0 + Xv0 + X0.sum(axis=1)
    tauz = Tz0 / Z0
    D0 = (1 + tauz) * Z0 - E0
    for name, s in (("imports", M0), ("exports", E0), ("domestic sales", D0), ("output", Z0),
                    ("household consumption", Xp0)):
        zero = [g for g in G if not s[g] > 0]
        if zero:
            raise InputError(f"SAM '{sam.name}': good(s) {zero} have no {name}; the Armington/CET/"
                             f"Cobb-Douglas forms of this model need positive benchmark {name}")
    FF0 = T.loc[hoh, F]
    series = dict(Y0=Y0, Z0=Z0, Tz0=Tz0, Tm0=Tm0, M0=M0, E0=E0, Xp0=Xp0, Xg0=Xg0, Xv0=Xv0, Q0=Q0, D0=D0)
    for k, s in series.items():
        s = s.astype(float).copy()
        s.index.name = "good"
        s.name = k
        series[k] = s
    FF0 = FF0.astype(float).copy()
    FF0.index.name, FF0.name = "factor", "FF0"
    return Benchmark(goods=G, factors=F, F0=F0, X0=X0, FF0=FF0, Td0=float(T.at[gov, hoh]),
                     Sp0=float(T.at[inv, hoh]), Sg0=float(T.at[inv, gov] - T.at[gov, inv]),
                     Sf0=float(T.at[inv, row] - T.at[row, inv]),
                     **series)
