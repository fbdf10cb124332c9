"""Datasets: many trade or book files (a list, a glob, a directory) read as one stream.

A directory (searched through its subdirectories, e.g. what ``btchannels download`` writes)
or a glob gives its files in time order: by the date a Binance-style name carries
(``BTCUSDT-trades-2024-01-01.zip``, ``BTCUSDT-trades-2024-01.zip``; a month before the days
of that month) or else by the first row of each file (read cheaply). A list is read in the
order given, each entry a file, a glob or a directory. ``.CHECKSUM`` files and hidden files
(``.name.partial``) are not data.

One file is open at a time and streamed in chunks as on its own; at each boundary the next
file must continue the one before:

- it must not start before the previous file started: else it is out of time order, a
  ``SourceError`` naming both files;
- trades with ids whose head repeats the previous file's ids (the same trades twice: a
  monthly and a daily file of the same days, two overlapping exports) lose those rows:
  Binance's trade ids are consecutive per symbol, so an id at or below the last one
  delivered is a trade already delivered; they are counted in ``overlap_rows``. Files with
  no ids (and books) that overlap cannot be told apart from wrong data and are refused;
- ids that jump (the last trade of day 1 is 100, the first of day 2 is 105) are a gap:
  listed in ``gaps`` like a recording's gap markers (``kind`` 'missed_trades', ``count``
  the ids missing), logged as a warning and counted in the run summary.

A file whose name carries a date must hold rows of that period only (checked as it is
read; repeats of the file before, dropped, aside), so ``within(window)`` (``fromdate``/``todate`` of a channel) drops files outside the
window by their names without opening them, and files without a date by their first rows.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import glob
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .chunks import slice_rows
from .errors import SourceError
from .recordings import has_recording_layout

__all__ = ["BookDataset", "Dataset", "TradeDataset", "dataset_bytes", "is_dataset"]

log = logging.getLogger("backtrader_channels.sources")

# SYMBOL-kind-YYYY-MM[-DD].ext, as Binance names its files (and as day files of ours may be named)
DATED_NAME = re.compile(r"^([A-Za-z0-9]+)-([A-Za-z]+)-(\d{4})-(\d{2})(?:-(\d{2}))?\.", re.IGNORECASE)
NOT_DATA = (".checksum",)
BOOK_SUFFIXES = (".jsonl", ".jsonl.gz")
_NS = 1_000_000_000


def _utc_ns(day: dt.date) -> int:
    return calendar.timegm(day.timetuple()) * _NS


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset and what its name says (symbol, kind, period [start, end) ns)."""

    path: Path
    symbol: str | None = None
    kind: str | None = None
    period: tuple[int, int] | None = None
    first_ns: int | None = None  # its first row, once read (files without a dated name)

    @classmethod
    def of(cls, path: Path) -> DataFile:
        named = DATED_NAME.match(path.name)
        lower = path.name.lower()
        kind = "book" if lower.endswith(BOOK_SUFFIXES) else None
        if named is None:
            return cls(path, kind=kind)
        symbol, name_kind, year, month, day = named.groups()
        try:
            if day is None:
                start = dt.date(int(year), int(month), 1)
                end = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
            else:
                start = dt.date(int(year), int(month), int(day))
                end = start + dt.timedelta(days=1)
        except ValueError:  # not a date after all (2024-13-01)
            return cls(path, kind=kind)
        return cls(path, symbol.upper(), name_kind.lower(), (_utc_ns(start), _utc_ns(end)))

    @property
    def start(self) -> int:
        """Where the file sorts: its named period's start, or its first row."""
        if self.period is not None:
            return self.period[0]
        assert self.first_ns is not None  # read before sorting
        return self.first_ns


def is_dataset(dataname: Any) -> bool:
    """Whether ``dataname`` names many files: a list or tuple, a glob (``*``, ``?``, ``[``)
    that is not itself a file, or a directory that is not a recording and holds data files."""
    if isinstance(dataname, (list, tuple)):
        return True
    if not isinstance(dataname, (str, os.PathLike)):
        return False
    text = os.fspath(dataname)
    path = Path(text)
    if glob.has_magic(text) and not path.exists():
        return True
    return path.is_dir() and not has_recording_layout(path) and bool(_directory_files(path))


