"""BusFeed: a strategy process's live feed from the Redis Streams bus.

It reads one stream (kind and symbol) through a Redis consumer group and pushes the same
``Event(…, data=TickEvent / OrderBookEvent)`` objects as the ccxt feeds, so
``cerebro.add_live_feed(BusFeed(url, 'tick', 'BTC/USDT'))`` is all a strategy needs::

    feed = BusFeed('redis://127.0.0.1:6379', 'tick', 'BTC/USDT', group='my-strategy')

- Resume: an entry is acknowledged once the live engine has handled its event (``ack='handled'``,
  the default; the engine calls ``handled(event)``), or once it is on the queue
  (``ack='queued'``, for code that pops the queue itself). A consumer that restarts with
  the same ``group`` gets first what it was handed but never acknowledged, then everything
  published since, each entry once, as long as the stream still holds it.
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
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from ..events import Event, OrderBookEvent, TickEvent
from ..kinds import kind_of
from ..live import LiveEventQueue
from ..live.stats import FeedStats
from ..live.trade_ids import TradeIdFilter
from .codec import CodecError, decode
from .lifecycle import RedisFeed, log
from .streams import market_stream, seen_key

__all__ = ["BusFeed", "BusStats"]

CREATED = "__created__"  # field of the seen hash: when the group started owing entries (ns, 0: from the start)


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
        ack: str = "handled",
        **options: Any,
    ) -> None:
        if start not in ("latest", "earliest"):
            raise ValueError(f"start must be 'latest' or 'earliest', got {start!r}")
        if ack not in ("handled", "queued"):
            raise ValueError(f"ack must be 'handled' or 'queued', got {ack!r}")
        super().__init__(url, **options)
        self.stream = market_stream(kind, symbol)
        self.channel_type, self.priority = kind, kind_of(kind).priority
        self.symbol = symbol
        self.event_queue = event_queue if event_queue is not None else LiveEventQueue()
        self.group = group or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.start_id = "$" if start == "latest" else "0"
        self.batch = batch
        self.block_ms = block_ms
        self.ack = ack
        self.trimmed = 0
        self._last_seq: dict[str, int] = {}  # per collector: the last entry number taken
        self._entries: dict[int, tuple[bytes, str | None, int]] = {}  # id(event) -> entry id, source, number
        self._handled: deque[tuple[bytes, str | None, int]] = deque()  # handled, to acknowledge
        self._acked_seq: dict[str, int] = {}  # per collector: the last entry number acknowledged
        self._in_flight: set[bytes] = set()  # entries taken and not yet acknowledged
        self._trade_ids = TradeIdFilter()
        self._last_update_id: Any = None
        self._owed_since = 0

    def __repr__(self) -> str:
        return f"BusFeed({self.stream!r}, group={self.group!r})"

    def handled(self, event: Event) -> None:
        """The engine handled ``event`` (any thread): its entry may be acknowledged."""
        entry = self._entries.pop(id(event), None)
        if entry is not None:
            self._handled.append(entry)

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
            self._last_seq.setdefault(source, seq)
        try:
            await self._consume(connection)
        finally:
            if self._stop_requested:
                await self._acknowledge(connection)  # what was handled before the stop

    async def _consume(self, connection: Any) -> None:
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
                await connection.hset(seen_key(self.stream, self.group), mapping={CREATED: 0, **self._acked_seq})
                cursor = "0"
                continue
            self._failures = 0
            entries = reply[0][1] if reply else []
            if entries:
                self._deliver(entries, pending=cursor != ">")
                if cursor != ">":
                    cursor = entries[-1][0]
            elif cursor != ">":
                cursor = ">"
            await self._acknowledge(connection)

    async def _acknowledge(self, connection: Any) -> None:
        """Acknowledge the entries done with, and keep each collector's last number with them."""
        done = self._handled
        if not done:
            return
        taken = list(done)  # left in place until Redis has them: a failed ack is retried
        acked = self._acked_seq
        for _, source, seq in taken:
            if source is not None and seq > acked.get(source, 0):
                acked[source] = seq
        pipe = connection.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, *(entry_id for entry_id, _, _ in taken))
        if acked:
            pipe.hset(seen_key(self.stream, self.group), mapping=acked)
        await pipe.execute()
        in_flight = self._in_flight
        for entry_id, _, _ in taken:
            done.popleft()
            in_flight.discard(entry_id)

    async def _create_group(self, connection: Any, start_id: str) -> bool:
        """True if the group is new, False if it exists (then it resumes)."""
        try:
            await connection.xgroup_create(self.stream, self.group, id=start_id, mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
            return False
        return True

    def _deliver(self, entries: list, pending: bool) -> None:
        counters, now = self._counters, time.time()
        trimmed_before = self.trimmed
        self._push(entries, counters, now, pending)
        if self.trimmed > trimmed_before:
            log.warning("%r: %d entries were trimmed by the stream's retention before this consumer read them "
                        "(%d in all)", self, self.trimmed - trimmed_before, self.trimmed)

    def _push(self, entries: list, counters: Any, now: float, pending: bool) -> None:
        done, in_flight = self._handled, self._in_flight
        for entry_id, fields in entries:
            if entry_id in in_flight:
                continue  # read again after a reconnect; already queued or awaiting its ack
            in_flight.add(entry_id)
            counters.messages += 1
            if not fields:  # delivered earlier, then trimmed before it was acknowledged
                self.trimmed += 1
                done.append((entry_id, None, 0))
                continue
            entry = self._in_sequence(entry_id, fields, pending)
            if entry is None:
                done.append((entry_id, None, 0))  # a repeat: nothing to handle
                continue
            try:
                data = decode(fields[b"d"], self.symbol)
                if type(data) not in kind_of(self.channel_type).events:
                    raise CodecError(f"a {type(data).__name__} on a {self.channel_type} stream")
            except (CodecError, KeyError) as error:
                counters.bad_messages += 1
                log.warning("%r: skipped a bad entry: %s", self, error)
                done.append(entry)
                continue
            if not self._first_time(data):
                done.append(entry)
                continue
            received = getattr(data, "recv_timestamp", None)  # trades and books carry it
            if received is not None:
                counters.latencies.append(now - received)
            event = Event(data.timestamp, self.priority, self.channel_type, self.symbol, data)
            if self.ack == "queued":
                done.append(entry)
            else:
                self._entries[id(event)] = entry
            self.event_queue.push(event)

    def _first_time(self, data: Any) -> bool:
        """Count a trade or book update; False for a repeat (another collector's). Other kinds'
        data (checked against the stream's kind before) carry no id to de-duplicate by."""
        counters = self._counters
        if type(data) is TickEvent:
            if not self._trade_ids.accept(data.trade_id):
                counters.duplicates += 1
                return False
            counters.missed_trades = self._trade_ids.missed
            counters.trades += 1
            return True
        if type(data) is OrderBookEvent:
            last = self._last_update_id
            if data.update_id is not None and last is not None and data.update_id <= last:
                counters.duplicates += 1
                return False
            self._last_update_id = data.update_id
            counters.books += 1
        return True

    def _in_sequence(self, entry_id: bytes, fields: dict, pending: bool) -> tuple[bytes, str | None, int] | None:
        """``(entry id, collector, number)``, counting what the stream trimmed between two
        entries of one collector; None for a repeat of an entry already taken.

        A ``pending`` entry (handed to this group before, never acknowledged) is taken as
        it is: it was not handled, and acknowledged entries may sit between pending ones.
        """
        try:
            source, seq = fields[b"src"].decode(), int(fields[b"n"])
        except (KeyError, ValueError, UnicodeDecodeError):
            return entry_id, None, 0  # not numbered: nothing to check
        last = self._last_seq.get(source)
        if pending:
            self._last_seq[source] = max(seq, last or 0)
            return entry_id, source, seq
        if last is None:  # a collector's first entry here: are the ones before it owed to us?
            started_ns = source.rsplit(":", 1)[-1]
            if started_ns.isdigit() and int(started_ns) >= self._owed_since:
                last = 0
        if last is not None:
            if seq <= last:
                self._counters.duplicates += 1
                return None
            self.trimmed += seq - last - 1
        self._last_seq[source] = seq
        return entry_id, source, seq
