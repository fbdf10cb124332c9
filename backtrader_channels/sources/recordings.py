"""Recording directories (written by ``btchannels record``) read as one trade or book source.

Layout (docs/recording.md): ``OUT/<SYMBOL>/{trades,book,gaps}/``, each holding segments
named ``YYYY-MM-DDTHH-NNN`` (UTC hour, then a size-rotation counter): a closed segment is one
``<segment>.parquet``; the open one (or one a killed recorder left) is a directory of
``part-NNNNNN.parquet`` files. A segment file wins over a directory of the same name.
Files whose names start with ``.`` (half-written temporaries) are never read.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import SourceError

__all__ = ["BOOK_STREAM", "TRADE_STREAM", "RecordingSource", "has_recording_layout", "is_recording", "open_recording",
           "recording_gaps", "segment_files"]

log = logging.getLogger("backtrader_channels.sources")
# the stream directories of a recording (each Kind names its own: ``Kind.recording``)
TRADE_STREAM, BOOK_STREAM = "trades", "book"
SEGMENT_NAME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{3}")  # a UTC hour and a rotation counter


def symbol_dir_name(symbol: str) -> str:
    """'BTC/USDT' -> 'BTCUSDT', the directory of a symbol in a recording."""
    return "".join(ch for ch in symbol.upper() if ch not in "/-_:")


def segment_files(directory: Path) -> list[Path]:
    """The Parquet files of a stream directory in time order (see the module docstring)."""
    segments: dict[str, list[Path]] = {}
    entries = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    for entry in entries:
        if entry.is_file() and entry.suffix == ".parquet":
            segments[entry.stem] = [entry]
    for entry in entries:
        if entry.is_dir() and entry.name not in segments:
            segments[entry.name] = sorted(p for p in entry.glob("part-*.parquet"))
    return [file for name in sorted(segments) for file in segments[name]]


def _stream_dir(path: Path, stream: str, symbol: str | None) -> Path:
    """``path/<SYMBOL>/stream`` (the symbol's, or the only symbol's), ``path/stream`` or ``path``."""
    candidates = [path / stream, path]
    if symbol is not None:
        candidates.insert(0, path / symbol_dir_name(symbol) / stream)
    elif path.is_dir():
        symbols = [child / stream for child in path.iterdir() if (child / stream).is_dir()]
        candidates[:0] = symbols if len(symbols) == 1 else []
    for candidate in candidates:
        if candidate.is_dir() and segment_files(candidate):
            return candidate
    raise SourceError(path, f"a folder, not a data file (nor a {stream} recording: no Parquet segments in "
                            f"{', '.join(str(c) for c in candidates)})")


def is_recording(path: str | PathLike) -> bool:
    return Path(path).is_dir()


def _holds_segments(directory: Path) -> bool:
    return directory.is_dir() and any(
        SEGMENT_NAME.fullmatch(entry.stem if entry.is_file() else entry.name) for entry in directory.iterdir())


def has_recording_layout(path: Path) -> bool:
    """Whether ``path`` is a recording's root, symbol or stream directory: a stream directory
    (itself, ``trades``/``book`` in it, or in one of its subdirectories) holding segments."""
    streams = (TRADE_STREAM, BOOK_STREAM, "gaps")
    candidates = [path, *(path / stream for stream in streams)]
    candidates += [child / stream for child in path.iterdir() if child.is_dir() for stream in streams]
    return any(_holds_segments(candidate) for candidate in candidates)


def recording_gaps(stream_dir: Path) -> list[dict[str, Any]]:
    """Gap markers of the recording holding ``stream_dir``: dicts with ``timestamp``
    (epoch seconds), ``stream`` (a stream directory, 'trades' or 'book', or 'all'), ``kind`` and ``count``."""
    gaps_dir = stream_dir.parent / "gaps"
    if not gaps_dir.is_dir():
        return []
    files = segment_files(gaps_dir)
    if not files:
        return []
    table = pa.concat_tables(pq.read_table(file) for file in files)
    rows = table.to_pylist()
    for row in rows:
        row["timestamp"] = row["timestamp"].timestamp()
    return rows


class RecordingSource:
    """The segments of one recorded stream as one source (same interface as the file sources).

    ``gaps`` lists the recording's gap markers for this stream; a pass over the chunks logs
    a warning naming them, so a backtest on a recording with holes says so. Bad rows (an
    older recorder wrote some) raise or are skipped as ``on_error`` says, each naming its
    segment file, row and field; the skip counts add up over the files.
    """

    def __init__(self, path: Path, stream: str, opener: Callable[[Path], Any], on_error: str,
                 symbol: str | None) -> None:
        self.path = _stream_dir(path, stream, symbol)
        self.stream = stream
        self.format = "recording"
        self.on_error = on_error
        self.files = segment_files(self.path)
        self.gaps = [gap for gap in recording_gaps(self.path) if gap["stream"] in (stream, "all")]
        self.skipped_rows = 0
        self.skipped_reasons: Counter[str] = Counter()
        self.skipped_causes: Counter[str] = Counter()
        self.first_skipped: SourceError | None = None
        self._opener = opener

    def chunks(self) -> Iterator[Any]:
        self.skipped_rows = 0
        self.skipped_reasons = Counter()
        self.skipped_causes = Counter()
        self.first_skipped = None
        if self.gaps:
            kinds = Counter(gap["kind"] for gap in self.gaps)
            log.warning("%s: the recording has %d gaps (%s)", self.path, len(self.gaps),
                        ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))
        for file in self.files:
            source = self._opener(file)
            yield from source.chunks()
            self.skipped_rows += source.skipped_rows
            self.skipped_reasons.update(source.skipped_reasons)
            self.skipped_causes.update(source.skipped_causes)
            self.first_skipped = self.first_skipped or source.first_skipped

    def __repr__(self) -> str:
        return f"RecordingSource({str(self.path)!r}, {len(self.files)} files, {len(self.gaps)} gaps)"


def open_recording(path: str | PathLike, stream: str, open_file: Callable[..., Any], *, symbol: str | None = None,
                   format: str | None = None, on_error: str = "raise", chunk_rows: int = 100_000) -> RecordingSource:
    """A recording directory (root, symbol or stream directory) as a source of its ``stream``
    (``TRADE_STREAM`` or ``BOOK_STREAM``), each segment file read by ``open_file(file,
    on_error=, chunk_rows=)`` (``open_trades`` or ``open_book``: the file readers call this
    module, never the other way round)."""
    if stream not in (TRADE_STREAM, BOOK_STREAM):
        raise ValueError(f"a recording's stream is {TRADE_STREAM!r} or {BOOK_STREAM!r}, got {stream!r}")
    if format not in (None, "parquet", "recording"):
        raise ValueError(f"{path}: a recording directory holds Parquet files, not format={format!r}")

    def opener(file: Path) -> Any:
        return open_file(file, on_error=on_error, chunk_rows=chunk_rows)

    return RecordingSource(Path(path), stream, opener, on_error, symbol)
