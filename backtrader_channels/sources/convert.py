"""convert(): any readable trades or book file to Parquet (or another writable format)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .books import JSONL_SUFFIXES, PARQUET_COLUMNS, open_book
from .errors import SourceError
from .files import existing_file, plain_suffix
from .trades import open_trades
from .writers import write_book, write_trades

__all__ = ["convert"]

KINDS = ("trades", "book")


def convert(
    src: str | PathLike,
    dst: str | PathLike,
    *,
    kind: str | None = None,
    format: str | None = None,
    symbol: str | None = None,
) -> int:
    """Stream ``src`` into ``dst`` (format from its name, e.g. ``.parquet``); returns the rows
    (trades) or updates (book) written.

    ``kind`` is 'trades' or 'book' (detected when None); ``format`` overrides the detection
    of ``src``'s format; ``symbol`` keeps only that symbol's trades and writes it in a
    ``symbol`` column. Bad input raises ``SourceError`` and leaves ``dst`` untouched.
    """
    src = existing_file(src)
    kind = kind or _kind_of(src)
    if kind == "trades":
        trades = open_trades(src, symbol=symbol, format=format)
        return write_trades(dst, trades.chunks(), symbol=symbol)
    if kind == "book":
        if symbol is not None:
            raise ValueError("symbol= applies to trades only")
        return write_book(dst, open_book(src, format=format).chunks())
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _kind_of(path: Path) -> str:
    """Books are JSON lines, or Parquet with the book columns; everything else is trades."""
    suffix = plain_suffix(path)
    if suffix in JSONL_SUFFIXES:
        return "book"
    if suffix in (".parquet", ".pq"):
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError) as error:
            raise SourceError(path, f"not a readable Parquet file ({error})") from None
        return (
            "book"
            if {"side", "update"} <= set(names) and set(PARQUET_COLUMNS) <= set(names)
            else "trades"
        )
    return "trades"
