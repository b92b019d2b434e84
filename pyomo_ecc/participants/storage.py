r"""Energy storage: state of charge, charge / discharge efficiencies and limits, terminal state.

.. math::

    e_t = e_{t-1} + \Delta t_t \left(\eta^{ch} c_t - \frac{h_t}{\eta^{dis}}\right), \quad
    e_{t_0 - 1} = e_0, \qquad
    \underline{E} \le e_t \le \overline{E}, \qquad
    0 \le c_t \le \overline{C}, \quad 0 \le h_t \le \overline{H}, \qquad
    e_{t_{end}} = e^{fin} \ (\text{or} \ge e^{fin})

with net injection :math:`p^{inj}_t = h_t - c_t` and as-bid cost (degradation)
:math:`\mathrm{BC} = \sum_t \Delta t_t\,(\beta (c_t + h_t) + a (c_t^2 + h_t^2))`.
A strictly convex :math:`a > 0` makes the response to given prices unique. Charging and
discharging in the same period is not excluded (that would need a binary); with non-negative
prices and costs it is never optimal, with negative prices it can be (it burns energy in the
losses).

=========================  =================  ==============================================
symbol                     attribute          meaning
=========================  =================  ==============================================
:math:`e_t`                ``e[t]``           state of charge at the end of period t (energy:
                                              power units times hours)
:math:`c_t, h_t`           ``p_ch[t]``, ``p_dis[t]``   charging / discharging power
:math:`\eta^{ch}, \eta^{dis}`  ``eta_ch``, ``eta_dis``  efficiencies in (0, 1] (mutable)
:math:`\overline{E}, \underline{E}`  ``e_max``, ``e_min``   energy limits (mutable)
:math:`\overline{C}, \overline{H}`   ``p_ch_max``, ``p_dis_max``  power limits (mutable)
:math:`e_0, e^{fin}`       ``e_0``, ``e_final``  initial and terminal state (mutable)
:math:`\beta, a`           ``b``, ``a``       degradation cost coefficients (mutable)
balance / terminal         ``eq_soc[t]``, ``eq_terminal`` (``ineq_terminal`` with ``terminal="at_least"``)
=========================  =================  ==============================================

Inconsistent data are refused when the block is built: an efficiency outside :math:`(0, 1]`,
:math:`e_0` or :math:`e^{fin}` outside :math:`[\underline{E}, \overline{E}]`, or a terminal state
that the power limits cannot reach from :math:`e_0` (the reachable states of period :math:`t`
form the interval :math:`[\max(\underline{E}, lo_{t-1} - \Delta t_t \overline{H}_t/\eta^{dis}),
\min(\overline{E}, hi_{t-1} + \Delta t_t \eta^{ch} \overline{C}_t)]`, :math:`lo_0 = hi_0 = e_0`).

Example::

    >>> import pyomo_ecc as ecc
    >>> from pyomo_ecc.participants.storage import Storage
    >>> m = ecc.Market(periods=2)
    >>> m.bat = Storage(bus="A", e_max=10, p_ch_max=5, p_dis_max=5, e_0=0, e_final=0,
    ...                 eta_ch=1.0, eta_dis=0.8)
    >>> m.g = ecc.Producer(bus="A", b=10, p_max=[100, 0])
    >>> m.d = ecc.Consumer(bus="A", steps=[(4, 20)])
    >>> _ = ecc.solve(m)
    >>> [round(float(ecc.dispatch(m).p_inj["bat", t]), 6) for t in m.T]
    [-5.0, 4.0]
"""
from pyomo.common.config import ConfigValue, In
from pyomo.environ import Constraint, Expression, NonNegativeReals, Param, Var

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import efficiency, finite_float, nonnegative_float, nonnegative_series, optional
from pyomo_ecc.participants.base import ParticipantData


_optional_nonnegative = optional(nonnegative_float)


