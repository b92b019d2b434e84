r"""A fixed (inelastic) load.

.. math:: p^{inj}_{t} = -L_t

The network moves :math:`L_t` to the right-hand side of the balance at the load's bus, so the
balance dual is the marginal cost of serving one more unit of this load: the LMP.

==================  ==============  =====================================
symbol              attribute       meaning
==================  ==============  =====================================
:math:`L_t`         ``p_load[t]``   load in power units (mutable)
==================  ==============  =====================================
"""
from pyomo.common.config import ConfigValue
from pyomo.environ import Any, Expression, Param

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.config import series
from pyomo_ecc.participants.base import ParticipantData


@declare_block("FixedLoad")
class FixedLoadData(ParticipantData):
    """An inelastic load at a bus (negative values are allowed: a fixed injection)."""

    fixed_injection = True
    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("p", ConfigValue(default=0.0, domain=series,
                                    doc="load: one number or one per period (power units)"))

    #: the load keeps the domain of the option ``p`` it comes from
    PARAM_DOMAINS = {"p_load": series}
    RETIRED = {"load": "p_load"}

    def withdrawal_params(self):
        """Its load goes to zero when it is withdrawn."""
        return [self.p_load]

    def build_participant(self, market):
        self.p_load = Param(market.T, initialize=self.series("p", self.config.p, market),
                            mutable=True, domain=Any, doc="load (power units)")
        self.p_inj = Expression(market.T, rule=lambda b, t: -b.p_load[t])
        self.bid_cost = Expression(expr=0.0)


