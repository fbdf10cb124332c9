"""Market data over Redis Streams, and a strategy steered by control commands.

A collector streams BTC/USDT trades from an exchange (here: the project's local Binance
server, through the real ccxt.pro client) onto the bus; a strategy process consumes them
with ``BusFeed`` (any number of strategies, on any machine, can). Meanwhile an operator
sends ``pause``, ``flatten``, ``resume`` and ``stop`` over the bus: the strategy sees each in
``notify_control`` before any market event of the same time, receives no callbacks while
paused, and the run ends at once on ``stop``. Needs ``redis-server`` (Debian: apt-get
install redis-server); the script starts its own on a free port.

    python examples/bus_strategy.py
"""

from __future__ import annotations

import argparse
import threading
import time

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers cerebro.add_live_feed and bt.RunMode)
from backtrader_channels.bus import BusFeed, add_control, collect, send_command
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance
from backtrader_channels.testing.redis_server import RedisServer

SYMBOL = "BTC/USDT"
RUN = "momentum-1"


class Momentum(bt.Strategy):
    """Buys 0.1 BTC after three rising trades, sells it after three falling ones."""

    def __init__(self) -> None:
        self.prices: list[float] = []
        self.seen = 0
        self.commands: list[str] = []

    def notify_control(self, command: str) -> None:
        self.commands.append(command)
        print(f"control: {command:<8} after {self.seen} trades, position {self.position.size:+.2f} BTC")

    def notify_tick(self, tick) -> None:
        self.seen += 1
        self.prices = (self.prices + [tick.price])[-4:]
        rising = len(self.prices) == 4 and all(a < b for a, b in zip(self.prices, self.prices[1:]))
        falling = len(self.prices) == 4 and all(a > b for a, b in zip(self.prices, self.prices[1:]))
        if rising and not self.position:
            self.buy(size=0.1)
        elif falling and self.position:
            self.sell(size=0.1)

    def notify_order(self, order) -> None:
        if order.status == order.Completed:
            side = "buy " if order.isbuy() else "sell"
            print(f"fill  {side} {abs(order.executed.size):.2f} @ {order.executed.price:,.2f}")


def operator(bus: str, channel, strategies: list, trades: int) -> None:
    """Commands as a person (or a risk system) would send them: ``btchannels ctl ... --bus``."""
    plan = (("pause", trades // 4), ("flatten", 3 * trades // 8), ("resume", trades // 2), ("stop", 3 * trades // 4))
    for done, (command, after) in enumerate(plan, 1):
        while len(channel) < after or not strategies:
            time.sleep(0.002)
        send_command(bus, RUN, command)
        while len(strategies[0].commands) < done:  # wait until the strategy saw it
            time.sleep(0.002)


class _Started(bt.Analyzer):
    """Hands the running strategy to the operator thread."""

    params = (("strategies", None),)

    def start(self) -> None:
        self.p.strategies.append(self.strategy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=400, help="trades the exchange prints")
    args = parser.parse_args()
    with RedisServer() as redis, FakeBinance([SYMBOL], price=60_000.0) as exchange:
        stop_collector = threading.Event()
        collector = threading.Thread(target=collect, args=(redis.url, [SYMBOL]),
                                     kwargs={"config": exchange.ccxt_config(), "stop": stop_collector})
        collector.start()

        queue = LiveEventQueue()
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(10_000.0)
        cerebro.broker.setcommission(commission=0.001)
        feed = BusFeed(redis.url, "tick", SYMBOL, queue, group=RUN, start="earliest")
        channel = cerebro.add_live_feed(feed)
        add_control(cerebro, RUN, bus=redis.url)
        cerebro.addstrategy(Momentum)

        exchange.wait_subscriptions(exchange.trade_stream(SYMBOL), 1, timeout=30)
        market = threading.Thread(target=exchange.send_trades, args=(SYMBOL, args.trades),
                                  kwargs={"rate": 400.0}, daemon=True)
        market.start()
        strategies: list[Momentum] = []
        cerebro.addanalyzer(_Started, strategies=strategies)
        threading.Thread(target=operator, args=(redis.url, channel, strategies, args.trades), daemon=True).start()
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=60)
        stop_collector.set()
        collector.join(10)

    print(f"the channel saw {len(channel)} trades, the strategy was called for {strategy.seen} (paused meanwhile)")
    stats = feed.stats
    print(f"bus: {stats.trades} trades, {stats.duplicates} duplicates, {stats.trimmed} trimmed, "
          f"latency p50 {1e3 * stats.latency_p50:.2f} ms")
    print(cerebro.tick_result.summary())


if __name__ == "__main__":
    main()
