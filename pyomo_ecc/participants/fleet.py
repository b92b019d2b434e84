r"""A fleet of producers from one table: many units in one block, indexed by unit and period.

Unit :math:`u` of the fleet is the :class:`~pyomo_ecc.participants.producer.Producer` with the
same options (quadratic offer, output limits, optional emission, allocation and certificate
rates):

.. math::

    \mathrm{BC}_u = \sum_t \Delta t_t \left(a_u\,p_{u,t}^2 + b_u\,p_{u,t} + c_u\right), \qquad
    \underline{P}_{u,t} \le p_{u,t} \le \overline{P}_{u,t}, \qquad p^{inj}_{u,t} = p_{u,t},

    e_{u,t} = \rho_u\,p_{u,t}\,\Delta t_t\,u, \qquad a_{u,t} = A_u\,p_{u,t}\,\Delta t_t\,u, \qquad
    z_{u,t} = \zeta_u\,p_{u,t}\,\Delta t_t\,u.

The block holds one component of each kind, indexed by unit (and period), instead of one block
of a dozen components per unit: building a fleet of 510 units costs what a hand-written Pyomo
model of them costs (``benchmarks/scaling.py``).

Every unit is a participant of the market in its own right (:meth:`ProducerFleetData.units`,
listed by ``market.participants()``): the networks place it at its bus, the policies read its
terms, the results list it under ``<fleet>[<unit>]`` (as Pyomo names the blocks of an indexed
block), and it is withdrawn alone (:func:`pyomo_ecc.withdraw` with the unit or that name: its
output fixed at 0 and its two limit rows taken out). Its prices, dispatch, settlement and
payments are those of the same unit built as its own ``Producer``; the tests compare the two
builds number by number.

The quadratic term of a unit is built only when its :math:`a_u \ne 0` at construction (as a
``Producer`` does). Stepwise offers and commitment are not available in a fleet: build those
units as their own ``Producer`` blocks next to it.

========================================  ==============================  =========================================
symbol                                    attribute                       meaning
========================================  ==============================  =========================================
units                                     ``U``                           unit labels (the table's index)
:math:`p_{u,t}`                           ``p[u, t]``                     output (power units)
:math:`\overline{P}, \underline{P}`       ``p_max[u, t]``, ``p_min[u, t]``  output limits (mutable)
:math:`a_u, b_u, c_u`                     ``a[u]``, ``b[u]``, ``c[u]``    offer coefficients (mutable)
upper / lower limit                       ``ineq_max[u, t]``,             limit constraints
                                          ``ineq_min[u, t]``
:math:`p^{inj}_{u,t}`                     ``p_inj[u, t]``                 net injection (power units)
:math:`\mathrm{BC}_u`                     ``bid_cost[u]``                 as-bid cost of the unit (currency)
:math:`\rho_u, A_u, \zeta_u`              ``emission_intensity[u]``,      per-MWh rates (mutable) of the units
                                          ``allocation[u]``,              whose column holds a number
                                          ``certificate_rate[u]``
:math:`e_{u,t}, a_{u,t}, z_{u,t}`         ``emissions[u, t]``,            rate times the energy produced
                                          ``free_allocation[u, t]``,
                                          ``certificates[u, t]``
========================================  ==============================  =========================================

The table (option ``units``) is a pandas DataFrame indexed by unit label, with the columns
``bus`` and ``p_max`` (required), ``p_min``, ``a``, ``b``, ``c`` (default 0), and
``emission_intensity``, ``allocation``, ``certificate_rate`` (optional; a unit whose entry is
NaN has no such term, as a ``Producer`` built without the option).

Example::

    >>> import pandas as pd
    >>> import pyomo_ecc as ecc
    >>> m = ecc.Market()
    >>> m.gens = ecc.ProducerFleet(units=pd.DataFrame(
    ...     {"bus": ["A", "A"], "b": [10.0, 30.0], "p_max": [60.0, 100.0]},
    ...     index=pd.Index(["cheap", "dear"], name="unit")))
    >>> m.town = ecc.FixedLoad(bus="A", p=80)
    >>> _ = ecc.solve(m)
    >>> float(ecc.prices(m).lmp.iloc[0]), m.gens.p["dear", 0].value
    (30.0, 20.0)
    >>> ecc.dispatch(m).p_inj.round(6).to_dict()
    {('gens[cheap]', 0): 60.0, ('gens[dear]', 0): 20.0, ('town', 0): -80.0}
"""
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pyomo.common.config import ConfigValue
from pyomo.core.base.component_namer import index_repr
from pyomo.environ import Any, Constraint, Expression, Param, Set, Var

