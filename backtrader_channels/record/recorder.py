"""Recorder: live trades and book updates into the project's Parquet formats, crash-safe.

Every ``flush_interval`` seconds each stream's new rows become one Parquet part file,
written under a hidden temporary name and renamed into place, so a ``kill -9`` loses at
most the last interval and never leaves a half-written file behind. When a segment closes
(a new UTC hour, or ``max_segment_bytes`` reached) its parts are merged into one
``<segment>.parquet``; a recorder that starts merges what a killed one left.

Book streams start with a snapshot and then record deltas (the levels that changed between
two consecutive books, removed ones with size 0); a new snapshot follows every resync or
reconnect and opens every segment, so each segment file loads on its own. Gaps (feed
reconnects and resyncs, trade ids never received, a recorder restart) are written as gap
markers that loading the recording reports. Layout: docs/recording.md.

Rows the readers would refuse (a price <= 0, a negative size, NaN or infinite numbers) are
refused before they are written, by the readers' own checks: counted by cause in
``RecorderStats.refused`` and marked as gaps of that kind. Parts an older recorder wrote with
such rows are merged without them (counted in ``RecorderStats.dropped``, with a warning
naming the part, row and field): the good rows around them are real market data, and a
part left aside would leave its segment unmerged for every later start.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..events import Event, OrderBookEvent, TickEvent
from ..kinds import kind_of, kind_of_data
from ..kinds.books import BOOKS
from ..kinds.trades import TRADES
from ..live import LiveEventQueue
from ..sources import BookChunk, TradeChunk, open_book, open_trades, write_book, write_trades
from ..sources.chunks import to_seconds
from ..sources.columns import numbers
from ..sources.errors import INVALID_PRICE, INVALID_VOLUME, Problems
from ..sources.files import atomic_output
from ..sources.recordings import BOOK_STREAM, TRADE_STREAM, segment_files, symbol_dir_name
from .pump import market_feeds, pump_feeds

__all__ = ["GAPS_SCHEMA", "FeedGaps", "Recorder", "RecorderStats", "record"]

log = logging.getLogger("backtrader_channels.record")
INF = float("inf")
GAPS_SCHEMA = pa.schema([("timestamp", pa.timestamp("ns", tz="UTC")), ("stream", pa.string()),
                         ("kind", pa.string()), ("count", pa.int64())])


def _ns(seconds: float) -> int:
    """Epoch seconds to ns via whole microseconds (the inverse of sources.chunks.to_seconds)."""
    return round(seconds * 1e6) * 1000


def _hour(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H")


@dataclass
class RecorderStats:
    """What a recorder wrote, and the bad rows it did not write (by cause, ``errors.CAUSES``)."""

    trades: int = 0
    book_updates: int = 0
    snapshots: int = 0
    gaps: int = 0
    files: int = 0  # part files written
    bytes: int = 0  # bytes of the part files written
    refused: Counter[str] = field(default_factory=Counter)  # bad trades and book updates received
    dropped: Counter[str] = field(default_factory=Counter)  # bad rows of an older recorder's parts, not merged

    def summary(self) -> str:
        """One line for the end of ``btchannels record``."""
        line = (f"recorded {self.trades:,} trades, {self.book_updates:,} book updates ({self.snapshots:,} snapshots), "
                f"{self.gaps:,} gaps")
        for what, counts in (("bad rows refused", self.refused), ("bad rows of older parts dropped", self.dropped)):
            if counts:
                causes = ", ".join(f"{cause} {count:,}" for cause, count in sorted(counts.items()))
                line += f", {counts.total():,} {what} ({causes})"
        return line


class _Stream:
    """Rows of one (symbol, stream) waiting for the next flush, and where they go."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows: list[tuple] = []
        self.segment: str | None = None
        self.segment_bytes = 0
        self.parts = 0
        self.last_ns = 0  # rows never go back in time (the readers refuse that)


@dataclass
class _Book:
    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    need_snapshot: bool = True


