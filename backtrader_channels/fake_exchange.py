"""``btchannels fake-exchange``: a local fake Binance streaming generated trades and a book.

It serves :class:`~backtrader_channels.testing.FakeBinance` on 127.0.0.1 until Ctrl-C (or
SIGTERM), so ``btchannels live`` (or a script's feeds) can be tried without the network:
while a client is subscribed, the symbol's trades and diff-depth updates flow at the
chosen rates; with nobody subscribed, nothing is generated.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TextIO

from .testing import FakeBinance

__all__ = ["serve_fake_exchange"]

_WAIT = 0.5  # seconds a stream waits for a subscriber before checking whether to stop


def _stream(stop: threading.Event, send_batch: Callable[[], object]) -> threading.Thread:
    """Call ``send_batch`` over and over until ``stop``; a batch without subscriber is retried."""

    def loop() -> None:
        while not stop.is_set():
            try:
                send_batch()
            except TimeoutError:  # nobody subscribed (yet, or any more)
                continue

    thread = threading.Thread(target=loop, name="fake-exchange-stream", daemon=True)
    thread.start()
    return thread


def live_command(symbol: str, http_url: str, ws_url: str) -> str:
    """The ``btchannels live`` command line that runs a strategy file against the server."""
    return (f"btchannels live my_strategy.py --symbol {symbol} --orderbook "
            f"--rest-url {http_url} --ws-url {ws_url}")


def serve_fake_exchange(
    symbol: str = "BTC/USDT",
    *,
    port: int = 8080,
    trade_rate: float = 20.0,
    book_rate: float = 10.0,
    price: float = 50_000.0,
    seed: int = 1,
    out: TextIO,
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C, SIGTERM or ``stop`` is set; print where and how to connect first."""
    if trade_rate <= 0 or book_rate < 0:
        raise ValueError("trade_rate must be positive and book_rate at least 0")
    stop = stop or threading.Event()
    try:
        server = FakeBinance([symbol], price=price, port=port, seed=seed).start()
    except OSError as error:
        raise SystemExit(f"btchannels fake-exchange: cannot listen on 127.0.0.1 port {port} "
                         f"({error.strerror}); choose another with --port, or --port 0 for any free one") from None
    trade_batch, book_batch = max(1, round(trade_rate)), max(1, round(book_rate))
    streams = [_stream(stop, lambda: server.send_trades(symbol, trade_batch, rate=trade_rate, timeout=_WAIT))]
    if book_rate:
        streams.append(_stream(stop, lambda: server.send_depth_updates(symbol, book_batch, rate=book_rate,
                                                                        timeout=_WAIT)))
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set()) \
        if threading.current_thread() is threading.main_thread() else None  # before the banner: callers wait for it
    print(f"fake Binance (spot market data) for {symbol} on {server.http_url}, streams on {server.ws_url}\n"
          f"{trade_rate:g} trades/s and {book_rate:g} book updates/s while a client is subscribed\n"
          f"run a strategy against it:\n  {live_command(symbol, server.http_url, server.ws_url)}\n"
          f"or, in Python: config=binance_ccxt_config({server.http_url!r}, {server.ws_url!r})"
          f"  # from backtrader_channels.testing\n"
          "Ctrl-C stops it", file=out, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        stop.set()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for thread in streams:
            thread.join(2 * _WAIT + 1.0)
        sent = len(server.trades[symbol])
        server.stop()
        print(f"stopped: {sent:,} trades sent", file=out, flush=True)
