"""TickChannel and OrderBookChannel: push, latest, history, len; the L2 book."""

from __future__ import annotations

import math

import pytest

from backtrader_channels import (
    BookError,
    Event,
    EventPriority,
    Level,
    OrderBookChannel,
    OrderBookEvent,
    TickChannel,
    TickEvent,
)


def tick(ts, price, direction="buy"):
    return TickEvent(timestamp=ts, price=price, volume=0.5, direction=direction, trade_id=int(ts))


def test_tick_channel_push_latest_history_len():
    channel = TickChannel("BTC/USDT", history_size=3)
    assert channel.latest is None and len(channel) == 0 and channel.history(5) == []
    for ts in range(1, 6):
        channel.push(tick(float(ts), 100.0 + ts))
    assert channel.latest.price == 105.0
    assert len(channel) == 5  # events received
    assert [t.price for t in channel.history(2)] == [104.0, 105.0]
    assert [t.price for t in channel.history()] == [103.0, 104.0, 105.0]  # bounded to 3
    assert channel.key == ("tick", "BTC/USDT")


def test_tick_channel_accepts_events_wrapping_ticks():
    channel = TickChannel("BTC/USDT")
    channel.push(Event(1.0, EventPriority.TICK, "tick", "BTC/USDT", data=tick(1.0, 10.0)))
    assert channel.latest == tick(1.0, 10.0)


def test_channel_arguments_are_checked():
    with pytest.raises(ValueError, match="symbol"):
        TickChannel("")
    with pytest.raises(ValueError, match="history_size"):
        TickChannel("BTC/USDT", history_size=0)
    with pytest.raises(ValueError, match="on_error"):
        TickChannel("BTC/USDT", on_error="ignore")


def test_missing_file_fails_when_the_channel_is_made(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        TickChannel("BTC/USDT", dataname=missing)


def book_event(ts, bids, asks, kind="delta"):
    return OrderBookEvent(timestamp=ts, bids=bids, asks=asks, kind=kind)


def test_book_from_snapshot_and_deltas():
    channel = OrderBookChannel("BTC/USDT")
    channel.push(book_event(1.0, [[100.0, 1.0], [99.0, 2.0], [98.0, 3.0]], [[101.0, 1.5], [102.0, 2.5]], "snapshot"))
    assert channel.best_bid == Level(100.0, 1.0) and channel.best_ask == Level(101.0, 1.5)
    assert channel.mid_price == 100.5 and channel.spread == 1.0
    channel.push(book_event(2.0, [[100.0, 0.0], [99.5, 4.0]], [[101.0, 0.7]]))  # remove 100, add 99.5
    assert channel.best_bid == Level(99.5, 4.0) and channel.best_ask == Level(101.0, 0.7)
    bids, asks = channel.depth(2)
    assert bids == [Level(99.5, 4.0), Level(99.0, 2.0)] and asks == [Level(101.0, 0.7), Level(102.0, 2.5)]
    assert channel.latest.best_bid.price == 99.5  # latest is the live book
    assert [top.bid for top in channel.history()] == [100.0, 99.5]
    assert len(channel) == 2


def test_a_new_snapshot_replaces_the_book():
    channel = OrderBookChannel("BTC/USDT")
    channel.push(book_event(1.0, [[100.0, 1.0]], [[101.0, 1.0]], "snapshot"))
    channel.push(book_event(2.0, [[90.0, 1.0]], [[91.0, 1.0]], "snapshot"))
    assert channel.depth(10) == ([Level(90.0, 1.0)], [Level(91.0, 1.0)])


def test_delta_before_snapshot_is_refused_and_named():
    channel = OrderBookChannel("BTC/USDT")
    with pytest.raises(BookError, match="delta before any snapshot"):
        channel.push(book_event(1.0, [[100.0, 1.0]], []))
    assert channel.latest is None and len(channel) == 0


def test_crossing_delta_is_refused_and_the_book_left_unchanged():
    channel = OrderBookChannel("BTC/USDT")
    channel.push(book_event(1.0, [[100.0, 1.0]], [[101.0, 1.0]], "snapshot"))
    with pytest.raises(BookError, match="cross"):
        channel.push(book_event(2.0, [[99.0, 5.0], [101.5, 1.0]], []))
    assert channel.depth(5) == ([Level(100.0, 1.0)], [Level(101.0, 1.0)])


def test_skip_mode_counts_refused_updates():
    channel = OrderBookChannel("BTC/USDT", on_error="skip")
    assert channel.push(book_event(1.0, [[100.0, 1.0]], [])) is False
    channel.push(book_event(2.0, [[100.0, 1.0]], [[101.0, 1.0]], "snapshot"))
    assert channel.push(book_event(3.0, [], [[99.0, 1.0]])) is False
    assert channel.rejected == {"delta_before_snapshot": 1, "crossed": 1}
    assert len(channel) == 1


def test_empty_side_gives_nan_mid_and_spread():
    channel = OrderBookChannel("BTC/USDT")
    channel.push(book_event(1.0, [[100.0, 1.0]], [], "snapshot"))
    assert channel.best_ask is None and math.isnan(channel.mid_price) and math.isnan(channel.spread)
