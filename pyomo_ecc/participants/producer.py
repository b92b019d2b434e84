r"""Producers and consumers with quadratic or stepwise offers / bids.

Producer :math:`i` in period :math:`t` (power unit :math:`u`, period length :math:`\Delta t_t`):

.. math::

    \mathrm{BC}_i = \sum_t \Delta t_t \left(C_i(p_{i,t}) + c_i\,o_{i,t}\right), \qquad
    \underline{P}_{i,t}\,o_{i,t} \le p_{i,t} \le \overline{P}_{i,t}\,o_{i,t}, \qquad
    p^{inj}_{i,t} = p_{i,t}

with :math:`C_i` the offer curve (:mod:`~pyomo_ecc.participants.curves`, without its constant)
and :math:`o_{i,t} = 1`, or binary when ``commitment=True`` (then :math:`c_i` is a no-load cost
and the market is a MILP; HiGHS needs linear or stepwise offers for that).

Consumer :math:`j`: :math:`\mathrm{BC}_j = -\sum_t \Delta t_t\,(U_j(d_{j,t}) + c_j)`,
:math:`\underline{D}_{j,t} \le d_{j,t} \le \overline{D}_{j,t}`, :math:`p^{inj}_{j,t} = -d_{j,t}`.

=====================================  ==================================  =====================================
symbol                                 attribute                           meaning
=====================================  ==================================  =====================================
:math:`p_{i,t}`                        ``p[t]``                            producer output (power units)
:math:`d_{j,t}`                        ``d[t]``                            consumer demand (power units)
:math:`\overline{P}, \underline{P}`    ``p_max[t]``, ``p_min[t]``          output limits (mutable)
:math:`\overline{D}, \underline{D}`    ``d_max[t]``, ``d_min[t]``          demand limits (mutable)
:math:`o_{i,t}`                        ``on[t]``                           commitment (binary, with ``commitment``)
upper / lower limit                    ``ineq_max[t]``, ``ineq_min[t]``    limit constraints
:math:`\mathrm{BC}`                    ``bid_cost``                        as-bid cost over the horizon (currency)
:math:`\rho_i, A_i, \zeta_i`           ``emission_intensity``,             per-MWh rates (mutable, optional)
                                       ``allocation``,
                                       ``certificate_rate``
:math:`e_{i,t}, a_{i,t}, z_{i,t}`      ``emissions[t]``,                   rate times the energy produced
                                       ``free_allocation[t]``,
                                       ``certificates[t]``
=====================================  ==================================  =====================================

Example::

    >>> import pyomo_ecc as ecc
    >>> m = ecc.Market()
    >>> m.g = ecc.Producer(bus="A", a=0.01, b=10, p_max=100)
    >>> m.d = ecc.Consumer(bus="A", steps=[(50, 40), (50, 5)])
    >>> _ = ecc.solve(m)
    >>> round(m.g.p[0].value, 6), round(float(ecc.prices(m).lmp.iloc[0]), 6)
    (50.0, 11.0)
"""
from pyomo.common.config import ConfigValue
from pyomo.environ import Any, Binary, Constraint, Expression, Param, Var

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import (finite_float, flag, nonnegative_float, nonnegative_series,
                                   positive_float, steps)
from pyomo_ecc.participants.base import ParticipantData
from pyomo_ecc.participants.curves import build_curve, check_curve