class Recorder:
    """A sink for live events: ``write(events)``, ``flush()`` each interval (``tick()``
    does it on time), ``close()`` at the end. One directory per symbol under ``out``."""

    def __init__(self, out: str | Path, *, flush_interval: float = 1.0, max_segment_bytes: int | None = None) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0 seconds, got {flush_interval!r}")
        self.out = Path(out)
        self.flush_interval = flush_interval
        self.max_segment_bytes = max_segment_bytes
        self.stats = RecorderStats()
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._books: dict[str, _Book] = {}
        self._last_trade_id: dict[str, int] = {}
        # True: gaps in the ids of the trades written are marked missed_trades; FeedGaps turns
        # it off, the feeds counting them (they know the ids that were bad or lost in ccxt's cache)
        self.follow_trade_ids = True
        self._last_time: dict[str, float] = {}
        self._next_flush = time.monotonic() + flush_interval
        self._recovered: set[str] = set()
        self._refused_since_flush: Counter[tuple[str, str, str]] = Counter()  # (symbol, stream, cause)

    # -- the sink --------------------------------------------------------------------------
    def write(self, events: Iterable[Event]) -> None:
        for event in events:
            data = event.data
            symbol = event.channel_name
            if symbol is None:
                raise ValueError(f"cannot record {event!r}: it names no symbol")
            if symbol not in self._recovered:
                self._recover(symbol, event.timestamp)
            self._last_time[symbol] = event.timestamp
            kind = kind_of_data(data)  # the kinds with a stream directory (Kind.recording)
            if kind is TRADES:
                self._trade(symbol, data)
            elif kind is BOOKS:
                self._book(symbol, data)

    def gap(self, symbol: str, stream: str, kind: str, count: int = 1, timestamp: float | None = None) -> None:
        """Mark a gap in ``stream`` ('trades', 'book' or 'all') of ``symbol``: ``kind`` says why."""
        when = timestamp if timestamp is not None else self._last_time.get(symbol, time.time())
        self._append(symbol, "gaps", (_ns(when), stream, kind, count))
        self.stats.gaps += 1
        if stream in (BOOK_STREAM, "all") and symbol in self._books:
            self._books[symbol].need_snapshot = True

    def tick(self) -> None:
        """Flush if the interval has passed."""
        if time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self) -> None:
        """Write every stream's buffered rows as a part file (atomic rename); the gap markers
        last, as writing trades may add some (bad rows refused)."""
        self._next_flush = time.monotonic() + self.flush_interval
        for gaps in (False, True):
            for (symbol, name), stream in list(self._streams.items()):
                if (name == "gaps") is gaps and stream.rows:
                    self._write_part(symbol, name, stream)
        if self._refused_since_flush:
            log.warning("refused bad rows (not recorded, marked as gaps): %s", ", ".join(
                f"{symbol} {stream} {cause} {count:,}"
                for (symbol, stream, cause), count in sorted(self._refused_since_flush.items())))
            self._refused_since_flush.clear()

    def close(self) -> None:
        """Flush, then merge every open segment into its segment file."""
        self.flush()
        for stream in self._streams.values():
            if stream.segment is not None:
                self._merge(stream.directory, stream.segment)

    # -- rows --------------------------------------------------------------------------------
    def _trade(self, symbol: str, tick: TickEvent) -> None:
        trade_id = tick.trade_id if type(tick.trade_id) is int else -1
        last = self._last_trade_id.get(symbol)
        if self.follow_trade_ids and last is not None and trade_id > last + 1:
            self.gap(symbol, TRADE_STREAM, "missed_trades", trade_id - last - 1, tick.timestamp)
        if trade_id >= 0:
            self._last_trade_id[symbol] = trade_id
        # checked when written (_checked_trades), a flush's rows at once
        self._append(symbol, TRADE_STREAM, (_ns(tick.timestamp), tick.price, tick.volume, tick.direction == "sell", trade_id))

    def _book(self, symbol: str, update: OrderBookEvent) -> None:
        book = self._books.setdefault(symbol, _Book())
        # checked now, not when written: the levels kept are the base of the next update's deltas
        if not all(0.0 < price < INF and 0.0 <= size < INF for price, size in (*update.bids, *update.asks)):
            self._refuse(symbol, BOOK_STREAM, _book_problems(update).causes, update.timestamp)
            return
        bids = {price: size for price, size in update.bids if size > 0}
        asks = {price: size for price, size in update.asks if size > 0}
        if update.kind == "delta":  # a source that sends deltas: apply them
            bids = _applied(book.bids, update.bids)
            asks = _applied(book.asks, update.asks)
        stream, opens_segment, timestamp = self._stream_at(symbol, BOOK_STREAM, _ns(update.timestamp))
        if book.need_snapshot or opens_segment:
            levels = [(0, p, s) for p, s in bids.items()] + [(1, p, s) for p, s in asks.items()]
            stream.rows.append((timestamp, True, levels))
            book.need_snapshot = False
            self.stats.snapshots += 1
        else:
            levels = _changes(0, book.bids, bids) + _changes(1, book.asks, asks)
            if not levels:
                return  # nothing changed in the levels kept
            stream.rows.append((timestamp, False, levels))
        book.bids, book.asks = bids, asks
        self.stats.book_updates += 1

    def _stream(self, symbol: str, name: str) -> _Stream:
        key = (symbol, name)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(self.out / symbol_dir_name(symbol) / name)
        return stream

    # -- files -------------------------------------------------------------------------------
    def _write_part(self, symbol: str, name: str, stream: _Stream) -> None:
        rows, stream.rows = stream.rows, []
        assert stream.segment is not None  # rows are only buffered once a segment is open
        self._write_rows(symbol, name, stream, stream.segment, rows)

    def _append(self, symbol: str, name: str, row: tuple) -> None:
        stream, _, ts_ns = self._stream_at(symbol, name, row[0])
        stream.rows.append((ts_ns, *row[1:]))

    def _stream_at(self, symbol: str, name: str, ts_ns: int) -> tuple[_Stream, bool, int]:
        """The stream for a row at ``ts_ns``, whether that row opens a new segment (a later
        UTC hour, or the current one is full: the old one is then written and merged), and
        the row's time, raised to the stream's last one if it was earlier."""
        stream = self._stream(symbol, name)
        ts_ns = stream.last_ns = max(ts_ns, stream.last_ns)
        hour = _hour(ts_ns / 1e9)
        current = stream.segment
        if current is None or hour > current[:13]:
            segment = f"{hour}-000"
        elif self.max_segment_bytes is not None and stream.segment_bytes >= self.max_segment_bytes:
            segment = f"{current[:13]}-{int(current[14:]) + 1:03d}"
        else:
            return stream, False, ts_ns
        if current is not None:
            if stream.rows:
                self._write_part(symbol, name, stream)
            self._merge(stream.directory, current)
        while (stream.directory / f"{segment}.parquet").exists():  # closed by an earlier recorder
            segment = f"{segment[:13]}-{int(segment[14:]) + 1:03d}"
        parts = sorted((stream.directory / segment).glob("part-*.parquet"))
        stream.segment, stream.segment_bytes = segment, 0
        stream.parts = int(parts[-1].stem[5:]) if parts else 0
        return stream, True, ts_ns

    def _write_rows(self, symbol: str, name: str, stream: _Stream, segment: str, rows: list[tuple]) -> None:
        trades = self._checked_trades(symbol, rows) if name == TRADE_STREAM else None
        if trades is not None and not len(trades):
            return  # every row refused
        directory = stream.directory / segment
        directory.mkdir(parents=True, exist_ok=True)
        stream.parts += 1
        path = directory / f"part-{stream.parts:06d}.parquet"
        if trades is not None:
            write_trades(path, [trades])
            self.stats.trades += len(trades)
        elif name == BOOK_STREAM:
            write_book(path, [_book_chunk(rows)])
        else:
            with atomic_output(path) as partial:
                pq.write_table(pa.Table.from_pylist(
                    [dict(zip(GAPS_SCHEMA.names, row)) for row in rows], GAPS_SCHEMA), partial)
        size = path.stat().st_size
        stream.segment_bytes += size
        self.stats.files += 1
        self.stats.bytes += size

    def _recover(self, symbol: str, timestamp: float) -> None:
        """First event of ``symbol``: merge segments a killed recorder left; mark the restart."""
        self._recovered.add(symbol)
        directory = self.out / symbol_dir_name(symbol)
        existed = directory.is_dir() and any(directory.iterdir())
        for name in (TRADE_STREAM, BOOK_STREAM, "gaps"):
            stream_dir = directory / name
            if stream_dir.is_dir():
                for segment in [p.name for p in stream_dir.iterdir() if p.is_dir()]:
                    self._merge(stream_dir, segment)
        if existed:
            self.gap(symbol, "all", "recorder_restart", 1, timestamp)

    def _checked_trades(self, symbol: str, rows: list[tuple]) -> TradeChunk:
        """A flush's trade rows as a chunk, the bad ones refused (the readers' checks, by column)."""
        ts, price, volume, is_sell, trade_id = zip(*rows)
        problems = Problems(len(rows))
        ids = np.array(trade_id, dtype=np.int64)
        chunk = TradeChunk(np.array(ts, dtype=np.int64),
                           numbers(_float_column(price), problems, "price", invalid=INVALID_PRICE),
                           numbers(_float_column(volume), problems, "volume", invalid=INVALID_VOLUME),
                           np.array(is_sell, dtype=bool), ids if (ids >= 0).all() else None)
        if problems.first is None:
            return chunk
        first_bad = int(chunk.ts_ns[problems.first[0]])
        self._refuse(symbol, TRADE_STREAM, problems.causes, to_seconds(first_bad))
        keep = ~problems.bad
        return TradeChunk._make(None if column is None else column[keep] for column in chunk)

    def _refuse(self, symbol: str, stream: str, causes: Counter[str], timestamp: float) -> None:
        """Count refused rows by cause, each cause a gap marker of that kind (for a book, the
        next update recorded is then a snapshot)."""
        self.stats.refused.update(causes)
        for cause, count in causes.items():
            self._refused_since_flush[symbol, stream, cause] += count
            self.gap(symbol, stream, cause, count, timestamp)

    def _merge(self, stream_dir: Path, segment: str) -> None:
        self.stats.dropped.update(_merge_segment(stream_dir, segment))


