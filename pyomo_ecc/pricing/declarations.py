"""Price declarations: which constraint forms which price, with which sign and unit.

A block that makes a price-forming constraint declares it with :class:`PriceDecl`; nothing else
turns duals into prices. :func:`pyomo_ecc.pricing.prices.price_frame` normalises every
declaration in one place:

.. math:: \\pi = s \\cdot \\frac{\\mu}{w}

where :math:`\\mu` is the constraint's dual in the convention "change of the (minimised)
objective per unit increase of the constraint's right-hand side" (the solver layer converts
every solver to it), :math:`s` the declared sign, and :math:`w` the declared weight:

* ``kind="power"``: a balance in power units over period :math:`t`, :math:`w = \\Delta t_t\\,u`
  (hours times MW per power unit), so the price is in currency per MWh;
* ``kind="quantity"``: a constraint on a quantity summed over periods (tonnes, certificates),
  :math:`w = 1`, so the price is in currency per unit of that quantity;
* ``kind="hourly"``: a limit on a state held over period :math:`t` (a squared voltage in pu²),
  :math:`w = \\Delta t_t`, so the price is in currency per unit of that state per hour.
"""
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PriceDecl:
    """One price-forming constraint.

    ``price``: the price's name (``lmp``, ``carbon_price``, ...); ``index``: its labels as a
    dict of level name to value (e.g. ``{"bus": 3, "t": 0}``); ``constraint``: the constraint
    data object; ``sign``: +1 when a larger right-hand side means more of the priced quantity is
    required (a load), -1 otherwise; ``kind``: ``"power"``, ``"quantity"`` or ``"hourly"``; ``t``: the
    period (for ``kind="power"`` and ``"hourly"``).
    """

    price: str
    index: tuple
    levels: tuple
    constraint: Any
    sign: int = 1
    kind: str = "power"
    t: Any = None
