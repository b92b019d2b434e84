r"""Duals to prices, in one place.

Every price is :math:`\pi = s\,\mu / w` (see :mod:`pyomo_ecc.pricing.declarations`): the dual
:math:`\mu` of a declared constraint in the solver layer's convention (change of total cost per
unit increase of the right-hand side), the declared sign :math:`s`, and the weight :math:`w`
(:math:`\Delta t_t` times MW per power unit for balances, 1 for quantities).

The LMP is therefore the change in total cost, in currency per MWh, when one more MW of load is
served at that bus for one period, whatever the period length or power unit.
"""
import pandas as pd
import pyomo.environ as pyo

from pyomo_ecc.core.contract import PRICE_UNITS, price_weight  # noqa: F401
from pyomo_ecc.core.heap import frozen_heap
from pyomo_ecc.core.market import require_markets
from pyomo_ecc.errors import InputError, PriceError

def _dual_suffix(model):
    blk = model
    while blk is not None:
        suffix = blk.component("dual")
        if isinstance(suffix, pyo.Suffix):
            return suffix
        blk = blk.parent_block()
    return None


def _price_rows(model, name, dual_of):
    """(rows, levels, bases) of every price ``name`` in ``model``, from ``dual_of(constraint)``
    (None: the model's dual suffix, which must hold every declared constraint)."""
    if not isinstance(name, str):
        raise PriceError(f"a price is named by a string such as 'lmp', got {name!r}")
    rows, levels = [], None
    basis = set()
    declared = set()
    for mk in require_markets(model):
        if dual_of is None:
            require_solved(mk)
        elif not mk.assembled:
            raise PriceError(f"market '{mk.name}' has not been solved: call pyomo_ecc.solve(model) first")
        suffix = _dual_suffix(mk) if dual_of is None else None
        weights = {}   # (kind, t) -> weight: one lookup per period, not per declaration
        for d in mk.price_declarations():
            declared.add(d.price)
            if d.price != name:
                continue
            if dual_of is None:
                if suffix is None or d.constraint not in suffix:
                    raise PriceError(f"no dual for constraint '{d.constraint.name}': solve the model with "
                                     f"pyomo_ecc.solve(...) before asking for '{name}'")
                dual = suffix[d.constraint]
            else:
                dual = dual_of(d.constraint)
            weight = weights.get((d.kind, d.t))
            if weight is None:
                weight = weights[d.kind, d.t] = price_weight(mk, d.kind, d.t)
            rows.append(d.index + (d.sign * dual / weight + 0.0,))   # + 0.0: no negative zero
            levels = d.levels
        basis.add(mk._pricing_basis)
    if levels is None:
        import difflib
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PriceError(f"no block in '{model.name}' declares a price called '{name}'{hint} "
                         f"Declared prices: {', '.join(sorted(declared)) or 'none'}")
    return rows, levels, basis


def _market_of(model, constraint=None):
    """The market of ``model`` that holds ``constraint`` (or the only one)."""
    from pyomo_ecc.core.market import MarketData
    mks = require_markets(model)
    if constraint is not None and hasattr(constraint, "parent_block"):
        b = constraint.parent_block()
        while b is not None and not isinstance(b, MarketData):
            b = b.parent_block()
        if b is not None and any(b is mk for mk in mks):
            return b
    if len(mks) > 1:
        raise InputError(f"'{model.name}' holds {len(mks)} markets "
                         f"({', '.join(mk.name for mk in mks)}); declare the price on the market "
                         f"whose constraint it is: market.declare_price(...)")
    return mks[0]


def declare_price(model, constraint, name, sign=None, kind="power", unit=None, levels=None,
                  t=None):
    """Publish the dual of the user's ``constraint`` as the price ``name``:
    :func:`price_frame` then returns it normalised like every built-in price (per period length
    and power unit, with the sign convention of this module), and :func:`price_names` lists it.
    See :meth:`pyomo_ecc.core.market.MarketData.declare_price` for the arguments (the market is
    the one that holds ``constraint``, or the only one in ``model``).

    >>> import pyomo.environ as pyo, pyomo_ecc as ecc
    >>> m = ecc.Market(periods=2, dt=0.5)
    >>> m.g = ecc.Producer(bus="A", b=10.0, p_max=100)
    >>> m.h = ecc.Producer(bus="A", b=25.0, p_max=100)
    >>> m.d = ecc.FixedLoad(bus="A", p=80)
    >>> m.cap = pyo.Constraint(m.T, rule=lambda mk, t: mk.g.p[t] <= 50)      # MW, each period
    >>> _ = ecc.declare_price(m, m.cap, "g_cap_price")
    >>> _ = ecc.solve(m)
    >>> ecc.price_frame(m, "g_cap_price")["g_cap_price"].tolist()   # 25 - 10 $/MWh, any dt
    [15.0, 15.0]
    """
    return _market_of(model, constraint).declare_price(constraint, name, sign=sign, kind=kind,
                                                        unit=unit, levels=levels, t=t)