from pyomo_ecc.core.block import declare_block, from_table
from pyomo_ecc.core.config import bus_label, finite_float, nonnegative_float
from pyomo_ecc.participants.base import ParticipantData
from pyomo_ecc.participants.producer import ProducerData

#: numeric columns of the table -> default (None: required; NaN: optional term)
COLUMNS = {"p_max": None, "p_min": 0.0, "a": 0.0, "b": 0.0, "c": 0.0,
           "emission_intensity": np.nan, "allocation": np.nan, "certificate_rate": np.nan}
#: columns that must be >= 0
NONNEGATIVE = ("p_max", "p_min", "a", "emission_intensity", "allocation", "certificate_rate")


def _table(x):
    """The ``units`` option: a DataFrame indexed by unit label."""
    if not isinstance(x, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame indexed by unit, got {type(x).__name__}")
    return x


class _Row(Mapping):
    """One unit's row of a component indexed by (unit, t): ``row[t]`` is ``comp[unit, t]``."""

    __slots__ = ("_comp", "_unit", "_periods")

    def __init__(self, comp, unit, periods):
        self._comp, self._unit, self._periods = comp, unit, periods

    def __getitem__(self, t):
        return self._comp[self._unit, t]

    def __iter__(self):
        return iter(self._periods)

    def __len__(self):
        return len(self._periods)

    def __contains__(self, t):
        return t in self._periods

    def __repr__(self):
        return f"<{self._comp.name}[{self._unit!r}, t]>"


class FleetUnit:
    r"""One unit of a :class:`ProducerFleet`: a participant of the market (the participant
    contract of :mod:`pyomo_ecc.participants.base`) whose components are the fleet's, at this
    unit's index. ``p[t]``, ``p_max[t]``, ``p_min[t]``, ``p_inj[t]`` (and ``emissions[t]``,
    ``free_allocation[t]``, ``certificates[t]`` where the unit has them) are the fleet's
    entries; ``a``, ``b``, ``c``, ``bid_cost`` are its entries at the unit."""

    fixed_injection = False
    direction = +1
    qty = "p"

    def __init__(self, fleet, unit, bus, terms):
        T = list(fleet.market().T)
        self.fleet, self.unit, self.bus = fleet, unit, bus
        self._suffix = index_repr(unit)
        self._terms = {name: _Row(getattr(fleet, name), unit, T) for name in terms}
        self.p = _Row(fleet.p, unit, T)
        self.p_inj = _Row(fleet.p_inj, unit, T)
        self.p_max = _Row(fleet.p_max, unit, T)
        self.p_min = _Row(fleet.p_min, unit, T)
        self.q_inj = dict.fromkeys(T, 0.0)
        self.a, self.b, self.c = fleet.a[unit], fleet.b[unit], fleet.c[unit]
        self.bid_cost = fleet.bid_cost[unit]
        for option, (term, _, _) in ProducerData.OUTPUT_TERMS.items():
            if term in terms:
                setattr(self, option, getattr(fleet, option)[unit])

    def __getattr__(self, name):
        terms = self.__dict__.get("_terms", {})
        if name in terms:
            return terms[name]
        if name.startswith("__") or "fleet" not in self.__dict__:   # copy / pickle protocols
            raise AttributeError(name)
        raise AttributeError(f"'{self.name}' is a unit of the ProducerFleet '{self.fleet.name}' "
                             f"and has no attribute {name!r}; build the unit as its own Producer "
                             f"where that is needed")

    # -- names and state -----------------------------------------------------------------------
    @property
    def name(self):
        return self.fleet.name + self._suffix

    @property
    def local_name(self):
        return self.fleet.local_name + self._suffix

    @property
    def config(self):
        return _UnitConfig(self)

    @property
    def active(self):
        """False once withdrawn (its limit rows taken out) or when the fleet is deactivated."""
        f = self.fleet
        return bool(f.active and f.ineq_max[self.unit, f.market().T.first()].active)

    def model(self):
        return self.fleet.model()

    def parent_block(self):
        return self.fleet.parent_block()

    def market(self):
        return self.fleet.market()

    def block_kind(self):
        return "ProducerFleet unit"

    def fail(self, message):
        from pyomo_ecc.errors import InputError
        raise InputError(f"ProducerFleet unit '{self.name}': {message}")

    def __repr__(self):
        return f"<FleetUnit {self.name} at bus {self.bus!r}>"

    # -- the participant contract --------------------------------------------------------------
    def objective_cost(self):
        return self.bid_cost

    def policy_role(self):
        return "supply"

    def energy_mwh(self, t):
        market = self.market()
        return self.p_inj[t] * market.dt[t] * market.power_unit_mw

    def withdrawal_params(self):
        return []

    def withdrawal(self):
        """Its output fixed at 0 in every period and its two limit rows taken out (the rest of
        the fleet stays)."""
        from pyomo_ecc.core import changes as whatif
        f, u = self.fleet, self.unit
        out = []
        for t in f.market().T:
            out += [whatif.Fix(f.p[u, t], 0.0), whatif.Deactivate(f.ineq_max[u, t]),
                    whatif.Deactivate(f.ineq_min[u, t])]
        return out

    def units(self):
        return (self,)


class _UnitConfig:
    """The options a unit was built with, read-only (``config.bus``, ``config.a``, ...)."""

    def __init__(self, unit):
        self._unit = unit

    def __getattr__(self, name):
        row = self._unit.fleet._table
        if name == "bus":
            return self._unit.bus
        if name in row.columns:
            v = row.at[self._unit.unit, name]
            return None if isinstance(v, float) and np.isnan(v) else v
        if name in ("steps", "commitment"):
            return None if name == "steps" else False
        raise AttributeError(name)

    def __getitem__(self, name):
        return getattr(self, name)


@declare_block("ProducerFleet")
class ProducerFleetData(ParticipantData):
    """Many producers from one table (see module doc)."""

    CONFIG = ParticipantData.CONFIG()
    CONFIG.declare("units", ConfigValue(default=None, domain=_table,
                                        doc="DataFrame indexed by unit: bus, p_max, p_min, a, b, c, "
                                            "emission_intensity, allocation, certificate_rate"))

    #: the table's rules for values set later (:mod:`pyomo_ecc.core.params`)
    PARAM_DOMAINS = {**{k: nonnegative_float for k in NONNEGATIVE},
                     "b": finite_float, "c": finite_float}

    def build(self):
        # the fleet has no bus of its own: each unit has one (ParticipantData.build needs one)
        market = self.market()
        self.build_participant(market)
        market.register_participant(self)

    @property
    def bus(self):
        return None

    def build_participant(self, market):
        table = self._read_table(self.config.units)
        self._table = table
        T = list(market.T)
        U = list(table.index)
        self.U = Set(initialize=U, ordered=True, doc="units")
        col = {k: table[k].to_numpy(float) for k in COLUMNS}
        lo = {(u, t): v for u, v in zip(U, col["p_min"].tolist()) for t in T}
        hi = {(u, t): v for u, v in zip(U, col["p_max"].tolist()) for t in T}
        self.p_max = Param(self.U, market.T, initialize=from_table(hi), mutable=True, domain=Any,
                           doc="upper limit")
        self.p_min = Param(self.U, market.T, initialize=from_table(lo), mutable=True, domain=Any,
                           doc="lower limit")
        for k, doc in (("a", "quadratic coefficient (currency per power unit^2 per hour)"),
                       ("b", "linear coefficient (currency per power unit per hour)"),
                       ("c", "constant per hour (currency/h)")):
            setattr(self, k, Param(self.U, initialize=from_table(dict(zip(U, col[k].tolist()))),
                                   mutable=True, domain=Any, doc=doc))
        self.p = Var(self.U, market.T, initialize=from_table(lo), doc="output (power units)")
        p, p_max, p_min = self.p, self.p_max, self.p_min
        self.ineq_max = Constraint(self.U, market.T,
                                   rule=from_table({k: p[k] <= p_max[k] for k in hi}))
        self.ineq_min = Constraint(self.U, market.T,
                                   rule=from_table({k: p[k] >= p_min[k] for k in hi}))
        self.p_inj = Expression(self.U, market.T, initialize=from_table({k: p[k] for k in hi}),
                                doc="net injection (power units)")
        dt = {t: float(market.dt[t]) for t in T}
        quad = set(table.index[col["a"] != 0])
        a, b, c = self.a, self.b, self.c
        cost = {}
        for u in U:
            if u in quad:
                cost[u] = sum(dt[t] * (a[u] * p[u, t] ** 2 + b[u] * p[u, t] + c[u]) for t in T)
            else:
                cost[u] = sum(dt[t] * (b[u] * p[u, t] + c[u]) for t in T)
        self.bid_cost = Expression(self.U, initialize=from_table(cost),
                                   doc="as-bid cost of each unit over the horizon (currency)")
        self._quadratic = quad
        terms = {u: [] for u in U}
        mwh = {t: dt[t] * market.power_unit_mw for t in T}
        for option, (term, rate_doc, term_doc) in ProducerData.OUTPUT_TERMS.items():
            has = [u for u, v in zip(U, col[option].tolist()) if not np.isnan(v)]
            if not has:
                continue
            idx = Set(initialize=has, ordered=True, doc=f"units with a {option}")
            self.add_component(f"U_{option}", idx)
            rate = Param(idx, initialize=from_table(dict(zip(has, table.loc[has, option].astype(float)))),
                         mutable=True, domain=Any, doc=rate_doc)
            self.add_component(option, rate)
            self.add_component(term, Expression(
                idx, market.T,
                initialize=from_table({(u, t): rate[u] * p[u, t] * mwh[t] for u in has for t in T}),
                doc=term_doc))
            for u in has:
                terms[u].append(term)
        self._units = [FleetUnit(self, u, bus, terms[u]) for u, bus in zip(U, table["bus"])]

    def _read_table(self, table):
        if table is None:
            self.fail("option 'units' (a DataFrame indexed by unit) is required")
        unknown = [c for c in table.columns if c not in COLUMNS and c != "bus"]
        if unknown:
            self.fail(f"unknown column(s) {unknown} in 'units'; columns are "
                      f"{['bus'] + list(COLUMNS)}")
        for need in ("bus", "p_max"):
            if need not in table.columns:
                self.fail(f"the 'units' table needs a column {need!r}")
        if len(table) == 0:
            self.fail("the 'units' table has no unit")
        dup = table.index[table.index.duplicated()]
        if len(dup):
            self.fail(f"unit {dup[0]!r} appears more than once in 'units'")
        for u in table.index:
            if isinstance(u, (bool, np.bool_)) or not isinstance(u, (str, int, np.integer)):
                self.fail(f"unit {u!r}: units are named by strings or integers")
        out = pd.DataFrame(index=pd.Index([u.item() if isinstance(u, np.integer) else u
                                           for u in table.index], name="unit"))
        buses = []
        for u, b in zip(out.index, table["bus"]):
            try:
                buses.append(bus_label(b))
            except ValueError as e:
                self.fail(f"unit {u!r}: column 'bus': {e}")
        out["bus"] = buses
        for k, default in COLUMNS.items():
            if k not in table.columns:
                out[k] = default
                continue
            raw = table[k].to_numpy(object)
            vals = np.empty(len(raw))
            for i, v in enumerate(raw):
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
                    self.fail(f"unit {out.index[i]!r}: column {k!r}: expected a number, got {v!r}")
                vals[i] = float(v)
            bad = ~np.isfinite(vals) & ~(np.isnan(vals) if default is not None and np.isnan(default)
                                         else np.zeros(len(vals), bool))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                self.fail(f"unit {out.index[i]!r}: column {k!r} must be a finite number, got {vals[i]}")
            if k in NONNEGATIVE and (vals < 0).any():
                i = int(np.flatnonzero(vals < 0)[0])
                what = "the cost must be convex" if k == "a" else "a negative value"
                self.fail(f"unit {out.index[i]!r}: column {k!r} must be >= 0 ({what}), got {vals[i]}")
            out[k] = vals
        over = out["p_min"].to_numpy() > out["p_max"].to_numpy()
        if over.any():
            i = int(np.flatnonzero(over)[0])
            self.fail(f"unit {out.index[i]!r}: p_min = {out['p_min'].iat[i]} exceeds "
                      f"p_max = {out['p_max'].iat[i]}")
        return out

    # -- the participant contract (the fleet's units are the participants) --------------------
    def units(self):
        """The fleet's units, each a participant of the market (:class:`FleetUnit`)."""
        return self._units

    def unit(self, label):
        """The unit called ``label``."""
        for u in self._units:
            if u.unit == label:
                return u
        self.fail(f"has no unit {label!r}; units are {[u.unit for u in self._units][:10]}")

    def objective_cost(self):
        """The sum of the units' as-bid costs."""
        return sum(self.bid_cost[u] for u in self.U)

    def policy_role(self):
        return "supply"

    def withdrawal(self):
        """Withdrawing the fleet withdraws every unit (and deactivates the block)."""
        from pyomo_ecc.core import changes as whatif
        out = [ch for u in self._units for ch in u.withdrawal()]
        out.append(whatif.Deactivate(self.name))
        return out

    def check_params(self):
        for (u, t), hi in self.p_max.items():
            lo = self.p_min[u, t].value
            if lo > hi.value:
                self.fail(f"parameter 'p_min[{u!r},{t!r}]' = {lo} exceeds "
                          f"'p_max[{u!r},{t!r}]' = {hi.value}")
        for u in self.U:
            a = float(self.a[u].value)
            if a != 0 and u not in self._quadratic:
                self.fail(f"parameter 'a[{u!r}]' = {a}: the unit was built linear (a = 0), so a "
                          f"quadratic term would be ignored; give it a non-zero a in the table")
