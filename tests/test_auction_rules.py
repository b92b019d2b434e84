"""Double-auction rules of the peers, each against the peer's own published examples, and the
IC / IR / budget-balance / efficiency table of every rule."""
import numpy as np
import pytest

from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.auction import Order
from pyomo_ecc.mechanisms.auction_rules import RULES, clear, property_table


# -- AMIRIS: MeritOrderKernelTest.java (dlr-ve-esy/amiris, agents/markets/meritOrder) ----------
# (supply powers, supply prices), (demand powers, demand prices) -> (price, traded energy)
AMIRIS = [
    ("noCutLessDemand_returnsVirtualCutSupplyPrice", ([100], [21]), ([50], [3000]), 21, 50),
    ("noCutMoreDemand_returnsVirtualCutDemandPrice", ([100], [21]), ([200], [3000]), 3000, 100),
    ("CutAtSamePowerCase1", ([100, 50], [0, 80]), ([100, 20], [100, 50]), 65, 100),
    ("CutAtSamePowerCase2", ([100, 50], [60, 80]), ([100, 20], [100, 50]), 70, 100),
    ("CutAtSamePowerCase3", ([100, 50], [60, 150]), ([100, 20], [100, 50]), 80, 100),
    ("CutAtSamePowerCase4", ([100, 50], [0, 150]), ([100, 20], [100, 50]), 75, 100),
    ("DemandIsCut_returnsDemandPrice", ([120, 20], [21, 100]), ([100, 50], [3000, 50]), 50, 120),
    ("HorizontalOverlap", ([100, 30], [21, 100]), ([100, 50], [3000, 100]), 100, 130),
]


@pytest.mark.unit
@pytest.mark.parametrize("name, supply, demand, price, energy", AMIRIS, ids=[a[0] for a in AMIRIS])
def test_amiris_merit_order_kernel_examples(name, supply, demand, price, energy):
    asks = [(p, q) for q, p in zip(*supply)]
    bids = [(p, q) for q, p in zip(*demand)]
    r = clear(bids, asks, "vertical_overlap_midpoint")
    assert r.price == pytest.approx(price, abs=1e-10)
    assert r.quantity == pytest.approx(energy, abs=1e-10)
    assert r.budget_surplus == pytest.approx(0.0, abs=1e-9)


# -- ASSUME: tests/test_simple_market_mechanisms.py (assume-framework/assume) --------------------
@pytest.mark.unit
def test_assume_pay_as_clear_examples():
    # test_market_pay_as_clear: demand 400 + 100 @ 3000, supply 300 @ 100, 200 @ 50 -> 500 at 100
    r = clear([(3000, 400), (3000, 100)], [(100, 300), (50, 200)], "last_accepted_supply")
    assert (r.quantity, r.price) == (500, 100)
    assert (r.orders["filled"] == r.orders["quantity"]).all()
    # test_market_pay_as_clears_single_demand: 700 @ 3000 against 500 of supply -> 500 at 100
    r = clear([(3000, 700)], [(100, 300), (50, 200)], "last_accepted_supply")
    assert (r.quantity, r.price) == (500, 100)
    assert r.orders.loc[("bid", "bid0"), "filled"] == 500
    # the same uncovered demand: AMIRIS prices it at the demand's bid, a scarcity price overrides
    assert clear([(3000, 700)], [(100, 300), (50, 200)], "vertical_overlap_midpoint").price == 3000
    r = clear([(3000, 700)], [(100, 300), (50, 200)], "last_accepted_supply", scarcity_price=1000)
    assert r.price == 1000 and r.extra["scarcity"]
    # test_market_pay_as_clears_single_demand_more_generation: 400 @ 3000; 300@100, 200@50,
    # 230@60 -> 400 at 60, the 100-offer rejected
    r = clear([(3000, 400)], [(100, 300), (50, 200), (60, 230)], "last_accepted_supply")
    assert (r.quantity, r.price) == (400, 60)
    assert r.orders.loc[("ask", "ask0"), "filled"] == 0
    # covered demand: the scarcity price does not apply
    assert clear([(3000, 400)], [(100, 300), (50, 200), (60, 230)], "last_accepted_supply",
                 scarcity_price=1000).price == 60


@pytest.mark.unit
def test_pay_as_bid_each_order_at_its_own_price():
    # ASSUME PayAsBidRole: every accepted supply order gets its own price
    r = clear([(3000, 400)], [(100, 300), (50, 200), (60, 230)], "pay_as_bid")
    pay = r.orders["payment"]
    assert pay[("ask", "ask1")] == -50 * 200 and pay[("ask", "ask2")] == -60 * 200
    assert pay[("bid", "bid0")] == 3000 * 400
    assert r.budget_surplus == pytest.approx(3000 * 400 - 50 * 200 - 60 * 200)


