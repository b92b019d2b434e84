r"""The block contract: everything a block gives its market, and nothing else.

A market (:mod:`pyomo_ecc.core.market`) knows its blocks only through the methods and
attributes below; a new participant, network or policy type is written against this list.

**Every block** (participants, the network, policies):

===============================  ===========================================================
method / attribute               contract
===============================  ===========================================================
``objective_cost()``             the block's term of the market objective (currency, minimised;
                                 ``0.0`` for none). The market's objective is
                                 :math:`\min \sum_{\text{blocks}} \mathrm{objective\_cost}`; no
                                 block rewrites the objective
``price_declarations()``         the price-forming constraints, as :class:`PriceDecl` (``[]`` for
                                 none); prices are published by :mod:`pyomo_ecc.pricing` only
                                 from these (and from :func:`pyomo_ecc.declare_price`)
``check_params()``               cross-parameter rules for values set after build
===============================  ===========================================================

**Participants** (:class:`~pyomo_ecc.participants.base.ParticipantData`):

===============================  ===========================================================
``config.bus``, ``bus``          the bus it connects to
``p_inj[t]``, ``q_inj[t]``       net active / reactive injection into the grid (power units)
``bid_cost``                     as-bid cost over the horizon (currency): its
                                 ``objective_cost()``; a consumer's utility enters negated
``fixed_injection``              True when ``p_inj`` is a constant (moved to the balance's
                                 right-hand side, so the balance dual is the load's price)
``withdrawal()``                 the withdrawal rule: the what-if changes that take it out of
                                 the market (variables fixed at 0, ``withdrawal_params()`` at 0,
                                 block deactivated); read by :func:`pyomo_ecc.core.changes.withdraw`
``withdrawal_params()``          the mutable parameters that must be 0 for a zero injection
``emissions``, ``certificates``, optional terms policies read (:mod:`pyomo_ecc.participants.base`)
``energy_mwh(t)``,
``policy_role()``
===============================  ===========================================================

**Networks** (:class:`~pyomo_ecc.network.base.NetworkData`):

===============================  ===========================================================
``buses()``, ``check_buses()``   its buses; every participant must be at one of them
``assemble()``                   writes ``eq_p_balance`` from the participants' ``p_inj``
``held_withdrawals(t)``          bus loads the network holds itself (they pay the nodal price)
``sensitivities()``              a :class:`Sensitivities` (the same type for every formulation)
``component_prices``,            the prices its decomposition reads, and the decomposition:
``price_components(prices)``     a DataFrame of the nodal price and its components (columns
                                 ``attrs["components"]``), from a :class:`DeclaredPrices`;
                                 :func:`pyomo_ecc.lmp_components` and :func:`pyomo_ecc.dlmp`
                                 call it and check that the components sum to the price
``linearised``, ``relinearise()``  True for a formulation linearised at an operating point
                                 (:func:`pyomo_ecc.solve_losses` moves the point)
===============================  ===========================================================

**Policies** (:class:`~pyomo_ecc.policy.base.PolicyData`): ``assemble()`` writes the constraints
from the participants' terms; ``objective_cost()`` and ``price_declarations()`` as above.

**Vocabulary**: the same names in every block (as in :mod:`pyomo_ecc.network.base`); a retired
name, given as an option or read as a component (``EccBlockData.RETIRED``), raises
:class:`~pyomo_ecc.errors.InputError` naming the new one. ``p`` is active power and ``q``
reactive power everywhere.

The table of names, with the retired ones, is in :mod:`pyomo_ecc.network.base`.

**A participant written from scratch.** An elastic demand that is ``worth`` :math:`v` per MWh up to
:math:`\overline{D}` (power units) in every period: its injection is :math:`-d_t`, its
as-bid cost :math:`-\sum_t \Delta t_t\,v\,d_t`, and its withdrawal sets its cap to zero. With a
supplier of 10 /MWh up to 50 MW and a demand worth 30 /MWh up to 80 MW, the supplier's capacity
binds and the demand is marginal: the price is :math:`v = 30` /MWh, in every period and for
every period length (here 0.5 h):

    >>> import pyomo_ecc as ecc
    >>> from pyomo.common.config import ConfigValue
    >>> from pyomo.environ import Constraint, Expression, NonNegativeReals, Param, Var
    >>> from pyomo_ecc.core.block import declare_block
    >>> from pyomo_ecc.core.config import finite_float, nonnegative_float
    >>> from pyomo_ecc.participants.base import ParticipantData
    >>> @declare_block("ElasticDemand")
    ... class ElasticDemandData(ParticipantData):
    ...     CONFIG = ParticipantData.CONFIG()
    ...     CONFIG.declare("worth", ConfigValue(domain=finite_float, default=0.0))
    ...     CONFIG.declare("d_max", ConfigValue(domain=nonnegative_float, default=0.0))
    ...     def build_participant(self, market):
    ...         self.worth = Param(initialize=self.config.worth, mutable=True)
    ...         self.d_max = Param(initialize=self.config.d_max, mutable=True)
    ...         self.d = Var(market.T, domain=NonNegativeReals)
    ...         self.ineq_d_max = Constraint(market.T, rule=lambda b, t: b.d[t] <= b.d_max)
    ...         self.p_inj = Expression(market.T, rule=lambda b, t: -b.d[t])
    ...         self.bid_cost = Expression(expr=-sum(market.dt[t] * self.worth * self.d[t]
    ...                                               for t in market.T))
    ...     def withdrawal_params(self):
    ...         return [self.d_max]
    >>> import sys   # the decorator made the component class in the defining module (a
    >>> ElasticDemand = sys.modules[ElasticDemandData.__module__].ElasticDemand  # script: global)
    >>> m = ecc.Market(periods=2, dt=0.5)
    >>> m.g = ecc.Producer(bus="A", b=10.0, p_max=50)
    >>> m.town = ElasticDemand(bus="A", worth=30.0, d_max=80)
    >>> _ = ecc.solve(m)
    >>> [round(float(v), 9) for v in ecc.prices(m).lmp]        # the demand's value v
    [30.0, 30.0]
    >>> [round(m.town.d[t].value, 9) for t in m.T]             # the supplier's capacity
    [50.0, 50.0]
    >>> round(float(ecc.welfare(m)), 9)    # (30 - 10) * 50 MW * 0.5 h * 2 periods
    1000.0
    >>> [type(c).__name__ for c in m.town.withdrawal()]        # its withdrawal rule
    ['Fix', 'Fix', 'SetParam', 'Deactivate']
"""
from dataclasses import dataclass
from typing import Any

