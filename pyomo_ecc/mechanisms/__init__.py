"""Market mechanisms: double auction, allowance order book, P2P markets, mechanism properties,
the exponential mechanism (differential privacy) with its payments and privacy ledger."""
from pyomo_ecc.mechanisms.auction import double_auction  # noqa: F401
from pyomo_ecc.mechanisms.orderbook import OrderBook  # noqa: F401
from pyomo_ecc.mechanisms.p2p import P2PNetwork, loss_neutral_settlement, marginal_loss_factors  # noqa: F401
from pyomo_ecc.mechanisms.exponential import ExponentialMechanism  # noqa: F401
from pyomo_ecc.mechanisms.privacy import (PrivacyBudgetError, PrivacyLedger, PrivacySpec,  # noqa: F401
                                          Sensitivity)