def _applied(levels: dict[float, float], changes: Sequence) -> dict[float, float]:
    result = dict(levels)
    for price, size in changes:
        if size > 0:
            result[price] = size
        else:
            result.pop(price, None)
    return result


def _changes(side: int, before: dict[float, float], after: dict[float, float]) -> list[tuple[int, float, float]]:
    changed = [(side, price, size) for price, size in after.items() if before.get(price) != size]
    return changed + [(side, price, 0.0) for price in before if price not in after]


def _float_column(values: Sequence[Any]) -> pa.Array:
    """Prices or sizes as float64 (None: missing); a value that is no number is missing too."""
    try:
        return pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in values],
                        pa.float64())


def _book_problems(update: OrderBookEvent) -> Problems:
    """The readers' checks on one book update (one row): its first bad level's cause."""
    problems = Problems(1)
    levels = (*update.bids, *update.asks)
    rows = np.zeros(len(levels), dtype=np.int64)
    numbers(_float_column([level.price for level in levels]), problems, "price", invalid=INVALID_PRICE, rows=rows)
    numbers(_float_column([level.size for level in levels]), problems, "size", invalid=INVALID_VOLUME, zero_ok=True,
            rows=rows)
    return problems


def _book_chunk(rows: list[tuple]) -> BookChunk:
    counts = [len(levels) for _, _, levels in rows]
    flat = [level for _, _, levels in rows for level in levels]
    side, price, size = (zip(*flat) if flat else ((), (), ()))
    return BookChunk(np.array([ts for ts, _, _ in rows], dtype=np.int64),
                     np.array([snap for _, snap, _ in rows], dtype=bool),
                     np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
                     np.array(side, dtype=np.int8), np.array(price, dtype=np.float64),
                     np.array(size, dtype=np.float64))


