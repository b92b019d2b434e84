r"""Which double-auction rule has which property: IC, IR, budget balance, efficiency.

The rules themselves are options of the one entry point
:func:`pyomo_ecc.double_auction <pyomo_ecc.mechanisms.auction.double_auction>` (``rule=``; the
rule table, formulas and sources are in :mod:`pyomo_ecc.mechanisms.auction`). This module turns a
rule into a mechanism over reports (:func:`rule_mechanism`) and checks it with
:mod:`pyomo_ecc.mechanisms.properties` (:func:`property_table`): incentive compatibility by a
search over price misreports of every agent (others truthful), individual rationality, weak and
strong budget balance (payments sum :math:`\ge 0` / :math:`= 0`) and efficiency (realised /
optimal welfare at the true values).

The table below is :func:`property_table` on :data:`EXAMPLE_BOOKS` (three books of unit orders)
with price misreports over :data:`EXAMPLE_GRID` (0 to 15 in steps of 1.5), MUDA with the fixed
alternating split of :func:`example_instances`, rendered by :func:`render_property_table`; the
test suite recomputes it and compares it to this text, so it cannot go stale. "max gain" is the
largest gain of a misreport found, "surplus" the range of the budget surplus over the books,
"efficiency loss" one minus the smallest realised / optimal welfare:

.. property-table

=============================  ===  ===  =======  =========  ========  ========  ===============
rule                           IC   IR   weak BB  strong BB  max gain  surplus   efficiency loss
=============================  ===  ===  =======  =========  ========  ========  ===============
``vertical_overlap_midpoint``  no   yes  yes      yes        0.5       0         0
``last_accepted_supply``       no   yes  yes      yes        2         0         0
``last_accepted_demand``       no   yes  yes      yes        1         0         0
``midpoint``                   no   yes  yes      yes        1         0         0
``pay_as_bid``                 no   yes  yes      no         6         10 to 15  0
``mcafee``                     yes  yes  yes      no         0         0 to 2    0.06667
``trade_reduction``            yes  yes  yes      no         0         2 to 3    0.3
``huang``                      yes  yes  yes      no         0         2 to 3    0.3
``muda``                       yes  yes  yes      no         0         1 to 1.5  0.06667
``muda_lottery``               yes  yes  yes      yes        0         0         0.8
``vcg``                        yes  yes  no       no         0         -3 to -2  0
=============================  ===  ===  =======  =========  ========  ========  ===============

.. end-property-table

(Myerson & Satterthwaite: no rule has all four of IC, IR, budget balance and efficiency.) VCG
(:func:`~pyomo_ecc.mechanisms.properties.auction_mechanism` with ``payment="vcg"``) is the
efficient truthful benchmark and runs a deficit.

``clear`` (also ``pyomo_ecc.auction_rule``), the separate entry point of earlier versions, is
deprecated: it warns and calls ``double_auction(bids, asks, rule=...)``, same result.

Example (McAfee's reduction is truthful and weakly budget balanced on seed 002's book)::

    >>> from pyomo_ecc.mechanisms.auction_rules import rule_mechanism
    >>> from pyomo_ecc.mechanisms.properties import auction_value, check_ic
    >>> types = {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 8, 1),
    ...          "s1": ("ask", 5, 1), "s2": ("ask", 7, 1), "s3": ("ask", 9, 1)}
    >>> grid = {a: [(t[0], p, 1) for p in range(0, 16) if p != t[1]] for a, t in types.items()}
    >>> check_ic(rule_mechanism("mcafee"), types, auction_value, grid).attrs["ic"]
    True
    >>> check_ic(rule_mechanism("midpoint"), types, auction_value, grid).attrs["ic"]
    False
"""
import warnings

import numpy as np
import pandas as pd

from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.auction import RULES as _ALL_RULES
from pyomo_ecc.mechanisms.auction import UNIFORM_RULES, AuctionResult, double_auction  # noqa: F401

#: the rules of the property table (``"uniform"`` and ``"k"`` are the midpoint at k = 0.5)
RULES = ("vertical_overlap_midpoint", "last_accepted_supply", "last_accepted_demand", "midpoint",
         "pay_as_bid", "mcafee", "trade_reduction", "huang", "muda", "muda_lottery")
