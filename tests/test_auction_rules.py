"""Double-auction rules of the peers, each against the peer's own published examples, and the
IC / IR / budget-balance / efficiency table of every rule."""
import numpy as np
import pytest
from conftest import requires_ipopt

from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms import auction_rules
from pyomo_ecc.mechanisms.auction import AuctionResult, Order, double_auction
from pyomo_ecc.mechanisms.auction_rules import (RULES, example_instances, property_table,
                                                render_property_table)


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
    r = double_auction(bids, asks, "vertical_overlap_midpoint")
    assert r.price == pytest.approx(price, abs=1e-10)
    assert r.quantity == pytest.approx(energy, abs=1e-10)
    assert r.budget_surplus == pytest.approx(0.0, abs=1e-9)


# -- ASSUME: tests/test_simple_market_mechanisms.py (assume-framework/assume) --------------------
@pytest.mark.unit
def test_assume_pay_as_clear_examples():
    # test_market_pay_as_clear: demand 400 + 100 @ 3000, supply 300 @ 100, 200 @ 50 -> 500 at 100
    r = double_auction([(3000, 400), (3000, 100)], [(100, 300), (50, 200)], "last_accepted_supply")
    assert (r.quantity, r.price) == (500, 100)
    assert (r.orders["filled"] == r.orders["quantity"]).all()
    # test_market_pay_as_clears_single_demand: 700 @ 3000 against 500 of supply -> 500 at 100
    r = double_auction([(3000, 700)], [(100, 300), (50, 200)], "last_accepted_supply")
    assert (r.quantity, r.price) == (500, 100)
    assert r.orders.loc[("bid", "bid0"), "filled"] == 500
    # the same uncovered demand: AMIRIS prices it at the demand's bid, a scarcity price overrides
    assert double_auction([(3000, 700)], [(100, 300), (50, 200)], "vertical_overlap_midpoint").price == 3000
    r = double_auction([(3000, 700)], [(100, 300), (50, 200)], "last_accepted_supply", scarcity_price=1000)
    assert r.price == 1000 and r.extra["scarcity"]
    # test_market_pay_as_clears_single_demand_more_generation: 400 @ 3000; 300@100, 200@50,
    # 230@60 -> 400 at 60, the 100-offer rejected
    r = double_auction([(3000, 400)], [(100, 300), (50, 200), (60, 230)], "last_accepted_supply")
    assert (r.quantity, r.price) == (400, 60)
    assert r.orders.loc[("ask", "ask0"), "filled"] == 0
    # covered demand: the scarcity price does not apply
    assert double_auction([(3000, 400)], [(100, 300), (50, 200), (60, 230)], "last_accepted_supply",
                 scarcity_price=1000).price == 60


@pytest.mark.unit
def test_pay_as_bid_each_order_at_its_own_price():
    # ASSUME PayAsBidRole: every accepted supply order gets its own price
    r = double_auction([(3000, 400)], [(100, 300), (50, 200), (60, 230)], "pay_as_bid")
    pay = r.orders["payment"]
    assert pay[("ask", "ask1")] == -50 * 200 and pay[("ask", "ask2")] == -60 * 200
    assert pay[("bid", "bid0")] == 3000 * 400
    assert r.budget_surplus == pytest.approx(3000 * 400 - 50 * 200 - 60 * 200)


# -- pymarket: tests/test_huang.py and tests/conftest.py (kiedanski/pymarket) --------------------
@pytest.mark.unit
def test_pymarket_huang_dataset_0():
    # add_bid(quantity, price, user, buying): buyers (1,3) (2,4) (5,1), sellers (4,2) (1,1) (5,6)
    r = double_auction([(3, 1), (4, 2), (1, 5)], [(2, 4), (1, 1), (6, 5)], "huang")
    f = r.orders["filled"]
    assert f[("bid", "bid1")] == pytest.approx(1) and f[("ask", "ask1")] == pytest.approx(1)
    assert f.sum() == pytest.approx(2)
    assert (r.buyer_price, r.seller_price) == (3, 2)
    assert r.budget_surplus == pytest.approx((3 - 2) * 1)


