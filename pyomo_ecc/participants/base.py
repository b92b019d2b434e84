r"""The participant contract (part of the block contract, :mod:`pyomo_ecc.core.contract`).

Every participant block exposes, and nothing else is visible to networks and policies (its
``objective_cost()`` is its ``bid_cost``; its withdrawal rule is :meth:`ParticipantData.withdrawal`):

==========================  ===================  ==================================================
symbol                      attribute            meaning
==========================  ===================  ==================================================
:math:`b_i`                 ``config.bus``       the bus it connects to
:math:`p^{inj}_{i,t}`       ``p_inj[t]``         net active injection into the grid (power units)
:math:`q^{inj}_{i,t}`       ``q_inj[t]``         net reactive injection (default 0)
:math:`\mathrm{BC}_i`       ``bid_cost``         as-bid cost over the horizon (currency); a
                                                 consumer's utility enters with a minus sign
==========================  ===================  ==================================================

Optional terms that policies (:mod:`pyomo_ecc.policy`) read when a participant has them:

==========================  =======================  ==============================================
symbol                      attribute                meaning
==========================  =======================  ==============================================
:math:`e_{i,t}`             ``emissions[t]``         emissions in period t (tCO2)
:math:`a_{i,t}`             ``free_allocation[t]``   free allowances earned in period t (tCO2)
:math:`z_{i,t}`             ``certificates[t]``      green certificates issued in period t
:math:`E_{i,t}`             ``energy_mwh(t)``        energy injected in period t (MWh; negative
                                                     when withdrawing)
role                        ``policy_role()``        ``"supply"``, ``"demand"`` or ``None``
==========================  =======================  ==============================================

Fixed loads (:class:`~pyomo_ecc.participants.load.FixedLoad`) set ``fixed_injection = True``:
the network moves their (constant) injections to the right-hand side of the balance, so the
balance dual is the marginal cost of serving one more unit of load.
"""
from pyomo.common.config import ConfigValue
from pyomo.environ import Expression, Var

from pyomo_ecc.core.block import EccBlockData
from pyomo_ecc.core.config import bus_label, per_period
from pyomo_ecc.core.market import find_market


class ParticipantData(EccBlockData):
    """Base class of participants: finds its market, declares ``q_inj`` and registers."""

    CONFIG = EccBlockData.CONFIG()
    CONFIG.declare("bus", ConfigValue(default=None, domain=bus_label,
                                      doc="bus where the participant connects"))

    #: True for blocks whose injection is a constant (fixed loads)
    fixed_injection = False

    def build(self):
        if self.config.bus is None:
            self.fail("option 'bus' is required")
        market = self.market()
        self.build_participant(market)
        if not hasattr(self, "q_inj"):
            self.q_inj = Expression(market.T, initialize=dict.fromkeys(market.T, 0.0),
                                    doc="net reactive injection (power units)")
        market.register_participant(self)

    def objective_cost(self):
        """Its as-bid cost ``bid_cost`` (the block contract's objective term)."""
        return self.bid_cost

    def withdrawal_params(self):
        """Mutable parameters to set to zero, besides fixing its variables at zero, when the
        participant is withdrawn (a fixed load's load, a prosumer's local demand): with them at
        zero its injection must be zero in every period."""
        return []

    def withdrawal(self):
        """The participant's withdrawal rule (part of the block contract): the what-if changes
        that take it out of the market — every variable fixed at 0, the parameters of
        :meth:`withdrawal_params` at 0, the block deactivated (its constraints leave the model).
        See :func:`pyomo_ecc.core.changes.withdraw`."""
        from pyomo_ecc.core import changes as whatif

        changes = [whatif.Fix(v.name, 0.0) for v in self.component_data_objects(Var, descend_into=True)]
        changes += [whatif.SetParam(p[k].name, 0.0) for p in self.withdrawal_params() for k in p]
        changes.append(whatif.Deactivate(self.name))
        return changes

    def units(self):
        """The participants this block is to its market: itself (a fleet block lists its units,
        :mod:`pyomo_ecc.participants.fleet`)."""
        return (self,)

    def build_participant(self, market):  # pragma: no cover - overridden
        raise NotImplementedError

    def market(self):
        """The enclosing market block."""
        return find_market(self)

    def series(self, name, value, market):
        """Expand an option to ``{t: value}`` over the market's periods, naming the option on error."""
        try:
            return per_period(value, market.T, f"option '{name}'")
        except ValueError as e:
            self.fail(str(e))

    @property
    def bus(self):
        return self.config.bus

    def energy_mwh(self, t):
        """Net energy injected in period t in MWh: :math:`p^{inj}_{t}\\,\\Delta t_t\\,u`."""
        market = self.market()
        return self.p_inj[t] * market.dt[t] * market.power_unit_mw

    def policy_role(self):
        """How policies see this participant: ``"supply"`` (generation, counted in output-based
        standards), ``"demand"`` (consumption, counted in quota obligations) or ``None``.

        Fixed loads are demand; subclasses say what they are.
        """
        return "demand" if self.fixed_injection else None
