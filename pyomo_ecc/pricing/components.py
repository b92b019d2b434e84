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
"""
import numpy as np
import pandas as pd

from pyomo_ecc.core.market import markets_in
from pyomo_ecc.errors import PriceError
from pyomo_ecc.pricing.prices import price_frame

#: absolute tolerance (currency/MWh) of the components-sum check, scaled by max(1, |LMP|)
SUM_TOL = 1e-6


def _dc_network(model):
    from pyomo_ecc.network.dc import DCNetworkData
    nets = [mk.get_network() for mk in markets_in(model)]
    dc = [n for n in nets if isinstance(n, DCNetworkData)]
    if not dc:
        raise PriceError(f"'{model.name}' has no DC network: LMP components need a DCNetwork")
    if len(dc) > 1:
        raise PriceError(f"'{model.name}' has {len(dc)} DC networks; decompose each market separately")
    return dc[0]


def lmp_components(model, check=True, tol=SUM_TOL):
    """Energy and congestion components of every LMP of the solved ``model``.

    Returns a DataFrame indexed (``bus``, ``t``) with columns ``lmp``, ``energy``,
    ``congestion`` (currency per MWh) and ``attrs["slack"]`` naming the slack used. With
    ``check`` (default) raises :class:`PriceError` unless ``energy + congestion == lmp`` within
    ``tol * max(1, |lmp|)`` everywhere.
    """
    net = _dc_network(model)
    lmp = price_frame(model, "lmp")["lmp"]
    buses = net.buses()
    periods = list(net.market().T)
    sens = net.sensitivities()
    branches = sens.branches
    limited = list(net.branch_limited)
    if limited:
        mu = (price_frame(model, "line_price_ub")["line_price_ub"]
              - price_frame(model, "line_price_lb")["line_price_lb"])
    rows = []
    for t in periods:
        lam = lmp.xs(t, level="t").reindex(buses).to_numpy(float)
        eta = np.zeros(len(branches))
        if limited:
            pos = {l: k for k, l in enumerate(branches)}
            m_t = mu.xs(t, level="t")
            eta[[pos[l] for l in m_t.index]] = m_t.to_numpy(float)
        cong = -sens.ptdf_transpose_times(eta)
        energy = np.empty(len(buses))
        for k in np.unique(sens.island_of):
            cols = sens.island_of == k
            energy[cols] = sens.w[cols] @ (lam[cols] - cong[cols])
        rows.extend(zip(buses, [t] * len(buses), lam, energy, cong))
    df = pd.DataFrame(rows, columns=["bus", "t", "lmp", "energy", "congestion"]).set_index(["bus", "t"])
    slack = net.config.slack
    df.attrs["slack"] = (f"reference bus {net.reference_buses()}" if slack == "ref"
                         else "distributed (weights: DCNetwork.slack_weights())")
    if check:
        resid = (df["energy"] + df["congestion"] - df["lmp"]).abs()
        bad = resid > tol * np.maximum(1.0, df["lmp"].abs())
        if bad.any():
            (bus, t), r = resid[bad].idxmax(), resid[bad].max()
            raise PriceError(f"LMP components do not sum to the LMP at bus {bus!r}, period {t!r} "
                             f"(residual {r:.3g}): the duals of constraints other than the bus "
                             f"balances and line limits affect prices")
    return df
