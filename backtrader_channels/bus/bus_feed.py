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
- Reset: Redis restarted without its data (or from an older snapshot) while this feed ran or
  waited to reconnect. Seen as the group gone (NOGROUP, or new at a reconnect) or the
  group's last delivered id below the last entry this feed took. What the feed had not read
  then is counted in ``stats.lost_in_reset``: on a trade stream the trade ids between the
  last trade taken and the first one after the reset, less what the new stream itself
  trimmed before this feed read it (XINFO STREAM ``entries-added - length``, Redis >= 7:
  counted as ``trimmed``); on other streams the collector's entry numbers in between. Those
  trades are not also ``missed_trades``; neither are the trades of trimmed entries. A feed
  started after the reset cannot know what it missed: its progress was in Redis.
- Bad entries (not this schema, another kind, a price or size that is not a positive
  number) are skipped, acknowledged and counted once in ``stats.bad_messages`` and by cause
  in ``stats.bad_entries``. A bad trade whose id is readable counts as that trade, not also
  as a missed one.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Mapping
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
    """FeedStats plus what the bus lost, by cause. Latencies here are bus latencies:
    collector receive to consumer receive."""

    trimmed: int  # entries the stream dropped (MAXLEN) before this consumer read them
    lost_in_reset: int  # trades (entries, on other streams) Redis lost restarting without them
    resets: int  # times Redis was found to have lost the stream or the group
    bad_entries: Mapping[str, int]  # entries skipped, by cause (their total is in bad_messages)


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
        self.lost_in_reset = 0
        self.resets = 0
        self.bad_entries: Counter[str] = Counter()
        self._by_trade_ids = kind == "tick"  # a reset's loss is counted by trade id here
        self._joined = False  # the group existed in an earlier session: missing now means a reset
        self._last_id = (0, 0)  # the highest entry id taken
        self._reset_budget: int | None = None  # a reset not yet accounted: entries its new stream trimmed
        self._entry_gap = 0  # entries trimmed just before the one in hand
        self._explained = 0  # trade ids skipped over that the bus lost (trimmed, reset): not missed
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
        return BusStats(**vars(self._counters.snapshot()), trimmed=self.trimmed, lost_in_reset=self.lost_in_reset,
                        resets=self.resets, bad_entries=dict(self.bad_entries))

    async def _session(self, connection: Any) -> None:
        seen = seen_key(self.stream, self.group)
        if not self._joined:
            if await self._create_group(connection, self.start_id):
                await connection.hset(seen, CREATED, time.time_ns() if self.start_id == "$" else 0)
            self._joined = True
        elif await self._create_group(connection, "0"):
            await self._reset(connection, "the consumer group is gone", new_stream=True)
        elif _entry_id(await self._last_delivered(connection)) < self._last_id:
            await self._reset(connection, "the group's last id went back", new_stream=False)
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
                await self._create_group(connection, "0")
                await self._reset(connection, "the consumer group is gone", new_stream=True)
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

    async def _reset(self, connection: Any, why: str, *, new_stream: bool) -> None:
        """Redis lost data this feed had not read: count it at the next entry (or trade).

        ``new_stream``: the group was created again at the stream's start, so the entries
        this stream added and no longer holds were trimmed before this feed could read them.
        """
        self.resets += 1
        budget = 0
        if new_stream:
            info = await connection.xinfo_stream(self.stream)
            added = info.get("entries-added")  # Redis >= 7
            budget = max(0, added - info["length"]) if added is not None else 0
        self._reset_budget = budget
        self._owed_since = 0
        await connection.hset(seen_key(self.stream, self.group), mapping={CREATED: 0, **self._acked_seq})
        log.warning("%r: %s: Redis lost data (restarted without it?); what this consumer had not read is "
                    "counted in lost_in_reset", self, why)

    async def _last_delivered(self, connection: Any) -> bytes:
        """The id of the last entry the group handed out: below one this feed took, Redis went
        back to an older state (restarted from an older snapshot)."""
        groups = await connection.xinfo_groups(self.stream)
        mine = self.group.encode()
        return next((group["last-delivered-id"] for group in groups if group["name"] == mine), b"0-0")

    def _count_reset_loss(self, lost: int) -> None:
        """Of ``lost`` (trades or entries) across a reset, what the new stream trimmed is
        ``trimmed``; the rest Redis lost."""
        budget = self._reset_budget or 0
        trimmed = min(lost, budget)
        self.trimmed += trimmed
        self.lost_in_reset += lost - trimmed
        self._reset_budget = None
        if lost:
            log.warning("%r: %d lost in the reset, %d trimmed by the new stream (%d lost in all)",
                        self, lost - trimmed, trimmed, self.lost_in_reset)

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
                    raise CodecError(f"a {type(data).__name__} on a {self.channel_type} stream", "wrong_kind")
                cause = _refusal(data)
                if cause is not None:
                    if type(data) is TickEvent and type(data.trade_id) is int:
                        self._take_trade_id(data.trade_id)  # that trade, bad: not also a missed one
                    raise CodecError(f"{cause}: {data!r}", cause)
            except CodecError as error:
                self._bad(entry, error.cause, error)
                continue
            except KeyError:
                self._bad(entry, "unparseable", "no field 'd'")
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

    def _bad(self, entry: tuple[bytes, str | None, int], cause: str, error: object) -> None:
        """Skip a bad entry: counted once, by cause, and acknowledged with the others."""
        self._counters.bad_messages += 1
        self.bad_entries[cause] += 1
        self._handled.append(entry)
        log.warning("%r: skipped a bad entry (%s): %s", self, cause, error)

    def _first_time(self, data: Any) -> bool:
        """Count a trade or book update; False for a repeat (another collector's). Other kinds'
        data (checked against the stream's kind before) carry no id to de-duplicate by."""
        counters = self._counters
        if type(data) is TickEvent:
            if not self._take_trade_id(data.trade_id):
                counters.duplicates += 1
                return False
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

    def _take_trade_id(self, trade_id: Any) -> bool:
        """Follow ``trade_id`` (False: a repeat). Ids skipped over that the bus lost (the
        entries trimmed just before, or a reset) are not counted as missed."""
        trade_ids = self._trade_ids
        before = trade_ids.missed
        if not trade_ids.accept(trade_id):
            return False
        skipped = max(0, trade_ids.missed - before)
        if self._reset_budget is not None:
            self._count_reset_loss(skipped)
            self._explained += skipped
        else:
            self._explained += min(skipped, self._entry_gap)
        self._counters.missed_trades = max(0, trade_ids.missed - self._explained)
        return True

    def _in_sequence(self, entry_id: bytes, fields: dict, pending: bool) -> tuple[bytes, str | None, int] | None:
        """``(entry id, collector, number)``, counting what the stream trimmed between two
        entries of one collector; None for a repeat of an entry already taken.

        A ``pending`` entry (handed to this group before, never acknowledged) is taken as
        it is: it was not handled, and acknowledged entries may sit between pending ones.
        """
        self._entry_gap = 0
        self._last_id = max(self._last_id, _entry_id(entry_id))
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
            gap = seq - last - 1
            if self._reset_budget is None:
                self.trimmed += gap
                self._entry_gap = gap
            elif not self._by_trade_ids:
                self._count_reset_loss(gap)
            # a trade stream after a reset: the next trade's id says what was lost
        self._last_seq[source] = seq
        return entry_id, source, seq