def _is_data(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and not path.name.lower().endswith(NOT_DATA)


def _directory_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if _is_data(path)
                  and not any(part.startswith(".") for part in path.relative_to(directory).parts))


def _expand(entry: str | os.PathLike) -> tuple[list[Path], bool]:
    """The files of one entry, and whether they still need sorting (a glob or directory)."""
    if not isinstance(entry, (str, os.PathLike)):
        raise TypeError(f"dataname takes a path, a glob, a directory or a list of them, got {entry!r}")
    text = os.fspath(entry)
    path = Path(text)
    if path.is_dir():
        files = _directory_files(path)
        if not files:
            raise SourceError(path, "a folder with no data files in it")
        return files, True
    if glob.has_magic(text) and not path.exists():
        files = sorted(Path(match) for match in glob.glob(text, recursive=True) if _is_data(Path(match)))
        if not files:
            raise FileNotFoundError(f"{text}: no such file (the pattern matches no data file)")
        return files, True
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return [path], False


def dataset_bytes(dataname: Any) -> int:
    """The size on disk of a file, or of the files of a directory, glob or list (0 when there
    is nothing to read: the source says why, with the path)."""
    entries = list(dataname) if isinstance(dataname, (list, tuple)) else [dataname]
    try:
        files = {path for entry in entries for path in _expand(entry)[0]}
        return sum(path.stat().st_size for path in files)
    except (OSError, ValueError, TypeError):  # a SourceError is a ValueError
        return 0


@dataclass
class _Edge:
    """What the stream delivered of a file so far: its first and last rows (time, id)."""

    path: Path
    first_ns: int
    last_ns: int
    first_id: int | None
    last_id: int | None


