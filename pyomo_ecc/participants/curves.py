r"""Offer and bid curves shared by producers and consumers.

A curve gives the as-bid *value* :math:`V(x)` of a quantity :math:`x \ge 0` in one hour:

* quadratic: :math:`V(x) = a x^2 + b x` (+ the constant :math:`c`);
* stepwise with :math:`k` segments of width :math:`w_k` and price :math:`\pi_k`:
  :math:`V(x) = \sum_k \pi_k s_k`, :math:`x = \sum_k s_k`, :math:`0 \le s_k \le w_k`
  (+ the constant :math:`c`).

The quadratic term is built only when :math:`a \ne 0` at construction, so a linear offer
stays an LP (changing ``a`` from 0 later has no effect). The participant adds :math:`c` per hour (times the commitment status for a producer with
``commitment=True``: a no-load cost).

For a producer :math:`V` is a cost and must be convex (:math:`a \ge 0`, :math:`\pi_k`
non-decreasing); for a consumer it is a utility and must be concave (:math:`a \le 0`,
:math:`\pi_k` non-increasing), so that the market is a convex problem whose duals are prices.

=====================  =========================  =======================================
symbol                 attribute                  meaning
=====================  =========================  =======================================
:math:`a, b, c`        ``a``, ``b``, ``c``        quadratic coefficients (mutable)
:math:`w_k`            ``step_q[k]``              segment width (mutable)
:math:`\pi_k`          ``step_price[k]``          segment price (mutable)
:math:`s_{t,k}`        ``seg[t, k]``              dispatched part of segment k
=====================  =========================  =======================================
"""
from pyomo.environ import Any, Constraint, NonNegativeReals, Param, RangeSet, Var


def build_curve(blk, x, convex):
    """Declare the curve's parameters on ``blk`` for quantity ``x[t]``; return ``{t: V_t}``.

    ``convex`` is True for costs, False for utilities. Coefficients are in the market's own
    units: with power unit ``u`` (MW by default), :math:`a` in currency/(u^2 h), :math:`b` and
    step prices in currency/(u h), :math:`c` in currency/h.
    """
    cfg = blk.config
    market = blk.market()
    blk.c = Param(initialize=0.0 if cfg.c is None else cfg.c, mutable=True, domain=Any,
                  doc="constant per hour (currency/h); a no-load cost under commitment")
    if cfg.steps is not None:
        if any(v is not None for v in (cfg.a, cfg.b)):
            blk.fail("give either quadratic coefficients (a, b) or steps, not both")
        _check_steps(blk, [p for _, p in cfg.steps], convex)
        n = len(cfg.steps)
        blk.K = RangeSet(0, n - 1, doc="curve segments")
        blk.step_q = Param(blk.K, initialize={k: q for k, (q, _) in enumerate(cfg.steps)},
                           mutable=True, domain=Any, doc="segment width (power units)")
        blk.step_price = Param(blk.K, initialize={k: p for k, (_, p) in enumerate(cfg.steps)},
                               mutable=True, domain=Any,
                               doc="segment price (currency per power unit per hour)")
        blk.seg = Var(market.T, blk.K, domain=NonNegativeReals, doc="dispatched part of a segment")
        blk.ineq_seg_ub = Constraint(market.T, blk.K, rule=lambda b, t, k: b.seg[t, k] <= b.step_q[k])
        blk.eq_seg_sum = Constraint(market.T, rule=lambda b, t: x[t] == sum(b.seg[t, k] for k in b.K))
        return {t: sum(blk.step_price[k] * blk.seg[t, k] for k in blk.K) for t in market.T}
    a = 0.0 if cfg.a is None else cfg.a
    b = 0.0 if cfg.b is None else cfg.b
    _check_a(blk, a, convex)
    blk.a = Param(initialize=a, mutable=True, domain=Any,
                  doc="quadratic coefficient (currency per power unit^2 per hour)")
    blk.b = Param(initialize=b, mutable=True, domain=Any,
                  doc="linear coefficient (currency per power unit per hour)")
    if a == 0:   # keep a linear offer linear (an LP for every LP solver)
        return {t: blk.b * x[t] for t in market.T}
    return {t: blk.a * x[t] ** 2 + blk.b * x[t] for t in market.T}


def _check_steps(blk, prices, convex):
    bad = [k for k in range(1, len(prices)) if (prices[k] < prices[k - 1]) == convex
           and prices[k] != prices[k - 1]]
    if bad:
        order = "non-decreasing" if convex else "non-increasing"
        blk.fail(f"non-convex curve: step prices must be {order}, segment {bad[0]} has price "
                 f"{prices[bad[0]]} after {prices[bad[0] - 1]}")


def _check_a(blk, a, convex):
    if (a < 0) if convex else (a > 0):
        need = "a >= 0 (convex cost)" if convex else "a <= 0 (concave utility)"
        blk.fail(f"non-convex curve: quadratic coefficient a = {a}; need {need}")


def check_curve(blk, convex):
    """The rules of :func:`build_curve` on the parameters' current values (after a change):
    monotone step prices, the sign of ``a``, and no quadratic term where the curve was built
    linear (it would be ignored)."""
    if hasattr(blk, "step_price"):
        _check_steps(blk, [float(blk.step_price[k].value) for k in blk.K], convex)
        return
    a = float(blk.a.value)
    _check_a(blk, a, convex)
    if a != 0 and blk.config.a in (None, 0, 0.0):
        blk.fail(f"parameter 'a' = {a}: the curve was built linear (a = 0), so a quadratic term "
                 f"would be ignored; build the participant with a non-zero a")


def curve_marginal(blk, x_value, t=None):
    """Marginal value dV/dx (currency per power unit per hour) at ``x_value`` in period t.

    For a stepwise curve this is the price of the last dispatched segment (the first one when
    nothing is dispatched).
    """
    if hasattr(blk, "step_price"):
        active = [k for k in blk.K if (blk.seg[t, k].value or 0.0) > 1e-9]
        k = active[-1] if active else blk.K.first()
        return float(blk.step_price[k].value)
    return 2 * float(blk.a.value) * x_value + float(blk.b.value)


def quantity_at_price(blk, price, t):
    r"""The quantity (power units) the participant chooses alone at ``price`` (currency per power
    unit per hour) in period t: its own best response, within its limits.

    Producer: :math:`\arg\max_x\ \pi x - V(x)`; consumer: :math:`\arg\max_x\ V(x) - \pi x`. At a
    price equal to a step's price the lower end of the flat stretch is returned.
    """
    producer = blk.direction > 0
    q = blk.qty
    lo = float(getattr(blk, f"{q}_min")[t].value)
    hi = float(getattr(blk, f"{q}_max")[t].value)
    if hasattr(blk, "step_price"):
        x = sum(float(blk.step_q[k].value) for k in blk.K
                if (float(blk.step_price[k].value) < price if producer
                    else float(blk.step_price[k].value) > price))
    else:
        a, b = float(blk.a.value), float(blk.b.value)
        if a == 0:
            x = (hi if price > b else lo) if producer else (hi if b > price else lo)
        else:
            x = (price - b) / (2 * a)     # both signs: a > 0 producer, a < 0 consumer
    return min(max(x, lo), hi)
