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
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.typing import EncodableT, FieldT

from ..events import Event
from ..live import LiveEventQueue
from ..live.backoff import Backoff
from ..record.pump import market_feeds, pump_feeds
from .codec import encode
from .streams import market_stream

__all__ = ["BusPublisher", "BusUnreachable", "collect"]

log = logging.getLogger("backtrader_channels.bus")

BUS_DOWN = "bus_down"  # the cause of events dropped because Redis did not take them


class BusUnreachable(RedisConnectionError):
    """Redis never answered during a whole ``collect``: nothing was published."""


class BusPublisher:
    """Appends events to their streams (``XADD … MAXLEN ~ maxlen``), in chunks of ``chunk``.

    Events wait in a buffer of at most ``buffer`` entries until Redis has them; a lost
    connection (Redis restarting, unreachable) is retried with ``backoff``. Events that
    arrive while the buffer is full are dropped and counted in ``dropped['bus_down']``
    (they get no entry number, so consumers see no gap in the numbers, only in trade ids).
    Entries a failed chunk may already have added come again with the same numbers, and
    consumers skip them. ``connect_timeout``/``timeout`` (seconds) bound each attempt,
    so a Redis that hangs holds no caller longer than that.
    """

    def __init__(self, url: str, *, maxlen: int | None = 1_000_000, source: str | None = None,
                 backoff: Backoff | None = None, buffer: int = 100_000, chunk: int = 1_000,
                 connect_timeout: float = 0.5, timeout: float = 1.0) -> None:
        if buffer < 1 or chunk < 1:
            raise ValueError(f"buffer and chunk must be >= 1, got {buffer!r}, {chunk!r}")
        # no retries inside redis-py (its default: 10, up to 1 s apart): ours are timed here
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout,
                                          retry=Retry(NoBackoff(), 0))
        self.url = url
        self.maxlen = maxlen
        self.source = source or f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        self.backoff = backoff or Backoff(0.1, 5.0)
        self.buffer = buffer
        self.chunk = chunk
        self.published = 0
        self.reconnects = 0  # failed attempts, each retried after a backoff
        self.dropped: Counter[str] = Counter()  # events never published, by cause
        self.reached = False  # Redis answered at least once
        self.last_error: Exception | None = None  # the latest failed attempt's error
        self._pending: deque[tuple[str, dict[FieldT, EncodableT]]] = deque()
        self._numbers: defaultdict[str, int] = defaultdict(int)
        self._failures = 0  # consecutive failed attempts
        self._retry_at = 0.0  # monotonic time of the next attempt after a failure

    @property
    def pending(self) -> int:
        """Entries buffered, not yet in Redis."""
        return len(self._pending)

    def publish(self, events: Iterable[Event], *, timeout: float | None = None) -> int:
        """Buffer ``events`` (ticks and book updates) and send what is pending, waiting up to
        ``timeout`` seconds for Redis (None: until it is all in; 0: one attempt, if one is
        due). Returns how many of ``events`` were buffered; the rest were dropped (``bus_down``)."""
        pending, numbers = self._pending, self._numbers
        taken = 0
        for event in events:
            if event.channel_name is None:
                raise ValueError(f"cannot publish {event!r}: it names no symbol")
            stream = market_stream(event.channel_type, event.channel_name)
            if len(pending) >= self.buffer:
                self.dropped[BUS_DOWN] += 1
                continue
            numbers[stream] += 1
            pending.append((stream, {"d": encode(event.data), "src": self.source, "n": numbers[stream]}))
            taken += 1
        self.flush(timeout)
        return taken

    def flush(self, timeout: float | None = None) -> bool:
        """Send the buffered entries; True once all are in Redis, False when ``timeout``
        seconds (None: no limit) ran out first. At least one attempt is made if one is due."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pending = self._pending
        first = True
        while pending:
            now = time.monotonic()
            if deadline is not None and not first and now >= deadline:
                return False
            first = False
            if self._retry_at > now:
                if deadline is not None and self._retry_at > deadline:
                    return False
                time.sleep(self._retry_at - now)
            chunk = list(islice(pending, self.chunk))
            try:
                pipe = self.redis.pipeline(transaction=False)
                for stream, fields in chunk:
                    pipe.xadd(stream, fields, maxlen=self.maxlen, approximate=True)
                pipe.execute()
            except (RedisConnectionError, RedisTimeoutError) as error:
                self._failed(error)
                continue
            self.reached = True
            if self._failures:
                log.warning("bus publisher: Redis is back after %d failed attempts; sending %d buffered entries",
                            self._failures, len(pending))
                self._failures = 0
            for _ in chunk:
                pending.popleft()
            self.published += len(chunk)
        return True

    def _failed(self, error: Exception) -> None:
        self._failures += 1
        self.reconnects += 1
        self.last_error = error
        delay = self.backoff.delay(self._failures)
        self._retry_at = time.monotonic() + delay
        # one warning per outage; the retries of it at debug level
        log.log(logging.WARNING if self._failures == 1 else logging.DEBUG,
                "bus publisher: %s; buffering (%d entries), retrying in %.2f s", error, len(self._pending), delay)

    def close(self, timeout: float = 0.0) -> None:
        """Send what is buffered for up to ``timeout`` seconds (one attempt, at once, if Redis
        was away at the last one), count what is left as dropped (``bus_down``), and close the
        connection."""
        if self._failures:
            self._retry_at = 0.0
            timeout = 0.0
        self.flush(timeout)
        if not self.reached and not self._pending:
            try:  # nothing was ever sent: is Redis there at all?
                self.redis.ping()
                self.reached = True
            except (RedisConnectionError, RedisTimeoutError) as error:
                self.last_error = error
        if self._pending:
            self.dropped[BUS_DOWN] += len(self._pending)
            self._pending.clear()
        self.redis.close()

    def summary(self) -> str:
        """One line: what was published, the reconnects, and what was dropped by cause."""
        line = f"published {self.published:,} events ({self.reconnects} reconnects to Redis)"
        if not self.dropped:
            return line + ", none dropped"
        causes = ", ".join(f"{cause}: {count:,}" for cause, count in sorted(self.dropped.items()))
        return line + f", {self.dropped.total():,} dropped ({causes})"


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
    buffer: int = 100_000,
    duration: float | None = None,
    stop: threading.Event | None = None,
    grace: float = 0.5,
) -> BusPublisher:
    """Stream ``symbols`` from the exchange (ccxt.pro) onto the bus until ``stop`` or
    ``duration``, whatever Redis does; returns the publisher (``published``, ``reconnects``,
    ``dropped``, ``summary()``).

    While Redis is away up to ``buffer`` events wait for it; the rest are dropped and
    counted. On stop, what is still buffered gets ``grace`` more seconds. Raises
    ``BusUnreachable`` if Redis never answered (then nothing was published).
    """
    queue = LiveEventQueue(100_000)
    feeds = market_feeds(exchange_id, symbols, queue, trades=trades, book=book, config=config, depth=depth,
                         purpose="collect")
    publisher = BusPublisher(url, maxlen=maxlen, buffer=buffer)

    # Redis gets a quarter of a second at a time: the loop keeps its eye on stop and duration
    def publish(batch: list[Event]) -> None:
        publisher.publish(batch, timeout=0.25)

    def keep_sending() -> None:  # what waits for Redis goes on being retried while no event comes
        publisher.flush(0.25)

    try:
        pump_feeds(feeds, queue, publish, duration=duration, stop=stop, tick=keep_sending)
    finally:
        publisher.close(grace)
    if not publisher.reached:
        raise BusUnreachable(f"{url}: Redis never answered ({publisher.last_error}); "
                             f"{publisher.dropped.total():,} events dropped ({BUS_DOWN})")
    return publisher