def _merge_segment(stream_dir: Path, segment: str) -> Counter[str]:
    """Parts of ``segment`` -> ``<segment>.parquet`` (atomic), then the parts go. Bad rows
    (an older recorder wrote some) are left out with a warning; returns their causes."""
    parts_dir = stream_dir / segment
    target = stream_dir / f"{segment}.parquet"
    parts = segment_files(parts_dir) if parts_dir.is_dir() else []
    dropped: Counter[str] = Counter()
    if parts and not target.exists():
        if stream_dir.name in (TRADE_STREAM, BOOK_STREAM):
            trades = stream_dir.name == TRADE_STREAM
            sources = [(open_trades if trades else open_book)(part, on_error="skip") for part in parts]
            chunks = (chunk for source in sources for chunk in source.chunks())
            if trades:
                write_trades(target, _coalesced(chunks, _join_trades))
            else:
                write_book(target, _coalesced(chunks, _join_books))
            for source in sources:
                if source.skipped_rows:
                    dropped.update(source.skipped_causes)
                    log.warning("%s: %d bad rows left out of %s (%s), the first: %s", source.path,
                                source.skipped_rows, target.name, ", ".join(sorted(source.skipped_causes)),
                                source.first_skipped)
        else:
            with atomic_output(target) as partial:
                pq.write_table(pa.concat_tables(pq.read_table(part) for part in parts), partial)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return dropped


