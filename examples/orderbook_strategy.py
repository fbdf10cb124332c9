"""An order-book strategy: book imbalance, market orders that walk the book.

On every book update (``notify_orderbook``) the strategy sums the size of the best 5 bid
and ask levels (``book.depth(5)``). When bids outweigh asks by enough it buys 0.25 BTC at
market; 30 s later, or as soon as the imbalance flips, it sells at market. With an order
book the tick broker fills market orders by walking the opposite side level by level at
the volume-weighted price, on the first event after the order was sent. The sample's
touch holds about 0.08 BTC, so each order eats several levels: the script prints what
each fill cost against the best price seen when the order was sent.

    python examples/orderbook_strategy.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers cerebro.add_channel and bt.RunMode)
from backtrader_channels import Level, OrderBook, OrderBookChannel, TickChannel
from backtrader_channels.sample import generate_sample

SYMBOL = "BTC/USDT"


class BookImbalance(bt.Strategy):
    params = (
        ("levels", 5),  # book levels a side
        ("enter", 0.5),  # (bid size - ask size) / total to buy
        ("leave", -0.2),  # ... and to sell
        ("size", 0.25),  # BTC
        ("hold", 30.0),  # seconds at most in a position
        ("cooldown", 60.0),  # seconds between entries
    )

    def __init__(self) -> None:
        self.book_channel = self.channels[("orderbook", SYMBOL)]
        self.pending: bt.Order | None = None
        self.sent: tuple[float, float, int] = (0.0, 0.0, 0)  # touch, expected price, levels
        self.entered_at = 0.0
        self.next_entry = 0.0
        self.walks: list[float] = []  # |fill price - touch| per fill, USDT

    def notify_orderbook(self, book: OrderBook) -> None:
        if self.pending is not None:
            return  # one order at a time
        bids, asks = book.depth(self.p.levels)
        bid_size = sum(level.size for level in bids)
        ask_size = sum(level.size for level in asks)
        if not bid_size or not ask_size:
            return
        imbalance = (bid_size - ask_size) / (bid_size + ask_size)
        now = self.event_time
        if not self.position:
            if imbalance > self.p.enter and now >= self.next_entry:
                self.sent = walk(book.asks, self.p.size)
                self.pending = self.buy(size=self.p.size)
                self.entered_at = now
                self.next_entry = now + self.p.cooldown
        elif imbalance < self.p.leave or now - self.entered_at >= self.p.hold:
            self.sent = walk(book.bids, self.position.size)
            self.pending = self.close()

    def notify_order(self, order: bt.Order) -> None:
        if order.alive():
            return
        self.pending = None
        if order.status != order.Completed:
            print(f"  {order.getstatusname()}: {order.ref}")
            return
        price, size = order.executed.price, order.executed.size
        touch, expected, levels = self.sent
        self.walks.append(abs(price - touch))
        side = "buy " if size > 0 else "sell"
        print(f"  {self.event_datetime:%H:%M:%S.%f}  {side} {abs(size):.2f} @ {price:,.2f}"
              f"   when sent: touch {touch:,.2f}, {levels} level(s) for {expected:,.2f}")


def walk(levels: list[Level], size: float) -> tuple[float, float, int]:
    """What a market order of ``size`` would get from ``levels`` (best first):
    the touch price, the volume-weighted price and how many levels it takes."""
    filled = cost = 0.0
    for taken, (price, available) in enumerate(levels, 1):
        take = min(available, size - filled)
        filled, cost = filled + take, cost + take * price
        if filled >= size:
            return levels[0].price, cost / filled, taken
    return levels[0].price, cost / filled, len(levels)  # the book is too thin: it would wait


def run(trades: Path, book: Path) -> backtrader_channels.RunResult:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.add_channel(OrderBookChannel, symbol=SYMBOL, dataname=book)
    cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=trades)
    cerebro.addstrategy(BookImbalance)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    walks = strategy.walks
    if walks:
        print(f"{len(walks)} fills, on average {sum(walks) / len(walks):.2f} USDT per BTC"
              " beyond the touch at sending")
    return cerebro.tick_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the synthetic sample")
    parser.add_argument("--fast", action="store_true", help="a 10-minute sample")
    args = parser.parse_args()
    minutes = 10.0 if args.fast else args.minutes
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_sample(tmp, duration=minutes * 60)
        print(f"sample: {minutes:g} minutes of trades and 20-level book updates")
        result = run(files.trades, files.book)
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
