r"""What a sector-level policy block needs from the economy it is placed in.

A block such as :class:`~pyomo_ecc.cge.ets.EmissionTrading` taxes or caps what sectors produce.
It does not need to know how the economy is closed (trade, government, saving); it needs the
following, which both the SAM-based :class:`~pyomo_ecc.cge.economy.Economy` and the closed
economies of :mod:`pyomo_ecc.cge.closed` provide:

==================================  ==========================================================
method / attribute                  meaning
==================================  ==========================================================
``policy_sectors()``                the sectors a policy may cover (names)
``sector_output(j)``                expression of sector :math:`j`'s output :math:`Z_j`
``benchmark_output(j)``             :math:`Z^0_j` (output at the benchmark)
``add_unit_cost(agent, j, l, c)``   add :math:`c` (currency per unit of :math:`Z_j`) to
                                    sector :math:`j`'s unit cost in its zero-profit condition
``add_flow(src, dst, l, v)``        pay :math:`v` (currency) into institution ``dst``'s income
``institutions()``                  the institutions ``add_flow`` may pay into
``default_institution(kind)``       who receives by default: ``"revenue"`` (e.g. auction
                                    revenue) or ``"owners"`` (value given to the firms' owners)
``numeraire_level``                 :math:`N`, the value of the numeraire (mutable Param)
``register_agent(agent, role)``     record the block (``role`` for unique institutions)
==================================  ==========================================================

Zero profit of sector :math:`j` then reads
:math:`\text{revenue per unit of } Z_j = \text{input cost per unit} + \sum_k c_{kj}` in both
economies, so a carbon price enters the same way whether the economy trades or is closed.
"""


class EconomyInterface:
    """Mixin marking a CGE economy that sector-level policy blocks can be placed in; see the
    module documentation for the methods it must provide."""

    #: the kind of container, for error messages
    ECONOMY_KIND = "a CGE economy"

    def policy_sectors(self):  # pragma: no cover - provided by the economies
        raise NotImplementedError

    def sector_output(self, sector):  # pragma: no cover
        raise NotImplementedError

    def benchmark_output(self, sector):  # pragma: no cover
        raise NotImplementedError

    def add_unit_cost(self, agent, sector, label, expr):  # pragma: no cover
        raise NotImplementedError

    def add_flow(self, source, destination, label, expr):  # pragma: no cover
        raise NotImplementedError

    def institutions(self):  # pragma: no cover
        raise NotImplementedError

    def default_institution(self, kind):  # pragma: no cover
        raise NotImplementedError

    def register_agent(self, agent, role=None):  # pragma: no cover
        raise NotImplementedError
