"""Integration: the seed 000 community (Peng & Han 2025, Tables 1-2) against an independent
computation.

Independent solution: at a price :math:`\\lambda` each producer offers
:math:`g_i(\\lambda) = \\mathrm{clip}((\\lambda - b_i)/(2a_i), \\underline{g}_i, \\overline{g}_i)` and
each consumer bids :math:`d_j(\\lambda) = \\mathrm{clip}((b_j - \\lambda)/(-2a_j), \\underline{d}_j,
\\overline{d}_j)`; the clearing price is the root of :math:`\\sum_i g_i - \\sum_j d_j` (scipy's
brentq). Welfare is :math:`\\sum_j U_j(d_j) - \\sum_i C_i(g_i)` with the tables' constants.
"""
import numpy as np
import pytest
from scipy.optimize import brentq

import pyomo_ecc as ecc

pytestmark = pytest.mark.integration

# Table 1 (producers) and Table 2 (consumers): max, min, a, b, c
PRODUCERS = {"G1": (500, 0, 0.0017, 0.0069, 0.0), "G2": (450, 5, 0.001, 0.0082, 0.0),
             "G3": (350, 0, 0.0022, 0.0070, 0.0)}
CONSUMERS = {"D4": (450, 5, -0.00125, 0.15, -0.57), "D5": (350, 5, -0.006, 0.22, -0.9),
             "D6": (500, 10, -0.0067, 0.13, -0.3)}


def independent_clearing():
    def supply(lam):
        return {k: float(np.clip((lam - b) / (2 * a), lo, hi)) for k, (hi, lo, a, b, c) in PRODUCERS.items()}

    def demand(lam):
        return {k: float(np.clip((b - lam) / (-2 * a), lo, hi)) for k, (hi, lo, a, b, c) in CONSUMERS.items()}

    lam = brentq(lambda x: sum(supply(x).values()) - sum(demand(x).values()), 0.0, 1.0, xtol=1e-15)
    g, d = supply(lam), demand(lam)
    w = sum(a * d[k] ** 2 + b * d[k] + c for k, (_, _, a, b, c) in CONSUMERS.items()) \
        - sum(a * g[k] ** 2 + b * g[k] + c for k, (_, _, a, b, c) in PRODUCERS.items())
    return lam, g, d, w


def test_case_file_matches_the_tables():
    case = ecc.load_case("seed000_community")
    for name, opts in case.participants("producer"):
        hi, lo, a, b, c = PRODUCERS[name]
        assert (opts["p_max"], opts["p_min"], opts["a"], opts["b"], opts["c"]) == (hi, lo, a, b, c)
    for name, opts in case.participants("consumer"):
        hi, lo, a, b, c = CONSUMERS[name]
        assert (opts["d_max"], opts["d_min"], opts["a"], opts["b"], opts["c"]) == (hi, lo, a, b, c)


def test_welfare_dispatch_and_price_equal_the_independent_computation():
    lam, g, d, w = independent_clearing()
    m = ecc.load_case("seed000_community").build()
    ecc.solve(m)
    disp = ecc.dispatch(m)["p_inj"]
    for k, v in g.items():
        assert disp[(k, 0)] == pytest.approx(v, abs=1e-6)
    for k, v in d.items():
        assert disp[(k, 0)] == pytest.approx(-v, abs=1e-6)
    assert ecc.welfare(m) == pytest.approx(w, abs=1e-6)
    assert ecc.prices(m).loc[("community", 0), "lmp"] == pytest.approx(lam, abs=1e-6)
    # D6 is held at its minimum demand (10 MW) although its marginal utility is below the price
    assert d["D6"] == 10 and 0.13 - 2 * 0.0067 * 10 < lam