class _CurveParticipantData(ParticipantData):
    """Shared build of producers (direction +1) and consumers (direction -1)."""

    direction = +1
    qty = "p"

    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("a", ConfigValue(default=None, domain=finite_float, doc="quadratic coefficient"))
    CONFIG.declare("b", ConfigValue(default=None, domain=finite_float, doc="linear coefficient"))
    CONFIG.declare("c", ConfigValue(default=None, domain=finite_float, doc="constant term per hour"))
    CONFIG.declare("steps", ConfigValue(default=None, domain=steps,
                                        doc="stepwise curve: [(width, price), ...]"))

    #: step widths and prices keep the domains of the ``steps`` option
    PARAM_DOMAINS = {"step_q": positive_float, "step_price": finite_float}

    def check_params(self):
        q = self.qty
        lo, hi = getattr(self, f"{q}_min"), getattr(self, f"{q}_max")
        for t in hi:
            if lo[t].value > hi[t].value:
                self.fail(f"parameter '{q}_min[{t}]' = {lo[t].value} exceeds '{q}_max[{t}]' = {hi[t].value}")
        check_curve(self, convex=self.direction > 0)

    def build_participant(self, market):
        cfg = self.config
        q = self.qty
        lo_name, hi_name = f"{q}_min", f"{q}_max"
        hi = cfg[hi_name]
        if hi is None:
            if cfg.steps is None:
                self.fail(f"option '{hi_name}' is required (or give a stepwise curve)")
            hi = sum(w for w, _ in cfg.steps)
        hi = self.series(hi_name, hi, market)
        lo = self.series(lo_name, cfg[lo_name], market)
        for t in market.T:
            if lo[t] > hi[t]:
                self.fail(f"{lo_name} = {lo[t]} exceeds {hi_name} = {hi[t]} in period {t}")
        # domain=Any: values are checked against the option's own domain (core.params), and an
        # explicit domain spares Pyomo an implicit one per parameter (half its construction)
        setattr(self, hi_name, Param(market.T, initialize=hi, mutable=True, domain=Any,
                                     doc="upper limit"))
        setattr(self, lo_name, Param(market.T, initialize=lo, mutable=True, domain=Any,
                                     doc="lower limit"))
        # dict initialisers throughout (no rule callbacks: Pyomo inspects each one's signature)
        x = Var(market.T, initialize=dict(lo), doc="quantity (power units)")
        setattr(self, q, x)
        on = {t: 1 for t in market.T}
        if getattr(cfg, "commitment", False):
            self.on = Var(market.T, domain=Binary, initialize=1, doc="commitment status")
            on = self.on
        hi_p, lo_p = getattr(self, hi_name), getattr(self, lo_name)
        self.ineq_max = Constraint(market.T, rule={t: x[t] <= hi_p[t] * on[t] for t in market.T})
        self.ineq_min = Constraint(market.T, rule={t: x[t] >= lo_p[t] * on[t] for t in market.T})
        value = build_curve(self, x, convex=self.direction > 0)
        const = self.c
        self.p_inj = Expression(market.T, initialize={t: self.direction * x[t] for t in market.T},
                                doc="net injection (power units)")
        self.bid_cost = Expression(
            expr=self.direction * sum(market.dt[t] * (value[t] + const * on[t]) for t in market.T),
            doc="as-bid cost over the horizon (currency)")


@declare_block("Producer")
class ProducerData(_CurveParticipantData):
    """A producer with a quadratic or stepwise offer (see module doc)."""

    direction = +1
    qty = "p"
    CONFIG = _CurveParticipantData.CONFIG()
    CONFIG.declare("p_max", ConfigValue(default=None, domain=nonnegative_series,
                                        doc="capacity: one number or one per period"))
    CONFIG.declare("p_min", ConfigValue(default=0.0, domain=nonnegative_series,
                                        doc="minimum output when on"))
    CONFIG.declare("commitment", ConfigValue(default=False, domain=flag,
                                             doc="binary on/off decision (makes a MILP)"))
    CONFIG.declare("emission_intensity", ConfigValue(
        default=None, domain=nonnegative_float,
        doc="emission intensity rho (tCO2/MWh, >= 0); creates emissions[t]"))
    CONFIG.declare("allocation", ConfigValue(
        default=None, domain=nonnegative_float,
        doc="free allocation benchmark A (tCO2/MWh, >= 0); creates free_allocation[t]"))
    CONFIG.declare("certificate_rate", ConfigValue(
        default=None, domain=nonnegative_float,
        doc="green certificates issued per MWh of output (>= 0); creates certificates[t]"))

    #: option -> (Expression it creates, doc of the rate, doc of the Expression): terms that are
    #: a rate times the energy produced, :math:`\\rho\\,p_t\\,\\Delta t_t\\,u`
    OUTPUT_TERMS = {
        "emission_intensity": ("emissions", "emission intensity (tCO2/MWh)", "emissions (tCO2)"),
        "allocation": ("free_allocation", "free allocation benchmark (tCO2/MWh)",
                       "free allowances earned by output (tCO2)"),
        "certificate_rate": ("certificates", "certificates per MWh of output",
                             "green certificates issued"),
    }

    def build_participant(self, market):
        super().build_participant(market)
        mwh = {t: market.dt[t] * market.power_unit_mw for t in market.T}
        for option, (term, rate_doc, term_doc) in self.OUTPUT_TERMS.items():
            if self.config[option] is None:
                continue
            rate = Param(initialize=self.config[option], mutable=True, domain=Any, doc=rate_doc)
            setattr(self, option, rate)
            setattr(self, term, Expression(market.T, initialize={t: rate * self.p[t] * mwh[t]
                                                                 for t in market.T},
                                           doc=term_doc))

    def policy_role(self):
        return "supply"


@declare_block("Consumer")
class ConsumerData(_CurveParticipantData):
    """A consumer with a quadratic utility or stepwise bid (see module doc)."""

    direction = -1
    qty = "d"
    CONFIG = _CurveParticipantData.CONFIG()
    CONFIG.declare("d_max", ConfigValue(default=None, domain=nonnegative_series,
                                        doc="largest demand: one number or one per period"))
    CONFIG.declare("d_min", ConfigValue(default=0.0, domain=nonnegative_series,
                                        doc="smallest demand"))

    def policy_role(self):
        return "demand"