def _entry_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id, ``b'1767000000000-3'``, as numbers that sort like it."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def _number_problem(value: Any, cause: str, *, zero_ok: bool) -> str | None:
    """None for a finite number above 0 (or 0, ``zero_ok``); else the cause it is refused for."""
    if type(value) is not float and type(value) is not int:
        return "unparseable"  # the codec carries numbers as float64 (ints where they are whole)
    if not math.isfinite(value):
        return "nan_or_inf"
    return None if value > 0 or (zero_ok and value == 0) else cause


def _refusal(data: Any) -> str | None:
    """Why a trade or book update off the bus is unusable (a cause name of
    testing/adversarial.py), or None. Times are finite numbers >= 0, prices > 0, a trade's
    size > 0, a level's size >= 0 (0 removes the level); ids are ints, strings or None."""
    if type(data) is TickEvent:
        values = [(data.price, "invalid_price", False), (data.volume, "invalid_volume", False)]
        identifier = data.trade_id
    elif type(data) is OrderBookEvent:
        values = [(value, cause, cause == "invalid_volume") for level in (*data.bids, *data.asks)
                  for value, cause in zip(level, ("invalid_price", "invalid_volume"))]
        identifier = data.update_id
    else:
        return None
    if identifier is not None and type(identifier) is not int and type(identifier) is not str:
        return "unparseable"
    values.append((data.timestamp, "invalid_timestamp", True))
    if data.recv_timestamp is not None:
        values.append((data.recv_timestamp, "invalid_timestamp", True))
    for value, cause, zero_ok in values:
        problem = _number_problem(value, cause, zero_ok=zero_ok)
        if problem is not None:
            return problem
    return None