@pytest.mark.unit
def test_pymarket_huang_dataset_3():
    r = double_auction([(6, 1), (5, 0.1), (4, 1.9), (3, 1)], [(1, 1), (2, 1.5), (2.5, 1), (4, 1)], "huang")
    f = r.orders["filled"]
    assert f["bid"].tolist() == pytest.approx([0.8, 0.0, 1.7, 0.0])
    assert f["ask"].tolist() == pytest.approx([1.0, 1.5, 0.0, 0.0])
    assert (r.buyer_price, r.seller_price) == (3, 2.5)


@pytest.mark.unit
def test_pymarket_huang_docstring_examples():
    # price setters do not trade: no trade at all
    r = double_auction([(3, 1), (1, 2)], [(2, 2)], "huang")
    assert r.quantity == 0 and (r.seller_price, r.buyer_price) == (2, 3)
    # small orders before the price setters trade 0.2 at 3 (buyers) / 2 (sellers)
    r = double_auction([(3, 1), (1, 2), (3.3, 0.2)], [(2, 2), (1, 0.3)], "huang")
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
    r = double_auction(bids, asks, "muda", split=split)
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
    r = double_auction(bids, asks, "muda", split=split)
    assert (r.extra["price_left"], r.extra["price_right"]) == (3.0, 3.5)
    pay = r.orders["payment"]
    assert pay[("bid", "4")] == 3.5 and pay[("ask", "3")] == -3.5
    assert pay[("bid", "0")] == 3.0 and pay[("ask", "2")] == -3.0
    assert r.budget_surplus == 0


@pytest.mark.unit
def test_lottery_muda_on_pymarket_dataset_1_by_hand():
    # the halves and prices of pymarket's dataset 1 (left trades at 6.3, right at 4.65); the long
    # sides are rationed by the lottery instead of price priority and pay no fees: left sellers
    # 7, 8, 9 offer 5 units for the 3 bought (1, 3, 4): the lottery order 9, 7 gives 9 two units
    # and 7 one; right buyers 0, 2, 5 want 3 units of seller 6's one: the lottery gives it to 5
    bids = [Order(str(i), "bid", p, 1, i) for i, p in enumerate([6.7, 6.6, 6.5, 6.4, 6.3, 6])]
    asks = [Order(str(i), "ask", p, q, i)
            for i, (p, q) in zip(range(6, 11), [(1, 1), (2, 1), (3, 2), (4, 2), (6.1, 1)])]
    left = {1, 3, 4, 7, 8, 9}
    split = {str(i): "left" if i in left else "right" for i in range(11)}
    lottery = {"9": 0, "7": 1, "8": 2, "5": 3, "2": 4, "0": 5, "1": 6, "3": 7, "4": 8, "6": 9, "10": 10}
    r = double_auction(bids, asks, "muda_lottery", split=split, lottery=lottery)
    assert (r.extra["price_left"], r.extra["price_right"]) == pytest.approx((4.65, 6.3))
    f = r.orders["filled"]
    assert {o: x for (s, o), x in f.items() if x > 0} == {"1": 1, "3": 1, "4": 1, "5": 1, "6": 1, "7": 1, "9": 2}
    assert (r.orders["fee"] == 0).all() and r.budget_surplus == pytest.approx(0.0, abs=1e-12)
    assert r.orders.loc[("bid", "5"), "payment"] == pytest.approx(4.65)
    assert r.orders.loc[("ask", "9"), "payment"] == pytest.approx(-2 * 6.3)
    # drawn from a generator: reproducible; and the lottery needs a rank for every order
    a = double_auction(bids, asks, "muda_lottery", split=split, rng=np.random.default_rng(4))
    b = double_auction(bids, asks, "muda_lottery", split=split, rng=np.random.default_rng(4))
    assert a.orders.equals(b.orders) and a.extra["lottery"] == b.extra["lottery"]
    with pytest.raises(InputError, match=r"lottery: order\(s\) \['10'\] have no numeric rank"):
        double_auction(bids, asks, "muda_lottery", split=split, lottery={k: v for k, v in lottery.items() if k != "10"})
    with pytest.raises(InputError, match="lottery applies to rule 'muda_lottery' only"):
        double_auction(bids, asks, "muda", split=split, lottery=lottery)


@pytest.mark.unit
def test_muda_random_split_needs_a_generator_and_is_reproducible():
    bids, asks = [12, 10, 9, 8], [3, 5, 6, 7]
    with pytest.raises(InputError, match="Generator"):
        double_auction(bids, asks, "muda")
    a = double_auction(bids, asks, "muda", rng=np.random.default_rng(3))
    b = double_auction(bids, asks, "muda", rng=np.random.default_rng(3))
    assert a.orders.equals(b.orders) and a.extra["split"] == b.extra["split"]


