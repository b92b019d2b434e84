r"""LMP components for DC networks: energy + congestion, from the same solved model's duals.

For a DC network (:mod:`pyomo_ecc.network.dc`) with PTDF :math:`H` for its slack (reference
bus, or distributed with weights :math:`w_n` summing to one on each island), stationarity of
the market's LP / QP in the net injections gives, in every period :math:`t`,

.. math::

    \mathrm{LMP}_{n,t} = \underbrace{\lambda^{E}_{t}}_{\text{energy}}
        \; \underbrace{- \sum_l H_{l,n}\,(\mu^+_{l,t} - \mu^-_{l,t})}_{\text{congestion}},
    \qquad \lambda^{E}_{t} = \sum_{n \in I} w_n\,\mathrm{LMP}_{n,t}

where :math:`\mu^\pm_{l,t} \ge 0` are the line prices (``line_price_ub`` /
``line_price_lb``: the value of one more MW of capacity in each direction, currency per MWh).
With a reference-bus slack the energy component is the LMP of the reference bus; with a
distributed slack it is the slack-weighted average LMP of the island.

The congestion term is computed from the line duals through the network's sensitivities
(:math:`H^\top \mu` with one sparse solve per period, no dense PTDF), and the LMP itself from
the bus balance duals: the two routes are independent, so :func:`lmp_components` checks that
energy + congestion = LMP at every bus and period and raises
:class:`~pyomo_ecc.errors.PriceError` otherwise (e.g. a user constraint on angles or flows
that the decomposition does not know about).

=============================  ======================  =========================================
symbol                         column                  meaning
=============================  ======================  =========================================
:math:`\mathrm{LMP}_{n,t}`     ``lmp``                 from ``eq_p_balance`` duals
:math:`\lambda^E_t`            ``energy``              slack-weighted LMP of the island
congestion                     ``congestion``          :math:`-\sum_l H_{l,n}(\mu^+_{l,t}-\mu^-_{l,t})`
=============================  ======================  =========================================

The decomposition is the network's own (``DCNetwork.price_components``, the block contract of
:mod:`pyomo_ecc.core.contract`): :func:`lmp_components` reads the published prices the network
names, hands them to it and checks the sum. A network formulation with another decomposition
(a radial feeder's DLMP, :func:`pyomo_ecc.dlmp`) is dispatched the same way.
"""
import numpy as np

from pyomo_ecc.core.contract import DeclaredPrices
from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import PriceError
from pyomo_ecc.pricing.prices import price_frames, require_solved

#: absolute tolerance (currency/MWh) of the components-sum check, scaled by max(1, |LMP|)
SUM_TOL = 1e-6


def network_components(model, what="LMP components", **options):
    """``[DataFrame]``: the price components of every market of the solved ``model`` from its
    network's ``price_components`` (one frame per market; a market whose network has no
    decomposition raises :class:`PriceError`)."""
    require_solved(model)
    frames = []
    for mk in markets_in(model):
        net = mk.get_network()
        prices = DeclaredPrices(mk, net.component_prices, price_frames(mk, net.component_prices))
        frames.append(net.price_components(prices, **options))
    if not frames:
        raise PriceError(f"'{model.name}' has no network: {what} need one")
    return frames


def check_sum(df, tol, what):
    """Raise :class:`PriceError` unless the components (``df.attrs["components"]``) sum to the
    price (``df.attrs["price"]``) within ``tol * max(1, |price|)`` everywhere."""
    price = df.attrs["price"]
    resid = (df[list(df.attrs["components"])].sum(axis=1) - df[price]).abs()
    bad = resid > tol * np.maximum(1.0, df[price].abs())
    if bad.any():
        (bus, t), r = resid[bad].idxmax(), resid[bad].max()
        raise PriceError(f"{what} do not sum to the {price} at bus {bus!r}, period {t!r} "
                         f"(residual {r:.3g}): the duals of constraints the network's "
                         f"decomposition does not know about affect prices")


def lmp_components(model, check=True, tol=SUM_TOL):
    """Energy and congestion components of every LMP of the solved ``model``.

    Returns a DataFrame indexed (``bus``, ``t``) with columns ``lmp``, ``energy``,
    ``congestion`` (currency per MWh) and ``attrs["slack"]`` naming the slack used. With
    ``check`` (default) raises :class:`PriceError` unless ``energy + congestion == lmp`` within
    ``tol * max(1, |lmp|)`` everywhere.
    """
    frames = network_components(model)
    if len(frames) > 1:
        raise PriceError(f"'{model.name}' has {len(frames)} markets with networks; decompose each "
                         f"market separately")
    df = frames[0]
    if check:
        check_sum(df, tol, "LMP components")
    return df
