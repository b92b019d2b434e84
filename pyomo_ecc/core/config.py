"""Validated option domains for block ``CONFIG`` dictionaries.

Each domain is a callable that returns the cleaned value or raises ``ValueError`` with a message
that says what is wrong; the block base class prefixes it with the block and option name.
"""
import math
from collections.abc import Mapping, Sequence

import numpy as np

#: limits and loads (:func:`series`) smaller than this in absolute value are snapped to zero
#: before a model is built: HiGHS's QP solver can fail on bounds such as -1e-10. Coefficients are
#: never snapped (a quadratic cost coefficient in W units can legitimately be 1e-14).
SNAP = 1e-9


def finite_float(x):
    """A finite real number (no NaN, no infinity). Strings and booleans are refused: ``"48"`` is
    text, not a price, and ``True`` is not 1 MW."""
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"expected a number, got the boolean {x!r}")
    if isinstance(x, (str, bytes)):
        raise ValueError(f"expected a number, got the string {x!r} (write it without quotes)")
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x.item()
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {x!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"expected a finite number, got {v}")
    return v


def number(x, what, error=None, minimum=None, strict=False):
    """:func:`finite_float` for input outside a block ``CONFIG`` (mechanisms, importers, the
    CGE data): raises ``error`` (default :class:`~pyomo_ecc.errors.InputError`) whose message
    starts with ``what``, the item it names (an order, agent, cell or key). With ``minimum`` the
    value must be ``>= minimum`` (``> minimum`` when ``strict``)."""
    if error is None:
        from pyomo_ecc.errors import InputError as error
    try:
        v = finite_float(x)
    except ValueError as e:
        raise error(f"{what}: {e}") from None
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise error(f"{what} must be {'>' if strict else '>='} {minimum:g}, got {v:g}")
    return v


def _snapped(v):
    return 0.0 if abs(v) < SNAP else v


def nonnegative_float(x):
    """A finite real number >= 0."""
    v = finite_float(x)
    if v < 0:
        raise ValueError(f"must be >= 0, got {v}")
    return v


def positive_float(x):
    """A finite real number > 0."""
    v = finite_float(x)
    if v <= 0:
        raise ValueError(f"must be > 0, got {v}")
    return v


def series(x):
    """A number (the same in every period) or a sequence of numbers (one per period).

    Returns a float or a tuple of floats; its length is checked against the market's time set
    when the block is built (:func:`per_period`).
    """
    if isinstance(x, Mapping):
        raise ValueError("give a number or a list with one number per period, not a mapping")
    if isinstance(x, (str, bytes)):
        raise ValueError(f"expected a number or a list of numbers, got {x!r}")
    if isinstance(x, (Sequence, np.ndarray)) or hasattr(x, "__array__"):
        vals = list(np.asarray(x, dtype=object).ravel())
        out = []
        for k, v in enumerate(vals):
            try:
                out.append(_snapped(finite_float(v)))
            except ValueError as e:
                raise ValueError(f"entry {k}: {e}") from None
        return tuple(out)
    return _snapped(finite_float(x))


def nonnegative_series(x):
    """Like :func:`series`, every value >= 0."""
    v = series(x)
    for k, e in enumerate(v if isinstance(v, tuple) else (v,)):
        if e < 0:
            where = f"entry {k}: " if isinstance(v, tuple) else ""
            raise ValueError(f"{where}must be >= 0, got {e}")
    return v


def optional(domain):
    """The domain ``domain`` that also accepts ``None`` (an option that may be left out)."""
    def check(x):
        return None if x is None else domain(x)
    check.__name__ = f"optional_{domain.__name__}"
    check.__doc__ = f"None, or {domain.__doc__ or domain.__name__}"
    return check


def efficiency(x):
    """An efficiency in (0, 1]."""
    v = finite_float(x)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"an efficiency must be in (0, 1], got {v}")
    return v


def per_period(value, periods, what):
    """Expand a :func:`series` value to a dict ``{t: value}`` over ``periods``."""
    periods = list(periods)
    if isinstance(value, tuple):
        if len(value) != len(periods):
            raise ValueError(f"{what} has {len(value)} values but the market has {len(periods)} periods")
        return dict(zip(periods, value))
    return {t: value for t in periods}


def steps(x):
    """A stepwise curve: a sequence of ``(quantity, price)`` pairs, quantities > 0.

    Quantities are segment widths (power units), prices are currency per power unit per hour
    (currency/MWh when the power unit is MW).
    """
    if x is None:
        return None
    try:
        pairs = [tuple(p) for p in x]
    except TypeError:
        raise ValueError(f"expected a list of (quantity, price) pairs, got {x!r}") from None
    if not pairs:
        raise ValueError("a stepwise curve needs at least one (quantity, price) segment")
    out = []
    for k, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"segment {k}: expected (quantity, price), got {pair!r}")
        try:
            q, p = finite_float(pair[0]), finite_float(pair[1])
        except ValueError as e:
            raise ValueError(f"segment {k}: {e}") from None
        if q <= 0:
            raise ValueError(f"segment {k}: quantity must be > 0, got {q}")
        out.append((q, p))
    return tuple(out)


def bus_label(x):
    """A bus label: a string or an integer."""
    if isinstance(x, bool) or not isinstance(x, (str, int, np.integer)):
        raise ValueError(f"a bus is named by a string or an integer, got {x!r}")
    return x.item() if isinstance(x, np.integer) else x


def number_vector(x, what, labels=None, n=None, minimum=None, strict=False, error=None):
    """A 1-D float array from a sequence (list, tuple, array, pandas Series) of numbers, each
    through :func:`number`; the error names the entry by its label (``labels[k]``, the Series'
    index, or its position). ``n``: the required length."""
    if error is None:
        from pyomo_ecc.errors import InputError as error
    if isinstance(x, (str, bytes, Mapping)) or not hasattr(x, "__len__"):
        raise error(f"{what}: expected a list of numbers (one per entry), got {x!r}")
    if hasattr(x, "index") and labels is None and hasattr(x, "to_numpy"):
        labels = list(x.index)
        x = x.to_numpy()
    arr = np.asarray(x, dtype=object)
    if arr.ndim != 1:
        raise error(f"{what}: expected a flat list of numbers, got an array of shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise error(f"{what}: expected {n} values (one per entry), got {len(arr)}")
    labels = list(range(len(arr))) if labels is None else list(labels)
    return np.array([number(v, f"{what}[{labels[k]!r}]", error, minimum, strict)
                     for k, v in enumerate(arr)], dtype=float)


def flag(x):
    """True or False (``bool("no")`` would be True: strings and numbers are refused)."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    raise ValueError(f"expected True or False, got {x!r}")
