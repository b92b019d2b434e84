r"""Copper plate: one balance per period, every bus has the same price.

.. math::

    \sum_{i \notin \mathcal{L}} p^{inj}_{i,t} = \sum_{l \in \mathcal{L}} L_{l,t}
    \quad \forall t \in T \qquad (\lambda_t)

=========================  =====================  =========================================
symbol                     attribute              meaning
=========================  =====================  =========================================
:math:`\lambda_t`          ``eq_p_balance[t]``    system balance; its dual is the LMP of
                                                  every bus
:math:`\mathcal{L}`        fixed loads            moved to the right-hand side
=========================  =====================  =========================================
"""
from pyomo.environ import Constraint

from pyomo_ecc.core.block import declare_block
from pyomo_ecc.core.contract import PriceDecl
from pyomo_ecc.core.market import default_network, set_default_network
from pyomo_ecc.network.base import NetworkData


@declare_block("CopperPlate")
class CopperPlateData(NetworkData):
    """A lossless, uncongested network (see module doc)."""

    def assemble(self):
        self.check_buses()
        market = self.market()

        def balance(b, t):
            var, fixed = [], []
            for v, f in self.injections_at(t).values():
                var += v
                fixed += f
            if not var:
                self.fail(f"no dispatchable participant in period {t}")
            return sum(var) == -sum(fixed)

        self.eq_p_balance = Constraint(market.T, rule=balance, doc="system power balance")

    def price_declarations(self):
        return [PriceDecl("lmp", (bus, t), ("bus", "t"), self.eq_p_balance[t], +1, "power", t)
                for t in self.market().T for bus in self.buses()]


#: a market with no network block gets a copper plate when it is assembled (unless the user set
#: another default before this module was first imported)
if default_network() is None:
    set_default_network(CopperPlate)
