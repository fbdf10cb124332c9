"""Values the readers cannot read at all (huge fields, text in a Parquet number column, too
many decimals) are SourceErrors naming the file and line or row; skip mode skips them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backtrader_channels.sources import SourceError, open_trades

HEADER = "timestamp,price,volume,direction"
GOOD = ["1735689600,100,1,buy", "1735689601,101,2,sell", "1735689603,103,1,buy"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def read(source) -> list[tuple[int, float]]:
    return [(int(ts), float(p)) for chunk in source.chunks() for ts, p in zip(chunk.ts_ns, chunk.price, strict=True)]


def test_a_field_over_the_csv_limit_names_its_line_and_is_skipped(tmp_path: Path) -> None:
    long_line = "1735689602,1" + "x" * 200_000 + ",1,buy"
    path = write(tmp_path / "long.csv", [HEADER, *GOOD[:2], long_line, GOOD[2]])

    with pytest.raises(SourceError) as raised:
        read(open_trades(path))
    assert (raised.value.path, raised.value.line) == (str(path), 4)
    assert "unreadable line (field larger than field limit" in str(raised.value)

    source = open_trades(path, on_error="skip")
    assert read(source) == [(1735689600 * 10**9, 100.0), (1735689601 * 10**9, 101.0), (1735689603 * 10**9, 103.0)]
    assert (source.skipped_rows, dict(source.skipped_reasons)) == (1, {"unreadable line": 1})


def test_a_header_over_the_csv_limit_is_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.csv", [HEADER + "," + "x" * 200_000, "1735689600,100,1,buy,1"])
    with pytest.raises(SourceError, match=r"wide.csv, line 1: unreadable line"):
        open_trades(path, on_error="skip")


def test_a_text_price_column_in_parquet_names_the_row_and_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "text.parquet"
    pq.write_table(
        pa.table({
            "timestamp": [1735689600, 1735689601, 1735689602],
            "price": ["100", "abc", " 101.5 "],
            "volume": [1.0, 1.0, 2.0],
            "direction": ["buy", "sell", "buy"],
        }),
        path,
    )
    with pytest.raises(SourceError) as raised:
        read(open_trades(path))
    assert (raised.value.row, raised.value.field) == (2, "price")
    assert str(raised.value).endswith("not a number ('abc')")

    source = open_trades(path, on_error="skip")
    assert read(source) == [(1735689600 * 10**9, 100.0), (1735689602 * 10**9, 101.5)]
    assert dict(source.skipped_reasons) == {"not a number": 1}


def test_text_timestamps_and_ids_in_parquet_are_read_exactly_or_flagged(tmp_path: Path) -> None:
    path = tmp_path / "text.parquet"
    pq.write_table(
        pa.table({
            "timestamp": ["1735689600.000000001", "yesterday", "1735689601.5"],
            "price": [1.0, 2.0, 3.0],
            "volume": [1.0, 1.0, 1.0],
            "direction": ["buy", "sell", "buy"],
            "trade_id": ["7", "8", "9x"],
        }),
        path,
    )
    source = open_trades(path, on_error="skip")
    chunks = list(source.chunks())
    assert [int(t) for t in chunks[0].ts_ns] == [1735689600000000001]
    assert chunks[0].trade_id.tolist() == [7]
    assert dict(source.skipped_reasons) == {"not a timestamp": 1, "not an integer": 1}


def test_a_parquet_column_of_bytes_is_refused_with_its_type(tmp_path: Path) -> None:
    path = tmp_path / "bytes.parquet"
    pq.write_table(
        pa.table({"timestamp": [1735689600], "price": [b"1"], "volume": [1.0], "direction": ["buy"]}), path
    )
    with pytest.raises(SourceError, match=r"row 1, field 'price': values of type binary are not a number"):
        read(open_trades(path))


def test_more_than_nine_timestamp_decimals_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "fine.csv", [HEADER, GOOD[0], "1735689600.1234567891,100,1,buy", GOOD[1]])
    with pytest.raises(SourceError) as raised:
        read(open_trades(path))
    assert str(raised.value) == (
        f"{path}, line 3, field 'timestamp': more than 9 decimals ('1735689600.1234567891')"
    )
    # trailing zeros past the ninth decimal change nothing: the value is exact
    path = write(tmp_path / "zeros.csv", [HEADER, "1735689600.1234567890,100,1,buy"])
    assert read(open_trades(path)) == [(1735689600123456789, 100.0)]


def test_parquet_ids_that_are_not_whole_int64_numbers_name_their_row(tmp_path: Path) -> None:
    for name, ids, shown in (("fraction", pa.array([1.0, 2.5]), "2.5"),
                             ("huge", pa.array([1, 2**64 - 1], pa.uint64()), str(2**64 - 1))):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"timestamp": [1735689600, 1735689601], "price": [1.0, 2.0], "volume": [1.0, 1.0],
                                 "direction": ["buy", "sell"], "trade_id": ids}), path)
        with pytest.raises(SourceError) as raised:
            read(open_trades(path))
        assert str(raised.value) == f"{path}, row 2, field 'trade_id': not an integer ({shown})"
        source = open_trades(path, on_error="skip")
        assert [chunk.trade_id.tolist() for chunk in source.chunks()] == [[1]]
