"""The download client: fetch the planned zips in parallel, verify each, keep only verified ones.

Each file goes through the same steps:

1. ``<zip>`` and its ``<zip>.CHECKSUM`` both on disk: it was verified before; nothing is fetched.
2. The ``.CHECKSUM`` is fetched (a 404 means the file is not published).
3. A ``<zip>`` already there without its checksum (put there by hand) is hashed and kept if it
   matches.
4. The zip streams into ``<zip>.part`` in the same directory, hashed (SHA-256) as it arrives;
   on a match it is renamed to ``<zip>`` (atomic on one file system) and the checksum is
   written beside it, last: so a ``.CHECKSUM`` on disk always vouches for its zip. On a
   mismatch, an error or a cancellation the ``.part`` is removed; after a kill -9 it stays
   behind, is never taken for a download, and the next run over that file overwrites it.

aiohttp is the HTTP client: it is already the live extra's transport (ccxt.pro's) and the
local test servers', and asyncio gives a bounded number of parallel downloads (``jobs``) in
one thread, streaming each body in chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp

from .failures import DownloadError
from .layout import RemoteFile
from .outcome import DownloadReport, Failure
from .progress_bar import Progress

__all__ = ["fetch_files"]

CHUNK = 1 << 16
ATTEMPTS = 3  # tries of one request on a network error, a timeout or an HTTP 5xx/429
BACKOFF = 0.5  # seconds before the second try; doubled before each next one
T = TypeVar("T")


@dataclass
class _Outcome:
    file: RemoteFile
    path: Path | None = None
    fetched: bool = False
    size: int = 0
    failure: Failure | None = None


class _Refused(Exception):
    """A request that failed for good: ``reason`` for the user, ``missing`` for a 404."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def fetch_files(files: list[RemoteFile], out: Path, *, base_url: str, jobs: int, skip_missing: bool,
                progress: bool | None) -> DownloadReport:
    """Download ``files`` (from layout.plan) into ``out``, ``jobs`` at a time; a monthly file
    not published (the current month) is replaced by its daily files. With ``skip_missing``
    a file not published is reported as skipped, not failed. ``progress``: a progress bar
    on stderr (None: when stderr is a terminal)."""
    if jobs < 1:
        raise DownloadError(f"--jobs must be at least 1, not {jobs}")
    started = time.perf_counter()
    with Progress(len(files), progress) as bar:
        outcomes = _run(_fetch_all(files, out, base_url.rstrip("/"), jobs, bar))
    report = DownloadReport(seconds=time.perf_counter() - started)
    for outcome in sorted(outcomes, key=lambda o: (o.file.first, o.file.period)):
        if outcome.path is not None:
            report.files.append(outcome.path)
            report.fetched += outcome.fetched
            report.reused += not outcome.fetched
            report.bytes += outcome.size
        elif outcome.failure is not None:
            (report.skipped if skip_missing and outcome.failure.missing else report.failures).append(outcome.failure)
    return report


def _run(coro: Awaitable[T]) -> T:
    """``asyncio.run(coro)``, in a thread of its own when this thread runs a loop (Jupyter)."""
    async def main() -> T:
        return await coro

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _fetch_all(files: list[RemoteFile], out: Path, base_url: str, jobs: int, bar: Progress) -> list[_Outcome]:
    slots = asyncio.Semaphore(jobs)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=jobs)) as session:
        async def one(file: RemoteFile) -> list[_Outcome]:
            async with slots:
                outcome = await _fetch(session, file, out, base_url, bar)
            days = file.days() if outcome.failure is not None and outcome.failure.missing else []
            if not days:
                return [outcome]
            bar.expand(len(days))
            return [o for group in await asyncio.gather(*(one(day) for day in days)) for o in group]

        return [o for group in await asyncio.gather(*(one(file) for file in files)) for o in group]


async def _fetch(session: aiohttp.ClientSession, file: RemoteFile, out: Path, base_url: str,
                 bar: Progress) -> _Outcome:
    target = out / file.path
    sidecar = target.with_name(target.name + ".CHECKSUM")
    if target.is_file() and sidecar.is_file():
        bar.file_done()
        return _Outcome(file, target)
    url = f"{base_url}/data/{file.path}"
    try:
        text = await _retrying(lambda: _get_text(session, url + ".CHECKSUM"))
        expected = _expected_digest(text, file.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and await asyncio.to_thread(_sha256, target) == expected:
            _write_atomically(sidecar, text)
            bar.file_done()
            return _Outcome(file, target)
        part = target.with_name(target.name + ".part")
        size, digest = await _retrying(lambda: _stream(session, url, part, bar))
        if digest != expected:
            part.unlink()
            raise _Refused(f"checksum mismatch (sha256 {digest}, its .CHECKSUM says {expected}): not kept")
        os.replace(part, target)
        _write_atomically(sidecar, text)
    except _Refused as refused:
        bar.file_done()
        return _Outcome(file, failure=Failure(file, url, refused.reason, refused.missing))
    except OSError as error:  # the output directory (network errors were _Refused by then)
        bar.file_done()
        return _Outcome(file, failure=Failure(file, url, f"cannot write {error.filename or target}: "
                                                         f"{error.strerror or error}"))
    bar.file_done()
    return _Outcome(file, target, fetched=True, size=size)


async def _retrying(request: Callable[[], Awaitable[T]]) -> T:
    """``request()``, tried again after a network error, a timeout or an HTTP 5xx/429."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await request()
        except _Refused:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, _Transient) as error:
            if attempt == ATTEMPTS:
                raise _Refused(f"{_describe(error)} after {ATTEMPTS} attempts") from error
        await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class _Transient(Exception):
    """An HTTP answer worth another try (5xx, 429)."""


def _describe(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


def _check_status(response: aiohttp.ClientResponse) -> None:
    if response.status == 404:
        raise _Refused("not published (404)", missing=True)
    if response.status >= 500 or response.status == 429:
        raise _Transient(f"HTTP {response.status} {response.reason}")
    if response.status != 200:
        raise _Refused(f"HTTP {response.status} {response.reason}")


async def _get_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        _check_status(response)
        return await response.text(encoding="utf-8", errors="replace")


async def _stream(session: aiohttp.ClientSession, url: str, part: Path, bar: Progress) -> tuple[int, str]:
    """GET ``url`` into ``part``: (its size, its SHA-256). ``part`` is gone if this fails."""
    digest = hashlib.sha256()
    size = expected = 0
    try:
        async with session.get(url) as response:
            _check_status(response)
            expected = response.content_length or 0
            bar.add_bytes(expected)
            with open(part, "wb") as sink:
                async for chunk in response.content.iter_chunked(CHUNK):
                    sink.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.advance(len(chunk))
    except BaseException:
        part.unlink(missing_ok=True)
        bar.add_bytes(-expected)  # a retry counts them again
        bar.advance(-size)
        raise
    return size, digest.hexdigest()


def _expected_digest(text: str, name: str) -> str:
    """The SHA-256 of ``name`` that a ``.CHECKSUM`` (``sha256sum``'s line) gives."""
    fields = text.split()
    if len(fields) != 2 or len(fields[0]) != 64 or not all(c in "0123456789abcdefABCDEF" for c in fields[0]):
        raise _Refused(f"its .CHECKSUM is not '<sha256>  {name}': {text.strip()[:100]!r}")
    if fields[1].lstrip("*") != name:
        raise _Refused(f"its .CHECKSUM is for {fields[1]!r}")
    return fields[0].lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)