#: the result type of earlier versions, now the one result of every rule
RuleResult = AuctionResult

#: the books of the documented property table: true types ``{agent: (side, price, quantity)}``
EXAMPLE_BOOKS = (
    {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 9, 1), "b4": ("bid", 6, 1),
     "s1": ("ask", 3, 1), "s2": ("ask", 5, 1), "s3": ("ask", 8, 1), "s4": ("ask", 10, 1)},
    {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 9, 1), "b4": ("bid", 4, 1),
     "s1": ("ask", 3, 1), "s2": ("ask", 5, 1), "s3": ("ask", 8, 1), "s4": ("ask", 11, 1)},
    {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 8, 1),
     "s1": ("ask", 5, 1), "s2": ("ask", 7, 1), "s3": ("ask", 9, 1)},
)
#: the misreported prices searched for the documented table
EXAMPLE_GRID = tuple(float(x) for x in np.arange(0.0, 15.5, 1.5))


def example_instances():
    """:data:`EXAMPLE_BOOKS` as :func:`property_table` instances, the MUDA rules with a fixed
    split (agents alternately left and right, in book order) and Lottery-MUDA with one lottery
    drawn for each book (``numpy.random.default_rng(book number)``, a priority over the agents'
    names, independent of their reports)."""
    out = []
    for b, t in enumerate(EXAMPLE_BOOKS):
        split = {a: ("left" if i % 2 == 0 else "right") for i, a in enumerate(t)}
        rank = dict(zip(sorted(t), (int(r) for r in np.random.default_rng(b).permutation(len(t)))))
        out.append((t, {"muda": {"split": split}, "muda_lottery": {"split": split, "lottery": rank}}))
    return out


def clear(bids, asks, rule="vertical_overlap_midpoint", scarcity_price=None, rng=None, split=None):
    """Deprecated: use :func:`pyomo_ecc.double_auction` ``(bids, asks, rule=...)`` (same
    result)."""
    warnings.warn("pyomo_ecc.auction_rule / mechanisms.auction_rules.clear is deprecated; use "
                  "pyomo_ecc.double_auction(bids, asks, rule=...), which returns the same result",
                  DeprecationWarning, stacklevel=2)
    return double_auction(bids, asks, rule, rng=rng, scarcity_price=scarcity_price, split=split)


# -- the rules as mechanisms (for pyomo_ecc.mechanisms.properties) ---------------------------------
def rule_mechanism(rule, **options):
    """A rule as a mechanism over reports ``{agent: (side, price, quantity)}`` for
    :func:`~pyomo_ecc.mechanisms.properties.check_ic` / ``check_ir``; the outcome's allocation
    is each agent's fill and its payments those of
    :func:`~pyomo_ecc.mechanisms.auction.double_auction` (``options`` go to it; for
    MUDA give a fixed ``split``, so that the mechanism is deterministic)."""
    from pyomo_ecc.mechanisms.auction import Order
    from pyomo_ecc.mechanisms.properties import Outcome

    if rule not in _ALL_RULES:
        raise InputError(f"unknown rule {rule!r}; choose one of {_ALL_RULES}")

    def run(reports):
        orders = []
        for a, t in reports.items():
            side, price, qty = t
            orders.append(Order(a, side, float(price), float(qty), 0.0))
        res = double_auction([o for o in orders if o.side == "bid"],
                             [o for o in orders if o.side == "ask"], rule, **options)
        names = res.orders.index.get_level_values("order")
        fills = dict(zip(names, res.orders["filled"].to_numpy(dtype=float)))
        pays = dict(zip(names, res.orders["payment"].to_numpy(dtype=float)))
        return Outcome(fills, pays, {"result": res})

    return run


