"""The file readers against hostile files: generated bad trades written as real CSV, gzip, zip
and Parquet files (good rows delivered once and in order, bad ones counted once under their
cause, the same in a validate pass and a backtest), and files that inflate to hundreds of
megabytes without a newline (refused naming file, byte and zip member, memory bounded)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections import Counter
from pathlib import Path

import backtrader as bt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtrader_channels import TickChannel
from backtrader_channels.source_events import replay_events
from backtrader_channels.sources import SourceError, open_book, open_trades
from backtrader_channels.testing.adversarial import (
    TradeCase,
    bad_book_levels,
    binance_trades_csv,
    trade_cases,
    zip_without_newline,
)

SYMBOL = "BTC/USDT"
NAME = "BTCUSDT-trades-2025-01-01"
SPOT = "binance-spot-trades"
GOOD_ROW = b"1,100.5,0.25,25.125,1735689600000,true,true\n"
INFLATED = 200 << 20  # a zip of about 200 KB


def write_csv(directory: Path, cases: list[TradeCase]) -> Path:
    path = directory / f"{NAME}.csv"
    path.write_text(binance_trades_csv(cases))
    return path


def write_gzip(directory: Path, cases: list[TradeCase]) -> Path:
    path = directory / f"{NAME}.csv.gz"
    path.write_bytes(gzip.compress(binance_trades_csv(cases).encode()))
    return path


def write_zip(directory: Path, cases: list[TradeCase]) -> Path:
    path = directory / f"{NAME}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{NAME}.csv", binance_trades_csv(cases))
    return path


def write_parquet(directory: Path, cases: list[TradeCase]) -> Path:
    """The project layout, prices and sizes as text (as a converter that kept strings writes them)."""
    path = directory / f"{NAME}.parquet"
    pq.write_table(pa.table({
        "timestamp": pa.array([case.time_ms for case in cases], pa.int64()),
        "price": pa.array([case.price for case in cases], pa.string()),
        "volume": pa.array([case.size for case in cases], pa.string()),
        "direction": pa.array(["sell" if case.buyer_maker else "buy" for case in cases]),
        "trade_id": pa.array([case.trade_id for case in cases], pa.int64()),
    }), path)
    return path


WRITERS = {"csv": write_csv, "gzip": write_gzip, "zip": write_zip, "parquet": write_parquet}


def read_skipping(path: Path, cases: list[TradeCase]):
    """The file read with on_error='skip' (the Binance layout told from a good row when there is one)."""
    text = path.suffix != ".parquet"
    detect = any(case.cause is None for case in cases) or not text
    source = open_trades(path, symbol=SYMBOL, on_error="skip", format=None if detect else SPOT, chunk_rows=7)
    ids = [trade_id for chunk in source.chunks() for trade_id in chunk.trade_id.tolist()]
    return source, ids


@pytest.mark.parametrize("kind", WRITERS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=trade_cases(max_size=50, bad_share=0.3))
def test_good_rows_once_in_order_and_bad_rows_counted_once_under_their_cause(kind, cases):
    with tempfile.TemporaryDirectory() as directory:
        path = WRITERS[kind](Path(directory), cases)
        source, ids = read_skipping(path, cases)
        assert ids == [case.trade_id for case in cases if case.cause is None]
        causes = Counter(case.cause for case in cases if case.cause is not None)
        assert source.skipped_causes == causes
        assert source.skipped_rows == causes.total() == source.skipped_reasons.total()
        first_bad = next((case for case in cases if case.cause is not None), None)
        if first_bad is not None:  # the first skipped row is named, as on_error='raise' would
            where = source.first_skipped.row if kind == "parquet" else source.first_skipped.line
            assert where == cases.index(first_bad) + 1


# one bad value of each kind the adversarial module draws, and good rows between them
MIXED = [TradeCase(i + 1, price, size, 1_735_689_600_000 + 10 * i, i % 2 == 0, cause) for i, (price, size, cause) in
         enumerate([("100.5", "0.25", None), ("abc", "0.25", "unparseable"), ("100.5", "", "unparseable"),
                    ("NaN", "0.25", "nan_or_inf"), ("100.5", "1e400", "nan_or_inf"), ("0", "0.25", "invalid_price"),
                    ("-5", "0.25", "invalid_price"), ("100.5", "-1", "invalid_volume"), ("100.5", "0", "invalid_volume"),
                    ("1,5", "0.25", "unparseable"), ("101", "0.5", None), ("-Infinity", "0.25", "nan_or_inf"),
                    ("102", "0.75", None)])]


def test_validate_and_a_backtest_count_the_same_bad_rows_under_the_same_causes(tmp_path):
    path = write_zip(tmp_path, MIXED)
    validated = open_trades(path, on_error="skip")  # what `btchannels validate` reads
    events = list(replay_events(validated, SYMBOL))
    cerebro = bt.Cerebro(stdstats=False)
    channel = cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=path, on_error="skip")
    cerebro.addstrategy(bt.Strategy)
    cerebro.run(mode=bt.RunMode.TICK)
    expected = {"unparseable": 3, "nan_or_inf": 3, "invalid_price": 2, "invalid_volume": 2}
    assert (len(events), validated.skipped_rows, dict(validated.skipped_causes)) == (3, 10, expected)
    assert (channel.source.skipped_rows, dict(channel.source.skipped_causes)) == (10, expected)
    assert str(validated.first_skipped) == str(channel.source.first_skipped) == (
        f"{path}, line 2, field 'price': not a number ('abc')")
    with pytest.raises(SourceError, match=r"line 2, field 'price': not a number \('abc'\)"):
        list(open_trades(path).chunks())  # a backtest's default names the same row
    cli = subprocess.run([sys.executable, "-m", "backtrader_channels.cli", "validate", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert f"{path}: 3 events, 0 rejected, 10 unreadable rows skipped" in cli.stdout


# --- files that inflate without a newline ---------------------------------------------------

MEASURE = textwrap.dedent('''
    import json, sys
    from pathlib import Path

    def peak_kb():
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])

    import backtrader as bt
    from backtrader_channels import TickChannel
    from backtrader_channels.source_events import replay_events
    from backtrader_channels.sources import SourceError, convert, open_book, open_trades

    def backtest(path):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.add_channel(TickChannel, symbol="BTC/USDT", dataname=path)
        cerebro.addstrategy(bt.Strategy)
        cerebro.run(mode=bt.RunMode.TICK)

    def validate(path):
        opener = open_book if ".jsonl" in path.name else open_trades
        list(replay_events(opener(path, on_error="skip"), "BTC/USDT"))

    def convert_(path):
        convert(path, path.parent / "out.parquet")

    warm, what, path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    validate(warm)  # imports and first-use allocations before the baseline
    base = peak_kb()
    try:
        {"backtest": backtest, "validate": validate, "convert": convert_}[what](path)
        message = None
    except SourceError as error:
        message = str(error)
    print(json.dumps({"message": message, "growth_mb": (peak_kb() - base) / 1024}))
''')


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bombs")
    trades = zip_without_newline(directory / f"{NAME}.zip", f"{NAME}.csv", INFLATED, head=GOOD_ROW)
    book = directory / "book.jsonl.gz"
    first = json.dumps({"timestamp": 1735689600.0, "type": "snapshot", "bids": [[100.0, 1.0]], "asks": [[101.0, 1.0]]})
    with gzip.open(book, "wb", compresslevel=9) as out:
        out.write(first.encode() + b"\n")
        block = b"a" * (1 << 20)
        for _ in range(INFLATED >> 20):
            out.write(block)
    warm = directory / "warm.csv"
    warm.write_bytes(GOOD_ROW)
    return {"trades": trades, "book": book, "warm": warm}


def measured(bombs: dict[str, Path], what: str, path: Path) -> dict:
    run = subprocess.run([sys.executable, "-c", MEASURE, str(bombs["warm"]), what, str(path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.parametrize("what", ["backtest", "validate", "convert"])
def test_a_zip_inflating_to_200_mb_without_a_newline_is_refused_with_memory_bounded(bombs, what):
    path = bombs["trades"]
    assert path.stat().st_size < 1 << 20  # under a megabyte on disk
    result = measured(bombs, what, path)
    assert result["message"] == (
        f"{path}: line longer than 1 MiB at byte {len(GOOD_ROW)} of member '{NAME}.csv': not a trades file? "
        "(a longer line is read with max_line_bytes=)")
    assert result["growth_mb"] < 100, result  # it passed 200 MB: the whole member, in memory


def test_a_gzipped_book_inflating_without_a_newline_is_refused_with_memory_bounded(bombs):
    path = bombs["book"]
    result = measured(bombs, "validate", path)
    with gzip.open(path) as book:
        first_length = len(book.readline())
    assert result["message"] == (
        f"{path}: line longer than 16 MiB at byte {first_length}: not a book file? "
        "(a longer line is read with max_line_bytes=)")
    assert result["growth_mb"] < 100, result


def test_a_plain_file_is_bounded_too_and_the_bound_is_a_setting(tmp_path):
    path = tmp_path / "trades.csv"
    top = b"timestamp,price,volume,direction\n1735689600,100,1,buy\n"
    path.write_bytes(top + b"9" * 3000 + b"\n")
    with pytest.raises(SourceError, match=rf"trades.csv: line longer than 2 KiB at byte {len(top)}: not a trades file\?"):
        list(open_trades(path, max_line_bytes=2048).chunks())
    assert [len(chunk) for chunk in open_trades(path, on_error="skip").chunks()] == [1]  # the default: 1 MiB
    with pytest.raises(ValueError, match="max_line_bytes must be a positive integer, got 0"):
        open_trades(path, max_line_bytes=0)
    assert TickChannel(SYMBOL, path, max_line_bytes=4096).source.max_line_bytes == 4096  # add_channel passes it on


def test_a_first_line_without_a_newline_is_refused_before_detection(tmp_path):
    path = zip_without_newline(tmp_path / "book.jsonl.zip", "book.jsonl", 3 << 20)
    with pytest.raises(SourceError, match=r"line longer than 2 MiB at byte 0 of member 'book.jsonl': not a book file"):
        open_book(path, format="jsonl", max_line_bytes=2 << 20)


def test_a_book_line_longer_than_the_sniffed_top_opens(tmp_path):
    """A full-depth snapshot (5,000 levels a side, about 200 KB) as the first line."""
    levels = [[100.0 - i / 100, 1.5] for i in range(5000)]
    first = {"timestamp": 1735689600.0, "type": "snapshot", "bids": levels, "asks": [[200.0, 1.0]]}
    path = tmp_path / "book.jsonl"
    path.write_text(json.dumps(first) + "\n")
    assert len(path.read_bytes()) > 64 << 10
    (chunk,) = open_book(path).chunks()
    assert (len(chunk), int(chunk.offsets[-1])) == (1, 5001)


@pytest.mark.parametrize("command", [["validate"], ["convert", "OUT"]])
def test_the_cli_refuses_the_zip_in_one_line_with_a_nonzero_exit(bombs, command, tmp_path):
    path = bombs["trades"]
    args = [str(tmp_path / "out.parquet") if arg == "OUT" else arg for arg in command]
    run = subprocess.run([sys.executable, "-m", "backtrader_channels.cli", args[0], str(path), *args[1:]],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert f"{path}: line longer than 1 MiB at byte {len(GOOD_ROW)} of member '{NAME}.csv'" in run.stderr
    assert not (tmp_path / "out.parquet").exists()


@st.composite
def book_updates(draw: st.DrawFn) -> list[tuple[list, list, str | None]]:
    """Book updates as Binance prints levels (strings), about one in four with one bad level."""
    updates = []
    for _ in range(draw(st.integers(1, 30))):
        bids = [[f"{100 - k}.50", "1.25"] for k in range(draw(st.integers(0, 3)))]
        asks = [[f"{101 + k}.50", "0"] for k in range(draw(st.integers(0, 3)))]  # size 0: a removal, good
        cause = None
        if draw(st.integers(0, 3)) == 0:
            level, cause = draw(bad_book_levels())
            side = draw(st.sampled_from([bids, asks]))
            side.insert(draw(st.integers(0, len(side))), level)
        updates.append((bids, asks, cause))
    return updates


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(updates=book_updates())
def test_book_updates_with_a_bad_level_are_skipped_whole_and_counted_under_its_cause(suffix, updates):
    lines = "".join(json.dumps({"timestamp": 1735689600 + i, "type": "snapshot" if i == 0 else "delta",
                                "bids": bids, "asks": asks}) + "\n" for i, (bids, asks, _) in enumerate(updates))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"book{suffix}"
        path.write_bytes(gzip.compress(lines.encode()) if suffix.endswith(".gz") else lines.encode())
        source = open_book(path, on_error="skip", chunk_rows=5)
        times = [int(t) // 10**9 - 1735689600 for chunk in source.chunks() for t in chunk.ts_ns.tolist()]
        assert times == [i for i, (_, _, cause) in enumerate(updates) if cause is None]
        assert source.skipped_causes == Counter(cause for _, _, cause in updates if cause is not None)
