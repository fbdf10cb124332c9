"""Datasets of many files (a list, a glob, a directory) read as one stream, in time order.

The day files are real: Binance spot zips laid out as data.binance.vision names them
(BTCUSDT-trades-2024-01-01.zip, milliseconds, no header), and the project's CSV, CSV.gz and
Parquet written by ``write_trades``.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import tracemalloc
import weakref
import zipfile
from pathlib import Path

import backtrader as bt
import numpy as np
import pyarrow as pa
import pytest

import backtrader_channels as bc
from backtrader_channels.cli import main
from backtrader_channels.sources import (
    SourceError,
    TradeChunk,
    open_book,
    open_trades,
    write_trades,
)
from backtrader_channels.sources.window import DateWindow, window_ns
from tests.conftest import write_book_jsonl, write_trades_csv

DAY0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY_MS = 86_400_000
SYMBOL = "BTC/USDT"


def day_rows(day: int, first_id: int, prices: list[float]) -> list[tuple[int, float, int]]:
    """(id, price, time ms) of trades one second apart from 00:00:01 of 2024-01-(day+1)."""
    return [(first_id + i, price, DAY0_MS + day * DAY_MS + (i + 1) * 1000) for i, price in enumerate(prices)]


def write_zip(path: Path, rows: list[tuple[int, float, int]]) -> Path:
    """A Binance spot trades zip (id, price, qty, quote_qty, time, is_buyer_maker, is_best_match)."""
    lines = [f"{i},{price:.8f},1.00000000,{price:.8f},{ms},False,True" for i, price, ms in rows]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return path


def write_project(path: Path, rows: list[tuple[int, float, int]]) -> Path:
    """The same trades in a project file (.csv, .csv.gz or .parquet: by the name)."""
    ids = np.array([i for i, _, _ in rows], dtype=np.int64)
    chunk = TradeChunk(np.array([ms for _, _, ms in rows], dtype=np.int64) * 1_000_000,
                       np.array([p for _, p, _ in rows]), np.ones(len(rows)), np.zeros(len(rows), dtype=bool), ids)
    write_trades(path, [chunk])
    return path


PRICES = ([100.0, 101.0, 102.0, 103.0], [110.0, 111.0, 112.0, 113.0], [120.0, 121.0, 122.0, 123.0])
DAYS = [day_rows(day, 100 + 4 * day, prices) for day, prices in enumerate(PRICES)]  # ids 100..111, no gap


def write_days(folder: Path, days: list = DAYS, suffix: str = ".zip") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    writer = write_zip if suffix == ".zip" else write_project
    return [writer(folder / f"BTCUSDT-trades-2024-01-{day + 1:02d}{suffix}", rows) for day, rows in enumerate(days)]


class BuyCloseBuy(bt.Strategy):
    """Buys 1 on the 2nd trade, closes on the 6th, buys 1 on the 10th (each fills at the next trade)."""

    def __init__(self):
        self.ids = []

    def notify_tick(self, tick):
        self.ids.append(tick.trade_id)
        count = len(self.ids)
        if count == 2:
            self.buy(size=1.0)
        elif count == 6:
            self.close()
        elif count == 10:
            self.buy(size=1.0)


def backtest(dataname, **channel_kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOL, dataname=dataname, **channel_kw)
    cerebro.addstrategy(BuyCloseBuy)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return strategy, cerebro.tick_result


def seconds(day: int, second: int) -> float:
    return (DAY0_MS + day * DAY_MS + second * 1000) / 1000


# bought at trade 3 of day 1 (102), closed at trade 3 of day 2 (112), bought at trade 3 of day 3 (122)
EXPECTED_FILLS = [(seconds(0, 3), 1.0, 102.0), (seconds(1, 3), -1.0, 112.0), (seconds(2, 3), 1.0, 122.0)]


def fills(result):
    return [(fill.timestamp, fill.size, fill.price) for fill in result.fills]


@pytest.mark.parametrize("suffix", [".zip", ".csv", ".csv.gz", ".parquet"])
def test_three_days_as_a_list_a_glob_or_a_directory_trade_as_the_same_trades_in_one_file(tmp_path, suffix):
    days = write_days(tmp_path / "days", suffix=suffix)
    one_file = write_zip(tmp_path / "all.zip", [row for rows in DAYS for row in rows])
    _, alone = backtest(one_file)
    assert fills(alone) == EXPECTED_FILLS
    # +10 on the first long, +1 on the second marked at the last trade (123)
    assert (alone.events, alone.end_value) == (12, 10_011.0)
    for dataname in (days, [str(day) for day in days], str(tmp_path / "days" / f"*{suffix}"), tmp_path / "days"):
        strategy, result = backtest(dataname)
        assert strategy.ids == list(range(100, 112)), dataname
        assert fills(result) == EXPECTED_FILLS
        assert (result.events, result.end_value, result.trades_closed) == (12, alone.end_value, 1)
        assert result.missed_trade_ids == {SYMBOL: 0} and result.duplicate_trade_ids == {SYMBOL: 0}


def test_a_downloaded_tree_with_checksums_and_partial_files_reads_as_its_days(tmp_path):
    folder = tmp_path / "spot" / "daily" / "trades" / "BTCUSDT"  # btchannels download's layout
    for day in write_days(folder):
        (day.parent / f"{day.name}.CHECKSUM").write_text(f"{'0' * 64}  {day.name}\n")
    (folder / ".BTCUSDT-trades-2024-01-04.zip.1234.partial").write_bytes(b"PK half a file")
    source = open_trades(tmp_path, symbol=SYMBOL)
    assert [file.path.name for file in source.files] == [f"BTCUSDT-trades-2024-01-0{d}.zip" for d in (1, 2, 3)]
    assert fills(backtest(tmp_path)[1]) == EXPECTED_FILLS


def test_a_gap_in_trade_ids_between_two_days_is_reported_with_its_size(tmp_path, caplog):
    days = [DAYS[0], day_rows(1, 109, PRICES[1]), day_rows(2, 113, PRICES[2])]  # ids 104..108 never came
    paths = write_days(tmp_path, days)
    caplog.set_level(logging.WARNING, logger="backtrader_channels.sources")
    strategy, result = backtest(tmp_path)
    assert strategy.ids == [*range(100, 104), *range(109, 117)]
    assert result.missed_trade_ids == {SYMBOL: 5}
    assert ("missed trade ids BTC/USDT", "5 (gaps between files)") in result.rows()
    assert fills(result) == EXPECTED_FILLS  # a gap loses no trade the files hold
    caplog.clear()
    source = open_trades(tmp_path, symbol=SYMBOL)
    list(source.chunks())  # a pass logs its gaps, once
    assert source.gaps == [{"timestamp": seconds(1, 1), "stream": "trades", "kind": "missed_trades", "count": 5,
                            "between": (str(paths[0]), str(paths[1]))}]
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path}: 1 gaps in trade ids between files, 5 ids missing "
        "(5 between BTCUSDT-trades-2024-01-01.zip and BTCUSDT-trades-2024-01-02.zip)"]


def test_trades_repeated_at_the_start_of_the_next_day_are_delivered_once(tmp_path):
    # day 2's file starts with the last two trades of day 1 (ids 102, 103): the same trades
    days = [DAYS[0], DAYS[0][2:] + DAYS[1], DAYS[2]]
    write_days(tmp_path, days)
    strategy, result = backtest(tmp_path)
    assert strategy.ids == list(range(100, 112))
    assert fills(result) == EXPECTED_FILLS and result.events == 12
    source = open_trades(tmp_path, symbol=SYMBOL)
    list(source.chunks())
    assert (source.overlap_rows, source.gaps, source.duplicate_ids) == (2, [], 0)


def test_a_month_and_days_of_that_month_read_each_trade_once(tmp_path):
    (tmp_path / "monthly").mkdir()
    write_zip(tmp_path / "monthly" / "BTCUSDT-trades-2024-01.zip", [row for rows in DAYS[:2] for row in rows])
    write_days(tmp_path / "daily", DAYS)  # days 1 and 2 are in the month too
    source = open_trades(tmp_path, symbol=SYMBOL)
    assert [f.path.name for f in source.files][:2] == ["BTCUSDT-trades-2024-01.zip", "BTCUSDT-trades-2024-01-01.zip"]
    assert [int(i) for chunk in source.chunks() for i in chunk.trade_id] == list(range(100, 112))
    assert source.overlap_rows == 8


def test_files_without_ids_that_overlap_are_refused_naming_both(tmp_path):
    first = write_trades_csv(tmp_path / "a.csv", [(1_704_067_201 + s, 100.0, 1, "buy") for s in range(5)])
    second = write_trades_csv(tmp_path / "b.csv", [(1_704_067_203 + s, 100.0, 1, "buy") for s in range(5)])
    with pytest.raises(SourceError, match=rf"^{second}: overlaps {first}: it starts at 2024-01-01T00:00:03Z, before "
                                          r"that file ends \(2024-01-01T00:00:05Z\)$"):
        list(open_trades([first, second]).chunks())


def test_files_out_of_time_order_are_refused_naming_both(tmp_path):
    day1, day2, day3 = write_days(tmp_path)
    with pytest.raises(SourceError, match=rf"^{day1}: out of time order: it starts at 2024-01-01T00:00:01Z, "
                                          rf"before {day2} \(which starts at 2024-01-02T00:00:01Z\)$"):
        backtest([day2, day1, day3])
    # a name that lies about its day: day 3's trades named as day 2's, found as they are read
    day2.unlink()
    day3.rename(tmp_path / "BTCUSDT-trades-2024-01-02.zip")
    with pytest.raises(SourceError, match=r"BTCUSDT-trades-2024-01-02.zip: its name dates it, but its first row is "
                                          r"at 2024-01-03T00:00:01\+00:00, outside that period"):
        list(open_trades(tmp_path).chunks())


def test_a_directory_mixing_symbols_or_kinds_is_refused_naming_two_files(tmp_path):
    btc, _, _ = write_days(tmp_path / "symbols")
    eth = write_zip(tmp_path / "symbols" / "ETHUSDT-trades-2024-01-04.zip", DAYS[0])
    with pytest.raises(SourceError, match=rf"^{eth}: a dataset mixes symbols: ETHUSDT here, BTCUSDT in {btc}$"):
        open_trades(tmp_path / "symbols", symbol=SYMBOL)
    days = write_days(tmp_path / "kinds")
    agg = write_zip(tmp_path / "kinds" / "BTCUSDT-aggTrades-2024-01-04.zip", DAYS[0])
    with pytest.raises(SourceError, match=rf"^{days[0]}: a dataset mixes kinds: trades here, aggtrades in {agg}$"):
        open_trades(tmp_path / "kinds")
    (tmp_path / "mixed").mkdir()
    book = write_book_jsonl(tmp_path / "mixed" / "book.jsonl", [(1.0, "snapshot", [[1, 1]], [[2, 1]])])
    trades = write_zip(tmp_path / "mixed" / "BTCUSDT-trades-2024-01-01.zip", DAYS[0])
    with pytest.raises(SourceError, match=rf"^{book}: a dataset mixes kinds: book here, trades in {trades}$"):
        open_trades(tmp_path / "mixed")
    with pytest.raises(SourceError, match=r"ETHUSDT-trades-2024-01-04.zip: the file name says ETHUSDT, not BTC/USDT"):
        open_trades(str(tmp_path / "symbols" / "ETH*"), symbol=SYMBOL)


def test_fromdate_todate_skip_whole_days_without_opening_them(tmp_path):
    write_days(tmp_path)
    (tmp_path / "BTCUSDT-trades-2023-12-31.zip").write_bytes(b"not a zip at all")
    (tmp_path / "BTCUSDT-trades-2024-01-04.zip").write_bytes(b"not a zip at all")
    with pytest.raises(SourceError, match=r"BTCUSDT-trades-2023-12-31.zip: not a readable zip file"):
        backtest(tmp_path)
    strategy, result = backtest(tmp_path, fromdate=dt.date(2024, 1, 2), todate=dt.date(2024, 1, 3))
    assert strategy.ids == list(range(104, 112)) and result.events == 8
    # the 2nd trade (day 2's 2nd) buys at day 2's 3rd (112); the 6th (day 3's 2nd) closes at day 3's 3rd (122)
    assert fills(result) == [(seconds(1, 3), 1.0, 112.0), (seconds(2, 3), -1.0, 122.0)]
    channel_source = open_trades(tmp_path, symbol=SYMBOL)
    windowed = DateWindow(channel_source, window_ns(dt.datetime(2024, 1, 2, 0, 0, 2), dt.date(2024, 1, 2)))
    assert [f.path.name for f in windowed.source.files] == ["BTCUSDT-trades-2024-01-02.zip"]
    assert [int(i) for chunk in windowed.chunks() for i in chunk.trade_id] == [105, 106, 107]


def test_files_without_dates_are_skipped_by_their_first_rows(tmp_path):
    names = ("a.csv", "b.csv", "c.csv")
    for name, rows in zip(names, DAYS, strict=True):
        write_project(tmp_path / name, rows)
    source = open_trades(tmp_path)
    assert [f.first_ns // 1_000_000 for f in source.files] == [DAYS[d][0][2] for d in range(3)]
    ms = 1_000_000
    # from day 3's 00:00:02: a and b end before c starts (00:00:01), so before the window
    assert [f.path.name for f in source.within(((DAY0_MS + 2 * DAY_MS + 2000) * ms, 2**62)).files] == ["c.csv"]
    # from day 3's 00:00:00: b may hold trades up to c's first, which is in the window
    assert [f.path.name for f in source.within(((DAY0_MS + 2 * DAY_MS) * ms, 2**62)).files] == ["b.csv", "c.csv"]
    # to day 1's 00:00:01.5: b and c start after it
    assert [f.path.name for f in source.within((0, (DAY0_MS + 1500) * ms)).files] == ["a.csv"]


def test_a_book_dataset_reads_day_files_in_order_and_refuses_an_overlap(tmp_path):
    t0 = DAY0_MS / 1000
    day1 = write_book_jsonl(tmp_path / "BTCUSDT-book-2024-01-01.jsonl",
                            [(t0 + 1, "snapshot", [[99, 1]], [[101, 1]]), (t0 + 2, "delta", [[99, 2]], [])])
    day2 = write_book_jsonl(tmp_path / "BTCUSDT-book-2024-01-02.jsonl.gz",
                            [(t0 + 86_401, "delta", [], [[101, 3]])])
    source = open_book(tmp_path)
    assert [int(t) for chunk in source.chunks() for t in chunk.ts_ns] == [int((t0 + s) * 1e9) for s in (1, 2, 86_401)]
    assert not hasattr(source, "duplicate_ids")
    late = write_book_jsonl(tmp_path / "late.jsonl", [(t0 + 1.5, "delta", [[98, 1]], [])])
    with pytest.raises(SourceError, match=rf"^{late}: overlaps {day1}"):
        list(open_book([day1, late, day2]).chunks())


def test_a_glob_that_matches_nothing_and_an_empty_list_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing-\*.zip: no such file \(the pattern matches no data file\)"):
        open_trades(str(tmp_path / "nothing-*.zip"))
    with pytest.raises(ValueError, match="empty list"):
        open_trades([])
    with pytest.raises(FileNotFoundError, match="missing.zip: no such file"):
        open_trades([tmp_path / "missing.zip", tmp_path / "other.zip"])


def test_validate_checks_a_directory_of_days(tmp_path, capsys):
    write_days(tmp_path)
    assert main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path}: 12 events, 0 rejected, 0 unreadable rows skipped")


STRATEGY = """
import backtrader as bt


