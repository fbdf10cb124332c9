"""Binance's public data (data.binance.vision) into a local cache: ``btchannels download``.

    from backtrader_channels.download import download

    files = download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-31")

Every file is checked against its published SHA-256 before it is kept, a file verified once
is never fetched again, and the files come back in time order, ready for ``open_trades`` or
a channel's ``dataname``. layout.py says where files are, fetch.py how they are fetched.
"""

from __future__ import annotations

import datetime as dt
import os
from os import PathLike
from pathlib import Path

from ..extras import missing_extra
from .failures import DownloadError, DownloadFailed
from .layout import DATA_SETS, INTERVALS, MARKETS, RemoteFile, binance_symbol, plan
from .outcome import DownloadReport, Failure

__all__ = [
    "DATA_SETS", "DEFAULT_BASE_URL", "INTERVALS", "MARKETS", "DownloadError", "DownloadFailed", "DownloadReport",
    "Failure", "RemoteFile", "binance_symbol", "default_cache_dir", "download", "download_report", "plan",
]

DEFAULT_BASE_URL = "https://data.binance.vision"
CACHE_VARIABLE = "BTCHANNELS_DATA"


def default_cache_dir() -> Path:
    """Where downloads go unless told: ``$BTCHANNELS_DATA``, else
    ``$XDG_CACHE_HOME/backtrader-channels/binance`` (``~/.cache/...``)."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "backtrader-channels" / "binance"


def _date(value: dt.date | str, option: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DownloadError(f"{option} {value!r}: expected a date YYYY-MM-DD") from None


def download_report(symbol: str, data: str = "trades", *, start: dt.date | str, end: dt.date | str,
                    market: str = "spot", interval: str | None = None, out: str | PathLike | None = None,
                    base_url: str = DEFAULT_BASE_URL, jobs: int = 4, skip_missing: bool = False,
                    progress: bool | None = False) -> DownloadReport:
    """Download as ``download`` does, and report: files verified, fetched and reused, bytes,
    time, and the files that failed (not raised; ``report.check()`` raises them)."""
    try:
        from .fetch import fetch_files
    except ImportError as error:  # aiohttp, of the [download] extra
        raise missing_extra("download", "btchannels download", error) from error

    first, last = _date(start, "--from"), _date(end, "--to")
    files = plan(symbol, data, market, first, last, interval)
    return fetch_files(files, Path(out) if out is not None else default_cache_dir(), base_url=base_url,
                       jobs=jobs, skip_missing=skip_missing, progress=progress)


def download(symbol: str, data: str = "trades", *, start: dt.date | str, end: dt.date | str,
             market: str = "spot", interval: str | None = None, out: str | PathLike | None = None,
             base_url: str = DEFAULT_BASE_URL, jobs: int = 4, skip_missing: bool = False,
             progress: bool | None = False) -> list[Path]:
    """The verified zips of ``data`` for ``symbol`` from ``start`` to ``end`` (dates, both
    included), in time order, fetching those not in ``out`` yet.

    ``market``: 'spot', 'um' (USD-M futures) or 'cm' (COIN-M); ``data``: a data set of
    ``DATA_SETS[market]`` (trades, aggTrades, klines with an ``interval``, bookTicker,
    bookDepth, fundingRate...); ``out``: the cache directory (default: ``default_cache_dir()``),
    laid out as the site is; ``jobs``: downloads at once; ``skip_missing``: days the site
    does not publish are left out instead of failing. Raises DownloadError for a request
    that cannot be planned, and DownloadFailed (with its ``report``) after downloading all
    it could when some files failed (not published, a checksum mismatch, the network).
    """
    return download_report(symbol, data, start=start, end=end, market=market, interval=interval, out=out,
                           base_url=base_url, jobs=jobs, skip_missing=skip_missing, progress=progress).check().files
