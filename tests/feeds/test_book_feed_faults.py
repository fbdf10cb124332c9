"""The order-book feed against bad depth frames and crossing diffs (real ccxt.pro, local server)."""

from __future__ import annotations

from backtrader_channels import OrderBookChannel
from backtrader_channels.feeds import CCXTLiveOrderBookFeed
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
