r"""The day-ahead market of the seed 001 co-simulation (section 3.2.1): 24-hour SCED on the
three-bus system with LMPs, five-segment offers, load forecast error, settlement (eq. 22).

**Offers** (eq. 20). Unit :math:`i` offers one curve for the whole day,
:math:`S(p, q) = \sum_{k=1}^{5} q_k\,\mathbb{1}_{[p_k, p_u]}`, valid when

* exactly five segments, finite numbers;
* :math:`p_l \le p_1 \le p_2 \le \dots \le p_5 \le p_u` (floor :math:`p_l = 0`, cap
  :math:`p_u = 1000` yuan/MWh);
* :math:`q_k \ge 0` and :math:`\sum_k q_k = q^{cap}_i`, the unit's capacity.

:func:`check_offer` lists every broken rule; :func:`validate_offer` raises
:class:`OfferRejected` naming the unit and the reasons.

**Clearing**. The market is built once (:func:`build_market`): each unit is a
:class:`~pyomo_ecc.Producer` with five mutable segments ``step_q[k]``, ``step_price[k]``, each bus
load a :class:`~pyomo_ecc.FixedLoad` with mutable ``p_load[t]``, the network the seed's
:class:`~pyomo_ecc.DCNetwork`. A round (:func:`clear_round`) is a what-if on that one model
(:class:`~pyomo_ecc.whatif.WhatIf`, compiled once into a live HiGHS model): it sets those
Params, pushes only the changed numbers, re-solves warm from the base basis and undoes the
changes; it never rebuilds. ``engine="solver"`` instead writes the Params into the model and
re-solves it with one kept :class:`~pyomo_ecc.Solver` (Pyomo's persistent HiGHS interface). The
SCED is

.. math::

    \min \sum_{i,t,k} p_{i,k}\, s_{i,t,k} \quad\text{s.t.}\quad 0 \le s_{i,t,k} \le q_{i,k},\;
    \text{DC power flow with line limits},\; \text{balance at every bus and hour,}

and the LMP :math:`\lambda_{b,t}` is the dual of the balance at bus :math:`b`, hour :math:`t`
(yuan/MWh, the convention of :mod:`pyomo_ecc.pricing.prices`).

**Load forecast error**: the realised load is
:math:`L_{b,t} = \hat L_{b,t} + \varepsilon_{b,t}`, :math:`\varepsilon_{b,t} \sim N(0, 1)` MW,
drawn from the experiment's ``numpy.random.Generator`` (:func:`draw_loads`); agents see the
forecast :math:`\hat L` (seed Table 1).

**Settlement** (eq. 22), per unit and day:

.. math::

    R_i = \sum_{t=1}^{24} \left[(\lambda_{b(i),t} - c^v_i)\,q_{i,t} - c^f_i\right] - C_i,
    \qquad C_i = (\rho_i - A_i)\,p^{carbon} \sum_t q_{i,t} \quad\text{(eq. 21)},

and the profit per MWh :math:`R_i / \sum_t q_{i,t}` (NaN when the unit did not run).

=========================  ==============================  ====================================
symbol                     attribute / column              meaning
=========================  ==============================  ====================================
:math:`p_k, q_k`           ``Offer.prices``,               offer segment price and width
                           ``Offer.quantities``
:math:`p_l, p_u`           ``PRICE_FLOOR``, ``PRICE_CAP``  0 and 1000 yuan/MWh
:math:`q^{cap}_i`          ``Unit.capacity``               capacity (MW)
:math:`c^v_i, c^f_i`       ``Unit.variable_cost``,         yuan/MWh, yuan/h (Table 2)
                           ``Unit.fixed_cost``
:math:`\rho_i, A_i`        ``Unit.intensity``,             t/MWh (sec. 3.2.2, Table 3)
                           ``Unit.allocation``
:math:`q_{i,t}`            ``output`` (unit, t)            cleared output (MW in a 1 h period)
:math:`\lambda_{b,t}`      ``lmp`` (bus, t)                LMP (yuan/MWh)
:math:`R_i`                ``profit`` (unit)               eq. 22 (yuan)
=========================  ==============================  ====================================
"""
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError

PRICE_FLOOR = 0.0
PRICE_CAP = 1000.0
N_SEGMENTS = 5
DEFAULT_CASE = "seed001_3bus"
#: seed 001 sec. 3.2.2: units 2, 3, 5, 6 burn coal, units 1 and 4 gas
SEED001_FUEL = {"G1": "gas", "G2": "coal", "G3": "coal", "G4": "gas", "G5": "coal", "G6": "coal"}
#: carbon intensities (t/MWh) of Chinese coal and gas units (sec. 3.2.2)
INTENSITY = {"coal": 0.89, "gas": 0.39}
_QTY_TOL = 1e-6


def allocation_benchmark(fuel, capacity):
    """Free allocation (t/MWh) of a unit by type and size, seed 001 Table 3 (Guangdong):
    coal >= 1000 MW: 0.80; coal 600-1000 MW: 0.88; gas <= 390 MW: 0.44.

    >>> allocation_benchmark("coal", 1200), allocation_benchmark("coal", 640), allocation_benchmark("gas", 360)
    (0.8, 0.88, 0.44)
    """
    if fuel == "coal":
        if capacity >= 1000:
            return 0.80
        if capacity >= 600:
            return 0.88
    elif fuel == "gas":
        if capacity <= 390:
            return 0.44
    else:
        raise InputError(f"unit fuel must be 'coal' or 'gas', got {fuel!r}")
    raise InputError(f"Table 3 has no allowance benchmark for a {fuel} unit of {capacity:g} MW "
                     f"(coal: >= 600 MW, gas: <= 390 MW); give the allocation explicitly")


@dataclass(frozen=True)
class Unit:
    """One generating unit of the co-simulation (seed Table 2 plus its carbon data)."""

    name: str
    bus: object
    capacity: float
    fixed_cost: float
    variable_cost: float
    fuel: str
    intensity: float
    allocation: float

    @property
    def net_carbon_rate(self):
        r""":math:`\rho_i - A_i` (t/MWh): > 0 means the unit must buy allowances."""
        return self.intensity - self.allocation

    def marginal_cost(self, carbon_price):
        """Variable cost plus the net carbon cost per MWh at ``carbon_price`` (yuan/MWh)."""
        return self.variable_cost + self.net_carbon_rate * carbon_price


def seed001_units(case=DEFAULT_CASE, fuel=None):
    """The six units of seed 001 (Table 2 from the case file, fuel by sec. 3.2.2, intensity
    0.89 / 0.39 t/MWh, allocation by Table 3): ``{name: Unit}``."""
    from pyomo_ecc.io.cases import load_case
    case = load_case(case) if isinstance(case, str) else case
    fuel = dict(SEED001_FUEL if fuel is None else fuel)
    units = {}
    for p in case.data.get("producer", []):
        name = p["name"]
        if name not in fuel:
            raise InputError(f"unit {name!r}: no fuel given (coal or gas)")
        f = fuel[name]
        if f not in INTENSITY:
            raise InputError(f"unit {name!r}: fuel must be 'coal' or 'gas', got {f!r}")
        cap = float(p["p_max"])
        units[name] = Unit(name, p["bus"], cap, float(p.get("c", 0.0)), float(p["b"]), f,
                           INTENSITY[f], allocation_benchmark(f, cap))
    return units


# -- offers -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Offer:
    """A five-segment offer: prices (yuan/MWh, non-decreasing) and segment widths (MW)."""

    prices: tuple
    quantities: tuple

    def __post_init__(self):
        object.__setattr__(self, "prices", tuple(float(x) for x in self.prices))
        object.__setattr__(self, "quantities", tuple(float(x) for x in self.quantities))

    @classmethod
    def flat(cls, price, capacity, n=N_SEGMENTS):
        """All capacity at one price, in ``n`` equal segments."""
        return cls((price,) * n, (capacity / n,) * n)

    def as_array(self):
        """``[p_1..p_5, q_1..q_5]``."""
        return np.array(self.prices + self.quantities)

    def price_at(self, q):
        """Offer price of the MW at cumulative quantity ``q`` (the supply curve's inverse)."""
        edge = np.cumsum(self.quantities)
        k = int(np.searchsorted(edge, q, side="left"))
        return self.prices[min(k, len(self.prices) - 1)]


