"""Unit tests of the allowance order book (seed 001, section 1.2: listed orders, centralised
continuous matching, band [0.9 S, 1.1 S], budget / holdings checks, C <- med(P0, P1, C), top 5).

Every expected fill below is worked out by hand from those rules in the comments.
"""
import numpy as np
import pandas as pd
import pytest

from pyomo_ecc.errors import InputError
from pyomo_ecc.mechanisms.orderbook import OrderBook, settle

pytestmark = pytest.mark.unit

ACCOUNTS = {"A": (0.0, 1000.0), "B": (10.0, 0.0), "C": (5.0, 100.0), "D": (0.0, 500.0),
            "E": (6.0, 0.0)}


def _fills(trades):
    return [tuple(r) for r in trades[["buyer", "seller", "price", "quantity"]].itertuples(index=False)]


def scripted_book():
    ob = OrderBook(ACCOUNTS, opening_price=48.0)
    ob.submit("B", "sell", 50.0, 10)   # rests: List_0 = [B 10@50]
    ob.submit("C", "sell", 46.0, 5)    # rests ahead of B (lower price)
    ob.submit("A", "buy", 52.0, 8)     # vs C@46: C <- med(46,52,48) = 48, 5 t; vs B@50: med(50,52,48) = 50, 3 t
    ob.submit("D", "buy", 44.0, 4)     # 44 < 50: rests
    ob.submit("E", "sell", 44.0, 6)    # vs D@44: med(44,44,50) = 44, 4 t; E keeps 2@44
    ob.submit("A", "buy", 45.0, 3)     # vs E@44: med(44,45,44) = 44, 2 t; A keeps 1@45 (B@50 > 45)
    return ob


def test_scripted_continuous_sequence_has_the_hand_computed_fills():
    ob = scripted_book()
    assert _fills(ob.trades()) == [("A", "C", 48.0, 5.0), ("A", "B", 50.0, 3.0),
                                   ("D", "E", 44.0, 4.0), ("A", "E", 44.0, 2.0)]
    assert ob.last_price == 44.0
    book = ob.book()
    assert book.loc[("sell", 1), ["price", "quantity", "trader"]].tolist() == [50.0, 7.0, "B"]
    assert book.loc[("buy", 1), ["price", "quantity", "trader"]].tolist() == [45.0, 1.0, "A"]
    assert len(book) == 2
    acc = ob.accounts()
    # A paid 5*48 + 3*50 + 2*44 = 478 and still commits 1*45 to its resting bid
    assert acc.loc["A", ["allowances", "cash", "committed_cash"]].tolist() == [10.0, 522.0, 45.0]
    assert acc.loc["B", ["allowances", "cash", "committed_allowances"]].tolist() == [7.0, 150.0, 7.0]
    assert acc.loc["E", ["allowances", "cash"]].tolist() == [0.0, 264.0]
    status = ob.orders()["status"].tolist()
    assert status == ["partial", "filled", "filled", "filled", "filled", "partial"]


def test_trade_price_is_the_median_and_stays_within_both_limits():
    ob = OrderBook({"S": (100, 0), "Bu": (0, 1e6)}, opening_price=48.0)
    ob.submit("S", "sell", 45.0, 1)
    ob.submit("Bu", "buy", 47.0, 1)    # med(45, 47, 48) = 47: the buyer's limit caps C
    ob.submit("S", "sell", 49.0, 1)
    ob.submit("Bu", "buy", 52.0, 1)    # med(49, 52, 47) = 49: the seller's limit floors C
    ob.submit("S", "sell", 43.5, 1)
    ob.submit("Bu", "buy", 50.0, 1)    # med(43.5, 50, 49) = 49: C unchanged inside the spread
    assert ob.trades()["price"].tolist() == [47.0, 49.0, 49.0]