def _coalesced(chunks: Iterable[Any], join: Any, rows: int = 250_000) -> Iterator[Any]:
    """Small chunks (one per part file) joined into chunks of about ``rows``: one Parquet
    row group each, which compresses far better than a row group per flush."""
    pending: list[Any] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= rows:
            yield join(pending)
            pending, size = [], 0
    if pending:
        yield join(pending)


def _join_trades(chunks: list[TradeChunk]) -> TradeChunk:
    ids = None if any(c.trade_id is None for c in chunks) else np.concatenate([c.trade_id for c in chunks])
    ts_ns, price, volume, is_sell = (np.concatenate([c[i] for c in chunks]) for i in range(4))
    return TradeChunk(ts_ns, price, volume, is_sell, ids)


def _join_books(chunks: list[BookChunk]) -> BookChunk:
    bases = np.cumsum([0] + [int(c.offsets[-1]) for c in chunks[:-1]])
    offsets = np.concatenate([[0]] + [c.offsets[1:] + base for c, base in zip(chunks, bases)]).astype(np.int64)
    return BookChunk(np.concatenate([c.ts_ns for c in chunks]), np.concatenate([c.is_snapshot for c in chunks]),
                     offsets, *(np.concatenate([c[i] for c in chunks]) for i in (3, 4, 5)))


def record(
    out: str | Path,
    symbols: Iterable[str],
    *,
    trades: bool = True,
    book: bool = False,
    exchange_id: str = "binance",
    config: Mapping[str, Any] | None = None,
    depth: int | None = 20,
    flush_interval: float = 1.0,
    max_segment_bytes: int | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
) -> Recorder:
    """Record ``symbols`` from the exchange (ccxt.pro) into ``out`` until ``stop`` or
    ``duration``; returns the closed recorder (``stats``)."""
    queue = LiveEventQueue(100_000)
    feeds = market_feeds(exchange_id, symbols, queue, trades=trades, book=book, config=config, depth=depth,
                         purpose="record")
    recorder = Recorder(out, flush_interval=flush_interval, max_segment_bytes=max_segment_bytes)
    watch = FeedGaps(feeds, recorder)

    def sink(events: list[Event]) -> None:
        watch.check()
        recorder.write(events)

    try:
        pump_feeds(feeds, queue, sink, duration=duration, stop=stop, tick=recorder.tick)
    finally:
        recorder.close()
    return recorder


class FeedGaps:
    """Gap markers from the feeds' counters: what a feed did not deliver, under its cause.

    Reconnects and resyncs; trade ids the exchange never sent (``missed_trades``); trades lost
    in ccxt's cache (``overflowed_trades``); bad messages by cause (``unparseable``,
    ``invalid_price``...). The feeds know which ids were bad or lost in ccxt's cache, so the
    recorder stops inferring missed trades from its own id gaps (``follow_trade_ids``): each
    trade id not recorded is marked once, under its real cause. A counter that goes down (a
    late trade filling a gap) marks nothing until it passes its highest value again.
    """

    def __init__(self, feeds: list[Any], recorder: Recorder) -> None:
        self.feeds = feeds
        self.recorder = recorder
        recorder.follow_trade_ids = False
        self.seen: dict[int, Counter[str]] = {id(feed): Counter() for feed in feeds}

    def check(self) -> None:
        for feed in self.feeds:
            stream = kind_of(feed.channel_type).recording
            if stream is None:
                continue  # a kind the recorder does not keep
            now, before = _not_delivered(feed._counters), self.seen[id(feed)]
            for kind, count in now.items():
                if count > before[kind]:
                    self.recorder.gap(feed.symbol, stream, kind, count - before[kind])
            self.seen[id(feed)] = now | before


def _not_delivered(counters: Any) -> Counter[str]:
    """A feed's counts of what it did not deliver, by cause (its plain counters: ``feed.stats``
    would sort the latencies at every batch)."""
    counts = Counter(reconnect=counters.reconnects, resync=counters.resyncs, missed_trades=counters.missed_trades,
                     overflowed_trades=counters.overflowed_trades)
    counts.update(counters.bad_by_cause)
    return counts
