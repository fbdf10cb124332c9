"""BusFeed: a strategy process's live feed from the Redis Streams bus.

It reads one stream (kind and symbol) through a Redis consumer group and pushes the same
``Event(…, data=TickEvent / OrderBookEvent)`` objects as the ccxt feeds, so
``cerebro.add_live_feed(BusFeed(url, 'tick', 'BTC/USDT'))`` is all a strategy needs::

    feed = BusFeed('redis://127.0.0.1:6379', 'tick', 'BTC/USDT', group='my-strategy')

- Resume: entries are acknowledged once they are on the ``LiveEventQueue``; a consumer that
  restarts with the same ``group`` gets first what it was handed but never acknowledged,
  then everything published since, each entry once, as long as the stream still holds it.
- Redundant collectors on one stream: trades de-duplicated by trade id, book updates by
  update id; repeats counted in ``stats.duplicates``.
- Retention: each collector numbers its entries; a jump in the numbers means the stream
  was trimmed (MAXLEN) before this consumer read them: counted in ``stats.trimmed``. So is
  the start of a collector's numbers that began after the group was created (or any, with
  ``start='earliest'``). Not counted: entries of a collector that started before a
  ``'latest'`` group, trimmed before the group's first read of that collector.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from ..events import Event, EventPriority, OrderBookEvent, TickEvent
from ..feeds.stats import FeedStats
from ..feeds.trade_ids import TradeIdFilter
from ..live import LiveEventQueue
from .codec import CodecError, decode
from .lifecycle import RedisFeed, log
from .streams import market_stream, seen_key

__all__ = ["BusFeed", "BusStats"]

CREATED = "__created__"  # field of the seen hash: when the group started owing entries (ns, 0: from the start)
PRIORITIES = {"tick": EventPriority.TICK, "orderbook": EventPriority.ORDERBOOK}


@dataclass(frozen=True)
class BusStats(FeedStats):
    """FeedStats plus ``trimmed``: entries the stream dropped (MAXLEN) before this consumer
    read them. Latencies here are bus latencies: collector receive to consumer receive."""

    trimmed: int


class BusFeed(RedisFeed):
    """Trades or book updates of one symbol from the bus, into a ``LiveEventQueue``.

    ``group`` names this consumer for resuming (default: one new group per process, which
    starts at ``start``: ``'latest'`` = entries published from now on, ``'earliest'`` =
    everything the stream holds). Several feeds of one Cerebro share one ``event_queue``.
    """

    def __init__(
        self,
        url: str,
        kind: str,
        symbol: str,
        event_queue: LiveEventQueue | None = None,
        *,
        group: str | None = None,
        start: str = "latest",
        batch: int = 512,
        block_ms: int = 100,
        **options: Any,
    ) -> None:
        if start not in ("latest", "earliest"):
            raise ValueError(f"start must be 'latest' or 'earliest', got {start!r}")
        super().__init__(url, **options)
        self.stream = market_stream(kind, symbol)
        self.channel_type = kind
        self.priority = PRIORITIES[kind]
        self.symbol = symbol
        self.event_queue = event_queue if event_queue is not None else LiveEventQueue()
        self.group = group or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.start_id = "$" if start == "latest" else "0"
        self.batch = batch
        self.block_ms = block_ms
        self.trimmed = 0
        self._last_seq: dict[str, int] = {}
        self._trade_ids = TradeIdFilter()
        self._last_update_id: Any = None
        self._owed_since = 0

    def __repr__(self) -> str:
        return f"BusFeed({self.stream!r}, group={self.group!r})"

    @property
    def stats(self) -> BusStats:
        return BusStats(**vars(self._counters.snapshot()), trimmed=self.trimmed)

    async def _session(self, connection: Any) -> None:
        seen = seen_key(self.stream, self.group)
        if await self._create_group(connection, self.start_id):
            await connection.hset(seen, CREATED, time.time_ns() if self.start_id == "$" else 0)
        stored = {key.decode(): int(value) for key, value in (await connection.hgetall(seen)).items()}
        self._owed_since = stored.pop(CREATED, 0)
        for source, seq in stored.items():
            self._last_seq[source] = max(seq, self._last_seq.get(source, 0))
        cursor = "0"  # first what was handed to this consumer but never acknowledged
        while not self._stop_requested:
            try:
                reply = await self._read(connection.xreadgroup(
                    self.group, self.group, {self.stream: cursor}, count=self.batch,
                    block=None if cursor != ">" else self.block_ms,
                ))
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                log.warning("%r: the group is gone (Redis lost its data?); recreating it", self)
                await self._create_group(connection, "0")
                await connection.hset(seen_key(self.stream, self.group), mapping={CREATED: 0, **self._last_seq})
                cursor = "0"
                continue
            self._failures = 0
            entries = reply[0][1] if reply else []
            if not entries:
                cursor = ">"
                continue
            self._deliver(entries)
            pipe = connection.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, *(entry_id for entry_id, _ in entries))
            pipe.hset(seen_key(self.stream, self.group), mapping=self._last_seq)
            await pipe.execute()
            if cursor != ">":
                cursor = entries[-1][0]

    async def _create_group(self, connection: Any, start_id: str) -> bool:
        """True if the group is new, False if it exists (then it resumes)."""
        try:
            await connection.xgroup_create(self.stream, self.group, id=start_id, mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
            return False
        return True

    def _deliver(self, entries: list) -> None:
        counters, now = self._counters, time.time()
        trimmed_before = self.trimmed
        self._push(entries, counters, now)
        if self.trimmed > trimmed_before:
            log.warning("%r: %d entries were trimmed by the stream's retention before this consumer read them "
                        "(%d in all)", self, self.trimmed - trimmed_before, self.trimmed)

    def _push(self, entries: list, counters: Any, now: float) -> None:
        for _, fields in entries:
            counters.messages += 1
            if not fields:  # delivered earlier, then trimmed before it was acknowledged
                self.trimmed += 1
                continue
            if not self._in_sequence(fields):
                continue
            try:
                data = decode(fields[b"d"], self.symbol)
            except (CodecError, KeyError) as error:
                counters.bad_messages += 1
                log.warning("%r: skipped a bad entry: %s", self, error)
                continue
            if type(data) is TickEvent:
                if not self._trade_ids.accept(data.trade_id):
                    counters.duplicates += 1
                    continue
                counters.missed_trades = self._trade_ids.missed
                counters.trades += 1
            elif type(data) is OrderBookEvent:
                if data.update_id is not None and self._last_update_id is not None and data.update_id <= self._last_update_id:
                    counters.duplicates += 1
                    continue
                self._last_update_id = data.update_id
                counters.books += 1
            else:
                counters.bad_messages += 1
                continue
            if data.recv_timestamp is not None:
                counters.latencies.append(now - data.recv_timestamp)
            self.event_queue.push(Event(data.timestamp, self.priority, self.channel_type, self.symbol, data))

    def _in_sequence(self, fields: dict) -> bool:
        """Count what the stream trimmed between two entries of one collector; False for a
        repeat of an entry already taken."""
        try:
            source, seq = fields[b"src"].decode(), int(fields[b"n"])
        except (KeyError, ValueError, UnicodeDecodeError):
            return True  # not numbered: nothing to check
        last = self._last_seq.get(source)
        if last is None:  # a collector's first entry here: are the ones before it owed to us?
            started_ns = source.rsplit(":", 1)[-1]
            if started_ns.isdigit() and int(started_ns) >= self._owed_since:
                last = 0
        if last is not None:
            if seq <= last:
                self._counters.duplicates += 1
                return False
            self.trimmed += seq - last - 1
        self._last_seq[source] = seq
        return True
