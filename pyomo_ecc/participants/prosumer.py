r"""A prosumer: a distributed energy resource (DER) behind the meter plus a local demand.

In period :math:`t` the DER is dispatched internally at :math:`p_t`; the conversion to the
point of connection has efficiency :math:`\eta \in (0, 1]`; the local demand :math:`d_t` is
served first, and the net trade with the market is

.. math::

    p^{net}_t = \eta\,p_t - d_t \qquad (p^{net}_t > 0:\ \text{net sale}, \
        p^{net}_t < 0:\ \text{net purchase})

subject to

.. math::

    0 \le p_t \le P^{\max}_t, \qquad
    -R \le p_t - p_{t-1} \le R \quad (p_{t_0 - 1} = p_0), \qquad
    -\overline{Q}^{imp}_t \le p^{net}_t \le \overline{Q}^{exp}_t \ \text{(optional)}

and the as-bid cost of the DER output :math:`\mathrm{BC} = \sum_t \Delta t_t (a\,p_t^2 + b\,p_t)`
(the local demand is inelastic: its value is a constant and is left out).

===============================  ==================  ===========================================
symbol                           attribute           meaning
===============================  ==================  ===========================================
:math:`p_t`                      ``p[t]``            DER internal dispatch (power units)
:math:`p^{net}_t`                ``p_net[t]``,       net trade at the meter (power units)
                                 ``p_inj[t]``
:math:`P^{\max}_t`               ``p_max[t]``        DER capacity (mutable)
:math:`d_t`                      ``demand[t]``       local demand (mutable)
:math:`\eta`                     ``eta``             conversion efficiency (mutable)
:math:`R`                        ``ramp``            ramp limit per period (mutable)
:math:`p_0`                      ``p_0``             output before the first period (mutable)
:math:`a, b`                     ``a``, ``b``        DER cost coefficients (mutable)
capacity / ramp                  ``ineq_max[t]``, ``ineq_ramp_up[t]``, ``ineq_ramp_down[t]``
trade limits                     ``ineq_export[t]``, ``ineq_import[t]`` (when given)
===============================  ==================  ===========================================

Inconsistent data are refused when the block is built: an efficiency outside :math:`(0, 1]`, or
an initial output :math:`p_0` that the ramp limit cannot bring inside the capacity
(:math:`p_0 - kR > P^{\max}_{t_k}` for some period :math:`t_k`, :math:`k = 1, 2, \dots`).

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.participants.prosumer import Prosumer
    >>> m = ecc.Market(periods=2)
    >>> m.pv = Prosumer(bus="A", p_max=[5, 5], eta=0.9, demand=[1, 2], b=1.0)
    >>> m.grid = ecc.Producer(bus="A", b=50, p_max=100)
    >>> m.sink = ecc.Consumer(bus="A", b=30, d_max=10)
    >>> _ = ecc.solve(m)
    >>> [round(float(ecc.dispatch(m).p_inj["pv", t]), 6) for t in m.T]
    [3.5, 2.5]
"""
from pyomo.common.config import ConfigValue
from pyomo.environ import Constraint, Expression, NonNegativeReals, Param, Var

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import efficiency, finite_float, nonnegative_float, nonnegative_series, optional
from pyomo_ecc.participants.base import ParticipantData


_optional_nonnegative_series = optional(nonnegative_series)
_optional_nonnegative = optional(nonnegative_float)