def property_table(instances, price_grid, rules=RULES, include_vcg=True, tol=1e-6, progress=False):
    """IC, IR, weak / strong budget balance and efficiency of each rule on ``instances``.

    ``instances``: list of ``(types, options)`` with ``types = {agent: (side, price, qty)}``
    (true types) and ``options`` per rule (``{rule: {...}}``, e.g. a MUDA split). Every agent's
    price misreports over ``price_grid`` are searched (others truthful). Returns a DataFrame
    indexed ``rule`` with ``ic`` (no gain > tol on any instance), ``max_gain``, ``ir``,
    ``weak_bb``, ``strong_bb``, ``min_surplus``, ``max_surplus`` and ``efficiency`` (the
    smallest realised / optimal welfare). ``progress``: a progress bar over the rules.
    """
    from pyomo_ecc.core.progress import tqdm
    from pyomo_ecc.mechanisms.properties import (auction_mechanism, auction_value, budget_balance,
                                                 check_ic, check_ir, efficiency_ratio)

    grid = [float(p) for p in price_grid]
    names = list(rules) + (["vcg"] if include_vcg else [])
    rows = []
    for name in tqdm(names, desc="auction rules", disable=not progress):
        acc = dict(ic=True, max_gain=0.0, ir=True, weak_bb=True, strong_bb=True,
                   min_surplus=np.inf, max_surplus=-np.inf, efficiency=np.inf)
        for types, opts in instances:
            mech = (auction_mechanism("vcg") if name == "vcg"
                    else rule_mechanism(name, **dict(opts.get(name, {}))))
            mis = {a: [(t[0], p, t[2]) for p in grid if p != t[1]] for a, t in types.items()}
            ic = check_ic(mech, types, auction_value, mis, tol=tol)
            ir = check_ir(mech, types, auction_value, tol=tol)
            out = mech(dict(types))
            bb = budget_balance(out, tol=tol)
            w_opt = _welfare_opt(types)
            eff = efficiency_ratio(out, types, auction_value, w_opt) if w_opt > 0 else 1.0
            acc["ic"] &= ic.attrs["ic"]
            acc["max_gain"] = max(acc["max_gain"], ic.attrs["max_gain"])
            acc["ir"] &= ir.attrs["ir"]
            acc["weak_bb"] &= bb["weak"]
            acc["strong_bb"] &= bb["strong"]
            acc["min_surplus"] = min(acc["min_surplus"], bb["surplus"])
            acc["max_surplus"] = max(acc["max_surplus"], bb["surplus"])
            acc["efficiency"] = min(acc["efficiency"], eff)
        rows.append(dict(rule=name, **acc))
    return pd.DataFrame(rows).set_index("rule")


def _welfare_opt(types):
    from pyomo_ecc.mechanisms.auction import Order

    orders = [Order(a, t[0], float(t[1]), float(t[2]), 0.0) for a, t in types.items()]
    return double_auction([o for o in orders if o.side == "bid"],
                          [o for o in orders if o.side == "ask"]).extra["optimal_welfare"]


def render_property_table(df, fmt="rst"):
    """:func:`property_table`'s frame as the reStructuredText table of the module doc
    (``fmt="rst"``) or the Markdown table of the README (``fmt="markdown"``)."""
    if fmt not in ("rst", "markdown"):
        raise InputError(f"unknown table format {fmt!r}; choose 'rst' or 'markdown'")
    def yn(v):
        return "yes" if bool(v) else "no"

    def num(x):
        x = 0.0 if abs(x) < 5e-10 else float(x)
        return f"{x:.4g}"

    cols = ["rule", "IC", "IR", "weak BB", "strong BB", "max gain", "surplus", "efficiency loss"]
    rows = []
    for rule, r in df.iterrows():
        lo, hi = num(r["min_surplus"]), num(r["max_surplus"])
        rows.append([f"``{rule}``", yn(r["ic"]), yn(r["ir"]), yn(r["weak_bb"]), yn(r["strong_bb"]),
                     num(r["max_gain"]), lo if lo == hi else f"{lo} to {hi}", num(1.0 - r["efficiency"])])
    if fmt == "markdown":
        return "\n".join("| " + " | ".join(r) + " |" for r in
                         [cols, ["---"] * len(cols)] + [[r[0].strip("`")] + r[1:] for r in rows])
    width = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    rule_line = "  ".join("=" * w for w in width)

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, width)).rstrip()
    return "\n".join([rule_line, line(cols), rule_line] + [line(r) for r in rows] + [rule_line])


def documented_property_table(fmt="rst"):
    """The table of the module doc (or the README's, ``fmt="markdown"``), recomputed:
    :func:`render_property_table` of :func:`property_table` on :func:`example_instances` and
    :data:`EXAMPLE_GRID`."""
    return render_property_table(property_table(example_instances(), EXAMPLE_GRID), fmt)
