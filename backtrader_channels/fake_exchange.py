"""``btchannels fake-exchange``: a local fake Binance streaming generated trades and a book.

It serves :class:`~backtrader_channels.testing.FakeBinance` on 127.0.0.1 until Ctrl-C (or
SIGTERM), so ``btchannels live`` (or a script's feeds) can be tried without the network:
while a client is subscribed, the symbol's trades and diff-depth updates flow at the
chosen rates; with nobody subscribed, nothing is generated. With ``trading`` it serves
:class:`~backtrader_channels.testing.exchange.FakeExchange` instead: the same streams plus an
account (balances, orders filled against those trades, the user-data stream), for
``btchannels live --broker ccxt``; it writes the account's API keys to a file (mode 0600)
and, when it stops, prints the account's orders and fills.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from .cli_errors import UserError
from .testing import FakeBinance
from .testing.exchange import FakeExchange

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


def live_command(symbol: str, http_url: str, ws_url: str, keys: Path | None = None) -> str:
    """The ``btchannels live`` command line that runs a strategy file against the server (with
    ``keys``: trading at its account with the ccxt broker)."""
    broker = "" if keys is None else f" --broker ccxt --keys {shlex.quote(str(keys))}"
    return (f"btchannels live my_strategy.py --symbol {symbol} --orderbook{broker} "
            f"--rest-url {http_url} --ws-url {ws_url}")


def write_keys(path: Path, api_key: str, secret: str) -> None:
    """Write ``{"apiKey": ..., "secret": ...}`` to ``path``, readable by its owner only (0600)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode otherwise
    with os.fdopen(descriptor, "w") as file:
        json.dump({"apiKey": api_key, "secret": secret}, file)


def _account_text(exchange: FakeExchange, keys: Path, perpetual: bool) -> str:
    """The banner's lines on the account: its balances (the futures wallet for a perpetual) and
    where its keys are."""
    held = exchange.futures.wallet if perpetual else exchange.balances
    balances = "".join(f"\n  {asset} {amount:,.8g}" for asset, amount in held.items())
    return f"account balances:{balances}\nAPI keys (apiKey, secret) in {keys}\n"


def _ledger_lines(exchange: FakeExchange) -> list[str]:
    """The account's orders and fills, one line each."""
    orders, fills = exchange.ledger()
    lines = [f"account: {len(orders)} orders, {len(fills)} fills"]
    lines += [f"  order {o['clientOrderId']} {o['side']} {o['type']} {float(o['origQty']):g} {o['symbol']}: "
              f"{o['status']}, {float(o['executedQty']):g} filled" for o in orders]
    lines += [f"  fill {'BUY' if f.get('isBuyer', f.get('buyer')) else 'SELL'} {float(f['qty']):g} {f['symbol']} "
              f"at {float(f['price']):.2f}, fee {float(f['commission']):.8f} {f['commissionAsset']}" for f in fills]
    return lines


def serve_fake_exchange(
    symbol: str = "BTC/USDT",
    *,
    port: int = 8080,
    trade_rate: float = 20.0,
    book_rate: float = 10.0,
    price: float = 50_000.0,
    seed: int = 1,
    trading: bool = False,
    balances: Mapping[str, float] | None = None,
    keys: Path | None = None,
    out: TextIO,
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C, SIGTERM or ``stop`` is set; print where and how to connect first.

    ``trading``: an account too, holding ``balances`` (asset -> amount, 100 000 USDT unless
    given; the futures wallet for a perpetual ``symbol``),
    its API keys written to ``keys`` (a temporary file, removed on stop, if None).
    """
    if trade_rate <= 0 or book_rate < 0:
        raise ValueError("trade_rate must be positive and book_rate at least 0")
    stop = stop or threading.Event()
    perpetual = ":" in symbol  # a USD-M perpetual, 'BTC/USDT:USDT'
    spot, perpetuals = ([], [symbol]) if perpetual else ([symbol], [])
    exchange = (FakeExchange(spot, perpetuals=perpetuals, price=price, port=port, seed=seed,
                             balances=None if perpetual else balances, futures_wallet=balances if perpetual else None)
                if trading else None)
    try:
        server = (exchange or FakeBinance(spot, perpetuals=perpetuals, price=price, port=port, seed=seed)).start()
    except OSError as error:
        raise UserError("--port", f"cannot listen on 127.0.0.1 port {port} ({error.strerror}); choose another "
                                  "with --port, or --port 0 for any free one") from None
    trade_batch, book_batch = max(1, round(trade_rate)), max(1, round(book_rate))
    streams = [_stream(stop, lambda: server.send_trades(symbol, trade_batch, rate=trade_rate, timeout=_WAIT))]
    if book_rate:
        streams.append(_stream(stop, lambda: server.send_depth_updates(symbol, book_batch, rate=book_rate,
                                                                        timeout=_WAIT)))
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set()) \
        if threading.current_thread() is threading.main_thread() else None  # before the banner: callers wait for it
    scratch = None
    if exchange is not None:
        if keys is None:
            scratch = Path(tempfile.mkdtemp(prefix="btchannels-fake-exchange-"))
            keys = scratch / "keys.json"
        write_keys(keys, exchange.api_key, exchange.secret)
        what, account = "market data and an account that trades", _account_text(exchange, keys, perpetual)
    else:
        what, account = "market data", ""
    print(f"fake Binance ({what}) for {symbol} on {server.http_url}, streams on {server.ws_url}\n"
          f"{trade_rate:g} trades/s and {book_rate:g} book updates/s while a client is subscribed\n{account}"
          f"run a strategy against it:\n  {live_command(symbol, server.http_url, server.ws_url, keys)}\n"
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
        ledger = _ledger_lines(exchange) if exchange is not None else []
        server.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        print("\n".join([f"stopped: {sent:,} trades sent", *ledger]), file=out, flush=True)
