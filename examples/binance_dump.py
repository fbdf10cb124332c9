"""Backtest on a Binance public trades dump (data.binance.vision format).

Binance's daily spot dumps (``BTCUSDT-trades-2025-01-01.zip``) hold one header-less CSV:
``id, price, qty, quote_qty, time, is_buyer_maker, is_best_match``, with the time in
microseconds since 2025 (milliseconds before). This script writes a small dump of that
exact shape from the synthetic sample (no network), opens it with a TickChannel (the
layout and the time unit are detected) and runs a resting-limit strategy on it: a buy
limit a little under the last trade, valid 10 s; once filled, a sell limit above the
entry. The tick broker fills a resting limit at its own price when a later trade prints
through it.

    python examples/binance_dump.py
    python examples/binance_dump.py --ticks BTCUSDT-trades-2025-01-01.zip   # a real dump
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers cerebro.add_channel and bt.RunMode)
from backtrader_channels import TickChannel, TickEvent
from backtrader_channels.sample import sample_market

SYMBOL = "BTC/USDT"


def write_binance_zip(path: Path, minutes: float) -> int:
    """A Binance spot trades zip (one CSV, no header, microsecond times); returns the rows."""
    trades, _book = sample_market(seed=7, duration=minutes * 60)
    rows = zip(trades.trade_id.tolist(), trades.price.tolist(), trades.volume.tolist(),
               (trades.ts_ns // 1000).tolist(), trades.is_sell.tolist())
    # is_buyer_maker: the buyer's order was resting, so the aggressor sold
    lines = [f"{trade_id},{price:.8f},{qty:.8f},{price * qty:.8f},{micros},{is_sell},True"
             for trade_id, price, qty, micros, is_sell in rows]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return len(lines)


class RestingLimits(bt.Strategy):
    params = (("offset", 15.0), ("target", 60.0), ("valid", 10.0), ("size", 0.01))

    def __init__(self) -> None:
        self.entry: bt.Order | None = None
        self.exit: bt.Order | None = None
        self.expired = 0
        self.first = True

    def notify_tick(self, tick: TickEvent) -> None:
        if self.first:
            self.first = False
            print(f"first trade: {tick.datetime.isoformat()} {tick.direction} {tick.volume}"
                  f" @ {tick.price:,.2f} (id {tick.trade_id})")
        if self.entry is None and self.exit is None and not self.position:
            self.entry = self.buy(size=self.p.size, exectype=bt.Order.Limit,
                                  price=round(tick.price - self.p.offset, 2),
                                  valid=timedelta(seconds=self.p.valid))

    def notify_order(self, order: bt.Order) -> None:
        if order.alive():
            return
        if order == self.entry:  # notifications carry copies: compare (by ref), not "is"
            self.entry = None
            if order.status == order.Expired:
                self.expired += 1
            elif order.status == order.Completed:
                self.exit = self.sell(size=order.executed.size, exectype=bt.Order.Limit,
                                      price=round(order.executed.price + self.p.target, 2))
        elif order == self.exit:
            self.exit = None

    def stop(self) -> None:
        print(f"entries expired unfilled: {self.expired}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=Path, help="a Binance trades zip; default: write a small one")
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the written dump")
    parser.add_argument("--fast", action="store_true", help="a 5-minute dump")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ticks = args.ticks
        if ticks is None:
            ticks = Path(tmp) / "BTCUSDT-trades-2025-01-01.zip"
            rows = write_binance_zip(ticks, 5.0 if args.fast else args.minutes)
            print(f"wrote {ticks.name}: {rows:,} trades")
            with zipfile.ZipFile(ticks) as archive:
                print("first line:", archive.read(archive.namelist()[0]).decode().split("\n")[0])
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(10_000.0)
        cerebro.broker.setcommission(commission=0.0002)  # a maker fee: these are resting orders
        channel = cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=ticks)
        print(f"detected format: {channel.source.format}")
        cerebro.addstrategy(RestingLimits)
        cerebro.run(mode=bt.RunMode.TICK)
    result = cerebro.tick_result
    for fill in result.fills:  # FillRecord: timestamp, symbol, size, price, commission, order_ref
        print(f"  fill {fill.size:+.2f} {fill.symbol} @ {fill.price:,.2f}"
              f"  fee {fill.commission:.3f}  (order {fill.order_ref})")
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
