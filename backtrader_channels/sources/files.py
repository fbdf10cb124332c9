"""File plumbing: names, decompressed content (plain, gzip, zip), line blocks, atomic output.

Content is inflated a megabyte at a time and lines are bounded (``max_line_bytes``), so a
file that inflates to gigabytes without a newline (a zip bomb, or a file of another kind) is
refused after a megabyte or so of memory, naming the file, the zip member and the byte.
"""

from __future__ import annotations

import os
import secrets
import struct
import zipfile
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import SourceError

try:  # zlib-ng (installed with ccxt) is about twice as fast as the standard zlib
    from zlib_ng import gzip_ng as gzip
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - same results, slower
    import gzip  # type: ignore[no-redef]
    import zlib  # type: ignore[no-redef]

__all__ = [
    "PARQUET_SUFFIXES",
    "LineTooLong",
    "atomic_output",
    "compression_of",
    "existing_file",
    "first_line",
    "head_lines",
    "line_limit",
    "content_pieces",
    "line_blocks",
    "open_output",
    "parquet_columns",
    "plain_suffix",
]

PARQUET_SUFFIXES = (".parquet", ".pq")
BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 1 << 16
PIECE_BYTES = 1 << 20
INFLATE_INPUT_BYTES = 1 << 18  # about a megabyte once inflated
GZIP_LEVEL = 6  # gzip's default: 4x faster than level 9, files about 5% larger
ZIP_LOCAL_HEADER = 30


def compression_of(path: Path) -> str | None:
    """'gzip' for a ``.gz`` name, else None."""
    return "gzip" if path.name.lower().endswith(".gz") else None


def plain_suffix(path: Path) -> str:
    """The suffix that names the format, ignoring ``.gz``: '.csv', '.jsonl', '.parquet', '.zip'..."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return os.path.splitext(name)[1]


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file, or SourceError if it is not one."""
    try:
        return pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as error:
        raise SourceError(path, f"not a readable Parquet file ({error})") from None


def line_limit(max_line_bytes: int) -> int:
    """``max_line_bytes`` checked: a positive whole number of bytes."""
    if type(max_line_bytes) is not int or max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be a positive integer, got {max_line_bytes!r}")
    return max_line_bytes


def existing_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path; SourceError for a folder, FileNotFoundError for nothing there."""
    path = Path(path)
    if path.is_dir():
        raise SourceError(path, "a folder, not a data file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def content_pieces(path: Path, *, sniff: bool = False) -> Generator[bytes, None, None]:
    """The content of a plain, ``.gz`` or ``.zip`` (holding one file) file, decompressed, in
    pieces of about a megabyte. A stored (uncompressed) zip member's checksum is checked
    before its first piece, unless ``sniff`` (only the first pieces will be read)."""
    try:
        if plain_suffix(path) == ".zip" and not compression_of(path):
            yield from _zip_pieces(path, check_first=not sniff)
        elif compression_of(path):
            with gzip.open(path, "rb") as stream:
                while data := stream.read(PIECE_BYTES):
                    yield data
        else:
            yield from _raw_pieces(path, 0, None, PIECE_BYTES)
    except (OSError, EOFError, zlib.error) as error:  # type: ignore[misc]  # zlib_ng's stub types error as an instance, not a class
        raise SourceError(path, f"cannot be read ({error})") from None


def _raw_pieces(path: Path, start: int, size: int | None, piece: int) -> Iterator[bytes]:
    """``size`` bytes (all when None) of the file from ``start``."""
    with open(path, "rb") as file:
        file.seek(start)
        while size is None or size > 0:
            data = file.read(piece if size is None else min(piece, size))
            if not data:
                if size:
                    raise EOFError(f"{size} bytes missing at the end")
                return
            if size is not None:
                size -= len(data)
            yield data


def _zip_pieces(path: Path, check_first: bool) -> Iterator[bytes]:
    """Inflate the one file of a zip archive (stored or deflated; others through zipfile).

    The checksum of what was read is compared at the end; a stored member's is checked
    first too when ``check_first`` (reading it is cheap next to parsing it).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                names = [info.filename for info in members]
                raise SourceError(path, f"a zip holding one data file was expected, found {names}")
            member = members[0]
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                with archive.open(member) as stream:
                    while data := stream.read(PIECE_BYTES):
                        yield data
                return
    except zipfile.BadZipFile as error:
        raise SourceError(path, f"not a readable zip file ({error})") from None
    with open(path, "rb") as file:
        file.seek(member.header_offset)
        header = file.read(ZIP_LOCAL_HEADER)
    if header[:4] != b"PK\x03\x04" or member.flag_bits & 0x1:
        raise SourceError(path, "not a readable zip file (bad local header, or encrypted)")
    name_bytes, extra_bytes = struct.unpack("<HH", header[26:30])
    start = member.header_offset + ZIP_LOCAL_HEADER + name_bytes + extra_bytes
    raw = _raw_pieces(path, start, member.compress_size, INFLATE_INPUT_BYTES)
    crc = 0
    if member.compress_type == zipfile.ZIP_STORED:
        if check_first:
            for data in _raw_pieces(path, start, member.compress_size, PIECE_BYTES):
                crc = zlib.crc32(data, crc)
            if crc != member.CRC:
                raise SourceError(path, "corrupt zip data (CRC mismatch), found before reading any row")
            crc = 0
        pieces: Iterator[bytes] = raw
    else:
        pieces = _inflated(raw)
    for out in pieces:
        crc = zlib.crc32(out, crc)
        yield out
    if crc != member.CRC:
        raise SourceError(path, "corrupt zip data (CRC mismatch)")


