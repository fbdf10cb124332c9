"""Fills against an order book: market orders walk levels at the volume-weighted price."""

from __future__ import annotations

import backtrader as bt
import pytest

from tests.conftest import T0

ASKS = [[101.0, 1.0], [102.0, 2.0], [103.0, 5.0]]
BIDS = [[100.0, 1.0], [99.0, 3.0]]


def snapshot(ts, bids=BIDS, asks=ASKS):
    return (ts, "snapshot", bids, asks)


def delta(ts, bids=(), asks=()):
    return (ts, "delta", list(bids), list(asks))


def fills(strategy):
    return [(status, price, size, at) for status, price, size, _, at in strategy.orders]


def test_market_buy_walks_the_asks_at_the_volume_weighted_price(run_ticks):
    book = [snapshot(T0), delta(T0 + 1, bids=[[100.0, 2.0]])]
    strategy, _ = run_ticks(book=book, actions={1: lambda s: s.buy(size=1.5)})
    # 1 @ 101 + 0.5 @ 102, on the book update after the order
    assert fills(strategy) == [("Completed", pytest.approx((101.0 + 0.5 * 102.0) / 1.5), 1.5, T0 + 1)]


def test_market_sell_walks_the_bids(run_ticks):
    book = [snapshot(T0), delta(T0 + 1, asks=[[101.0, 2.0]])]
    strategy, _ = run_ticks(book=book, actions={1: lambda s: s.sell(size=2.0)},
                            broker={"set_shortcash": False})  # a short: margin mode
    assert fills(strategy) == [("Completed", pytest.approx((100.0 + 99.0) / 2.0), -2.0, T0 + 1)]


def test_without_partial_fills_an_order_larger_than_the_book_waits_for_depth(run_ticks):
    book = [snapshot(T0), delta(T0 + 1, bids=[[100.0, 2.0]]), delta(T0 + 2, asks=[[104.0, 10.0]])]
    strategy, _ = run_ticks(book=book, actions={1: lambda s: s.buy(size=10.0)})
    # 8 visible at T0+1: no fill at a made-up price; at T0+2 104 x10 is added
    expected = (101.0 * 1 + 102.0 * 2 + 103.0 * 5 + 104.0 * 2) / 10.0
    assert fills(strategy) == [("Completed", pytest.approx(expected), 10.0, T0 + 2)]


def test_with_partial_fills_the_visible_depth_fills_and_the_rest_keeps_working(run_ticks):
    book = [snapshot(T0), delta(T0 + 1, bids=[[100.0, 2.0]]), delta(T0 + 2, asks=[[101.0, 0.0], [104.0, 10.0]])]
    strategy, _ = run_ticks(book=book, actions={1: lambda s: s.buy(size=10.0)}, broker={"set_partial_fills": True})
    first = (101.0 * 1 + 102.0 * 2 + 103.0 * 5) / 8.0
    # the book is not consumed between updates: the second update shows 102 x2, 103 x5, 104 x10
    total = (first * 8 + 102.0 * 2) / 10.0
    assert fills(strategy) == [("Partial", pytest.approx(first), 8.0, T0 + 1),
                               ("Completed", pytest.approx(total), 10.0, T0 + 2)]


def test_marketable_limit_takes_only_levels_within_its_limit(run_ticks):
    book = [snapshot(T0), delta(T0 + 1, bids=[[100.0, 2.0]]), delta(T0 + 2, asks=[[102.0, 0.0], [101.5, 3.0]])]
    order = lambda s: s.buy(size=2.0, exectype=bt.Order.Limit, price=102.0)  # noqa: E731
    strategy, _ = run_ticks(book=book, actions={1: order}, broker={"set_partial_fills": True})
    # T0+1: 1 @ 101 and 1 @ 102 are within 102 -> all 2 fill
    assert fills(strategy) == [("Completed", pytest.approx(101.5), 2.0, T0 + 1)]


def test_resting_limit_fills_passively_when_a_trade_prints_through_it(run_ticks):
    book = [snapshot(T0)]
    trades = [(T0 + 0.5, 100.0, 1.0, "sell"), (T0 + 1, 99.5, 3.0, "sell"), (T0 + 2, 98.5, 3.0, "sell")]
    order = lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=99.0)  # noqa: E731
    strategy, _ = run_ticks(trades=trades, book=book, actions={1: order})
    assert fills(strategy) == [("Completed", 99.0, 1.0, T0 + 2)]


def test_book_update_is_applied_before_a_trade_at_the_same_timestamp(run_ticks):
    book = [snapshot(T0), delta(T0 + 1, asks=[[101.0, 0.0]])]
    trades = [(T0 + 1, 102.0, 1.0, "buy")]
    strategy, _ = run_ticks(trades=trades, book=book)
    assert [kind for kind, *_ in strategy.seen] == ["book", "book", "tick"]
    # the trade sees the book after the delta: best ask 102
    assert strategy.seen[1][3] == 102.0


def test_market_order_with_a_book_fills_on_a_trade_event_by_walking_the_book(run_ticks):
    book = [snapshot(T0)]
    trades = [(T0 + 1, 100.0, 1.0, "sell"), (T0 + 2, 101.0, 1.0, "buy")]
    strategy, _ = run_ticks(trades=trades, book=book, actions={2: lambda s: s.buy(size=2.0)})
    # sent on the first trade, filled on the next event (the trade at T0+2) from the book: 1@101 + 1@102
    assert fills(strategy) == [("Completed", pytest.approx(101.5), 2.0, T0 + 2)]


def test_resting_limit_reached_by_the_other_side_fills_at_its_own_price(run_ticks):
    # bid placed at 100.5 while the ask is 101: it rests; when sellers quote 99.0 they would
    # have hit it at 100.5 first, so it fills at 100.5, not at 99.0
    book = [snapshot(T0), delta(T0 + 1, asks=[[101.0, 0.0], [99.0, 2.0]], bids=[[100.0, 0.0], [99.0, 0.0], [98.0, 1.0]])]
    order = lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=100.5)  # noqa: E731
    strategy, _ = run_ticks(book=book, actions={1: order})
    assert fills(strategy) == [("Completed", 100.5, 1.0, T0 + 1)]