class Dataset:
    """Files of one kind and symbol read as one source, in time order (see the module
    docstring). ``opener(path, chunk_rows=)`` opens one file (``open_trades``/``open_book``
    with the caller's options); files are opened when a pass starts (every file of the
    window, so a bad file is found before the first row is delivered) and let go once read.

    The counters of a file source (``skipped_rows``, ``skipped_reasons``, ``skipped_causes``,
    ``first_skipped``) add up over the files of a pass.
    """

    def __init__(self, dataname: Any, opener: Callable[..., Any], *, symbol: str | None = None,
                 check_symbol: bool = True, on_error: str = "raise") -> None:
        entries = list(dataname) if isinstance(dataname, (list, tuple)) else [dataname]
        if not entries:
            raise ValueError("dataname is an empty list: no files to read")
        self.on_error = on_error
        self._opener = opener
        groups = [_expand(entry) for entry in entries]
        named = {path: DataFile.of(path) for paths, _ in groups for path in paths}  # each file once
        self.files = list(named.values())
        self._check_names(symbol if check_symbol else None)  # before any file is opened to sort them
        files: list[DataFile] = []
        for paths, unordered in groups:
            found = [named.pop(path) for path in paths if path in named]
            files += self._in_time_order(found) if unordered else found
        self.files = files
        self.path = Path(os.fspath(entries[0])) if len(entries) == 1 else self.files[0].path
        self.format = ""
        self._reset()

    # --- the files ----------------------------------------------------------------------------

    def _in_time_order(self, files: list[DataFile]) -> list[DataFile]:
        files = [file if file.period is not None else self._probed(file) for file in files]
        return sorted(files, key=lambda f: (f.start, -(f.period[1] - f.period[0]) if f.period else 0, f.path.name))

    def _probed(self, file: DataFile) -> DataFile:
        """``file`` with its first row's time (an empty file sorts by its name, at the end)."""
        if file.first_ns is not None:
            return file
        chunks = self._opener(file.path, chunk_rows=1).chunks()
        try:
            first = next((chunk for chunk in chunks if len(chunk)), None)
        finally:
            chunks.close()
        return replace(file, first_ns=int(first.ts_ns[0]) if first is not None else np.iinfo(np.int64).max)

    def _check_names(self, symbol: str | None) -> None:
        """Refuse files whose names say different symbols or kinds (naming two of them), or
        another symbol than the channel's."""
        for attribute, what in (("symbol", "symbols"), ("kind", "kinds")):
            named = [file for file in self.files if getattr(file, attribute) is not None]
            other = next((file for file in named if getattr(file, attribute) != getattr(named[0], attribute)), None)
            if other is not None:
                first = named[0]
                raise SourceError(other.path, f"a dataset mixes {what}: {getattr(other, attribute)} here, "
                                              f"{getattr(first, attribute)} in {first.path}")
        if symbol is not None:
            key = "".join(ch for ch in symbol.upper() if ch not in "/-_:")
            wrong = next((file for file in self.files if file.symbol is not None and file.symbol != key), None)
            if wrong is not None:
                raise SourceError(wrong.path, f"the file name says {wrong.symbol}, not {symbol} "
                                              f"(pass check_symbol=False to read it as {symbol} all the same)")

    def within(self, window: tuple[int, int]) -> Dataset:
        """This dataset without the files wholly outside ``window`` (first, last ns, both
        included): told by a dated name, else by the file's first row and the next one's."""
        first, last = window
        files = [file if file.period is not None else self._probed(file) for file in self.files]
        kept = []
        for index, file in enumerate(files):
            if file.period is not None:
                if file.period[1] <= first or file.period[0] > last:
                    continue
            else:
                assert file.first_ns is not None
                after = files[index + 1] if index + 1 < len(files) else None
                if file.first_ns > last or (after is not None and after.period is None
                                            and after.first_ns is not None and after.first_ns < first):
                    continue
            kept.append(file)
        narrowed = copy.copy(self)
        narrowed.files = kept
        narrowed._reset()
        return narrowed

    # --- reading ------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.skipped_rows = 0
        self.skipped_reasons: Counter[str] = Counter()
        self.skipped_causes: Counter[str] = Counter()
        self.first_skipped: SourceError | None = None
        self.overlap_rows = 0
        self.gaps: list[dict[str, Any]] = []

    def _add(self, source: Any) -> None:
        """A file read to its end: its counters join the dataset's."""
        self.skipped_rows += source.skipped_rows
        self.skipped_reasons.update(source.skipped_reasons)
        self.skipped_causes.update(source.skipped_causes)
        self.first_skipped = self.first_skipped or source.first_skipped

    def chunks(self) -> Iterator[Any]:
        """The chunks of every file, in order, from the beginning (see the module docstring)."""
        self._reset()
        sources: list[Any] = [self._opener(file.path) for file in self.files]  # each file checked first
        self.format = ", ".join(dict.fromkeys(source.format for source in sources))
        self._check_formats(sources)
        previous: _Edge | None = None
        for index, file in enumerate(self.files):
            source, sources[index] = sources[index], None  # let go of each file once read
            edge: _Edge | None = None
            for chunk in source.chunks():
                if edge is None:
                    chunk = self._join(file, chunk, previous)
                    if not len(chunk):
                        continue
                    first_id = None if getattr(chunk, "trade_id", None) is None else int(chunk.trade_id[0])
                    edge = _Edge(file.path, int(chunk.ts_ns[0]), 0, first_id, first_id)
                    self._check_period(file, edge.first_ns, "first")
                edge.last_ns = int(chunk.ts_ns[-1])
                if edge.first_id is not None:
                    edge.last_id = int(chunk.trade_id[-1])
                yield chunk
            chunk = None  # hold nothing of this file while the next one is read
            self._add(source)
            if edge is not None:
                self._check_period(file, edge.last_ns, "last")
                previous = edge
        self._finish()

    def _check_formats(self, sources: Sequence[Any]) -> None:
        """Called when a pass opened its files (trades: plain trades and aggTrades do not mix)."""

    def _finish(self) -> None:
        """After a whole pass."""

    def _check_period(self, file: DataFile, ts_ns: int, which: str) -> None:
        if file.period is None or file.period[0] <= ts_ns < file.period[1]:
            return
        when = dt.datetime.fromtimestamp(ts_ns / _NS, dt.timezone.utc).isoformat()
        raise SourceError(file.path, f"its name dates it, but its {which} row is at {when}, outside that period "
                                     "(a dataset skips files by the date in their names: rename it)")

    def _join(self, file: DataFile, chunk: Any, previous: _Edge | None) -> Any:
        """The first chunk(s) of ``file``, checked against the end of the file before it."""
        if previous is None or not len(chunk):
            return chunk
        ids = getattr(chunk, "trade_id", None)
        first_ns = int(chunk.ts_ns[0])
        if first_ns < previous.first_ns or (ids is not None and previous.first_id is not None
                                            and int(ids[0]) < previous.first_id):
            raise SourceError(file.path, f"out of time order: it starts at {_when(first_ns)}, before {previous.path} "
                                         f"(which starts at {_when(previous.first_ns)})")
        if ids is not None and previous.last_id is not None:
            repeated = int(np.searchsorted(ids, previous.last_id, side="right")) if ids[0] <= previous.last_id else 0
            if repeated:  # the same trades as the end of the file before: delivered once
                self.overlap_rows += repeated
                chunk = slice_rows(chunk, repeated, len(chunk))
                if not len(chunk):
                    return chunk
                ids = chunk.trade_id
            missing = int(ids[0]) - previous.last_id - 1
            if missing > 0:
                self._gap(int(chunk.ts_ns[0]), missing, previous.path, file.path)
        if int(chunk.ts_ns[0]) < previous.last_ns:
            raise SourceError(file.path, f"overlaps {previous.path}: it starts at {_when(int(chunk.ts_ns[0]))}, "
                                         f"before that file ends ({_when(previous.last_ns)})")
        return chunk

    def _gap(self, ts_ns: int, count: int, before: Path, after: Path) -> None:
        self.gaps.append({"timestamp": (ts_ns // 1000) / 1e6, "stream": "trades", "kind": "missed_trades",
                          "count": count, "between": (str(before), str(after))})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self.files)} files)"


