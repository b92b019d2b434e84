"""pyomo_ecc.analysis: market power, fairness, fair division, bidding-game equilibria and the
transactive equilibrium check."""
from pyomo_ecc.analysis.fairness import envy_matrix, fair_allocation  # noqa: F401
from pyomo_ecc.analysis.market_power import (ConstantElasticityDemand, LinearDemand,  # noqa: F401
                                             cournot, hhi, lerner, market_power, market_shares,
                                             pivotal_suppliers, residual_supply)
from pyomo_ecc.analysis.transactive import transactive_check  # noqa: F401
from pyomo_ecc.analysis.equilibrium import BiddingGame, unilateral_gains  # noqa: F401
from pyomo_ecc.analysis.fair_division import allocate, envy, share_community  # noqa: F401
