"""The recorder against bad trades and book levels: refused by cause before they are written,
and the parts an older recorder wrote with bad rows merged without them on the next start."""

from __future__ import annotations

import logging
import math
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtrader_channels import Event, EventPriority, OrderBookEvent, TickEvent
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.record.recorder import Recorder
from backtrader_channels.sources import (
    BookChunk,
    SourceError,
    TradeChunk,
    open_book,
    open_trades,
    write_book,
    write_trades,
)
from backtrader_channels.sources.recordings import recording_gaps
from backtrader_channels.testing.adversarial import TradeCase, bad_book_levels, trade_cases

SYMBOL = "BTC/USDT"
HOUR = 1_767_222_000.0  # 2025-12-31T23:00:00Z


def as_float(text: object) -> float | None:
    """A value as a feed hands it over: a float, or None when the wire's text is no number."""
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def trade_event(case: TradeCase) -> Event:
    t = case.time_ms / 1000
    data = TickEvent(t, as_float(case.price), as_float(case.size), "sell" if case.buyer_maker else "buy",
                     case.trade_id, SYMBOL)
    return Event(t, EventPriority.TICK, "tick", SYMBOL, data)


def book_event(t: float, bids: list, asks: list) -> Event:
    return Event(t, EventPriority.ORDERBOOK, "orderbook", SYMBOL, OrderBookEvent(t, bids, asks, "snapshot", SYMBOL))