def test_price_time_priority_and_partial_fills():
    ob = OrderBook({"S1": (10, 0), "S2": (10, 0), "S3": (10, 0), "Bu": (0, 1e4)}, opening_price=48)
    ob.submit("S1", "sell", 48.0, 3)
    ob.submit("S2", "sell", 47.0, 3)   # better price: first in List_0
    ob.submit("S3", "sell", 47.0, 3)   # same price, later: after S2
    ob.submit("Bu", "buy", 48.0, 7)    # S2 3, S3 3, S1 1 (partial)
    assert [(t.seller, t.quantity) for t in ob.trades().itertuples()] == [
        ("S2", 3.0), ("S3", 3.0), ("S1", 1.0)]
    assert ob.book().loc[("sell", 1), "quantity"] == 2.0
    assert ob.orders().loc[0, "status"] == "partial"


@pytest.mark.parametrize("trader, side, price, qty, words", [
    ("A", "buy", 43.19, 1, "outside the band [43.2, 52.8]"),
    ("A", "buy", 52.81, 1, "outside the band"),
    ("A", "buy", 50.0, 21, "over budget: price x quantity = 1050 exceeds the available money 1000"),
    ("B", "sell", 48.0, 11, "over holdings: quantity 11 exceeds the available allowances 10"),
    ("A", "sell", 48.0, 1, "no allowances to sell"),
    ("Z", "buy", 48.0, 1, "unknown account 'Z'"),
    ("A", "buy", 48.0, 0, "quantity must be > 0"),
    ("A", "hold", 48.0, 1, "side must be 'buy' or 'sell'"),
])
def test_invalid_orders_are_rejected_with_the_reason(trader, side, price, qty, words):
    ob = OrderBook(ACCOUNTS, opening_price=48.0)
    r = ob.submit(trader, side, price, qty)
    assert r.status == "rejected" and words in r.reason
    assert ob.orders().loc[r.order_id, "reason"] == r.reason
    assert ob.book().empty and ob.trades().empty


def test_band_limits_are_inclusive_and_follow_the_opening_price():
    ob = OrderBook({"A": (5, 1e4)}, opening_price=50.0)
    assert ob.band_limits == (45.0, 55.0)
    assert ob.submit("A", "buy", 45.0, 1).status == "open"
    assert ob.submit("A", "sell", 55.0, 1).status == "open"


def test_resting_orders_commit_money_and_allowances():
    ob = OrderBook({"A": (3, 100.0)}, opening_price=48.0)
    assert ob.submit("A", "buy", 45.0, 2).status == "open"        # commits 90 of 100
    r = ob.submit("A", "buy", 45.0, 1)                             # 45 > 10 left
    assert r.status == "rejected" and "available money 10" in r.reason
    assert ob.submit("A", "sell", 50.0, 2).status == "open"       # commits 2 of 3
    r = ob.submit("A", "sell", 50.0, 2)
    assert r.status == "rejected" and "available allowances 1" in r.reason
    assert ob.cancel(0)                                            # frees the 90
    assert ob.submit("A", "buy", 45.0, 2).status == "open"


def test_top_five_display():
    ob = OrderBook({"S": (100, 0), "Bu": (0, 1e4)}, opening_price=48.0)
    for p in (52.0, 51.0, 50.5, 50.0, 49.5, 49.0, 48.5):
        ob.submit("S", "sell", p, 1)
    for p in (44.0, 46.0, 45.0):
        ob.submit("Bu", "buy", p, 1)
    book = ob.book()
    assert book.index.names == ["side", "rank"]
    assert book.loc["sell", "price"].tolist() == [48.5, 49.0, 49.5, 50.0, 50.5]
    assert book.loc["buy", "price"].tolist() == [46.0, 45.0, 44.0]
    assert list(book.index.get_level_values("side")[:1]) == ["sell"]   # List_0 shown first


def random_trading_day(rng, n=150, mode="continuous"):
    accounts = {f"e{k}": (float(rng.integers(0, 20)), float(rng.integers(0, 2000)))
                for k in range(8)}
    ob = OrderBook(accounts, opening_price=48.0, mode=mode)
    for _ in range(n):
        u = rng.random()
        if u < 0.05 and len(ob.orders()):
            ob.cancel(int(rng.integers(0, len(ob.orders()))))
        elif u < 0.08 and mode == "call":
            ob.uncross()
        else:
            ob.submit(f"e{rng.integers(0, 8)}", ["buy", "sell"][rng.integers(0, 2)],
                      round(float(rng.uniform(42, 54)), 1), float(rng.integers(1, 8)))
    return accounts, ob