#: the kinds of price and the unit of each, with the currency prepended
PRICE_UNITS = {"power": "/MWh", "quantity": "/unit", "hourly": "/(unit h)"}


@dataclass(frozen=True)
class PriceDecl:
    r"""One price-forming constraint.

    ``price``: the price's name (``lmp``, ``carbon_price``, ...); ``index``: its labels (a tuple,
    one per level); ``levels``: the names of the index levels (e.g. ``("bus", "t")``);
    ``constraint``: the constraint data object; ``sign``: +1 when a larger right-hand side means
    more of the priced quantity is required (a load), -1 otherwise; ``kind``: ``"power"``,
    ``"quantity"`` or ``"hourly"``; ``t``: the period (for ``kind="power"`` and ``"hourly"``);
    ``unit``: a label for the priced quantity (default: from ``kind``, see :data:`PRICE_UNITS`).

    The published price is :math:`\pi = s\,\mu / w` with :math:`\mu` the constraint's dual
    (change of the minimised objective per unit increase of its right-hand side), :math:`s` the
    sign and :math:`w` the weight of :func:`price_weight`.
    """

    price: str
    index: tuple
    levels: tuple
    constraint: Any
    sign: int = 1
    kind: str = "power"
    t: Any = None
    unit: Any = None


def price_weight(market, kind, t=None):
    """The weight :math:`w` that turns a normalised dual into a price:
    :math:`\\Delta t_t\\,u` for ``kind="power"`` (hours times MW per power unit: currency per
    MWh), 1 for ``kind="quantity"``, :math:`\\Delta t_t` for ``kind="hourly"``."""
    if kind == "power":
        return float(market.dt[t]) * market.power_unit_mw
    if kind == "quantity":
        return 1.0
    if kind == "hourly":
        return float(market.dt[t])
    raise ValueError(f"unknown price kind {kind!r}; use 'power', 'quantity' or 'hourly'")


class DeclaredPrices:
    """The published prices of one solved market that a network's decomposition reads.

    Built by :mod:`pyomo_ecc.pricing` (which publishes them) and handed to the network's
    ``price_components``: ``value[name]`` is ``{index: price}`` (a one-level index unwrapped),
    ``decls[name]`` the declarations by period (``{t: [PriceDecl]}``); names the market does
    not declare are empty.
    """

    def __init__(self, market, names, frames):
        from collections import defaultdict
        self.market = market
        self.value, self.decls = {}, {}
        declared = defaultdict(lambda: defaultdict(list))
        for d in market.price_declarations():
            if d.price in names:
                declared[d.price][d.t].append(d)
        for name in names:
            self.decls[name] = declared.get(name, {})
            frame = frames.get(name)
            self.value[name] = {} if frame is None else dict(zip(frame.index, frame[name].to_numpy()))

    def price(self, d):
        """The published price of declaration ``d``."""
        key = d.index if len(d.index) > 1 else d.index[0]
        return float(self.value[d.price][key])

    def weight(self, kind, t=None):
        return price_weight(self.market, kind, t)


class Sensitivities:
    r"""Linear sensitivities of a network at its solution: the one return type of every
    network's ``sensitivities()``.

    ``buses``, ``branches``: the labels of the columns and rows. ``flow(rows=None)``: the dense
    matrix :math:`\partial f_l / \partial P_n` of the active branch flows (rows: branches, or
    the positions ``rows``) with respect to a net injection at each bus, balanced by the slack
    (the PTDF of a DC network; on a lossless feeder, :math:`-1` for every branch on the path
    from the root to the bus). ``voltage()``: ``(dv_dp, dv_dq)``, DataFrames of the squared
    voltage's sensitivity to active and reactive *load* (rows: buses, columns: buses), or None
    for a model without voltages.
    """

    def __init__(self, buses, branches):
        self.buses = list(buses)
        self.branches = list(branches)

    def flow(self, rows=None):  # pragma: no cover - overridden
        raise NotImplementedError

    def voltage(self):
        return None
