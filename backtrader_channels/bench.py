"""Benchmarks of the performance targets: inputs, scenarios and the ``btchannels bench`` table.

Each ``scenario_*`` function runs one measured workload and returns a ``Measured`` (what
was counted, how long it took, the checks a test asserts); ``run_bench(size)`` runs them
all, each target in a fresh interpreter, and returns the table rows; ``main_bench(argv)``
(``btchannels bench``) prints the table. The pytest-benchmark
suite in ``tests/benchmarks/`` wraps the same scenarios. Input sizes come from
``BTCHANNELS_BENCH_SIZE``: ``quick`` (the default, seconds) or ``full`` (the issue's sizes).
Inputs are generated with numpy and written with the project's writers (and, for the
Binance zip, in Binance's own layout) into a directory, once.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import backtrader as bt
import numpy as np

import backtrader_channels as bc
from backtrader_channels.cerebro import channels_of
from backtrader_channels.sources import (
    BookChunk,
    TradeChunk,
    convert,
    open_trades,
    write_book,
    write_trades,
)

__all__ = [
    "SIZES",
    "Inputs",
    "Measured",
    "Row",
    "main_bench",
    "print_rows",
    "run_bench",
    "sizes_from_env",
]

SIZE_ENV = "BTCHANNELS_BENCH_SIZE"
SYMBOLS = ("BTC/USDT", "ETH/USDT")
DAY_START_NS = 1_735_689_600 * 10**9  # 2025-01-01T00:00:00Z
DAY_SECONDS = 86_400
DAY_TRADES = 17_000_000  # a busy BTC/USDT day: generated trades keep its density
BOOK_UPDATE_SECONDS = 0.1  # one book update every 100 ms per symbol, as Binance's depth@100ms
BASE_CENTS = (9_400_000, 340_000)  # 94,000.00 and 3,400.00 USDT
WRITE_CHUNK = 1_000_000  # rows generated and written at a time


# --- sizes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Input sizes of one benchmark mode."""

    name: str
    ticks: int  # 1: trades through notify_tick
    backtrader_ticks: int  # 1: the same ticks as bars through backtrader's own engine
    limit_trades: int  # 2: trades matched against resting limits, in-process benchmark
    book_updates: int  # 3: book updates per symbol, 10 levels each
    book_trades: int  # 3: trades per symbol
    book_levels: int  # 3: levels per side of each book
    bridge_ticks: int  # 4: ticks through ChannelBridge + SMA(20)
    queue_events: int  # 5: events through a LiveEventQueue
    zip_rows: int  # 6: rows of the Binance zip
    memory_rows: tuple[int, int]  # 7: a small and a large input, each run in a subprocess
    latency_seconds: float  # live: seconds of sending at each rate
    rounds: int  # rounds per benchmark (the median is reported)


SIZES = {
    "quick": Sizes("quick", ticks=100_000, backtrader_ticks=20_000, limit_trades=200_000,
                   book_updates=10_000, book_trades=20_000, book_levels=1_000, bridge_ticks=50_000,
                   queue_events=100_000, zip_rows=200_000, memory_rows=(100_000, 400_000),
                   latency_seconds=1.0, rounds=1),
    "full": Sizes("full", ticks=2_000_000, backtrader_ticks=100_000, limit_trades=5_000_000,
                  book_updates=250_000, book_trades=500_000, book_levels=1_000,
                  bridge_ticks=1_000_000, queue_events=1_000_000, zip_rows=5_000_000,
                  memory_rows=(1_000_000, 17_000_000), latency_seconds=10.0, rounds=3),
}


def sizes_from_env(default: str = "quick") -> Sizes:
    """The sizes named by ``BTCHANNELS_BENCH_SIZE`` (``quick`` or ``full``)."""
    name = os.environ.get(SIZE_ENV, default).strip().lower() or default
    if name not in SIZES:
        raise ValueError(f"{SIZE_ENV} must be one of {', '.join(SIZES)}, got {name!r}")
    return SIZES[name]


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Measured:
    """One run of a scenario: ``count`` things in ``seconds``, plus figures to check."""

    count: int
    seconds: float
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.inf


def median_rate(runs: list[Measured]) -> float:
    return statistics.median(run.rate for run in runs)