def _when(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / _NS, dt.timezone.utc).isoformat().replace("+00:00", "Z")


class TradeDataset(Dataset):
    """Trade files as one source. ``duplicate_ids`` adds up the repeats found within files
    (repeats across a boundary are dropped, in ``overlap_rows``); ``missed_ids`` the ids
    the ``gaps`` between files miss."""

    def _reset(self) -> None:
        super()._reset()
        self.duplicate_ids = 0
        self.other_symbol_rows = 0

    def _add(self, source: Any) -> None:
        super()._add(source)
        self.duplicate_ids += getattr(source, "duplicate_ids", 0)
        self.other_symbol_rows += getattr(source, "other_symbol_rows", 0)

    @property
    def missed_ids(self) -> int:
        return sum(gap["count"] for gap in self.gaps)

    def _check_formats(self, sources: Sequence[Any]) -> None:
        aggregated = [(source, "aggtrades" in source.format) for source in sources]
        other = next((source for source, agg in aggregated if agg != aggregated[0][1]), None)
        if other is not None:
            first = sources[0]
            raise SourceError(other.path, f"a dataset mixes kinds: {other.format} here, {first.format} in {first.path}")

    def _finish(self) -> None:
        if self.gaps:
            described = "; ".join(f"{gap['count']:,} between {Path(gap['between'][0]).name} and "
                                  f"{Path(gap['between'][1]).name}" for gap in self.gaps[:5])
            log.warning("%s: %d gaps in trade ids between files, %s ids missing (%s)", self.path, len(self.gaps),
                        f"{self.missed_ids:,}", described)
        if self.overlap_rows:
            log.warning("%s: %s trades repeated at the start of a file were read once", self.path,
                        f"{self.overlap_rows:,}")


class BookDataset(Dataset):
    """Order-book files as one source (no ids: files that overlap in time are refused)."""
