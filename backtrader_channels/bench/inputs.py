"""Benchmark inputs: generated trades, bars, books and a Binance zip, written once."""

from __future__ import annotations

import math
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from backtrader_channels.sources import (
    BookChunk,
    TradeChunk,
    write_book,
    write_trades,
)

from .measure import (
    BASE_CENTS,
    BOOK_UPDATE_SECONDS,
    DAY_SECONDS,
    DAY_START_NS,
    DAY_TRADES,
    WRITE_CHUNK,
)

# --- inputs ---------------------------------------------------------------------------------


def day_seconds(n: int) -> float:
    """The time ``n`` trades span at the density of a 17M-trade day (about 197 a second)."""
    return n * DAY_SECONDS / DAY_TRADES


def trade_chunks(n: int, symbol_index: int = 0, seconds: float | None = None,
                 seed: int = 7) -> Iterator[TradeChunk]:
    """``n`` trades from 2025-01-01 over ``seconds`` (default: ``day_seconds(n)``), in chunks.

    Prices (whole cents) follow a 15-minute wave of +-60 USDT plus noise, the same for any
    ``n``, so resting limits near the market fill at every size. Timestamps are whole
    microseconds, as in Binance's spot dumps.
    """
    rng = np.random.default_rng(seed + symbol_index)
    seconds = day_seconds(n) if seconds is None else seconds
    base = BASE_CENTS[symbol_index]
    amplitude = base * 60 // 94_000  # 60 USDT at BTC's price
    for lo in range(0, n, WRITE_CHUNK):
        rows = np.arange(lo, min(n, lo + WRITE_CHUNK))
        offset_s = (rows + rng.random(len(rows))) * (seconds / n)
        ts_ns = DAY_START_NS + (offset_s * 1e6).astype(np.int64) * 1000
        wave = amplitude * np.sin(offset_s * (2 * np.pi / 900.0))
        cents = base + np.round(wave + rng.normal(0.0, amplitude / 120, len(rows))).astype(np.int64)
        lots = np.maximum(np.round(rng.lognormal(5.0, 1.5, len(rows))), 1.0)  # 0.00001 BTC lots
        yield TradeChunk(ts_ns, cents / 100.0, lots / 100_000.0, rng.random(len(rows)) < 0.5,
                         rows.astype(np.int64) + 1_000_000_000)


