"""Funding-rate files of perpetual futures, as FundingChunks.

Formats (``.csv``, ``.csv.gz`` or a ``.zip`` holding one CSV, each with a header):

- Binance USD-M ``fundingRate`` dumps (``BTCUSDT-fundingRate-2025-01.zip``):
  ``calc_time,funding_interval_hours,last_funding_rate`` with ``calc_time`` in milliseconds;
- the project's own: ``timestamp,rate[,mark_price]`` with ``timestamp`` in epoch seconds.

Funding files hold a few rows a day, so they are read whole into one chunk.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import SourceError
from .files import content_pieces, existing_file

__all__ = ["FundingChunk", "FundingSource", "open_funding"]

# A funding file is read whole: a few rows a day is about 60 KB a year, so 16 MiB of content
# is a file of another kind (or a zip bomb), refused before it fills memory.
MAX_FUNDING_BYTES = 16 << 20
_LAYOUTS = {  # (time column, its unit in ns, rate column)
    "binance": ("calc_time", 1_000_000, "last_funding_rate"),
    "csv": ("timestamp", 1_000_000_000, "rate"),
}


class FundingChunk(NamedTuple):
    """Funding events: time (int64 ns), rate (fraction per interval), mark price (NaN: unknown)."""

    ts_ns: np.ndarray
    rate: np.ndarray
    mark_price: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)


def open_funding(path: str | PathLike, *, on_error: str = "raise", **_: object) -> FundingSource:
    """Open a funding-rate file (read and checked now)."""
    return FundingSource(path, on_error=on_error)


class FundingSource:
    """The funding events of one file. Bad rows raise ``SourceError`` (file, line, field) or,
    with ``on_error='skip'``, are counted in ``skipped_rows``."""

    def __init__(self, path: str | PathLike, *, on_error: str = "raise") -> None:
        self.path = existing_file(path)
        self.on_error = on_error
        self.skipped_rows = 0
        self._chunk = self._read(self.path)

    def chunks(self) -> Iterator[FundingChunk]:
        yield self._chunk

    def _read(self, path: Path) -> FundingChunk:
        pieces: list[bytes] = []
        size = 0
        for piece in content_pieces(path):
            size += len(piece)
            if size > MAX_FUNDING_BYTES:
                raise SourceError(path, f"more than {MAX_FUNDING_BYTES >> 20} MiB of content: not a funding-rate file?")
            pieces.append(piece)
        text = b"".join(pieces).decode("utf-8", errors="replace")
        rows = csv.reader(io.StringIO(text))
        header = [name.strip() for name in next(rows, [])]
        layout = next((layout for layout in _LAYOUTS.values() if {layout[0], layout[2]} <= set(header)), None)
        if layout is None:
            raise SourceError(path, "not a funding-rate file: the header needs calc_time and "
                                    "last_funding_rate (Binance) or timestamp and rate", line=1)
        time_name, unit_ns, rate_name = layout
        columns = {name: header.index(name) for name in (time_name, rate_name, "mark_price") if name in header}
        times: list[int] = []
        rates: list[float | None] = []
        marks: list[float | None] = []
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            values = {name: _number(row, index, optional=name == "mark_price") for name, index in columns.items()}
            problem = next((name for name, value in values.items() if value is None), None)
            time_value = values[time_name]
            ts_ns = 0 if problem is not None or time_value is None else round(time_value * (unit_ns // 1000)) * 1000
            if problem is None and times and ts_ns < times[-1]:
                problem = time_name
            if problem is not None:
                if self.on_error == "raise":
                    raise SourceError(path, "not a finite number in time order", line=line, field=problem)
                self.skipped_rows += 1
                continue
            times.append(ts_ns)
            rates.append(values[rate_name])
            marks.append(values.get("mark_price", math.nan))
        return FundingChunk(np.array(times, dtype=np.int64), np.array(rates, dtype=float), np.array(marks, dtype=float))


def _number(row: list[str], index: int, optional: bool) -> float | None:
    """The finite number in ``row[index]`` (NaN for an empty optional cell), else None."""
    text = row[index].strip() if index < len(row) else ""
    if not text and optional:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
