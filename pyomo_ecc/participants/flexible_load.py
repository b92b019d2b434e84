r"""A flexible (shiftable) load: a fixed amount of energy served within a time window.

.. math::

    \sum_{t \in W} \Delta t_t\,d_t = E, \qquad 0 \le d_t \le \overline{D}_t \ (t \in W), \qquad
    d_t = 0 \ (t \notin W), \qquad p^{inj}_t = -d_t

with window :math:`W` (the periods from position ``window[0]`` to ``window[1]``, inclusive) and
as-bid cost :math:`\mathrm{BC} = \sum_t \Delta t_t (\sigma_t d_t + a\,d_t^2)`: a per-period
discomfort price :math:`\sigma_t` (e.g. a penalty for serving later) and an optional strictly
convex term that makes the response to prices unique.

=========================  ===============  =============================================
symbol                     attribute        meaning
=========================  ===============  =============================================
:math:`d_t`                ``d[t]``         consumption (power units)
:math:`E`                  ``energy``       energy to serve in the window (mutable)
:math:`\overline{D}_t`     ``d_max[t]``     largest consumption (mutable)
:math:`\sigma_t`           ``shift_cost[t]`` discomfort price (currency/(u h), mutable)
:math:`a`                  ``a``            quadratic coefficient (mutable)
energy / window            ``eq_energy``, ``eq_outside[t]``
=========================  ===============  =============================================

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.participants.flexible_load import FlexibleLoad
    >>> m = ecc.Market(periods=3)
    >>> m.ev = FlexibleLoad(bus="A", energy=4, d_max=3, window=(0, 2), shift_cost=[0, 0, 1])
    >>> m.g = ecc.Producer(bus="A", b=30, p_max=100)
    >>> m.g2 = ecc.Producer(bus="A", b=10, p_max=[0, 100, 0])
    >>> _ = ecc.solve(m)
    >>> [round(m.ev.d[t].value, 6) for t in m.T]
    [1.0, 3.0, 0.0]
"""
from pyomo.common.config import ConfigValue
from pyomo.environ import Constraint, Expression, NonNegativeReals, Param, Var

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import finite_float, nonnegative_float, nonnegative_series, series
from pyomo_ecc.participants.base import ParticipantData


def _window(x):
    if x is None:
        return None
    try:
        first, last = (int(v) for v in x)
    except (TypeError, ValueError):
        raise ValueError(f"expected (first, last) period positions, got {x!r}") from None
    if first < 0 or last < first:
        raise ValueError(f"need 0 <= first <= last, got ({first}, {last})")
    return first, last


@declare_block("FlexibleLoad")
class FlexibleLoadData(ParticipantData):
    """A load that must consume a given energy within a window, at any time in it."""

    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("energy", ConfigValue(default=None, domain=nonnegative_float,
                                         doc="energy to serve in the window (power units x h)"))
    CONFIG.declare("d_max", ConfigValue(default=None, domain=nonnegative_series,
                                        doc="largest consumption per period"))
    CONFIG.declare("window", ConfigValue(default=None, domain=_window,
                                         doc="(first, last) period positions, inclusive "
                                             "(default: the whole horizon)"))
    CONFIG.declare("shift_cost", ConfigValue(default=0.0, domain=series,
                                             doc="discomfort price per period (currency/(u h))"))
    CONFIG.declare("a", ConfigValue(default=0.0, domain=finite_float,
                                    doc="quadratic cost coefficient (>= 0)"))

    def build_participant(self, market):
        cfg = self.config
        T = market.T
        if cfg.energy is None or cfg.d_max is None:
            self.fail("options 'energy' and 'd_max' are required")
        if cfg.a < 0:
            self.fail(f"option 'a': must be >= 0 (convex cost), got {cfg.a}")
        first, last = cfg.window if cfg.window is not None else (0, len(T) - 1)
        if last >= len(T):
            self.fail(f"window ({first}, {last}) ends after the last period (position {len(T) - 1})")
        dmax = self.series("d_max", cfg.d_max, market)
        inside = [T.at(k + 1) for k in range(first, last + 1)]
        reach = sum(market.dt[t] * dmax[t] for t in inside)
        if reach < cfg.energy - 1e-9:
            self.fail(f"energy = {cfg.energy} cannot be served in the window ({first}, {last}): "
                      f"at most {reach} fits under d_max")
        self.energy = Param(initialize=cfg.energy, mutable=True, doc="energy to serve")
        self.d_max = Param(T, initialize=dmax, mutable=True, doc="largest consumption")
        self.shift_cost = Param(T, initialize=self.series("shift_cost", cfg.shift_cost, market),
                                mutable=True, doc="discomfort price")
        self.a = Param(initialize=cfg.a, mutable=True, doc="quadratic cost coefficient")
        self.d = Var(T, domain=NonNegativeReals, initialize=0.0, doc="consumption")
        self.ineq_max = Constraint(T, rule=lambda b, t: b.d[t] <= b.d_max[t])
        out = [t for t in T if t not in set(inside)]
        self.eq_outside = Constraint(out, rule=lambda b, t: b.d[t] == 0)
        self.eq_energy = Constraint(expr=sum(market.dt[t] * self.d[t] for t in inside) == self.energy)
        self.p_inj = Expression(T, rule=lambda b, t: -b.d[t], doc="net injection")
        self.bid_cost = Expression(expr=sum(
            market.dt[t] * (self.shift_cost[t] * self.d[t] + self.a * self.d[t] ** 2) for t in T),
            doc="as-bid discomfort cost (currency)")

    def policy_role(self):
        """Consumption: counted as demand by policies."""
        return "demand"

    def withdrawal_params(self):
        """The energy requirement is zeroed when the load is withdrawn."""
        return [self.energy]