class MinuteBars:
    """1-minute OHLCV bars accumulated from trade chunks, stamped with their close time."""

    def __init__(self, seconds: float) -> None:
        minutes = math.ceil(seconds / 60) + 1
        self.open = np.full(minutes, np.nan)
        self.high = np.full(minutes, -np.inf)
        self.low = np.full(minutes, np.inf)
        self.close = np.full(minutes, np.nan)
        self.volume = np.zeros(minutes)

    def add(self, chunk: TradeChunk) -> TradeChunk:
        minute = (chunk.ts_ns - DAY_START_NS) // (60 * 10**9)
        first = np.unique(minute, return_index=True)[1]
        last = len(minute) - 1 - np.unique(minute[::-1], return_index=True)[1]
        seen = np.isnan(self.open[minute[first]])
        self.open[minute[first][seen]] = chunk.price[first][seen]
        self.close[minute[last]] = chunk.price[last]
        np.maximum.at(self.high, minute, chunk.price)
        np.minimum.at(self.low, minute, chunk.price)
        np.add.at(self.volume, minute, chunk.volume)
        return chunk

    def write_csv(self, path: Path) -> int:
        """Bars with trades, one line each (``datetime,open,high,low,close,volume``)."""
        lines = ["datetime,open,high,low,close,volume"]
        for k in np.flatnonzero(~np.isnan(self.open)).tolist():
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(DAY_START_NS // 10**9 + 60 * (k + 1)))
            lines.append(f"{stamp},{self.open[k]:.2f},{self.high[k]:.2f},{self.low[k]:.2f},"
                         f"{self.close[k]:.2f},{self.volume[k]:.5f}")
        path.write_text("\n".join(lines) + "\n")
        return len(lines) - 1


def book_chunks(updates: int, levels: int, symbol_index: int = 0, changed: int = 10,
                seed: int = 11) -> Iterator[BookChunk]:
    """A snapshot of ``levels`` levels a side, then deltas of ``changed`` levels each, 100 ms apart.

    Bids sit 1..levels cents below a fixed mid and asks above it, so the book never
    crosses; deltas pick levels near the touch more often, 10% of them remove a level
    (a later delta may add it back), the rest set a new size.
    """
    rng = np.random.default_rng(seed + symbol_index)
    mid = BASE_CENTS[symbol_index]
    depth = np.arange(1, levels + 1)
    for lo in range(0, updates, WRITE_CHUNK // changed):
        count = min(updates, lo + WRITE_CHUNK // changed) - lo
        snapshot = lo == 0
        per_update = np.full(count, changed)
        if snapshot:
            per_update[0] = 2 * levels
        side = rng.integers(0, 2, int(per_update.sum())).astype(np.int8)
        steps = np.minimum(rng.geometric(0.03, len(side)), levels)
        sizes = np.round(rng.lognormal(7.0, 1.0, len(side))) / 100_000.0
        sizes[rng.random(len(side)) < 0.1] = 0.0
        if snapshot:
            first = 2 * levels
            side[:first] = np.repeat([0, 1], levels)
            steps[:first] = np.concatenate([depth, depth])
            sizes[:first] = np.maximum(sizes[:first], 0.001)
        cents = np.where(side == 0, mid - steps, mid + steps)
        offset_s = (np.arange(lo, lo + count) + 0.5) * BOOK_UPDATE_SECONDS
        yield BookChunk(
            DAY_START_NS + (offset_s * 1e6).astype(np.int64) * 1000,
            np.arange(lo, lo + count) == 0,
            np.concatenate([[0], np.cumsum(per_update)]).astype(np.int64),
            side, cents / 100.0, sizes,
        )


def _binance_lines(chunk: TradeChunk) -> bytes:
    """Spot trades rows as Binance writes them: no header, 8 decimals, microsecond times.

    Columns: id, price, qty, quote_qty, time, is_buyer_maker, is_best_match.
    """
    if chunk.trade_id is None:
        raise ValueError("Binance trade rows need trade ids")
    cents: np.ndarray = np.round(chunk.price * 100).astype(np.int64)
    lots: np.ndarray = np.round(chunk.volume * 100_000).astype(np.int64)
    maker = np.where(chunk.is_sell, "True", "False")  # a sell aggressor: the buyer was maker
    rows = zip(chunk.trade_id.tolist(), cents.tolist(), lots.tolist(), (chunk.price * chunk.volume).tolist(),
               (chunk.ts_ns // 1000).tolist(), maker.tolist(), strict=True)
    return "".join(
        f"{tid},{c // 100}.{c % 100:02d}000000,{q // 100_000}.{q % 100_000:05d}000,{quote:.8f},{us},{m},True\n"
        for tid, c, q, quote, us, m in rows
    ).encode()


class Inputs:
    """Benchmark input files, written on first use into ``root`` and reused after."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str, make: Callable[[Path], Any]) -> Path:
        path = self.root / name
        if not path.exists():
            partial = path.with_name(path.name + ".partial" + path.suffix)
            make(partial)
            partial.replace(path)
        return path

    def trades(self, n: int) -> Path:
        """``n`` BTC/USDT trades as project Parquet (1-minute bars written beside)."""
        return self._path(f"trades-{n}.parquet", lambda path: self._write_day(n, path))

    def bars(self, n: int) -> Path:
        """The 1-minute bars of ``trades(n)``, as CSV stamped with close times."""
        self.trades(n)
        return self.root / f"bars-{n}.csv"

    def _write_day(self, n: int, path: Path) -> None:
        bars = MinuteBars(day_seconds(n))
        write_trades(path, (bars.add(chunk) for chunk in trade_chunks(n)))
        bars.write_csv(self.root / f"bars-{n}.csv")

    def trades_csv(self, n: int) -> Path:
        """The same day as ``trades(n)``, as project CSV."""
        return self._path(f"trades-{n}.csv", lambda path: write_trades(path, trade_chunks(n)))

    def binance_zip(self, n: int) -> Path:
        """The same day as a Binance spot trades dump: ``BTCUSDT-trades-2025-01-01.zip``."""
        folder = self.root / f"binance-{n}"
        folder.mkdir(exist_ok=True)
        return self._path(f"binance-{n}/BTCUSDT-trades-2025-01-01.zip", lambda path: _write_zip(n, path))

    def book_trades(self, symbol_index: int, n: int, updates: int) -> Path:
        """``n`` trades of ``SYMBOLS[symbol_index]`` over the time of ``updates`` book updates."""
        seconds = updates * BOOK_UPDATE_SECONDS
        return self._path(f"book-trades-{symbol_index}-{n}-{updates}.parquet",
                          lambda path: write_trades(path, trade_chunks(n, symbol_index, seconds)))

    def book(self, symbol_index: int, updates: int, levels: int) -> Path:
        """Book updates of ``SYMBOLS[symbol_index]`` as Parquet (see ``book_chunks``)."""
        return self._path(f"book-{symbol_index}-{updates}-{levels}.parquet",
                          lambda path: write_book(path, book_chunks(updates, levels, symbol_index)))


def _write_zip(n: int, path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
            archive.open("BTCUSDT-trades-2025-01-01.csv", "w", force_zip64=True) as out:
        for chunk in trade_chunks(n):
            out.write(_binance_lines(chunk))