class OfferRejected(InputError):
    """An offer that breaks a market rule; ``reasons`` lists every broken rule."""

    def __init__(self, unit, reasons):
        self.unit = unit
        self.reasons = list(reasons)
        super().__init__(f"offer of unit {unit!r} rejected: " + "; ".join(self.reasons))


def check_offer(offer, capacity, floor=PRICE_FLOOR, cap=PRICE_CAP):
    """Every rule of seed sec. 3.2.1 the offer breaks (an empty list when it is valid)."""
    try:
        p = [float(x) for x in offer.prices]
        q = [float(x) for x in offer.quantities]
    except (TypeError, ValueError, AttributeError):
        return ["an offer needs numeric prices and quantities"]
    out = []
    if len(p) != N_SEGMENTS or len(q) != N_SEGMENTS:
        return [f"an offer has exactly {N_SEGMENTS} segments; got {len(p)} prices and {len(q)} quantities"]
    if not all(math.isfinite(x) for x in p + q):
        return ["prices and quantities must be finite numbers"]
    for k, x in enumerate(p):
        if x < floor:
            out.append(f"segment {k + 1} price {x:g} is below the price floor {floor:g} yuan/MWh")
        if x > cap:
            out.append(f"segment {k + 1} price {x:g} is above the price cap {cap:g} yuan/MWh")
    for k in range(1, N_SEGMENTS):
        if p[k] < p[k - 1]:
            out.append(f"prices must be non-decreasing: segment {k + 1} price {p[k]:g} is below "
                       f"segment {k} price {p[k - 1]:g}")
    for k, x in enumerate(q):
        if x < 0:
            out.append(f"segment {k + 1} quantity {x:g} is negative")
    if abs(sum(q) - capacity) > _QTY_TOL * max(1.0, capacity):
        out.append(f"segment quantities sum to {sum(q):g} MW; they must sum to the capacity "
                   f"{capacity:g} MW")
    return out


def validate_offer(unit, offer):
    """Return ``offer`` if it is valid for ``unit`` (a :class:`Unit`); raise
    :class:`OfferRejected` with every broken rule otherwise."""
    reasons = check_offer(offer, unit.capacity)
    if reasons:
        raise OfferRejected(unit.name, reasons)
    return offer


