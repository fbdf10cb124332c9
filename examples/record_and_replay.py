"""Record live market data, backtest on the recording, and replay a logged live run.

1. ``record()`` writes BTC/USDT trades and order-book updates from an exchange (here: the
   project's local Binance server, through the real ccxt.pro client) into Parquet, flushed
   every second; the exchange drops the connection once, which the recording marks as a gap.
2. The recording directory is the ``dataname`` of a tick backtest, unchanged.
3. A paper live run writes its event log; ``replay()`` runs the strategy again on the log
   and checks orders, fills, cash and equity bit for bit.

    python examples/record_and_replay.py
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
from pathlib import Path

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers cerebro.add_channel and bt.RunMode)
from backtrader_channels import OrderBookChannel, TickChannel
from backtrader_channels.feeds import Backoff, CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.record.eventlog import attach_event_log
from backtrader_channels.record.recorder import record
from backtrader_channels.record.replay import replay
from backtrader_channels.sources import open_trades
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"


class SpreadTaker(bt.Strategy):
    """Buys 0.05 BTC on a buy trade while the best bid outweighs the best ask; sells 20 trades later."""

    def __init__(self) -> None:
        self.book = self.channels[("orderbook", SYMBOL)].book
        self.trades = 0
        self.entered = 0

    def notify_tick(self, tick) -> None:
        self.trades += 1
        bid, ask = self.book.best_bid, self.book.best_ask
        if not self.position and tick.direction == "buy" and bid and ask and bid.size > ask.size:
            self.buy(size=0.05)
            self.entered = self.trades
        elif self.position and self.trades - self.entered >= 20:
            self.sell(size=0.05)


def subscribed(exchange: FakeBinance) -> dict[str, int]:
    """Subscriptions so far to the symbol's trade and depth streams."""
    streams = (exchange.trade_stream(SYMBOL), exchange.depth_stream(SYMBOL))
    return {stream: sum(n for name, n in exchange.subscriptions.items() if name.startswith(stream))
            for stream in streams}


def market(exchange: FakeBinance, trades: int, before: dict[str, int]) -> None:
    """What the exchange prints once a new client subscribed (more than ``before``): book
    updates, trades, a dropped connection, more trades."""
    for stream, count in before.items():
        exchange.wait_subscriptions(stream, count + 1, timeout=30)
    with contextlib.suppress(TimeoutError):
        exchange.send_depth_updates(SYMBOL, 10, rate=100)
        exchange.send_trades(SYMBOL, trades // 2, rate=500, drop_after=trades // 4, replay=5)
        exchange.send_depth_updates(SYMBOL, 10, rate=100)
        exchange.send_trades(SYMBOL, trades // 2, rate=500)


def record_some(exchange: FakeBinance, out: Path, trades: int) -> None:
    stop = threading.Event()
    before = subscribed(exchange)
    sender = threading.Thread(target=lambda: (market(exchange, trades, before), stop.set()), daemon=True)
    sender.start()
    recorder = record(out, [SYMBOL], trades=True, book=True, config=exchange.ccxt_config(), depth=10,
                      flush_interval=1.0, stop=stop, duration=60)
    stats = recorder.stats
    print(f"recorded {stats.trades} trades, {stats.book_updates} book updates ({stats.snapshots} snapshots), "
          f"{stats.gaps} gaps, {stats.bytes / max(stats.trades, 1):.1f} bytes/trade in part files")
    for path in sorted(p.relative_to(out) for p in out.rglob("*.parquet")):
        print(f"  {path}")


def backtest_recording(out: Path) -> None:
    print("gaps:", ", ".join(f"{g['kind']} x{g['count']}" for g in open_trades(out, symbol=SYMBOL).gaps))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.add_channel(OrderBookChannel, symbol=SYMBOL, dataname=out)
    cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=out)
    cerebro.addstrategy(SpreadTaker)
    cerebro.run(mode=bt.RunMode.TICK)
    print(cerebro.tick_result.summary())


def logged_live_run(exchange: FakeBinance, log_path: Path, trades: int) -> None:
    queue = LiveEventQueue()
    options = {"config": exchange.ccxt_config(), "backoff": Backoff(0.05, 0.2)}
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.add_live_feed(CCXTLiveOrderBookFeed("binance", SYMBOL, queue, depth=10, **options))
    cerebro.add_live_feed(CCXTLiveTickFeed("binance", SYMBOL, queue, **options))
    cerebro.addstrategy(SpreadTaker)
    log = attach_event_log(cerebro, log_path)
    threading.Thread(target=market, args=(exchange, trades, subscribed(exchange)), daemon=True).start()
    cerebro.run(mode=bt.RunMode.TICK, duration=trades / 250 + 5)
    log.close()
    print(f"live: {log.events} events logged, cash {cerebro.broker.getcash()!r}")
    result = replay(log_path, SpreadTaker)
    print(f"replay: {result.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "recording"
        with FakeBinance([SYMBOL], price=60_000.0) as exchange:
            record_some(exchange, out, args.trades)
        with FakeBinance([SYMBOL], price=60_000.0) as exchange:
            logged_live_run(exchange, Path(tmp) / "run.events", args.trades)
        backtest_recording(out)


if __name__ == "__main__":
    main()
