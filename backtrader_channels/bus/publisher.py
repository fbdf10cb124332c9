"""BusPublisher and collect(): normalised live events onto Redis Streams.

Each entry has three fields: ``d`` (the msgpack message, see codec.py), ``src`` (this
publisher's id) and ``n`` (its entry number in that stream: 1, 2, ...), which lets
consumers count what retention trimmed away and drop repeats.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from ..events import Event
from ..live import LiveEventQueue
from ..live.backoff import Backoff
from ..record.pump import market_feeds, pump_feeds
from .codec import encode
from .streams import market_stream

__all__ = ["BusPublisher", "collect"]

log = logging.getLogger("backtrader_channels.bus")


class BusPublisher:
    """Appends events to their streams (``XADD … MAXLEN ~ maxlen``), in batches.

    A lost connection (Redis restarting) is retried with a backoff until the batch is in:
    nothing is dropped. Entries a failed batch may already have added come again with the
    same numbers, and consumers skip them.
    """

    def __init__(self, url: str, *, maxlen: int | None = 1_000_000, source: str | None = None,
                 backoff: Backoff | None = None) -> None:
        self.redis = redis.Redis.from_url(url)
        self.maxlen = maxlen
        self.source = source or f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self.backoff = backoff or Backoff(0.1, 5.0)
        self.published = 0
        self.reconnects = 0
        self._numbers: defaultdict[str, int] = defaultdict(int)

    def publish(self, events: Iterable[Event]) -> int:
        """Append ``events`` (ticks and book updates) to their streams; returns how many."""
        entries: list[tuple[str, dict[FieldT, EncodableT]]] = []
        numbers = self._numbers
        for event in events:
            if event.channel_name is None:
                raise ValueError(f"cannot publish {event!r}: it names no symbol")
            stream = market_stream(event.channel_type, event.channel_name)
            numbers[stream] += 1
            entries.append((stream, {"d": encode(event.data), "src": self.source, "n": numbers[stream]}))
        attempt = 0
        while True:
            try:
                pipe = self.redis.pipeline(transaction=False)
                for stream, fields in entries:
                    pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
                pipe.execute()
                break
            except (RedisConnectionError, RedisTimeoutError) as error:
                attempt += 1
                self.reconnects += 1
                delay = self.backoff.delay(attempt)
                log.warning("bus publisher: %s; retrying in %.2f s", error, delay)
                time.sleep(delay)
        self.published += len(entries)
        return len(entries)

    def close(self) -> None:
        self.redis.close()


def collect(
    url: str,
    symbols: Iterable[str],
    *,
    trades: bool = True,
    book: bool = False,
    exchange_id: str = "binance",
    config: Mapping[str, Any] | None = None,
    depth: int | None = 20,
    maxlen: int | None = 1_000_000,
    duration: float | None = None,
    stop: threading.Event | None = None,
) -> BusPublisher:
    """Stream ``symbols`` from the exchange (ccxt.pro) onto the bus until ``stop`` or
    ``duration``; returns the publisher (``published``, ``reconnects``)."""
    queue = LiveEventQueue(100_000)
    feeds = market_feeds(exchange_id, symbols, queue, trades=trades, book=book, config=config, depth=depth,
                         purpose="collect")
    publisher = BusPublisher(url, maxlen=maxlen)
    try:
        pump_feeds(feeds, queue, publisher.publish, duration=duration, stop=stop)
    finally:
        publisher.close()
    return publisher
