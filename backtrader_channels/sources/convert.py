"""convert(): any readable trades or book file to Parquet (or another writable format)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from .bookjson import JSONL_SUFFIXES
from .bookparquet import PARQUET_BOOK_COLUMNS
from .books import open_book
from .files import PARQUET_SUFFIXES, existing_file, parquet_columns, plain_suffix
from .trades import open_trades
from .writers import write_book, write_trades

__all__ = ["convert"]


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

    ``kind`` is the channel kind, 'tick' or 'orderbook' (detected when None); ``format`` overrides the detection
    of ``src``'s format; ``symbol`` keeps only that symbol's trades and writes it in a
    ``symbol`` column. Bad input raises ``SourceError`` and leaves ``dst`` untouched.
    """
    src = existing_file(src)
    kind = kind or _kind_of(src)
    if kind == "tick":
        trades = open_trades(src, symbol=symbol, format=format)
        return write_trades(dst, trades.chunks(), symbol=symbol)
    if kind == "orderbook":
        if symbol is not None:
            raise ValueError("symbol= applies to trades only")
        return write_book(dst, open_book(src, format=format).chunks())
    raise ValueError(f"convert reads 'tick' (trades) or 'orderbook' files, not kind={kind!r}")


def _kind_of(path: Path) -> str:
    """Books are JSON lines, or Parquet with the book columns; everything else is trades."""
    suffix = plain_suffix(path)
    if suffix in JSONL_SUFFIXES:
        return "orderbook"
    if suffix in PARQUET_SUFFIXES and set(PARQUET_BOOK_COLUMNS) <= set(parquet_columns(path)):
        return "orderbook"
    return "tick"
