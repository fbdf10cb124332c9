"""``add_channel(..., fromdate=, todate=)``: only the rows inside the window are delivered,
both ends included as on a backtrader data feed."""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import numpy as np
import pytest

import backtrader_channels as bc
from backtrader_channels.sources import open_trades
from backtrader_channels.sources.window import DateWindow, window_ns
from tests.conftest import T0, write_book_jsonl, write_trades_csv


class Seen(bt.Strategy):
    def __init__(self):
        self.ticks, self.books = [], []

    def notify_tick(self, tick):
        self.ticks.append(tick.timestamp - T0)

    def notify_orderbook(self, book):
        self.books.append((self.event_time - T0, book.best_bid.price))


def run(tmp_path, trades=None, book=None, **window):
    cerebro = bt.Cerebro(stdstats=False)
    if trades is not None:
        cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", trades),
                            **window)
    if book is not None:
        cerebro.add_channel(bc.OrderBookChannel, symbol="BTC/USDT",
                            dataname=write_book_jsonl(tmp_path / "b.jsonl", book), **window)
    cerebro.addstrategy(Seen)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return strategy, cerebro.tick_result


def test_trades_outside_the_window_are_not_delivered_and_both_ends_are_included(tmp_path):
    trades = [(T0 + s, 100.0 + s, 1, "buy") for s in range(10)]
    start = dt.datetime(2025, 1, 1, 0, 0, 3)  # naive: UTC
    end = dt.datetime(2025, 1, 1, 0, 0, 6, tzinfo=dt.timezone.utc)
    strategy, result = run(tmp_path, trades, fromdate=start, todate=end)
    assert strategy.ticks == [3.0, 4.0, 5.0, 6.0]
    assert result.events == 4
    only_from, _ = run(tmp_path, trades, fromdate=T0 + 7.5)  # epoch seconds
    assert only_from.ticks == [8.0, 9.0]


def test_a_date_todate_keeps_the_whole_day(tmp_path):
    # 23:59:59.999 on the 1st is kept, midnight on the 2nd is not
    trades = [(T0 - 1, 1.0, 1, "buy"), (T0 + 86_399.999, 2.0, 1, "buy"), (T0 + 86_400, 3.0, 1, "buy")]
    strategy, _ = run(tmp_path, trades, fromdate=dt.date(2025, 1, 1), todate=dt.date(2025, 1, 1))
    assert strategy.ticks == [pytest.approx(86_399.999)]


def test_a_book_starts_at_its_first_snapshot_in_the_window(tmp_path):
    book = [(T0 + 0, "snapshot", [[100.0, 1]], [[101.0, 1]]),
            (T0 + 1, "delta", [[100.5, 1]], []),
            (T0 + 2, "snapshot", [[99.0, 1]], [[99.5, 1]]),
            (T0 + 3, "delta", [[99.2, 1]], []),
            (T0 + 4, "delta", [[99.3, 1]], [])]
    strategy, _ = run(tmp_path, book=book, fromdate=T0 + 1, todate=T0 + 3)
    assert strategy.books == [(2.0, 99.0), (3.0, 99.2)]  # the delta at 1 s updates a book not yet known


def test_chunks_are_cut_at_the_window_and_reading_stops_after_it(tmp_path):
    path = write_trades_csv(tmp_path / "t.csv", [(T0 + s, 100.0, 1, "buy") for s in range(1000)])
    source = open_trades(path, chunk_rows=100)
    read = []
    inner = source.chunks

    def counted():
        for chunk in inner():
            read.append(len(chunk))
            yield chunk

    source.chunks = counted
    windowed = DateWindow(source, window_ns(T0 + 250, T0 + 449))
    chunks = list(windowed.chunks())
    assert [len(chunk) for chunk in chunks] == [50, 100, 50]
    assert np.concatenate([c.ts_ns for c in chunks])[[0, -1]].tolist() == [(T0 + 250) * 10**9, (T0 + 449) * 10**9]
    assert len(read) == 5  # chunks 0-4 read, 5-9 never


def test_a_window_needs_a_file_and_an_order(tmp_path):
    with pytest.raises(ValueError, match="no dataname"):
        bc.TickChannel("BTC/USDT", fromdate=T0)
    with pytest.raises(ValueError, match="after todate"):
        bc.TickChannel("BTC/USDT", write_trades_csv(tmp_path / "t.csv", [(T0, 1.0, 1, "buy")]), fromdate=T0 + 1,
                       todate=T0)