# -- pymarket: tests/test_huang.py and tests/conftest.py (kiedanski/pymarket) --------------------
@pytest.mark.unit
def test_pymarket_huang_dataset_0():
    # add_bid(quantity, price, user, buying): buyers (1,3) (2,4) (5,1), sellers (4,2) (1,1) (5,6)
    r = clear([(3, 1), (4, 2), (1, 5)], [(2, 4), (1, 1), (6, 5)], "huang")
    f = r.orders["filled"]
    assert f[("bid", "bid1")] == pytest.approx(1) and f[("ask", "ask1")] == pytest.approx(1)
    assert f.sum() == pytest.approx(2)
    assert (r.buyer_price, r.seller_price) == (3, 2)
    assert r.budget_surplus == pytest.approx((3 - 2) * 1)


@pytest.mark.unit
def test_pymarket_huang_dataset_3():
    r = clear([(6, 1), (5, 0.1), (4, 1.9), (3, 1)], [(1, 1), (2, 1.5), (2.5, 1), (4, 1)], "huang")
    f = r.orders["filled"]
    assert f["bid"].tolist() == pytest.approx([0.8, 0.0, 1.7, 0.0])
    assert f["ask"].tolist() == pytest.approx([1.0, 1.5, 0.0, 0.0])
    assert (r.buyer_price, r.seller_price) == (3, 2.5)


@pytest.mark.unit
def test_pymarket_huang_docstring_examples():
    # price setters do not trade: no trade at all
    r = clear([(3, 1), (1, 2)], [(2, 2)], "huang")
    assert r.quantity == 0 and (r.seller_price, r.buyer_price) == (2, 3)
    # small orders before the price setters trade 0.2 at 3 (buyers) / 2 (sellers)
    r = clear([(3, 1), (1, 2), (3.3, 0.2)], [(2, 2), (1, 0.3)], "huang")
    assert r.quantity == pytest.approx(0.2)
    assert r.orders.loc[("ask", "ask1"), "filled"] == pytest.approx(0.2)


# -- pymarket: tests/test_muda.py (test_muda_dataset_1) and the muda() docstring -----------------
@pytest.mark.unit
def test_pymarket_muda_dataset_1():
    bids = [Order(str(i), "bid", p, 1, i) for i, p in enumerate([6.7, 6.6, 6.5, 6.4, 6.3, 6])]
    asks = [Order(str(i), "ask", p, q, i)
            for i, (p, q) in zip(range(6, 11), [(1, 1), (2, 1), (3, 2), (4, 2), (6.1, 1)])]
    left = {1, 3, 4, 7, 8, 9}
    split = {str(i): "left" if i in left else "right" for i in range(11)}
    r = clear(bids, asks, "muda", split=split)
    assert r.extra["price_left"] == pytest.approx(4.65)
    assert r.extra["price_right"] == pytest.approx(6.3)
    f = r.orders["filled"]
    traded = {o for (s, o), x in f.items() if x > 0}
    assert traded == {"1", "3", "4", "7", "8", "6", "0"}
    assert f[("ask", "8")] == 2
    fees = {o: x for (s, o), x in r.orders["fee"].items() if x > 0}
    assert fees == pytest.approx({"0": 1.85, "7": 2.3, "8": 4.6})
    # the left half trades at the right half's price and vice versa
    pay = r.orders["payment"]
    assert pay[("bid", "1")] == pytest.approx(6.3)
    assert pay[("ask", "6")] == pytest.approx(-4.65)
    assert pay[("bid", "0")] == pytest.approx(4.65 + 1.85)
    assert r.budget_surplus == pytest.approx(1.85 + 2.3 + 4.6)


@pytest.mark.unit
def test_pymarket_muda_docstring_example_with_trade():
    bids = [Order("0", "bid", 4, 1), Order("1", "bid", 2, 1), Order("4", "bid", 5, 1)]
    asks = [Order("2", "ask", 3, 1), Order("3", "ask", 1, 1)]
    split = {"1": "left", "3": "left", "4": "left", "0": "right", "2": "right"}
    r = clear(bids, asks, "muda", split=split)
    assert (r.extra["price_left"], r.extra["price_right"]) == (3.0, 3.5)
    pay = r.orders["payment"]
    assert pay[("bid", "4")] == 3.5 and pay[("ask", "3")] == -3.5
    assert pay[("bid", "0")] == 3.0 and pay[("ask", "2")] == -3.0
    assert r.budget_surplus == 0


@pytest.mark.unit
def test_muda_random_split_needs_a_generator_and_is_reproducible():
    bids, asks = [12, 10, 9, 8], [3, 5, 6, 7]
    with pytest.raises(InputError, match="Generator"):
        clear(bids, asks, "muda")
    a = clear(bids, asks, "muda", rng=np.random.default_rng(3))
    b = clear(bids, asks, "muda", rng=np.random.default_rng(3))
    assert a.orders.equals(b.orders) and a.extra["split"] == b.extra["split"]