@declare_block("Prosumer")
class ProsumerData(ParticipantData):
    """A DER with capacity, ramp limit and conversion efficiency, plus a local demand."""

    RETIRED = {"q": "p_net"}
    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("p_max", ConfigValue(default=None, domain=nonnegative_series,
                                        doc="DER capacity P^max: one number or one per period"))
    CONFIG.declare("demand", ConfigValue(default=0.0, domain=nonnegative_series,
                                         doc="local demand d_t: one number or one per period"))
    CONFIG.declare("eta", ConfigValue(default=1.0, domain=efficiency,
                                      doc="conversion efficiency eta in (0, 1]"))
    CONFIG.declare("ramp", ConfigValue(default=None, domain=_optional_nonnegative,
                                       doc="ramp limit R per period (power units); None: no limit"))
    CONFIG.declare("p_0", ConfigValue(default=None, domain=_optional_nonnegative,
                                      doc="DER output before the first period (needed with ramp)"))
    CONFIG.declare("a", ConfigValue(default=0.0, domain=nonnegative_float,
                                    doc="quadratic cost coefficient (currency/(u^2 h))"))
    CONFIG.declare("b", ConfigValue(default=0.0, domain=finite_float,
                                    doc="linear cost coefficient (currency/(u h))"))
    CONFIG.declare("export_max", ConfigValue(default=None, domain=_optional_nonnegative_series,
                                             doc="largest net sale per period (optional)"))
    CONFIG.declare("import_max", ConfigValue(default=None, domain=_optional_nonnegative_series,
                                             doc="largest net purchase per period (optional)"))

    def build_participant(self, market):
        cfg = self.config
        if cfg.p_max is None:
            self.fail("option 'p_max' (DER capacity) is required")
        cap = self.series("p_max", cfg.p_max, market)
        dem = self.series("demand", cfg.demand, market)
        if cfg.ramp is not None and cfg.p_0 is None:
            self.fail("option 'p_0' (output before the first period) is required with a ramp limit")
        if cfg.p_0 is not None and cfg.ramp is not None:
            for k, t in enumerate(market.T, start=1):
                floor = cfg.p_0 - k * cfg.ramp
                if floor > cap[t] + 1e-9:
                    self.fail(f"p_0 = {cfg.p_0} is inconsistent with ramp = {cfg.ramp} and "
                              f"p_max = {cap[t]} in period {t}: the output cannot ramp down below "
                              f"{floor} by then")
        elif cfg.p_0 is not None and cfg.p_0 > max(cap.values()) + 1e-9:
            self.fail(f"p_0 = {cfg.p_0} exceeds the capacity p_max = {max(cap.values())}")
        self.p_max = Param(market.T, initialize=cap, mutable=True, doc="DER capacity")
        self.demand = Param(market.T, initialize=dem, mutable=True, doc="local demand")
        self.eta = Param(initialize=cfg.eta, mutable=True, doc="conversion efficiency")
        self.a = Param(initialize=cfg.a, mutable=True, doc="quadratic cost coefficient")
        self.b = Param(initialize=cfg.b, mutable=True, doc="linear cost coefficient")
        self.p = Var(market.T, domain=NonNegativeReals, initialize=0.0, doc="DER dispatch")
        self.ineq_max = Constraint(market.T, rule=lambda b, t: b.p[t] <= b.p_max[t])
        if cfg.ramp is not None:
            self.ramp = Param(initialize=cfg.ramp, mutable=True, doc="ramp limit per period")
            self.p_0 = Param(initialize=cfg.p_0, mutable=True, doc="output before period 1")
            prev = {t: (self.p_0 if k == 0 else self.p[market.T.at(k)])
                    for k, t in enumerate(market.T)}
            self.ineq_ramp_up = Constraint(market.T, rule=lambda b, t: b.p[t] - prev[t] <= b.ramp)
            self.ineq_ramp_down = Constraint(market.T, rule=lambda b, t: prev[t] - b.p[t] <= b.ramp)
        self.p_net = Expression(market.T, rule=lambda b, t: b.eta * b.p[t] - b.demand[t],
                                doc="net trade at the meter (power units)")
        if cfg.export_max is not None:
            self.export_max = Param(market.T, initialize=self.series("export_max", cfg.export_max,
                                                                     market), mutable=True)
            self.ineq_export = Constraint(market.T, rule=lambda b, t: b.p_net[t] <= b.export_max[t])
        if cfg.import_max is not None:
            self.import_max = Param(market.T, initialize=self.series("import_max", cfg.import_max,
                                                                     market), mutable=True)
            self.ineq_import = Constraint(market.T, rule=lambda b, t: -b.p_net[t] <= b.import_max[t])
        self.p_inj = Expression(market.T, rule=lambda b, t: b.p_net[t], doc="net injection")
        self.bid_cost = Expression(
            expr=sum(market.dt[t] * (self.a * self.p[t] ** 2 + self.b * self.p[t]) for t in market.T),
            doc="as-bid DER cost over the horizon (currency)")

    def withdrawal_params(self):
        """Mutable parameters to zero when the prosumer is withdrawn from the market."""
        return [self.demand]