# -- McAfee (1992): closed forms ------------------------------------------------------------------
@pytest.mark.unit
def test_mcafee_both_branches():
    # seed 002 book: K = 2, p0 = (8 + 9)/2 = 8.5 in [a_K, b_K] = [7, 10] -> both pairs at 8.5
    r = double_auction([12, 10, 8], [5, 7, 9], "mcafee")
    assert (r.quantity, r.price, r.budget_surplus) == (2, 8.5, 0)
    # b = 12, 10, 9, 4; a = 3, 5, 8, 11: K = 3, p0 = 7.5 < a_K = 8 -> 2 pairs, buyers pay 9,
    # sellers get 8, the auctioneer keeps 2 x (9 - 8)
    r = double_auction([12, 10, 9, 4], [3, 5, 8, 11], "mcafee")
    assert (r.quantity, r.buyer_price, r.seller_price) == (2, 9, 8)
    assert r.budget_surplus == pytest.approx(2.0)
    assert r.welfare == pytest.approx((12 - 3) + (10 - 5))
    assert r.extra["optimal_welfare"] == pytest.approx(9 + 5 + 1)
    with pytest.raises(InputError, match="unit orders"):
        double_auction([(12, 2)], [3], "mcafee")


@pytest.mark.unit
def test_unknown_rule_and_misplaced_scarcity_price():
    with pytest.raises(InputError, match="unknown rule"):
        double_auction([1], [0], "vickrey")
    with pytest.raises(InputError, match="scarcity_price"):
        double_auction([1], [0], "huang", scarcity_price=100)


# -- the property table (Myerson-Satterthwaite map) ---------------------------------------------
@pytest.mark.component
def test_property_table_of_the_rules_and_the_documented_table():
    df = property_table(example_instances(), auction_rules.EXAMPLE_GRID)
    assert list(df.index) == list(RULES) + ["vcg"]
    # the table in the module doc is this computation, rendered: it cannot go stale
    doc = auction_rules.__doc__
    documented = doc[doc.index(".. property-table") + len(".. property-table"):
                     doc.index(".. end-property-table")].strip()
    assert render_property_table(df) == documented
    assert df["ir"].all()
    # truthful rules: no profitable misreport found; uniform and pay-as-bid: one is found
    truthful = ["mcafee", "trade_reduction", "huang", "muda", "vcg"]
    assert df.loc[truthful, "ic"].all()
    assert not df.loc[["vertical_overlap_midpoint", "last_accepted_supply", "last_accepted_demand",
                       "midpoint", "pay_as_bid"], "ic"].any()
    # uniform prices are strongly budget balanced and efficient
    for r in ("vertical_overlap_midpoint", "last_accepted_supply", "last_accepted_demand", "midpoint"):
        assert df.loc[r, "strong_bb"] and df.loc[r, "efficiency"] == pytest.approx(1.0)
    # the truthful budget-balanced alternatives keep a surplus and give up efficiency
    for r in ("mcafee", "trade_reduction", "huang", "muda"):
        assert df.loc[r, "weak_bb"] and not df.loc[r, "strong_bb"]
        assert df.loc[r, "efficiency"] < 1.0
    # Lottery-MUDA: truthful and strongly budget balanced (each half trades at one price), so
    # by Myerson-Satterthwaite it gives up efficiency (on book 3 its lotteries pick the buyer 8
    # and the seller 9: welfare (8 - 7) + (10 - 9) = 2 of 10)
    assert df.loc["muda_lottery", ["ic", "ir", "strong_bb"]].all()
    assert df.loc["muda_lottery", "efficiency"] == pytest.approx(0.2)
    # McAfee on book 2 drops the pair (9, 8) worth 1 of 15: efficiency 14/15
    assert df.loc["mcafee", "efficiency"] == pytest.approx(14 / 15)
    # trade reduction always drops the marginal pair: on book 3 (welfare 7 + 3) it keeps 12 - 5
    # = 7 of 10
    assert df.loc["trade_reduction", "efficiency"] == pytest.approx(0.7)
    # VCG: truthful and efficient but runs a deficit
    assert df.loc["vcg", "efficiency"] == pytest.approx(1.0)
    assert not df.loc["vcg", "weak_bb"] and df.loc["vcg", "max_surplus"] < 0


