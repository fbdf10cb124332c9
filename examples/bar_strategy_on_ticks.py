"""Bring your bar strategy: an unchanged backtrader bar strategy, run on 1-minute bars and
then on the trades those bars are made of, with tick-accurate fills.

The strategy is plain backtrader: a fast/slow SMA crossover on 1-minute closes that goes
long with a market order and, once filled, protects it with a stop 0.04 % under the fill.
The first run is plain backtrader over bars built from the sample hour's trades (a CSV,
as you would have them); the second changes two lines:

    cerebro.resampledata(cerebro.add_channel(TickChannel, symbol=SYMBOL, dataname=trades),
                         timeframe=bt.TimeFrame.Minutes, compression=1)   # was: cerebro.adddata(bars)
    cerebro.run(mode=bt.RunMode.TICK)                                   # was: cerebro.run()

Market orders sent at a bar's close then fill at the first trade after the close: with a
trade in every minute, the price plain backtrader takes as the next bar's open. Stops fill
at the trade that crossed them, not at the stop price.

    python examples/bar_strategy_on_ticks.py
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import backtrader as bt

import backtrader_channels  # noqa: F401  (registers resampledata on channels and bt.RunMode)
from backtrader_channels import TickChannel
from backtrader_channels.channel_bars import bars_of
from backtrader_channels.sample import sample_market
from backtrader_channels.sources import TradeChunk, write_trades

MINUTE_NS = 60_000_000_000

SYMBOL = "BTC/USDT"


class SmaCrossWithStop(bt.Strategy):
    """Long on a fast-over-slow SMA cross (market); once filled, a protective stop under the
    fill price; flat on the cross back (the stop cancelled)."""

    params = (("fast", 4), ("slow", 12), ("size", 0.05), ("stop", 0.0004))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.stop_order: bt.Order | None = None
        self.log: list[tuple] = []  # (fill time, kind, fill price) of each fill

    def next(self) -> None:
        if self.cross[0] > 0 and not self.position:
            self.buy(size=self.p.size)
        elif self.cross[0] < 0 and self.position:
            self.cancel(self.stop_order)
            self.close()

    def notify_order(self, order: bt.Order) -> None:
        if order.status != order.Completed:
            return
        self.log.append((bt.num2date(order.executed.dt), ("buy " if order.isbuy() else "sell ")
                         + order.getordername().lower(), order.executed.price))
        if order.isbuy():
            self.stop_order = self.sell(size=self.p.size, exectype=bt.Order.Stop,
                                        price=round(order.executed.price * (1 - self.p.stop), 2))


def write_minute_bars(trades: TradeChunk, path: Path) -> int:
    """1-minute OHLCV bars of ``trades`` as a CSV, stamped at their end (backtrader's way):
    the bars ``resampledata`` builds from the channel, for plain backtrader to read."""
    bars = bars_of(trades.ts_ns, trades.price, trades.volume, MINUTE_NS)
    lines = ["datetime,open,high,low,close,volume"]
    for end_ns, *ohlcv in zip(*bars):
        end = datetime.fromtimestamp(end_ns // 1_000_000_000, tz=timezone.utc)
        lines.append(f"{end:%Y-%m-%d %H:%M:%S}," + ",".join(str(value) for value in ohlcv))
    path.write_text("\n".join(lines) + "\n")
    return len(bars)


def milliseconds(moment: datetime) -> str:
    """HH:MM:SS.mmm of a fill time (backtrader's float date numbers blur the microseconds)."""
    return f"{moment + timedelta(microseconds=500):%H:%M:%S.%f}"[:12]


def cerebro_with_cash() -> bt.Cerebro:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addstrategy(SmaCrossWithStop)
    return cerebro


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="a 20-minute sample instead of an hour")
    args = parser.parse_args()
    trades, _book = sample_market(seed=7, duration=1200.0 if args.fast else 3600.0)
    with tempfile.TemporaryDirectory() as tmp:
        ticks_path, bars_path = Path(tmp) / "trades.csv", Path(tmp) / "bars-1m.csv"
        write_trades(ticks_path, [trades], symbol=SYMBOL)
        print(f"{len(trades):,} trades -> {write_minute_bars(trades, bars_path)} one-minute bars")

        plain = cerebro_with_cash()  # plain backtrader on the bars
        plain.adddata(bt.feeds.GenericCSVData(
            dataname=str(bars_path), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
            datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1))
        (on_bars,) = plain.run()

        ticks = cerebro_with_cash()  # the same strategy on the trades: the two changed lines
        ticks.resampledata(ticks.add_channel(TickChannel, symbol=SYMBOL, dataname=ticks_path),
                           timeframe=bt.TimeFrame.Minutes, compression=1)
        (on_ticks,) = ticks.run(mode=bt.RunMode.TICK)

    print(f"\n  {'plain backtrader (bar of the fill)':38}  tick-accurate (trade of the fill)")
    for (when, kind, price), (tick_when, tick_kind, tick_price) in zip(on_bars.log, on_ticks.log):
        print(f"  {when:%H:%M:%S}  {kind:11} {price:12,.2f}    {milliseconds(tick_when)}  {tick_kind:11}"
              f" {tick_price:12,.2f}")
    market = [(a[2], b[2]) for a, b in zip(on_bars.log, on_ticks.log) if a[1] == b[1] and a[1].endswith("market")]
    stops = [(a[2], b[2]) for a, b in zip(on_bars.log, on_ticks.log) if a[1] == b[1] == "sell stop"]
    print(f"\nmarket fills equal: {sum(a == b for a, b in market)} of {len(market)}"
          " (a trade in every minute: the first trade after a close is the next bar's open)")
    for plain_price, tick_price in stops:
        print(f"stop filled at {plain_price:,.2f} on bars (its price, or the bar's open beyond it),"
              f" at {tick_price:,.2f} on ticks (the trade that crossed it)")
    print()
    print(ticks.tick_result.summary())


if __name__ == "__main__":
    main()