@pytest.mark.parametrize("mode", ["continuous", "call"])
def test_replay_from_the_log_reproduces_the_state(mode):
    accounts, ob = random_trading_day(np.random.default_rng(7), mode=mode)
    again = OrderBook.replay(accounts, ob.events(), opening_price=48.0, mode=mode)
    a, b = ob.state(), again.state()
    for key in ("accounts", "book", "trades", "orders"):
        pd.testing.assert_frame_equal(a[key], b[key])
    assert a["last_price"] == b["last_price"]
    assert len(a["trades"]) > 10


def test_replay_from_a_saved_csv_log(tmp_path):
    ob = scripted_book()
    ob.cancel(5)
    path = tmp_path / "events.csv"
    ob.events().to_csv(path)
    again = OrderBook.replay(ACCOUNTS, pd.read_csv(path, index_col="event"), opening_price=48.0)
    pd.testing.assert_frame_equal(again.trades(), ob.trades())
    pd.testing.assert_frame_equal(again.accounts(), ob.accounts())
    pd.testing.assert_frame_equal(again.book(), ob.book())
    assert again.orders().loc[5, "status"] == "cancelled"


@pytest.mark.parametrize("mode", ["continuous", "call"])
def test_accounting_invariants_of_a_long_trading_day(mode):
    accounts, ob = random_trading_day(np.random.default_rng(11), n=300, mode=mode)
    trades, acc = ob.trades(), ob.accounts()
    # the trade log alone, applied to the opening accounts, gives the book's accounts
    pd.testing.assert_frame_equal(settle(accounts, trades), acc[["allowances", "cash"]])
    # allowances and money are conserved; nobody overdraws
    assert acc["allowances"].sum() == pytest.approx(sum(v[0] for v in accounts.values()))
    assert acc["cash"].sum() == pytest.approx(sum(v[1] for v in accounts.values()))
    assert (acc["cash"] >= -1e-9).all()
    assert (acc["cash"] - acc["committed_cash"] >= -1e-9).all()
    # every trade is within both limits and within the band
    assert (trades["price"] <= trades["bid_price"] + 1e-12).all()
    assert (trades["price"] >= trades["ask_price"] - 1e-12).all()
    assert trades["price"].between(43.2, 52.8).all()


def test_call_auction_uniform_price_and_reference_tie_break():
    # bids A 5@50, B 3@49, C 4@47; asks D 4@46, E 4@48, F 3@50.
    # V(46)=V(47)=4, V(48)=V(49)=8 with imbalance 0, V(50)=5: 48 and 49 tie on (volume,
    # imbalance); the price closest to the last price C = S = 48 wins.
    def book(opening):
        ob = OrderBook({k: (10, 1000) for k in "ABCDEF"}, opening_price=opening, mode="call")
        for t, s, p, q in [("A", "buy", 50, 5), ("B", "buy", 49, 3), ("C", "buy", 47, 4),
                           ("D", "sell", 46, 4), ("E", "sell", 48, 4), ("F", "sell", 50, 3)]:
            assert ob.submit(t, s, p, q).status == "open"
        return ob

    ob = book(48.0)
    assert ob.trades().empty                    # nothing matches before the uncross
    assert ob.clearing_price() == (48.0, 8.0)
    ob.uncross()
    assert _fills(ob.trades()) == [("A", "D", 48.0, 4.0), ("A", "E", 48.0, 1.0),
                                   ("B", "E", 48.0, 3.0)]
    assert ob.book()["trader"].tolist() == ["F", "C"]
    assert ob.last_price == 48.0
    ob49 = book(49.0)                          # same orders, C = 49: the tie goes to 49
    assert ob49.clearing_price() == (49.0, 8.0)


