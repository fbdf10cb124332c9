"""Live latency on loopback: the fake Binance server to ``notify_tick``, real ccxt.pro."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import backtrader as bt
import numpy as np

import backtrader_channels as bc

from .measure import SYMBOLS, Measured
from .scenarios import tick_cerebro

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
            def sent_at() -> dict:
                here.send("done")
                return here.recv()

            yield here.recv(), sent_at
        finally:
            child.join(10.0)
            if child.is_alive():
                child.kill()
        return
    from backtrader_channels.testing import FakeBinance

    with FakeBinance([symbol], price=94_000.0) as server:
        sender = threading.Thread(target=_pace, args=(server, symbol, count, rate), daemon=True)
        sender.start()
        def paced_sent_at() -> dict:
            sender.join(10.0)
            return dict(server.sent_at)

        yield server.ccxt_config(), paced_sent_at


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
        cerebro = tick_cerebro(LatencyProbe, count=count)
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