@declare_block("Storage")
class StorageData(ParticipantData):
    """A battery (or any energy store) that buys to charge and sells when discharging."""

    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("e_max", ConfigValue(default=None, domain=nonnegative_float,
                                        doc="energy capacity (power units x h)"))
    CONFIG.declare("e_min", ConfigValue(default=0.0, domain=nonnegative_float,
                                        doc="smallest state of charge"))
    CONFIG.declare("p_ch_max", ConfigValue(default=None, domain=nonnegative_series,
                                           doc="charging power limit"))
    CONFIG.declare("p_dis_max", ConfigValue(default=None, domain=nonnegative_series,
                                            doc="discharging power limit"))
    CONFIG.declare("eta_ch", ConfigValue(default=1.0, domain=efficiency,
                                         doc="charging efficiency in (0, 1]"))
    CONFIG.declare("eta_dis", ConfigValue(default=1.0, domain=efficiency,
                                          doc="discharging efficiency in (0, 1]"))
    CONFIG.declare("e_0", ConfigValue(default=0.0, domain=nonnegative_float,
                                      doc="state of charge before the first period"))
    CONFIG.declare("e_final", ConfigValue(default=None, domain=_optional_nonnegative,
                                          doc="terminal state of charge (default: e_0)"))
    CONFIG.declare("terminal", ConfigValue(default="equal", domain=In(["equal", "at_least", "free"]),
                                           doc="terminal condition: e_end == e_final, >= e_final, "
                                               "or none"))
    CONFIG.declare("b", ConfigValue(default=0.0, domain=nonnegative_float,
                                    doc="linear degradation cost per unit of throughput"))
    CONFIG.declare("a", ConfigValue(default=0.0, domain=finite_float,
                                    doc="quadratic cost coefficient on charge and discharge (>= 0)"))

    def build_participant(self, market):
        cfg = self.config
        for key in ("e_max", "p_ch_max", "p_dis_max"):
            if cfg[key] is None:
                self.fail(f"option '{key}' is required")
        if cfg.a < 0:
            self.fail(f"option 'a': must be >= 0 (convex cost), got {cfg.a}")
        if cfg.e_min > cfg.e_max:
            self.fail(f"e_min = {cfg.e_min} exceeds e_max = {cfg.e_max}")
        if not cfg.e_min <= cfg.e_0 <= cfg.e_max:
            self.fail(f"initial state e_0 = {cfg.e_0} is outside [e_min, e_max] = "
                      f"[{cfg.e_min}, {cfg.e_max}]")
        e_fin = cfg.e_0 if cfg.e_final is None else cfg.e_final
        if cfg.terminal != "free" and not cfg.e_min <= e_fin <= cfg.e_max:
            self.fail(f"terminal state e_final = {e_fin} is outside [e_min, e_max] = "
                      f"[{cfg.e_min}, {cfg.e_max}]")
        T = market.T
        ch_max = self.series("p_ch_max", cfg.p_ch_max, market)
        dis_max = self.series("p_dis_max", cfg.p_dis_max, market)
        if cfg.terminal != "free":
            # states reachable at the end: forward recursion of the interval [lo_t, hi_t]
            lo = hi = cfg.e_0
            for t in T:
                dt = float(market.dt[t])
                hi = min(cfg.e_max, hi + dt * cfg.eta_ch * ch_max[t])
                lo = max(cfg.e_min, lo - dt * dis_max[t] / cfg.eta_dis)
            if e_fin > hi + 1e-9 or (cfg.terminal == "equal" and e_fin < lo - 1e-9):
                self.fail(f"terminal state e_final = {e_fin} cannot be reached from "
                          f"e_0 = {cfg.e_0} within the power limits: the reachable states at "
                          f"the end are [{lo:.6g}, {hi:.6g}]")
        self.e_max = Param(initialize=cfg.e_max, mutable=True, doc="energy capacity")
        self.e_min = Param(initialize=cfg.e_min, mutable=True, doc="smallest state of charge")
        self.p_ch_max = Param(T, initialize=ch_max, mutable=True, doc="charging power limit")
        self.p_dis_max = Param(T, initialize=dis_max, mutable=True, doc="discharging power limit")
        self.eta_ch = Param(initialize=cfg.eta_ch, mutable=True, doc="charging efficiency")
        self.eta_dis = Param(initialize=cfg.eta_dis, mutable=True, doc="discharging efficiency")
        self.e_0 = Param(initialize=cfg.e_0, mutable=True, doc="initial state of charge")
        self.e_final = Param(initialize=e_fin, mutable=True, doc="terminal state of charge")
        self.a = Param(initialize=cfg.a, mutable=True, doc="quadratic cost coefficient")
        self.b = Param(initialize=cfg.b, mutable=True, doc="linear degradation cost")
        self.p_ch = Var(T, domain=NonNegativeReals, initialize=0.0, doc="charging power")
        self.p_dis = Var(T, domain=NonNegativeReals, initialize=0.0, doc="discharging power")
        self.e = Var(T, initialize=cfg.e_0, doc="state of charge at the end of the period")
        self.ineq_ch_max = Constraint(T, rule=lambda b, t: b.p_ch[t] <= b.p_ch_max[t])
        self.ineq_dis_max = Constraint(T, rule=lambda b, t: b.p_dis[t] <= b.p_dis_max[t])
        self.ineq_e_max = Constraint(T, rule=lambda b, t: b.e[t] <= b.e_max)
        self.ineq_e_min = Constraint(T, rule=lambda b, t: b.e[t] >= b.e_min)
        prev = {t: (self.e_0 if k == 0 else self.e[T.at(k)]) for k, t in enumerate(T)}
        self.eq_soc = Constraint(T, rule=lambda b, t: b.e[t] == prev[t] + market.dt[t] * (
            b.eta_ch * b.p_ch[t] - b.p_dis[t] / b.eta_dis))
        last = T.last()
        if cfg.terminal == "equal":
            self.eq_terminal = Constraint(expr=self.e[last] == self.e_final)
        elif cfg.terminal == "at_least":
            self.ineq_terminal = Constraint(expr=self.e[last] >= self.e_final)
        self.p_inj = Expression(T, rule=lambda b, t: b.p_dis[t] - b.p_ch[t], doc="net injection")
        self.bid_cost = Expression(expr=sum(
            market.dt[t] * (self.b * (self.p_ch[t] + self.p_dis[t])
                            + self.a * (self.p_ch[t] ** 2 + self.p_dis[t] ** 2)) for t in T),
            doc="as-bid degradation cost (currency)")

    def withdrawal_params(self):
        """Nothing but its variables: a withdrawn store must start and end empty-handed."""
        return []
