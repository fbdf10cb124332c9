"""Where Binance's public data files are: data.binance.vision's layout, and the plan of a download.

The layout, from Binance's public-data README (github.com/binance/binance-public-data, "Where
do I access it" and "CHECKSUM") and the site's own listing (data.binance.vision/?prefix=data/)::

    <base>/data/<spot|futures/um|futures/cm>/<daily|monthly>/<data>/<SYMBOL>/[<interval>/]
        <SYMBOL>-<data>-<YYYY-MM-DD>.zip          daily
        <SYMBOL>-<data>-<YYYY-MM>.zip             monthly
        <SYMBOL>-<interval>-<date>.zip            the kline families (no data name in the file name)

and beside each zip a ``.zip.CHECKSUM``: the line ``sha256sum`` writes, ``<sha256 hex>  <zip
name>``. Daily files appear the next day, monthly ones early in the next month. Not every data
set has both periods: ``fundingRate`` is monthly only, ``bookDepth`` and ``metrics`` daily only,
and spot has only trades, aggTrades and klines (``DATA_SETS``).

The local copy keeps the same layout under the output directory, without the ``data/``
prefix (``<out>/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip``), so every file's
path is known in advance.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from .failures import DownloadError

__all__ = ["DATA_SETS", "INTERVALS", "MARKETS", "RemoteFile", "binance_symbol", "days_of", "plan"]

MARKETS = {"spot": "spot", "um": "futures/um", "cm": "futures/cm"}  # --market -> the site's folder

DAILY, MONTHLY = "daily", "monthly"
BOTH = (DAILY, MONTHLY)
_FUTURES = {
    "trades": BOTH, "aggTrades": BOTH, "klines": BOTH, "markPriceKlines": BOTH,
    "indexPriceKlines": BOTH, "premiumIndexKlines": BOTH, "bookTicker": BOTH,
    "bookDepth": (DAILY,), "metrics": (DAILY,), "fundingRate": (MONTHLY,),
}
DATA_SETS: dict[str, dict[str, tuple[str, ...]]] = {  # market -> data set -> the periods published
    "spot": {"trades": BOTH, "aggTrades": BOTH, "klines": BOTH},
    "um": _FUTURES,
    "cm": _FUTURES,
}
KLINES = frozenset({"klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"})
# the README's intervals; 1s is spot only; 3d, 1w and 1mo bars come in monthly files only
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo")
_MONTHLY_ONLY_INTERVALS = frozenset({"3d", "1w", "1mo"})


@dataclass(frozen=True)
class RemoteFile:
    """One zip of the site: the ``period`` file ('daily' or 'monthly') of ``data`` covering the
    days ``first``..``last``."""

    symbol: str  # the site's (BTCUSDT, BTCUSD_PERP)
    data: str
    market: str
    period: str
    first: dt.date
    last: dt.date
    interval: str | None = None  # of the kline data sets

    @property
    def path(self) -> PurePosixPath:
        """The path under the site's ``data/``, and under the local output directory."""
        stamp = f"{self.first:%Y-%m}" if self.period == MONTHLY else f"{self.first:%Y-%m-%d}"
        folder = PurePosixPath(MARKETS[self.market], self.period, self.data, self.symbol)
        if self.interval is not None:
            return folder / self.interval / f"{self.symbol}-{self.interval}-{stamp}.zip"
        return folder / f"{self.symbol}-{self.data}-{stamp}.zip"

    @property
    def name(self) -> str:
        return self.path.name

    def days(self) -> list[RemoteFile]:
        """The daily files a monthly one stands for, when the data set has daily files (the
        fallback for a month not published yet); else none."""
        if self.period != MONTHLY or DAILY not in _periods(self.data, self.market, self.interval):
            return []
        return [replace(self, period=DAILY, first=day, last=day) for day in days_of(self.first, self.last)]


def binance_symbol(symbol: str, market: str) -> str:
    """The site's symbol for a ccxt or Binance one: 'BTC/USDT' -> 'BTCUSDT'; on USD-M
    'BTC/USDT:USDT' -> 'BTCUSDT' and 'BTC/USDT:USDT-240628' -> 'BTCUSDT_240628'; on COIN-M
    'BTC/USD:BTC' and 'BTCUSD' -> 'BTCUSD_PERP' (the perpetual), 'BTC/USD:BTC-240628' ->
    'BTCUSD_240628'."""
    pair, _, settle = symbol.strip().upper().partition(":")
    pair = pair.replace("/", "")
    _, _, expiry = settle.partition("-")
    if not pair.replace("_", "").isalnum():
        raise DownloadError(f"symbol {symbol!r}: expected a pair such as BTC/USDT")
    if market == "spot":
        if settle:
            raise DownloadError(f"symbol {symbol!r} is a futures contract: pass --market um or cm")
        return pair
    if expiry:
        return f"{pair}_{expiry}"
    if market == "cm" and "_" not in pair:
        return f"{pair}_PERP"
    return pair


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def days_of(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def plan(symbol: str, data: str, market: str, start: dt.date, end: dt.date,
         interval: str | None = None) -> list[RemoteFile]:
    """The files covering ``start``..``end`` (both included), in time order: a monthly file
    for each calendar month the range holds whole, daily files for the other days; a data
    set published in one period only (fundingRate: monthly, bookDepth: daily) uses that one,
    so a fundingRate range gets the whole months it touches."""
    periods = _periods(data, market, interval)
    if start > end:
        raise DownloadError(f"--from {start} is after --to {end}")
    site_symbol = binance_symbol(symbol, market)
    files: list[RemoteFile] = []
    month = start.replace(day=1)
    while month <= end:
        month_end = _month_end(month)
        whole = start <= month and month_end <= end
        if MONTHLY in periods and (whole or DAILY not in periods):
            files.append(RemoteFile(site_symbol, data, market, MONTHLY, month, month_end, interval))
        else:
            files.extend(RemoteFile(site_symbol, data, market, DAILY, day, day, interval)
                         for day in days_of(max(month, start), min(month_end, end)))
        month = month_end + dt.timedelta(days=1)
    return files


def _periods(data: str, market: str, interval: str | None) -> tuple[str, ...]:
    """The periods ``data`` is published in on ``market``; a refusal for what the site lacks."""
    if market not in DATA_SETS:
        raise DownloadError(f"market {market!r}: expected one of {', '.join(DATA_SETS)}")
    published = DATA_SETS[market].get(data)
    if published is None:
        raise DownloadError(f"data {data!r} is not published for {market}: expected one of "
                            f"{', '.join(DATA_SETS[market])}")
    if data not in KLINES:
        if interval is not None:
            raise DownloadError(f"--interval goes with the kline data sets, not {data}")
        return published
    if interval is None:
        raise DownloadError(f"{data} need an --interval: one of {', '.join(INTERVALS)}")
    if interval not in INTERVALS or (interval == "1s" and market != "spot"):
        raise DownloadError(f"interval {interval!r} is not published for {market} {data}: expected one of "
                            f"{', '.join(i for i in INTERVALS if market == 'spot' or i != '1s')}")
    return (MONTHLY,) if interval in _MONTHLY_ONLY_INTERVALS else published