def price_names(model):
    """Every price the markets of ``model`` declare (the blocks' and the user's): DataFrame
    indexed ``price`` with ``unit`` (currency per ...), ``kind``, ``sign``, ``levels`` (the
    index of its :func:`price_frame`), ``count`` (entries) and ``declared_by`` (the blocks
    whose constraints form it)."""
    rows = {}
    mks = require_markets(model)
    for mk in mks:
        mk.assemble()
        cur = mk.config.currency
        for d in mk.price_declarations():
            r = rows.setdefault(d.price, {"unit": set(), "kind": set(), "sign": set(),
                                          "levels": d.levels, "count": 0, "declared_by": set()})
            r["unit"].add(d.unit if d.unit is not None else cur + PRICE_UNITS[d.kind])
            r["kind"].add(d.kind)
            r["sign"].add(d.sign)
            r["count"] += 1
            r["declared_by"].add(d.constraint.parent_component().parent_block().name)
    out = pd.DataFrame(
        [(n, ", ".join(sorted(map(str, r["unit"]))), ", ".join(sorted(r["kind"])),
          r["sign"].pop() if len(r["sign"]) == 1 else "mixed", ", ".join(r["levels"]),
          r["count"], ", ".join(sorted(r["declared_by"]))) for n, r in rows.items()],
        columns=["price", "unit", "kind", "sign", "levels", "count", "declared_by"])
    return out.set_index("price")


def price_frame(model, name):
    """All prices called ``name`` in ``model`` as a DataFrame (index levels from the declarations).

    Raises :class:`~pyomo_ecc.errors.PriceError` when the model was not solved by
    :func:`pyomo_ecc.solve` (no duals, or duals of unknown sign) or when no block declares such a
    price (the message lists the declared ones).
    """
    with frozen_heap():   # a frame of many prices allocates many objects (core.heap)
        rows, levels, basis = _price_rows(model, name, None)
        df = pd.DataFrame(rows, columns=list(levels) + [name]).set_index(list(levels))
    df.attrs["pricing_basis"] = "; ".join(sorted(b for b in basis if b))
    return df


def require_solved(model):
    """Raise :class:`PriceError` ("solve first") unless every market in ``model`` has been
    solved by :func:`pyomo_ecc.solve` (results and prices of an unsolved market would be the
    variables' starting values)."""
    mks = require_markets(model)
    for mk in mks:
        if not mk.assembled:
            raise PriceError(f"market '{mk.name}' has not been solved: call pyomo_ecc.solve(model) "
                             f"first, then ask for results and prices")
        if mk._pricing_basis is None:
            raise PriceError(f"market '{mk.name}' was not solved by pyomo_ecc.solve (no duals from it): "
                             f"its last solve failed, or it was solved by another route (duals loaded "
                             f"that way have no known sign convention: Ipopt's are reversed); solve it "
                             f"with pyomo_ecc.solve(model, solver=...) first")


def price_frames(market, names):
    """Several declared prices of one solved ``market`` at once: ``{name: DataFrame}``, each
    frame exactly as :func:`price_frame` publishes it, from one pass over the declarations
    (what a decomposition reading many prices of a large network needs). A name that no block
    declares maps to None."""
    if not market.assembled:
        raise PriceError(f"market '{market.name}' has not been solved: call pyomo_ecc.solve(model) first")
    suffix = _dual_suffix(market)
    wanted = set(names)
    rows = {n: [] for n in names}
    levels = {}
    weights = {}
    for d in market.price_declarations():
        if d.price not in wanted:
            continue
        if suffix is None or d.constraint not in suffix:
            raise PriceError(f"no dual for constraint '{d.constraint.name}': solve the model with "
                             f"pyomo_ecc.solve(...) before asking for '{d.price}'")
        if market._pricing_basis is None:
            raise PriceError(f"market '{market.name}' was not solved by pyomo_ecc.solve: duals "
                             f"loaded by another route have no known sign convention; solve with "
                             f"pyomo_ecc.solve(model, solver=...) for prices")
        key = (d.kind, d.t)
        if key not in weights:
            weights[key] = price_weight(market, d.kind, d.t)
        rows[d.price].append(d.index + (d.sign * suffix[d.constraint] / weights[key],))
        levels[d.price] = d.levels
    out = {}
    for n in names:
        if n not in levels:
            out[n] = None
            continue
        df = pd.DataFrame(rows[n], columns=list(levels[n]) + [n]).set_index(list(levels[n]))
        df.attrs["pricing_basis"] = market._pricing_basis
        out[n] = df
    return out


def price_series(model, name, dual_of=None):
    """The prices ``name`` as a Series, from the model's duals or from ``dual_of(constraint)``
    (duals in the solver layer's convention, e.g. a what-if's row duals): the same
    normalisation as :func:`price_frame`."""
    if dual_of is None:
        return price_frame(model, name)[name]
    rows, levels, _ = _price_rows(model, name, dual_of)
    return pd.DataFrame(rows, columns=list(levels) + [name]).set_index(list(levels))[name]


def prices(model):
    """Locational marginal prices: DataFrame indexed (``bus``, ``t``), column ``lmp``
    (currency per MWh).

    ``df.attrs["pricing_basis"]`` says where the duals come from (``"LP with integers fixed"``
    for a MILP market).

    >>> import pyomo_ecc as ecc
    >>> m = ecc.Market(periods=2, dt=0.25)
    >>> m.g = ecc.Producer(bus=1, b=30.0, p_max=10)
    >>> m.l = ecc.FixedLoad(bus=1, p=[4, 6])
    >>> _ = ecc.solve(m)
    >>> ecc.prices(m)  # doctest: +NORMALIZE_WHITESPACE
          lmp
    bus t
    1   0  30.0
        1  30.0
    """
    return price_frame(model, "lmp")