def floatable(level_and_cause: tuple[list, str]) -> bool:
    """OrderBookEvent stores levels as floats: a level whose text is no number never reaches a recorder."""
    return all(as_float(value) is not None for value in level_and_cause[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=trade_cases(start_ms=int(HOUR * 1000), max_size=40, bad_share=0.3),
       bad_levels=st.lists(st.tuples(st.integers(0, 39), bad_book_levels().filter(floatable)), max_size=4),
       flush_every=st.integers(1, 15))
def test_bad_rows_are_refused_by_cause_and_the_recording_reads_back_whole(cases, bad_levels, flush_every):
    books = {}  # position among the trades -> (bad level, cause), at most one per position
    for position, level in bad_levels:
        books.setdefault(position % len(cases), level)
    queue = LiveEventQueue(100_000)
    for i, case in enumerate(cases):
        queue.push(trade_event(case))
        t = case.time_ms / 1000 + 0.0005
        good_bid = [100.0 + i, 1.0]
        queue.push(book_event(t, [good_bid], [[200.0, 2.0]]))
        if i in books:
            queue.push(book_event(t + 0.0001, [good_bid, books[i][0]], [[200.0, 2.0]]))
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        recorder = Recorder(out, flush_interval=3600)
        for batch_number, batch in enumerate(iter(lambda: queue.pop_batch(7, timeout=0), [])):
            recorder.write(batch)
            if batch_number % flush_every == 0:
                recorder.flush()
        recorder.close()

        good = [case for case in cases if case.cause is None]
        if good:
            trades = open_trades(out, symbol=SYMBOL)  # on_error='raise': nothing bad was written
            chunks = list(trades.chunks())
            assert [i for c in chunks for i in c.trade_id.tolist()] == [case.trade_id for case in good]  # once, in order
            assert [p for c in chunks for p in c.price.tolist()] == [float(case.price) for case in good]
        assert sum(len(chunk) for chunk in open_book(out / "BTCUSDT").chunks()) == len(cases)  # the bad ones none

        trade_causes = Counter(case.cause for case in cases if case.cause is not None)
        book_causes = Counter(cause for _, cause in books.values())
        assert recorder.stats.refused == trade_causes + book_causes
        assert recorder.stats.trades == len(good) and recorder.stats.book_updates == len(cases)
        marked: Counter[str] = Counter()
        for gap in recording_gaps(out / "BTCUSDT" / "trades"):
            marked[gap["kind"]] += gap["count"]
        assert marked == trade_causes + book_causes  # each refusal marked under its cause, no missed_trades


def older_recorders_parts(out: Path) -> tuple[Path, Path]:
    """A recording as a recorder before the row checks left it when killed: one trades part
    with a price of 0 (row 2), one book part with a NaN size (update 2); written by pyarrow
    through the same writers it used."""
    trades_dir = out / "BTCUSDT" / "trades" / "2025-12-31T23-000"
    book_dir = out / "BTCUSDT" / "book" / "2025-12-31T23-000"
    trades_dir.mkdir(parents=True)
    book_dir.mkdir(parents=True)
    ts = np.array([HOUR + 1, HOUR + 2, HOUR + 3]) * 1e9
    write_trades(trades_dir / "part-000001.parquet", [TradeChunk(
        ts.astype(np.int64), np.array([100.0, 0.0, 101.0]), np.array([0.5, 0.5, 0.5]),
        np.array([False, True, False]), np.array([7, 8, 9], dtype=np.int64))])
    write_book(book_dir / "part-000001.parquet", [BookChunk(
        ts.astype(np.int64), np.array([True, False, False]), np.array([0, 2, 3, 4], dtype=np.int64),
        np.array([0, 1, 0, 1], dtype=np.int8), np.array([99.0, 101.0, 99.0, 101.0]),
        np.array([1.0, 2.0, math.nan, 3.0]))])
    return trades_dir / "part-000001.parquet", book_dir / "part-000001.parquet"


def test_a_recording_with_an_older_recorders_bad_rows_loads_skipping_them_or_names_the_first(tmp_path):
    trades_part, book_part = older_recorders_parts(tmp_path)
    with pytest.raises(SourceError, match=r"part-000001.parquet, row 2, field 'price': not positive \(0.0\)"):
        list(open_trades(tmp_path).chunks())
    trades = open_trades(tmp_path, on_error="skip")
    assert [p for c in trades.chunks() for p in c.price.tolist()] == [100.0, 101.0]
    assert (trades.skipped_rows, dict(trades.skipped_causes)) == (1, {"invalid_price": 1})
    first = trades.first_skipped
    assert (first.path, first.row, first.field) == (str(trades_part), 2, "price")
    book = open_book(tmp_path / "BTCUSDT", on_error="skip")
    assert [t for c in book.chunks() for t in c.ts_ns.tolist()] == [int((HOUR + 1) * 1e9), int((HOUR + 3) * 1e9)]
    assert (book.skipped_rows, dict(book.skipped_causes)) == (1, {"nan_or_inf": 1})
    assert (book.first_skipped.path, book.first_skipped.row, book.first_skipped.field) == (str(book_part), 3, "size")


def test_a_recorder_starting_on_an_older_recorders_bad_parts_merges_the_good_rows(tmp_path, caplog):
    trades_part, book_part = older_recorders_parts(tmp_path)
    recorder = Recorder(tmp_path, flush_interval=3600)
    tick = TickEvent(HOUR + 10, 102.0, 0.25, "buy", 10, SYMBOL)
    with caplog.at_level(logging.WARNING, logger="backtrader_channels.record"):
        recorder.write([Event(HOUR + 10, EventPriority.TICK, "tick", SYMBOL, tick)])  # merges what it finds
        recorder.close()
    assert recorder.stats.dropped == {"invalid_price": 1, "nan_or_inf": 1}
    warnings = sorted(record.getMessage() for record in caplog.records)
    assert warnings == [
        f"{book_part}: 1 bad rows left out of 2025-12-31T23-000.parquet (nan_or_inf), "
        f"the first: {book_part}, row 3, field 'size': not a number (nan)",
        f"{trades_part}: 1 bad rows left out of 2025-12-31T23-000.parquet (invalid_price), "
        f"the first: {trades_part}, row 2, field 'price': not positive (0.0)",
    ]
    trades = open_trades(tmp_path)  # on_error='raise': the merged recording is clean
    assert [(c.trade_id.tolist(), c.price.tolist()) for c in trades.chunks()] == [([7, 9], [100.0, 101.0]),
                                                                                 ([10], [102.0])]
    assert sum(len(c) for c in open_book(tmp_path / "BTCUSDT").chunks()) == 2
    assert recorder.stats.summary() == (
        "recorded 1 trades, 0 book updates (0 snapshots), 1 gaps, "
        "2 bad rows of older parts dropped (invalid_price 1, nan_or_inf 1)")