def project_offer(values, capacity):
    """The valid offer nearest in spirit to an arbitrary vector ``[p_1..p_5, w_1..w_5]`` (for RL
    actions): prices clipped to [floor, cap] and sorted, widths clipped at 0 and scaled to the
    capacity (equal widths when they are all 0)."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size != 2 * N_SEGMENTS or not np.all(np.isfinite(v)):
        raise InputError(f"an offer vector has {2 * N_SEGMENTS} finite numbers; got {v.size}")
    p = np.sort(np.clip(v[:N_SEGMENTS], PRICE_FLOOR, PRICE_CAP))
    w = np.clip(v[N_SEGMENTS:], 0.0, None)
    w = np.full(N_SEGMENTS, capacity / N_SEGMENTS) if w.sum() <= 0 else w * (capacity / w.sum())
    return Offer(tuple(p), tuple(w))


# -- the market model ---------------------------------------------------------------------------
@dataclass
class CosimMarket:
    """The built market (one Pyomo model, kept for the whole experiment) and its data.
    ``engine``: ``"whatif"`` (rounds are what-ifs on :attr:`whatif`) or ``"solver"`` (rounds
    write the Params and re-solve with :attr:`solver`)."""

    model: object
    units: dict
    forecast: pd.DataFrame          # MW, index t (hours), columns bus
    solver: object = field(repr=False, default=None)
    engine: str = "whatif"
    whatif: object = field(repr=False, default=None)

    @property
    def hours(self):
        return list(self.forecast.index)

    @property
    def buses(self):
        return list(self.forecast.columns)


def build_market(case=DEFAULT_CASE, units=None, solver="highs", engine="whatif"):
    """Build the seed 001 three-bus market once: the case's network and loads, each unit a
    producer with five mutable segments (initially all capacity at its variable cost). Returns a
    :class:`CosimMarket`. ``engine="whatif"`` (default): a
    :class:`~pyomo_ecc.whatif.WhatIf` on the model (``solver`` a name: ``"highs"`` is
    incremental); ``engine="solver"``: one kept :class:`~pyomo_ecc.Solver` (``solver`` a name or
    a Solver; ``"highs"`` uses Pyomo's persistent interface)."""
    if engine not in ("whatif", "solver"):
        raise InputError(f"engine must be 'whatif' or 'solver', got {engine!r}")
    import copy

    from pyomo_ecc.io.cases import Case, load_case
    from pyomo_ecc.models.dc_market import build_dc_market
    from pyomo_ecc.solvers import Solver

    case = load_case(case) if isinstance(case, str) else case
    units = seed001_units(case) if units is None else dict(units)
    data = copy.deepcopy(case.data)
    data["producer"] = [{"name": u.name, "bus": u.bus,
                         "steps": [[u.capacity / N_SEGMENTS, u.variable_cost]] * N_SEGMENTS}
                        for u in units.values()]
    model = build_dc_market(Case(name=case.name, path=case.path, meta=case.meta, data=data))
    model.assemble()
    hours = list(model.T)
    forecast = pd.DataFrame({b["id"]: [float(x) for x in b["load"]] for b in data.get("bus", [])
                             if "load" in b}, index=pd.Index(hours, name="t"))
    forecast.columns.name = "bus"
    if engine == "whatif":
        from pyomo_ecc.whatif import WhatIf
        if not isinstance(solver, str):
            raise InputError("engine 'whatif' takes a solver name")
        return CosimMarket(model, units, forecast, solver, engine, WhatIf(model, solver=solver))
    if isinstance(solver, str):
        solver = Solver(solver, persistent=solver == "highs")
    return CosimMarket(model, units, forecast, solver, engine)


def draw_loads(forecast, rng, sd=1.0):
    r"""Realised loads :math:`\hat L + \varepsilon`, :math:`\varepsilon \sim N(0, sd^2)` per bus
    and hour, from ``rng`` (a ``numpy.random.Generator``)."""
    if not isinstance(rng, np.random.Generator):
        raise InputError("draw_loads needs a numpy.random.Generator (np.random.default_rng(seed))")
    eps = rng.standard_normal(forecast.shape) * sd
    return forecast + eps


def _check_offers(market, offers):
    for name, offer in offers.items():
        if name not in market.units:
            raise InputError(f"offer for unknown unit {name!r}; units are {list(market.units)}")
        validate_offer(market.units[name], offer)
    missing = [u for u in market.units if u not in offers]
    if missing:
        raise InputError(f"no offer for unit(s) {missing}")


def model_segments(offer):
    r"""The five (width, price) pairs written into the model for ``offer``: the offer itself when
    every width is positive. A segment of width 0 (allowed by the rules) cannot be a producer
    segment, so it takes the price of the nearest positive segment to its left (else to its
    right) and shares that segment's width equally: the supply curve, hence the SCED, its
    dispatch and its prices, is the same function."""
    q, p = list(offer.quantities), list(offer.prices)
    pos = [k for k in range(len(q)) if q[k] > 0]
    if len(pos) == len(q):
        return list(zip(q, p))
    if not pos:
        raise InputError("an offer needs at least one segment of positive width")
    group = {k: max([j for j in pos if j <= k], default=min(pos)) for k in range(len(q))}
    width, price = [0.0] * len(q), [0.0] * len(q)
    for j in pos:
        members = [k for k in range(len(q)) if group[k] == j]
        for k in members:
            width[k], price[k] = q[j] / len(members), p[j]
    return list(zip(width, price))


def round_changes(market, offers, loads=None):
    """The what-if changes of a round: every unit's segment widths and prices, and the loads
    (DataFrame t x bus, MW)."""
    from pyomo_ecc.whatif import SetParam
    _check_offers(market, offers)
    m = market.model
    ch = []
    for name, offer in offers.items():
        blk = m.component(name)
        seg = model_segments(offer)
        ch.append(SetParam(blk.step_q, {k: seg[k][0] for k in blk.K}))
        ch.append(SetParam(blk.step_price, {k: seg[k][1] for k in blk.K}))
    if loads is not None:
        for bus in loads.columns:
            blk = m.component(f"load_{bus}")
            if blk is None:
                raise InputError(f"no load at bus {bus!r}")
            ch.append(SetParam(blk.p_load, {t: float(loads.at[t, bus]) for t in market.hours}))
    return ch


def set_offers(market, offers):
    """Write the offers into the model's mutable Params (no rebuild; ``engine="solver"``)."""
    _check_offers(market, offers)
    m = market.model
    for name, offer in offers.items():
        blk = m.component(name)
        seg = model_segments(offer)
        for k in blk.K:
            blk.step_q[k], blk.step_price[k] = seg[k]


def set_loads(market, loads):
    """Write realised loads (DataFrame t x bus, MW) into the FixedLoad Params."""
    m = market.model
    for bus in loads.columns:
        blk = m.component(f"load_{bus}")
        if blk is None:
            raise InputError(f"no load at bus {bus!r}")
        for t in market.hours:
            blk.p_load[t] = float(loads.at[t, bus])


@dataclass
class Clearing:
    """One day's clearing: output (MW) by (unit, t), LMP (yuan/MWh) by (bus, t)."""

    output: pd.Series
    lmp: pd.Series
    objective: float


def clear_round(market, offers, loads=None):
    """Clear one day with new offers (and loads) on the one market model: a what-if
    (``engine="whatif"``) or Params written and re-solved with the kept solver
    (``engine="solver"``). The only function that solves the market model."""
    if market.engine == "whatif":
        return _clear_whatif(market, offers, loads)
    from pyomo_ecc.pricing.prices import prices

    set_offers(market, offers)
    if loads is not None:
        set_loads(market, loads)
    res = market.solver.solve(market.model)
    m = market.model
    out = pd.Series({(u, t): float(m.component(u).p[t].value) + 0.0
                     for u in market.units for t in market.hours}, name="output")
    out.index.names = ["unit", "t"]
    lmp = prices(m)["lmp"].rename("lmp") + 0.0
    return Clearing(out.clip(lower=0.0), lmp, res.objective)   # clip: round-off below zero


def _output_exprs(market):
    m = market.model
    if not hasattr(market, "_outputs"):
        market._outputs = {(u, t): m.component(u).p[t] for u in market.units for t in market.hours}
    return market._outputs


def _clear_whatif(market, offers, loads):
    from pyomo_ecc.errors import InfeasibleMarketError, SolverError
    o = market.whatif.run(round_changes(market, offers, loads), prices=["lmp"],
                          values=_output_exprs(market), diagnose=True)
    if o.status == "infeasible":
        raise InfeasibleMarketError(f"the day cannot be cleared: {o.reason}")
    if not o.ok:
        raise SolverError(f"the day's clearing failed ({o.status}): {o.reason}", termination=o.status)
    out = pd.Series(o.values, name="output", dtype=float)
    out.index = pd.MultiIndex.from_tuples(out.index, names=["unit", "t"])
    lmp = o.prices["lmp"].rename("lmp").astype(float) + 0.0
    return Clearing(out.clip(lower=0.0) + 0.0, lmp, float(o.objective))


def settle(market, clearing, carbon_price):
    """Eq. 22 per unit: DataFrame indexed ``unit`` with energy (MWh), revenue, variable cost,
    fixed cost, carbon cost (eq. 21), profit and profit per MWh (yuan, yuan/MWh)."""
    names = list(market.units)
    q = clearing.output.unstack("t").reindex(index=names, columns=market.hours)
    lam = clearing.lmp.unstack("t").reindex(columns=market.hours)
    price = lam.loc[[market.units[n].bus for n in names]].to_numpy()
    qa = q.to_numpy()
    energy = qa.sum(axis=1)
    revenue = (price * qa).sum(axis=1)
    vc = np.array([market.units[n].variable_cost for n in names]) * energy
    fc = np.array([market.units[n].fixed_cost for n in names]) * len(market.hours)
    cc = np.array([market.units[n].net_carbon_rate for n in names]) * carbon_price * energy
    profit = revenue - vc - fc - cc
    with np.errstate(divide="ignore", invalid="ignore"):
        ppm = np.where(energy > 1e-9, profit / np.where(energy > 1e-9, energy, 1.0), np.nan)
    df = pd.DataFrame({"energy": energy, "revenue": revenue, "variable_cost": vc, "fixed_cost": fc,
                       "carbon_cost": cc, "profit": profit, "profit_per_mwh": ppm},
                      index=pd.Index(names, name="unit"))
    return df
