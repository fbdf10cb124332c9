"""Order-book files: JSON lines (plain, gzip, Binance-style strings) and Parquet, round trips."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from backtrader_channels.sources import BookChunk, convert, open_book, write_book

T0 = 1_735_689_600
T0_NS = T0 * 1_000_000_000


def levels(chunk: BookChunk, k: int) -> tuple[list, list]:
    """Update ``k`` of a chunk as ([bids], [asks]) of (price, size)."""
    lo, hi = chunk.offsets[k], chunk.offsets[k + 1]
    out: tuple[list, list] = ([], [])
    for side, price, size in zip(
        chunk.side[lo:hi], chunk.price[lo:hi], chunk.size[lo:hi], strict=True
    ):
        out[side].append((float(price), float(size)))
    return out


def updates(source) -> list[tuple]:
    return [
        (int(c.ts_ns[k]), bool(c.is_snapshot[k]), *levels(c, k))
        for c in source.chunks()
        for k in range(len(c))
    ]


def test_jsonl_numbers_and_strings(tmp_path: Path) -> None:
    path = tmp_path / "book.jsonl"
    path.write_text(
        json.dumps(
            {
                "timestamp": T0 + 0.1,
                "type": "snapshot",
                "bids": [[93000.5, 1.5], [92999, 2]],
                "asks": [[93001, 0.5]],
            }
        )
        + "\n"
        + json.dumps(
            {"timestamp": T0 + 0.2, "type": "delta", "bids": [["93000.5", "0"]], "asks": []}
        )
        + "\n"
        + json.dumps({"timestamp": T0 + 0.3, "type": "delta", "asks": [[93001.5, 3]], "u": 7})
        + "\n"
    )
    source = open_book(path)
    assert source.format == "jsonl"
    assert updates(source) == [
        (T0_NS + 100_000_000, True, [(93000.5, 1.5), (92999.0, 2.0)], [(93001.0, 0.5)]),
        (T0_NS + 200_000_000, False, [(93000.5, 0.0)], []),
        (T0_NS + 300_000_000, False, [], [(93001.5, 3.0)]),
    ]


def test_jsonl_binance_style_string_levels_in_bulk(tmp_path: Path) -> None:
    """All-string levels go through the fast path too; ms integer timestamps are exact."""
    path = tmp_path / "depth.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        for i in range(2_000):
            update = {
                "timestamp": (T0 * 1000) + i,
                "type": "delta" if i else "snapshot",
                "bids": [[f"{93000 - i % 7}.10", "0.5"]],
                "asks": [[f"{93001 + i % 5}.20", "1"]],
            }
            handle.write(json.dumps(update) + "\n")
    book = updates(open_book(path))
    assert len(book) == 2_000
    assert book[0] == (T0_NS, True, [(93000.1, 0.5)], [(93001.2, 1.0)])
    assert book[-1][0] == T0_NS + 1_999 * 1_000_000
    assert book[-1][2] == [(93000 - 1999 % 7 + 0.1, 0.5)]


@pytest.mark.parametrize("name", ["b.jsonl", "b.jsonl.gz", "b.parquet"])
def test_writers_round_trip(tmp_path: Path, name: str) -> None:
    chunk = BookChunk(
        ts_ns=np.array([T0_NS, T0_NS + 100_000_000, T0_NS + 100_000_000, T0_NS + 250_000_123]),
        is_snapshot=np.array([True, False, False, False]),
        offsets=np.array([0, 3, 3, 5, 6]),  # the second update has no levels
        side=np.array([0, 0, 1, 1, 0, 1], dtype=np.int8),
        price=np.array([100.5, 100.0, 101.0, 101.0, 100.5, 102.25]),
        size=np.array([1.0, 2.0, 3.0, 0.0, 0.0, 7.5]),
    )
    path = tmp_path / name
    assert write_book(path, [chunk, chunk_shifted(chunk)]) == 8
    back = list(open_book(path).chunks())
    merged = [
        u
        for c in back
        for u in [(int(c.ts_ns[k]), bool(c.is_snapshot[k]), *levels(c, k)) for k in range(len(c))]
    ]
    expected = [
        (int(chunk.ts_ns[k]), bool(chunk.is_snapshot[k]), *levels(chunk, k)) for k in range(4)
    ]
    shifted = chunk_shifted(chunk)
    expected += [
        (int(shifted.ts_ns[k]), bool(shifted.is_snapshot[k]), *levels(shifted, k)) for k in range(4)
    ]
    assert merged == expected  # to the nanosecond: JSON timestamps are written as exact decimals


def chunk_shifted(chunk: BookChunk) -> BookChunk:
    return BookChunk(
        chunk.ts_ns + 1_000_000_000,
        np.zeros(len(chunk), bool),
        chunk.offsets,
        chunk.side,
        chunk.price,
        chunk.size,
    )


def test_parquet_layout_is_one_row_per_level(tmp_path: Path) -> None:
    chunk = BookChunk(
        np.array([T0_NS, T0_NS + 1]),
        np.array([True, False]),
        np.array([0, 2, 2]),
        np.array([0, 1], dtype=np.int8),
        np.array([99.0, 101.0]),
        np.array([1.0, 2.0]),
    )
    path = tmp_path / "book.parquet"
    write_book(path, [chunk])
    rows = pq.read_table(path).to_pylist()
    assert [(r["update"], r["type"], r["side"], r["price"], r["size"]) for r in rows] == [
        (0, "snapshot", "bid", 99.0, 1.0),
        (0, "snapshot", "ask", 101.0, 2.0),
        (1, "delta", None, None, None),
    ]
    assert rows[0]["timestamp"].timestamp() == T0


def test_updates_split_across_parquet_batches_and_chunk_rows(tmp_path: Path) -> None:
    n = 500
    counts = np.arange(n) % 4  # 0..3 levels per update
    offsets = np.concatenate(([0], np.cumsum(counts)))
    total = int(offsets[-1])
    position = np.arange(total) - np.repeat(offsets[:-1], counts)
    side = (position >= np.repeat((counts + 1) // 2, counts)).astype(np.int8)  # bids, then asks
    chunk = BookChunk(
        T0_NS + np.arange(n) * 1_000,
        np.arange(n) % 100 == 0,
        offsets,
        side,
        100 + np.arange(total) / 8,
        np.arange(total) / 4,
    )
    for name in ("many.parquet", "many.jsonl"):
        path = tmp_path / name
        write_book(path, [chunk])
        source = open_book(path, chunk_rows=37)
        back = list(source.chunks())
        assert all(len(c) <= 37 for c in back)
        assert np.array_equal(np.concatenate([c.ts_ns for c in back]), chunk.ts_ns)
        assert np.array_equal(np.concatenate([np.diff(c.offsets) for c in back]), counts)
        assert np.array_equal(np.concatenate([c.price for c in back]), chunk.price)
        assert np.array_equal(np.concatenate([c.side for c in back]), chunk.side)
        assert sum(len(c) for c in source.chunks()) == n  # a second pass gives it all again


def test_convert_jsonl_to_parquet_and_back(tmp_path: Path) -> None:
    src = tmp_path / "book.jsonl"
    src.write_text(
        '{"timestamp": 1735689600.5, "type": "snapshot", "bids": [[1, 2]], "asks": [[3, 4]]}\n'
        '{"timestamp": 1735689600.75, "type": "delta", "bids": [], "asks": [[3, 0]]}\n'
    )
    assert convert(src, tmp_path / "book.parquet") == 2
    assert convert(tmp_path / "book.parquet", tmp_path / "again.jsonl") == 2
    assert (tmp_path / "again.jsonl").read_text() == (
        '{"timestamp": 1735689600.500, "type": "snapshot", "bids": [[1.0, 2.0]], "asks": [[3.0, 4.0]]}\n'
        '{"timestamp": 1735689600.750, "type": "delta", "bids": [], "asks": [[3.0, 0.0]]}\n'
    )