# -- one entry point ------------------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize("rule", ["uniform"] + list(RULES))
def test_every_rule_returns_the_one_result_type(rule):
    bids, asks = [12, 10, 9, 8], [3, 5, 6, 7]
    opts = {"rng": np.random.default_rng(0)} if rule.startswith("muda") else {}
    r = double_auction(bids, asks, rule, **opts)
    assert isinstance(r, AuctionResult)
    assert r.rule == ("midpoint" if rule == "uniform" else rule)
    assert r.orders.index.names == ["side", "order"]
    assert list(r.orders.columns) == ["price", "quantity", "filled", "fee", "payment"]
    assert r.allocation.equals(r.orders["filled"]) and r.payments.equals(r.orders["payment"])
    assert r.budget_surplus == pytest.approx(float(r.orders["payment"].sum()))
    # buyers and sellers trade the same volume, and nobody trades more than it asked for
    f = r.orders["filled"]
    assert f["bid"].sum() == pytest.approx(f["ask"].sum()) == pytest.approx(r.quantity)
    assert (f <= r.orders["quantity"] + 1e-12).all()
    assert r.extra["optimal_welfare"] == pytest.approx((12 - 3) + (10 - 5) + (9 - 6) + (8 - 7))


@pytest.mark.unit
def test_uniform_rule_is_the_old_double_auction_and_the_old_entry_is_deprecated():
    bids, asks = [(12, 2), (10, 1), (8, 3)], [(5, 1), (7, 2), (9, 4)]
    old = double_auction(bids, asks, price_rule="last_accepted_supply")
    assert old.rule == "last_accepted_supply"
    new = double_auction(bids, asks, "last_accepted_supply")
    assert new.orders.equals(old.orders) and new.price == old.price == 7.0
    assert double_auction(bids, asks, "uniform", price_rule="k", k=0.25).price == pytest.approx(
        0.25 * 10 + 0.75 * 7)
    with pytest.raises(InputError, match="applies to rule='uniform' only"):
        double_auction(bids, asks, "mcafee", price_rule="midpoint")
    with pytest.raises(InputError, match="tie_break applies to the uniform rules"):
        double_auction(bids, asks, "huang", tie_break="pro_rata")
    with pytest.raises(InputError, match="split applies to the MUDA rules only"):
        double_auction(bids, asks, "midpoint", split={})
    import pyomo_ecc as ecc
    for entry in (auction_rules.clear, ecc.auction_rule):
        with pytest.warns(DeprecationWarning, match=r"use pyomo_ecc.double_auction\(bids, asks, rule=...\)"):
            r = entry(bids, asks, "huang")
        assert r.orders.equals(double_auction(bids, asks, "huang").orders)


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
    assert (ns["r"].quantity, ns["r"].price) == (2.0, 8.5) and ns["r"].rule == "mcafee"
    prof = ns["res"].profile
    assert 100 * (1 - prof["f1"]) == pytest.approx(100 / 3, abs=1e-3)
    assert 100 * (1 - prof["f2"]) == pytest.approx(70 / 3, abs=1e-3)


@requires_ipopt
@pytest.mark.integration
def test_readme_market_design_one_liners_are_doctests():
    import doctest
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sec = text[text.index("### Market design"):text.index("### A differentially private market")]
    blocks = re.findall(r"```pycon\n(.*?)```", sec, flags=re.S)
    assert len(blocks) == 4
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    parser = doctest.DocTestParser()
    for k, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"README market design block {k}", "README.md", 0)
        assert all(ex.want for ex in test.examples if not ex.source.startswith(("import", "from"))
                   and "=" not in ex.source.split("(")[0]), "every example shows its result"
        runner.run(test)
    assert runner.failures == 0
    # the README's property table is the documented one (Markdown rendering of the same frame)
    from pyomo_ecc.mechanisms import auction_rules
    doc = auction_rules.__doc__
    rst = doc[doc.index(".. property-table") + len(".. property-table"):doc.index(".. end-property-table")]
    rows = [ln.split() for ln in rst.strip().splitlines()[3:-1]]
    md = [ln.strip("|").split("|") for ln in sec.splitlines() if ln.startswith("| ")][2:]
    assert [r[0].strip("`") for r in rows] == [c[0].strip() for c in md]
    assert [r[1:6] for r in rows] == [[c.strip() for c in m[1:6]] for m in md]
