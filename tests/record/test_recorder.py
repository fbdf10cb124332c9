"""The recorder's files: hourly segments, book snapshots and deltas, gap markers, loading back."""

from __future__ import annotations

import logging

import backtrader as bt
import pytest

from backtrader_channels import (
    Event,
    EventPriority,
    OrderBookChannel,
    OrderBookEvent,
    TickChannel,
    TickEvent,
)
from backtrader_channels.record.recorder import Recorder
from backtrader_channels.sources import open_book, open_trades

SYMBOL = "BTC/USDT"
HOUR = 1_767_222_000.0  # 2025-12-31T23:00:00Z
T0 = HOUR + 3600 - 2.0  # two seconds before midnight


def tick(i: int, t: float, price: float, trade_id: int | None = None) -> Event:
    data = TickEvent(t, price, 0.5, "sell" if i % 2 else "buy", 100 + i if trade_id is None else trade_id, SYMBOL)
    return Event(t, EventPriority.TICK, "tick", SYMBOL, data)


def book(t: float, bids, asks, update_id: int) -> Event:
    data = OrderBookEvent(t, bids, asks, "snapshot", SYMBOL, update_id)
    return Event(t, EventPriority.ORDERBOOK, "orderbook", SYMBOL, data)


class Collect(bt.Strategy):
    def __init__(self):
        self.ticks, self.books = [], []

    def notify_tick(self, tick):
        self.ticks.append((tick.timestamp, tick.price, tick.direction, tick.trade_id))

    def notify_orderbook(self, book):
        bids, asks = book.depth(3)
        self.books.append((self.event_time, tuple(bids), tuple(asks)))


@pytest.fixture
def recording(tmp_path):
    recorder = Recorder(tmp_path / "rec", flush_interval=60)
    recorder.write([book(T0, [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0)], 1), tick(0, T0 + 0.1, 100.0)])
    recorder.flush()  # a part file in the first hour
    recorder.write([book(T0 + 0.5, [(99.0, 1.5), (98.0, 2.0)], [(101.0, 1.0)], 2),  # a delta: 99 -> 1.5
                    tick(1, T0 + 1.0, 100.5)])
    recorder.gap(SYMBOL, "book", "resync", 1, T0 + 1.2)  # the next book update is a snapshot
    recorder.write([book(T0 + 1.5, [(97.0, 1.0)], [(102.0, 3.0)], 9),
                    tick(2, T0 + 2.5, 101.0),  # next hour: a new segment
                    book(T0 + 3.0, [(97.0, 1.0)], [(102.0, 2.0), (103.0, 1.0)], 10),
                    tick(5, T0 + 3.5, 102.0)])  # trades 103 and 104 never arrived
    recorder.close()
    return tmp_path / "rec", recorder


def test_segments_per_hour_with_books_as_snapshot_then_deltas(recording):
    out, recorder = recording
    trades = sorted(p.name for p in (out / "BTCUSDT" / "trades").iterdir())
    assert trades == ["2025-12-31T23-000.parquet", "2026-01-01T00-000.parquet"]
    first_hour = list(open_book(out / "BTCUSDT" / "book" / "2025-12-31T23-000.parquet", chunk_rows=1).chunks())
    assert [c.is_snapshot[0] for c in first_hour] == [True, False, True]  # start, delta, after the resync
    assert (first_hour[1].side.tolist(), first_hour[1].price.tolist(), first_hour[1].size.tolist()) == ([0], [99.0], [1.5])
    next_hour = list(open_book(out / "BTCUSDT" / "book" / "2026-01-01T00-000.parquet", chunk_rows=1).chunks())
    assert [c.is_snapshot[0] for c in next_hour] == [True]  # a segment opens with a snapshot
    assert (recorder.stats.trades, recorder.stats.book_updates, recorder.stats.snapshots) == (4, 4, 3)
    assert not any(p.is_dir() for p in (out / "BTCUSDT" / "trades").iterdir())  # parts merged at close


def test_a_recording_loads_as_a_directory_and_reports_its_gaps(recording, caplog):
    out, _ = recording
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=out)
    cerebro.add_channel(OrderBookChannel, symbol=SYMBOL, dataname=out / "BTCUSDT")
    cerebro.addstrategy(Collect)
    with caplog.at_level(logging.WARNING, logger="backtrader_channels.sources"):
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert strategy.ticks == [(T0 + 0.1, 100.0, "buy", 100), (T0 + 1.0, 100.5, "sell", 101),
                              (T0 + 2.5, 101.0, "buy", 102), (T0 + 3.5, 102.0, "sell", 105)]
    assert [b[0] for b in strategy.books] == [T0, T0 + 0.5, T0 + 1.5, T0 + 3.0]
    assert strategy.books[1][1:] == (((99.0, 1.5), (98.0, 2.0)), ((101.0, 1.0),))
    assert strategy.books[2][1:] == (((97.0, 1.0),), ((102.0, 3.0),))  # the snapshot replaced the book
    assert strategy.books[3][1:] == (((97.0, 1.0),), ((102.0, 2.0), (103.0, 1.0)))
    warnings = sorted(r.getMessage().split(": ", 1)[1] for r in caplog.records)
    assert warnings == ["the recording has 1 gaps (missed_trades 1)", "the recording has 1 gaps (resync 1)"]
    trades_source = open_trades(out, symbol=SYMBOL)
    assert [(g["kind"], g["count"], g["timestamp"]) for g in trades_source.gaps] == [("missed_trades", 2, T0 + 3.5)]
    book_source = open_book(out / "BTCUSDT")
    assert [(g["kind"], g["timestamp"]) for g in book_source.gaps] == [("resync", T0 + 1.2)]


def test_size_rotation_and_a_missing_recording(tmp_path):
    recorder = Recorder(tmp_path, flush_interval=60, max_segment_bytes=1)
    for i in range(3):
        recorder.write([tick(i, T0 - 10 + i, 100.0 + i)])
        recorder.flush()
    recorder.close()
    names = sorted(p.name for p in (tmp_path / "BTCUSDT" / "trades").iterdir())
    assert names == [f"2025-12-31T23-00{i}.parquet" for i in range(3)]
    assert [c.price.tolist() for c in open_trades(tmp_path / "BTCUSDT").chunks()] == [[100.0], [101.0], [102.0]]
    with pytest.raises(ValueError, match="nor a book recording: no Parquet segments in"):
        open_book(tmp_path)


def test_cli_asks_for_what_to_record_and_for_an_existing_log(tmp_path, capsys):
    from backtrader_channels.cli import main

    assert main(["record", "--symbol", SYMBOL, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "btchannels: record: choose --trades and/or --book\n"
    with pytest.raises(SystemExit) as exit_:
        main(["replay", str(tmp_path / "missing.events"), str(tmp_path / "strategy.py")])
    assert exit_.value.code == 2
    assert f"argument log: {tmp_path / 'missing.events'}: no such file" in capsys.readouterr().err