def test_call_auction_prefers_the_smaller_imbalance_before_the_last_price():
    # bids A 3@50, B 2@48; ask D 3@46. V(46) = V(48) = V(50) = 3 with imbalances
    # |5-3| = 2, |5-3| = 2 and |3-3| = 0: rule (2) picks 50 although 48 = C is closer (rule 3).
    ob = OrderBook({k: (10, 1000) for k in "ABD"}, opening_price=48.0, mode="call")
    ob.submit("A", "buy", 50, 3)
    ob.submit("B", "buy", 48, 2)
    ob.submit("D", "sell", 46, 3)
    assert ob.clearing_price() == (50.0, 3.0)
    ob.uncross()
    assert _fills(ob.trades()) == [("A", "D", 50.0, 3.0)]
    assert ob.book()["trader"].tolist() == ["B"]


@pytest.mark.parametrize("rule, fills", [
    ("time", {"A": 4.0, "B": 4.0}),
    ("pro_rata", {"A": 4.0, "B": 4.0 * 4 / 6, "C": 2.0 * 4 / 6}),
])
def test_call_auction_rationing_tie_break(rule, fills):
    # bids A 4@50, B 4@48 (earlier), C 2@48; ask D 8@47. V(47)=V(48)=8, imbalance 2 at both;
    # 48 is closest to C = 48. A (better than 48) fills 4; the 4 left at 48 are rationed.
    ob = OrderBook({k: (10, 1000) for k in "ABCD"}, opening_price=48.0, mode="call",
                   tie_break=rule)
    ob.submit("A", "buy", 50, 4)
    ob.submit("B", "buy", 48, 4)
    ob.submit("C", "buy", 48, 2)
    ob.submit("D", "sell", 47, 8)
    ob.uncross()
    got = ob.trades().groupby("buyer")["quantity"].sum().to_dict()
    assert got == pytest.approx(fills)
    assert set(ob.trades()["price"]) == {48.0}


def test_switching_a_call_book_to_continuous_matches_what_crosses():
    ob = OrderBook({"A": (0, 1000), "D": (10, 0)}, opening_price=48.0, mode="call")
    ob.submit("A", "buy", 50, 5)
    ob.submit("D", "sell", 46, 4)
    assert ob.trades().empty
    ob.set_mode("continuous")          # C <- med(46, 50, 48) = 48 for min(5, 4) = 4 t
    assert _fills(ob.trades()) == [("A", "D", 48.0, 4.0)]
    again = OrderBook.replay({"A": (0, 1000), "D": (10, 0)}, ob.events(), mode="call")
    pd.testing.assert_frame_equal(again.trades(), ob.trades())


def test_bad_construction_is_refused():
    with pytest.raises(InputError, match="cash must be >= 0"):
        OrderBook({"A": (1, -5)})
    with pytest.raises(InputError, match="mode must be one of"):
        OrderBook({"A": (1, 5)}, mode="batch")
    with pytest.raises(InputError, match="tie_break must be one of"):
        OrderBook({"A": (1, 5)}, tie_break="random")
    with pytest.raises(InputError, match="opening_price must be > 0"):
        OrderBook({"A": (1, 5)}, opening_price=0)


def test_replay_takes_the_settings_from_the_log_and_refuses_contradictions(tmp_path):
    accounts = {"101": (10, 0), "202": (0, 1000)}        # numeric-looking names survive a CSV
    ob = OrderBook(accounts, opening_price=50.0, band=0.2, tie_break="pro_rata")
    ob.submit("101", "sell", 45.0, 4)
    ob.submit("202", "buy", 58.0, 3)                      # inside [40, 60] only with band 0.2
    path = tmp_path / "events.csv"
    ob.events().to_csv(path)
    again = OrderBook.replay(accounts, pd.read_csv(path, index_col="event"))
    pd.testing.assert_frame_equal(again.trades(), ob.trades())
    assert (again.opening_price, again.band, again.tie_break) == (50.0, 0.2, "pro_rata")
    assert again.last_price == ob.last_price
    with pytest.raises(InputError, match="band = 0.1 contradicts the log's 0.2"):
        OrderBook.replay(accounts, ob.events(), band=0.1)
