"""The live feeds against the adversarial suite (testing/adversarial.py): real ccxt.pro
clients, one local FakeBinance for the module, generated streams sent frame by frame.

The property: good items delivered once, in order; each bad one counted once under its
cause; no trade counted as missed; the book never freezes (after each bad frame, one resync
and good books again, the last one the server's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from backtrader_channels import OrderBookChannel
from backtrader_channels.feeds import CCXTLiveOrderBookFeed, CCXTLiveTickFeed, FeedThread
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.live.validator import refusal_cause
from backtrader_channels.testing import FakeBinance
from backtrader_channels.testing.adversarial import Frame, bad_book_levels, binance_trade_frames
from tests.phase4.test_ccxt_feed import FAST, SYMBOL, collect, collect_until, wait_for

# no shrinking: each example runs real clients against the server (seconds, not microseconds)
EXAMPLES = settings(max_examples=15, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBinance]:
    with FakeBinance([SYMBOL]) as fake:
        yield fake


def running(server: FakeBinance, cls: type, stream: str) -> tuple[FeedThread, CCXTLiveTickFeed, LiveEventQueue]:
    """A new feed of ``cls``, once it is the server's only subscriber of ``stream``."""
    subscribed = server.subscriptions[stream]
    server.wait_connections(0)  # the previous example's feed is gone
    queue = LiveEventQueue()
    feed = cls("binance", SYMBOL, queue, config=server.ccxt_config(), backoff=FAST)
    runner = feed.start_in_thread()
    server.wait_subscriptions(stream, subscribed + 1)
    return runner, feed, queue


@EXAMPLES
@given(frames=binance_trade_frames())
def test_trades_good_once_in_order_bad_once_under_their_cause(server: FakeBinance, frames: list[Frame]) -> None:
    stream = server.trade_stream(SYMBOL)
    runner, feed, queue = running(server, CCXTLiveTickFeed, stream)
    try:
        for frame in frames:
            server.send_raw(stream, frame.text)
        wait_for(lambda: feed.stats.messages == len(frames))
        good = [frame.trade for frame in frames if frame.trade is not None and frame.cause is None]
        delivered = collect(queue, len(good))
        assert [(e.data.trade_id, e.data.price, e.data.volume) for e in delivered] == [
            (case.trade_id, float(case.price), float(case.size)) for case in good
        ]
        stats = feed.stats
        assert stats.bad_by_cause == Counter(frame.cause for frame in frames if frame.cause)
        assert (stats.trades, stats.bad_messages) == (len(good), len(frames) - len(good))
        assert (stats.missed_trades, stats.duplicates, stats.overflowed_trades, stats.reconnects) == (0, 0, 0, 0)
        assert queue.pop(timeout=0.05) is None
    finally:
        assert runner.stop(timeout=5)


def assert_clean_books(events: list) -> None:
    for event in events:
        levels = [*event.data.bids, *event.data.asks]
        assert [level for level in levels if refusal_cause(*level)] == []
        if event.data.bids and event.data.asks:
            assert event.data.bids[0][0] < event.data.asks[0][0]


def follow(server: FakeBinance, queue: LiveEventQueue, count: int) -> list:
    """Send ``count`` good diffs; the books delivered up to the server's last one."""
    last = server.send_depth_updates(SYMBOL, count)
    return collect_until(queue, lambda e: e.data.update_id >= last)


@EXAMPLES
@given(steps=st.lists(st.one_of(st.integers(1, 4), st.tuples(bad_book_levels(), st.booleans())), min_size=1, max_size=4))
def test_books_never_freeze_each_bad_level_counted_once_and_resynced(server: FakeBinance, steps: list) -> None:
    """Each step: 1-4 good diffs, or one diff with a bad level (on the bid or the ask side)
    and a good one after it."""
    stream = server.depth_stream(SYMBOL)
    runner, feed, queue = running(server, CCXTLiveOrderBookFeed, stream)
    try:
        events = collect_until(queue, lambda e: True)  # the first snapshot
        causes: Counter[str] = Counter()
        for step in steps:
            if isinstance(step, tuple):
                (level, cause), on_bid = step
                server.send_depth_levels(SYMBOL, [level] if on_bid else [], [] if on_bid else [level])
                causes[cause] += 1
            events += follow(server, queue, step if isinstance(step, int) else 1)  # good books again
        assert_clean_books(events)
        channel = OrderBookChannel(SYMBOL)
        assert channel.push(events[-1])
        _, bids, asks = server.book(SYMBOL)
        assert (channel.book.bids, channel.book.asks) == (bids, asks)
        stats = feed.stats
        assert stats.bad_by_cause == causes
        assert (stats.bad_messages, stats.resyncs) == (causes.total(), causes.total())
    finally:
        assert runner.stop(timeout=5)