class BuyCloseBuy(bt.Strategy):
    def notify_tick(self, tick):
        count = len(self.channels[("tick", "BTC/USDT")])
        if count == 2:
            self.buy(size=1.0)
        elif count == 6:
            self.close()
        elif count == 10:
            self.buy(size=1.0)
"""


def summary(output: str) -> dict[str, str]:
    """The summary's rows (label, value), but events/s (it varies)."""
    rows = (line.rsplit("  ", 1) for line in output.splitlines() if "  " in line)
    return {label.strip(): value.strip() for label, value in rows if label.strip() != "events/s"}


def test_repeated_ticks_options_run_every_day(tmp_path):
    strategy = tmp_path / "strategy.py"
    strategy.write_text(STRATEGY)
    days = write_days(tmp_path / "days")
    command = [sys.executable, "-m", "backtrader_channels.cli", "backtest", str(strategy), "--commission", "0"]
    repeated = subprocess.run([*command, *(arg for day in days for arg in ("--ticks", str(day)))],
                              capture_output=True, text=True, timeout=120, check=True).stdout
    rows = summary(repeated)
    assert (rows["events"], rows["fills"], rows["end value"]) == ("12", "3", "10,011.00")
    globbed = subprocess.run([*command, "--ticks", str(tmp_path / "days" / "*.zip")],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert summary(globbed) == rows


def held_while_reading(source) -> tuple[int, int, int]:
    """Rows read, the most chunks alive at once, and the peak bytes held (Python and numpy
    allocations traced by tracemalloc, plus Arrow's pool) above what was held before."""
    alive: list[weakref.ref] = []
    most = 0
    tracemalloc.start()
    arrow_base, arrow_peak, rows = pa.total_allocated_bytes(), 0, 0
    try:
        for chunk in source.chunks():
            rows += len(chunk)
            alive = [ref for ref in alive if ref() is not None] + [weakref.ref(chunk.ts_ns)]
            most = max(most, len(alive))
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes() - arrow_base)
            del chunk
        return rows, most, tracemalloc.get_traced_memory()[1] + arrow_peak
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_over_ten_files(tmp_path):
    rows, chunk_rows = 100_000, 20_000
    for day in range(10):  # 10 days of 100,000 trades, as project .csv.gz files
        ids = np.arange(day * rows, (day + 1) * rows, dtype=np.int64)
        ts = DAY0_MS * 1_000_000 + day * DAY_MS * 1_000_000 + np.arange(rows, dtype=np.int64) * 1_000_000
        write_trades(tmp_path / f"BTCUSDT-trades-2024-01-{day + 1:02d}.csv.gz",
                     [TradeChunk(ts, 100.0 + (ids % 97) / 10, np.full(rows, 0.001), ids % 2 == 0, ids)])
    files = sorted(tmp_path.iterdir())
    one = held_while_reading(open_trades(files[0], chunk_rows=chunk_rows))
    ten = held_while_reading(open_trades(tmp_path, chunk_rows=chunk_rows))
    assert (one[0], ten[0]) == (rows, 10 * rows)
    assert ten[1] <= 2  # the chunk delivered, and at most the one before it until it is let go
    everything = 10 * rows * (8 + 8 + 8 + 1 + 8)  # the ten days as chunks: 33 MB
    # measured: 7.8-8.8 MB for one file, 8.9-10.9 MB for ten (a file's reader, blocks read ahead in a
    # thread, the chunk): the ten days are never held, nor a quarter of them
    assert ten[2] < one[2] + everything // 4, (one, ten)


def test_a_list_of_one_entry_is_read_as_that_entry(tmp_path):
    (day,) = write_days(tmp_path / "days", DAYS[:1])
    assert open_trades([day]).format == "binance-spot-trades"
    assert len(open_trades([tmp_path / "days"]).files) == 1  # a directory: a dataset
    recording = tmp_path / "rec" / "BTCUSDT" / "trades"
    recording.mkdir(parents=True)
    write_project(recording / "2024-01-01T00-000.parquet", DAYS[0])
    assert repr(open_trades([tmp_path / "rec"])).startswith("RecordingSource(")  # as --ticks DIR gives it
