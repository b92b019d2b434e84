"""pyomo_ecc.core: the market, the block base class, validated options, what-ifs and the block
contract (:mod:`pyomo_ecc.core.contract`: what every participant, network and policy gives its
market, with a participant type written from scratch)."""
