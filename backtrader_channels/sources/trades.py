"""Trade files: open_trades() detects the format and streams TradeChunks.

Formats: the project CSV (``.csv``/``.csv.gz``, with a header) and Parquet, and Binance's
public dumps (``.zip`` or ``.csv``); see docs/data-formats.md.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa

from .base import Source
from .batches import Batch, block_size, parquet_batches, text_batches
from .binance import BINANCE_FORMATS, binance_by_header, binance_by_values
from .chunks import TradeChunk, slice_rows
from .columns import TradeFields, per_value, trade_chunk
from .csvtext import NUMBER, CsvLayout, split_line
from .dataset import TradeDataset, is_dataset
from .errors import SourceError
from .files import (
    PARQUET_SUFFIXES,
    existing_file,
    head_lines,
    line_limit,
    parquet_columns,
    plain_suffix,
)
from .recordings import TRADE_STREAM, RecordingSource, is_recording, open_recording
from .repeats import RepeatedIds
from .timestamps import DECIMAL_SECONDS

__all__ = ["TRADE_FORMATS", "TradeSource", "normalize_symbol", "open_trades"]

TRADE_FORMATS = ("csv", "parquet", *BINANCE_FORMATS)
TEXT_SUFFIXES = (".csv", ".zip", ".txt")

LABEL = pa.dictionary(pa.int32(), pa.string())
PROJECT_TYPES = {
    "timestamp": DECIMAL_SECONDS,
    "price": pa.float64(),
    "volume": pa.float64(),
    "direction": LABEL,
    "trade_id": pa.int64(),
    "symbol": LABEL,
}
REQUIRED = ("timestamp", "price", "volume", "direction")
# Trade lines are under 200 bytes (Binance's) or 60 (the sample's): a line over a megabyte is
# another kind of file, or a zip bomb; refused before it fills memory.
MAX_LINE_BYTES = 1 << 20
BINANCE_NAME = re.compile(r"([A-Za-z0-9]+)-(?:trades|aggTrades)-\d{4}-\d{2}(?:-\d{2})?\.", re.IGNORECASE)


def open_trades(
    path: str | PathLike | list | tuple,
    *,
    symbol: str | None = None,
    format: str | None = None,
    on_error: str = "raise",
    chunk_rows: int = 100_000,
    check_symbol: bool = True,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> TradeSource | RecordingSource | TradeDataset:
    """Open a trades file (checked now: it exists and its format is known) to stream chunks.

    ``symbol`` keeps only that symbol's rows of a file with a ``symbol`` column; ``format``
    overrides detection (one of ``TRADE_FORMATS``); ``on_error`` is 'raise' or 'skip';
    chunks hold at most ``chunk_rows`` trades. With ``check_symbol`` a ``symbol`` that a
    Binance file name contradicts ('BTCUSDT-trades-2025-01-01.zip') is a SourceError, and a
    pass that finds only other symbols' rows warns. A text line longer than ``max_line_bytes``
    is a SourceError (file, byte, zip member). A recording directory (``btchannels record``)
    is read as one (recordings.py); a list, a glob or another directory of files as one
    dataset, in time order (dataset.py).
    """
    if isinstance(path, (list, tuple)) and len(path) == 1:  # one entry: read as if given alone
        (path,) = path
    if isinstance(path, (list, tuple)) or is_dataset(path):  # isinstance narrows the type

        def open_file(file: Path, chunk_rows: int = chunk_rows) -> TradeSource:
            return TradeSource(file, symbol=symbol, format=format, on_error=on_error, chunk_rows=chunk_rows,
                               check_symbol=check_symbol, max_line_bytes=max_line_bytes)

        return TradeDataset(path, open_file, symbol=symbol, check_symbol=check_symbol, on_error=on_error)
    if is_recording(path):
        return open_recording(path, TRADE_STREAM, open_trades, symbol=symbol, format=format, on_error=on_error,
                              chunk_rows=chunk_rows)
    return TradeSource(
        path, symbol=symbol, format=format, on_error=on_error, chunk_rows=chunk_rows, check_symbol=check_symbol,
        max_line_bytes=max_line_bytes,
    )


def _fields(text: str) -> list[str]:
    """The fields of a line, none for one the csv module refuses."""
    try:
        return split_line(text)
    except ValueError:
        return []


def normalize_symbol(symbol: str) -> str:
    """'BTC/USDT', 'btc-usdt' and 'BTC_USDT' all become 'BTCUSDT'."""
    return "".join(ch for ch in symbol.upper() if ch not in "/-_")


class TradeSource(Source[TradeChunk]):
    """The trades of one file, as TradeChunks. ``other_symbol_rows`` counts rows left out
    because their ``symbol`` column names another symbol (not errors); ``duplicate_ids``
    counts trades delivered whose id repeats a recent one (delivered all the same)."""

    def __init__(
        self,
        path: str | PathLike,
        *,
        symbol: str | None = None,
        format: str | None = None,
        on_error: str = "raise",
        chunk_rows: int = 100_000,
        check_symbol: bool = True,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        path = existing_file(path)
        self.max_line_bytes = line_limit(max_line_bytes)
        if format is not None and format not in TRADE_FORMATS:
            raise ValueError(f"format must be one of {TRADE_FORMATS}, got {format!r}")
        super().__init__(path, format or "", on_error, chunk_rows)
        self.symbol = symbol
        self.other_symbol_rows = 0
        self._repeats = RepeatedIds()
        self._symbol_key = None if symbol is None else normalize_symbol(symbol)
        self._check_symbol = check_symbol and symbol is not None
        self._other_symbols: set[str] = set()
        if self._check_symbol:
            self._check_name()
        if format == "parquet" or (format is None and plain_suffix(path) in PARQUET_SUFFIXES):
            self.format, self._fields, self._open = self._plan_parquet()
        elif format is not None or plain_suffix(path) in TEXT_SUFFIXES:
            self.format, self._fields, self._open = self._plan_text(format)
        else:
            raise SourceError(
                path,
                f"not a known trades file type (expected {', '.join(TEXT_SUFFIXES)}, "
                f".csv.gz or {', '.join(PARQUET_SUFFIXES)}; or pass format=)",
            )

    # --- detection ------------------------------------------------------------------------

    def _check_name(self) -> None:
        named = BINANCE_NAME.match(self.path.name)
        if named is not None and normalize_symbol(named.group(1)) != self._symbol_key:
            raise SourceError(
                self.path,
                f"the file name says {named.group(1)}, not {self.symbol} "
                f"(pass check_symbol=False to read it as {self.symbol} all the same)",
            )

    def _plan_parquet(self) -> tuple[str, TradeFields, Callable[[], Iterator[Batch]]]:
        names = parquet_columns(self.path)
        fields = self._project_fields(names)
        columns = [name for name in PROJECT_TYPES if name in names]
        return "parquet", fields, lambda: parquet_batches(self.path, columns, self.chunk_rows)

    def _plan_text(
        self, format: str | None
    ) -> tuple[str, TradeFields, Callable[[], Iterator[Batch]]]:
        lines, line_bytes = head_lines(self.path, self.max_line_bytes, "trades")
        number, text = lines[0] if lines else (0, "")
        try:
            values = split_line(text)
        except ValueError as error:
            raise SourceError(self.path, f"unreadable line ({error})", line=number) from None
        has_header = bool(values) and not NUMBER.fullmatch(values[0].strip())
        names = [value.strip().lower() for value in values] if has_header else []
        if format is None:
            format = self._detect_text(has_header, names, values, number, lines)
        if format == "csv":
            if not has_header:
                raise SourceError(
                    self.path, f"a project CSV starts with a header line: {','.join(REQUIRED)}"
                )
            layout = CsvLayout(tuple(names), {n: t for n, t in PROJECT_TYPES.items() if n in names})
            fields = self._project_fields(names)
        else:
            binance = BINANCE_FORMATS[format]
            if has_header and names != list(binance.columns):
                raise SourceError(
                    self.path,
                    f"header {names} is not the {format} header {list(binance.columns)}",
                    line=number,
                )
            layout, fields = binance.layout(), binance.fields
        skip = number if has_header else 0
        block_bytes = block_size(self.chunk_rows, line_bytes)

        def batches() -> Iterator[Batch]:
            return text_batches(
                self.path,
                skip_lines=skip,
                block_bytes=block_bytes,
                max_line_bytes=self.max_line_bytes,
                kind="trades",
                fast=layout.fast,
                careful=layout.careful,
            )

        return format, fields, batches

    def _detect_text(
        self, has_header: bool, names: list[str], values: list[str], number: int, lines: list[tuple[int, str]]
    ) -> str:
        if has_header:
            binance = binance_by_header(names)
            if binance is not None:
                return binance.name
            if set(REQUIRED) <= set(names):
                return "csv"
            raise SourceError(
                self.path,
                f"unknown columns {names}: expected a header with {', '.join(REQUIRED)} "
                f"or a Binance trades/aggTrades layout",
                line=number,
            )
        if not values:
            raise SourceError(self.path, "no data to tell the format from (pass format=)")
        return binance_by_values([values, *(_fields(text) for _, text in lines[1:])], self.path).name

    def _project_fields(self, names: list[str]) -> TradeFields:
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            raise SourceError(self.path, f"missing column(s) {missing} (columns: {names})")
        if len(set(names)) != len(names):
            raise SourceError(self.path, f"repeated column names in {names}")
        return TradeFields(
            *REQUIRED,
            trade_id="trade_id" if "trade_id" in names else None,
            symbol="symbol" if "symbol" in names else None,
        )

    # --- reading --------------------------------------------------------------------------

    @property
    def duplicate_ids(self) -> int:
        return self._repeats.count

    def _restart(self) -> None:
        self.other_symbol_rows = 0
        self._other_symbols = set()
        self._repeats.reset()

    def _finish(self, delivered: int) -> None:
        if self._check_symbol and not delivered and self.other_symbol_rows:
            others = ", ".join(sorted(self._other_symbols)[:5])
            warnings.warn(
                f"{self.path}: no trades of {self.symbol}: its {self.other_symbol_rows:,} rows are of {others}",
                UserWarning,
                stacklevel=2,
            )

    def _batches(self) -> Iterator[Batch]:
        return self._open()

    def _decode(self, batch: Batch) -> TradeChunk:
        fields, problems = self._fields, batch.problems
        if fields.symbol is not None and self._symbol_key is not None:
            self.other_symbol_rows += problems.ignore(
                self._other_symbol(batch.table[fields.symbol])
            )
        chunk = trade_chunk(batch.table, fields, problems)
        self._check_order(chunk.ts_ns, problems, fields.timestamp)
        keep = self._settle(batch)
        if keep is not None:
            chunk = TradeChunk._make(None if column is None else column[keep] for column in chunk)
        if chunk.trade_id is not None:
            self._repeats.add(chunk.trade_id)
        return chunk

    def _slice(self, chunk: TradeChunk, start: int, stop: int) -> TradeChunk:
        return slice_rows(chunk, start, stop)

    def _other_symbol(self, column: pa.ChunkedArray) -> np.ndarray:
        return per_value(column, self._is_other, True)

    def _is_other(self, name: str) -> bool:
        other = normalize_symbol(name) != self._symbol_key
        if other:
            self._other_symbols.add(name)
        return other
