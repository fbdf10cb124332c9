"""Trade files: open_trades() detects the format and streams TradeChunks.

Formats: the project CSV (``.csv``/``.csv.gz``, with a header) and Parquet, and Binance's
public dumps (``.zip`` or ``.csv``); see docs/data-formats.md.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from os import PathLike

import numpy as np
import pyarrow as pa

from .base import Source
from .batches import Batch, block_size, parquet_batches, text_batches
from .binance import BINANCE_FORMATS, binance_by_header, binance_by_values
from .chunks import TradeChunk
from .columns import TradeFields, per_value, trade_chunk
from .csvtext import NUMBER, CsvLayout
from .errors import SourceError
from .files import PARQUET_SUFFIXES, existing_file, first_line, parquet_columns, plain_suffix
from .recordings import is_recording, open_recording
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


def open_trades(
    path: str | PathLike,
    *,
    symbol: str | None = None,
    format: str | None = None,
    on_error: str = "raise",
    chunk_rows: int = 100_000,
) -> TradeSource:
    """Open a trades file (checked now: it exists and its format is known) to stream chunks.

    ``symbol`` keeps only that symbol's rows of a file with a ``symbol`` column; ``format``
    overrides detection (one of ``TRADE_FORMATS``); ``on_error`` is 'raise' or 'skip';
    chunks hold at most ``chunk_rows`` trades. A directory is read as a recording
    (``btchannels record``, see recordings.py).
    """
    if is_recording(path):
        return open_recording(path, "trades", symbol=symbol, format=format, on_error=on_error, chunk_rows=chunk_rows)
    return TradeSource(path, symbol=symbol, format=format, on_error=on_error, chunk_rows=chunk_rows)


def normalize_symbol(symbol: str) -> str:
    """'BTC/USDT', 'btc-usdt' and 'BTC_USDT' all become 'BTCUSDT'."""
    return "".join(ch for ch in symbol.upper() if ch not in "/-_")


class TradeSource(Source[TradeChunk]):
    """The trades of one file, as TradeChunks. ``other_symbol_rows`` counts rows left out
    because their ``symbol`` column names another symbol (not errors)."""

    def __init__(
        self,
        path: str | PathLike,
        *,
        symbol: str | None = None,
        format: str | None = None,
        on_error: str = "raise",
        chunk_rows: int = 100_000,
    ) -> None:
        path = existing_file(path)
        if format is not None and format not in TRADE_FORMATS:
            raise ValueError(f"format must be one of {TRADE_FORMATS}, got {format!r}")
        super().__init__(path, format or "", on_error, chunk_rows)
        self.symbol = symbol
        self.other_symbol_rows = 0
        self._symbol_key = None if symbol is None else normalize_symbol(symbol)
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

    def _plan_parquet(self) -> tuple[str, TradeFields, Callable[[], Iterator[Batch]]]:
        names = parquet_columns(self.path)
        fields = self._project_fields(names)
        columns = [name for name in PROJECT_TYPES if name in names]
        return "parquet", fields, lambda: parquet_batches(self.path, columns, self.chunk_rows)

    def _plan_text(
        self, format: str | None
    ) -> tuple[str, TradeFields, Callable[[], Iterator[Batch]]]:
        number, text, line_bytes = first_line(self.path)
        values = next(csv.reader([text]), [])
        has_header = bool(values) and not NUMBER.fullmatch(values[0].strip())
        names = [value.strip().lower() for value in values] if has_header else []
        if format is None:
            format = self._detect_text(has_header, names, values, number)
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
                fast=layout.fast,
                careful=layout.careful,
            )

        return format, fields, batches

    def _detect_text(
        self, has_header: bool, names: list[str], values: list[str], number: int
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
        return binance_by_values(values, self.path).name

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

    def _restart(self) -> None:
        self.other_symbol_rows = 0

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
        if keep is None:
            return chunk
        return TradeChunk(*(None if column is None else column[keep] for column in chunk))

    def _slice(self, chunk: TradeChunk, start: int, stop: int) -> TradeChunk:
        return TradeChunk(*(None if column is None else column[start:stop] for column in chunk))

    def _other_symbol(self, column: pa.ChunkedArray) -> np.ndarray:
        return per_value(column, lambda name: normalize_symbol(name) != self._symbol_key, True)
