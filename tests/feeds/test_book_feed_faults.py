"""The order-book feed against bad depth frames and crossing diffs (real ccxt.pro, local server)."""

from __future__ import annotations

import pytest

from backtrader_channels import OrderBookChannel
from backtrader_channels.feeds import CCXTLiveOrderBookFeed
from backtrader_channels.live import LiveDataValidator
from backtrader_channels.live.validator import refusal_cause
from tests.phase4.test_ccxt_feed import SYMBOL, collect_until, server, start_feed  # noqa: F401


def follow_to_the_end(server, queue, **fault):  # noqa: F811
    """Send 5 updates with ``fault``, then 5 clean ones; the events up to the server's last."""
    server.send_depth_updates(SYMBOL, 5, **fault)
    last = server.send_depth_updates(SYMBOL, 5)
    return collect_until(queue, lambda e: e.data.update_id == last)


def assert_on_the_server_book(server, event):  # noqa: F811
    channel = OrderBookChannel(SYMBOL)
    assert channel.push(event)
    _, bids, asks = server.book(SYMBOL)
    assert (channel.book.bids, channel.book.asks) == (bids, asks)


def test_a_depth_frame_with_a_bad_price_is_counted_and_the_book_resyncs(server, start_feed):  # noqa: F811
    feed, queue = start_feed(CCXTLiveOrderBookFeed)
    collect_until(queue, lambda e: e.data.update_id == 1000)
    events = follow_to_the_end(server, queue, bad_price_at=2)  # ccxt raises TypeError on "abc"
    assert_on_the_server_book(server, events[-1])
    assert feed.running and feed.error is None
    stats = feed.stats
    assert (stats.bad_messages, stats.resyncs) == (1, 1)
    assert server.rest_calls["/api/v3/depth"] == 2  # the first snapshot and the resync's


def test_a_crossing_diff_makes_the_feed_resync_instead_of_serving_a_crossed_book(server, start_feed):  # noqa: F811
    feed, queue = start_feed(CCXTLiveOrderBookFeed)
    collect_until(queue, lambda e: e.data.update_id == 1000)
    events = follow_to_the_end(server, queue, cross_at=2)
    crossed = [e.data.update_id for e in events if e.data.bids[0][0] >= e.data.asks[0][0]]
    assert crossed == []
    assert_on_the_server_book(server, events[-1])
    assert feed.running and feed.error is None
    stats = feed.stats
    assert (stats.bad_messages, stats.resyncs) == (1, 1)
    assert server.rest_calls["/api/v3/depth"] == 2


# ccxt applies any level a diff holds; only a size of 0 removes one (issue 20: one such level
# froze the strategy's book, every later book refused by the validator, nothing counted)
@pytest.mark.parametrize(
    ("bids", "asks", "cause"),
    [
        ([["1000", "NaN"]], [], "nan_or_inf"),
        ([["1000", "-1"]], [], "invalid_volume"),
        ([["NaN", "1"]], [], "nan_or_inf"),
        ([["-5", "1"]], [], "invalid_price"),
        ([], [["60000", "1e400"]], "nan_or_inf"),
    ],
    ids=["nan-size", "negative-size", "nan-price", "negative-price", "inf-ask-size"],
)
@pytest.mark.parametrize("guarded", [True, False], ids=["refused-before-ccxt", "refused-in-ccxts-book"])
def test_a_bad_level_is_counted_and_the_book_rebuilt_not_frozen(server, start_feed, bids, asks, cause, guarded):  # noqa: F811
    """Guarded (the default), the diff is refused before ccxt applies it; unguarded, ccxt
    applies it and the book the feed would deliver is refused."""
    validator = LiveDataValidator()
    feed, queue = start_feed(CCXTLiveOrderBookFeed, validator=validator, guard_messages=guarded)
    collect_until(queue, lambda e: e.data.update_id == 1000)
    bad = server.send_depth_levels(SYMBOL, bids, asks)
    last = server.send_depth_updates(SYMBOL, 5)
    events = collect_until(queue, lambda e: e.data.update_id == last)
    levels = [level for event in events for level in (*event.data.bids, *event.data.asks)]
    assert [level for level in levels if refusal_cause(*level)] == []  # the bad book never reached the queue
    assert events[-1].data.update_id == last > bad  # later books do, following the server's
    assert_on_the_server_book(server, events[-1])
    stats = feed.stats
    assert (stats.bad_messages, stats.bad_by_cause, stats.resyncs, stats.rejected) == (1, {cause: 1}, 1, 0)
    assert validator.get_anomaly_report() == {}
    assert server.rest_calls["/api/v3/depth"] == 2  # the first snapshot and the resync's


def test_a_size_ccxt_cannot_parse_is_refused_not_read_as_a_removal(server, start_feed):  # noqa: F811
    feed, queue = start_feed(CCXTLiveOrderBookFeed)
    collect_until(queue, lambda e: e.data.update_id == 1000)
    _, bids, _ = server.book(SYMBOL)
    best_bid = f"{bids[0][0]:.2f}"
    server.send_depth_levels(SYMBOL, [[best_bid, "abc"]], [])  # ccxt would take it for size 0 and drop the level
    events = follow_to_the_end(server, queue)
    assert float(best_bid) in [price for price, _ in events[-1].data.bids]
    assert_on_the_server_book(server, events[-1])
    stats = feed.stats
    assert (stats.bad_messages, stats.bad_by_cause, stats.resyncs) == (1, {"unparseable": 1}, 1)