def repeat(scenario: Callable[[], Measured], rounds: int) -> list[Measured]:
    return [scenario() for _ in range(rounds)]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` of a child started by
    ``subprocess`` can report the *parent's* peak (the pre-exec high-water mark is kept).
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


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
    cents = np.round(chunk.price * 100).astype(np.int64)
    lots = np.round(chunk.volume * 100_000).astype(np.int64)
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


# --- strategies -----------------------------------------------------------------------------


class TickArithmetic(bt.Strategy):
    """Target 1: a little arithmetic per trade (count, notional, an EWMA of the price)."""

    def __init__(self) -> None:
        self.count = 0
        self.notional = 0.0
        self.ewma = 0.0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.count += 1
        self.notional += tick.price * tick.volume
        self.ewma += 0.01 * (tick.price - self.ewma)


class EmptyTick(bt.Strategy):
    """Cost table: a ``notify_tick`` that does nothing."""

    def __init__(self) -> None:
        self.count = 0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        pass

    def stop(self) -> None:
        self.count = len(self.channels[("tick", SYMBOLS[0])])


class NextPerTrade(bt.Strategy):
    """Cost table: no tick callback, the arithmetic in ``next()`` (called after every trade)."""

    def __init__(self) -> None:
        self.trades = self.channels[("tick", SYMBOLS[0])]
        self.count = 0
        self.notional = 0.0

    def next(self) -> None:
        tick = self.trades.latest
        self.count += 1
        self.notional += tick.price * tick.volume


class BarArithmetic(bt.Strategy):
    """Target 1 in backtrader's engine: each tick is a bar; ``next`` does the same arithmetic."""

    def __init__(self) -> None:
        self.count = 0
        self.notional = 0.0
        self.ewma = 0.0

    def next(self) -> None:
        price = self.data.close[0]
        self.count += 1
        self.notional += price * self.data.volume[0]
        self.ewma += 0.01 * (price - self.ewma)


class RestingLimits(bt.Strategy):
    """Target 2: on each 1-minute bar, re-quote ``orders`` resting limits around the close.

    No tick callback. ``next`` also runs after every trade once the bars warmed up (the
    documented tick-mode rule), so it returns at once unless a new bar closed.
    """

    params = (("orders", 2), ("step", 5.0), ("size", 0.01))

    def __init__(self) -> None:
        self.bars = 0
        self.completed = 0
        self.working: list[bt.Order] = []

    def next(self) -> None:
        if len(self.data) == self.bars:
            return  # a trade step, not a bar close
        self.bars = len(self.data)
        self.requote()

    def requote(self) -> None:
        for order in self.working:
            if order.alive():
                self.cancel(order)
        close, step, size = self.data.close[0], self.p.step, self.p.size
        pairs = self.p.orders // 2
        self.working = [self.buy(exectype=bt.Order.Limit, price=close - k * step, size=size)
                        for k in range(1, pairs + 1)]
        self.working += [self.sell(exectype=bt.Order.Limit, price=close + k * step, size=size)
                         for k in range(1, pairs + 1)]

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.completed += 1


class BookReader(bt.Strategy):
    """Target 3: reads best bid/ask and depth(10) of each book update; target 1's sum per trade."""

    params = (("depth", 10),)

    def __init__(self) -> None:
        self.ticks = 0
        self.books = 0
        self.notional = 0.0
        self.spread_sum = 0.0
        self.depth_size = 0.0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.ticks += 1
        self.notional += tick.price * tick.volume

    def notify_orderbook(self, book: bc.OrderBook) -> None:
        self.books += 1
        bid, ask = book.best_bid, book.best_ask
        self.spread_sum += ask.price - bid.price
        if self.p.depth:
            bids, asks = book.depth(self.p.depth)
            self.depth_size = bids[-1].size + asks[-1].size


class BridgeSMA(bt.Strategy):
    """Target 4: SMA(20) over a ChannelBridge of the trade price, read on every trade."""

    def __init__(self) -> None:
        self.bridge = bc.ChannelBridge(channel=self.channels[("tick", SYMBOLS[0])], field="price")
        self.sma = bt.indicators.SMA(self.bridge, period=20)
        self.count = 0
        self.last_sma = math.nan

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.count += 1
        self.last_sma = self.sma[0]


# --- scenarios ------------------------------------------------------------------------------


def _tick_cerebro(strategy: type[bt.Strategy], **strategy_kw: Any) -> bt.Cerebro:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.addstrategy(strategy, **strategy_kw)
    return cerebro


def scenario_ticks(trades: Path, strategy: type[bt.Strategy] = TickArithmetic, **run_kw: Any) -> Measured:
    """Target 1: trades from Parquet through ``notify_tick``, Cerebro set-up included."""
    started = time.perf_counter()
    cerebro = _tick_cerebro(strategy)
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    (result,) = cerebro.run(mode=bt.RunMode.TICK, **run_kw)
    seconds = time.perf_counter() - started
    return Measured(result.count, seconds, {"events": cerebro.tick_result.events,
                                            "notional": getattr(result, "notional", math.nan)})


def backtrader_frame(trades: Path, n: int) -> Any:
    """The first ``n`` trades as a pandas OHLCV frame, one bar per trade."""
    import pandas as pd

    chunk = next(open_trades(trades, chunk_rows=n).chunks())
    index = pd.to_datetime(chunk.ts_ns[:n], unit="ns")
    price = chunk.price[:n]
    return pd.DataFrame({"open": price, "high": price, "low": price, "close": price,
                         "volume": chunk.volume[:n]}, index=index)


def scenario_backtrader(frame: Any) -> Measured:
    """Target 1's comparison: the ticks as bars through backtrader's own engine (PandasData)."""
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(BarArithmetic)
    (strategy,) = cerebro.run()
    seconds = time.perf_counter() - started
    return Measured(strategy.count, seconds, {"notional": strategy.notional})


def _bar_feed(bars: Path) -> bt.feeds.GenericCSVData:
    return bt.feeds.GenericCSVData(
        dataname=str(bars), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
    )


def scenario_limits(trades: Path, bars: Path, orders: int = 2, **run_kw: Any) -> Measured:
    """Target 2: 1-minute bars + trades; ``orders`` resting limits matched on every trade."""
    started = time.perf_counter()
    cerebro = _tick_cerebro(RestingLimits, orders=orders)
    cerebro.adddata(_bar_feed(bars), name=SYMBOLS[0])
    channel = cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, **run_kw)
    seconds = time.perf_counter() - started
    result = cerebro.tick_result
    return Measured(len(channel), seconds, {"events": result.events, "bars": strategy.bars,
                                            "completed": strategy.completed, "fills": len(result.fills),
                                            "fill_prices": [fill.price for fill in result.fills]})


def scenario_books(inputs: Inputs, sizes: Sizes, trades: bool = True, depth: int = 10) -> Measured:
    """Target 3: two symbols merged, book deltas (and trades); counts events and level updates."""
    started = time.perf_counter()
    cerebro = _tick_cerebro(BookReader, depth=depth)
    for index, symbol in enumerate(SYMBOLS):
        cerebro.add_channel(bc.OrderBookChannel, symbol=symbol,
                            dataname=inputs.book(index, sizes.book_updates, sizes.book_levels))
        if trades:
            cerebro.add_channel(bc.TickChannel, symbol=symbol,
                                dataname=inputs.book_trades(index, sizes.book_trades, sizes.book_updates))
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    seconds = time.perf_counter() - started
    deltas = strategy.books - len(SYMBOLS)  # the first update of each book is its snapshot
    levels = 10 * deltas + len(SYMBOLS) * 2 * sizes.book_levels
    books = {symbol: channels_of(cerebro)[("orderbook", symbol)].book for symbol in SYMBOLS}
    tops = {symbol: (book.best_bid.price, book.best_ask.price, len(book)) for symbol, book in books.items()}
    return Measured(cerebro.tick_result.events, seconds,
                    {"books": strategy.books, "ticks": strategy.ticks, "levels": levels,
                     "levels_per_second": levels / seconds, "tops": tops})


def scenario_bridge(trades: Path) -> Measured:
    """Target 4: ChannelBridge + SMA(20) on every trade."""
    started = time.perf_counter()
    cerebro = _tick_cerebro(BridgeSMA)
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    seconds = time.perf_counter() - started
    return Measured(strategy.count, seconds, {"bridge_len": len(strategy.bridge),
                                              "last_sma": strategy.last_sma})


def queue_events(n: int) -> list[bc.Event]:
    """``n`` tick events one microsecond apart, built before any timing."""
    ticks = (bc.TickEvent(1_735_689_600.0 + i * 1e-6, 94_000.0, 0.01, "buy", i, SYMBOLS[0]) for i in range(n))
    return [bc.Event(tick.timestamp, bc.EventPriority.TICK, "tick", SYMBOLS[0], data=tick) for tick in ticks]


def scenario_queue_one_thread(events: list[bc.Event], block: int = 1_000, batch: bool = False) -> Measured:
    """Target 5: push ``block`` events, then pop them (one by one, or with one ``pop_batch``),
    on one thread; counts push+pop pairs."""
    queue = bc.LiveEventQueue(max_queue_size=block)
    push, pop = queue.push, queue.pop
    popped = 0
    started = time.perf_counter()
    for lo in range(0, len(events), block):
        part = events[lo:lo + block]
        for event in part:
            push(event)
        if batch:
            popped += len(queue.pop_batch(block, timeout=0))
            continue
        for _ in part:
            if pop(timeout=0) is not None:
                popped += 1
    seconds = time.perf_counter() - started
    return Measured(popped, seconds, {"dropped": queue.stats.dropped})


def scenario_queue_threads(events: list[bc.Event], batch: int = 1_000) -> Measured:
    """Target 5: a producer thread pushes, the consumer (this thread) drains with pop_batch."""
    queue = bc.LiveEventQueue(max_queue_size=len(events))
    producer = threading.Thread(target=lambda: [queue.push(event) for event in events], daemon=True)
    ordered, last, popped = True, -1, 0
    started = time.perf_counter()
    producer.start()
    while popped < len(events):
        got = queue.pop_batch(batch, timeout=5.0)
        if not got:
            break
        popped += len(got)
        ordered = ordered and got[0].sequence > last and all(
            a.sequence < b.sequence for a, b in zip(got, got[1:]))
        last = got[-1].sequence
    seconds = time.perf_counter() - started
    producer.join()
    return Measured(popped, seconds, {"ordered": ordered, "high_water": queue.stats.high_water})


def scenario_load_zip(path: Path) -> Measured:
    """Target 6: a Binance trades zip read into TradeChunks."""
    started = time.perf_counter()
    rows, volume, last_id = 0, 0.0, None
    for chunk in open_trades(path).chunks():
        rows += len(chunk)
        volume += float(chunk.volume.sum())
        last_id = int(chunk.trade_id[-1])
    seconds = time.perf_counter() - started
    return Measured(rows, seconds, {"volume": volume, "last_id": last_id})


def scenario_convert(src: Path, dst: Path) -> Measured:
    """Target 6: ``convert`` (what ``btchannels convert`` runs) to Parquet."""
    dst.unlink(missing_ok=True)
    started = time.perf_counter()
    rows = convert(src, dst)
    seconds = time.perf_counter() - started
    return Measured(rows, seconds, {"written": sum(len(c) for c in open_trades(dst).chunks())})


MEMORY_CHILD = """
import json, sys, time
from pathlib import Path
from backtrader_channels import bench
baseline = bench.peak_rss_mb()
measured = bench.scenario_limits(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"count": measured.count, "seconds": measured.seconds, "checks": measured.checks,
                  "baseline_rss_mb": baseline, "peak_rss_mb": bench.peak_rss_mb()}))
"""


def scenario_memory(trades: Path, bars: Path) -> Measured:
    """Target 7: target 2's run in a fresh interpreter that reports its own peak RSS."""
    out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(trades), str(bars)],
                         check=True, capture_output=True, text=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    checks = dict(report["checks"], peak_rss_mb=report["peak_rss_mb"],
                  baseline_rss_mb=report["baseline_rss_mb"])
    return Measured(report["count"], report["seconds"], checks)


# --- live latency ---------------------------------------------------------------------------


class LatencyProbe(bt.Strategy):
    """Records ``time.time()`` per trade id in ``notify_tick``; stops after ``count`` trades."""

    params = (("count", 1_000),)

    def __init__(self) -> None:
        self.received: dict[Any, float] = {}

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.received[tick.trade_id] = time.time()
        if len(self.received) >= self.p.count:
            self.env.runstop()


def _pace(server: Any, symbol: str, count: int, rate: float) -> None:
    """Send ``count`` trades at ``rate`` per second: every millisecond, the ones now due."""
    server.wait_subscriptions(server.trade_stream(symbol), 1, timeout=30.0)
    started, sent = time.perf_counter(), 0
    while sent < count:
        due = min(count, int((time.perf_counter() - started) * rate) + 1) - sent
        if due > 0:
            server.send_trades(symbol, due, timeout=5.0)
            sent += due
        time.sleep(0.001)


def _serve_trades(conn: Any, symbol: str, count: int, rate: float) -> None:
    """In a child process: a FakeBinance that sends ``count`` trades at ``rate``, then its send times."""
    from backtrader_channels.testing import FakeBinance

    with FakeBinance([symbol], price=94_000.0) as server:
        conn.send(server.ccxt_config())
        _pace(server, symbol, count, rate)
        conn.recv()  # the client has what it wanted
        conn.send(dict(server.sent_at))


@contextlib.contextmanager
def _server(symbol: str, count: int, rate: float, own_process: bool) -> Iterator[tuple[dict, Callable[[], dict]]]:
    """A sending FakeBinance: ``(ccxt config, sent_at())``, in this process or its own."""
    if own_process:
        import multiprocessing

        here, there = multiprocessing.get_context("spawn").Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=_serve_trades, args=(there, symbol, count, rate), daemon=True)
        child.start()
        try:
            yield here.recv(), lambda: (here.send("done"), here.recv())[1]
        finally:
            child.join(10.0)
            if child.is_alive():
                child.kill()
        return
    from backtrader_channels.testing import FakeBinance

    with FakeBinance([symbol], price=94_000.0) as server:
        sender = threading.Thread(target=_pace, args=(server, symbol, count, rate), daemon=True)
        sender.start()
        yield server.ccxt_config(), lambda: (sender.join(10.0), dict(server.sent_at))[1]


def scenario_latency(rate: float, seconds: float, server_process: bool = False) -> Measured:
    """Live: FakeBinance on loopback -> ccxt.pro -> queue -> engine -> ``notify_tick``.

    Latency is each trade's ``time.time()`` in the strategy minus the server's send time.
    The server runs in this process (sharing its GIL, as in the test suite) or, with
    ``server_process``, in its own, as a real exchange would.
    """
    from backtrader_channels.feeds import CCXTLiveTickFeed

    count = max(1, int(rate * seconds))
    symbol = SYMBOLS[0]
    with _server(symbol, count, rate, server_process) as (config, sent_times):
        feed = CCXTLiveTickFeed("binance", symbol, bc.LiveEventQueue(), config=config)
        cerebro = _tick_cerebro(LatencyProbe, count=count)
        cerebro.add_live_feed(feed)
        started = time.perf_counter()
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=seconds + 60.0)
        elapsed = time.perf_counter() - started
        sent_at = sent_times()
    delays = np.array([at - sent_at[tid] for tid, at in strategy.received.items() if tid in sent_at]) * 1e3
    checks = {"sent": len(sent_at), "received": len(strategy.received),
              "p50_ms": float(np.percentile(delays, 50)) if len(delays) else math.nan,
              "p99_ms": float(np.percentile(delays, 99)) if len(delays) else math.nan,
              "max_ms": float(delays.max()) if len(delays) else math.nan}
    return Measured(len(strategy.received), elapsed, checks)


# --- what costs what -----------------------------------------------------------------------


def _cost_limits(orders: int, **run_kw: Any) -> Callable[[Inputs, Sizes], Measured]:
    def run(inputs: Inputs, sizes: Sizes) -> Measured:
        n = sizes.ticks
        return scenario_limits(inputs.trades(n), inputs.bars(n), orders=orders, **run_kw)
    return run


def _cost_ticks(strategy: type[bt.Strategy], **run_kw: Any) -> Callable[[Inputs, Sizes], Measured]:
    return lambda inputs, sizes: scenario_ticks(inputs.trades(sizes.ticks), strategy, **run_kw)


def _gc_tuned(run: Callable[[Inputs, Sizes], Measured]) -> Callable[[Inputs, Sizes], Measured]:
    """``run`` with the user-side GC workaround: ``gc.freeze()`` and a gen-0 threshold of 100k."""
    def tuned(inputs: Inputs, sizes: Sizes) -> Measured:
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(100_000, *thresholds[1:])
        try:
            return run(inputs, sizes)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
    return tuned


def _cost_books(depth: int) -> Callable[[Inputs, Sizes], Measured]:
    return lambda inputs, sizes: scenario_books(inputs, sizes, trades=False, depth=depth)


COSTS: dict[str, tuple[str, Callable[[Inputs, Sizes], Measured]]] = {
    "bars, no order (bulk)": ("trades/s", _cost_limits(0)),
    "bars + 2 resting limits (bulk)": ("trades/s", _cost_limits(2)),
    "bars + 10 resting limits (bulk)": ("trades/s", _cost_limits(10)),
    "bars + 50 resting limits (bulk)": ("trades/s", _cost_limits(50)),
    "bars + 2 resting limits, equity_interval=60": ("trades/s", _cost_limits(2, equity_interval=60.0)),
    "empty notify_tick": ("events/s", _cost_ticks(EmptyTick)),
    "notify_tick with arithmetic (target 1)": ("events/s", _cost_ticks(TickArithmetic)),
    "notify_tick, equity_interval=60": ("events/s", _cost_ticks(TickArithmetic, equity_interval=60.0)),
    "notify_tick, gc.freeze() + gc threshold 100k": ("events/s", _gc_tuned(_cost_ticks(TickArithmetic))),
    "next() after every trade, no tick callback": ("events/s", _cost_ticks(NextPerTrade)),
    "ChannelBridge + SMA(20) (target 4)": ("events/s",
                                          lambda inputs, sizes: scenario_bridge(inputs.trades(sizes.ticks))),
    "2 books, best bid/ask read per update": ("updates/s", _cost_books(0)),
    "2 books, best bid/ask + depth(10) per update": ("updates/s", _cost_books(10)),
}


def bench_cost(name: str, inputs: Inputs, sizes: Sizes) -> list[Row]:
    """One row of the cost table: ``COSTS[name]``, one round."""
    unit, run = COSTS[name]
    return [_rate_row("cost", name, [run(inputs, sizes)], None, unit=unit)]


def bench_costs(inputs: Inputs, sizes: Sizes) -> list[Row]:
    """The same inputs with one thing changed at a time (no goals: for choosing); one round each."""
    return [row for name in COSTS for row in bench_cost(name, inputs, sizes)]


# --- the table ------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the bench table: a figure against its goal."""

    target: str
    what: str
    figure: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None or math.isnan(self.figure):
            return None
        return self.figure >= self.goal if self.higher_is_better else self.figure <= self.goal


def _rate_row(target: str, what: str, runs: list[Measured], goal: float | None, note: str = "",
              unit: str = "/s") -> Row:
    return Row(target, what, median_rate(runs), unit, goal, note=note)


def bench_target1(inputs: Inputs, sizes: Sizes) -> list[Row]:
    trades = inputs.trades(sizes.ticks)
    ours = repeat(lambda: scenario_ticks(trades), sizes.rounds)
    frame = backtrader_frame(trades, sizes.backtrader_ticks)
    theirs = repeat(lambda: scenario_backtrader(frame), sizes.rounds)
    ratio = median_rate(ours) / median_rate(theirs)
    return [
        _rate_row("1", f"notify_tick, {sizes.ticks:,} trades from Parquet", ours, 1e6, unit="events/s"),
        _rate_row("1", f"backtrader itself, {sizes.backtrader_ticks:,} ticks as bars (PandasData)",
                  theirs, None, unit="events/s"),
        Row("1", "ratio ours / backtrader", ratio, "x", 100.0),
    ]


def bench_target2(inputs: Inputs, sizes: Sizes) -> list[Row]:
    n = sizes.limit_trades
    trades, bars = inputs.trades(n), inputs.bars(n)
    runs = repeat(lambda: scenario_limits(trades, bars), sizes.rounds)
    fills = runs[-1].checks["fills"]
    return [_rate_row("2", f"bars + 2 resting limits, {n:,} trades ({fills:,} fills)", runs, 3e6,
                      unit="trades/s")]


def bench_target3(inputs: Inputs, sizes: Sizes) -> list[Row]:
    books = repeat(lambda: scenario_books(inputs, sizes, trades=False), sizes.rounds)
    merged = repeat(lambda: scenario_books(inputs, sizes), sizes.rounds)
    levels = statistics.median(run.checks["levels_per_second"] for run in books)
    per_symbol = f"{sizes.book_updates:,} updates x 10 levels"
    return [
        Row("3", f"book level updates, 2 books merged ({per_symbol} each)", levels, "levels/s", 5e5),
        _rate_row("3", f"merged events, 2 symbols (+{sizes.book_trades:,} trades each)", merged, 5e5,
                  unit="events/s"),
    ]


def bench_target4(inputs: Inputs, sizes: Sizes) -> list[Row]:
    trades = inputs.trades(sizes.bridge_ticks)
    runs = repeat(lambda: scenario_bridge(trades), sizes.rounds)
    return [_rate_row("4", f"ChannelBridge + SMA(20), {sizes.bridge_ticks:,} ticks", runs, 2e5,
                      unit="ticks/s")]


def bench_target5(sizes: Sizes) -> list[Row]:
    events = queue_events(sizes.queue_events)
    one = repeat(lambda: scenario_queue_one_thread(events), sizes.rounds)
    batched = repeat(lambda: scenario_queue_one_thread(events, batch=True), sizes.rounds)
    two = repeat(lambda: scenario_queue_threads(events), sizes.rounds)
    return [
        _rate_row("5", "LiveEventQueue push + pop(), one thread", one, 1e6, unit="pairs/s"),
        _rate_row("5", "LiveEventQueue push + pop_batch(1000), one thread", batched, 1e6, unit="pairs/s"),
        _rate_row("5", "LiveEventQueue producer -> consumer thread (pop_batch)", two, 3e5, unit="events/s"),
    ]


def bench_target6(inputs: Inputs, sizes: Sizes) -> list[Row]:
    n = sizes.zip_rows
    archive = inputs.binance_zip(n)
    load = repeat(lambda: scenario_load_zip(archive), sizes.rounds)
    from_zip = scenario_convert(archive, inputs.root / "converted-zip.parquet")
    from_csv = scenario_convert(inputs.trades_csv(n), inputs.root / "converted-csv.parquet")
    return [
        _rate_row("6", f"Binance zip -> TradeChunks, {n:,} rows", load, 5e6, unit="rows/s"),
        _rate_row("6", "convert Binance zip -> Parquet", [from_zip], None, unit="rows/s"),
        _rate_row("6", "convert project CSV -> Parquet", [from_csv], None, unit="rows/s"),
    ]


def bench_target7(inputs: Inputs, sizes: Sizes) -> list[Row]:
    rows = []
    for n in sizes.memory_rows:
        run = scenario_memory(inputs.trades(n), inputs.bars(n))
        note = f"{run.seconds:.1f} s, {run.rate:,.0f} trades/s, imports {run.checks['baseline_rss_mb']:.0f} MB"
        rows.append(Row("7", f"peak RSS, target 2's run on {n:,} trades", run.checks["peak_rss_mb"], "MB",
                        200.0, higher_is_better=False, note=note))
    return rows


def bench_latency(sizes: Sizes) -> list[Row]:
    rows = []
    for server_process in (False, True):
        where = "server in its own process" if server_process else "server in-process"
        for rate in (1_000, 5_000):
            checks = scenario_latency(rate, sizes.latency_seconds, server_process).checks
            note = (f"{checks['received']:,}/{checks['sent']:,} trades, p50 {checks['p50_ms']:.1f} ms, "
                    f"max {checks['max_ms']:.1f} ms")
            goal = 20.0 if rate == 5_000 else None
            rows.append(Row("live", f"p99 send -> notify_tick, {rate:,} trades/s, {where}", checks["p99_ms"],
                            "ms", goal, higher_is_better=False, note=note))
    return rows


TARGETS: dict[str, Callable[[Inputs, Sizes], list[Row]]] = {
    "1": bench_target1,
    "2": bench_target2,
    "3": bench_target3,
    "4": bench_target4,
    "5": lambda inputs, sizes: bench_target5(sizes),
    "6": bench_target6,
    "7": bench_target7,
    "live": lambda inputs, sizes: bench_latency(sizes),
    "costs": bench_costs,
}


COST_JOB = "cost:"


def job_names(only: list[str] | None = None) -> list[str]:
    """The jobs of the chosen targets: one per target, and one per row of the cost table."""
    names: list[str] = []
    for name in TARGETS:
        if only and name not in only:
            continue
        names += [COST_JOB + cost for cost in COSTS] if name == "costs" else [name]
    return names


def job_rows(job: str, inputs: Inputs, sizes: Sizes) -> list[Row]:
    """Run one job in this process."""
    if job.startswith(COST_JOB):
        return bench_cost(job[len(COST_JOB):], inputs, sizes)
    return TARGETS[job](inputs, sizes)


JOB_CHILD = """
import dataclasses, json, sys
from backtrader_channels import bench
job, size, root = sys.argv[1:4]
rows = bench.job_rows(job, bench.Inputs(root), bench.SIZES[size])
print(json.dumps([dataclasses.asdict(row) for row in rows]))
"""


def isolated_job_rows(job: str, size: str, root: str | os.PathLike) -> list[Row]:
    """Run one job in a fresh interpreter, as a user's script would run (own heap, own GC)."""
    done = subprocess.run([sys.executable, "-c", JOB_CHILD, job, size, str(root)],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"benchmark job {job!r} failed:\n{done.stderr[-4000:]}")
    return [Row(**row) for row in json.loads(done.stdout.strip().splitlines()[-1])]


def run_bench(size: str = "quick", only: list[str] | None = None, root: str | os.PathLike | None = None,
              progress: Callable[[str], None] | None = None, isolate: bool = True) -> list[Row]:
    """Run the benchmarks of ``size`` ('quick' or 'full'), every target or ``only`` some.

    Each job runs in a fresh interpreter unless ``isolate`` is False (then all in this
    process, whose heap grows from job to job). Inputs are written under ``root`` (reused
    across runs) or a temporary directory.
    """
    sizes = SIZES[size]
    with contextlib.ExitStack() as stack:
        if root is None:
            root = stack.enter_context(tempfile.TemporaryDirectory(prefix="btchannels-bench-"))
        rows: list[Row] = []
        for job in job_names(only):
            if progress is not None:
                progress(f"{job} ...")
            rows += isolated_job_rows(job, size, root) if isolate else job_rows(job, Inputs(root), sizes)
        return rows


def machine() -> str:
    """'2 cores, <CPU model>, Python 3.x.y'."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def _figure(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def format_rows(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| target | what | figure | goal | met | note |", "|---|---|---:|---:|:---:|---|"]
    for row in rows:
        sign = ">=" if row.higher_is_better else "<="
        goal = "" if row.goal is None else f"{sign} {_figure(row.goal)}"
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        lines.append(f"| {row.target} | {row.what} | {_figure(row.figure)} {row.unit} | {goal} | {met} | {row.note} |")
    return "\n".join(lines)


def print_rows(rows: list[Row], size: str, file: Any = None) -> None:
    print(f"btchannels bench ({size}) on {machine()}\n", file=file or sys.stdout)
    print(format_rows(rows), file=file or sys.stdout)


def main_bench(argv: list[str] | None = None) -> int:
    """``btchannels bench [--full] [--only 1,2] [--dir DIR] [--in-process]``: run, print the table."""
    parser = argparse.ArgumentParser(prog="btchannels bench", description="performance targets vs goals")
    parser.add_argument("--full", action="store_true", help="the issue's sizes (minutes) instead of quick ones")
    parser.add_argument("--only", help="comma-separated targets: " + ",".join(TARGETS))
    parser.add_argument("--dir", type=Path, help="keep the generated inputs here and reuse them")
    parser.add_argument("--in-process", action="store_true",
                        help="run every job in this process (default: each in a fresh interpreter)")
    args = parser.parse_args(argv)
    size = "full" if args.full else "quick"
    only = args.only.split(",") if args.only else None
    unknown = sorted(set(only or ()) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    rows = run_bench(size, only, args.dir, progress=lambda text: print(text, file=sys.stderr, flush=True),
                     isolate=not args.in_process)
    print_rows(rows, size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_bench())