def _inflated(raw: Iterable[bytes]) -> Iterator[bytes]:
    """Raw deflate data inflated in pieces of at most PIECE_BYTES: one input piece may
    inflate a thousandfold."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    for data in raw:
        while data:
            out = inflater.decompress(data, PIECE_BYTES)
            data = inflater.unconsumed_tail
            if out:
                yield out


class LineTooLong(SourceError):
    """A line longer than a reader's ``max_line_bytes``: most likely not a file of its kind."""

    def __init__(self, path: Path, start: int, limit: int, kind: str) -> None:
        self.start = start
        self.limit = limit
        member = _zip_member(path)
        within = f" of member {member!r}" if member else ""
        super().__init__(path, f"line longer than {_size(limit)} at byte {start:,}{within}: not a {kind} file? "
                               f"(a longer line is read with max_line_bytes=)")


def _zip_member(path: Path) -> str | None:
    """The name of the one file of a zip archive (None for other files)."""
    if plain_suffix(path) != ".zip" or compression_of(path):
        return None
    with zipfile.ZipFile(path) as archive:
        return next((info.filename for info in archive.infolist() if not info.is_dir()), None)


def _size(count: int) -> str:
    """1048576 -> '1 MiB', 65536 -> '64 KiB', 1000 -> '1,000 bytes'."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if count >= unit and not count % unit:
            return f"{count // unit:,} {name}"
    return f"{count:,} bytes"


def head_lines(path: Path, max_line_bytes: int, kind: str) -> tuple[list[tuple[int, str]], int]:
    """The non-blank whole lines of the top of the content (about 64 KiB, at least one line),
    each with its 1-based number, and their average length in bytes. LineTooLong if the top
    of the file holds no newline within ``max_line_bytes``."""
    parts: list[bytes] = []
    size = 0
    pieces = content_pieces(path, sniff=True)
    try:
        for data in pieces:
            parts.append(data)
            size += len(data)
            if size >= SNIFF_BYTES and b"\n" in data:
                break
            if size > max_line_bytes and not any(b"\n" in part for part in parts):
                raise LineTooLong(path, 0, max_line_bytes, kind)
    finally:
        pieces.close()
    head = b"".join(parts)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if len(head) >= SNIFF_BYTES:  # only whole lines
        head = head[: head.rfind(b"\n", 0, SNIFF_BYTES) + 1 or head.rfind(b"\n") + 1] or head
    lines = head.decode("utf-8", errors="replace").splitlines()
    line_bytes = max(1, len(head) // max(1, len(lines)))
    return [(number, text) for number, text in enumerate(lines, 1) if text.strip()], line_bytes


def first_line(path: Path, max_line_bytes: int, kind: str) -> tuple[int, str, int]:
    """The first non-blank line of ``head_lines`` (its number and text; 0 and '' if none)
    and the average line length."""
    lines, line_bytes = head_lines(path, max_line_bytes, kind)
    number, text = lines[0] if lines else (0, "")
    return number, text, line_bytes


def line_blocks(path: Path, block_bytes: int, max_line_bytes: int, kind: str) -> Iterator[bytes]:
    """The content of ``path`` in blocks of whole lines of about ``block_bytes`` (at least
    one line each), a leading BOM removed; LineTooLong for a line over ``max_line_bytes``
    (found by then: memory stays within a block and a line)."""
    parts: list[bytes] = []
    size = 0  # bytes in parts
    line = 0  # bytes of the line going on at the end of parts
    offset = 0  # bytes of content before parts
    first = True
    for data in content_pieces(path):
        if first and data:
            first = False
            if data.startswith(BOM):
                data = data[len(BOM) :]
                offset = len(BOM)
        if len(data) > max_line_bytes:  # a line within the piece may be too long (a small bound)
            start = _long_line(data, line, max_line_bytes)
            if start is not None:
                raise LineTooLong(path, offset + size + start, max_line_bytes, kind)
        end = data.rfind(b"\n") + 1
        line = line + len(data) if not end else len(data) - end
        if line > max_line_bytes:
            raise LineTooLong(path, offset + size + len(data) - line, max_line_bytes, kind)
        parts.append(data)
        size += len(data)
        if size >= block_bytes and end:
            parts[-1] = data[:end]
            block = b"".join(parts)
            yield block
            offset += len(block)
            parts, size = [data[end:]], len(data) - end
    if size:
        yield b"".join(parts)


def _long_line(data: bytes, carried: int, limit: int) -> int | None:
    """Where in ``data`` the first line over ``limit`` bytes starts (negative: ``carried``
    bytes of it came before), or None."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate(([-carried], ends + 1))
    over = np.flatnonzero(np.append(ends, len(data)) - starts > limit)
    return int(starts[over[0]]) if len(over) else None


class ByteOutput(Protocol):
    """What open_output gives: a file (plain or gzip) to write bytes to."""

    def write(self, data: bytes, /) -> int: ...


@contextmanager
def open_output(path: Path, gzipped: bool) -> Iterator[ByteOutput]:
    """A file to write, gzip-compressed when ``gzipped``.

    The gzip header gets no name and no time, so the same content gives the same bytes.
    """
    with open(path, "wb") as raw:
        if not gzipped:
            yield raw
            return
        compressor = getattr(gzip, "GzipNGFile", None) or gzip.GzipFile  # zlib-ng when present
        with compressor(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as stream:
            yield stream


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a new temporary file next to ``path``; move it into place only if the body succeeds.

    The temporary file is created exclusively under a random name (``.NAME.XXXXXXXX.partial``),
    so a file or symlink already there is never followed or overwritten.
    """
    if path.is_dir():
        raise IsADirectoryError(f"{path}: a folder, not a file to write")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder")
    partial = _new_file(path)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _new_file(path: Path) -> Path:
    """A file that did not exist before, next to ``path`` (mode 0o666 less the umask)."""
    while True:
        partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
        try:
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return partial
