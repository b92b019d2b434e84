"""Price declarations: which constraint forms which price, with which sign and unit.

A block that makes a price-forming constraint declares it with :class:`PriceDecl` (part of the
block contract, :mod:`pyomo_ecc.core.contract`, where it is defined); nothing else
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
from pyomo_ecc.core.contract import PRICE_UNITS, PriceDecl, price_weight  # noqa: F401
