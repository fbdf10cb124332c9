"""Bad input: SourceError names file, line (or row) and field; on_error='skip' counts and goes on."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backtrader_channels.sources import BookChunk, SourceError, open_book, open_trades, write_book

HEADER = "timestamp,price,volume,direction\n"


def good_rows(n: int, start: float = 1_735_689_600.0) -> list[str]:
    return [
        f"{start + i / 1000:.3f},{100 + i % 10},{1 + i % 3},{'buy' if i % 2 else 'sell'}"
        for i in range(n)
    ]


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def raised(source) -> SourceError:
    with pytest.raises(SourceError) as info:
        for _ in source.chunks():
            pass
    return info.value


@pytest.mark.parametrize(
    ("bad_row", "field", "problem"),
    [
        ("1735689600.5,abc,1,buy", "price", "not a number ('abc')"),
        ("1735689600.5,-3,1,buy", "price", "not positive (-3.0)"),
        ("1735689600.5,0,1,buy", "price", "not positive (0.0)"),
        ("1735689600.5,100,1,hold", "direction", "not 'buy' or 'sell' ('hold')"),
        ("1735689600.5,100,,buy", "volume", "missing"),
        ("yesterday,100,1,buy", "timestamp", "not a number ('yesterday')"),
        ("1735689600.5,100,1", None, "wrong column count (expected 4 columns, got 3)"),
        ("1735689600.5,100,1,buy,extra", None, "wrong column count (expected 4 columns, got 5)"),
        (
            "1735689500,100,1,buy",
            "timestamp",
            "time goes backwards (1735689500 after 1735689600.004)",
        ),
    ],
)
def test_bad_row_names_file_line_and_field(
    tmp_path: Path, bad_row: str, field, problem: str
) -> None:
    rows = good_rows(7)
    rows.insert(5, bad_row)  # file line 7: after the header and five good rows
    path = write_csv(tmp_path / "data.csv", rows)
    error = raised(open_trades(path))
    assert (error.path, error.line, error.field) == (str(path), 7, field)
    where = f"{path}, line 7" + (f", field {field!r}" if field else "")
    assert str(error) == f"{where}: {problem}"


def test_line_numbers_stay_right_across_blocks_blank_lines_and_gzip(tmp_path: Path) -> None:
    import gzip

    rows = good_rows(30_000)  # about 750 kB: many 64 kB blocks
    rows[10] = ""  # a blank line: ignored, but counted as a line
    rows[25_000] = rows[25_000].replace(",buy", ",bye").replace(",sell", ",bye")
    path = tmp_path / "big.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(HEADER + "\n".join(rows) + "\n")
    error = raised(open_trades(path, chunk_rows=1_000))
    assert (error.line, error.field) == (25_002, "direction")
    source = open_trades(path, chunk_rows=1_000, on_error="skip")
    delivered = sum(len(c) for c in source.chunks())
    assert delivered == 30_000 - 2 and source.skipped_rows == 1


def test_skip_delivers_every_good_row_in_order_and_counts_reasons(tmp_path: Path) -> None:
    rows = good_rows(12)
    rows[2] = "1735689600.002,abc,1,buy"
    rows[4] = "1735689600.004,100,1"
    rows[6] = "1735689600.006,100,1,up"
    rows[8] = "1735689600.000,100,1,buy"  # earlier than row 7
    rows[9] = "1735689600.009,-1,1,buy"
    source = open_trades(write_csv(tmp_path / "d.csv", rows), on_error="skip")
    for _ in range(2):  # counts restart with each pass
        chunks = list(source.chunks())
        ts = np.concatenate([c.ts_ns for c in chunks])
        kept = [0, 1, 3, 5, 7, 10, 11]
        assert ts.tolist() == [1_735_689_600_000_000_000 + i * 1_000_000 for i in kept]
        assert source.skipped_rows == 5
        assert source.skipped_reasons == {
            "not a number": 1,
            "wrong column count": 1,
            "not 'buy' or 'sell'": 1,
            "time goes backwards": 1,
            "not positive": 1,
        }


def test_time_going_backwards_across_chunks(tmp_path: Path) -> None:
    rows = good_rows(20_000)
    rows[15_000] = "1735689600.500,100,1,buy"  # row 15000 has t = ...615.000
    path = write_csv(tmp_path / "back.csv", rows)
    error = raised(open_trades(path, chunk_rows=500))
    assert (error.line, error.field) == (15_002, "timestamp")
    assert "time goes backwards (1735689600.5 after 1735689614.999)" in str(error)


def test_binance_zip_errors_name_the_zip_and_line(tmp_path: Path) -> None:
    lines = [f"{i},93576.0,0.5,46788.0,{1735689600000000 + i},True,True" for i in range(100)]
    lines[41] = "41,93576.0,0.5,46788.0,1735689600000041,maybe,True"
    path = tmp_path / "BTCUSDT-trades-2025-01-01.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-trades-2025-01-01.csv", "\n".join(lines) + "\n")
    error = raised(open_trades(path))
    assert str(error) == f"{path}, line 42, field 'is_buyer_maker': not true/false ('maybe')"
    skipping = open_trades(path, on_error="skip")
    ids = np.concatenate([c.trade_id for c in skipping.chunks()])
    assert len(ids) == 99 and 41 not in ids and skipping.skipped_reasons == {"not true/false": 1}


def test_parquet_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {
                "timestamp": [1.0, 2.0, 3.0],
                "price": [1.0, None, 2.0],
                "volume": [1.0, 1.0, 1.0],
                "direction": ["buy", "sell", "buy"],
            }
        ),
        path,
    )
    error = raised(open_trades(path))
    assert (error.row, error.line, error.field) == (2, None, "price")
    assert str(error) == f"{path}, row 2, field 'price': missing"


def test_book_errors(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    path.write_text(
        '{"timestamp": 1735689600.1, "type": "snapshot", "bids": [[100, 1]], "asks": [[101, 1]]}\n'
        '{"timestamp": 1735689600.2, "type": "delta", "bids": [[100, 1, 5]], "asks": []}\n'
        '{"timestamp": 1735689600.3, "type": "delta", "bids": [], "asks": [[101, -2]]}\n'
        '{"timestamp": 1735689600.4, "type": "sideways", "bids": [], "asks": []}\n'
        '{"timestamp": 1735689600.5, "type": "delta", "bids": [["x", "1"]], "asks": []}\n'
        "{not json\n"
        '{"timestamp": 1735689600.05, "type": "delta", "bids": [], "asks": []}\n'
        '{"timestamp": 1735689600.6, "type": "delta", "bids": [[100, 0]], "asks": []}\n'
    )
    error = raised(open_book(path))
    assert str(error) == f"{path}, line 2, field 'bids': bad level ([100, 1, 5], not [price, size])"
    source = open_book(path, on_error="skip")
    kept = [int(t) for c in source.chunks() for t in c.ts_ns]
    assert kept == [1_735_689_600_100_000_000, 1_735_689_600_600_000_000]
    assert source.skipped_rows == 6
    assert sum(source.skipped_reasons.values()) == 6
    assert source.skipped_reasons["time goes backwards"] == 1


def test_book_parquet_errors_name_the_update_row(tmp_path: Path) -> None:
    chunk = BookChunk(
        np.array([1, 2, 3]) * 10**9,
        np.array([True, False, False]),
        np.array([0, 2, 3, 4]),
        np.array([0, 1, 0, 1], dtype=np.int8),
        np.array([99.0, 101.0, 98.0, 102.0]),
        np.array([1.0, 1.0, 1.0, 1.0]),
    )
    path = tmp_path / "book.parquet"
    write_book(path, [chunk])
    table = pq.read_table(path)
    sides = table["side"].to_pylist()
    sides[3] = "middle"
    pq.write_table(table.set_column(3, "side", pa.array(sides)), path)
    error = raised(open_book(path))
    assert (error.row, error.field) == (4, "side")
    assert "not 'bid' or 'ask' ('middle')" in str(error)


def test_opening_checks_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.zip"):
        open_trades(tmp_path / "missing.zip")
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        open_book(tmp_path / "missing.jsonl")
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.csv", "1,2\n")
        archive.writestr("b.csv", "1,2\n")
    with pytest.raises(SourceError, match=r"two.zip: a zip holding one data file"):
        open_trades(two)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(SourceError, match="broken.zip: not a readable zip"):
        open_trades(broken)
    no_header = write_csv(tmp_path / "noheader.csv", good_rows(2), header="")
    with pytest.raises(
        SourceError, match="noheader.csv: .*header line: timestamp,price,volume,direction"
    ):
        open_trades(no_header)
    missing = write_csv(tmp_path / "cols.csv", ["1,2,3"], header="timestamp,price,volume\n")
    with pytest.raises(SourceError, match=r"cols.csv, line 1: unknown columns"):
        open_trades(missing)
    book = tmp_path / "book.jsonl"
    book.write_text('{"price": 1}\n')
    with pytest.raises(SourceError, match="book.jsonl, line 1: not a book update"):
        open_book(book)
    with pytest.raises(ValueError, match="on_error"):
        open_trades(write_csv(tmp_path / "ok.csv", good_rows(1)), on_error="ignore")


def test_truncated_zip_is_a_source_error(tmp_path: Path) -> None:
    lines = [f"{i},93576.0,0.5,46788.0,{1735689600000000 + i},True,True" for i in range(50_000)]
    path = tmp_path / "BTCUSDT-trades-2025-01-01.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-trades-2025-01-01.csv", "\n".join(lines) + "\n")
    data = bytearray(path.read_bytes())
    data[5_000:5_200] = bytes(200)  # damage the compressed data, keep the directory
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="BTCUSDT-trades-2025-01-01.zip"):
        list(open_trades(path, format="binance-spot-trades").chunks())
