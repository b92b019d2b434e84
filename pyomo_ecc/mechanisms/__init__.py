"""Market mechanisms: double auction, allowance order book, P2P markets, mechanism properties."""
from pyomo_ecc.mechanisms.auction import double_auction  # noqa: F401
from pyomo_ecc.mechanisms.orderbook import OrderBook  # noqa: F401
from pyomo_ecc.mechanisms.p2p import P2PNetwork, loss_neutral_settlement, marginal_loss_factors  # noqa: F401
