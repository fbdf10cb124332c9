"""The adversarial property for the bus consumer: garbage entries on a trade stream, mixed with
good trades. BusFeed delivers every good trade once and in order, counts every bad entry once
under its cause, acknowledges it (a restart never reads it again) and keeps running."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import pytest
import redis
from hypothesis import HealthCheck, given, settings

from backtrader_channels.bus import BusFeed
from backtrader_channels.bus.streams import market_stream
from backtrader_channels.feeds import FeedThread
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing.adversarial import BusEntry, bus_trade_entries
from backtrader_channels.testing.redis_server import RedisServer

_symbols = (f"ADV{number}/USDT" for number in itertools.count())


@pytest.fixture(scope="module")
def server():
    with RedisServer() as running:
        yield running


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=bus_trade_entries())
def test_good_trades_once_in_order_bad_entries_counted_once_by_cause_and_acknowledged(server, entries):
    symbol = next(_symbols)
    stream = market_stream("tick", symbol)
    last_id = max(entry.trade_id or 0 for entry in entries) + 1
    # a good trade after everything: the consumer is still running after the last bad entry
    sentinel = BusEntry({"d": _trade_message(last_id)}, None, last_id)
    entries = [*entries, sentinel]
    connection = redis.Redis.from_url(server.url)
    pipe = connection.pipeline(transaction=False)
    for entry in entries:
        pipe.xadd(stream, entry.fields)
    *_, last_entry = pipe.execute()

    queue = LiveEventQueue(10_000)
    feed = BusFeed(server.url, "tick", symbol, queue, group="adversarial", start="earliest", ack="queued", batch=7)
    with FeedThread([feed]):
        deadline = time.monotonic() + 10
        while feed.stats.messages < len(entries) and time.monotonic() < deadline:
            time.sleep(0.01)
    taken = [event.data.trade_id for event in queue.pop_batch(10_000, timeout=0)]
    stats = feed.stats
    (group,) = connection.xinfo_groups(stream)
    connection.close()

    assert feed.error is None
    assert taken == [entry.trade_id for entry in entries if entry.cause is None]
    causes = Counter(entry.cause for entry in entries if entry.cause is not None)
    assert stats.bad_entries == causes
    assert stats.bad_messages == causes.total()
    assert (stats.missed_trades, stats.duplicates, stats.messages) == (0, 0, len(entries))
    # every entry acknowledged, the bad ones too: a consumer of this group starting again reads nothing
    assert (group["pending"], group["last-delivered-id"]) == (0, last_entry)


def _trade_message(trade_id: int) -> bytes:
    import msgpack

    later = 1.8e9  # after every generated trade (the queue hands events out in time order)
    return msgpack.packb([1, later, 100.0, 1.0, False, trade_id, later + 0.001])