# -- McAfee (1992): closed forms ------------------------------------------------------------------
@pytest.mark.unit
def test_mcafee_both_branches():
    # seed 002 book: K = 2, p0 = (8 + 9)/2 = 8.5 in [a_K, b_K] = [7, 10] -> both pairs at 8.5
    r = clear([12, 10, 8], [5, 7, 9], "mcafee")
    assert (r.quantity, r.price, r.budget_surplus) == (2, 8.5, 0)
    # b = 12, 10, 9, 4; a = 3, 5, 8, 11: K = 3, p0 = 7.5 < a_K = 8 -> 2 pairs, buyers pay 9,
    # sellers get 8, the auctioneer keeps 2 x (9 - 8)
    r = clear([12, 10, 9, 4], [3, 5, 8, 11], "mcafee")
    assert (r.quantity, r.buyer_price, r.seller_price) == (2, 9, 8)
    assert r.budget_surplus == pytest.approx(2.0)
    assert r.welfare == pytest.approx((12 - 3) + (10 - 5))
    assert r.extra["optimal_welfare"] == pytest.approx(9 + 5 + 1)
    with pytest.raises(InputError, match="unit orders"):
        clear([(12, 2)], [3], "mcafee")


@pytest.mark.unit
def test_unknown_rule_and_misplaced_scarcity_price():
    with pytest.raises(InputError, match="unknown rule"):
        clear([1], [0], "vickrey")
    with pytest.raises(InputError, match="scarcity_price"):
        clear([1], [0], "huang", scarcity_price=100)


# -- the property table (Myerson-Satterthwaite map) ---------------------------------------------
INSTANCES = [
    {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 9, 1), "b4": ("bid", 6, 1),
     "s1": ("ask", 3, 1), "s2": ("ask", 5, 1), "s3": ("ask", 8, 1), "s4": ("ask", 10, 1)},
    {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 9, 1), "b4": ("bid", 4, 1),
     "s1": ("ask", 3, 1), "s2": ("ask", 5, 1), "s3": ("ask", 8, 1), "s4": ("ask", 11, 1)},
    {"b1": ("bid", 12, 1), "b2": ("bid", 10, 1), "b3": ("bid", 8, 1),
     "s1": ("ask", 5, 1), "s2": ("ask", 7, 1), "s3": ("ask", 9, 1)},
]


@pytest.mark.component
def test_property_table_of_the_rules():
    inst = [(t, {"muda": {"split": {a: ("left" if i % 2 == 0 else "right")
                                    for i, a in enumerate(t)}}}) for t in INSTANCES]
    df = property_table(inst, np.arange(0.0, 15.5, 1.5))
    assert list(df.index) == list(RULES) + ["vcg"]
    assert df["ir"].all()
    # truthful rules: no profitable misreport found; uniform and pay-as-bid: one is found
    truthful = ["mcafee", "trade_reduction", "huang", "muda", "vcg"]
    assert df.loc[truthful, "ic"].all()
    assert not df.loc[["vertical_overlap_midpoint", "last_accepted_supply", "midpoint",
                       "pay_as_bid"], "ic"].any()
    # uniform prices are strongly budget balanced and efficient
    for r in ("vertical_overlap_midpoint", "last_accepted_supply", "midpoint"):
        assert df.loc[r, "strong_bb"] and df.loc[r, "efficiency"] == pytest.approx(1.0)
    # the truthful budget-balanced alternatives keep a surplus and give up efficiency
    for r in ("mcafee", "trade_reduction", "huang", "muda"):
        assert df.loc[r, "weak_bb"] and not df.loc[r, "strong_bb"]
        assert df.loc[r, "efficiency"] < 1.0
    # McAfee on instance 2 drops the pair (9, 8) worth 1 of 15: efficiency 14/15
    assert df.loc["mcafee", "efficiency"] == pytest.approx(14 / 15)
    # VCG: truthful and efficient but runs a deficit
    assert df.loc["vcg", "efficiency"] == pytest.approx(1.0)
    assert not df.loc["vcg", "weak_bb"] and df.loc["vcg", "max_surplus"] < 0


@pytest.mark.integration
def test_readme_market_design_example_runs_as_written():
    import contextlib
    import io
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sec = text[text.index("### Market design"):]
    block = re.search(r"```python\n(.*?)```", sec, flags=re.S).group(1)
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(block, "README.md", "exec"), ns)
    assert (ns["r"].quantity, ns["r"].price) == (2.0, 8.5)
    prof = ns["res"].profile
    assert 100 * (1 - prof["f1"]) == pytest.approx(100 / 3, abs=1e-3)
    assert 100 * (1 - prof["f2"]) == pytest.approx(70 / 3, abs=1e-3)
