"""The measured workloads: each runs once and returns a ``Measured``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import backtrader as bt

import backtrader_channels as bc
from backtrader_channels.cerebro import channels_of
from backtrader_channels.extras import missing_extra
from backtrader_channels.sources import (
    convert,
    open_trades,
)

from .inputs import Inputs
from .measure import SYMBOLS, Measured, Sizes
from .strategies import (
    BarArithmetic,
    BookReader,
    BridgeSMA,
    EmaFlip,
    RestingLimits,
    TickArithmetic,
)

# --- scenarios ------------------------------------------------------------------------------


def tick_cerebro(strategy: type[bt.Strategy], **strategy_kw: Any) -> bt.Cerebro:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.addstrategy(strategy, **strategy_kw)
    return cerebro


def scenario_ticks(trades: Path, strategy: type[bt.Strategy] = TickArithmetic, **run_kw: Any) -> Measured:
    """Target 1: trades from Parquet through ``notify_tick``, Cerebro set-up included."""
    started = time.perf_counter()
    cerebro = tick_cerebro(strategy)
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    (result,) = cerebro.run(mode=bt.RunMode.TICK, **run_kw)
    seconds = time.perf_counter() - started
    return Measured(result.count, seconds, {"events": cerebro.tick_result.events,
                                            "notional": getattr(result, "notional", math.nan)})


def backtrader_frame(trades: Path, n: int) -> Any:
    """The first ``n`` trades as a pandas OHLCV frame, one bar per trade."""
    try:
        import pandas as pd
    except ImportError as error:
        raise missing_extra("bench", "the comparison with backtrader's PandasData", error) from error

    chunk = next(open_trades(trades, chunk_rows=n).chunks())
    index = pd.to_datetime(chunk.ts_ns[:n], unit="ns")
    price = chunk.price[:n]
    return pd.DataFrame({"open": price, "high": price, "low": price, "close": price,
                         "volume": chunk.volume[:n]}, index=index)


def scenario_backtrader(frame: Any, strategy: type[bt.Strategy] = BarArithmetic) -> Measured:
    """Target 1's comparison: the ticks as bars through backtrader's own engine (PandasData);
    ``strategy`` (a ``BarQuoter``) may place orders."""
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.set_shortcash(False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(strategy)
    (run,) = cerebro.run()
    seconds = time.perf_counter() - started
    return Measured(run.count, seconds, {"notional": getattr(run, "notional", math.nan),
                                         "orders": getattr(run, "orders", 0)})


def scenario_orders(trades: Path) -> Measured:
    """Order-heavy: ``EmaFlip`` sends a market order about every 15 trades (one per crossing)."""
    started = time.perf_counter()
    cerebro = tick_cerebro(EmaFlip)
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    seconds = time.perf_counter() - started
    result = cerebro.tick_result
    return Measured(result.events, seconds, {
        "orders": strategy.orders, "completed": strategy.completed, "fills": len(result.fills),
        "fill_prices": [fill.price for fill in result.fills], "cash": cerebro.broker.getcash(),
        "trades_closed": result.trades_closed})


def _bar_feed(bars: Path) -> bt.feeds.GenericCSVData:
    return bt.feeds.GenericCSVData(
        dataname=str(bars), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1,
    )


def scenario_limits(trades: Path, bars: Path, orders: int = 2, **run_kw: Any) -> Measured:
    """Target 2: 1-minute bars + trades; ``orders`` resting limits matched on every trade."""
    started = time.perf_counter()
    cerebro = tick_cerebro(RestingLimits, orders=orders)
    cerebro.broker.set_shortcash(False)  # it quotes both sides, so its sells may go short: margin mode
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
    cerebro = tick_cerebro(BookReader, depth=depth)
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
    cerebro = tick_cerebro(BridgeSMA)
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
        if chunk.trade_id is not None:  # Binance's files always have ids
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


FRESH_CHILD = """
import json, sys
from pathlib import Path
from backtrader_channels.bench.measure import peak_rss_mb
from backtrader_channels.bench.scenarios import FRESH_SCENARIOS
baseline = peak_rss_mb()
measured = FRESH_SCENARIOS[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
print(json.dumps({"count": measured.count, "seconds": measured.seconds, "checks": measured.checks,
                  "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}))
"""
FRESH_SCENARIOS = {
    "ticks": lambda trades, bars: scenario_ticks(trades),
    "limits": scenario_limits,
}


def scenario_fresh(which: str, trades: Path, bars: Path) -> Measured:
    """``FRESH_SCENARIOS[which]`` (target 1's ``ticks`` or target 2's ``limits``) in a fresh
    interpreter that reports its own peak RSS (``peak_rss_mb``, and ``baseline_rss_mb``
    after the imports)."""
    out = subprocess.run([sys.executable, "-c", FRESH_CHILD, which, str(trades), str(bars)],
                         check=True, capture_output=True, text=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    checks = dict(report["checks"], peak_rss_mb=report["peak_rss_mb"],
                  baseline_rss_mb=report["baseline_rss_mb"])
    return Measured(report["count"], report["seconds"], checks)


def scenario_memory(trades: Path, bars: Path) -> Measured:
    """Target 7: target 2's run in a fresh interpreter that reports its own peak RSS."""
    return scenario_fresh("limits", trades, bars)


def scenario_order_flow(trades: Path, strategy: type[bt.Strategy], **strategy_kw: Any) -> Measured:
    """Orders from ``notify_tick`` (``Quoter``, ``FlipEvery``, ``FarLimits``): events, and orders
    placed and cancelled, per second of the whole run, Cerebro set-up included."""
    started = time.perf_counter()
    cerebro = tick_cerebro(strategy, **strategy_kw)
    cerebro.broker.set_shortcash(False)  # quotes on both sides may go short: margin mode
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    (strategy_run,) = cerebro.run(mode=bt.RunMode.TICK)
    seconds = time.perf_counter() - started
    result = cerebro.tick_result
    return Measured(result.events, seconds, {"orders": getattr(strategy_run, "orders", 0),
                                             "fills": len(result.fills), "cash": cerebro.broker.getcash()})
